// mp/internal/sync/sharedctypes_impl.h — the classes behind mp/sharedctypes.h and
// mp/dummy/sharedctypes.h: one set of templates over the Sync traits of
// synchronize_impl.h, which say where memory lives (a memfd Segment for
// processes, the heap for threads) and which locks go with it.

#ifndef MP_INTERNAL_SYNC_SHAREDCTYPES_IMPL_H_
#define MP_INTERNAL_SYNC_SHAREDCTYPES_IMPL_H_

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/shm.h"
#include "mp/internal/sync/synchronize_impl.h"
#include "mp/reduction.h"

namespace mp {

// What a Value or Array may hold: Python's ctypes, in C++ terms. Any
// trivially copyable object type (integers of every width, floating point,
// char, bool, enums, std::array and plain structs of those) that holds no
// pointer of its own (a pointer means nothing in another process).
template <class T>
concept SharedCType =
    std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T> &&
    !std::is_null_pointer_v<T> && alignof(T) <= 4096;

// What may guard a Value or Array: a copyable handle that can be locked
// (mp::RLock, mp::Lock, their mp::dummy twins, or your own).
template <class L>
concept ValueLock = std::copyable<L> && requires(L& l) {
  l.lock();
  l.unlock();
};

// Python's `lock` argument of Value() and Array(): true (the default) makes a
// new RLock; false makes an object without a lock. To share a lock, pass it
// instead of the options.
struct ValueOptions {
  bool lock = true;
};

namespace internal {

// Memory for threads of one process: zero-filled, on the heap.
class HeapBlock {
 public:
  static std::shared_ptr<HeapBlock> create(size_t size, size_t alignment) {
    size_t bytes = size ? size : 1;
    void* data = ::operator new(bytes, std::align_val_t(alignment));
    std::memset(data, 0, bytes);
    return std::shared_ptr<HeapBlock>(new HeapBlock(data, bytes, alignment));
  }
  HeapBlock(const HeapBlock&) = delete;
  HeapBlock& operator=(const HeapBlock&) = delete;
  ~HeapBlock() { ::operator delete(data_, std::align_val_t(alignment_)); }
  void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }

 private:
  HeapBlock(void* data, size_t size, size_t alignment)
      : data_(data), size_(size), alignment_(alignment) {}
  void* data_;
  size_t size_;
  size_t alignment_;
};

// Where a Value's or Array's memory comes from.
template <class Sync>
struct ValueMemory;
template <>
struct ValueMemory<ProcessSync> {
  using Block = Segment;
  static std::shared_ptr<Segment> make(size_t size, size_t /*alignment: pages suffice*/,
                                       const char* name) {
    return Segment::create(size, name);
  }
};
template <>
struct ValueMemory<ThreadSync> {
  using Block = HeapBlock;
  static std::shared_ptr<HeapBlock> make(size_t size, size_t alignment, const char*) {
    return HeapBlock::create(size, std::max<size_t>(alignment, alignof(std::max_align_t)));
  }
};

// The lock type of RawValue and RawArray: none.
struct NoLock {};

// Holds the lock, if any, for one access: value(), set_value(), get(), ...
template <class Lock>
class MaybeLocked {
 public:
  explicit MaybeLocked(std::optional<Lock>& lock) : lock_(lock) {
    if (lock_) lock_->lock();
  }
  ~MaybeLocked() {
    if (lock_) lock_->unlock();
  }
  MaybeLocked(const MaybeLocked&) = delete;
  MaybeLocked& operator=(const MaybeLocked&) = delete;

 private:
  std::optional<Lock>& lock_;
};
template <>
class MaybeLocked<NoLock> {
 public:
  explicit MaybeLocked(std::optional<NoLock>&) {}
};

// Copies `items` to `out`: one memcpy when they lie contiguous in memory
// (std::ranges::copy compiles to an element-by-element loop there, at half
// the bandwidth). T is trivially copyable, so this also starts the lifetime
// of objects in raw memory.
template <class T, class R>
void copy_items(const R& items, T* out) {
  if constexpr (std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                std::same_as<std::remove_cv_t<std::ranges::range_value_t<R>>, T>) {
    size_t n = static_cast<size_t>(std::ranges::size(items));
    if (n != 0) std::memcpy(out, std::ranges::data(items), n * sizeof(T));
  } else if constexpr (std::is_trivially_default_constructible_v<T>) {
    std::ranges::copy(items, out);
  } else {
    std::ranges::uninitialized_copy(items, std::span<T>(out, std::ranges::size(items)));
  }
}

[[noreturn]] inline void no_lock_error() {
  throw ValueError("this object has no lock (it was made with lock = false)");
}

template <SharedCType T, class Sync, class Lock>
class BasicArray;

// A range of items to copy into an Array. Never an Array of the same type:
// copying a handle shares the array.
template <class R, class T, class Self>
concept ItemsFor =
    !std::derived_from<std::remove_cvref_t<R>, Self> && std::ranges::input_range<R> &&
    std::convertible_to<std::ranges::range_reference_t<R>, T>;

template <SharedCType T, class Sync, class Lock>
class BasicValue {
  static constexpr bool kRaw = std::is_same_v<Lock, NoLock>;
  using Memory = ValueMemory<Sync>;

 public:
  using value_type = T;
  using lock_type = Lock;

  // Python: Value(typecode, *args, lock=True) / RawValue(typecode, *args).
  BasicValue() : BasicValue(T{}) {}
  explicit BasicValue(const T& initial)
      : block_(Memory::make(sizeof(T), alignof(T), "mp-value")),
        value_(new(block_->data()) T(initial)),
        lock_(make_lock(true)) {}
  BasicValue(const T& initial, ValueOptions options)
    requires(!kRaw)
      : block_(Memory::make(sizeof(T), alignof(T), "mp-value")),
        value_(new(block_->data()) T(initial)),
        lock_(make_lock(options.lock)) {}
  BasicValue(const T& initial, Lock lock)
    requires(!kRaw)
      : block_(Memory::make(sizeof(T), alignof(T), "mp-value")),
        value_(new(block_->data()) T(initial)),
        lock_(std::move(lock)) {}
  explicit BasicValue(Context&) : BasicValue() {}
  BasicValue(Context&, const T& initial) : BasicValue(initial) {}
  BasicValue(Context&, const T& initial, ValueOptions options)
    requires(!kRaw)
      : BasicValue(initial, options) {}
  BasicValue(Context&, const T& initial, Lock lock)
    requires(!kRaw)
      : BasicValue(initial, std::move(lock)) {}

  // Python's `.value`: a copy, read under the lock.
  T value() const {
    MaybeLocked<Lock> hold(lock_);
    return *value_;
  }
  // Python's `.value = v`: written under the lock.
  void set_value(const T& v) {
    MaybeLocked<Lock> hold(lock_);
    *value_ = v;
  }
  // The shared object itself. Nothing is locked: hold get_lock() while other
  // processes or threads may write it, or use std::atomic_ref.
  T& raw() const noexcept { return *value_; }

  // The lock that value() and set_value() take: a new RLock by default, or
  // the one passed in. Made with {.lock = false} -> mp::ValueError. A
  // RawValue has none (a compile-time error, as Python's AttributeError).
  Lock& get_lock() const
    requires(!kRaw)
  {
    if (!lock_) no_lock_error();
    return *lock_;
  }
  // Whether value() and set_value() lock (Python: a Synchronized wrapper).
  bool synchronized() const noexcept { return lock_.has_value(); }

  friend bool operator==(const BasicValue& a, const BasicValue& b) noexcept {
    return a.value_ == b.value_;
  }

 private:
  friend struct Codec<BasicValue>;
  BasicValue(std::shared_ptr<typename Memory::Block> block, std::optional<Lock> lock)
      : block_(std::move(block)),
        value_(std::launder(static_cast<T*>(block_->data()))),
        lock_(std::move(lock)) {}
  static std::optional<Lock> make_lock(bool wanted) {
    if constexpr (kRaw) {
      return std::nullopt;
    } else {
      return wanted ? std::optional<Lock>(Lock()) : std::nullopt;
    }
  }

  std::shared_ptr<typename Memory::Block> block_;
  T* value_;
  mutable std::optional<Lock> lock_;
};

template <SharedCType T, class Sync, class Lock>
class BasicArray {
  static constexpr bool kRaw = std::is_same_v<Lock, NoLock>;
  using Memory = ValueMemory<Sync>;

  template <class R>
  static constexpr bool kItems = ItemsFor<R, T, BasicArray>;

 public:
  using value_type = T;
  using lock_type = Lock;
  using iterator = T*;

  // Python: Array(typecode, size) — `size` elements, value-initialized (all
  // zero bytes for plain types); a negative size -> mp::ValueError.
  explicit BasicArray(int64_t size) : BasicArray(size, make_lock(true)) {}
  BasicArray(int64_t size, ValueOptions options)
    requires(!kRaw)
      : BasicArray(size, make_lock(options.lock)) {}
  BasicArray(int64_t size, Lock lock)
    requires(!kRaw)
      : BasicArray(size, std::optional<Lock>(std::move(lock))) {}

  // Python: Array(typecode, sequence) — a copy of the items.
  BasicArray(std::initializer_list<T> items) : BasicArray(items, make_lock(true), 0) {}
  BasicArray(std::initializer_list<T> items, ValueOptions options)
    requires(!kRaw)
      : BasicArray(items, make_lock(options.lock), 0) {}
  BasicArray(std::initializer_list<T> items, Lock lock)
    requires(!kRaw)
      : BasicArray(items, std::optional<Lock>(std::move(lock)), 0) {}
  template <class R>
    requires kItems<R>
  explicit BasicArray(R&& items) : BasicArray(std::forward<R>(items), make_lock(true), 0) {}
  template <class R>
    requires(kItems<R> && !kRaw)
  BasicArray(R&& items, ValueOptions options)
      : BasicArray(std::forward<R>(items), make_lock(options.lock), 0) {}
  template <class R>
    requires(kItems<R> && !kRaw)
  BasicArray(R&& items, Lock lock)
      : BasicArray(std::forward<R>(items), std::optional<Lock>(std::move(lock)), 0) {}

  // The same, with a context first (ctx.Array(...)).
  template <class... A>
    requires std::constructible_from<BasicArray, A...>
  explicit BasicArray(Context&, A&&... args) : BasicArray(std::forward<A>(args)...) {}
  BasicArray(Context&, std::initializer_list<T> items) : BasicArray(items) {}
  BasicArray(Context&, std::initializer_list<T> items, ValueOptions options)
    requires(!kRaw)
      : BasicArray(items, options) {}

  // Python's len().
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // The elements themselves, nothing locked (hold get_lock() while others
  // may write): operator[] unchecked, at() checked (mp::IndexError).
  T& operator[](size_t i) const noexcept { return data_[i]; }
  T& at(size_t i) const {
    check_index(i);
    return data_[i];
  }
  std::span<T> span() const noexcept { return {data_, size_}; }
  T* data() const noexcept { return data_; }
  T* begin() const noexcept { return data_; }
  T* end() const noexcept { return data_ + size_; }

  // Python's arr[i] and arr[i] = v: one element, under the lock; out of
  // range -> mp::IndexError.
  T get(size_t i) const {
    check_index(i);
    MaybeLocked<Lock> hold(lock_);
    return data_[i];
  }
  void set(size_t i, const T& v) {
    check_index(i);
    MaybeLocked<Lock> hold(lock_);
    data_[i] = v;
  }

  // Python's arr[start:stop]: a copy, under the lock. Bounds are clamped to
  // [0, size()] as Python clamps slices.
  std::vector<T> slice(size_t start, size_t stop) const {
    clamp(start, stop);
    MaybeLocked<Lock> hold(lock_);
    return std::vector<T>(data_ + start, data_ + stop);
  }
  // Python's arr[:].
  std::vector<T> to_vector() const { return slice(0, size_); }

  // Python's arr[start:stop] = items, under the lock. The number of items
  // must be the slice's length (else mp::ValueError, nothing written).
  template <class R>
    requires kItems<R>
  void set_slice(size_t start, size_t stop, const R& items) {
    clamp(start, stop);
    if constexpr (std::ranges::sized_range<R>) {
      size_t n = static_cast<size_t>(std::ranges::size(items));
      if (n != stop - start) size_mismatch(n, stop - start);
      MaybeLocked<Lock> hold(lock_);
      copy_items(items, data_ + start);
    } else {
      std::vector<T> copy(std::ranges::begin(items), std::ranges::end(items));
      set_slice(start, stop, copy);
    }
  }
  void set_slice(size_t start, size_t stop, std::initializer_list<T> items) {
    set_slice(start, stop, std::span<const T>(items.begin(), items.size()));
  }
  // Python's arr[:] = items.
  template <class R>
    requires kItems<R>
  void assign(const R& items) {
    set_slice(0, size_, items);
  }
  void assign(std::initializer_list<T> items) { set_slice(0, size_, items); }

  // Python's `.value` of a char array: the characters up to the first NUL,
  // under the lock.
  std::string value() const
    requires std::same_as<T, char>
  {
    MaybeLocked<Lock> hold(lock_);
    return std::string(data_, std::find(data_, data_ + size_, '\0'));
  }
  // Python's `.value = s` of a char array: `s`, then a NUL if there is room.
  // Longer than the array -> mp::ValueError.
  void set_value(std::string_view s)
    requires std::same_as<T, char>
  {
    if (s.size() > size_) throw ValueError("byte string too long");
    MaybeLocked<Lock> hold(lock_);
    std::memcpy(data_, s.data(), s.size());
    if (s.size() < size_) data_[s.size()] = '\0';
  }

  // As BasicValue::get_lock().
  Lock& get_lock() const
    requires(!kRaw)
  {
    if (!lock_) no_lock_error();
    return *lock_;
  }
  bool synchronized() const noexcept { return lock_.has_value(); }

  friend bool operator==(const BasicArray& a, const BasicArray& b) noexcept {
    return a.data_ == b.data_;
  }

 private:
  friend struct Codec<BasicArray>;

  BasicArray(int64_t size, std::optional<Lock> lock)
      : size_(checked_size(size)), lock_(std::move(lock)) {
    allocate();
    if constexpr (!std::is_trivially_default_constructible_v<T>) {
      std::uninitialized_value_construct_n(data_, size_);
    }
  }
  template <class R>
  BasicArray(R&& items, std::optional<Lock> lock, int /*tag*/) : lock_(std::move(lock)) {
    if constexpr (std::ranges::sized_range<R> && std::ranges::forward_range<R>) {
      size_ = static_cast<size_t>(std::ranges::size(items));
      allocate();
      copy_items(items, data_);
    } else {
      std::vector<T> copy;
      for (auto&& item : items) copy.push_back(static_cast<T>(item));
      size_ = copy.size();
      allocate();
      copy_items(copy, data_);
    }
  }
  BasicArray(std::shared_ptr<typename Memory::Block> block, size_t size, std::optional<Lock> lock)
      : block_(std::move(block)),
        data_(std::launder(static_cast<T*>(block_->data()))),
        size_(size),
        lock_(std::move(lock)) {}

  static size_t checked_size(int64_t size) {
    if (size < 0) throw ValueError("Array length must be >= 0");
    if (static_cast<uint64_t>(size) > SIZE_MAX / sizeof(T)) throw ValueError("Array too large");
    return static_cast<size_t>(size);
  }
  void allocate() {
    block_ = Memory::make(size_ * sizeof(T), alignof(T), "mp-array");
    data_ = static_cast<T*>(block_->data());
  }
  void check_index(size_t i) const {
    if (i >= size_) throw IndexError("invalid index");
  }
  void clamp(size_t& start, size_t& stop) const {
    stop = std::min(stop, size_);
    start = std::min(start, stop);
  }
  [[noreturn]] static void size_mismatch(size_t got, size_t want) {
    throw ValueError("Can only assign sequence of same size (" + std::to_string(got) +
                     " items for " + std::to_string(want) + ")");
  }
  static std::optional<Lock> make_lock(bool wanted) {
    if constexpr (kRaw) {
      return std::nullopt;
    } else {
      return wanted ? std::optional<Lock>(Lock()) : std::nullopt;
    }
  }

  std::shared_ptr<typename Memory::Block> block_;
  T* data_ = nullptr;
  size_t size_ = 0;
  mutable std::optional<Lock> lock_;
};

}  // namespace internal

// Values and Arrays travel to children as their segment's descriptor (and
// their lock, as a lock travels).
template <class T, class Lock>
struct Codec<internal::BasicValue<T, internal::ProcessSync, Lock>> {
  using V = internal::BasicValue<T, internal::ProcessSync, Lock>;
  static void encode(Writer& w, const V& v)
    requires(std::is_same_v<Lock, internal::NoLock> || Transferable<Lock>)
  {
    w.write_pod(w.add_fd(v.block_->fd()));
    if constexpr (!std::is_same_v<Lock, internal::NoLock>) {
      Codec<std::optional<Lock>>::encode(w, v.lock_);
    }
  }
  static V decode(Reader& r)
    requires(std::is_same_v<Lock, internal::NoLock> || Transferable<Lock>)
  {
    auto block = internal::Segment::attach(r.take_fd(r.read_pod<uint32_t>()), sizeof(T));
    std::optional<Lock> lock;
    if constexpr (!std::is_same_v<Lock, internal::NoLock>) {
      lock = Codec<std::optional<Lock>>::decode(r);
    }
    return V(std::move(block), std::move(lock));
  }
};

template <class T, class Lock>
struct Codec<internal::BasicArray<T, internal::ProcessSync, Lock>> {
  using A = internal::BasicArray<T, internal::ProcessSync, Lock>;
  static void encode(Writer& w, const A& a)
    requires(std::is_same_v<Lock, internal::NoLock> || Transferable<Lock>)
  {
    w.write_pod(w.add_fd(a.block_->fd()));
    w.write_pod<uint64_t>(a.size_);
    if constexpr (!std::is_same_v<Lock, internal::NoLock>) {
      Codec<std::optional<Lock>>::encode(w, a.lock_);
    }
  }
  static A decode(Reader& r)
    requires(std::is_same_v<Lock, internal::NoLock> || Transferable<Lock>)
  {
    uint32_t fd = r.read_pod<uint32_t>();
    uint64_t size = r.read_pod<uint64_t>();
    if (size > SIZE_MAX / sizeof(T)) throw PicklingError("implausible Array size");
    auto block = internal::Segment::attach(r.take_fd(fd), static_cast<size_t>(size) * sizeof(T));
    std::optional<Lock> lock;
    if constexpr (!std::is_same_v<Lock, internal::NoLock>) {
      lock = Codec<std::optional<Lock>>::decode(r);
    }
    return A(std::move(block), static_cast<size_t>(size), std::move(lock));
  }
};

}  // namespace mp

#endif  // MP_INTERNAL_SYNC_SHAREDCTYPES_IMPL_H_
