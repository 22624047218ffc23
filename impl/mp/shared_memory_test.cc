// ShareableList against segments whose contents another process wrote: a
// corrupt header is refused at attach time, a corrupt item when it is read,
// with mp::ValueError, and nothing is read or written outside the segment.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mp/mp.h"

namespace mp {
namespace {

using Item = ShareableList::Item;

// The layout (see shared_memory.cc): the count, count + 1 slot offsets, the
// slots, 8 bytes of format per item, one code byte per item.
struct Layout {
  explicit Layout(const ShareableList& list) : buf(list.shm().buf()), count(list.size()) {}
  int64_t& word(size_t i) { return *reinterpret_cast<int64_t*>(buf.data() + 8 * i); }
  size_t formats() { return 8 * (count + 2) + static_cast<size_t>(word(count + 1)); }
  void set_format(size_t item, const std::string& format) {
    std::memset(buf.data() + formats() + 8 * item, 0, 8);
    std::memcpy(buf.data() + formats() + 8 * item, format.data(), format.size());
  }
  void set_code(size_t item, int8_t code) {
    std::memcpy(buf.data() + formats() + 8 * count + item, &code, 1);
  }
  std::span<std::byte> buf;
  size_t count;
};

// By name (braces would make a new list holding the name: std::string is an
// item too).
ShareableList attach(const std::string& name) { return ShareableList(name); }

ShareableList make(const std::vector<Item>& items) {
  return ShareableList(items, {.track = false});
}

TEST(ShareableListTest, CorruptHeadersAreRefusedOnAttach) {
  ShareableList list = make({"abc", 1, 2.5});
  const std::string name = list.shm().name();
  Layout layout(list);
  const int64_t count = layout.word(0);
  layout.word(0) = int64_t{1} << 40;
  EXPECT_THROW(attach(name), ValueError) << "an item count past the segment";
  layout.word(0) = -1;
  EXPECT_THROW(attach(name), ValueError) << "a negative item count";
  layout.word(0) = count;
  const int64_t second = layout.word(2);
  layout.word(2) = 0;
  EXPECT_THROW(attach(name), ValueError) << "offsets out of order";
  layout.word(2) = second;
  const int64_t end = layout.word(4);
  layout.word(4) = end + 4096;
  EXPECT_THROW(attach(name), ValueError) << "slots past the end";
  layout.word(4) = end;
  EXPECT_EQ(attach(name).items(), (std::vector<Item>{"abc", 1, 2.5}));
  list.shm().unlink();
}

TEST(ShareableListTest, CorruptItemsAreRefusedWhenRead) {
  ShareableList list = make({"abc", 1, 2.5});
  Layout layout(list);
  layout.set_format(0, "zzs");
  EXPECT_THROW(list[0], ValueError) << "not a length";
  layout.set_format(0, "999s");
  EXPECT_THROW(list[0], ValueError) << "a length past the slot";
  layout.set_format(1, "x");
  EXPECT_THROW(list[1], ValueError) << "an unknown number format";
  layout.set_code(2, 9);
  EXPECT_THROW(list[2], ValueError) << "an unknown code";
  EXPECT_THROW(list.items(), ValueError);
  // Writing repairs an item: a text takes the whole slot, a number its format.
  list.set(0, "xyz");
  EXPECT_EQ(list.get<std::string>(0), "xyz");
  list.set(1, 7);
  EXPECT_EQ(list.get<int64_t>(1), 7);
  list.set(2, Bytes("b"));
  EXPECT_EQ(list.get<Bytes>(2), Bytes("b"));
  EXPECT_EQ(list.format(), "8sq8s");
  list.shm().unlink();
}

}  // namespace
}  // namespace mp

int main(int argc, char** argv) {
  mp::init(argc, argv);  // the guardian is this program again
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
