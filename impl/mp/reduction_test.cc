// mp::Codec: every built-in encoding round-trips, and truncated or hostile
// input is refused without reading out of bounds or allocating what was never
// sent.

#include "mp/reduction.h"

#include <gtest/gtest.h>

#include <array>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y, label);
  }
  bool operator==(const Point&) const = default;
};

struct Refuses {
  int code = 0;
};

}  // namespace

template <>
struct mp::Codec<Refuses> {
  static void encode(Writer&, const Refuses&) { throw PicklingError("refused"); }
  static Refuses decode(Reader&) { return {}; }
};

namespace {

template <class T>
T round_trip(const T& value) {
  mp::Writer w = mp::dumps(value);
  mp::Reader r(w.bytes());
  T back = mp::decode<T>(r);
  EXPECT_EQ(r.remaining(), 0u) << "the decoder consumed the whole message";
  return back;
}

TEST(Codec, BuiltInsRoundTrip) {
  EXPECT_EQ(round_trip(42), 42);
  EXPECT_EQ(round_trip(std::string("hello")), "hello");
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(round_trip(std::vector<std::string>{"a", "", "c"}),
            (std::vector<std::string>{"a", "", "c"}));
  EXPECT_EQ(round_trip(std::deque<int>{4, 5}), (std::deque<int>{4, 5}));
  EXPECT_EQ(round_trip(std::list<std::string>{"x"}), (std::list<std::string>{"x"}));
  EXPECT_EQ(round_trip(std::array<int, 3>{7, 8, 9}), (std::array<int, 3>{7, 8, 9}));
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ(round_trip(m), m);
  std::unordered_map<int, std::vector<double>> um{{1, {1.5}}, {2, {}}};
  EXPECT_EQ(round_trip(um), um);
  EXPECT_EQ(round_trip(std::set<int>{3, 1, 2}), (std::set<int>{1, 2, 3}));
  EXPECT_EQ(round_trip(std::unordered_set<std::string>{"p", "q"}),
            (std::unordered_set<std::string>{"p", "q"}));
  EXPECT_EQ(round_trip(std::make_pair(1, std::string("one"))),
            std::make_pair(1, std::string("one")));
  EXPECT_EQ(round_trip(std::make_tuple(1, 2.5, std::string("t"))),
            std::make_tuple(1, 2.5, std::string("t")));
  EXPECT_EQ(round_trip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<std::string>("o")), std::optional<std::string>("o"));
  using V = std::variant<int, std::string, Point>;
  EXPECT_EQ(round_trip(V(std::string("v"))), V(std::string("v")));
  EXPECT_EQ(round_trip(V(Point{1, 2.0, "p"})), V(Point{1, 2.0, "p"}));
  EXPECT_EQ(round_trip(Point{3, 4.5, "label"}), (Point{3, 4.5, "label"}));
}

TEST(Codec, WhatCannotTravelIsNotTransferable) {
  static_assert(!mp::Transferable<int*>);
  static_assert(!mp::Transferable<std::vector<int*>>);
  static_assert(!mp::Transferable<std::map<std::string, const char*>>);
  static_assert(mp::Transferable<std::map<std::string, std::vector<Point>>>);
  SUCCEED();
}

TEST(Codec, OnlyPlainDataIsCopiedAsBytes) {
  // Queues copy a kEncodedAsBytes item straight into the ring; anything whose
  // Codec has rules of its own must keep going through it.
  static_assert(mp::kEncodedAsBytes<int>);
  static_assert(mp::kEncodedAsBytes<std::array<std::optional<int>, 2>>);
  static_assert(mp::kEncodedAsBytes<std::array<char, 64>>);
  static_assert(mp::kEncodedAsBytes<std::optional<long>>);
  static_assert(!mp::kEncodedAsBytes<int*>);
  static_assert(!mp::kEncodedAsBytes<std::string>);
  static_assert(!mp::kEncodedAsBytes<Refuses>);
  static_assert(!mp::kEncodedAsBytes<std::variant<bool, Refuses>>);
  static_assert(!mp::kEncodedAsBytes<std::pair<int, Refuses>>);
  static_assert(!mp::kEncodedAsBytes<std::array<Refuses, 2>>);
  static_assert(!mp::kEncodedAsBytes<std::optional<Refuses>>);
  EXPECT_THROW(mp::dumps(std::variant<bool, Refuses>(Refuses{})), mp::PicklingError);
}

TEST(Codec, TruncatedMessagesAreRefused) {
  mp::Writer w = mp::dumps(std::vector<std::string>{"abc", "defg"});
  for (size_t cut = 0; cut < w.bytes().size(); ++cut) {
    mp::Reader r(std::string_view(w.bytes()).substr(0, cut));
    EXPECT_THROW(mp::decode<std::vector<std::string>>(r), mp::PicklingError) << "cut at " << cut;
  }
}

TEST(Codec, HostileLengthsAllocateNothing) {
  // A count of 2^62 elements with nothing behind it.
  mp::Writer w;
  w.write_pod<uint64_t>(uint64_t{1} << 62);
  mp::Reader r(w.bytes());
  EXPECT_THROW(mp::decode<std::vector<std::string>>(r), mp::PicklingError);
  mp::Reader r2(w.bytes());
  EXPECT_THROW(mp::decode<std::vector<double>>(r2), mp::PicklingError);
  mp::Reader r3(w.bytes());
  EXPECT_THROW(mp::decode<std::string>(r3), mp::PicklingError);
}

TEST(Codec, BadVariantIndexIsRefused) {
  mp::Writer w;
  w.write_pod<uint32_t>(7);
  mp::Reader r(w.bytes());
  EXPECT_THROW((mp::decode<std::variant<int, double>>(r)), mp::PicklingError);
}

// A bool's byte is 0 or 1; any other (a corrupt or hostile message) is no
// bool, and reading it as one would be undefined (found by fuzz/codec_fuzzer).
TEST(Codec, BoolOtherThanZeroOrOneIsRefused) {
  for (uint8_t byte : {uint8_t{2}, uint8_t{0x80}, uint8_t{0xff}}) {
    mp::Writer w;
    w.write_pod<uint8_t>(byte);
    mp::Reader r(w.bytes());
    EXPECT_THROW(mp::decode<bool>(r), mp::PicklingError) << int{byte};
  }
  for (bool value : {false, true}) {
    mp::Writer w = mp::dumps(value);
    mp::Reader r(w.bytes());
    EXPECT_EQ(mp::decode<bool>(r), value);
  }
}

// Fixed-size encodings are written and read in place (Pool's chunks): the
// bytes must be exactly what the Codec writes, and read back the same value.
template <class T>
void expect_fixed_matches_codec(const T& value) {
  constexpr size_t size = mp::internal::fixed_encoding_size<T>();
  static_assert(size > 0);
  const std::string encoded = mp::dumps(value).bytes();
  ASSERT_EQ(encoded.size(), size);
  std::string in_place(size, '\0');
  mp::internal::store_fixed(in_place.data(), value);
  EXPECT_EQ(in_place, encoded);
  T back{};
  mp::internal::load_fixed(encoded.data(), back);
  EXPECT_EQ(back, value);
}

TEST(Codec, FixedSizeEncodingsMatchTheCodec) {
  expect_fixed_matches_codec(std::pair<long, long>{7, -9});
  expect_fixed_matches_codec(std::pair<int, double>{3, 0.25});  // padded object, packed encoding
  expect_fixed_matches_codec(std::tuple<int, char, long>{1, 'x', 1L << 40});
  expect_fixed_matches_codec(std::pair<std::pair<char, int>, short>{{'a', 5}, 6});
  static_assert(mp::internal::fixed_encoding_size<std::pair<int, double>>() == 12);
  static_assert(mp::internal::fixed_encoding_size<std::pair<std::string, int>>() == 0);
  static_assert(mp::internal::fixed_encoding_size<std::tuple<int, std::vector<int>>>() == 0);
  static_assert(mp::internal::fixed_encoding_size<std::tuple<>>() == 0);
  // Plain data whose Codec adds a flag or an index is not fixed-size bytes.
  static_assert(mp::internal::fixed_encoding_size<std::optional<int>>() == 0);
  static_assert(mp::internal::fixed_encoding_size<std::variant<int, float>>() == 0);
  static_assert(mp::internal::fixed_encoding_size<std::pair<std::optional<int>, int>>() == 0);
  expect_fixed_matches_codec(std::array<short, 3>{1, 2, 3});
  expect_fixed_matches_codec(std::pair<std::array<char, 3>, double>{{'a', 'b', 'c'}, 1.5});
}

TEST(Codec, MissingDescriptorIsRefused) {
  mp::Reader r("");
  EXPECT_THROW(r.take_fd(0), mp::PicklingError);
}

}  // namespace
