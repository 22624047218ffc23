// ShareableList against real CPython interpreters: CPython's own
// multiprocessing.shared_memory.ShareableList attaches by name to a list mp
// made, reads every item, writes new ones that mp reads back; and mp attaches
// to a list CPython made, finds it byte for byte the list mp would have made,
// reads it, writes to it, and CPython reads that back. Runs once per CPython
// found (/usr/bin/python3 and pyenv's 3.11-3.13); none -> skipped.

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mp/internal/testing/python_peer.h"
#include "mp/mp.h"

namespace mp {
namespace {

using Item = ShareableList::Item;

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string unhex(std::string_view text) {
  std::string out;
  if (text == "-") return out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// Python's float.hex(): "0x1.4000000000000p+1" for 2.5.
std::string float_hex(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  const auto bits = std::bit_cast<uint64_t>(d);
  const bool negative = bits >> 63;
  const int exponent = static_cast<int>((bits >> 52) & 0x7ff);
  const uint64_t mantissa = bits & ((uint64_t{1} << 52) - 1);
  char buf[64];
  if (exponent == 0 && mantissa == 0) {
    std::snprintf(buf, sizeof(buf), "%s0x0.0p+0", negative ? "-" : "");
  } else {
    const int e = exponent == 0 ? -1022 : exponent - 1023;
    std::snprintf(buf, sizeof(buf), "%s0x%d.%013llxp%+d", negative ? "-" : "", exponent != 0,
                  static_cast<unsigned long long>(mantissa), e);
  }
  return buf;
}

// An item as the peer script describes one ("str 6869", "int 7", ...).
std::string describe(const Item& item) {
  switch (item.index()) {
    case 0:
      return "None -";
    case 1:
      return std::string("bool ") + (std::get<bool>(item) ? "1" : "0");
    case 2:
      return "int " + std::to_string(std::get<int64_t>(item));
    case 3:
      return "float " + float_hex(std::get<double>(item));
    case 4: {
      std::string h = hex(std::get<std::string>(item));
      return "str " + (h.empty() ? "-" : h);
    }
    default: {
      std::string h = hex(std::get<Bytes>(item).value);
      return "bytes " + (h.empty() ? "-" : h);
    }
  }
}

// What the peer reported about a list: its items, format, length, bytes.
struct Report {
  std::vector<std::string> items;
  std::string format;
  size_t length = 0;
  std::string raw;
};

Report read_report(testing::PythonPeer& peer) {
  Report r;
  for (std::string line = peer.read_line(); line != "end"; line = peer.read_line()) {
    if (line.empty()) {
      ADD_FAILURE() << "the Python peer stopped before the end of its report";
      break;
    }
    if (line.rfind("format ", 0) == 0) {
      r.format = line.substr(7) == "-" ? "" : line.substr(7);
    } else if (line.rfind("len ", 0) == 0) {
      r.length = std::stoul(line.substr(4));
    } else if (line.rfind("raw ", 0) == 0) {
      r.raw = unhex(line.substr(4));
    } else {
      r.items.push_back(line);
    }
  }
  return r;
}

std::vector<std::string> described(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& item : items) out.push_back(describe(item));
  return out;
}

std::string bytes_of(const SharedMemory& shm) {
  auto buf = shm.buf();
  return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
}

class ShareableListInterop : public ::testing::TestWithParam<std::string> {
 protected:
  std::string script() const {
    return testing::runfile("impl/mp/internal/testing/testdata/shareable_list_peer.py");
  }
};

TEST_P(ShareableListInterop, PythonAttachesToMpsList) {
  const std::vector<Item> items = {int64_t{7},          2.5, "text", nullptr, true, Bytes("bytes"),
                                   "h\xc3\xa9h\xc3\xa9"};
  ShareableList sl(items);
  const std::string format = sl.format();
  EXPECT_EQ(format, "qd8sxxxxxx?xxxxxxxx?8s8s") << "CPython's formats";
  testing::PythonPeer peer(GetParam(), script(), {"attach", sl.shm().name()});
  // What CPython reads (it writes right after, so compare with what mp wrote).
  Report before = read_report(peer);
  EXPECT_EQ(before.items, described(items)) << "CPython reads what mp wrote";
  EXPECT_EQ(before.format, format);
  EXPECT_EQ(before.length, 7u);
  Report after = read_report(peer);
  std::string output;
  EXPECT_EQ(peer.wait(&output), 0) << output;
  // What CPython wrote, as mp reads it.
  EXPECT_EQ(sl.get<int64_t>(0), -(int64_t{1} << 62));
  EXPECT_EQ(sl.get<std::string>(1), "PY") << "a str into a float's slot";
  EXPECT_EQ(sl.get<Bytes>(2), Bytes(std::string("\0raw", 4))) << "bytes into a str's slot";
  EXPECT_EQ(sl.get<double>(3), 0.1) << "a float into None's slot";
  EXPECT_EQ(sl[4], Item(nullptr)) << "None into a bool's slot";
  EXPECT_EQ(sl.get<bool>(5), false) << "a bool into a bytes slot";
  EXPECT_EQ(sl.get<std::string>(6), "h\xc3\xa9");
  EXPECT_EQ(after.items, described(sl.items()));
  EXPECT_EQ(after.format, sl.format());
  sl.shm().close();
  SharedMemory(sl.shm().name()).unlink();
}

TEST_P(ShareableListInterop, MpAttachesToPythonsList) {
  testing::PythonPeer peer(GetParam(), script(), {"create"});
  std::string name_line = peer.read_line();
  ASSERT_EQ(name_line.rfind("name ", 0), 0u) << name_line;
  const std::string name = name_line.substr(5);
  Report made = read_report(peer);

  ShareableList sl(name);
  const std::vector<Item> expected = {
      "howdy", Bytes("HoWdY"), -273.154, int64_t{100}, nullptr,
      true,    int64_t{42},    "",       Bytes(""),    "h\xc3\xa9h\xc3\xa9"};
  EXPECT_EQ(sl.items(), expected);
  EXPECT_EQ(described(sl.items()), made.items);
  EXPECT_EQ(sl.format(), made.format);
  EXPECT_EQ(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q8s8s8s");
  ASSERT_EQ(sl.size(), made.length);
  {
    // The list mp makes of the same items is the same bytes.
    ShareableList ours(expected);
    EXPECT_EQ(hex(bytes_of(ours.shm())), hex(made.raw)) << "mp's layout is CPython's";
    EXPECT_EQ(hex(bytes_of(sl.shm()).substr(0, made.raw.size())), hex(made.raw));
    ours.shm().close();
    ours.shm().unlink();
  }

  // mp writes; bad writes change nothing.
  sl.set(0, "mp");
  sl.set(2, int64_t{-5});
  sl.set(3, true);
  sl.set(4, Bytes("b"));
  sl.set(6, 2.25);
  sl.set(-1, "tail");
  const std::vector<Item> written = sl.items();
  EXPECT_THROW(sl.set(7, "nine byte"), ValueError) << "9 bytes into an 8-byte slot";
  EXPECT_THROW(sl.set(1, Bytes("123456789")), ValueError);
  EXPECT_THROW(sl.set(10, 1.0), IndexError);
  EXPECT_THROW(sl.set(-11, 1.0), IndexError);
  EXPECT_EQ(sl.items(), written) << "a failed set() changed nothing";

  peer.write_line("go");
  Report read_back = read_report(peer);
  EXPECT_EQ(read_back.items, described(written)) << "CPython reads what mp wrote";
  EXPECT_EQ(read_back.format, sl.format());
  std::string output;
  EXPECT_EQ(peer.wait(&output), 0) << output;
  sl.shm().close();
  EXPECT_NE(::access(("/dev/shm/" + name).c_str(), F_OK), 0) << "CPython unlinked it";
}

INSTANTIATE_TEST_SUITE_P(Interpreters, ShareableListInterop,
                         ::testing::ValuesIn(testing::interpreters()),
                         [](const auto& info) { return testing::interpreter_name(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ShareableListInterop);

TEST(ShareableListInterop, SomeInterpreterExists) {
  if (testing::interpreters().empty()) {
    GTEST_SKIP() << "no CPython 3.11+ on this machine: interop not checked";
  }
  SUCCEED() << testing::interpreters().size() << " interpreters";
}

}  // namespace
}  // namespace mp

int main(int argc, char** argv) {
  mp::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
