// A manager's proxies speak their primitives' names (docs/API.md: a proxy
// has the same methods as the primitive it stands for): mp/concepts.h's
// concepts hold for the primitives, mp::dummy's and the proxies alike,
// checked at compile time, and the proxies' calls behave as the primitives'.

#include <gtest/gtest.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "mp/concepts.h"
#include "mp/managers.h"
#include "mp/mp.h"

namespace {

using namespace std::chrono_literals;

// Every family satisfies its concept: the processes' primitives, mp::dummy's
// and the manager's proxies.
static_assert(mp::LockLike<mp::Lock> && mp::LockLike<mp::dummy::Lock> &&
              mp::LockLike<mp::LockProxy>);
static_assert(mp::LockLike<mp::RLock> && mp::LockLike<mp::dummy::RLock> &&
              mp::LockLike<mp::RLockProxy>);
static_assert(mp::SemaphoreLike<mp::Semaphore> && mp::SemaphoreLike<mp::dummy::Semaphore> &&
              mp::SemaphoreLike<mp::SemaphoreProxy>);
static_assert(mp::SemaphoreLike<mp::BoundedSemaphore> &&
              mp::SemaphoreLike<mp::dummy::BoundedSemaphore> &&
              mp::SemaphoreLike<mp::BoundedSemaphoreProxy>);
static_assert(mp::ConditionLike<mp::Condition> && mp::ConditionLike<mp::dummy::Condition> &&
              mp::ConditionLike<mp::ConditionProxy>);
static_assert(mp::EventLike<mp::Event> && mp::EventLike<mp::dummy::Event> &&
              mp::EventLike<mp::EventProxy>);
static_assert(mp::BarrierLike<mp::Barrier> && mp::BarrierLike<mp::dummy::Barrier> &&
              mp::BarrierLike<mp::BarrierProxy>);
static_assert(mp::QueueLike<mp::Queue<int>, int> && mp::QueueLike<mp::dummy::Queue<int>, int> &&
              mp::QueueLike<mp::QueueProxy<int>, int>);
static_assert(mp::JoinableQueueLike<mp::JoinableQueue<int>, int> &&
              mp::JoinableQueueLike<mp::dummy::JoinableQueue<int>, int> &&
              mp::JoinableQueueLike<mp::JoinableQueueProxy<int>, int>);
static_assert(mp::ValueLike<mp::Value<int>> && mp::ValueLike<mp::dummy::Value<int>> &&
              mp::ValueLike<mp::ValueProxy<int>>);
static_assert(mp::ArrayLike<mp::Array<double>> && mp::ArrayLike<mp::dummy::Array<double>> &&
              mp::ArrayLike<mp::ArrayProxy<double>>);
// Taking a lock over from a dead holder is a lock's affair, not a semaphore's.
template <class S>
concept ReportsDeadHolder = requires(S s) { s.acquired_from_dead_holder(); };
static_assert(!ReportsDeadHolder<mp::Semaphore> && !ReportsDeadHolder<mp::SemaphoreProxy>);

// Written once for the primitive and the proxy.
template <mp::ValueLike V>
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
