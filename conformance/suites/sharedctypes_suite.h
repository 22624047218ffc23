// conformance/suites/sharedctypes_suite.h — Value, RawValue, Array,
// RawArray, copy() (CPython: _TestValue, _TestArray, _TestSharedCTypes,
// _TestHeap; rows `value.*`, `array.*`, `sharedctypes.*`, `heap.*`).

#ifndef MP_CONFORMANCE_SUITES_SHAREDCTYPES_SUITE_H_
#define MP_CONFORMANCE_SUITES_SHAREDCTYPES_SUITE_H_

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <ranges>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "mp/mp.h"
#include "testing/conformance.h"

namespace mp::conformance {

template <class Impl>
class SharedctypesSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(SharedctypesSuite);

namespace value_children {

using namespace std::chrono_literals;

// A Value or a RawValue of T, as the test asks.
template <class Impl, bool kRaw, class T>
using ValueOf =
    std::conditional_t<kRaw, typename Impl::template RawValue<T>, typename Impl::template Value<T>>;
template <class Impl, bool kRaw, class T>
using ArrayOf =
    std::conditional_t<kRaw, typename Impl::template RawArray<T>, typename Impl::template Array<T>>;

// CPython's _TestValue.codes_values: (initial, what the child writes).
template <class Impl, bool kRaw>
void set_typecodes(ValueOf<Impl, kRaw, int> i, ValueOf<Impl, kRaw, double> d,
                   ValueOf<Impl, kRaw, int16_t> h, ValueOf<Impl, kRaw, int64_t> q,
                   ValueOf<Impl, kRaw, char> c) {
  i.set_value(24234);
  d.set_value(-4.25);
  h.set_value(234);
  q.set_value(int64_t{1} << 34);
  c.set_value('y');
}

// CPython's _TestArray.f: prefix sums in place.
template <class Array>
void prefix_sums(Array seq) {
  for (size_t i = 1; i < seq.size(); ++i) seq[i] += seq[i - 1];
}

// CPython's _TestSharedCTypes.
struct Point {
  int x;
  double y;
  friend bool operator==(const Point&, const Point&) = default;
};
struct Foo {
  int x;
  double y;
  int64_t z;
};

template <class Impl>
void double_everything(typename Impl::template Value<int> x,
                       typename Impl::template Value<double> y,
                       typename Impl::template Value<int64_t> z,
                       typename Impl::template Value<Point> foo,
                       typename Impl::template Array<double> arr,
                       typename Impl::template Array<char> string) {
  x.set_value(x.value() * 2);
  y.set_value(y.value() * 2);
  z.set_value(z.value() * 2);
  Point p = foo.value();
  p.x *= 2;
  p.y *= 2;
  foo.set_value(p);
  for (size_t i = 0; i < arr.size(); ++i) arr.set(i, arr.get(i) * 2);
  std::string s = string.value();
  string.set_value(s + s);
}

// Adds 1 `n` times under the object's own lock, several steps each time.
template <class Value, class Array>
void increment_locked(Value v, Array a, int n) {
  for (int i = 0; i < n; ++i) {
    {
      std::scoped_lock guard(v.get_lock());
      v.raw() += 1;
    }
    std::scoped_lock guard(a.get_lock());
    for (auto& item : a) item += 1;
  }
}

template <class RawValue>
void increment_atomically(RawValue v, int n) {
  std::atomic_ref<int64_t> counter(v.raw());
  for (int i = 0; i < n; ++i) counter.fetch_add(1, std::memory_order_relaxed);
}

template <class Value>
void hold_lock_until_gate(Value v, mp::Connection out, mp::Connection gate) {
  std::scoped_lock guard(v.get_lock());
  out.send(true);
  Gate::wait(gate);
}

// Every kind of trivially copyable type the issue names.
enum class Colour : uint8_t { kRed = 1, kBlue = 200 };
struct Pod {
  int16_t a;
  alignas(64) double b;
  char c[5];
  bool d;
  friend bool operator==(const Pod&, const Pod&) = default;
};

template <class Impl>
void write_every_type(
    typename Impl::template Value<bool> b, typename Impl::template Value<int8_t> i8,
    typename Impl::template Value<uint8_t> u8, typename Impl::template Value<uint16_t> u16,
    typename Impl::template Value<int32_t> i32, typename Impl::template Value<uint64_t> u64,
    typename Impl::template Value<float> f, typename Impl::template Value<long double> ld,
    typename Impl::template Value<char32_t> c32, typename Impl::template Value<Colour> colour,
    typename Impl::template RawValue<std::array<int, 3>> triple,
    typename Impl::template Array<Pod> pods) {
  b.set_value(true);
  i8.set_value(-128);
  u8.set_value(255);
  u16.set_value(65535);
  i32.set_value(-2147483647 - 1);
  u64.set_value(~uint64_t{0});
  f.set_value(1.5f);
  ld.set_value(-0.25L);
  c32.set_value(U'\U0001F600');
  colour.set_value(Colour::kBlue);
  triple.set_value({7, 8, 9});
  pods.set(1, Pod{-3, 2.5, {'a', 'b', 'c', 'd', 'e'}, true});
}

template <class Value, class Array>
void add_under_lock(Value v, Array a, int n, mp::Connection done) {
  increment_locked(v, a, n);
  done.send(true);
}

}  // namespace value_children

namespace vc = value_children;
using namespace std::chrono_literals;

template <class Impl, bool kRaw>
void check_value_roundtrip() {
  vc::ValueOf<Impl, kRaw, int> i(4343);
  vc::ValueOf<Impl, kRaw, double> d(3.625);
  vc::ValueOf<Impl, kRaw, int16_t> h(-232);
  vc::ValueOf<Impl, kRaw, int64_t> q(int64_t{1} << 33);
  vc::ValueOf<Impl, kRaw, char> c('x');
  EXPECT_EQ(i.value(), 4343);
  EXPECT_EQ(d.value(), 3.625);
  EXPECT_EQ(h.value(), -232);
  EXPECT_EQ(q.value(), int64_t{1} << 33);
  EXPECT_EQ(c.value(), 'x');
  auto p = Impl::Process(&vc::set_typecodes<Impl, kRaw>, i, d, h, q, c);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(i.value(), 24234);
  EXPECT_EQ(d.value(), -4.25);
  EXPECT_EQ(h.value(), 234);
  EXPECT_EQ(q.value(), int64_t{1} << 34);
  EXPECT_EQ(c.value(), 'y');
}

TYPED_TEST_P(SharedctypesSuite, ValueRoundtrip) {
  cpython_id("value.roundtrip_typecodes");
  check_value_roundtrip<TypeParam, false>();
}

TYPED_TEST_P(SharedctypesSuite, RawValueRoundtrip) {
  cpython_id("value.raw_roundtrip");
  check_value_roundtrip<TypeParam, true>();
}

TYPED_TEST_P(SharedctypesSuite, ValueLockParameter) {
  cpython_id("value.lock_parameter");
  using V = typename TypeParam::template Value<int>;
  // The default: a new RLock of its own.
  V v(5);
  EXPECT_TRUE(v.synchronized());
  static_assert(
      std::is_same_v<std::remove_cvref_t<decltype(v.get_lock())>, typename TypeParam::RLock>);
  EXPECT_TRUE(v.get_lock().acquire());
  EXPECT_TRUE(v.get_lock().acquire(false)) << "re-entrant";
  EXPECT_EQ(v.value(), 5) << "value() re-enters the lock its caller holds";
  v.get_lock().release();
  v.get_lock().release();
  EXPECT_FALSE(v.get_lock().locked());
  EXPECT_FALSE(V(5).get_lock() == v.get_lock()) << "a lock of its own";
  // {.lock = true} is the default spelled out (Python's lock=None too).
  V w(5, {.lock = true});
  EXPECT_TRUE(w.synchronized());
  EXPECT_NO_THROW(w.get_lock());
  // An explicit lock: get_lock() is that lock.
  typename TypeParam::Lock lock;
  typename TypeParam::template Value<int, typename TypeParam::Lock> x(5, lock);
  EXPECT_TRUE(x.get_lock() == lock);
  lock.acquire();
  EXPECT_TRUE(x.get_lock().locked());
  lock.release();
  typename TypeParam::RLock rlock;
  V y(6, rlock);
  EXPECT_TRUE(y.get_lock() == rlock);
  // {.lock = false}: no lock.
  V z(5, {.lock = false});
  EXPECT_FALSE(z.synchronized());
  EXPECT_THROW(z.get_lock(), mp::ValueError);
  EXPECT_EQ(z.value(), 5);
  // lock='navalue' (no acquire/release) and RawValue.get_lock: compile-time
  // errors in C++.
  constexpr bool string_as_lock = std::is_constructible_v<V, int, const char*>;
  EXPECT_FALSE(string_as_lock);
  constexpr bool raw_has_lock =
      requires(typename TypeParam::template RawValue<int>& r) { r.get_lock(); };
  EXPECT_FALSE(raw_has_lock);
}

TYPED_TEST_P(SharedctypesSuite, ValueRejectsWhatIsNotACType) {
  cpython_id("value.invalid_typecode");
  // Python's TypeError('bad typecode') at run time is a compile-time error
  // here: the alias refuses the type.
  constexpr bool string_value = requires { typename TypeParam::template Value<std::string>; };
  constexpr bool pointer_value = requires { typename TypeParam::template Value<int*>; };
  constexpr bool raw_string = requires { typename TypeParam::template RawValue<std::vector<int>>; };
  constexpr bool int_value = requires { typename TypeParam::template Value<int>; };
  EXPECT_FALSE(string_value);
  EXPECT_FALSE(pointer_value);
  EXPECT_FALSE(raw_string);
  EXPECT_TRUE(int_value);
}

TYPED_TEST_P(SharedctypesSuite, ArrayRoundtrip) {
  cpython_id("array.roundtrip_slices");
  using A = typename TypeParam::template Array<int>;
  std::vector<int> seq = {680, 626, 934, 821, 150, 233, 548, 982, 714, 831};
  A arr(seq);
  EXPECT_EQ(arr.size(), seq.size());
  for (size_t i = 0; i < seq.size(); ++i) {
    EXPECT_EQ(arr.get(i), seq[i]);
    EXPECT_EQ(arr[i], seq[i]);
  }
  EXPECT_EQ(arr.slice(2, 7), std::vector<int>(seq.begin() + 2, seq.begin() + 7));
  arr.set_slice(4, 8, std::array<int, 4>{1, 2, 3, 4});
  std::copy_n(std::array<int, 4>{1, 2, 3, 4}.begin(), 4, seq.begin() + 4);
  EXPECT_EQ(arr.to_vector(), seq);
  auto p = TypeParam::Process(&vc::prefix_sums<A>, arr);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  std::partial_sum(seq.begin(), seq.end(), seq.begin());
  EXPECT_EQ(arr.to_vector(), seq);
}

TYPED_TEST_P(SharedctypesSuite, ArrayIsZeroInitialised) {
  cpython_id("array.zero_initialised");
  for (int round = 0; round < 3; ++round) {
    typename TypeParam::template Array<int> arr(10);
    EXPECT_EQ(arr.size(), 10u);
    EXPECT_EQ(arr.to_vector(), std::vector<int>(10, 0));
    arr.assign(std::views::iota(0, 10));
    EXPECT_EQ(arr.to_vector(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  typename TypeParam::template Array<double> doubles(1000);
  EXPECT_TRUE(std::ranges::all_of(doubles, [](double x) { return x == 0.0; }));
}

TYPED_TEST_P(SharedctypesSuite, RawArrayRoundtrip) {
  cpython_id("array.raw_roundtrip");
  using A = typename TypeParam::template RawArray<int>;
  std::vector<int> seq = {680, 626, 934, 821, 150, 233, 548, 982, 714, 831};
  A arr(seq);
  EXPECT_EQ(arr.size(), seq.size());
  EXPECT_EQ(arr.slice(2, 7), std::vector<int>(seq.begin() + 2, seq.begin() + 7));
  arr.set_slice(4, 8, {1, 2, 3, 4});
  std::copy_n(std::array<int, 4>{1, 2, 3, 4}.begin(), 4, seq.begin() + 4);
  EXPECT_EQ(arr.to_vector(), seq);
  auto p = TypeParam::Process(&vc::prefix_sums<A>, arr);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  std::partial_sum(seq.begin(), seq.end(), seq.begin());
  EXPECT_EQ(arr.to_vector(), seq);
}

TYPED_TEST_P(SharedctypesSuite, ArrayLockParameter) {
  cpython_id("array.lock_parameter");
  using A = typename TypeParam::template Array<int>;
  A arr(5);
  EXPECT_TRUE(arr.synchronized());
  static_assert(
      std::is_same_v<std::remove_cvref_t<decltype(arr.get_lock())>, typename TypeParam::RLock>);
  EXPECT_FALSE(arr.get_lock().locked());
  A arr2(5, {.lock = true});
  EXPECT_FALSE(arr2.get_lock() == arr.get_lock());
  typename TypeParam::Lock lock;
  typename TypeParam::template Array<int, typename TypeParam::Lock> arr3(5, lock);
  EXPECT_TRUE(arr3.get_lock() == lock);
  typename TypeParam::template Array<int, typename TypeParam::Lock> arr3b({1, 2}, lock);
  EXPECT_TRUE(arr3b.get_lock() == lock) << "two arrays, one lock";
  A arr4(5, {.lock = false});
  EXPECT_FALSE(arr4.synchronized());
  EXPECT_THROW(arr4.get_lock(), mp::ValueError);
  constexpr bool string_as_lock = std::is_constructible_v<A, int, const char*>;
  EXPECT_FALSE(string_as_lock);
  constexpr bool raw_has_lock =
      requires(typename TypeParam::template RawArray<int>& r) { r.get_lock(); };
  EXPECT_FALSE(raw_has_lock);
}

TYPED_TEST_P(SharedctypesSuite, ArrayRejectsWhatIsNotACType) {
  cpython_id("array.invalid_typecode");
  constexpr bool string_array = requires { typename TypeParam::template Array<std::string>; };
  constexpr bool raw_pointer_array =
      requires { typename TypeParam::template RawArray<const char*>; };
  constexpr bool double_array = requires { typename TypeParam::template RawArray<double>; };
  EXPECT_FALSE(string_array);
  EXPECT_FALSE(raw_pointer_array);
  EXPECT_TRUE(double_array);
}

// CPython checks the invariants of the arena allocator behind its Values and
// Arrays. mp gives each object its own segment (or heap block): the same
// promises, checked on what they mean to a user — live objects never
// overlap, each keeps what was written to it, and once all are gone their
// memory is gone too (the test's hygiene check fails on any mapping left).
TYPED_TEST_P(SharedctypesSuite, ObjectsNeverOverlapAndAreReleased) {
  cpython_id("heap.allocator_invariants");
  using A = typename TypeParam::template RawArray<uint8_t>;
  std::mt19937 random(1234);
  std::lognormal_distribution<double> sizes(5.0, 1.5);
  std::vector<std::pair<A, uint8_t>> live;
  size_t mismatches = 0;
  size_t overlaps = 0;
  for (int i = 0; i < 2000; ++i) {
    auto size = static_cast<int64_t>(std::min(sizes(random), 200000.0));
    auto fill = static_cast<uint8_t>(i);
    A block(size);
    std::ranges::fill(block, fill);
    live.emplace_back(std::move(block), fill);
    if (live.size() > 50) {
      size_t victim = random() % live.size();
      const auto& [gone, expected] = live[victim];
      mismatches += std::ranges::count_if(gone, [e = expected](uint8_t b) { return b != e; });
      live.erase(live.begin() + static_cast<ptrdiff_t>(victim));
    }
  }
  std::vector<std::pair<const uint8_t*, const uint8_t*>> spans;
  for (const auto& [block, fill] : live) {
    mismatches += std::ranges::count_if(block, [e = fill](uint8_t b) { return b != e; });
    spans.emplace_back(block.data(), block.data() + block.size());
  }
  std::ranges::sort(spans);
  for (size_t i = 1; i < spans.size(); ++i) overlaps += spans[i].first < spans[i - 1].second;
  EXPECT_EQ(mismatches, 0u) << "a block lost what was written to it";
  EXPECT_EQ(overlaps, 0u);
}

template <class Impl>
void check_child_mutation(bool lock) {
  const mp::ValueOptions options{.lock = lock};
  typename Impl::template Value<int> x(7, options);
  typename Impl::template Value<double> y(1.0 / 3.0, options);
  typename Impl::template Value<int64_t> z(int64_t{1} << 33, options);
  typename Impl::template Value<vc::Point> foo(vc::Point{3, 2.0}, options);
  typename Impl::template Array<double> arr(std::views::iota(0, 10), options);
  typename Impl::template Array<char> string(20, options);
  string.set_value("hello");
  EXPECT_EQ(x.synchronized(), lock);
  EXPECT_EQ(arr.synchronized(), lock);
  auto p = Impl::Process(&vc::double_everything<Impl>, x, y, z, foo, arr, string);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(x.value(), 14);
  EXPECT_DOUBLE_EQ(y.value(), 2.0 / 3.0);
  EXPECT_EQ(z.value(), int64_t{1} << 34);
  EXPECT_EQ(foo.value().x, 6);
  EXPECT_EQ(foo.value().y, 4.0);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(arr.get(i), 2.0 * static_cast<double>(i));
  EXPECT_EQ(string.value(), "hellohello");
}

TYPED_TEST_P(SharedctypesSuite, ChildMutationUnlocked) {
  cpython_id("sharedctypes.child_mutation");
  check_child_mutation<TypeParam>(false);
}

TYPED_TEST_P(SharedctypesSuite, ChildMutationLocked) {
  cpython_id("sharedctypes.child_mutation_locked");
  check_child_mutation<TypeParam>(true);
}

TYPED_TEST_P(SharedctypesSuite, CopyIsIndependent) {
  cpython_id("sharedctypes.copy");
  typename TypeParam::template Value<vc::Foo> foo(vc::Foo{2, 5.0, int64_t{1} << 33});
  auto bar = mp::copy(foo);
  static_assert(std::is_same_v<decltype(bar), typename TypeParam::template RawValue<vc::Foo>>);
  foo.set_value(vc::Foo{0, 0.0, 0});
  EXPECT_EQ(foo.value().x, 0);
  EXPECT_EQ(bar.value().x, 2);
  EXPECT_EQ(bar.value().y, 5.0);
  EXPECT_EQ(bar.value().z, int64_t{1} << 33);
  typename TypeParam::template Array<int> arr({1, 2, 3});
  auto arr_copy = mp::copy(arr);
  arr.assign({0, 0, 0});
  EXPECT_EQ(arr_copy.to_vector(), (std::vector<int>{1, 2, 3}));
}

// mp's own tests ------------------------------------------------------------------

template <class Impl>
void check_across_methods() {
  // One Value and one Array, children of every start method at once.
  typename Impl::template Value<int64_t> counter(0);
  typename Impl::template Array<int64_t> cells(4);
  constexpr int kEach = 2000;
  std::vector<std::string> methods = {"spawn", "forkserver"};
#if !defined(__SANITIZE_THREAD__)
  methods.push_back("fork");
#endif
  std::vector<mp::Process> children;
  for (const std::string& method : methods) {
    using V = decltype(counter);
    using A = decltype(cells);
    children.emplace_back(mp::get_context(method), &vc::increment_locked<V, A>, counter, cells,
                          kEach);
    children.back().start();
  }
  vc::increment_locked(counter, cells, kEach);
  for (auto& child : children) {
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
  }
  const int64_t total = kEach * static_cast<int64_t>(methods.size() + 1);
  EXPECT_EQ(counter.value(), total);
  EXPECT_EQ(cells.to_vector(), std::vector<int64_t>(4, total));
}

TYPED_TEST_P(SharedctypesSuite, SharedWithSpawnAndForkserverChildren) {
  mp_id("mp.values.shared_across_start_methods");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start methods";
  } else {
    check_across_methods<TypeParam>();
  }
}

TYPED_TEST_P(SharedctypesSuite, LockedIncrementsAreExact) {
  mp_id("mp.values.locked_increments");
  using V = typename TypeParam::template Value<int64_t>;
  using A = typename TypeParam::template Array<int64_t>;
  V counter(0);
  A cells(3);
  constexpr int kEach = 20000;
  auto a = TypeParam::Process(&vc::increment_locked<V, A>, counter, cells, kEach);
  auto b = TypeParam::Process(&vc::increment_locked<V, A>, counter, cells, kEach);
  a.start();
  b.start();
  vc::increment_locked(counter, cells, kEach);
  a.join();
  b.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(b.exitcode(), 0);
  EXPECT_EQ(counter.value(), 3 * kEach);
  EXPECT_EQ(cells.to_vector(), std::vector<int64_t>(3, 3 * kEach));
}

TYPED_TEST_P(SharedctypesSuite, AtomicIncrementsOnARawValue) {
  mp_id("mp.values.atomic_ref_on_raw_value");
  using V = typename TypeParam::template RawValue<int64_t>;
  V counter(0);
  constexpr int kEach = 100000;
  auto a = TypeParam::Process(&vc::increment_atomically<V>, counter, kEach);
  a.start();
  vc::increment_atomically(counter, kEach);
  a.join();
  EXPECT_EQ(a.exitcode(), 0);
  EXPECT_EQ(counter.value(), 2 * kEach);
}

TYPED_TEST_P(SharedctypesSuite, AccessorsTakeTheLock) {
  mp_id("mp.values.accessors_take_the_lock");
  using V = typename TypeParam::template Value<int>;
  using A = typename TypeParam::template Array<int>;
  V v(1);
  A arr(2, {.lock = false});  // uses the Value's lock below
  typename TypeParam::template Array<int, typename TypeParam::RLock> shared(2, v.get_lock());
  auto [reader, writer] = TypeParam::Pipe(false);
  Gate gate;
  auto holder = TypeParam::Process(&vc::hold_lock_until_gate<V>, v, writer, gate.child_end);
  holder.start();
  ASSERT_TRUE(reader.template recv<bool>());
  std::atomic<int> done{0};
  std::atomic<pid_t> setter_tid{0};
  std::thread setter([&] {
    setter_tid = this_thread_id();
    v.set_value(2);
    done += 1;
    shared.set(0, 5);
    done += 1;
  });
  arr.set(0, 3);  // no lock: goes ahead
  EXPECT_EQ(arr.get(0), 3);
  // The setter must block on the lock; a broken accessor would finish instead.
  while (setter_tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(wait_blocked(::getpid(), setter_tid.load(), futex_calls(), 60s))
      << "set_value() did not wait for the lock another party held";
  EXPECT_EQ(done.load(), 0) << "set_value() went ahead while another party held the lock";
  gate.open();
  setter.join();
  holder.join();
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(v.value(), 2);
  EXPECT_EQ(shared.get(0), 5);
}

template <class Impl>
void check_every_type() {
  using vc::Colour;
  using vc::Pod;
  typename Impl::template Value<bool> b(false);
  typename Impl::template Value<int8_t> i8(1);
  typename Impl::template Value<uint8_t> u8(2);
  typename Impl::template Value<uint16_t> u16(3);
  typename Impl::template Value<int32_t> i32(4);
  typename Impl::template Value<uint64_t> u64(5);
  typename Impl::template Value<float> f(6.0f);
  typename Impl::template Value<long double> ld(7.0L);
  typename Impl::template Value<char32_t> c32(U'a');
  typename Impl::template Value<Colour> colour(Colour::kRed);
  typename Impl::template RawValue<std::array<int, 3>> triple(std::array<int, 3>{1, 2, 3});
  typename Impl::template Array<Pod> pods(3);
  EXPECT_EQ(pods.get(1), Pod{}) << "value-initialized";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pods.data()) % alignof(Pod), 0u);
  auto p = Impl::Process(&vc::write_every_type<Impl>, b, i8, u8, u16, i32, u64, f, ld, c32, colour,
                         triple, pods);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(b.value());
  EXPECT_EQ(i8.value(), -128);
  EXPECT_EQ(u8.value(), 255);
  EXPECT_EQ(u16.value(), 65535);
  EXPECT_EQ(i32.value(), -2147483647 - 1);
  EXPECT_EQ(u64.value(), ~uint64_t{0});
  EXPECT_EQ(f.value(), 1.5f);
  EXPECT_EQ(ld.value(), -0.25L);
  EXPECT_EQ(c32.value(), U'\U0001F600');
  EXPECT_EQ(colour.value(), Colour::kBlue);
  EXPECT_EQ(triple.value(), (std::array<int, 3>{7, 8, 9}));
  EXPECT_EQ(pods.get(0), Pod{});
  EXPECT_EQ(pods.get(1), (Pod{-3, 2.5, {'a', 'b', 'c', 'd', 'e'}, true}));
  EXPECT_EQ(pods.get(2), Pod{});
}

TYPED_TEST_P(SharedctypesSuite, EveryTriviallyCopyableType) {
  mp_id("mp.values.every_trivially_copyable_type");
  check_every_type<TypeParam>();
}

TYPED_TEST_P(SharedctypesSuite, BadInput) {
  mp_id("mp.values.bad_input");
  using A = typename TypeParam::template Array<int>;
  EXPECT_THROW(A(-1), mp::ValueError);
  EXPECT_THROW(typename TypeParam::template RawArray<char>(-5), mp::ValueError);
  A arr({1, 2, 3});
  EXPECT_THROW(arr.at(3), mp::IndexError);
  EXPECT_THROW(arr.get(3), mp::IndexError);
  EXPECT_THROW(arr.set(3, 0), mp::IndexError);
  EXPECT_THROW(arr.at(static_cast<size_t>(-1)), mp::IndexError);
  EXPECT_EQ(arr.at(2), 3);
  EXPECT_THROW(arr.set_slice(0, 2, std::vector<int>{7, 8, 9}), mp::ValueError);
  EXPECT_THROW(arr.assign({7, 8}), mp::ValueError);
  EXPECT_EQ(arr.to_vector(), (std::vector<int>{1, 2, 3})) << "nothing written";
  EXPECT_EQ(arr.slice(1, 100), (std::vector<int>{2, 3})) << "slices clamp, as Python's";
  EXPECT_EQ(arr.slice(5, 2), std::vector<int>{});
  typename TypeParam::template Array<char> text(5);
  text.set_value("abcde");
  EXPECT_EQ(text.value(), "abcde") << "no room for a NUL: all five";
  EXPECT_THROW(text.set_value("abcdef"), mp::ValueError);
  EXPECT_EQ(text.value(), "abcde");
  A empty(0);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.to_vector(), std::vector<int>{});
}

TYPED_TEST_P(SharedctypesSuite, CopiesOfAHandleAreOneObject) {
  mp_id("mp.values.handles_share");
  typename TypeParam::template Value<int> v(1);
  auto v2 = v;
  v2.set_value(3);
  EXPECT_EQ(v.value(), 3);
  EXPECT_TRUE(v == v2);
  EXPECT_TRUE(v.get_lock() == v2.get_lock());
  typename TypeParam::template Array<int> arr(3);
  typename TypeParam::template Array<int> same(arr);  // a non-const lvalue: still the handle
  same[1] = 9;
  EXPECT_EQ(arr.get(1), 9);
  EXPECT_TRUE(arr == same);
  typename TypeParam::template Array<int> other(arr.span());  // a range: a new array
  other[1] = 4;
  EXPECT_EQ(arr.get(1), 9);
  EXPECT_FALSE(arr == other);
}

REGISTER_TYPED_TEST_SUITE_P(SharedctypesSuite, ValueRoundtrip, RawValueRoundtrip,
                            ValueLockParameter, ValueRejectsWhatIsNotACType, ArrayRoundtrip,
                            ArrayIsZeroInitialised, RawArrayRoundtrip, ArrayLockParameter,
                            ArrayRejectsWhatIsNotACType, ObjectsNeverOverlapAndAreReleased,
                            ChildMutationUnlocked, ChildMutationLocked, CopyIsIndependent,
                            SharedWithSpawnAndForkserverChildren, LockedIncrementsAreExact,
                            AtomicIncrementsOnARawValue, AccessorsTakeTheLock,
                            EveryTriviallyCopyableType, BadInput, CopiesOfAHandleAreOneObject);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_SHAREDCTYPES_SUITE_H_
