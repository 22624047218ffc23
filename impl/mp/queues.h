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

#include <cstdint>
#include <memory>
#include <utility>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/ipc/queue_impl.h"
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

// A multi-producer, multi-consumer FIFO across processes.
template <class T>
class Queue : public internal::BasicQueue<T, internal::ProcessSync, false> {
  using Impl = internal::BasicQueue<T, internal::ProcessSync, false>;

 public:
  // Python: Queue(maxsize=0); <= 0 is unbounded.
  explicit Queue(int maxsize = 0) : Queue(QueueOptions{.maxsize = maxsize}) {}
  explicit Queue(const QueueOptions& options) : Impl(options.maxsize, options.buffer_bytes) {}
  explicit Queue(Context&, int maxsize = 0) : Queue(maxsize) {}
  Queue(Context&, const QueueOptions& options) : Queue(options) {}

  // Python: put(obj, block=True, timeout=None): put(x), put(x, false),
  // put(x, 100ms), put(x, true, 100ms). Full -> mp::Full (at once when not
  // blocking, whatever the timeout); closed -> mp::ValueError.
  using Impl::put;
  using Impl::put_nowait;
  // put_nowait without the exception: false when full.
  using Impl::try_put;
  // Python: get(block=True, timeout=None), the same four ways. Empty ->
  // mp::Empty; closed -> mp::ValueError.
  using Impl::get;
  using Impl::get_nowait;
  // get_nowait without the exception: nullopt when empty.
  using Impl::try_get;
  // Exact whenever no put or get is under way, in any process. empty()
  // after close() on a queue this process used -> std::system_error(EBADF).
  using Impl::empty;
  using Impl::full;
  using Impl::qsize;
  // No more put() or get() through this process's handles; items already
  // put stay.
  using Impl::close;
  // Python waits for the feeder thread; mp has none (items are in shared
  // memory when put() returns). join_thread() before close() ->
  // mp::AssertionError.
  using Impl::cancel_join_thread;
  using Impl::join_thread;

 private:
  friend struct internal::RingCodec<Queue>;
  explicit Queue(std::shared_ptr<internal::Ring> ring) : Impl(std::move(ring)) {}
};

// A Queue whose consumers mark items done; join() waits for all of them.
template <class T>
class JoinableQueue : public internal::BasicQueue<T, internal::ProcessSync, true> {
  using Impl = internal::BasicQueue<T, internal::ProcessSync, true>;

 public:
  explicit JoinableQueue(int maxsize = 0) : JoinableQueue(QueueOptions{.maxsize = maxsize}) {}
  explicit JoinableQueue(const QueueOptions& options)
      : Impl(options.maxsize, options.buffer_bytes) {}
  explicit JoinableQueue(Context&, int maxsize = 0) : JoinableQueue(maxsize) {}
  JoinableQueue(Context&, const QueueOptions& options) : JoinableQueue(options) {}

  // Queue's calls.
  using Impl::cancel_join_thread;
  using Impl::close;
  using Impl::empty;
  using Impl::full;
  using Impl::get;
  using Impl::get_nowait;
  using Impl::join_thread;
  using Impl::put;
  using Impl::put_nowait;
  using Impl::qsize;
  using Impl::try_get;
  using Impl::try_put;
  // Marks one item done. More calls than items put -> mp::ValueError.
  using Impl::task_done;
  // Waits until every item put has been task_done().
  using Impl::join;

 private:
  friend struct internal::RingCodec<JoinableQueue>;
  explicit JoinableQueue(std::shared_ptr<internal::Ring> ring) : Impl(std::move(ring)) {}
};

// Put and get only (Python: SimpleQueue).
template <class T>
class SimpleQueue : public internal::BasicSimpleQueue<T, internal::ProcessSync> {
  using Impl = internal::BasicSimpleQueue<T, internal::ProcessSync>;

 public:
  SimpleQueue() = default;
  explicit SimpleQueue(Context&) {}

  using Impl::get;
  using Impl::put;
  // After close() -> std::system_error(EBADF), used or not (unlike Queue).
  using Impl::empty;
  // May be called more than once.
  using Impl::close;

 private:
  friend struct internal::RingCodec<SimpleQueue>;
  explicit SimpleQueue(std::shared_ptr<internal::Ring> ring) : Impl(std::move(ring)) {}
};

// Queues travel to children as their ring's descriptor.
template <class T>
struct Codec<Queue<T>> : internal::RingCodec<Queue<T>> {};
template <class T>
struct Codec<JoinableQueue<T>> : internal::RingCodec<JoinableQueue<T>> {};
template <class T>
struct Codec<SimpleQueue<T>> : internal::RingCodec<SimpleQueue<T>> {};

namespace dummy {

// Python: multiprocessing.dummy's queues (queue.Queue): the same calls
// between threads of one process, the ring in private memory.
template <class T>
class Queue : public ::mp::internal::BasicQueue<T, ::mp::internal::ThreadSync, false> {
  using Impl = ::mp::internal::BasicQueue<T, ::mp::internal::ThreadSync, false>;

 public:
  explicit Queue(int maxsize = 0) : Queue(QueueOptions{.maxsize = maxsize}) {}
  explicit Queue(const QueueOptions& options) : Impl(options.maxsize, options.buffer_bytes) {}

  using Impl::cancel_join_thread;
  using Impl::close;
  using Impl::empty;
  using Impl::full;
  using Impl::get;
  using Impl::get_nowait;
  using Impl::join_thread;
  using Impl::put;
  using Impl::put_nowait;
  using Impl::qsize;
  using Impl::try_get;
  using Impl::try_put;
};

template <class T>
class JoinableQueue : public ::mp::internal::BasicQueue<T, ::mp::internal::ThreadSync, true> {
  using Impl = ::mp::internal::BasicQueue<T, ::mp::internal::ThreadSync, true>;

 public:
  explicit JoinableQueue(int maxsize = 0) : JoinableQueue(QueueOptions{.maxsize = maxsize}) {}
  explicit JoinableQueue(const QueueOptions& options)
      : Impl(options.maxsize, options.buffer_bytes) {}

  using Impl::cancel_join_thread;
  using Impl::close;
  using Impl::empty;
  using Impl::full;
  using Impl::get;
  using Impl::get_nowait;
  using Impl::join;
  using Impl::join_thread;
  using Impl::put;
  using Impl::put_nowait;
  using Impl::qsize;
  using Impl::task_done;
  using Impl::try_get;
  using Impl::try_put;
};

template <class T>
class SimpleQueue : public ::mp::internal::BasicSimpleQueue<T, ::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicSimpleQueue<T, ::mp::internal::ThreadSync>;

 public:
  SimpleQueue() = default;

  using Impl::close;
  using Impl::empty;
  using Impl::get;
  using Impl::put;
};

}  // namespace dummy
}  // namespace mp

#endif  // MP_QUEUES_H_
