// mp/synchronize.h — Lock, RLock, Semaphore, BoundedSemaphore, Event,
// Condition, Barrier across processes (Python: synchronize.py).
//
//   mp::Lock l;  l.acquire(); l.release();  { std::scoped_lock g(l); }
//   mp::Event e; mp::Process p(&worker, e); p.start(); e.wait(100ms);
//
// Each is a handle to state in shared memory (a memfd mapping: no name in
// /dev/shm; the kernel frees it when the last process lets go). Copies refer
// to the same object, and so does the copy a child receives as a Process
// argument, under every start method (fork inherits the mapping; spawn and
// forkserver receive its descriptor). Blocking waits sleep on futexes after a
// brief spin; timeouts are monotonic and signals do not cut them short.
//
// Errors, as multiprocessing raises them: releasing an unheld Lock or a
// BoundedSemaphore past its initial value -> mp::ValueError; releasing an
// RLock the caller does not hold, or wait()/notify() on a Condition whose
// lock the caller does not hold -> mp::AssertionError; Semaphore(-1) ->
// std::system_error(EINVAL); a broken Barrier -> mp::BrokenBarrierError.
//
// A holder that dies: when a process dies holding a Lock or RLock, a process
// waiting for it takes it over within ~100 ms, and acquired_from_dead_holder()
// on that handle says so (what the lock guarded may be half-updated). CPython
// waits forever there. A Lock held by a process that exited on purpose, to be
// released by another (a Lock used as a signal), is taken over the same way.

#ifndef MP_SYNCHRONIZE_H_
#define MP_SYNCHRONIZE_H_

#include "mp/internal/sync/synchronize_impl.h"

namespace mp {

// Each class below is one of internal/sync/synchronize_impl.h's templates
// over ProcessSync (shared memory, multiprocessing's errors); mp::dummy's
// twins are the same templates over ThreadSync. What each declares here is
// its whole API.

// A mutual exclusion lock, not re-entrant; any thread or process may release
// it. std Lockable and TimedLockable.
class Lock : public internal::BasicLock<internal::ProcessSync> {
  using Impl = internal::BasicLock<internal::ProcessSync>;

 public:
  // Not held, in a new shared segment.
  Lock() = default;
  explicit Lock(Context& ctx) : Impl(ctx) {}

  // Python's acquire(block=True, timeout=None): acquire(), acquire(false),
  // acquire(100ms), acquire(true, 100ms). True once held; false if not
  // blocking and held elsewhere, or at the timeout.
  using Impl::acquire;
  // Any thread or process may release. Not held -> mp::ValueError.
  using Impl::release;
  // Held by anyone, in any process?
  using Impl::locked;
  // Whether this handle's last successful acquire took the lock from a
  // holder whose process had died holding it (what it guarded may be half
  // updated). CPython would have waited forever.
  using Impl::acquired_from_dead_holder;
  // Python's repr: "<Lock(owner=None)>", "<Lock(owner=MainProcess)>", ...
  using Impl::repr;
  // C++'s Lockable and TimedLockable, over acquire() and release().
  using Impl::lock;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;

 private:
  friend struct internal::PublicCodec<Lock, Impl>;
  explicit Lock(Impl impl) : Impl(std::move(impl)) {}
};

// A re-entrant lock: its holding thread may acquire it again and must
// release it as often; only that thread may release.
class RLock : public internal::BasicRLock<internal::ProcessSync> {
  using Impl = internal::BasicRLock<internal::ProcessSync>;

 public:
  RLock() = default;
  explicit RLock(Context& ctx) : Impl(ctx) {}

  // As Lock's; the holding thread may acquire again.
  using Impl::acquire;
  // Only the holding thread may release (as often as it acquired).
  // Otherwise -> mp::AssertionError.
  using Impl::acquired_from_dead_holder;
  using Impl::locked;
  using Impl::release;
  // Python's repr: "<RLock(None, 0)>", "<RLock(MainProcess, 3)>", ...
  using Impl::lock;
  using Impl::repr;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;

 private:
  friend struct internal::PublicCodec<RLock, Impl>;
  explicit RLock(Impl impl) : Impl(std::move(impl)) {}
};

// A counter: acquire() takes one (waiting at zero), release() gives one back,
// without an upper bound.
class Semaphore : public internal::BasicSemaphore<internal::ProcessSync, false> {
  using Impl = internal::BasicSemaphore<internal::ProcessSync, false>;

 public:
  // Negative -> std::system_error(EINVAL).
  explicit Semaphore(int value = 1) : Impl(value) {}
  Semaphore(Context& ctx, int value = 1) : Impl(ctx, value) {}

  // As Lock's: takes one, waiting at zero.
  using Impl::acquire;
  // Gives one back.
  using Impl::get_value;
  using Impl::release;
  // Python 3.14: true when acquire(false) would fail.
  using Impl::lock;
  using Impl::locked;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;

 private:
  friend struct internal::PublicCodec<Semaphore, Impl>;
  explicit Semaphore(Impl impl) : Impl(std::move(impl)) {}
};

// A Semaphore whose release() past the initial value throws mp::ValueError.
class BoundedSemaphore : public internal::BasicSemaphore<internal::ProcessSync, true> {
  using Impl = internal::BasicSemaphore<internal::ProcessSync, true>;

 public:
  explicit BoundedSemaphore(int value = 1) : Impl(value) {}
  BoundedSemaphore(Context& ctx, int value = 1) : Impl(ctx, value) {}

  using Impl::acquire;
  // Past the initial value -> mp::ValueError.
  using Impl::get_value;
  using Impl::lock;
  using Impl::locked;
  using Impl::release;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;

 private:
  friend struct internal::PublicCodec<BoundedSemaphore, Impl>;
  explicit BoundedSemaphore(Impl impl) : Impl(std::move(impl)) {}
};

// A flag that processes wait for.
class Event : public internal::BasicEvent<internal::ProcessSync> {
  using Impl = internal::BasicEvent<internal::ProcessSync>;

 public:
  Event() = default;
  explicit Event(Context& ctx) : Impl(ctx) {}

  // Sets the flag and wakes every waiter, in every process.
  using Impl::clear;
  using Impl::is_set;
  using Impl::set;
  // wait(), wait(timeout): the flag; true at once if set, true if set while
  // waiting, false at the timeout.
  using Impl::wait;
  // Python's repr: "<Event at 0x... set>" / "... unset>".
  using Impl::repr;

 private:
  friend struct internal::PublicCodec<Event, Impl>;
  explicit Event(Impl impl) : Impl(std::move(impl)) {}
};

// A condition variable over a Lock or (by default) an RLock.
class Condition : public internal::BasicCondition<internal::ProcessSync> {
  using Impl = internal::BasicCondition<internal::ProcessSync>;

 public:
  // Over a new RLock, as Python's default.
  Condition() = default;
  explicit Condition(Context& ctx) : Impl(ctx) {}
  explicit Condition(Lock lock) : Impl(std::move(lock)) {}
  explicit Condition(RLock lock) : Impl(std::move(lock)) {}
  Condition(Context& ctx, Lock lock) : Impl(ctx, std::move(lock)) {}
  Condition(Context& ctx, RLock lock) : Impl(ctx, std::move(lock)) {}

  // Its lock's acquire() and release(), Lockable and TimedLockable.
  using Impl::acquire;
  using Impl::lock;
  using Impl::release;
  using Impl::try_lock;
  using Impl::try_lock_for;
  using Impl::try_lock_until;
  using Impl::unlock;
  // wait(), wait(timeout): releases the lock (every level of an RLock),
  // waits for a notify, takes the lock back. True if notified, false at the
  // timeout. Not holding the lock -> mp::AssertionError.
  using Impl::wait;
  // wait_for(predicate), wait_for(predicate, timeout): waits until
  // predicate() holds (checked first, and after each wake-up) or the
  // timeout; returns its last value. Python's argument order.
  using Impl::wait_for;
  // Wakes up to n of the current waiters (oldest first); the caller must
  // hold the lock.
  using Impl::notify;
  using Impl::notify_all;

 private:
  friend struct internal::PublicCodec<Condition, Impl>;
  explicit Condition(Impl impl) : Impl(std::move(impl)) {}
};

// A barrier for a fixed number of parties, reusable cycle after cycle.
class Barrier : public internal::BasicBarrier<internal::ProcessSync> {
  using Impl = internal::BasicBarrier<internal::ProcessSync>;

 public:
  using Action = Impl::Action;

  // Python: Barrier(parties, action=None, timeout=None). `action` runs once
  // per cycle, in the last party to arrive, before anyone leaves. parties < 1
  // -> mp::ValueError.
  explicit Barrier(int parties, Action action = nullptr) : Impl(parties, action) {}
  template <class Rep, class Period>
  Barrier(int parties, Action action, std::chrono::duration<Rep, Period> timeout)
      : Impl(parties, action, timeout) {}
  Barrier(Context& ctx, int parties, Action action = nullptr) : Impl(ctx, parties, action) {}
  template <class Rep, class Period>
  Barrier(Context& ctx, int parties, Action action, std::chrono::duration<Rep, Period> timeout)
      : Impl(ctx, parties, action, timeout) {}

  // wait(), wait(timeout): waits for all parties; returns this party's index
  // in [0, parties), exactly one party getting 0 per cycle. A broken barrier
  // (abort, reset, a timeout, a failing action) -> mp::BrokenBarrierError in
  // every waiter.
  using Impl::wait;
  // Current waiters get mp::BrokenBarrierError; the barrier is usable again.
  using Impl::reset;
  // Breaks the barrier until reset().
  using Impl::abort;
  using Impl::broken;
  using Impl::n_waiting;
  using Impl::parties;

 private:
  friend struct internal::PublicCodec<Barrier, Impl>;
  explicit Barrier(Impl impl) : Impl(std::move(impl)) {}
};

// Each travels to children as its shared segment's descriptor (a Condition
// with its lock's; a Barrier with where its action's code is).
template <>
struct Codec<Lock> : internal::PublicCodec<Lock, internal::BasicLock<internal::ProcessSync>> {};
template <>
struct Codec<RLock> : internal::PublicCodec<RLock, internal::BasicRLock<internal::ProcessSync>> {};
template <>
struct Codec<Semaphore>
    : internal::PublicCodec<Semaphore, internal::BasicSemaphore<internal::ProcessSync, false>> {};
template <>
struct Codec<BoundedSemaphore>
    : internal::PublicCodec<BoundedSemaphore,
                            internal::BasicSemaphore<internal::ProcessSync, true>> {};
template <>
struct Codec<Event> : internal::PublicCodec<Event, internal::BasicEvent<internal::ProcessSync>> {};
template <>
struct Codec<Condition>
    : internal::PublicCodec<Condition, internal::BasicCondition<internal::ProcessSync>> {};
template <>
struct Codec<Barrier>
    : internal::PublicCodec<Barrier, internal::BasicBarrier<internal::ProcessSync>> {};

}  // namespace mp

#endif  // MP_SYNCHRONIZE_H_
