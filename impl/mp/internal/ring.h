// mp/internal/ring.h — the byte ring behind mp's queues.
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
// futex lock, see sync_core.h), their own indices and their own cache lines;
// each side caches how far the other has got (the two-lock queue, on rings).
// Data is copied in and out under the side's lock, so a record is published
// (tail advanced) only when complete, and consumed (head advanced) only when
// copied out:
//   - a producer that dies mid-put leaves nothing half-written behind; the
//     next producer takes the lock over and writes over its partial record;
//   - a consumer that dies mid-get leaves the item where it was, and the next
//     consumer gets it; an item is lost only if its consumer died after
//     taking it and before get() returned it.
// A put waits only when the queue holds maxsize items, or when both lanes are
// full.

#ifndef MP_INTERNAL_RING_H_
#define MP_INTERNAL_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mp/internal/fd.h"
#include "mp/internal/futex.h"
#include "mp/internal/sync_core.h"
#include "mp/reduction.h"

namespace mp::internal {

struct RingLane {
  uint64_t capacity = 0;  // a power of two
  uint64_t offset = 0;    // where its data starts in the memfd
};

struct alignas(64) RingProducers {
  LockState lock;
  std::atomic<uint64_t> tail[2] = {};  // bytes published, per lane
  std::atomic<uint64_t> items{0};      // items published
  uint64_t cached_head[2] = {};        // consumers' heads, as last read
};

struct alignas(64) RingConsumers {
  LockState lock;
  std::atomic<uint64_t> head[2] = {};  // bytes consumed, per lane
  std::atomic<uint64_t> items{0};      // items consumed
  uint64_t cached_tail[2] = {};        // producers' tails, as last read
  uint64_t released = 0;               // overflow bytes given back to the kernel
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
  // JoinableQueue: items put and not yet task_done().
  alignas(64) std::atomic<uint32_t> unfinished{0};
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

  // A new ring. `maxsize` bounds the number of items (0: none); `capacity`
  // bounds the overflow lane's pending bytes (rounded up to a power of two).
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
  // `deadline`. If `take` throws, the record stays for the next get().
  template <class Take>
  bool get(Take take, const Deadline& deadline) {
    auto where = lock_nonempty(deadline);
    if (!where) return false;
    auto [lane, head] = *where;
    uint32_t size;
    std::memcpy(&size, at(lane, head), sizeof(size));
    try {
      take(std::span<const std::byte>(at(lane, head + 4), size));
    } catch (...) {
      unlock_consumers();
      throw;
    }
    finish_get(lane, head + record_size(size));
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

  // JoinableQueue's counter.
  void add_unfinished() noexcept;
  bool task_done() noexcept;  // false: called more often than items were put
  bool join(const Deadline& deadline);

 private:
  struct Mapping {
    std::byte* data = nullptr;  // twice the lane's capacity
    uint64_t mask = 0;
  };

  Ring(UniqueFd fd, RingControl* control, Sharing sharing)
      : fd_(std::move(fd)), control_(control), sharing_(sharing) {}
  static std::shared_ptr<Ring> map(UniqueFd fd, Sharing sharing, RingControl* control);
  static uint64_t record_size(uint64_t payload) { return (4 + payload + 7) & ~uint64_t{7}; }
  std::byte* at(int lane, uint64_t index) const noexcept {
    return lanes_[lane].data + (index & lanes_[lane].mask);
  }
  // Takes the consumer lock once an item is there: returns (lane, head)
  // with the lock held, or nullopt at the deadline. Sleeps unlocked.
  std::optional<std::pair<int, uint64_t>> lock_nonempty(const Deadline& deadline);
  void unlock_consumers() noexcept;
  void finish_get(int lane, uint64_t new_head) noexcept;
  // Gives the drained overflow lane's pages back to the kernel.
  void release_overflow() noexcept;

  UniqueFd fd_;
  RingControl* control_;
  Mapping lanes_[2];
  Sharing sharing_;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_RING_H_
