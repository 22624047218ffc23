// mp/internal/ipc/queue_impl.h — the classes behind mp/queues.h: Queue,
// JoinableQueue and SimpleQueue written once over a Traits type
// (ProcessSync: a ring every process maps; ThreadSync: the same ring in
// private memory), each item encoded through mp::Codec into the ring
// (internal/ipc/ring.h).

#ifndef MP_INTERNAL_IPC_QUEUE_IMPL_H_
#define MP_INTERNAL_IPC_QUEUE_IMPL_H_

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

#include "mp/errors.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/sharing.h"
#include "mp/internal/ipc/ring.h"
#include "mp/reduction.h"

namespace mp::internal {

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

 protected:
  // A new queue: maxsize <= 0 unbounded; `buffer_bytes` of pending items.
  BasicQueue(int maxsize, uint64_t buffer_bytes)
      : ring_(Ring::create(maxsize > 0 ? static_cast<uint64_t>(maxsize) : 0, buffer_bytes,
                           Traits::kSharing)),
        local_(std::make_shared<QueueLocal>()) {}
  explicit BasicQueue(std::shared_ptr<Ring> ring)
      : ring_(std::move(ring)), local_(std::make_shared<QueueLocal>()) {}
  template <class Q>
  friend struct RingCodec;

 private:
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

 protected:
  BasicSimpleQueue() : ring_(Ring::create(0, Ring::kDefaultCapacity, Traits::kSharing)) {}
  explicit BasicSimpleQueue(std::shared_ptr<Ring> ring) : ring_(std::move(ring)) {}
  template <class Q>
  friend struct RingCodec;

 private:
  void check_open() const {
    if (*closed_) throw std::system_error(EBADF, std::generic_category(), "SimpleQueue is closed");
  }
  std::shared_ptr<Ring> ring_;
  std::shared_ptr<bool> closed_ = std::make_shared<bool>(false);
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_IPC_QUEUE_IMPL_H_
