// mp/sharedctypes.h — Value, RawValue, Array, RawArray: objects in shared
// memory (Python: sharedctypes.py).
//
//   mp::Value<int> v(0);                     // synchronized by a new RLock
//   v.set_value(5); int x = v.value();       // each takes the lock for that one access
//   { std::scoped_lock g(v.get_lock()); v.raw() += 1; }   // several steps, one lock
//   mp::Array<double> a(10);                 // ten zeros
//   mp::Array<int> b({1, 2, 3});             // or from any range of ints
//   mp::RawArray<char> c(64);                // no lock at all
//   mp::Process p(&work, v, a); p.start();   // the child sees and writes the same memory
//
// T is any mp::SharedCType: a trivially copyable type without pointers
// (integers of every width, floating point, char, bool, enums, plain structs,
// std::array of those). Anything else is a compile-time error (Python's
// "bad typecode" TypeError).
//
// Each object is a handle to memory that every process holding it maps: a
// copy of the handle, and the copy a child receives as a Process argument
// under any start method, is the same object (fork inherits the mapping;
// spawn and forkserver receive its descriptor, with the lock's). A write in
// a child is seen by the parent. The memory is a memfd segment: nothing
// appears in /dev/shm, and the kernel frees it when the last process holding
// it lets go, whatever way that process ends. Each object costs one page, one
// mapping and one descriptor (and its lock the same), so prefer one Array to
// thousands of Values.
//
// Locking. A Value or Array has a lock unless made with {.lock = false}:
// a new mp::RLock by default, or the lock passed in place of the options
// (mp::Value<int, mp::Lock> v(0, my_lock) — any copyable type with lock()
// and unlock()). value(), set_value(), get(), set(), slice(), set_slice(),
// assign() and to_vector() take it for that one access, as Python's
// synchronized wrappers do; raw(), span(), operator[], at() and iteration
// touch the memory directly, for code that holds get_lock() across several
// steps (or uses std::atomic_ref). RawValue and RawArray have no lock and
// no get_lock().
//
// Memory ordering: what a process wrote before releasing the lock is visible
// to the next process that takes it.

#ifndef MP_SHAREDCTYPES_H_
#define MP_SHAREDCTYPES_H_

#include "mp/internal/sync/sharedctypes_impl.h"
#include "mp/synchronize.h"

namespace mp {

// A T in shared memory, with a lock (Python: Value).
template <SharedCType T, ValueLock Lock = RLock>
using Value = internal::BasicValue<T, internal::ProcessSync, Lock>;
// A T in shared memory, without a lock (Python: RawValue).
template <SharedCType T>
using RawValue = internal::BasicValue<T, internal::ProcessSync, internal::NoLock>;
// A fixed number of T in shared memory, with a lock (Python: Array).
template <SharedCType T, ValueLock Lock = RLock>
using Array = internal::BasicArray<T, internal::ProcessSync, Lock>;
// The same without a lock (Python: RawArray).
template <SharedCType T>
using RawArray = internal::BasicArray<T, internal::ProcessSync, internal::NoLock>;

// Python: sharedctypes.copy(obj). A new RawValue / RawArray (new memory, no
// lock) holding what `obj` holds now (read under obj's lock).
template <class T, class Sync, class Lock>
internal::BasicValue<T, Sync, internal::NoLock> copy(
    const internal::BasicValue<T, Sync, Lock>& obj) {
  return internal::copy_of(obj);
}
template <class T, class Sync, class Lock>
internal::BasicArray<T, Sync, internal::NoLock> copy(
    const internal::BasicArray<T, Sync, Lock>& obj) {
  return internal::copy_of(obj);
}

}  // namespace mp

#endif  // MP_SHAREDCTYPES_H_
