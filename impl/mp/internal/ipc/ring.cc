#include "mp/internal/ipc/ring.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <climits>

#include "mp/errors.h"
#include "mp/internal/base/fault.h"

namespace mp::internal {

namespace {

constexpr uint32_t kMagic = 0x6d705251;  // "mpRQ"
constexpr uint32_t kVersion = 3;
constexpr uint64_t kMinCapacity = 64 * 1024;
// The overflow lane's pages go back to the kernel once it has drained and
// at least this much of it was used.
constexpr uint64_t kReleaseAtLeast = uint64_t{1} << 20;
using Pos = RingPosition;

size_t control_bytes() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (sizeof(RingControl) + page - 1) / page * page;
}

bool expired(const Deadline& deadline) { return deadline && Clock::now() >= *deadline; }

// The lane's file range, mapped twice in a row into fresh address space.
std::byte* map_twice(int fd, const RingLane& lane) {
  void* area = ::mmap(nullptr, 2 * lane.capacity, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (area == MAP_FAILED) throw_errno("mmap");
  auto* data = static_cast<std::byte*>(area);
  for (int copy = 0; copy < 2; ++copy) {
    if (::mmap(data + copy * lane.capacity, lane.capacity, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(lane.offset)) == MAP_FAILED) {
      int err = errno;
      ::munmap(area, 2 * lane.capacity);
      throw_errno(err, "mmap");
    }
  }
  return data;
}

// Records between two sides' positions in both lanes; the first side's are
// read first, so that the answer is never more than the truth was.
uint32_t records_between(const std::atomic<uint64_t> (&from)[2],
                         const std::atomic<uint64_t> (&to)[2]) {
  uint64_t f0 = from[0].load(std::memory_order_acquire);
  uint64_t f1 = from[1].load(std::memory_order_acquire);
  return Pos::records_between(f0, to[0].load(std::memory_order_acquire)) +
         Pos::records_between(f1, to[1].load(std::memory_order_acquire));
}

}  // namespace

std::shared_ptr<Ring> Ring::create(uint64_t maxsize, uint64_t capacity, Sharing sharing) {
  if (capacity > kMaxCapacity) throw ValueError("a queue's buffer holds at most 16 GiB");
  capacity = std::bit_ceil(std::max(capacity, kMinCapacity));
  uint64_t hot = std::min(kHotCapacity, capacity);
  UniqueFd fd(::memfd_create("mp-queue", MFD_CLOEXEC));
  if (!fd) throw_errno("memfd_create");
  fd = above_stdio(std::move(fd));
  if (::ftruncate(fd.get(), static_cast<off_t>(control_bytes() + hot + capacity)) < 0) {
    throw_errno("ftruncate");
  }
  auto* control = static_cast<RingControl*>(
      ::mmap(nullptr, control_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  if (control == MAP_FAILED) throw_errno("mmap");
  new (control) RingControl;
  control->maxsize = maxsize;
  control->lanes[0] = {hot, control_bytes()};
  control->lanes[1] = {capacity, control_bytes() + hot};
  control->version = kVersion;
  control->magic = kMagic;
  return map(std::move(fd), sharing, control);
}

std::shared_ptr<Ring> Ring::attach(UniqueFd fd, Sharing sharing) {
  auto* control = static_cast<RingControl*>(
      ::mmap(nullptr, control_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  if (control == MAP_FAILED) throw_errno("mmap");
  struct stat st {};
  const RingLane* lanes = control->lanes;
  bool valid = control->magic == kMagic && control->version == kVersion &&
               ::fstat(fd.get(), &st) == 0 && std::has_single_bit(lanes[0].capacity) &&
               std::has_single_bit(lanes[1].capacity) && lanes[0].capacity <= kMaxCapacity &&
               lanes[1].capacity <= kMaxCapacity && lanes[0].offset == control_bytes() &&
               lanes[1].offset == lanes[0].offset + lanes[0].capacity &&
               static_cast<uint64_t>(st.st_size) == lanes[1].offset + lanes[1].capacity;
  if (!valid) {
    ::munmap(control, control_bytes());
    throw PicklingError("received a descriptor that is not an mp queue");
  }
  return map(std::move(fd), sharing, control);
}

std::shared_ptr<Ring> Ring::map(UniqueFd fd, Sharing sharing, RingControl* control) {
  auto ring = std::shared_ptr<Ring>(new Ring(std::move(fd), control, sharing));
  for (int lane = 0; lane < 2; ++lane) {
    // The layout as checked now: later writes to the shared control block
    // cannot make this process read or write outside its mapping.
    ring->lanes_[lane] = {map_twice(ring->fd_.get(), control->lanes[lane]),
                          control->lanes[lane].capacity, control->lanes[lane].offset};
  }
  return ring;
}

Ring::~Ring() {
  for (int lane = 0; lane < 2; ++lane) {
    if (lanes_[lane].data) ::munmap(lanes_[lane].data, 2 * lanes_[lane].capacity);
  }
  ::munmap(control_, control_bytes());
}

bool Ring::lock_side(LockState& lock, const Deadline& deadline) {
  Acquired got = lock_acquire(lock, deadline, sharing_);
  if (got == Acquired::kFromDeadHolder) {
    // The holder may have died after its commit and before waking anyone.
    // Positions are never half-committed, and each side's caches are only
    // ever behind the other side's positions: waking every sleeper is all
    // that is left to do.
    RingControl& c = *control_;
    c.published.fetch_add(1, std::memory_order_seq_cst);
    c.consumed.fetch_add(1, std::memory_order_seq_cst);
    futex_wake(c.published, INT_MAX, sharing_);
    futex_wake(c.consumed, INT_MAX, sharing_);
    futex_wake(c.done, INT_MAX, sharing_);
  }
  return got != Acquired::kNo;
}

bool Ring::put(std::span<const std::byte> bytes, const Deadline& deadline) {
  RingControl& c = *control_;
  const uint64_t need = record_size(bytes.size());
  if (bytes.size() > UINT32_MAX || need > lanes_[1].capacity) {
    throw ValueError("item is larger than the queue's buffer");
  }
  RingProducers& p = c.producers;
  RingConsumers& s = c.consumers;
  if (!lock_side(p.lock, deadline)) return false;
  int lane = 0;
  for (;;) {
    auto room = [&](int l) {
      uint64_t t = p.tail[l].load(std::memory_order_relaxed);
      if (Pos::bytes_between(p.cached_head[l], t) + need <= lanes_[l].capacity) return true;
      p.cached_head[l] = s.head[l].load(std::memory_order_acquire);
      return Pos::bytes_between(p.cached_head[l], t) + need <= lanes_[l].capacity;
    };
    auto pending = [&] {
      return Pos::records_between(p.cached_head[0], p.tail[0].load(std::memory_order_relaxed)) +
             Pos::records_between(p.cached_head[1], p.tail[1].load(std::memory_order_relaxed));
    };
    // While the overflow lane holds records, new ones go after them.
    bool overflowing =
        Pos::units(p.tail[1].load(std::memory_order_relaxed)) != Pos::units(p.cached_head[1]);
    if (overflowing) {
      p.cached_head[1] = s.head[1].load(std::memory_order_acquire);
      overflowing =
          Pos::units(p.tail[1].load(std::memory_order_relaxed)) != Pos::units(p.cached_head[1]);
    }
    bool below_max = c.maxsize == 0 || pending() < c.maxsize;
    if (!below_max) {
      // The cached heads are behind: look at the consumers' own.
      p.cached_head[0] = s.head[0].load(std::memory_order_acquire);
      p.cached_head[1] = s.head[1].load(std::memory_order_acquire);
      below_max = pending() < c.maxsize;
    }
    if (below_max) {
      if (!overflowing && room(0)) {
        lane = 0;
        break;
      }
      if (room(1)) {
        lane = 1;
        break;
      }
    }
    // Full: sleep (unlocked) until a consumer takes something.
    uint32_t seen = c.consumed.load(std::memory_order_seq_cst);
    lock_release(p.lock, sharing_);
    if (expired(deadline)) return false;
    if (!yield_until([&] { return c.consumed.load(std::memory_order_acquire) != seen; })) {
      c.producer_sleepers.fetch_add(1, std::memory_order_seq_cst);
      futex_wait(c.consumed, seen, wakeup_check_slice(deadline), sharing_);
      c.producer_sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    if (!lock_side(p.lock, deadline)) return false;
  }
  fault_point(FaultPoint::kRingPutLocked);
  const uint64_t tail = p.tail[lane].load(std::memory_order_relaxed);
  uint32_t size = static_cast<uint32_t>(bytes.size());
  std::memcpy(at(lane, tail), &size, sizeof(size));
  if (!bytes.empty()) std::memcpy(at(lane, tail) + 4, bytes.data(), bytes.size());
  fault_point(FaultPoint::kRingPutWritten);
  // The commit: the record and its count become visible together.
  p.tail[lane].store(Pos::make(Pos::records(tail) + 1, Pos::units(tail) + need / 8),
                     std::memory_order_release);
  fault_point(FaultPoint::kRingPutCommitted);
  lock_release(p.lock, sharing_);
  fault_point(FaultPoint::kRingPutUnlocked);
  c.published.fetch_add(1, std::memory_order_seq_cst);
  if (c.consumer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.published, INT_MAX, sharing_);
  }
  return true;
}

std::optional<std::pair<int, uint64_t>> Ring::lock_nonempty(const Deadline& deadline) {
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  if (!lock_side(s.lock, deadline)) return std::nullopt;
  for (;;) {
    // The hot lane first: its records are older than any in the overflow lane.
    uint64_t heads[2];
    for (int lane = 0; lane < 2; ++lane) {
      heads[lane] = s.head[lane].load(std::memory_order_relaxed);
      if (Pos::units(heads[lane]) != Pos::units(s.cached_tail[lane])) {
        return std::make_pair(lane, heads[lane]);
      }
      s.cached_tail[lane] = c.producers.tail[lane].load(std::memory_order_acquire);
      if (Pos::units(heads[lane]) != Pos::units(s.cached_tail[lane])) {
        return std::make_pair(lane, heads[lane]);
      }
    }
    // Empty: sleep (unlocked) until a producer publishes past these heads.
    uint32_t seen = c.published.load(std::memory_order_seq_cst);
    lock_release(s.lock, sharing_);
    if (expired(deadline)) return std::nullopt;
    auto arrived = [&] {
      for (int lane = 0; lane < 2; ++lane) {
        if (Pos::units(c.producers.tail[lane].load(std::memory_order_acquire)) !=
            Pos::units(heads[lane])) {
          return true;
        }
      }
      return false;
    };
    if (!yield_until(arrived)) {
      c.consumer_sleepers.fetch_add(1, std::memory_order_seq_cst);
      if (!arrived()) futex_wait(c.published, seen, wakeup_check_slice(deadline), sharing_);
      c.consumer_sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    if (!lock_side(s.lock, deadline)) return std::nullopt;
  }
}

std::span<const std::byte> Ring::record_at(int lane, uint64_t head) {
  const RingConsumers& s = control_->consumers;
  uint32_t size;
  std::memcpy(&size, at(lane, head), sizeof(size));
  const uint64_t published = Pos::bytes_between(head, s.cached_tail[lane]);
  if (record_size(size) > published || published > lanes_[lane].capacity) {
    unlock_consumers();
    throw PicklingError("the queue's shared memory holds a record that was never written");
  }
  return std::span<const std::byte>(at(lane, head) + 4, size);
}

void Ring::unlock_consumers() noexcept { lock_release(control_->consumers.lock, sharing_); }

void Ring::finish_get(int lane, uint64_t head, size_t payload) noexcept {
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  const uint64_t next =
      Pos::make(Pos::records(head) + 1, Pos::units(head) + record_size(payload) / 8);
  fault_point(FaultPoint::kRingGetCopied);
  s.head[lane].store(next, std::memory_order_release);  // the commit: the space is free again
  fault_point(FaultPoint::kRingGetCommitted);
  if (lane == 1 && Pos::units(next) == Pos::units(s.cached_tail[1]) &&
      uint64_t{static_cast<uint32_t>(Pos::units(next) - s.released)} * 8 >= kReleaseAtLeast) {
    release_overflow(next);
  }
  lock_release(s.lock, sharing_);
  fault_point(FaultPoint::kRingGetUnlocked);
  c.consumed.fetch_add(1, std::memory_order_seq_cst);
  if (c.producer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.consumed, INT_MAX, sharing_);
  }
}

void Ring::release_overflow(uint64_t head) noexcept {
  // Called with the consumer lock held, the overflow lane drained as far as
  // this consumer knows. A producer may be writing its next record into the
  // lane right now, under the producer lock only: punch nothing unless that
  // lock is ours too (if a producer has it, the next drain will do).
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  if (lock_acquire(c.producers.lock, Clock::now(), sharing_) == Acquired::kNo) return;
  fault_point(FaultPoint::kRingReleasing);
  if (Pos::units(c.producers.tail[1].load(std::memory_order_acquire)) == Pos::units(head)) {
    // [released, head) holds nothing anyone will read; neither does the rest.
    const Mapping& lane = lanes_[1];
    const uint64_t length =
        std::min(uint64_t{static_cast<uint32_t>(Pos::units(head) - s.released)} * 8, lane.capacity);
    const uint64_t start = (uint64_t{s.released} * 8) & (lane.capacity - 1);
    const uint64_t first = std::min(length, lane.capacity - start);
    ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(lane.offset + start), static_cast<off_t>(first));
    if (length > first) {
      ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(lane.offset), static_cast<off_t>(length - first));
    }
    s.released = Pos::units(head);
  }
  lock_release(c.producers.lock, sharing_);
}

uint64_t Ring::qsize() const noexcept {
  // Consumed first: a get between the reads makes the answer no larger than
  // the truth, never negative.
  return records_between(control_->consumers.head, control_->producers.tail);
}

uint32_t Ring::records_published() const noexcept {
  const auto& tail = control_->producers.tail;
  return Pos::records(tail[0].load(std::memory_order_acquire)) +
         Pos::records(tail[1].load(std::memory_order_acquire));
}

uint32_t Ring::records_consumed() const noexcept {
  const auto& head = control_->consumers.head;
  return Pos::records(head[0].load(std::memory_order_acquire)) +
         Pos::records(head[1].load(std::memory_order_acquire));
}

bool Ring::task_done() noexcept {
  RingControl& c = *control_;
  uint32_t done = c.done.load(std::memory_order_relaxed);
  uint32_t put = 0;
  do {
    put = records_published();
    if (done == put) return false;
  } while (!c.done.compare_exchange_weak(done, done + 1, std::memory_order_seq_cst));
  if (done + 1 == put && c.joiners.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.done, INT_MAX, sharing_);
  }
  return true;
}

bool Ring::join(const Deadline& deadline) {
  RingControl& c = *control_;
  for (;;) {
    uint32_t done = c.done.load(std::memory_order_seq_cst);
    if (records_published() == done) return true;
    if (expired(deadline)) return false;
    c.joiners.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(c.done, done, wakeup_check_slice(deadline), sharing_);
    c.joiners.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace mp::internal
