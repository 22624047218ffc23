// A manager's proxies speak their primitives' names (docs/API.md: a proxy
// has the same methods as the primitive it stands for): the concepts below
// hold for mp::Value / mp::Array / mp::Semaphore and for their proxies alike,
// checked at compile time, and the proxies' calls behave as the primitives'.

#include <gtest/gtest.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "mp/managers.h"
#include "mp/mp.h"

namespace {

using namespace std::chrono_literals;

// What code written for a Value may call.
template <class V>
concept ValueLike = requires(V v, const typename V::value_type& x) {
  typename V::value_type;
  { v.value() } -> std::convertible_to<typename V::value_type>;
  v.set_value(x);
};

// What code written for an Array may call and get a copy from.
template <class A>
concept ArrayLike =
    requires(A a, const typename A::value_type& x, const std::vector<typename A::value_type>& xs) {
      typename A::value_type;
      { a.size() } -> std::convertible_to<size_t>;
      { a.empty() } -> std::convertible_to<bool>;
      { a.get(0) } -> std::convertible_to<typename A::value_type>;
      a.set(0, x);
      { a.slice(0, 1) } -> std::convertible_to<std::vector<typename A::value_type>>;
      a.set_slice(0, 1, xs);
      a.assign(xs);
      { a.to_vector() } -> std::convertible_to<std::vector<typename A::value_type>>;
    };

template <class S>
concept SemaphoreLike = requires(S s) {
  { s.acquire() } -> std::convertible_to<bool>;
  s.release();
  { s.get_value() } -> std::convertible_to<int>;
  { s.locked() } -> std::convertible_to<bool>;
};

// Python's acquire(block, timeout) and the std Lockable/TimedLockable calls.
template <class L>
concept Acquirable = requires(L l, bool block, std::chrono::milliseconds d,
                              std::chrono::steady_clock::time_point t) {
  { l.acquire() } -> std::same_as<bool>;
  { l.acquire(block) } -> std::same_as<bool>;
  { l.acquire(d) } -> std::same_as<bool>;
  { l.acquire(block, d) } -> std::same_as<bool>;
  l.release();
  l.lock();
  l.unlock();
  { l.try_lock() } -> std::same_as<bool>;
  { l.try_lock_for(d) } -> std::same_as<bool>;
  { l.try_lock_until(t) } -> std::same_as<bool>;
};

template <class L>
concept LockLike = Acquirable<L> && requires(L l) {
  { l.locked() } -> std::same_as<bool>;
  { l.acquired_from_dead_holder() } -> std::same_as<bool>;
  { l.repr() } -> std::same_as<std::string>;
};

template <class C>
concept ConditionLike = Acquirable<C> && requires(C c, std::chrono::milliseconds d, int n) {
  { c.wait() } -> std::same_as<bool>;
  { c.wait(d) } -> std::same_as<bool>;
  {
    c.wait_for([] { return true; })
  } -> std::same_as<bool>;
  {
    c.wait_for([] { return true; }, d)
  } -> std::same_as<bool>;
  c.notify();
  c.notify(n);
  c.notify_all();
};

static_assert(LockLike<mp::Lock> && LockLike<mp::LockProxy>);
static_assert(LockLike<mp::RLock> && LockLike<mp::RLockProxy>);
static_assert(Acquirable<mp::BoundedSemaphore> && Acquirable<mp::BoundedSemaphoreProxy>);
static_assert(ConditionLike<mp::Condition> && ConditionLike<mp::ConditionProxy>);
static_assert(ConditionLike<mp::dummy::Condition>);
// Taking a lock over from a dead holder is a lock's affair, not a semaphore's.
template <class S>
concept ReportsDeadHolder = requires(S s) { s.acquired_from_dead_holder(); };
static_assert(!ReportsDeadHolder<mp::Semaphore> && !ReportsDeadHolder<mp::SemaphoreProxy>);

static_assert(ValueLike<mp::Value<int>>);
static_assert(ValueLike<mp::ValueProxy<int>>);
static_assert(ArrayLike<mp::Array<double>>);
static_assert(ArrayLike<mp::ArrayProxy<double>>);
static_assert(SemaphoreLike<mp::Semaphore>);
static_assert(SemaphoreLike<mp::SemaphoreProxy>);
static_assert(SemaphoreLike<mp::BoundedSemaphoreProxy>);

// Written once for the primitive and the proxy.
template <ValueLike V>
int bump(V& v) {
  v.set_value(v.value() + 1);
  return v.value();
}

TEST(ProxyNames, ValueProxyTakesValueCode) {
  mp::Manager m;
  auto proxy = m.Value<int>(5);
  mp::Value<int> local(5);
  EXPECT_EQ(bump(proxy), 6);
  EXPECT_EQ(bump(local), 6);
  EXPECT_EQ(proxy.get(), 6);
}

TEST(ProxyNames, ArrayProxySlicesAsArrayDoes) {
  mp::Manager m;
  auto a = m.Array<int>(std::vector<int>{0, 1, 2, 3, 4});
  mp::Array<int> local({0, 1, 2, 3, 4});
  EXPECT_EQ(a.slice(1, 3), local.slice(1, 3));
  EXPECT_EQ(a.slice(3, 100), local.slice(3, 100));  // clamped
  EXPECT_EQ(a.slice(-2, 5), (std::vector<int>{3, 4}));
  EXPECT_TRUE(a.slice(4, 2).empty());
  a.set_slice(1, 3, std::vector<int>{7, 8});
  local.set_slice(1, 3, std::vector<int>{7, 8});
  EXPECT_EQ(a.to_vector(), local.to_vector());
  EXPECT_THROW(a.set_slice(0, 2, {1, 2, 3}), mp::ValueError);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 7, 8, 3, 4})) << "a refused write wrote nothing";
  a.assign({9, 9, 9, 9, 9});
  EXPECT_EQ(a.get(-1), 9);
  EXPECT_THROW(a.assign({1}), mp::ValueError);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a.size(), 5u);
}

TEST(ProxyNames, SemaphoreProxyLocked) {
  mp::Manager m;
  auto s = m.Semaphore(1);
  EXPECT_FALSE(s.locked());
  ASSERT_TRUE(s.acquire());
  EXPECT_TRUE(s.locked());
  s.release();
  EXPECT_FALSE(s.locked());
}

// A Condition takes its lock's timed forms too (Python: acquire(block,
// timeout) goes to the lock), over a Lock and over an RLock.
TEST(ProxyNames, ConditionAcquiresWithATimeout) {
  mp::Lock lock;
  mp::Condition over_lock(lock);
  mp::Condition over_rlock;
  ASSERT_TRUE(lock.acquire());
  EXPECT_FALSE(over_lock.acquire(true, 20ms)) << "the lock is held";
  EXPECT_FALSE(over_lock.try_lock_for(20ms));
  EXPECT_FALSE(over_lock.try_lock_until(std::chrono::steady_clock::now() + 20ms));
  EXPECT_FALSE(over_lock.acquire(false, 20ms)) << "not blocking";
  lock.release();
  EXPECT_TRUE(over_lock.acquire(true, 20ms));
  EXPECT_TRUE(lock.locked()) << "the condition's lock is the lock it was given";
  over_lock.release();
  EXPECT_TRUE(over_rlock.try_lock_for(20ms));
  EXPECT_TRUE(over_rlock.try_lock_until(std::chrono::steady_clock::now() + 20ms)) << "reentrant";
  over_rlock.release();
  over_rlock.release();
}

// Each proxy's repr names its proxy type and typeid as CPython's does.
TEST(ProxyNames, ProxiesReprAsCPythonsDo) {
  mp::Manager m;
  auto starts = [](const std::string& repr, const std::string& head) {
    return repr.starts_with("<" + head + " object, typeid '") && repr.ends_with(">");
  };
  EXPECT_TRUE(starts(m.Lock().repr(), "AcquirerProxy")) << m.Lock().repr();
  EXPECT_NE(m.Lock().repr().find("typeid 'Lock'"), std::string::npos);
  EXPECT_NE(m.RLock().repr().find("<AcquirerProxy object, typeid 'RLock' at 0x"),
            std::string::npos);
  EXPECT_NE(m.Semaphore().repr().find("typeid 'Semaphore'"), std::string::npos);
  EXPECT_NE(m.BoundedSemaphore().repr().find("typeid 'BoundedSemaphore'"), std::string::npos);
  EXPECT_TRUE(starts(m.Condition().repr(), "ConditionProxy")) << m.Condition().repr();
  EXPECT_TRUE(starts(m.Event().repr(), "EventProxy"));
  EXPECT_TRUE(starts(m.Barrier(2).repr(), "BarrierProxy"));
  EXPECT_TRUE(starts(m.Queue<int>().repr(), "AutoProxy[Queue]"));
  EXPECT_TRUE(starts(m.JoinableQueue<int>().repr(), "AutoProxy[JoinableQueue]"));
  EXPECT_TRUE(starts(m.Value<int>(1).repr(), "ValueProxy"));
  EXPECT_TRUE(starts(m.Array<int>(2).repr(), "ArrayProxy"));
  EXPECT_TRUE(starts(m.list<int>().repr(), "ListProxy"));
  EXPECT_TRUE(starts((m.dict<int, int>().repr()), "DictProxy"));
  EXPECT_TRUE(starts(m.set<int>().repr(), "SetProxy"));
  EXPECT_TRUE(starts(m.Namespace().repr(), "NamespaceProxy"));
  auto a = m.Lock(), b = m.Lock();
  EXPECT_NE(a.repr(), b.repr()) << "each names its own object";
  EXPECT_EQ(a.repr(), mp::LockProxy(a).repr()) << "a copy names the same object";
}

}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);  // the manager's server is this program again under spawn
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
