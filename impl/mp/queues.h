// mp/queues.h — Queue, SimpleQueue, JoinableQueue (Python: queues.py).
//
//   mp::Queue<std::string> q;          // unbounded
//   mp::Queue<int> bq(4);              // maxsize 4
//   bq.put(1); bq.put(2, 100ms); bq.put_nowait(3);   // full -> mp::Full
//   int x = bq.get(); int y = bq.get(100ms); int z = bq.get_nowait();  // empty -> mp::Empty
//
// Items travel through mp::Codec (any mp::Transferable T) into a ring of
// shared memory (internal/ipc/ring.h) that every process holding the queue maps.
// There is no feeder thread: put() writes the item into shared memory before
// it returns, so an item is never lost to its producer's exit, and qsize(),
// empty() and full() are exact across processes whenever no put or get is
// under way. An unbounded queue holds up to 1 GiB of pending items (memory is
// used only for what is pending); a put beyond that waits for consumers.
//
// A Queue is a handle: copies, and the copy a child receives as a Process
// argument under any start method, are the same queue. Items FIFO per
// producer; every item delivered once. A producer killed in the middle of a
// put loses that item only; a consumer killed in the middle of a get leaves
// the item to the next consumer (it is lost only if the consumer died after
// taking it and before get() returned). Neither wedges the queue: the next
// process takes their lock over (see mp/synchronize.h on dead holders).
//
// Items must not carry handles (an mp::Lock in a queue item -> mp::PicklingError):
// pass primitives to children as Process arguments, as Python requires.

#ifndef MP_QUEUES_H_
#define MP_QUEUES_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/sharing.h"
#include "mp/internal/ipc/ring.h"
#include "mp/reduction.h"

namespace mp {

// Python's Queue(maxsize) keyword arguments, and mp's own.
struct QueueOptions {
  int maxsize = 0;  // <= 0: unbounded
  // Bytes of pending items the queue can hold (rounded up to a power of
  // two; at most 16 GiB, more -> mp::ValueError); a put that does not fit
  // waits.
  uint64_t buffer_bytes = internal::Ring::kDefaultCapacity;
};

namespace internal {

// The Codec of a queue, which is nothing but its ring: encodes the ring's
// descriptor, decodes by attaching to it.
template <class Q>
struct RingCodec {
  static void encode(Writer& w, const Q& q) { w.write_pod(w.add_fd(q.ring_->fd())); }
  static Q decode(Reader& r) {
    return Q(Ring::attach(r.take_fd(r.read_pod<uint32_t>()), Sharing::kProcesses));
  }
};

// This process's view of a queue: closed by this process, used by it.
// Atomic: the threads of a process (mp::dummy's in particular) share it.
struct QueueLocal {
  std::atomic<bool> closed{false};
  std::atomic<bool> used{false};
};

// Encodes an item into a per-thread buffer reused from put to put.
template <class T>
std::span<const std::byte> encode_item(const T& item) {
  if constexpr (kEncodedAsBytes<T>) {
    return std::as_bytes(std::span(&item, 1));  // no staging copy
  }
  thread_local Writer w;
  w.clear();
  Codec<T>::encode(w, item);
  if (!w.fds().empty()) {
    throw PicklingError(
        "a queue item cannot carry handles (Lock, Queue, Connection...): pass them to the child "
        "as Process arguments");
  }
  return bytes_of(w.bytes());
}

template <class T>
T decode_item(std::span<const std::byte> bytes) {
  Reader r(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return Codec<T>::decode(r);
}

template <class T, class Traits, bool kJoinable>
class BasicQueue {
 public:
  // Python: Queue(maxsize=0).
  explicit BasicQueue(int maxsize = 0) : BasicQueue(QueueOptions{.maxsize = maxsize}) {}
  explicit BasicQueue(const QueueOptions& options)
      : ring_(Ring::create(options.maxsize > 0 ? static_cast<uint64_t>(options.maxsize) : 0,
                           options.buffer_bytes, Traits::kSharing)),
        local_(std::make_shared<QueueLocal>()) {}
  explicit BasicQueue(Context&, int maxsize = 0) : BasicQueue(maxsize) {}
  BasicQueue(Context&, const QueueOptions& options) : BasicQueue(options) {}

  // Python: put(obj, block=True, timeout=None). Full -> mp::Full (at once
  // when not blocking, whatever the timeout); closed -> mp::ValueError.
  void put(const T& item) { put_until(item, std::nullopt); }
  void put(const T& item, bool block) { put_until(item, block ? Deadline() : Clock::now()); }
  template <class Rep, class Period>
  void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
    put_until(item, deadline_after(timeout));
  }
  template <class Rep, class Period>
  void put(const T& item, bool block, std::chrono::duration<Rep, Period> timeout) {
    put_until(item, block ? deadline_after(timeout) : Clock::now());
  }
  void put_nowait(const T& item) { put(item, false); }
  // put_nowait without the exception: false when full.
  bool try_put(const T& item) {
    try {
      put_nowait(item);
      return true;
    } catch (const Full&) {
      return false;
    }
  }

  // Python: get(block=True, timeout=None). Empty -> mp::Empty; closed ->
  // mp::ValueError.
  T get() { return get_until(std::nullopt); }
  T get(bool block) { return get_until(block ? Deadline() : Clock::now()); }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    return get_until(deadline_after(timeout));
  }
  template <class Rep, class Period>
  T get(bool block, std::chrono::duration<Rep, Period> timeout) {
    return get_until(block ? deadline_after(timeout) : Clock::now());
  }
  T get_nowait() { return get(false); }
  // get_nowait without the exception: nullopt when empty.
  std::optional<T> try_get() {
    check_open();
    std::optional<T> item;
    ring_->get([&item](std::span<const std::byte> bytes) { item = decode_item<T>(bytes); },
               Clock::now());
    return item;
  }

  // Exact whenever no put or get is under way, in any process.
  size_t qsize() const { return static_cast<size_t>(ring_->qsize()); }
  // After close() on a queue this process used -> std::system_error(EBADF).
  bool empty() const {
    if (local_->closed.load(std::memory_order_relaxed) &&
        local_->used.load(std::memory_order_relaxed))
      throw std::system_error(EBADF, std::generic_category(), "Queue is closed");
    return qsize() == 0;
  }
  bool full() const {
    uint64_t max = ring_->control().maxsize;
    return max > 0 && ring_->qsize() >= max;
  }

  // No more put() or get() through this process's handles (Python: the
  // queue's end in this process is closed). Items already put stay.
  void close() { local_->closed.store(true, std::memory_order_relaxed); }
  // Python waits for the feeder thread; mp has none (items are in shared
  // memory when put() returns). Before close() -> mp::AssertionError.
  void join_thread() {
    if (!local_->closed.load(std::memory_order_relaxed)) throw AssertionError("Queue not closed");
  }
  void cancel_join_thread() {}

  // JoinableQueue: marks one item done. More calls than items put ->
  // mp::ValueError.
  void task_done()
    requires kJoinable
  {
    if (!ring_->task_done()) throw ValueError("task_done() called too many times");
  }
  // JoinableQueue: waits until every item put has been task_done().
  void join()
    requires kJoinable
  {
    ring_->join(std::nullopt);
  }

  friend bool operator==(const BasicQueue& a, const BasicQueue& b) noexcept {
    return a.ring_ == b.ring_;
  }

 private:
  friend struct RingCodec<BasicQueue>;
  explicit BasicQueue(std::shared_ptr<Ring> ring)
      : ring_(std::move(ring)), local_(std::make_shared<QueueLocal>()) {}
  void check_open() {
    if (local_->closed.load(std::memory_order_relaxed)) throw ValueError("Queue is closed");
    if (!local_->used.load(std::memory_order_relaxed)) {
      local_->used.store(true, std::memory_order_relaxed);
    }
  }
  void put_until(const T& item, const Deadline& deadline) {
    check_open();
    // A JoinableQueue counts the item unfinished once the put commits
    // (a producer killed before that put nothing).
    if (!ring_->put(encode_item(item), deadline)) throw Full();
  }
  T get_until(const Deadline& deadline) {
    check_open();
    if constexpr (kEncodedAsBytes<T> && std::is_default_constructible_v<T>) {
      T item;  // copied straight from the ring, returned without another copy
      if (!ring_->get(
              [&item](std::span<const std::byte> bytes) {
                if (bytes.size() != sizeof(T)) throw PicklingError("queue item of the wrong size");
                std::memcpy(&item, bytes.data(), sizeof(T));
              },
              deadline)) {
        throw Empty();
      }
      return item;
    }
    std::optional<T> item;
    if (!ring_->get([&item](std::span<const std::byte> bytes) { item = decode_item<T>(bytes); },
                    deadline)) {
      throw Empty();
    }
    return std::move(*item);
  }

  std::shared_ptr<Ring> ring_;
  std::shared_ptr<QueueLocal> local_;
};

template <class T, class Traits>
class BasicSimpleQueue {
 public:
  BasicSimpleQueue() : ring_(Ring::create(0, Ring::kDefaultCapacity, Traits::kSharing)) {}
  explicit BasicSimpleQueue(Context&) : BasicSimpleQueue() {}

  void put(const T& item) {
    check_open();
    ring_->put(encode_item(item), std::nullopt);
  }
  T get() {
    check_open();
    std::optional<T> item;
    ring_->get([&item](std::span<const std::byte> bytes) { item = decode_item<T>(bytes); },
               std::nullopt);
    return std::move(*item);
  }
  // After close() -> std::system_error(EBADF), used or not (unlike Queue).
  bool empty() const {
    check_open();
    return ring_->qsize() == 0;
  }
  // May be called more than once.
  void close() { *closed_ = true; }

  friend bool operator==(const BasicSimpleQueue& a, const BasicSimpleQueue& b) noexcept {
    return a.ring_ == b.ring_;
  }

 private:
  friend struct RingCodec<BasicSimpleQueue>;
  explicit BasicSimpleQueue(std::shared_ptr<Ring> ring) : ring_(std::move(ring)) {}
  void check_open() const {
    if (*closed_) throw std::system_error(EBADF, std::generic_category(), "SimpleQueue is closed");
  }
  std::shared_ptr<Ring> ring_;
  std::shared_ptr<bool> closed_ = std::make_shared<bool>(false);
};

}  // namespace internal

// A multi-producer, multi-consumer FIFO across processes.
template <class T>
using Queue = internal::BasicQueue<T, internal::ProcessSync, false>;
// A Queue whose consumers mark items done; join() waits for all of them.
template <class T>
using JoinableQueue = internal::BasicQueue<T, internal::ProcessSync, true>;
// Put and get only (Python: SimpleQueue).
template <class T>
using SimpleQueue = internal::BasicSimpleQueue<T, internal::ProcessSync>;

// Queues travel to children as their ring's descriptor.
template <class T, bool kJoinable>
struct Codec<internal::BasicQueue<T, internal::ProcessSync, kJoinable>>
    : internal::RingCodec<internal::BasicQueue<T, internal::ProcessSync, kJoinable>> {};
template <class T>
struct Codec<internal::BasicSimpleQueue<T, internal::ProcessSync>>
    : internal::RingCodec<internal::BasicSimpleQueue<T, internal::ProcessSync>> {};

namespace dummy {
// The same queues for threads of one process (Python: multiprocessing.dummy,
// whose Queue is queue.Queue).
template <class T>
using Queue = mp::internal::BasicQueue<T, mp::internal::ThreadSync, false>;
template <class T>
using JoinableQueue = mp::internal::BasicQueue<T, mp::internal::ThreadSync, true>;
template <class T>
using SimpleQueue = mp::internal::BasicSimpleQueue<T, mp::internal::ThreadSync>;
}  // namespace dummy

}  // namespace mp

#endif  // MP_QUEUES_H_
