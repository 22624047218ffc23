// mp/internal/base/sharing.h — the axis every primitive template is written
// over: who the parties are. ProcessSync (processes: state in a shared
// segment, multiprocessing's errors) and ThreadSync (threads of one process:
// state on the heap, threading's errors, as mp::dummy). Locks, queues,
// shared values and pools all take one of the two.

#ifndef MP_INTERNAL_BASE_SHARING_H_
#define MP_INTERNAL_BASE_SHARING_H_

#include <memory>
#include <system_error>
#include <utility>

#include "mp/errors.h"
#include "mp/internal/base/futex.h"
#include "mp/internal/base/shm.h"

namespace mp::internal {

// State on the heap, for threads of one process.
template <class T>
class Local {
 public:
  template <class... A>
  static Local create(const char*, A&&... args) {
    Local l;
    l.value_ = std::make_shared<T>(std::forward<A>(args)...);
    return l;
  }
  T* operator->() const noexcept { return value_.get(); }
  T& operator*() const noexcept { return *value_; }
  T* get() const noexcept { return value_.get(); }
  friend bool operator==(const Local& a, const Local& b) noexcept { return a.value_ == b.value_; }

 private:
  std::shared_ptr<T> value_;
};

// Processes: shared memory, multiprocessing's errors.
struct ProcessSync {
  static constexpr Sharing kSharing = Sharing::kProcesses;
  template <class T>
  using Storage = Shared<T>;
  [[noreturn]] static void released_too_many_times() {
    throw ValueError("semaphore or lock released too many times");
  }
  [[noreturn]] static void rlock_not_owned() {
    throw AssertionError("attempt to release recursive lock not owned by thread");
  }
  [[noreturn]] static void bounded_overflow() {
    throw ValueError("semaphore or lock released too many times");
  }
  [[noreturn]] static void negative_semaphore() {
    throw std::system_error(EINVAL, std::generic_category(), "Semaphore initial value");
  }
  [[noreturn]] static void wait_without_lock() {
    throw AssertionError("must acquire() condition before using wait()");
  }
  [[noreturn]] static void notify_without_lock() { throw AssertionError("lock is not owned"); }
};

// Threads (mp::dummy): heap memory, threading's errors.
struct ThreadSync {
  static constexpr Sharing kSharing = Sharing::kThreads;
  template <class T>
  using Storage = Local<T>;
  [[noreturn]] static void released_too_many_times() {
    throw RuntimeError("release unlocked lock");
  }
  [[noreturn]] static void rlock_not_owned() {
    throw RuntimeError("cannot release un-acquired lock");
  }
  [[noreturn]] static void bounded_overflow() {
    throw ValueError("Semaphore released too many times");
  }
  [[noreturn]] static void negative_semaphore() {
    throw ValueError("semaphore initial value must be >= 0");
  }
  [[noreturn]] static void wait_without_lock() {
    throw RuntimeError("cannot wait on un-acquired lock");
  }
  [[noreturn]] static void notify_without_lock() {
    throw RuntimeError("cannot notify on un-acquired lock");
  }
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_SHARING_H_
