// mp/shared_memory.h — SharedMemory: a block of memory with a name, that any
// process can attach to by that name; ShareableList: a list of simple values
// in one (Python: shared_memory.py). SharedMemoryManager is in mp/managers.h,
// as in Python.
//
//   mp::SharedMemory shm({.create = true, .size = 4096});   // a fresh random name
//   std::span<std::byte> b = shm.buf();
//   mp::SharedMemory other({.name = shm.name()});           // here or in any process
//   other.close();  shm.close();  shm.unlink();
//
// The memory is a POSIX shared memory object (shm_open: a file in /dev/shm),
// so programs that are not mp — CPython's SharedMemory(name) among them — can
// attach to it too. Generated names are "mp_<random hex>", or
// "mp_<MP_SHM_TAG>_<random hex>" when the environment variable MP_SHM_TAG is
// set (test harnesses use it to recognize their own names). A SharedMemory is
// a handle: copies share one mapping; passed to a child as a Process argument
// it attaches there by name under spawn and forkserver (fork inherits the
// mapping).
//
// Lifetime. The memory stays valid in a process until that process calls
// close() (or its last handle goes, or it exits); the kernel frees it once the
// name is gone and nobody maps it. The name is removed only by unlink(),
// which any process may call, and by the guarantee below; closing, destroying
// handles or exiting never removes it in a process that merely attached
// (CPython's resource tracker does, when such a process exits).
//
// What is guaranteed when the creator dies. A segment created with
// `.track = true` (the default) does not outlive its creating process by
// name: when that process ends without having called unlink() — returning,
// std::exit, an uncaught exception, SIGKILL, a crash — the guardian removes
// the name within moments and says so on its standard error. Processes that
// had attached keep their mappings and their data until they close them;
// only attaching by name fails from then on (ENOENT). So once the last user
// is gone, nothing is left: no name in /dev/shm, no memory.
//
// The guardian is mp's resource tracker (internal/launch/shm_guardian.h): one
// process for the program and all its children, this program started again
// (mp::init() runs it) by the first process that creates a tracked name. It
// ignores SIGINT and SIGTERM; SIGKILLed, it is replaced by the next process
// that creates or unlinks a name, or that exits holding names, which hands
// the new one every name it holds. If no guardian can be started, create
// throws std::system_error; in a program that has not called mp::init(),
// which could not run as the guardian, it throws mp::RuntimeError. (Not covered: a name created
// before the guardian's death whose creator is SIGKILLed before its next call; the creator dying in
// the microseconds between creating the name and registering it; a creator that is the init of a
// PID namespace, whose end takes every process of the namespace, the guardian included.) With
// `.track = false` the creator opts out: the name persists, as with
// shm_open, until someone calls unlink() or the machine restarts.
//
// Errors: create with size <= 0, attach without a name, a NUL in the name, a
// negative size, or attaching with a size larger than the segment ->
// mp::ValueError (CPython ignores a wrong size on attach; mp refuses it
// rather than hand out less memory than was asked for); a name that exists
// on create -> std::system_error(EEXIST); a missing name on attach or unlink
// -> std::system_error(ENOENT); a name longer than NAME_MAX (255) ->
// std::system_error(ENAMETOOLONG); buf() after close() -> mp::ValueError.

#ifndef MP_SHARED_MEMORY_H_
#define MP_SHARED_MEMORY_H_

#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mp/errors.h"
#include "mp/reduction.h"

namespace mp {

// Python's SharedMemory(name=None, create=False, size=0, *, track=True).
struct SharedMemoryOptions {
  // The name without a leading '/' (one is accepted and dropped). Empty with
  // `create`: a fresh random name.
  std::string name;
  bool create = false;
  // create: the size in bytes, > 0. attach: 0 for the whole segment, or a
  // size the segment must have at least.
  int64_t size = 0;
  // create: remove the name when this process ends without unlink() (see
  // the top of this file). Ignored on attach: attaching never removes a name.
  bool track = true;
};

class SharedMemory {
 public:
  explicit SharedMemory(const SharedMemoryOptions& options);
  // Python: SharedMemory(name): attaches.
  explicit SharedMemory(std::string_view name);

  // The name, without the leading '/'.
  const std::string& name() const noexcept;
  // The segment's size: what was asked for on create, the segment's whole
  // size on attach.
  size_t size() const noexcept;
  // The memory. After close() -> mp::ValueError.
  std::span<std::byte> buf() const;
  // Unmaps the memory in this process (every copy of this handle). Twice is
  // fine.
  void close() noexcept;
  bool closed() const noexcept;
  // Removes the name (POSIX shm_unlink): nobody can attach any more; who
  // has it mapped keeps it. Already removed -> std::system_error(ENOENT).
  void unlink();
  // Python's repr: "SharedMemory('psm_x', size=512)".
  std::string repr() const;

  friend bool operator==(const SharedMemory& a, const SharedMemory& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Python's bytes as an item of a ShareableList: raw bytes, where
// std::string is Python's str (text, UTF-8).
struct Bytes {
  Bytes() = default;
  explicit Bytes(std::string_view bytes) : value(bytes) {}
  std::string value;
  friend auto operator<=>(const Bytes&, const Bytes&) = default;
};

// Python's ShareableList(sequence=None, *, name=None) keywords.
struct ShareableListOptions {
  // Empty: a fresh random name (as SharedMemory draws one).
  std::string name;
  // Remove the name when the creating process ends (see SharedMemory).
  bool track = true;
};

// A fixed-length list of simple values in one SharedMemory segment, which
// any process can attach to by name (Python: shared_memory.ShareableList).
//
//   mp::ShareableList sl({1, 2.5, "text", nullptr, true, mp::Bytes("raw")});
//   mp::ShareableList same(sl.shm().name());      // here, in a child, in CPython
//   std::int64_t i = sl.get<std::int64_t>(0);     sl.set(1, 3.5);  sl[-1];
//
// Items are None (nullptr), bool, int (std::int64_t), float (double), str
// (std::string, UTF-8) and bytes (mp::Bytes); any other type does not
// compile. The length is fixed; each item has a fixed slot: 8 bytes for a
// number, bool or None, and for a str or bytes a multiple of 8 bytes large
// enough for the value it was created with (at least one byte more). A slot
// may take an item of another type later, as long as it fits: a str or bytes
// longer than its slot -> mp::ValueError. Negative indexes count from the end,
// as in Python; out of range -> mp::IndexError. A failed set() changes
// nothing.
//
// The segment holds CPython's layout byte for byte (3.8 through 3.13 and
// main use the same one): the item count, the slots' offsets, the slots, one
// 8-byte struct format per item ("q", "d", "xxxxxxx?", "xxxxxx?x", "<n>s")
// and one back-transform code per item. So CPython's
// ShareableList(name=...) reads and writes a list mp made, and the reverse.
// CPython's quirks come with it: trailing NUL bytes of a str or bytes are
// dropped when it is read (cpython#96779), and a str's slot is sized by its
// length in code points, so a later non-ASCII value of as many characters
// may not fit. One difference: where a str's UTF-8 is longer than that slot
// (CPython's constructor silently cuts it), mp gives it the slot its bytes
// need.
//
// Like Python's, it is not synchronized: guard concurrent set() and reads of
// the same item with a Lock. A ShareableList is a handle: copies share the
// segment; passed to a child it attaches there by name.
class ShareableList {
 public:
  using Item = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Bytes>;

  // An empty list in a new segment.
  ShareableList() : ShareableList(std::vector<Item>{}) {}
  // A new segment holding `items`.
  ShareableList(std::initializer_list<Item> items, const ShareableListOptions& options = {})
      : ShareableList(std::vector<Item>(items), options) {}
  explicit ShareableList(const std::vector<Item>& items, const ShareableListOptions& options = {});
  // Attaches to the list named `name` (a missing name ->
  // std::system_error(ENOENT); a segment that holds no list ->
  // mp::ValueError).
  template <class S>
    requires std::convertible_to<const S&, std::string_view>
  explicit ShareableList(const S& name) : ShareableList(attach_tag{}, std::string_view(name)) {}

  // Python's len().
  size_t size() const noexcept { return count_; }
  Item operator[](int64_t index) const;
  // The item as a T (one of Item's types); an item of another type ->
  // mp::TypeError.
  template <class T>
  T get(int64_t index) const {
    Item item = (*this)[index];
    if (T* value = std::get_if<T>(&item)) return std::move(*value);
    throw TypeError("item " + std::to_string(index) + " is a " + type_name(item));
  }
  void set(int64_t index, const Item& value);
  // Python's count() and index(), with Python's ==: numbers compare by value
  // (True == 1 == 1.0), a str never equals a bytes. index(): absent ->
  // mp::ValueError.
  size_t count(const Item& value) const;
  size_t index(const Item& value) const;
  // Python's struct format of every item, e.g. "8s8sdqxxxxxx?xxxxxxxx?q".
  std::string format() const;
  // Every item (Python's list(sl)).
  std::vector<Item> items() const;
  // Python's repr: "ShareableList([1, 'a', None], name='psm_x')".
  std::string repr() const;
  // The segment (a handle: closing or unlinking it acts on this list's).
  SharedMemory shm() const noexcept { return shm_; }

  // Python's type name of an item: "NoneType", "bool", "int", "float",
  // "str", "bytes".
  static std::string type_name(const Item& item);

 private:
  friend class SharedMemoryManager;
  struct attach_tag {};
  ShareableList(attach_tag, std::string_view name);
  // Lays `items` out in `shm` (made for it by a SharedMemoryManager).
  ShareableList(SharedMemory shm, const std::vector<Item>& items);
  // How many bytes a segment holding `items` needs.
  static size_t bytes_for(const std::vector<Item>& items);
  void read_header();

  SharedMemory shm_;
  size_t count_ = 0;
  std::vector<uint64_t> offsets_;  // count_ + 1 slot offsets from the data start
};

namespace internal {
// Where create draws fresh names from (tests replace it to force a
// collision); returns the previous source. nullptr restores the default.
using ShmNameSource = std::string (*)();
ShmNameSource set_shm_name_source(ShmNameSource source);
}  // namespace internal

// A SharedMemory travels by name (Python pickles its name); the receiver
// attaches, so a name unlinked meanwhile -> std::system_error(ENOENT) there.
template <>
struct Codec<SharedMemory> {
  static void encode(Writer& w, const SharedMemory& shm) {
    Codec<std::string>::encode(w, shm.name());
  }
  static SharedMemory decode(Reader& r) {
    return SharedMemory(SharedMemoryOptions{.name = Codec<std::string>::decode(r)});
  }
};

// A ShareableList travels by name, as Python pickles it; the receiver
// attaches.
template <>
struct Codec<ShareableList> {
  static void encode(Writer& w, const ShareableList& list) {
    Codec<std::string>::encode(w, list.shm().name());
  }
  static ShareableList decode(Reader& r) { return ShareableList(Codec<std::string>::decode(r)); }
};

}  // namespace mp

#endif  // MP_SHARED_MEMORY_H_
