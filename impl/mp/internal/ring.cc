#include "mp/internal/ring.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <climits>

#include "mp/errors.h"

namespace mp::internal {

namespace {

constexpr uint32_t kMagic = 0x6d705251;  // "mpRQ"
constexpr uint32_t kVersion = 2;
constexpr uint64_t kMinCapacity = 64 * 1024;
// The overflow lane's pages go back to the kernel once it has drained and
// at least this much of it was used.
constexpr uint64_t kReleaseAtLeast = uint64_t{1} << 20;

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

}  // namespace

std::shared_ptr<Ring> Ring::create(uint64_t maxsize, uint64_t capacity, Sharing sharing) {
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
               std::has_single_bit(lanes[1].capacity) && lanes[0].offset == control_bytes() &&
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
    ring->lanes_[lane].data = map_twice(ring->fd_.get(), control->lanes[lane]);
    ring->lanes_[lane].mask = control->lanes[lane].capacity - 1;
  }
  return ring;
}

Ring::~Ring() {
  for (int lane = 0; lane < 2; ++lane) {
    if (lanes_[lane].data) ::munmap(lanes_[lane].data, 2 * control_->lanes[lane].capacity);
  }
  ::munmap(control_, control_bytes());
}

bool Ring::put(std::span<const std::byte> bytes, const Deadline& deadline) {
  RingControl& c = *control_;
  const uint64_t need = record_size(bytes.size());
  if (bytes.size() > UINT32_MAX || need > c.lanes[1].capacity) {
    throw ValueError("item is larger than the queue's buffer");
  }
  RingProducers& p = c.producers;
  if (lock_acquire(p.lock, deadline, sharing_) == Acquired::kNo) return false;
  int lane = 0;
  uint64_t tail = 0;
  for (;;) {
    auto room = [&](int l) {
      uint64_t t = p.tail[l].load(std::memory_order_relaxed);
      if (t + need - p.cached_head[l] <= c.lanes[l].capacity) return true;
      p.cached_head[l] = c.consumers.head[l].load(std::memory_order_acquire);
      return t + need - p.cached_head[l] <= c.lanes[l].capacity;
    };
    // While the overflow lane holds records, new ones go after them.
    bool overflowing = p.tail[1].load(std::memory_order_relaxed) != p.cached_head[1];
    if (overflowing) {
      p.cached_head[1] = c.consumers.head[1].load(std::memory_order_acquire);
      overflowing = p.tail[1].load(std::memory_order_relaxed) != p.cached_head[1];
    }
    bool below_max = c.maxsize == 0 || p.items.load(std::memory_order_relaxed) -
                                               c.consumers.items.load(std::memory_order_acquire) <
                                           c.maxsize;
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
      futex_wait(c.consumed, seen, deadline, sharing_);
      c.producer_sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    if (lock_acquire(p.lock, deadline, sharing_) == Acquired::kNo) return false;
  }
  tail = p.tail[lane].load(std::memory_order_relaxed);
  uint32_t size = static_cast<uint32_t>(bytes.size());
  std::memcpy(at(lane, tail), &size, sizeof(size));
  if (!bytes.empty()) std::memcpy(at(lane, tail + 4), bytes.data(), bytes.size());
  p.items.store(p.items.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  p.tail[lane].store(tail + need, std::memory_order_release);  // publishes the record
  lock_release(p.lock, sharing_);
  c.published.fetch_add(1, std::memory_order_seq_cst);
  if (c.consumer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.published, INT_MAX, sharing_);
  }
  return true;
}

std::optional<std::pair<int, uint64_t>> Ring::lock_nonempty(const Deadline& deadline) {
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  if (lock_acquire(s.lock, deadline, sharing_) == Acquired::kNo) return std::nullopt;
  for (;;) {
    // The hot lane first: its records are older than any in the overflow lane.
    for (int lane = 0; lane < 2; ++lane) {
      uint64_t head = s.head[lane].load(std::memory_order_relaxed);
      if (head != s.cached_tail[lane]) return std::make_pair(lane, head);
      s.cached_tail[lane] = c.producers.tail[lane].load(std::memory_order_acquire);
      if (head != s.cached_tail[lane]) return std::make_pair(lane, head);
    }
    // Empty: sleep (unlocked) until a producer publishes.
    uint32_t seen = c.published.load(std::memory_order_seq_cst);
    uint64_t got = s.items.load(std::memory_order_relaxed);
    lock_release(s.lock, sharing_);
    if (expired(deadline)) return std::nullopt;
    auto arrived = [&] { return c.producers.items.load(std::memory_order_acquire) != got; };
    if (!yield_until(arrived)) {
      c.consumer_sleepers.fetch_add(1, std::memory_order_seq_cst);
      if (!arrived()) futex_wait(c.published, seen, deadline, sharing_);
      c.consumer_sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    if (lock_acquire(s.lock, deadline, sharing_) == Acquired::kNo) return std::nullopt;
  }
}

void Ring::unlock_consumers() noexcept { lock_release(control_->consumers.lock, sharing_); }

void Ring::finish_get(int lane, uint64_t new_head) noexcept {
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  s.items.store(s.items.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  s.head[lane].store(new_head, std::memory_order_release);  // the space is free again
  if (lane == 1 && new_head == s.cached_tail[1] &&
      new_head == c.producers.tail[1].load(std::memory_order_acquire) &&
      new_head - s.released >= kReleaseAtLeast) {
    release_overflow();
  }
  lock_release(s.lock, sharing_);
  c.consumed.fetch_add(1, std::memory_order_seq_cst);
  if (c.producer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.consumed, INT_MAX, sharing_);
  }
}

void Ring::release_overflow() noexcept {
  // Called with the consumer lock held, the overflow lane drained: the bytes
  // [released, head) hold nothing anyone will read.
  RingControl& c = *control_;
  RingConsumers& s = c.consumers;
  const RingLane& lane = c.lanes[1];
  uint64_t head = s.head[1].load(std::memory_order_relaxed);
  uint64_t from = s.released;
  uint64_t length = std::min(head - from, lane.capacity);
  uint64_t start = from & (lane.capacity - 1);
  uint64_t first = std::min(length, lane.capacity - start);
  ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
              static_cast<off_t>(lane.offset + start), static_cast<off_t>(first));
  if (length > first) {
    ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(lane.offset), static_cast<off_t>(length - first));
  }
  s.released = head;
}

uint64_t Ring::qsize() const noexcept {
  // Consumed first: a get between the two reads makes the answer no larger
  // than the truth, never negative.
  uint64_t got = control_->consumers.items.load(std::memory_order_acquire);
  uint64_t put = control_->producers.items.load(std::memory_order_acquire);
  return put >= got ? put - got : 0;
}

void Ring::add_unfinished() noexcept {
  control_->unfinished.fetch_add(1, std::memory_order_seq_cst);
}

bool Ring::task_done() noexcept {
  RingControl& c = *control_;
  uint32_t n = c.unfinished.load(std::memory_order_relaxed);
  do {
    if (n == 0) return false;
  } while (!c.unfinished.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst));
  if (n == 1 && c.joiners.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.unfinished, INT_MAX, sharing_);
  }
  return true;
}

bool Ring::join(const Deadline& deadline) {
  RingControl& c = *control_;
  for (;;) {
    uint32_t n = c.unfinished.load(std::memory_order_seq_cst);
    if (n == 0) return true;
    if (expired(deadline)) return false;
    c.joiners.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(c.unfinished, n, deadline, sharing_);
    c.joiners.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace mp::internal
