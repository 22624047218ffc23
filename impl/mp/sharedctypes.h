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

#include <utility>

#include "mp/internal/sync/sharedctypes_impl.h"
#include "mp/synchronize.h"

namespace mp {

// A T in shared memory, with a lock (Python: Value): Value(), Value(initial),
// Value(initial, {.lock = false}), Value(initial, lock), each also with a
// Context first.
template <SharedCType T, ValueLock Lock = RLock>
class Value : public internal::BasicValue<T, internal::ProcessSync, Lock> {
  using Impl = internal::BasicValue<T, internal::ProcessSync, Lock>;

 public:
  using typename Impl::lock_type;
  using typename Impl::value_type;
  // Python's constructors: see the top of this file.
  using Impl::Impl;

  // value(), set_value(v): Python's `.value`, read or written under the
  // lock (a RawValue has none).
  using Impl::set_value;
  using Impl::value;
  // The shared object itself. Nothing is locked: hold get_lock() while other
  // processes or threads may write it, or use std::atomic_ref.
  using Impl::raw;
  // Whether value() and set_value() lock (Python: a Synchronized wrapper).
  using Impl::synchronized;
  // The lock the calls above take: a new RLock by default, or the one
  // passed in. Made with {.lock = false} -> mp::ValueError.
  using Impl::get_lock;

 private:
  friend struct internal::PublicCodec<Value, Impl>;
  explicit Value(Impl impl) : Impl(std::move(impl)) {}
};

// A T in shared memory, without a lock (Python: RawValue).
template <SharedCType T>
class RawValue : public internal::BasicValue<T, internal::ProcessSync, internal::NoLock> {
  using Impl = internal::BasicValue<T, internal::ProcessSync, internal::NoLock>;

 public:
  using typename Impl::lock_type;
  using typename Impl::value_type;
  // Python's constructors: see the top of this file.
  using Impl::Impl;

  // value(), set_value(v): Python's `.value`, read or written under the
  // lock (a RawValue has none).
  using Impl::set_value;
  using Impl::value;
  // The shared object itself. Nothing is locked: hold get_lock() while other
  // processes or threads may write it, or use std::atomic_ref.
  using Impl::raw;
  // Whether value() and set_value() lock (Python: a Synchronized wrapper).
  using Impl::synchronized;

 private:
  friend struct internal::PublicCodec<RawValue, Impl>;
  explicit RawValue(Impl impl) : Impl(std::move(impl)) {}
};

// A fixed number of T in shared memory, with a lock (Python: Array):
// Array(size), Array({1, 2, 3}), Array(any range of T), each with
// {.lock = false} or a lock after it and a Context before it.
template <SharedCType T, ValueLock Lock = RLock>
class Array : public internal::BasicArray<T, internal::ProcessSync, Lock> {
  using Impl = internal::BasicArray<T, internal::ProcessSync, Lock>;

 public:
  using typename Impl::lock_type;
  using typename Impl::value_type;
  // Python's constructors: see the top of this file.
  using Impl::Impl;

  // Python's len().
  using Impl::empty;
  using Impl::size;
  // The elements themselves, nothing locked (hold get_lock() while others
  // may write): operator[] unchecked, at() checked (mp::IndexError), span(),
  // data(), begin(), end().
  using Impl::operator[];
  using Impl::at;
  using Impl::begin;
  using Impl::data;
  using Impl::end;
  using Impl::span;
  // Python's arr[i] and arr[i] = v: one element, under the lock; out of
  // range -> mp::IndexError.
  using Impl::get;
  using Impl::set;
  // Python's arr[start:stop] (a copy; bounds clamped as Python clamps
  // slices) and arr[:], under the lock.
  using Impl::slice;
  using Impl::to_vector;
  // Python's arr[start:stop] = items and arr[:] = items, under the lock; the
  // number of items must be the slice's length (else mp::ValueError, nothing
  // written).
  using Impl::assign;
  using Impl::set_slice;
  // A char array's `.value` (up to the first NUL) and `.value = s` (then a
  // NUL if there is room; longer than the array -> mp::ValueError).
  using Impl::set_value;
  using Impl::synchronized;
  using Impl::value;
  // The lock the calls above take: a new RLock by default, or the one
  // passed in. Made with {.lock = false} -> mp::ValueError.
  using Impl::get_lock;

 private:
  friend struct internal::PublicCodec<Array, Impl>;
  explicit Array(Impl impl) : Impl(std::move(impl)) {}
};

// The same without a lock (Python: RawArray).
template <SharedCType T>
class RawArray : public internal::BasicArray<T, internal::ProcessSync, internal::NoLock> {
  using Impl = internal::BasicArray<T, internal::ProcessSync, internal::NoLock>;

 public:
  using typename Impl::lock_type;
  using typename Impl::value_type;
  // Python's constructors: see the top of this file.
  using Impl::Impl;

  // Python's len().
  using Impl::empty;
  using Impl::size;
  // The elements themselves, nothing locked (hold get_lock() while others
  // may write): operator[] unchecked, at() checked (mp::IndexError), span(),
  // data(), begin(), end().
  using Impl::operator[];
  using Impl::at;
  using Impl::begin;
  using Impl::data;
  using Impl::end;
  using Impl::span;
  // Python's arr[i] and arr[i] = v: one element, under the lock; out of
  // range -> mp::IndexError.
  using Impl::get;
  using Impl::set;
  // Python's arr[start:stop] (a copy; bounds clamped as Python clamps
  // slices) and arr[:], under the lock.
  using Impl::slice;
  using Impl::to_vector;
  // Python's arr[start:stop] = items and arr[:] = items, under the lock; the
  // number of items must be the slice's length (else mp::ValueError, nothing
  // written).
  using Impl::assign;
  using Impl::set_slice;
  // A char array's `.value` (up to the first NUL) and `.value = s` (then a
  // NUL if there is room; longer than the array -> mp::ValueError).
  using Impl::set_value;
  using Impl::synchronized;
  using Impl::value;

 private:
  friend struct internal::PublicCodec<RawArray, Impl>;
  explicit RawArray(Impl impl) : Impl(std::move(impl)) {}
};

// Each travels to children as its memory's descriptor, with its lock's.
template <class T, class Lock>
struct Codec<Value<T, Lock>>
    : internal::PublicCodec<Value<T, Lock>, internal::BasicValue<T, internal::ProcessSync, Lock>> {
};
template <class T>
struct Codec<RawValue<T>>
    : internal::PublicCodec<RawValue<T>,
                            internal::BasicValue<T, internal::ProcessSync, internal::NoLock>> {};
template <class T, class Lock>
struct Codec<Array<T, Lock>>
    : internal::PublicCodec<Array<T, Lock>, internal::BasicArray<T, internal::ProcessSync, Lock>> {
};
template <class T>
struct Codec<RawArray<T>>
    : internal::PublicCodec<RawArray<T>,
                            internal::BasicArray<T, internal::ProcessSync, internal::NoLock>> {};

// Python: sharedctypes.copy(obj). A new RawValue / RawArray (new memory, no
// lock) holding what `obj` holds now (read under obj's lock).
template <class T, class Lock>
RawValue<T> copy(const Value<T, Lock>& obj) {
  return RawValue<T>(obj.value());
}
template <class T>
RawValue<T> copy(const RawValue<T>& obj) {
  return RawValue<T>(obj.value());
}
template <class T, class Lock>
RawArray<T> copy(const Array<T, Lock>& obj) {
  return RawArray<T>(obj.to_vector());
}
template <class T>
RawArray<T> copy(const RawArray<T>& obj) {
  return RawArray<T>(obj.to_vector());
}
}  // namespace mp

#endif  // MP_SHAREDCTYPES_H_
