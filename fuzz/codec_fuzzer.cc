// A libFuzzer target over mp::Codec decoding: what arrives from another
// process as an argument, a queue item, a pool task or result, or a manager
// call. The first input byte picks one of the built-in types (low five bits)
// and a descriptor to come with the bytes (top three); the rest is decoded
// as that type. Bad
// bytes must give mp::PicklingError (or, for a handle whose descriptor is
// not what it claims, std::system_error), never a crash or an allocation
// the bytes cannot pay for; and what decodes must encode to bytes that
// decode to the same value (the round trip).

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "fuzz_target.h"
#include "mp/mp.h"

namespace {

struct Point {
  int32_t x = 0;
  std::string label;
  std::vector<double> weights;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, label, weights);
  }
};

using Nested = std::vector<std::map<std::string, std::optional<std::vector<int>>>>;
using Variant = std::variant<int, std::string, std::vector<int>>;

// Decodes `bytes` as T; if that works, checks the round trip.
template <class T>
void decode_as(std::string_view bytes, std::vector<mp::internal::UniqueFd> fds) {
  T value;
  try {
    mp::Reader r(bytes, std::move(fds));
    value = mp::Codec<T>::decode(r);
  } catch (const mp::PicklingError&) {
    return;
  } catch (const std::system_error&) {
    return;  // a handle's descriptor is not what it says
  }
  if constexpr (mp::Transferable<T> && !std::is_same_v<T, mp::Lock> &&
                !std::is_same_v<T, mp::Queue<int>>) {
    mp::Writer w;
    mp::Codec<T>::encode(w, value);
    mp::Reader again(w.bytes());
    T copy = mp::Codec<T>::decode(again);
    mp::Writer w2;
    mp::Codec<T>::encode(w2, copy);
    if (w.bytes() != w2.bytes()) mp::fuzz::finding("codec_fuzzer", "the round trip changed it");
    if (again.remaining() != 0) mp::fuzz::finding("codec_fuzzer", "an encoding decodes short");
  }
}

// The types, by the low bits of the first byte.
using Decoder = void (*)(std::string_view, std::vector<mp::internal::UniqueFd>);
const Decoder kDecoders[] = {
    &decode_as<int32_t>,
    &decode_as<uint64_t>,
    &decode_as<double>,
    &decode_as<bool>,
    &decode_as<std::string>,
    &decode_as<std::vector<int>>,
    &decode_as<std::vector<std::string>>,
    &decode_as<std::array<int16_t, 4>>,
    &decode_as<std::map<std::string, int>>,
    &decode_as<std::unordered_map<int, std::string>>,
    &decode_as<std::set<int64_t>>,
    &decode_as<std::pair<int, std::string>>,
    &decode_as<std::tuple<int, double, std::string>>,
    &decode_as<std::optional<std::string>>,
    &decode_as<Variant>,
    &decode_as<Nested>,
    &decode_as<Point>,
    &decode_as<mp::Lock>,
    &decode_as<mp::Queue<int>>,
};
constexpr size_t kTypes = sizeof(kDecoders) / sizeof(kDecoders[0]);

// A descriptor to go with the bytes: none, /dev/null, or a small memfd (not
// a queue's nor a lock's).
std::vector<mp::internal::UniqueFd> descriptors(uint8_t mode) {
  std::vector<mp::internal::UniqueFd> fds;
  switch (mode) {
    case 1:
      fds.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC));
      break;
    case 2: {
      mp::internal::UniqueFd fd(::memfd_create("codec-fuzz", MFD_CLOEXEC));
      if (::ftruncate(fd.get(), 4096) == 0) fds.push_back(std::move(fd));
      break;
    }
    default:
      break;
  }
  return fds;
}

template <class T>
std::string seed(uint8_t type, const T& value) {
  mp::Writer w;
  mp::Codec<T>::encode(w, value);
  return std::string(1, static_cast<char>(type)) + w.bytes();
}

}  // namespace

namespace mp::fuzz {

std::vector<std::string> seeds() {
  return {
      seed<int32_t>(0, -7),
      seed<uint64_t>(1, 1ull << 40),
      seed<double>(2, 3.25),
      seed<bool>(3, true),
      seed<std::string>(4, "hello"),
      seed<std::vector<int>>(5, {1, 2, 3}),
      seed<std::vector<std::string>>(6, {"a", "", "bc"}),
      seed<std::array<int16_t, 4>>(7, {1, -2, 3, -4}),
      seed<std::map<std::string, int>>(8, {{"x", 1}, {"y", 2}}),
      seed<std::unordered_map<int, std::string>>(9, {{1, "one"}}),
      seed<std::set<int64_t>>(10, {5, 9}),
      seed<std::pair<int, std::string>>(11, {4, "four"}),
      seed<std::tuple<int, double, std::string>>(12, {1, 2.5, "three"}),
      seed<std::optional<std::string>>(13, "maybe"),
      seed<Variant>(14, std::vector<int>{7, 8}),
      seed<Nested>(15, Nested{{{"k", std::vector<int>{1}}, {"n", std::nullopt}}}),
      seed<Point>(16, Point{3, "p", {0.5, 1.5}}),
      // A handle is its descriptor's index; the top bits of the first byte
      // attach /dev/null (1) or a memfd (2).
      std::string(1, static_cast<char>(17 | 1 << 5)) + std::string(4, '\0'),
      std::string(1, static_cast<char>(18 | 2 << 5)) + std::string(4, '\0'),
  };
}

}  // namespace mp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  kDecoders[(mode & 0x1f) % kTypes](bytes, descriptors(static_cast<uint8_t>((mode >> 5) % 3)));
  return 0;
}
