// mp/dummy/sharedctypes.h — Value, RawValue, Array, RawArray for threads of
// one process: the calls of mp/sharedctypes.h, on heap memory, guarded by
// mp::dummy's locks. (Python's multiprocessing.dummy.Value has no lock at all;
// mp::dummy keeps the same API as mp so that code and tests move between
// processes and threads unchanged.)

#ifndef MP_DUMMY_SHAREDCTYPES_H_
#define MP_DUMMY_SHAREDCTYPES_H_

#include "mp/dummy/synchronize.h"
#include "mp/internal/sync/sharedctypes_impl.h"

namespace mp::dummy {

template <SharedCType T, ValueLock Lock = RLock>
using Value = mp::internal::BasicValue<T, mp::internal::ThreadSync, Lock>;
template <SharedCType T>
using RawValue = mp::internal::BasicValue<T, mp::internal::ThreadSync, mp::internal::NoLock>;
template <SharedCType T, ValueLock Lock = RLock>
using Array = mp::internal::BasicArray<T, mp::internal::ThreadSync, Lock>;
template <SharedCType T>
using RawArray = mp::internal::BasicArray<T, mp::internal::ThreadSync, mp::internal::NoLock>;

}  // namespace mp::dummy

#endif  // MP_DUMMY_SHAREDCTYPES_H_
