#include "mp/internal/ring.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <climits>

#include "mp/errors.h"

namespace mp::internal {

namespace {

constexpr uint32_t kMagic = 0x6d705251;  // "mpRQ"
constexpr uint32_t kVersion = 1;
constexpr uint64_t kMinCapacity = 64 * 1024;

size_t page_size() {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

size_t control_bytes() {
  size_t page = page_size();
  return (sizeof(RingControl) + page - 1) / page * page;
}

bool expired(const Deadline& deadline) { return deadline && Clock::now() >= *deadline; }

}  // namespace

std::shared_ptr<Ring> Ring::create(uint64_t maxsize, uint64_t capacity, Sharing sharing) {
  capacity = std::bit_ceil(std::max(capacity, kMinCapacity));
  UniqueFd fd(::memfd_create("mp-queue", MFD_CLOEXEC));
  if (!fd) throw_errno("memfd_create");
  fd = above_stdio(std::move(fd));
  if (::ftruncate(fd.get(), static_cast<off_t>(control_bytes() + capacity)) < 0) {
    throw_errno("ftruncate");
  }
  return map(std::move(fd), sharing, /*fresh=*/true, maxsize, capacity);
}

std::shared_ptr<Ring> Ring::attach(UniqueFd fd, Sharing sharing) {
  return map(std::move(fd), sharing, /*fresh=*/false, 0, 0);
}

std::shared_ptr<Ring> Ring::map(UniqueFd fd, Sharing sharing, bool fresh, uint64_t maxsize,
                                uint64_t capacity) {
  const size_t head = control_bytes();
  auto* control = static_cast<RingControl*>(
      ::mmap(nullptr, head, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  if (control == MAP_FAILED) throw_errno("mmap");
  if (fresh) {
    new (control) RingControl;
    control->capacity = capacity;
    control->maxsize = maxsize;
    control->version = kVersion;
    control->magic = kMagic;
  } else {
    struct stat st{};
    capacity = control->capacity;
    if (control->magic != kMagic || control->version != kVersion || ::fstat(fd.get(), &st) < 0 ||
        !std::has_single_bit(capacity) ||
        static_cast<uint64_t>(st.st_size) != head + capacity) {
      ::munmap(control, head);
      throw PicklingError("received a descriptor that is not an mp queue");
    }
  }
  // The data area, twice in a row: [data][data].
  void* area = ::mmap(nullptr, 2 * capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
  if (area == MAP_FAILED) {
    ::munmap(control, head);
    throw_errno("mmap");
  }
  auto* data = static_cast<std::byte*>(area);
  for (int copy = 0; copy < 2; ++copy) {
    void* at = ::mmap(data + copy * capacity, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                      fd.get(), static_cast<off_t>(head));
    if (at == MAP_FAILED) {
      int err = errno;
      ::munmap(area, 2 * capacity);
      ::munmap(control, head);
      throw_errno(err, "mmap");
    }
  }
  return std::shared_ptr<Ring>(new Ring(std::move(fd), control, data, 2 * capacity, sharing));
}

Ring::~Ring() {
  ::munmap(data_, mapped_);
  ::munmap(control_, control_bytes());
}

bool Ring::put(std::span<const std::byte> bytes, const Deadline& deadline) {
  RingControl& c = *control_;
  const uint64_t need = record_size(bytes.size());
  if (bytes.size() > UINT32_MAX || need > c.capacity) {
    throw ValueError("item is larger than the queue's buffer");
  }
  RingSide& p = c.producers;
  if (lock_acquire(p.lock, deadline, sharing_) == Acquired::kNo) return false;
  uint64_t tail = p.index.load(std::memory_order_relaxed);
  for (;;) {
    bool room = tail + need - p.cached_other <= c.capacity;
    if (!room) {
      p.cached_other = c.consumers.index.load(std::memory_order_acquire);
      room = tail + need - p.cached_other <= c.capacity;
    }
    bool below_max = c.maxsize == 0 ||
                     p.items.load(std::memory_order_relaxed) -
                             c.consumers.items.load(std::memory_order_acquire) <
                         c.maxsize;
    if (room && below_max) break;
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
    tail = p.index.load(std::memory_order_relaxed);
  }
  uint32_t size = static_cast<uint32_t>(bytes.size());
  std::memcpy(at(tail), &size, sizeof(size));
  if (!bytes.empty()) std::memcpy(at(tail + 4), bytes.data(), bytes.size());
  p.items.store(p.items.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  p.index.store(tail + need, std::memory_order_release);  // publishes the record
  lock_release(p.lock, sharing_);
  c.published.fetch_add(1, std::memory_order_seq_cst);
  if (c.consumer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.published, INT_MAX, sharing_);
  }
  return true;
}

std::optional<uint64_t> Ring::lock_nonempty(const Deadline& deadline) {
  RingControl& c = *control_;
  RingSide& s = c.consumers;
  if (lock_acquire(s.lock, deadline, sharing_) == Acquired::kNo) return std::nullopt;
  for (;;) {
    uint64_t head = s.index.load(std::memory_order_relaxed);
    if (head != s.cached_other) return head;
    s.cached_other = c.producers.index.load(std::memory_order_acquire);
    if (head != s.cached_other) return head;
    // Empty: sleep (unlocked) until a producer publishes.
    uint32_t seen = c.published.load(std::memory_order_seq_cst);
    lock_release(s.lock, sharing_);
    if (expired(deadline)) return std::nullopt;
    if (!yield_until([&] {
          return c.producers.index.load(std::memory_order_acquire) != head;
        })) {
      c.consumer_sleepers.fetch_add(1, std::memory_order_seq_cst);
      if (c.producers.index.load(std::memory_order_seq_cst) == head) {
        futex_wait(c.published, seen, deadline, sharing_);
      }
      c.consumer_sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    if (lock_acquire(s.lock, deadline, sharing_) == Acquired::kNo) return std::nullopt;
  }
}

void Ring::unlock_consumers() noexcept { lock_release(control_->consumers.lock, sharing_); }

void Ring::finish_get(uint64_t new_head) noexcept {
  RingControl& c = *control_;
  RingSide& s = c.consumers;
  s.items.store(s.items.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  s.index.store(new_head, std::memory_order_release);  // the space is free again
  lock_release(s.lock, sharing_);
  c.consumed.fetch_add(1, std::memory_order_seq_cst);
  if (c.producer_sleepers.load(std::memory_order_seq_cst) > 0) {
    futex_wake(c.consumed, INT_MAX, sharing_);
  }
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
