// mp/internal/ring.h — the byte ring behind mp's queues.
//
// A memfd holds a control block and a data area of `capacity` bytes, which
// every process maps twice, back to back, so that a record running past the
// end continues at the start with no special case (the "magic ring buffer").
// Records are [u32 size][payload][padding to 8 bytes].
//
// Producers and consumers each have their own lock (an owner-death-aware
// futex lock, see sync_core.h), their own index and their own cache lines:
// a producer and a consumer touch a common line only to learn how far the
// other side has got, and then cache it (the two-lock queue, on a ring).
// Data is copied in and out under the side's lock, so a record is published
// (tail advanced) only when complete, and consumed (head advanced) only when
// copied out:
//   - a producer that dies mid-put leaves nothing half-written behind; the
//     next producer takes the lock over and writes over its partial record;
//   - a consumer that dies mid-get leaves the item where it was, and the next
//     consumer gets it; an item is lost only if its consumer died after
//     taking it and before get() returned it.
//
// The data area is large (1 GiB by default) but only the pages that hold
// pending records are ever touched, so an unbounded queue takes a million
// items with no consumer running and keeps them in shared memory, visible to
// every process, without a feeder thread. A put that finds the area full
// waits for consumers (that is the only case an unbounded put waits).

#ifndef MP_INTERNAL_RING_H_
#define MP_INTERNAL_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

#include "mp/internal/fd.h"
#include "mp/internal/futex.h"
#include "mp/internal/sync_core.h"
#include "mp/reduction.h"

namespace mp::internal {

struct alignas(64) RingSide {
  LockState lock;
  std::atomic<uint64_t> index{0};       // bytes produced (tail) or consumed (head)
  std::atomic<uint64_t> items{0};       // items produced or consumed
  uint64_t cached_other = 0;            // the other side's index, as last read (under lock)
};

struct alignas(64) RingControl {
  uint32_t magic = 0;
  uint32_t version = 0;
  uint64_t capacity = 0;   // data bytes (a power of two)
  uint64_t maxsize = 0;    // items; 0: unbounded
  alignas(64) RingSide producers;
  alignas(64) RingSide consumers;
  // Futex words: advanced when an item is published / consumed, so sleepers
  // on either condition can wait for "something changed".
  alignas(64) std::atomic<uint32_t> published{0};
  std::atomic<uint32_t> consumer_sleepers{0};
  alignas(64) std::atomic<uint32_t> consumed{0};
  std::atomic<uint32_t> producer_sleepers{0};
  // JoinableQueue: items put and not yet task_done().
  alignas(64) std::atomic<uint32_t> unfinished{0};
  std::atomic<uint32_t> joiners{0};
};

class Ring {
 public:
  static constexpr uint64_t kDefaultCapacity = uint64_t{1} << 30;

  // A new ring. `maxsize` bounds the number of items (0: none); `capacity`
  // bounds pending bytes (rounded up to a power of two, at least 64 KiB).
  static std::shared_ptr<Ring> create(uint64_t maxsize, uint64_t capacity, Sharing sharing);
  // Maps a ring received as a descriptor.
  static std::shared_ptr<Ring> attach(UniqueFd fd, Sharing sharing);

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  int fd() const noexcept { return fd_.get(); }
  RingControl& control() const noexcept { return *control_; }

  // Appends one record holding `bytes`. False if it could not before
  // `deadline` (maxsize reached, or no room). A record larger than the
  // whole data area -> mp::ValueError.
  bool put(std::span<const std::byte> bytes, const Deadline& deadline);
  // Removes the oldest record and hands its bytes to `take` (while the
  // consumer lock is held: `take` copies them out). False if none came
  // before `deadline`.
  template <class Take>
  bool get(Take take, const Deadline& deadline) {
    auto head = lock_nonempty(deadline);
    if (!head) return false;
    uint32_t size;
    std::memcpy(&size, at(*head), sizeof(size));
    try {
      take(std::span<const std::byte>(at(*head + 4), size));
    } catch (...) {
      // The item stays for the next get(): nothing is lost to a decode error.
      unlock_consumers();
      throw;
    }
    finish_get(*head + record_size(size));
    return true;
  }

  // Items put and not yet got (exact when no put or get is under way).
  uint64_t qsize() const noexcept;

  // JoinableQueue's counter.
  void add_unfinished() noexcept;
  bool task_done() noexcept;  // false: called more often than items were put
  bool join(const Deadline& deadline);

 private:
  Ring(UniqueFd fd, RingControl* control, std::byte* data, size_t mapped, Sharing sharing)
      : fd_(std::move(fd)), control_(control), data_(data), mapped_(mapped), sharing_(sharing) {}
  static std::shared_ptr<Ring> map(UniqueFd fd, Sharing sharing, bool fresh, uint64_t maxsize,
                                   uint64_t capacity);
  static uint64_t record_size(uint64_t payload) { return (4 + payload + 7) & ~uint64_t{7}; }
  const std::byte* at(uint64_t index) const noexcept {
    return data_ + (index & (control_->capacity - 1));
  }
  std::byte* at(uint64_t index) noexcept { return data_ + (index & (control_->capacity - 1)); }
  // Takes the consumer lock once an item is there: returns the head
  // (consumer lock held), or nullopt at the deadline. Sleeps unlocked.
  std::optional<uint64_t> lock_nonempty(const Deadline& deadline);
  void unlock_consumers() noexcept;
  void finish_get(uint64_t new_head) noexcept;

  UniqueFd fd_;
  RingControl* control_;
  std::byte* data_;
  size_t mapped_;  // bytes reserved: control + twice the data area
  Sharing sharing_;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_RING_H_
