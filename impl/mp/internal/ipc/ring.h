// mp/internal/ipc/ring.h — the byte ring behind mp's queues.
//
// A memfd holds a control block and two data areas ("lanes"):
//   - the hot lane, small (8 MiB), where records normally go: its pages are
//     reused round after round and stay in cache;
//   - the overflow lane, large (1 GiB by default), used only while the hot
//     lane is full: an unbounded queue takes a burst of a million items with
//     no consumer running, in shared memory, without a feeder thread. Only
//     the pages holding pending records are touched, and the consumer gives
//     them back to the kernel (hole punching) once the lane has drained.
// A producer keeps writing to the overflow lane until it is empty again, and
// consumers read the hot lane before the overflow lane, so order is kept.
// Every process maps each lane twice, back to back, so that a record running
// past the end continues at the start (the "magic ring buffer").
// Records are [u32 size][payload][padding to 8 bytes].
//
// Producers and consumers each have their own lock (an owner-death-aware
// futex lock, see sync_core.h), their own positions and their own cache
// lines; each side caches how far the other has got (the two-lock queue, on
// rings). Data is copied in and out under the side's lock, and each side
// commits with one atomic store of its position in the lane: the bytes it
// has passed and the records it has passed, in one word. So a party killed
// at any instant leaves either the whole commit or none of it:
//   - a producer that dies mid-put leaves nothing half-written behind; the
//     next producer takes the lock over and writes over its partial record;
//   - a consumer that dies mid-get leaves the item where it was, and the next
//     consumer gets it; an item is lost only if its consumer died after
//     committing and before get() returned it.
// Counts (qsize(), maxsize, JoinableQueue's unfinished tasks, the pool's
// bookkeeping) are derived from the committed positions, never kept apart
// from them. Whoever takes a side's lock over from a dead holder wakes every
// sleeper, in case the holder died between its commit and its wake-up; and
// sleepers look again every kWakeupCheck in case the commit was all it did
// before dying unlocked.
// A put waits only when the queue holds maxsize items, or when both lanes are
// full.

#ifndef MP_INTERNAL_IPC_RING_H_
#define MP_INTERNAL_IPC_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mp/internal/base/fault.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/futex.h"
#include "mp/internal/sync/sync_core.h"
#include "mp/reduction.h"

namespace mp::internal {

struct RingLane {
  uint64_t capacity = 0;  // a power of two
  uint64_t offset = 0;    // where its data starts in the memfd
};

// A side's position in one lane, committed by one atomic store: the records
// it has passed (mod 2^32) in the high half, the bytes it has passed in
// 8-byte units (mod 2^32) in the low half. Records are 8-byte aligned, so a
// lane holds at most 2^31 records and up to 16 GiB of bytes.
struct RingPosition {
  static constexpr uint64_t make(uint32_t records, uint32_t units) {
    return (uint64_t{records} << 32) | units;
  }
  static constexpr uint32_t records(uint64_t p) { return static_cast<uint32_t>(p >> 32); }
  static constexpr uint32_t units(uint64_t p) { return static_cast<uint32_t>(p); }
  // Bytes from `from` to `to` (mod 2^35).
  static constexpr uint64_t bytes_between(uint64_t from, uint64_t to) {
    return uint64_t{static_cast<uint32_t>(units(to) - units(from))} * 8;
  }
  // Records from `from` to `to`.
  static constexpr uint32_t records_between(uint64_t from, uint64_t to) {
    return records(to) - records(from);
  }
};

struct alignas(64) RingProducers {
  LockState lock;
  std::atomic<uint64_t> tail[2] = {};  // published, per lane (RingPosition)
  uint64_t cached_head[2] = {};        // consumers' heads, as last read
};

struct alignas(64) RingConsumers {
  LockState lock;
  std::atomic<uint64_t> head[2] = {};  // consumed, per lane (RingPosition)
  uint64_t cached_tail[2] = {};        // producers' tails, as last read
  uint32_t released = 0;               // overflow units given back to the kernel
};

struct RingControl {
  uint32_t magic = 0;
  uint32_t version = 0;
  uint64_t maxsize = 0;  // items; 0: unbounded
  RingLane lanes[2];
  alignas(64) RingProducers producers;
  alignas(64) RingConsumers consumers;
  // Futex words advanced when an item is published / consumed, so sleepers
  // can wait for "something changed".
  alignas(64) std::atomic<uint32_t> published{0};
  std::atomic<uint32_t> consumer_sleepers{0};
  alignas(64) std::atomic<uint32_t> consumed{0};
  std::atomic<uint32_t> producer_sleepers{0};
  // JoinableQueue: task_done() calls (mod 2^32); unfinished = published - done.
  alignas(64) std::atomic<uint32_t> done{0};
  std::atomic<uint32_t> joiners{0};
};

// The bytes of a string, as put() takes them.
inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

class Ring {
 public:
  static constexpr uint64_t kHotCapacity = uint64_t{8} << 20;
  static constexpr uint64_t kDefaultCapacity = uint64_t{1} << 30;
  static constexpr uint64_t kMaxCapacity = uint64_t{16} << 30;

  // A new ring. `maxsize` bounds the number of items (0: none); `capacity`
  // bounds the overflow lane's pending bytes (rounded up to a power of two;
  // above kMaxCapacity -> mp::ValueError).
  static std::shared_ptr<Ring> create(uint64_t maxsize, uint64_t capacity, Sharing sharing);
  // Maps a ring received as a descriptor.
  static std::shared_ptr<Ring> attach(UniqueFd fd, Sharing sharing);

  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  int fd() const noexcept { return fd_.get(); }
  RingControl& control() const noexcept { return *control_; }

  // Appends one record holding `bytes`. False if it could not before
  // `deadline`. A record larger than the overflow lane -> mp::ValueError.
  bool put(std::span<const std::byte> bytes, const Deadline& deadline);

  // Removes the oldest record and hands its bytes to `take`, which copies
  // them out (the consumer lock is held meanwhile). False if none came before
  // `deadline`. If `take` throws, the record stays for the next get(). A
  // record that does not fit what was published (shared memory written by
  // something else than a ring) -> mp::PicklingError.
  template <class Take>
  bool get(Take take, const Deadline& deadline) {
    auto where = lock_nonempty(deadline);
    if (!where) return false;
    auto [lane, head] = *where;
    fault_point(FaultPoint::kRingGetLocked);
    std::span<const std::byte> bytes = record_at(lane, head);
    try {
      take(bytes);
    } catch (...) {
      unlock_consumers();
      throw;
    }
    finish_get(lane, head, bytes.size());
    return true;
  }

  // get() that copies the record into `out`, replacing what it held.
  bool get_into(std::string& out, const Deadline& deadline) {
    return get(
        [&out](std::span<const std::byte> bytes) {
          out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        },
        deadline);
  }

  // Items put and not yet got (exact when no put or get is under way).
  uint64_t qsize() const noexcept;
  // Records published / consumed since the ring was made, mod 2^32.
  uint32_t records_published() const noexcept;
  uint32_t records_consumed() const noexcept;
  // Whether a count mod 2^32 has reached `target` (counts within 2^31 of it).
  static bool reached(uint32_t count, uint64_t target) noexcept {
    return static_cast<int32_t>(count - static_cast<uint32_t>(target)) >= 0;
  }

  // JoinableQueue: unfinished tasks are the records published and not yet
  // marked done.
  bool task_done() noexcept;  // false: called more often than items were put
  bool join(const Deadline& deadline);

 private:
  // A lane as this process mapped it (its own copy of the layout).
  struct Mapping {
    std::byte* data = nullptr;  // twice the lane's capacity
    uint64_t capacity = 0;
    uint64_t offset = 0;  // in the memfd
  };

  Ring(UniqueFd fd, RingControl* control, Sharing sharing)
      : fd_(std::move(fd)), control_(control), sharing_(sharing) {}
  static std::shared_ptr<Ring> map(UniqueFd fd, Sharing sharing, RingControl* control);
  static uint64_t record_size(uint64_t payload) { return (4 + payload + 7) & ~uint64_t{7}; }
  std::byte* at(int lane, uint64_t position) const noexcept {
    return lanes_[lane].data +
           ((uint64_t{RingPosition::units(position)} * 8) & (lanes_[lane].capacity - 1));
  }
  // Takes a side's lock; one taken over from a dead holder is reconciled
  // first. False at the deadline.
  bool lock_side(LockState& lock, const Deadline& deadline);
  // Takes the consumer lock once an item is there: returns (lane, head)
  // with the lock held, or nullopt at the deadline. Sleeps unlocked.
  std::optional<std::pair<int, uint64_t>> lock_nonempty(const Deadline& deadline);
  // The payload of the record at `head`, checked against what was published.
  std::span<const std::byte> record_at(int lane, uint64_t head);
  void unlock_consumers() noexcept;
  void finish_get(int lane, uint64_t head, size_t payload) noexcept;
  // Gives the drained overflow lane's pages back to the kernel, unless a
  // producer is at work.
  void release_overflow(uint64_t head) noexcept;

  UniqueFd fd_;
  RingControl* control_;
  Mapping lanes_[2];
  Sharing sharing_;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_IPC_RING_H_
