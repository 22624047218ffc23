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

// Each has the calls of its mp:: twin (mp/sharedctypes.h, which says what
// each does), over the same template with ThreadSync.

template <SharedCType T, ValueLock Lock = RLock>
class Value : public ::mp::internal::BasicValue<T, ::mp::internal::ThreadSync, Lock> {
  using Impl = ::mp::internal::BasicValue<T, ::mp::internal::ThreadSync, Lock>;

 public:
  using Impl::Impl;
  using typename Impl::lock_type;
  using typename Impl::value_type;

  using Impl::get_lock;
  using Impl::raw;
  using Impl::set_value;
  using Impl::synchronized;
  using Impl::value;
};

template <SharedCType T>
class RawValue
    : public ::mp::internal::BasicValue<T, ::mp::internal::ThreadSync, ::mp::internal::NoLock> {
  using Impl = ::mp::internal::BasicValue<T, ::mp::internal::ThreadSync, ::mp::internal::NoLock>;

 public:
  using Impl::Impl;
  using typename Impl::lock_type;
  using typename Impl::value_type;

  using Impl::raw;
  using Impl::set_value;
  using Impl::synchronized;
  using Impl::value;
};

template <SharedCType T, ValueLock Lock = RLock>
class Array : public ::mp::internal::BasicArray<T, ::mp::internal::ThreadSync, Lock> {
  using Impl = ::mp::internal::BasicArray<T, ::mp::internal::ThreadSync, Lock>;

 public:
  using Impl::Impl;
  using typename Impl::lock_type;
  using typename Impl::value_type;

  using Impl::empty;
  using Impl::size;
  using Impl::operator[];
  using Impl::assign;
  using Impl::at;
  using Impl::begin;
  using Impl::data;
  using Impl::end;
  using Impl::get;
  using Impl::get_lock;
  using Impl::set;
  using Impl::set_slice;
  using Impl::set_value;
  using Impl::slice;
  using Impl::span;
  using Impl::synchronized;
  using Impl::to_vector;
  using Impl::value;
};

template <SharedCType T>
class RawArray
    : public ::mp::internal::BasicArray<T, ::mp::internal::ThreadSync, ::mp::internal::NoLock> {
  using Impl = ::mp::internal::BasicArray<T, ::mp::internal::ThreadSync, ::mp::internal::NoLock>;

 public:
  using Impl::Impl;
  using typename Impl::lock_type;
  using typename Impl::value_type;

  using Impl::empty;
  using Impl::size;
  using Impl::operator[];
  using Impl::assign;
  using Impl::at;
  using Impl::begin;
  using Impl::data;
  using Impl::end;
  using Impl::get;
  using Impl::set;
  using Impl::set_slice;
  using Impl::set_value;
  using Impl::slice;
  using Impl::span;
  using Impl::synchronized;
  using Impl::to_vector;
  using Impl::value;
};

}  // namespace mp::dummy

namespace mp {

// Python: sharedctypes.copy(obj) of mp::dummy's: a new RawValue / RawArray
// holding what `obj` holds now (read under obj's lock).
template <class T, class Lock>
dummy::RawValue<T> copy(const dummy::Value<T, Lock>& obj) {
  return dummy::RawValue<T>(obj.value());
}
template <class T>
dummy::RawValue<T> copy(const dummy::RawValue<T>& obj) {
  return dummy::RawValue<T>(obj.value());
}
template <class T, class Lock>
dummy::RawArray<T> copy(const dummy::Array<T, Lock>& obj) {
  return dummy::RawArray<T>(obj.to_vector());
}
template <class T>
dummy::RawArray<T> copy(const dummy::RawArray<T>& obj) {
  return dummy::RawArray<T>(obj.to_vector());
}

}  // namespace mp

#endif  // MP_DUMMY_SHAREDCTYPES_H_
