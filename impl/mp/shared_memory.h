// mp/shared_memory.h — SharedMemory: a block of memory with a name, that any
// process can attach to by that name (Python: shared_memory.py).
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
// std::exit, an uncaught exception, SIGKILL, a crash — a guardian process
// that it started with its first segment removes the name within moments.
// Processes that had attached keep their mappings and their data until they
// close them; only attaching by name fails from then on (ENOENT). So once
// the last user is gone, nothing is left: no name in /dev/shm, no memory.
// (Not covered: the guardian itself being SIGKILLed; the creator dying in the
// microseconds between creating the name and registering it; a creator that
// is the init of a PID namespace, whose end takes every process of the
// namespace, its guardian included.) The guardian is this program started
// again (mp::init() runs it); if it cannot be started, create throws
// std::system_error. With `.track = false` the creator opts out: no guardian,
// and the name persists, as with shm_open, until someone calls unlink() or
// the machine restarts.
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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

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

}  // namespace mp

#endif  // MP_SHARED_MEMORY_H_
