// mp/internal/pool/future_core.h — the state behind mp::futures::Future<T>, and
// what wait() and as_completed() block on (Python: concurrent/futures/_base.py).
//
// A future moves PENDING -> RUNNING -> FINISHED, or PENDING -> CANCELLED ->
// CANCELLED_AND_NOTIFIED (the executor saw the cancellation and dropped the
// call). A cancelled future counts as done at once, for wait() too. Every change happens under the
// future's own mutex; callbacks run after it is released, in the thread that completed (or
// cancelled) the future. A waiter is installed on many futures at once: a future tells it when it
// completes, so one thread can block on "the first of these" or "all of these".
//
// Lock order: an executor's lock, then a future's, then a waiter's. Nothing
// takes an executor's lock while holding a future's, and user callbacks run
// with no lock held.

#ifndef MP_INTERNAL_POOL_FUTURE_CORE_H_
#define MP_INTERNAL_POOL_FUTURE_CORE_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "mp/errors.h"
#include "mp/internal/base/fd.h"

namespace mp::internal {

class FutureCore;

// Python: _Waiter and its subclasses, one class with a mode. Whether it has
// something to report is read from its counts, not latched, so installing it
// on one future after another cannot wake it early.
class FutureWaiter {
 public:
  enum class Mode { kAsCompleted, kFirstCompleted, kFirstException, kAllCompleted };
  explicit FutureWaiter(Mode mode) : mode_(mode) {}

  // Counts one more future it waits for (before it is installed there).
  void expect_one();
  // Called by a future as it completes (under that future's lock).
  void completed(FutureCore* future, bool raised);
  // Until there is something to report; false at the deadline.
  bool wait(const Deadline& deadline);
  // The futures completed since the last call.
  std::vector<FutureCore*> take();

 private:
  bool ready_locked() const;

  std::mutex mu_;
  std::condition_variable cv_;
  const Mode mode_;
  size_t pending_ = 0;  // installed and not completed
  bool raised_ = false;
  std::vector<FutureCore*> finished_;
};

// The states of a call's word on a process executor's board: the owner
// writes kQueued when it hands the call over; the worker that takes it, and
// cancel(), race to move it on, and only one of them can.
struct CallClaim {
  static constexpr uint32_t kQueued = 1;
  static constexpr uint32_t kStarted = 2;
  static constexpr uint32_t kCancelled = 3;
};

class FutureCore : public std::enable_shared_from_this<FutureCore> {
 public:
  enum class Status : uint8_t { kPending, kRunning, kCancelled, kCancelledAndNotified, kFinished };

  FutureCore() = default;
  FutureCore(const FutureCore&) = delete;
  FutureCore& operator=(const FutureCore&) = delete;
  virtual ~FutureCore() = default;

  // Python's cancel(): false once running or finished.
  bool cancel();
  bool cancelled() const;
  bool running() const;
  bool done() const;
  // True when finished by an exception (not cancelled).
  bool raised() const;

  // Process executors: a call handed to the workers stays PENDING with its
  // word on a board the workers share (CallClaim), until a worker takes it
  // (running() is then true) or cancel() gets there first. False (send
  // nothing) when the future is no longer pending.
  bool dispatch(std::atomic<uint32_t>* claim);
  // The call's answer is in: from now on it cannot be cancelled (RUNNING,
  // unless cancelled already), and its board word is no longer looked at.
  void begin_settle();

  // Python's set_running_or_notify_cancel(): true (now running) for a pending
  // future; false for a cancelled one, whose waiters learn of it now; another
  // state -> mp::RuntimeError.
  bool set_running_or_notify_cancel();
  // Finishes the future with `error`; false (nothing changed) when it is done
  // already.
  bool try_set_exception(std::exception_ptr error);
  // The same; a done future -> mp::futures::InvalidStateError.
  void set_exception(std::exception_ptr error);

  // Until done (finished or cancelled); false at the deadline.
  bool wait_until(const Deadline& deadline) const;
  // Python's exception(timeout): null when the call returned; cancelled ->
  // mp::futures::CancelledError; not done by the deadline -> mp::TimeoutError.
  std::exception_ptr exception_until(const Deadline& deadline) const;

  // Runs `fn` when the future completes or is cancelled, or now if it is
  // done. An exception from `fn` is reported on stderr and dropped.
  void add_done_callback(std::function<void(FutureCore&)> fn);

  // Installs `waiter` unless the future is done; returns whether it was
  // installed, and (when done) whether the future raised.
  bool install(FutureWaiter* waiter, bool& raised);
  void uninstall(FutureWaiter* waiter);

 protected:
  // Waits until done; then throws CancelledError, rethrows the call's
  // exception, or returns with the lock held, for the caller to read the
  // value. Not done by the deadline -> mp::TimeoutError.
  std::unique_lock<std::mutex> lock_result(const Deadline& deadline) const;
  // Finishes the future with the value `store` puts in place (under the
  // lock), then runs the callbacks. False when it was done already.
  template <class Store>
  bool finish(Store&& store) {
    std::unique_lock lock(mu_);
    if (is_done(status_)) return false;
    store();
    complete_locked(false);
    lock.unlock();
    run_callbacks();
    return true;
  }

 private:
  static bool is_done(Status s) noexcept {
    return s == Status::kCancelled || s == Status::kCancelledAndNotified || s == Status::kFinished;
  }
  void complete_locked(bool raised);
  void run_callbacks();
  void invoke(const std::function<void(FutureCore&)>& fn);

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Status status_ = Status::kPending;
  std::atomic<uint32_t>* claim_ = nullptr;  // while dispatched and pending
  std::exception_ptr error_;
  std::vector<std::function<void(FutureCore&)>> callbacks_;
  std::vector<FutureWaiter*> waiters_;
};

// A future's state with its value.
template <class T>
class FutureState final : public FutureCore {
 public:
  // False when the future was done already.
  bool try_set_result(T value) {
    return finish([&] { value_.emplace(std::move(value)); });
  }
  // A copy: result() may be called again.
  T result(const Deadline& deadline) const {
    auto lock = lock_result(deadline);
    return *value_;
  }
  // Moves the value out, for the one reader of an executor's own futures.
  T take_result(const Deadline& deadline) {
    auto lock = lock_result(deadline);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class FutureState<void> final : public FutureCore {
 public:
  bool try_set_result() {
    return finish([] {});
  }
  void result(const Deadline& deadline) const { lock_result(deadline); }
  void take_result(const Deadline& deadline) { lock_result(deadline); }
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_FUTURE_CORE_H_
