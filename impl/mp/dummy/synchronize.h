// mp/dummy/synchronize.h — the same primitives for threads of one process
// (Python: multiprocessing.dummy, i.e. threading's). Their state lives on the
// heap and their futexes are process-private; misuse raises what threading
// raises: releasing an unheld Lock or an RLock the caller does not hold, and
// wait()/notify() without the Condition's lock -> mp::RuntimeError;
// Semaphore(-1) -> mp::ValueError; BoundedSemaphore over-release ->
// mp::ValueError.

#ifndef MP_DUMMY_SYNCHRONIZE_H_
#define MP_DUMMY_SYNCHRONIZE_H_

#include <chrono>
#include <utility>

#include "mp/internal/sync/synchronize_impl.h"

namespace mp::dummy {

// Each has the calls of its mp:: twin (mp/synchronize.h, which says what
// each does), over the same template with ThreadSync: state on the heap,
// process-private futexes, threading's errors.

// Not re-entrant; any thread may release it. Not held -> mp::RuntimeError.
class Lock : public ::mp::internal::BasicLock<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicLock<::mp::internal::ThreadSync>;

 public:
  Lock() = default;

  using Impl::acquire;
  using Impl::acquired_from_dead_holder;
  using Impl::lock;
  using Impl::locked;
  using Impl::release;
  using Impl::repr;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
};

// Re-entrant; only the holding thread may release (else mp::RuntimeError).
class RLock : public ::mp::internal::BasicRLock<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicRLock<::mp::internal::ThreadSync>;

 public:
  RLock() = default;

  using Impl::acquire;
  using Impl::acquired_from_dead_holder;
  using Impl::lock;
  using Impl::locked;
  using Impl::release;
  using Impl::repr;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
};

// A counter without an upper bound.
class Semaphore : public ::mp::internal::BasicSemaphore<::mp::internal::ThreadSync, false> {
  using Impl = ::mp::internal::BasicSemaphore<::mp::internal::ThreadSync, false>;

 public:
  // Negative -> mp::ValueError.
  explicit Semaphore(int value = 1) : Impl(value) {}

  using Impl::acquire;
  using Impl::get_value;
  using Impl::lock;
  using Impl::locked;
  using Impl::release;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
};

// A Semaphore whose release() past the initial value throws mp::ValueError.
class BoundedSemaphore : public ::mp::internal::BasicSemaphore<::mp::internal::ThreadSync, true> {
  using Impl = ::mp::internal::BasicSemaphore<::mp::internal::ThreadSync, true>;

 public:
  explicit BoundedSemaphore(int value = 1) : Impl(value) {}

  using Impl::acquire;
  using Impl::get_value;
  using Impl::lock;
  using Impl::locked;
  using Impl::release;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
};

// A flag that threads wait for.
class Event : public ::mp::internal::BasicEvent<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicEvent<::mp::internal::ThreadSync>;

 public:
  Event() = default;

  using Impl::clear;
  using Impl::is_set;
  using Impl::repr;
  using Impl::set;
  using Impl::wait;
};

// A condition variable; wait()/notify() without its lock -> mp::RuntimeError.
class Condition : public ::mp::internal::BasicCondition<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicCondition<::mp::internal::ThreadSync>;

 public:
  // Over a new RLock, as Python's default, or over a Lock or RLock.
  Condition() = default;
  explicit Condition(Lock lock) : Impl(std::move(lock)) {}
  explicit Condition(RLock lock) : Impl(std::move(lock)) {}

  using Impl::acquire;
  using Impl::lock;
  using Impl::notify;
  using Impl::notify_all;
  using Impl::release;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
  using Impl::wait;
  using Impl::wait_for;
};

// A barrier for a fixed number of parties, reusable cycle after cycle.
class Barrier : public ::mp::internal::BasicBarrier<::mp::internal::ThreadSync> {
  using Impl = ::mp::internal::BasicBarrier<::mp::internal::ThreadSync>;

 public:
  using Action = Impl::Action;

  explicit Barrier(int parties, Action action = nullptr) : Impl(parties, action) {}
  template <class Rep, class Period>
  Barrier(int parties, Action action, std::chrono::duration<Rep, Period> timeout)
      : Impl(parties, action, timeout) {}

  using Impl::abort;
  using Impl::broken;
  using Impl::n_waiting;
  using Impl::parties;
  using Impl::reset;
  using Impl::wait;
};

}  // namespace mp::dummy

#endif  // MP_DUMMY_SYNCHRONIZE_H_
