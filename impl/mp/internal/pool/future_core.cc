#include "mp/internal/pool/future_core.h"

#include <algorithm>
#include <cstdio>

#include "mp/internal/launch/remote_exception.h"

namespace mp::internal {

// FutureWaiter ------------------------------------------------------------------------------

void FutureWaiter::expect_one() {
  std::lock_guard lock(mu_);
  ++pending_;
}

void FutureWaiter::completed(FutureCore* future, bool raised) {
  std::lock_guard lock(mu_);
  finished_.push_back(future);
  --pending_;
  raised_ = raised_ || raised;
  if (ready_locked()) cv_.notify_all();
}

bool FutureWaiter::ready_locked() const {
  switch (mode_) {
    case Mode::kAsCompleted:
    case Mode::kFirstCompleted:
      return !finished_.empty();
    case Mode::kFirstException:
      return raised_ || pending_ == 0;
    case Mode::kAllCompleted:
      return pending_ == 0;
  }
  return true;
}

bool FutureWaiter::wait(const Deadline& deadline) {
  std::unique_lock lock(mu_);
  auto ready = [&] { return ready_locked(); };
  if (!deadline) {
    cv_.wait(lock, ready);
    return true;
  }
  return cv_.wait_until(lock, *deadline, ready);
}

std::vector<FutureCore*> FutureWaiter::take() {
  std::lock_guard lock(mu_);
  return std::exchange(finished_, {});
}

// FutureCore --------------------------------------------------------------------------------

bool FutureCore::cancel() {
  {
    std::lock_guard lock(mu_);
    if (status_ == Status::kRunning || status_ == Status::kFinished) return false;
    if (status_ != Status::kPending) return true;
    if (claim_) {
      // Handed to the workers: cancelled only if none has taken it yet.
      uint32_t queued = CallClaim::kQueued;
      if (!claim_->compare_exchange_strong(queued, CallClaim::kCancelled,
                                           std::memory_order_acq_rel)) {
        return false;
      }
      claim_ = nullptr;
    }
    status_ = Status::kCancelled;
    // Unlike Python, waiters learn of it now, not when the executor drops
    // the call: wait() and as_completed() count a cancelled future as done.
    for (FutureWaiter* w : waiters_) w->completed(this, false);
    cv_.notify_all();
  }
  run_callbacks();
  return true;
}

bool FutureCore::cancelled() const {
  std::lock_guard lock(mu_);
  return status_ == Status::kCancelled || status_ == Status::kCancelledAndNotified;
}

bool FutureCore::running() const {
  std::lock_guard lock(mu_);
  return status_ == Status::kRunning ||
         (status_ == Status::kPending && claim_ != nullptr &&
          claim_->load(std::memory_order_acquire) == CallClaim::kStarted);
}

bool FutureCore::dispatch(std::atomic<uint32_t>* claim) {
  std::lock_guard lock(mu_);
  if (status_ != Status::kPending) return false;
  claim->store(CallClaim::kQueued, std::memory_order_release);
  claim_ = claim;
  return true;
}

void FutureCore::begin_settle() {
  std::lock_guard lock(mu_);
  claim_ = nullptr;
  if (status_ == Status::kPending) status_ = Status::kRunning;
}

bool FutureCore::done() const {
  std::lock_guard lock(mu_);
  return is_done(status_);
}

bool FutureCore::raised() const {
  std::lock_guard lock(mu_);
  return status_ == Status::kFinished && error_ != nullptr;
}

bool FutureCore::set_running_or_notify_cancel() {
  std::lock_guard lock(mu_);
  if (status_ == Status::kCancelled) {
    status_ = Status::kCancelledAndNotified;  // its waiters heard of it at cancel()
    return false;
  }
  if (status_ == Status::kPending) {
    status_ = Status::kRunning;
    claim_ = nullptr;
    return true;
  }
  throw RuntimeError("Future in unexpected state");
}

bool FutureCore::try_set_exception(std::exception_ptr error) {
  std::unique_lock lock(mu_);
  if (is_done(status_)) return false;
  error_ = std::move(error);
  complete_locked(true);
  lock.unlock();
  run_callbacks();
  return true;
}

void FutureCore::set_exception(std::exception_ptr error) {
  if (!try_set_exception(std::move(error))) {
    throw futures::InvalidStateError("the future is already done (finished or cancelled)");
  }
}

void FutureCore::complete_locked(bool raised) {
  status_ = Status::kFinished;
  claim_ = nullptr;
  for (FutureWaiter* w : waiters_) w->completed(this, raised);
  cv_.notify_all();
}

void FutureCore::run_callbacks() {
  // Done: nobody adds to the list any more, and the callbacks run once.
  std::vector<std::function<void(FutureCore&)>> callbacks;
  {
    std::lock_guard lock(mu_);
    callbacks.swap(callbacks_);
  }
  for (auto& fn : callbacks) invoke(fn);
}

void FutureCore::invoke(const std::function<void(FutureCore&)>& fn) {
  try {
    fn(*this);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mp::futures: exception calling a done callback: %s: %s\n",
                 demangle(typeid(e).name()).c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "mp::futures: exception calling a done callback\n");
  }
}

bool FutureCore::wait_until(const Deadline& deadline) const {
  std::unique_lock lock(mu_);
  auto ready = [&] { return is_done(status_); };
  if (!deadline) {
    cv_.wait(lock, ready);
    return true;
  }
  return cv_.wait_until(lock, *deadline, ready);
}

std::exception_ptr FutureCore::exception_until(const Deadline& deadline) const {
  if (!wait_until(deadline)) throw TimeoutError("the future did not finish in time");
  std::lock_guard lock(mu_);
  if (status_ != Status::kFinished) throw futures::CancelledError();
  return error_;
}

std::unique_lock<std::mutex> FutureCore::lock_result(const Deadline& deadline) const {
  if (!wait_until(deadline)) throw TimeoutError("the future did not finish in time");
  std::unique_lock lock(mu_);
  if (status_ != Status::kFinished) throw futures::CancelledError();
  if (error_) std::rethrow_exception(error_);
  return lock;
}

void FutureCore::add_done_callback(std::function<void(FutureCore&)> fn) {
  {
    std::lock_guard lock(mu_);
    if (!is_done(status_)) {
      callbacks_.push_back(std::move(fn));
      return;
    }
  }
  invoke(fn);
}

bool FutureCore::install(FutureWaiter* waiter, bool& raised) {
  std::lock_guard lock(mu_);
  if (is_done(status_)) {
    raised = status_ == Status::kFinished && error_ != nullptr;
    return false;
  }
  waiter->expect_one();
  waiters_.push_back(waiter);
  return true;
}

void FutureCore::uninstall(FutureWaiter* waiter) {
  std::lock_guard lock(mu_);
  std::erase(waiters_, waiter);
}

}  // namespace mp::internal
