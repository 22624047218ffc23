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

// A mutual exclusion lock, not re-entrant; any thread or process may release
// it. std Lockable and TimedLockable.
using Lock = internal::BasicLock<internal::ProcessSync>;
// A re-entrant lock: its holding thread may acquire it again and must
// release it as often; only that thread may release.
using RLock = internal::BasicRLock<internal::ProcessSync>;
// A counter: acquire() takes one (waiting at zero), release() gives one back,
// without an upper bound.
using Semaphore = internal::BasicSemaphore<internal::ProcessSync, false>;
// A Semaphore whose release() past the initial value throws mp::ValueError.
using BoundedSemaphore = internal::BasicSemaphore<internal::ProcessSync, true>;
// A flag that processes wait for.
using Event = internal::BasicEvent<internal::ProcessSync>;
// A condition variable over a Lock or (by default) an RLock.
using Condition = internal::BasicCondition<internal::ProcessSync>;
// A barrier for a fixed number of parties, reusable cycle after cycle.
using Barrier = internal::BasicBarrier<internal::ProcessSync>;

}  // namespace mp

#endif  // MP_SYNCHRONIZE_H_
