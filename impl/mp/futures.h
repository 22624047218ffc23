// mp/futures.h — executors and futures (Python: concurrent.futures).
//
//   int power(int x, int y);
//   mp::futures::ProcessPoolExecutor ex({.max_workers = 4});
//   mp::futures::Future<int> f = ex.submit(&power, 2, 8);
//   int r = f.result();                                    // 256
//   for (int y : ex.map(&square, xs, {.chunksize = 64})) ...
//   for (auto& g : mp::futures::as_completed(fs)) ...
//   auto [done, not_done] = mp::futures::wait(fs, {.return_when = mp::futures::FIRST_COMPLETED});
//
// ProcessPoolExecutor runs calls in worker processes of a context, on the
// machinery of mp::Pool. As with a Pool, a call is a free function or a
// captureless lambda with arguments and a result that travel through
// mp::Codec (no handles: hand Locks, Queues... to the workers through the
// initializer). ThreadPoolExecutor runs any callable on threads of this
// process, with its arguments as they are.
//
// As in CPython:
//   - workers start as submits need them (one per submit that finds none
//     idle, up to max_workers) and idle ones are reused; under fork all of
//     them start at the first submit;
//   - a call's exception is rethrown by result() (its type kept where mp
//     knows it, else mp::RemoteError naming it);
//   - a worker process that dies, or cannot decode its task, or whose
//     initializer fails, breaks the executor: the calls it had not answered
//     and every later submit raise BrokenProcessPool; a failing initializer
//     breaks a ThreadPoolExecutor (BrokenThreadPool);
//   - submit after shutdown raises mp::RuntimeError; shutdown never hangs,
//     whatever died; the destructor is shutdown() with wait = true.
// Beyond CPython:
//   - {.on_worker_death = mp::futures::Replace}: a dead worker fails only the
//     call it held, with mp::WorkerLostError, and a new worker takes its
//     place (mp::Pool's behaviour);
//   - a cancelled future counts as done for wait() and as_completed() at
//     once;
//   - map() keeps going after a call's exception (it is thrown at that
//     call's position, as CPython's main branch does), and its chunksize
//     groups calls on threads too.

#ifndef MP_FUTURES_H_
#define MP_FUTURES_H_

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/target.h"
#include "mp/internal/launch/remote_exception.h"
#include "mp/internal/pool/executor_core.h"
#include "mp/internal/pool/future_core.h"
#include "mp/pool.h"
#include "mp/reduction.h"

namespace mp::futures {

// Python: FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED (wait's return_when).
enum ReturnWhen { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };

// What a worker process's death does (ProcessPoolExecutor's on_worker_death):
// Break, CPython's way, or Replace, mp::Pool's way.
enum class OnWorkerDeath { kBreak, kReplace };
inline constexpr OnWorkerDeath Break = OnWorkerDeath::kBreak;
inline constexpr OnWorkerDeath Replace = OnWorkerDeath::kReplace;

template <class T>
class Future;

}  // namespace mp::futures

namespace mp::internal {

struct FutureAccess {
  template <class T>
  static const std::shared_ptr<FutureState<T>>& state(const futures::Future<T>& f) noexcept {
    return f.s_;
  }
  template <class T>
  static futures::Future<T> make(std::shared_ptr<FutureState<T>> s) {
    return futures::Future<T>(std::move(s));
  }
};

struct NoValue {};

}  // namespace mp::internal

namespace mp::futures {

// Python: concurrent.futures.Future. A handle: copies refer to the same
// future. result() and exception() wait; with a timeout they throw
// mp::TimeoutError when it is not done in time; a cancelled future throws
// CancelledError.
template <class T>
class Future {
 public:
  using value_type = T;

  // A new pending future, for code that settles it by hand (Python: Future()).
  Future() : s_(std::make_shared<internal::FutureState<T>>()) {}

  // The call's value; its exception is rethrown.
  T result() const { return s_->result(std::nullopt); }
  template <class Rep, class Period>
  T result(std::chrono::duration<Rep, Period> timeout) const {
    return s_->result(internal::deadline_after(timeout));
  }
  // The call's exception; null when it returned.
  std::exception_ptr exception() const { return s_->exception_until(std::nullopt); }
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    return s_->exception_until(internal::deadline_after(timeout));
  }

  // False once the call runs or is done (Python's running() counts a call
  // handed to a worker process as running).
  bool cancel() const { return s_->cancel(); }
  bool cancelled() const { return s_->cancelled(); }
  bool running() const { return s_->running(); }
  bool done() const { return s_->done(); }

  // Calls fn(future) when the future is done (now, if it is), in this
  // process: in the thread that completed it. An exception from fn is
  // reported on stderr and dropped.
  template <class F>
    requires std::invocable<F&, const Future&> && std::copy_constructible<F>
  void add_done_callback(F fn) const {
    s_->add_done_callback([fn = std::move(fn)](internal::FutureCore& core) mutable {
      const Future self(
          std::static_pointer_cast<internal::FutureState<T>>(core.shared_from_this()));
      fn(self);
    });
  }

  // For executors and tests (Python: set_running_or_notify_cancel,
  // set_result, set_exception). Setting a done future throws
  // InvalidStateError.
  bool set_running_or_notify_cancel() const { return s_->set_running_or_notify_cancel(); }
  void set_result(std::conditional_t<std::is_void_v<T>, internal::NoValue, T> value) const
    requires(!std::is_void_v<T>)
  {
    if (!s_->try_set_result(std::move(value)))
      throw InvalidStateError("the future is already done");
  }
  void set_result() const
    requires std::is_void_v<T>
  {
    if (!s_->try_set_result()) throw InvalidStateError("the future is already done");
  }
  void set_exception(std::exception_ptr error) const { s_->set_exception(std::move(error)); }

  friend bool operator==(const Future& a, const Future& b) noexcept { return a.s_ == b.s_; }

 private:
  friend struct internal::FutureAccess;
  explicit Future(std::shared_ptr<internal::FutureState<T>> s) : s_(std::move(s)) {}
  std::shared_ptr<internal::FutureState<T>> s_;
};

namespace detail {

template <class Range>
using future_value_t = typename std::ranges::range_value_t<Range>::value_type;

// The futures of `fs` in their order, each once.
template <class T, class Range>
std::vector<Future<T>> unique_futures(const Range& fs) {
  std::vector<Future<T>> out;
  std::unordered_map<const void*, bool> seen;
  for (const Future<T>& f : fs) {
    if (seen.emplace(internal::FutureAccess::state(f).get(), true).second) out.push_back(f);
  }
  return out;
}

}  // namespace detail

// Python: as_completed(fs, timeout). A single-pass range of the futures of
// `fs` (each once), those already done first, then each as it completes;
// past the deadline, advancing throws mp::TimeoutError.
template <class T>
class AsCompleted {
 public:
  class iterator {
   public:
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    Future<T>& operator*() const { return *current_; }
    Future<T>* operator->() const { return current_; }
    iterator& operator++() {
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return it.current_ == nullptr;
    }

   private:
    friend class AsCompleted;
    iterator(AsCompleted* owner, Future<T>* current) : owner_(owner), current_(current) {}
    AsCompleted* owner_ = nullptr;
    Future<T>* current_ = nullptr;
  };

  // Use as_completed().
  AsCompleted(std::vector<Future<T>> fs, internal::Deadline deadline)
      : futures_(std::move(fs)),
        waiter_(
            std::make_unique<internal::FutureWaiter>(internal::FutureWaiter::Mode::kAsCompleted)),
        deadline_(deadline) {
    for (size_t i = 0; i < futures_.size(); ++i) {
      auto* core = internal::FutureAccess::state(futures_[i]).get();
      index_.emplace(core, i);
      bool raised = false;
      if (core->install(waiter_.get(), raised)) {
        ++pending_;
      } else {
        ready_.push_back(i);
      }
    }
  }
  AsCompleted(AsCompleted&&) noexcept = default;
  AsCompleted& operator=(AsCompleted&&) = delete;
  ~AsCompleted() {
    if (!waiter_) return;
    for (auto& f : futures_) internal::FutureAccess::state(f)->uninstall(waiter_.get());
  }

  iterator begin() { return iterator(this, next()); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Future<T>* next() {
    for (;;) {
      if (!ready_.empty()) {
        const size_t i = ready_.front();
        ready_.pop_front();
        return &futures_[i];
      }
      if (pending_ == 0) return nullptr;
      if (!waiter_->wait(deadline_)) {
        throw TimeoutError(std::to_string(pending_) + " (of " + std::to_string(futures_.size()) +
                           ") futures unfinished");
      }
      for (internal::FutureCore* core : waiter_->take()) {
        ready_.push_back(index_.at(core));
        --pending_;
      }
    }
  }

  std::vector<Future<T>> futures_;
  std::unique_ptr<internal::FutureWaiter> waiter_;
  internal::Deadline deadline_;
  std::unordered_map<const internal::FutureCore*, size_t> index_;
  std::deque<size_t> ready_;  // done and not yet yielded
  size_t pending_ = 0;        // not done yet
};

template <class Range>
AsCompleted<detail::future_value_t<Range>> as_completed(const Range& fs) {
  using T = detail::future_value_t<Range>;
  return AsCompleted<T>(detail::unique_futures<T>(fs), std::nullopt);
}
template <class Range, class Rep, class Period>
AsCompleted<detail::future_value_t<Range>> as_completed(
    const Range& fs, std::chrono::duration<Rep, Period> timeout) {
  using T = detail::future_value_t<Range>;
  auto deadline = internal::deadline_after(timeout);
  return AsCompleted<T>(detail::unique_futures<T>(fs), deadline);
}

// Python: wait()'s named tuple (done, not_done), each in the order of `fs`.
template <class T>
struct DoneAndNotDoneFutures {
  std::vector<Future<T>> done;
  std::vector<Future<T>> not_done;
};

// Python: wait(fs, timeout=None, return_when=ALL_COMPLETED).
struct WaitOptions {
  std::optional<std::chrono::nanoseconds> timeout = {};
  ReturnWhen return_when = ALL_COMPLETED;
};

// Python: wait(fs, timeout, return_when). Returns when the condition holds
// or the timeout passes (no exception: look at not_done).
template <class Range>
DoneAndNotDoneFutures<detail::future_value_t<Range>> wait(const Range& fs,
                                                          const WaitOptions& options = {}) {
  using T = detail::future_value_t<Range>;
  using Mode = internal::FutureWaiter::Mode;
  std::vector<Future<T>> all = detail::unique_futures<T>(fs);
  const Mode mode = options.return_when == FIRST_COMPLETED   ? Mode::kFirstCompleted
                    : options.return_when == FIRST_EXCEPTION ? Mode::kFirstException
                                                             : Mode::kAllCompleted;
  internal::Deadline deadline;
  if (options.timeout) deadline = internal::deadline_after(*options.timeout);
  internal::FutureWaiter waiter(mode);
  std::vector<char> done(all.size(), 0), installed(all.size(), 0);
  bool any_done = false, any_raised = false, all_done = true;
  for (size_t i = 0; i < all.size(); ++i) {
    bool raised = false;
    if (internal::FutureAccess::state(all[i])->install(&waiter, raised)) {
      installed[i] = 1;
      all_done = false;
    } else {
      done[i] = 1;
      any_done = true;
      any_raised = any_raised || raised;
    }
  }
  const bool now = all_done || (mode == Mode::kFirstCompleted && any_done) ||
                   (mode == Mode::kFirstException && any_raised);
  if (!now) waiter.wait(deadline);
  for (size_t i = 0; i < all.size(); ++i) {
    if (installed[i]) internal::FutureAccess::state(all[i])->uninstall(&waiter);
  }
  std::unordered_map<const internal::FutureCore*, size_t> index;
  for (size_t i = 0; i < all.size(); ++i)
    index.emplace(internal::FutureAccess::state(all[i]).get(), i);
  for (internal::FutureCore* core : waiter.take()) done[index.at(core)] = 1;
  DoneAndNotDoneFutures<T> out;
  for (size_t i = 0; i < all.size(); ++i) (done[i] ? out.done : out.not_done).push_back(all[i]);
  return out;
}

// Python: map()'s keywords timeout, chunksize and buffersize (3.14).
struct MapOptions {
  // For the whole iteration, from the map() call; past it, the next result
  // throws mp::TimeoutError and the calls not started are cancelled.
  std::optional<std::chrono::nanoseconds> timeout = {};
  int chunksize = 1;  // calls sent to a worker together; < 1 -> mp::ValueError
  // Chunks submitted and not yet yielded at most: the input is read lazily,
  // one chunk ahead of the caller. Unset: all of it is read and submitted
  // by map() itself. < 1 -> mp::ValueError.
  std::optional<int> buffersize = {};
};

// Python: shutdown(wait=True, *, cancel_futures=False).
struct ShutdownOptions {
  bool wait = true;
  bool cancel_futures = false;
};

template <class R>
class MapResults;

}  // namespace mp::futures

namespace mp::internal {

// One call of a map chunk: its value or its exception.
template <class R>
struct Outcome {
  std::optional<R> value;
  std::exception_ptr error;
};
template <class R>
using Outcomes = std::vector<Outcome<R>>;

template <class R>
using ChunkFuture = futures::Future<Outcomes<R>>;

// The iteration state behind MapResults.
template <class R>
struct MapState {
  std::deque<ChunkFuture<R>> futures;  // submitted, in input order
  std::deque<Outcome<R>> buffer;       // the current chunk's remaining outcomes
  // Submits the next chunk; nullopt at the end of the input. Empty: nothing
  // more to submit (or no buffersize: everything was submitted).
  std::function<std::optional<ChunkFuture<R>>()> more;
  Deadline deadline;
  bool finished = false;

  ~MapState() { cancel_all(); }

  void cancel_all() {
    for (auto& f : futures) f.cancel();
    futures.clear();
    more = nullptr;
  }

  std::optional<R> next() {
    for (;;) {
      if (finished) return std::nullopt;
      if (!buffer.empty()) {
        Outcome<R> o = std::move(buffer.front());
        buffer.pop_front();
        if (o.error) std::rethrow_exception(o.error);
        return std::move(*o.value);
      }
      if (futures.empty()) {
        finished = true;
        more = nullptr;
        return std::nullopt;
      }
      if (more) {
        // Python's back-pressure: one more chunk in before one comes out.
        try {
          if (auto f = more()) {
            futures.push_back(std::move(*f));
          } else {
            more = nullptr;
          }
        } catch (...) {
          finished = true;
          cancel_all();
          throw;
        }
      }
      ChunkFuture<R> f = std::move(futures.front());
      futures.pop_front();
      const auto& state = FutureAccess::state(f);
      if (!state->wait_until(deadline)) {
        f.cancel();
        finished = true;
        cancel_all();
        throw TimeoutError("map(): a result was not ready before the timeout");
      }
      // A chunk that failed as a whole (its executor broke, its arguments
      // could not be encoded) throws here, once; the iteration goes on.
      for (auto& o : state->take_result(std::nullopt)) buffer.push_back(std::move(o));
    }
  }
};

// Reads argument tuples from ranges taken together (Python: zip(*iterables)).
// Lives where it was made: its iterators point into its own views.
template <class Args, class... Ranges>
class ZippedInput {
 public:
  explicit ZippedInput(Ranges&&... ranges)
      : views_(std::views::all(std::forward<Ranges>(ranges))...),
        its_(std::apply([](auto&... v) { return std::make_tuple(std::ranges::begin(v)...); },
                        views_)) {}
  ZippedInput(const ZippedInput&) = delete;
  ZippedInput& operator=(const ZippedInput&) = delete;

  // Up to `n` tuples; fewer (maybe none) once the shortest range ends.
  std::vector<Args> pull(size_t n) {
    std::vector<Args> out;
    if constexpr (sizeof...(Ranges) > 0) {
      constexpr auto kIdx = std::index_sequence_for<Ranges...>();
      while (!ended_ && out.size() < n) {
        if (at_end(kIdx)) {
          ended_ = true;
          break;
        }
        out.push_back(take(kIdx));
      }
    }
    return out;
  }

 private:
  template <size_t... I>
  bool at_end(std::index_sequence<I...>) {
    return ((std::get<I>(its_) == std::ranges::end(std::get<I>(views_))) || ...);
  }
  template <size_t... I>
  Args take(std::index_sequence<I...>) {
    Args args(*std::get<I>(its_)...);
    (++std::get<I>(its_), ...);
    return args;
  }

  std::tuple<std::views::all_t<Ranges>...> views_;
  std::tuple<std::ranges::iterator_t<std::views::all_t<Ranges>>...> its_;
  bool ended_ = false;
};

// map() on any executor: `submit_chunk` takes a vector of argument tuples
// and returns the chunk's future.
template <class R, class Args, class SubmitChunk, class... Ranges>
futures::MapResults<R> make_map(SubmitChunk submit_chunk, const futures::MapOptions& options,
                                Ranges&&... ranges) {
  if (options.chunksize < 1) throw ValueError("chunksize must be >= 1.");
  if (options.buffersize && *options.buffersize < 1) {
    throw ValueError("buffersize must be None or > 0");
  }
  auto state = std::make_unique<MapState<R>>();
  if (options.timeout) state->deadline = deadline_after(*options.timeout);
  auto input = std::make_shared<ZippedInput<Args, Ranges...>>(std::forward<Ranges>(ranges)...);
  const auto chunksize = static_cast<size_t>(options.chunksize);
  std::function<std::optional<ChunkFuture<R>>()> more =
      [input, submit_chunk, chunksize]() -> std::optional<ChunkFuture<R>> {
    auto items = input->pull(chunksize);
    if (items.empty()) return std::nullopt;
    return submit_chunk(std::move(items));
  };
  if (options.buffersize) {
    for (int i = 0; i < *options.buffersize; ++i) {
      auto f = more();
      if (!f) return futures::MapResults<R>(std::move(state));
      state->futures.push_back(std::move(*f));
    }
    state->more = std::move(more);
  } else {
    while (auto f = more()) state->futures.push_back(std::move(*f));
  }
  return futures::MapResults<R>(std::move(state));
}

// A future's move to running, for an executor about to call: false when it
// was cancelled (or settled by hand) and must not run.
inline bool start_call(FutureCore& future) {
  try {
    return future.set_running_or_notify_cancel();
  } catch (const RuntimeError&) {
    return false;
  }
}

template <class T>
using call_result_t = std::conditional_t<std::is_void_v<T>, void, std::decay_t<T>>;

// What a thread pool's map() yields: F called on an item of each range (or,
// with no range, what F returns).
template <class F, class... Ranges>
struct thread_map_result {
  using type = call_result_t<
      std::invoke_result_t<F&, std::ranges::range_value_t<std::views::all_t<Ranges>>...>>;
};
template <class F>
struct thread_map_result<F> {
  using type = call_result_t<typename function_traits<fn_ptr_t<F>>::result>;
};

// Process calls -----------------------------------------------------------------------------

// Appends a value's answer, or the exception that computing or encoding it
// raised, to `out`.
template <class R, class Call>
void answer(Writer& out, Call&& call) {
  const size_t start = out.bytes().size();
  try {
    if constexpr (std::is_void_v<R>) {
      call();
      out.write_pod(Answer::kValue);
    } else {
      R value = call();
      out.write_pod(Answer::kValue);
      Codec<R>::encode(out, value);
    }
  } catch (...) {
    out.bytes().resize(start);
    out.write_pod(Answer::kRaised);
    encode_exception(out, std::current_exception());
  }
}

// In a worker: one submitted call.
template <class Fn, class Args, class R>
void run_call(const void* target, Reader& in, Writer& out, std::span<char>) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(target));
  if (!claim_call(in)) {
    out.write_pod(Answer::kSkipped);
    return;
  }
  std::optional<Args> args;
  try {
    args.emplace(decode_tuple<Args>(in));
  } catch (...) {
    out.write_pod(Answer::kUndecodable);
    encode_exception(out, std::current_exception());
    return;
  }
  answer<R>(out, [&]() -> R { return std::apply(fn, std::move(*args)); });
}

// In a worker: one chunk of map(): every call's value or exception.
template <class Fn, class Args, class R>
void run_chunk_calls(const void* target, Reader& in, Writer& out, std::span<char>) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(target));
  if (!claim_call(in)) {
    out.write_pod(Answer::kSkipped);
    return;
  }
  std::vector<Args> items;
  try {
    const auto n = in.read_pod<uint32_t>();
    items.reserve(n);
    for (uint32_t i = 0; i < n; ++i) items.push_back(decode_tuple<Args>(in));
  } catch (...) {
    out.write_pod(Answer::kUndecodable);
    encode_exception(out, std::current_exception());
    return;
  }
  out.write_pod(Answer::kValue);
  out.write_pod(static_cast<uint32_t>(items.size()));
  for (auto& args : items) answer<R>(out, [&]() -> R { return std::apply(fn, std::move(args)); });
}

// In the owner: an answer's value into its future.
template <class R>
void set_call_value(FutureCore& future, Reader& in) {
  auto& state = static_cast<FutureState<R>&>(future);
  if constexpr (std::is_void_v<R>) {
    state.try_set_result();
  } else {
    state.try_set_result(Codec<R>::decode(in));
  }
}

template <class R>
void set_chunk_value(FutureCore& future, Reader& in) {
  const auto n = in.read_pod<uint32_t>();
  Outcomes<R> outcomes;
  outcomes.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Outcome<R>& o = outcomes.emplace_back();
    if (in.read_pod<Answer>() == Answer::kValue) {
      o.value.emplace(Codec<R>::decode(in));
    } else {
      o.error = decode_exception(in);
    }
  }
  static_cast<FutureState<Outcomes<R>>&>(future).try_set_result(std::move(outcomes));
}

// Where a runner and a function live, as PoolCore's task prefix; the last
// one asked for is kept per thread (finding code by address is not free).
template <auto Runner, class Fn>
const std::string& code_of(Fn fn) {
  thread_local Fn last = nullptr;
  thread_local std::string code;
  if (fn != last || code.empty()) {
    Writer w;
    encode(w, locate_code(reinterpret_cast<const void*>(Runner)));
    encode(w, locate_code(reinterpret_cast<const void*>(fn)));
    code = std::move(w.bytes());
    last = fn;
  }
  return code;
}

// Encodes a call's arguments: handles cannot go (as with a Pool's tasks).
template <class Encode>
std::string encode_args(Encode&& encode) {
  Writer w;
  encode(w);
  if (!w.fds().empty()) {
    throw PicklingError(
        "an executor's call cannot carry handles (Lock, Queue, Connection...): pass them to "
        "the initializer");
  }
  return std::move(w.bytes());
}

}  // namespace mp::internal

namespace mp::futures {

// What map() returns: a single-pass range of the results in input order.
// An exception from a call is thrown where its position is reached, and the
// iteration goes on; past the timeout it throws mp::TimeoutError and ends.
// Destroying it cancels the calls that have not started.
template <class R>
class MapResults {
 public:
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    R& operator*() const { return *owner_->current_; }
    iterator& operator++() {
      owner_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

   private:
    friend class MapResults;
    explicit iterator(MapResults* owner) : owner_(owner) {}
    bool at_end() const { return !owner_->current_; }
    MapResults* owner_ = nullptr;
  };

  explicit MapResults(std::unique_ptr<internal::MapState<R>> s) : s_(std::move(s)) {}

  // Python: next(it), with nullopt for StopIteration.
  std::optional<R> next() { return s_->next(); }

  iterator begin() {
    advance();
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  void advance() {
    current_.reset();
    current_ = s_->next();
  }
  std::unique_ptr<internal::MapState<R>> s_;
  mutable std::optional<R> current_;
};

// Python: ProcessPoolExecutor(max_workers, mp_context, initializer, initargs,
// max_tasks_per_child), plus on_worker_death.
struct ProcessPoolExecutorOptions {
  std::optional<int> max_workers = {};  // nullopt: cpu_count(); < 1 -> mp::ValueError
  // nullptr: the default context, or spawn when max_tasks_per_child is set.
  Context* mp_context = nullptr;
  Initializer initializer = {};  // runs once in every worker, before its first call
  // Calls a worker runs before a fresh one replaces it; < 1, or a fork
  // context -> mp::ValueError.
  std::optional<int> max_tasks_per_child = {};
  OnWorkerDeath on_worker_death = Break;
};

// Python: concurrent.futures.ProcessPoolExecutor.
class ProcessPoolExecutor {
 public:
  ProcessPoolExecutor() : ProcessPoolExecutor(ProcessPoolExecutorOptions{}) {}
  explicit ProcessPoolExecutor(int max_workers)
      : ProcessPoolExecutor(ProcessPoolExecutorOptions{.max_workers = max_workers}) {}
  explicit ProcessPoolExecutor(const ProcessPoolExecutorOptions& options)
      : core_(make_core(options)) {}
  ProcessPoolExecutor(ProcessPoolExecutor&&) noexcept = default;
  ProcessPoolExecutor& operator=(ProcessPoolExecutor&&) noexcept = default;
  // Python's `with` block: shutdown(wait=True).
  ~ProcessPoolExecutor() {
    if (!core_) return;
    try {
      core_->shutdown(true, false);
    } catch (...) {
    }
  }

  // Python: submit(fn, *args). `f` is a free function or a captureless
  // lambda; the arguments are converted to its parameter types and encoded
  // now (an encoding error settles the future with it). Broken ->
  // BrokenProcessPool; after shutdown -> mp::RuntimeError.
  template <class F, class... A>
    requires internal::FunctionPointerLike<std::decay_t<F>> &&
             std::constructible_from<
                 typename internal::function_traits<internal::fn_ptr_t<F>>::args, A...>
  auto submit(F f, A&&... args) {
    using Fn = internal::fn_ptr_t<F>;
    using Args = typename internal::function_traits<Fn>::args;
    using R = internal::call_result_t<std::invoke_result_t<Fn, A...>>;
    static_assert(internal::tuple_transferable<Args>,
                  "every parameter type of an executor's call needs an mp::Codec");
    static_assert(std::is_void_v<R> || Transferable<R>,
                  "the result type of an executor's call needs an mp::Codec");
    Future<R> future;
    core_->check_open();
    internal::ProcessCall call{
        internal::FutureAccess::state(future), {}, {}, &internal::set_call_value<R>};
    try {
      call.code = internal::code_of<&internal::run_call<Fn, Args, R>>(+f);
      call.args = internal::encode_args(
          [&](Writer& w) { internal::encode_tuple(w, Args(std::forward<A>(args)...)); });
    } catch (...) {
      future.set_exception(std::current_exception());
      return future;
    }
    core_->submit(std::move(call));
    return future;
  }

  // Python: map(fn, *iterables, timeout, chunksize, buffersize): one range
  // per parameter of `f`, read together; see MapOptions.
  template <class F>
  auto map(F f, const MapOptions& options) {
    return map_ranges(f, options);
  }
  template <class F, std::ranges::input_range R1>
  auto map(F f, R1&& r1, const MapOptions& options = {}) {
    return map_ranges(f, options, std::forward<R1>(r1));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2>
  auto map(F f, R1&& r1, R2&& r2, const MapOptions& options = {}) {
    return map_ranges(f, options, std::forward<R1>(r1), std::forward<R2>(r2));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2,
            std::ranges::input_range R3>
  auto map(F f, R1&& r1, R2&& r2, R3&& r3, const MapOptions& options = {}) {
    return map_ranges(f, options, std::forward<R1>(r1), std::forward<R2>(r2), std::forward<R3>(r3));
  }

  // Python: shutdown(wait=True, *, cancel_futures=False). With wait, returns
  // once every call has been answered (or the executor broke) and every
  // worker has ended. Calling it again is harmless.
  void shutdown(const ShutdownOptions& options = {}) {
    core_->shutdown(options.wait, options.cancel_futures);
  }
  void shutdown(bool wait, bool cancel_futures = false) { core_->shutdown(wait, cancel_futures); }
  // Python 3.14: shutdown(wait=False, cancel_futures=True), then SIGTERM
  // (terminate_workers) or SIGKILL (kill_workers) to every live worker; the
  // calls they held fail with BrokenProcessPool.
  void terminate_workers() { core_->force_shutdown(false); }
  void kill_workers() { core_->force_shutdown(true); }

  // The context the workers start with (Python: _mp_context).
  Context& mp_context() const noexcept { return core_->context(); }
  int max_workers() const noexcept { return core_->max_workers(); }
  // mp: the pids of the live workers (Python: _processes).
  std::vector<pid_t> worker_pids() const { return core_->worker_pids(); }

 private:
  static std::shared_ptr<internal::ProcessExecutorCore> make_core(
      const ProcessPoolExecutorOptions& options) {
    internal::ProcessExecutorConfig c;
    if (options.max_workers) {
      if (*options.max_workers <= 0) throw ValueError("max_workers must be greater than 0");
      c.max_workers = *options.max_workers;
    } else {
      c.max_workers = cpu_count();
    }
    c.context = options.mp_context            ? options.mp_context
                : options.max_tasks_per_child ? &get_context("spawn")
                                              : &get_context();
    const std::string method = c.context->get_start_method();
    if (options.max_tasks_per_child) {
      if (*options.max_tasks_per_child <= 0) throw ValueError("max_tasks_per_child must be >= 1");
      if (method == "fork") {
        throw ValueError(
            "max_tasks_per_child is incompatible with the 'fork' multiprocessing start method; "
            "supply a different mp_context.");
      }
      c.max_tasks_per_child = *options.max_tasks_per_child;
    }
    c.initializer = options.initializer.spec();
    if (c.initializer && !c.initializer->binder && method != "fork") {
      throw PicklingError(c.initializer->target.not_transferable);
    }
    c.replace_dead_workers = options.on_worker_death == Replace;
    return std::make_shared<internal::ProcessExecutorCore>(std::move(c));
  }

  template <class F, class... Ranges>
  auto map_ranges(F f, const MapOptions& options, Ranges&&... ranges) {
    static_assert(internal::FunctionPointerLike<std::decay_t<F>>,
                  "an executor's call is a free function or a captureless lambda");
    using Fn = internal::fn_ptr_t<F>;
    using Args = typename internal::function_traits<Fn>::args;
    static_assert(std::tuple_size_v<Args> == sizeof...(Ranges) || sizeof...(Ranges) == 0,
                  "map() takes one range per parameter of the function");
    using R = internal::call_result_t<typename internal::function_traits<Fn>::result>;
    static_assert(!std::is_void_v<R>, "map() calls return a value");
    static_assert(internal::tuple_transferable<Args> && Transferable<R>,
                  "map()'s parameter and result types need an mp::Codec");
    core_->check_open();
    const std::string code = internal::code_of<&internal::run_chunk_calls<Fn, Args, R>>(+f);
    auto submit_chunk = [core = core_, code](std::vector<Args>&& items) {
      internal::ChunkFuture<R> future;
      internal::ProcessCall call{
          internal::FutureAccess::state(future), code, {}, &internal::set_chunk_value<R>};
      try {
        call.args = internal::encode_args([&](Writer& w) {
          w.write_pod(static_cast<uint32_t>(items.size()));
          for (const Args& args : items) internal::encode_tuple(w, args);
        });
      } catch (...) {
        future.set_exception(std::current_exception());
        return future;
      }
      core->submit(std::move(call));
      return future;
    };
    return internal::make_map<R, Args>(submit_chunk, options, std::forward<Ranges>(ranges)...);
  }

  std::shared_ptr<internal::ProcessExecutorCore> core_;
};

// A thread pool's initializer: any callable with its arguments,
// `.initializer = {&init, 42}` or `.initializer = [&] { ... }`.
class ThreadInitializer {
 public:
  ThreadInitializer() = default;
  template <class F, class... A>
    requires std::invocable<std::decay_t<F>&, std::decay_t<A>&...>
  ThreadInitializer(F f, A... args)  // NOLINT: implicit, for designated initializers
      : call_([f = std::move(f), ... args = std::move(args)]() mutable {
          std::invoke(f, args...);
        }) {}
  explicit operator bool() const noexcept { return static_cast<bool>(call_); }
  const std::function<void()>& call() const noexcept { return call_; }

 private:
  std::function<void()> call_;
};

// Python: ThreadPoolExecutor(max_workers, thread_name_prefix, initializer, initargs).
struct ThreadPoolExecutorOptions {
  std::optional<int> max_workers = {};  // nullopt: min(32, cpu_count() + 4); < 1 -> ValueError
  std::string thread_name_prefix = {};  // threads are named "<prefix>_<n>" (15 characters at most)
  ThreadInitializer initializer = {};
};

// Python: concurrent.futures.ThreadPoolExecutor.
class ThreadPoolExecutor {
 public:
  ThreadPoolExecutor() : ThreadPoolExecutor(ThreadPoolExecutorOptions{}) {}
  explicit ThreadPoolExecutor(int max_workers)
      : ThreadPoolExecutor(ThreadPoolExecutorOptions{.max_workers = max_workers}) {}
  explicit ThreadPoolExecutor(const ThreadPoolExecutorOptions& options)
      : core_(make_core(options)) {}
  ThreadPoolExecutor(ThreadPoolExecutor&&) noexcept = default;
  ThreadPoolExecutor& operator=(ThreadPoolExecutor&&) noexcept = default;
  ~ThreadPoolExecutor() {
    if (!core_) return;
    try {
      core_->shutdown(true, false);
    } catch (...) {
    }
  }

  // Python: submit(fn, *args): any callable; the arguments are kept by value
  // and handed to it when it runs. Broken -> BrokenThreadPool; after
  // shutdown -> mp::RuntimeError.
  template <class F, class... A>
    requires std::invocable<std::decay_t<F>&, std::decay_t<A>...>
  auto submit(F&& f, A&&... args) {
    using R = internal::call_result_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>...>>;
    Future<R> future;
    auto state = internal::FutureAccess::state(future);
    auto call = std::make_shared<std::tuple<std::decay_t<F>, std::decay_t<A>...>>(
        std::forward<F>(f), std::forward<A>(args)...);
    core_->submit({state, [state, call] {
                     if (!internal::start_call(*state)) return;
                     std::exception_ptr error;
                     try {
                       auto invoke = [](auto& fn, auto&... items) -> decltype(auto) {
                         return std::invoke(fn, std::move(items)...);
                       };
                       if constexpr (std::is_void_v<R>) {
                         std::apply(invoke, *call);
                         state->try_set_result();
                       } else {
                         state->try_set_result(std::apply(invoke, *call));
                       }
                       return;
                     } catch (...) {
                       error = std::current_exception();
                     }
                     // Published once the catch is over: this thread then
                     // holds no reference to the exception but `error`.
                     state->try_set_exception(std::move(error));
                   }});
    return future;
  }

  // Python: map(fn, *iterables, timeout, chunksize, buffersize); unlike
  // Python's, chunksize groups the calls here too.
  template <class F>
  auto map(F f, const MapOptions& options) {
    return map_ranges<F>(std::move(f), options);
  }
  template <class F, std::ranges::input_range R1>
  auto map(F f, R1&& r1, const MapOptions& options = {}) {
    return map_ranges<F>(std::move(f), options, std::forward<R1>(r1));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2>
  auto map(F f, R1&& r1, R2&& r2, const MapOptions& options = {}) {
    return map_ranges<F>(std::move(f), options, std::forward<R1>(r1), std::forward<R2>(r2));
  }
  template <class F, std::ranges::input_range R1, std::ranges::input_range R2,
            std::ranges::input_range R3>
  auto map(F f, R1&& r1, R2&& r2, R3&& r3, const MapOptions& options = {}) {
    return map_ranges<F>(std::move(f), options, std::forward<R1>(r1), std::forward<R2>(r2),
                         std::forward<R3>(r3));
  }

  void shutdown(const ShutdownOptions& options = {}) {
    core_->shutdown(options.wait, options.cancel_futures);
  }
  void shutdown(bool wait, bool cancel_futures = false) { core_->shutdown(wait, cancel_futures); }

  int max_workers() const noexcept { return core_->max_workers(); }
  // mp: threads started so far (Python: len(_threads)).
  size_t worker_count() const { return core_->worker_count(); }

 private:
  static std::shared_ptr<internal::ThreadExecutorCore> make_core(
      const ThreadPoolExecutorOptions& options) {
    int n = std::min(32, cpu_count() + 4);
    if (options.max_workers) {
      if (*options.max_workers <= 0) throw ValueError("max_workers must be greater than 0");
      n = *options.max_workers;
    }
    static std::atomic<int> counter{0};
    std::string prefix = options.thread_name_prefix.empty()
                             ? "ThreadPool" + std::to_string(counter++)
                             : options.thread_name_prefix;
    return std::make_shared<internal::ThreadExecutorCore>(n, std::move(prefix),
                                                          options.initializer.call());
  }

  template <class F, class... Ranges>
  auto map_ranges(F f, const MapOptions& options, Ranges&&... ranges) {
    using Args = std::tuple<std::ranges::range_value_t<std::views::all_t<Ranges>>...>;
    using R = typename internal::thread_map_result<F, Ranges...>::type;
    static_assert(!std::is_void_v<R>, "map() calls return a value");
    core_->check_open();
    auto submit_chunk = [core = core_, f](std::vector<Args>&& items) {
      internal::ChunkFuture<R> future;
      auto state = internal::FutureAccess::state(future);
      auto box = std::make_shared<std::vector<Args>>(std::move(items));
      core->submit({state, [state, box, f]() mutable {
                      if (!internal::start_call(*state)) return;
                      internal::Outcomes<R> outcomes;
                      outcomes.reserve(box->size());
                      for (Args& args : *box) {
                        internal::Outcome<R>& o = outcomes.emplace_back();
                        try {
                          // (Without ranges there is no call to make.)
                          if constexpr (sizeof...(Ranges) > 0) {
                            o.value.emplace(std::apply(f, std::move(args)));
                          }
                        } catch (...) {
                          o.error = std::current_exception();
                        }
                      }
                      state->try_set_result(std::move(outcomes));
                    }});
      return future;
    };
    return internal::make_map<R, Args>(submit_chunk, options, std::forward<Ranges>(ranges)...);
  }

  std::shared_ptr<internal::ThreadExecutorCore> core_;
};

}  // namespace mp::futures

#endif  // MP_FUTURES_H_
