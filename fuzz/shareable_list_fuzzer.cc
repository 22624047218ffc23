// A libFuzzer target over the ShareableList layout (CPython's, byte for
// byte) as another process may have written it: the input's bytes are a
// segment's contents, which mp::ShareableList attaches to by name and then
// reads and writes. A segment that holds no list must give mp::ValueError at
// attach; an item that cannot be read, mp::ValueError where it is read; a
// write that does not fit, mp::ValueError with the list unchanged. Nothing
// may read or write outside the segment: the first input byte's low bit
// pads the segment to whole pages, so that a read past its end faults
// instead of landing in the mapping's slack. Segments are untracked: the
// regression main does not call mp::init(), which the guardian needs.

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "mp/errors.h"
#include "mp/shared_memory.h"

namespace {

using Item = mp::ShareableList::Item;

// Reads every item and the list's summaries; a bad item is mp::ValueError.
void read_all(const mp::ShareableList& list) {
  try {
    (void)list.format();
    (void)list.repr();
    (void)list.items();
  } catch (const mp::ValueError&) {
  }
  for (size_t i = 0; i < list.size(); ++i) {
    try {
      const Item item = list[static_cast<int64_t>(i)];
      (void)mp::ShareableList::type_name(item);
      (void)list.count(item);
      (void)list.index(item);
    } catch (const mp::ValueError&) {
    }
  }
  try {
    (void)list[static_cast<int64_t>(list.size())];
    mp::fuzz::finding("shareable_list", "an index past the end read an item");
  } catch (const mp::IndexError&) {
  }
}

// Writes an item of each kind over item `i`: one that fits changes it, one
// that does not leaves every byte of the segment as it was.
void write_some(mp::ShareableList& list, uint8_t ops) {
  if (list.size() == 0) return;
  const auto i = static_cast<int64_t>(ops % list.size());
  const std::vector<Item> values = {Item(nullptr),
                                    Item(true),
                                    Item(int64_t{-7}),
                                    Item(2.5),
                                    Item(std::string(ops % 40, 's')),
                                    Item(mp::Bytes(std::string(ops % 24, 'b')))};
  for (const Item& value : values) {
    std::span<const std::byte> buf = list.shm().buf();
    const std::string before(reinterpret_cast<const char*>(buf.data()), buf.size());
    try {
      list.set(i, value);
    } catch (const mp::ValueError&) {
      if (std::memcmp(before.data(), buf.data(), buf.size()) != 0) {
        mp::fuzz::finding("shareable_list", "a refused write changed the segment");
      }
    }
  }
}

std::string bytes_of(const mp::ShareableList& list) {
  std::span<const std::byte> buf = list.shm().buf();
  return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
}

}  // namespace

namespace mp::fuzz {

std::vector<std::string> seeds() {
  // Lists mp lays out (CPython's layout), photographed.
  const std::vector<std::vector<Item>> lists = {
      {},
      {Item(int64_t{1}), Item(2.5), Item(std::string("abc")), Item(mp::Bytes("xy")), Item(nullptr),
       Item(true)},
      {Item(std::string(100, 'q')), Item(int64_t{-1})},
      {Item(false), Item(false), Item(nullptr), Item(std::string())},
      {Item(mp::Bytes(std::string(9, '\0'))), Item(1e300)},
  };
  std::vector<std::string> out;
  for (const auto& items : lists) {
    mp::ShareableList list(items, {.track = false});
    for (char ops : {'\0', '\1', '\x2a', '\x55'}) out.push_back(ops + bytes_of(list));
    list.shm().close();
    list.shm().unlink();
  }
  return out;
}

}  // namespace mp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t ops = data[0];
  std::string contents(reinterpret_cast<const char*>(data + 1), size - 1);
  if (ops & 1) {
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    contents.resize((contents.size() + page) / page * page, '\0');
  }
  mp::SharedMemory shm({.create = true,
                        .size = static_cast<int64_t>(std::max<size_t>(contents.size(), 1)),
                        .track = false});
  std::memcpy(shm.buf().data(), contents.data(), contents.size());
  try {
    mp::ShareableList list(shm.name());
    read_all(list);
    write_some(list, ops);
    read_all(list);
  } catch (const mp::ValueError&) {
    // not a list
  }
  shm.close();
  shm.unlink();
  return 0;
}
