// mp/pool.h — a pool of worker processes (Python: multiprocessing.pool.Pool).
//
//   mp::Pool pool(4);
//   std::vector<int> ys = pool.map(&square, xs);
//   for (int y : pool.imap(&square, std::views::iota(0, 10'000'000))) ...
//
// Tasks are free functions or captureless lambdas (they are named by where
// their code lives, so a spawn or forkserver worker finds them); arguments
// and results travel through mp::Codec and cannot carry handles — hand Locks,
// Queues and Values to the workers through the initializer instead.
//
// Beyond Python:
//   - a worker that dies mid-task (signal, std::exit) fails that task with
//     mp::WorkerLostError; the pool starts a replacement and goes on;
//   - `task_timeout` kills a worker whose task runs too long; the task fails
//     with mp::TimeoutError;
//   - imap / imap_unordered read their input lazily, with a bounded number
//     of tasks in flight (Python's map reads all of it first; so does mp's).
// A task's exception reaches the caller with its type when it is a std or mp
// exception type, else as mp::RemoteError naming the type. terminate() fails
// every unfinished task with mp::RuntimeError (Python leaves them pending).

#ifndef MP_POOL_H_
#define MP_POOL_H_
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/target.h"
#include "mp/internal/pool/pool_impl.h"
#include "mp/reduction.h"

namespace mp {

// A pool's initializer and its arguments: `.initializer = &init` or
// `.initializer = {&init, lock, 42}`. Arguments may be handles (Lock, Queue,
// Value...): this is how workers get them.
class Initializer {
 public:
  Initializer() = default;
  template <class F, class... A>
    requires internal::FunctionPointerLike<std::decay_t<F>> &&
             std::invocable<decltype(+std::declval<std::decay_t<F>>()), std::decay_t<A>&...>
  Initializer(F f, A... args) {  // NOLINT: implicit, for designated initializers
    auto spec = std::make_shared<internal::InitializerSpec>();
    spec->target = internal::make_target(f, std::move(args)...);
    using Fn = decltype(+f);
    using Stored = typename internal::function_traits<Fn>::args;
    if constexpr (internal::tuple_transferable<Stored>)
      spec->binder = &internal::bind_call<Fn, Stored>;
    spec_ = std::move(spec);
  }
  explicit operator bool() const noexcept { return spec_ != nullptr; }
  const std::shared_ptr<const internal::InitializerSpec>& spec() const noexcept { return spec_; }

 private:
  std::shared_ptr<const internal::InitializerSpec> spec_;
};

// Python: Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None).
struct PoolOptions {
  std::optional<int> processes = {};  // nullopt: cpu_count(); < 1 -> mp::ValueError
  Initializer initializer = {};       // runs once in every worker, before its first task
  std::optional<int> maxtasksperchild =
      {};  // chunks a worker runs before it is replaced; < 1 -> ValueError
  // A task running longer is killed with its worker (mp::TimeoutError). Not
  // for thread pools (mp::ValueError): a thread cannot be killed.
  std::optional<std::chrono::milliseconds> task_timeout = {};
};

class PoolProxy;

// Python: the callback, error_callback and chunksize keywords of the *_async
// calls. Callbacks run in the pool owner's result thread; keep them short.
template <class T>
struct AsyncOptions {
  std::function<void(const T&)> callback = {};
  std::function<void(std::exception_ptr)> error_callback = {};
  std::optional<int> chunksize = {};  // map_async / starmap_async; < 1 -> mp::ValueError
};

// Python: AsyncResult (ApplyResult / MapResult).
template <class T>
class AsyncResult {
 public:
  // The value, or the task's exception rethrown. Python: get(timeout=None).
  T get() {
    wait();
    return take();
  }
  // Throws mp::TimeoutError if not ready within `timeout`.
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    if (!wait_until(internal::deadline_after(timeout))) throw TimeoutError("result not ready");
    return take();
  }
  void wait() { wait_until(std::nullopt); }
  template <class Rep, class Period>
  void wait(std::chrono::duration<Rep, Period> timeout) {
    wait_until(internal::deadline_after(timeout));
  }
  bool ready() const {
    std::lock_guard lock(s_->mu);
    return s_->ready;
  }
  // Throws mp::ValueError before the result is ready.
  bool successful() const {
    std::lock_guard lock(s_->mu);
    if (!s_->ready) throw ValueError("AsyncResult is not ready");
    return !s_->error;
  }

 private:
  template <class>
  friend class internal::BasicPool;
  friend class PoolProxy;
  explicit AsyncResult(std::shared_ptr<internal::ResultState<T>> s) : s_(std::move(s)) {}
  bool wait_until(const internal::Deadline& deadline) {
    std::unique_lock lock(s_->mu);
    if (!deadline) {
      s_->cv.wait(lock, [&] { return s_->ready; });
      return true;
    }
    return s_->cv.wait_until(lock, *deadline, [&] { return s_->ready; });
  }
  T take() {
    std::lock_guard lock(s_->mu);
    if (s_->error) std::rethrow_exception(s_->error);
    return *s_->value;  // a copy: get() may be called again
  }
  // map() and apply(): nobody else sees this result, so it moves out.
  T take_once() {
    wait();
    std::lock_guard lock(s_->mu);
    if (s_->error) std::rethrow_exception(s_->error);
    return std::move(*s_->value);
  }
  std::shared_ptr<internal::ResultState<T>> s_;
};

// Python: IMapIterator / IMapUnorderedIterator. A single-pass range: results
// come as the caller asks for them, and the input is read only as far as the
// bounded number of tasks in flight needs. An exception from a task or from
// the input is thrown where its position is reached.
template <class R>
class IMapIterator {
 public:
  using iterator = internal::PullIterator<IMapIterator, R>;

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // The next result, or nullopt at the end (Python: next() and StopIteration).
  std::optional<R> next() { return s_->next(); }

 private:
  template <class>
  friend class internal::BasicPool;

  explicit IMapIterator(std::shared_ptr<internal::IMapState<R>> s) : s_(std::move(s)) {}
  std::shared_ptr<internal::IMapState<R>> s_;
};

// Python: multiprocessing.Pool — worker processes of a context.
class Pool : public internal::BasicPool<internal::ProcessSync> {
  using Impl = internal::BasicPool<internal::ProcessSync>;

 public:
  // Python: Pool(processes=None, initializer=None, initargs=(),
  // maxtasksperchild=None): cpu_count() workers (or options.processes) of
  // the default context, or of `ctx`.
  Pool();
  explicit Pool(int processes);
  explicit Pool(const PoolOptions& options);
  explicit Pool(Context& ctx, const PoolOptions& options = {});
  Pool(Context& ctx, int processes);
  // Python's `with Pool() as p:` ends with terminate(); so does the
  // destructor, and it joins. Movable, not copyable.

  // map(f, xs, chunksize = nullopt), starmap(f, xs, chunksize): Python's;
  // read all of `xs` first (chunks of ceil(len / (4 × processes)) by
  // default); the first failing task's exception is rethrown.
  using Impl::map;
  using Impl::starmap;
  // map_async(f, xs, {.callback, .error_callback, .chunksize}),
  // starmap_async(...): an AsyncResult<std::vector<R>>.
  using Impl::map_async;
  using Impl::starmap_async;
  // apply(f, args...): runs in one worker; rethrows its exception.
  // apply_async(f, args...) or apply_async({.callback, ...}, f, args...):
  // an AsyncResult<R>.
  using Impl::apply;
  using Impl::apply_async;
  // imap(f, xs, chunksize = 1): results in input order; imap_unordered: as
  // they come. An IMapIterator<R> that reads `xs` lazily.
  using Impl::imap;
  using Impl::imap_unordered;
  // close(): no new tasks; workers leave when the queued ones are done.
  using Impl::close;
  // terminate(): kills the workers now; unfinished tasks fail.
  using Impl::terminate;
  // join(): waits for the workers; before close/terminate -> mp::ValueError.
  using Impl::join;
  // mp: the pids of the live workers, and how many workers the pool keeps.
  using Impl::processes;
  using Impl::worker_pids;
};

namespace dummy {
// Python: multiprocessing.dummy.Pool (ThreadPool) — the same calls on
// threads (worker_pids() is empty; task_timeout -> mp::ValueError).
class Pool : public ::mp::internal::BasicPool<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicPool<::mp::internal::ThreadSync>;

 public:
  Pool();
  explicit Pool(int processes);
  explicit Pool(const PoolOptions& options);

  using Impl::apply;
  using Impl::apply_async;
  using Impl::close;
  using Impl::imap;
  using Impl::imap_unordered;
  using Impl::join;
  using Impl::map;
  using Impl::map_async;
  using Impl::processes;
  using Impl::starmap;
  using Impl::starmap_async;
  using Impl::terminate;
  using Impl::worker_pids;
};
}  // namespace dummy

}  // namespace mp

#endif  // MP_POOL_H_
