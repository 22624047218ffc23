// mp/dummy/synchronize.h — the same primitives for threads of one process
// (Python: multiprocessing.dummy, i.e. threading's). Their state lives on the
// heap and their futexes are process-private; misuse raises what threading
// raises: releasing an unheld Lock or an RLock the caller does not hold, and
// wait()/notify() without the Condition's lock -> mp::RuntimeError;
// Semaphore(-1) -> mp::ValueError; BoundedSemaphore over-release ->
// mp::ValueError.

#ifndef MP_DUMMY_SYNCHRONIZE_H_
#define MP_DUMMY_SYNCHRONIZE_H_

#include "mp/internal/sync/synchronize_impl.h"

namespace mp::dummy {

using Lock = mp::internal::BasicLock<mp::internal::ThreadSync>;
using RLock = mp::internal::BasicRLock<mp::internal::ThreadSync>;
using Semaphore = mp::internal::BasicSemaphore<mp::internal::ThreadSync, false>;
using BoundedSemaphore = mp::internal::BasicSemaphore<mp::internal::ThreadSync, true>;
using Event = mp::internal::BasicEvent<mp::internal::ThreadSync>;
using Condition = mp::internal::BasicCondition<mp::internal::ThreadSync>;
using Barrier = mp::internal::BasicBarrier<mp::internal::ThreadSync>;

}  // namespace mp::dummy

#endif  // MP_DUMMY_SYNCHRONIZE_H_
