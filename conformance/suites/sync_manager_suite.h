// conformance/suites/sync_manager_suite.h — SyncManager's types used from a
// child, a manager's initializer, and restarting a manager on the address
// of one just shut down (CPython: TestSyncManagerTypes, TestManagerRestart,
// test_mymanager_start_initializer; rows `sync_manager.*`,
// `manager.start_initializer`, `manager.rapid_restart_same_address`).
//
// CPython runs these as plain TestCases once per start method: each test
// starts a SyncManager of its own and children under that start method. So
// this suite runs against every implementation; the report counts it in the
// columns CPython runs it for. Also the helpers the manager suite shares.

#ifndef MP_CONFORMANCE_SUITES_SYNC_MANAGER_SUITE_H_
#define MP_CONFORMANCE_SUITES_SYNC_MANAGER_SUITE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mp/mp.h"
#include "testing/conformance.h"

namespace mp::conformance {

// A manager whose server starts under Impl's start method (threads: the
// default one).
template <class Impl>
mp::SyncManager make_manager(const mp::ManagerOptions& options = {}) {
  if constexpr (requires { Impl::context(); }) {
    return mp::SyncManager(Impl::context(), options);
  } else {
    return mp::SyncManager(options);
  }
}

// A manager of the test's own, started on first use and shut down before
// the hygiene check.
template <class Impl>
class SyncManagerSuite : public ConformanceTest {
 protected:
  mp::SyncManager& manager() {
    if (!manager_) {
      manager_.emplace(make_manager<Impl>());
      manager_->start();
    }
    return *manager_;
  }
  void TearDown() override {
    if (manager_) manager_->shutdown();
    manager_.reset();
    ConformanceTest::TearDown();
  }

 private:
  std::optional<mp::SyncManager> manager_;
};
TYPED_TEST_SUITE_P(SyncManagerSuite);

// Each child reports its checks as one string: "" means all held, otherwise
// what failed first.
#define MP_CHILD_CHECK(cond)                   \
  do {                                         \
    if (!(cond)) {                             \
      out.send(std::string("failed: " #cond)); \
      return;                                  \
    }                                          \
  } while (false)

namespace manager_children {

using namespace std::chrono_literals;

inline std::string random_key() {
  std::random_device rd;
  std::string key(32, '\0');
  for (auto& c : key) c = static_cast<char>(rd());
  return key;
}

inline void event_child(mp::EventProxy event, mp::Connection out) {
  MP_CHILD_CHECK(event.is_set());
  MP_CHILD_CHECK(event.wait());
  event.clear();
  MP_CHILD_CHECK(!event.wait(1ms));
  out.send(std::string());
}

inline void acquire_child(mp::LockProxy lock, mp::Connection out) {
  MP_CHILD_CHECK(lock.acquire());
  MP_CHILD_CHECK(lock.locked());
  out.send(std::string());  // and exits holding it
}

inline void rlock_child(mp::RLockProxy lock, mp::Connection out) {
  MP_CHILD_CHECK(lock.acquire());
  MP_CHILD_CHECK(lock.acquire());
  MP_CHILD_CHECK(lock.locked());
  lock.release();
  lock.release();
  MP_CHILD_CHECK(!lock.locked());
  out.send(std::string());
}

template <class Sem>
void semaphore_child(Sem sem, mp::Connection out) {
  MP_CHILD_CHECK(sem.acquire());
  MP_CHILD_CHECK(!sem.acquire(false));
  out.send(std::string());
}

inline void condition_child(mp::ConditionProxy cond, mp::Connection out) {
  MP_CHILD_CHECK(cond.acquire());
  cond.release();
  out.send(std::string());
}

inline void barrier_child(mp::BarrierProxy barrier, mp::Connection out) {
  MP_CHILD_CHECK(barrier.parties() == 5);
  barrier.reset();
  out.send(std::string());
}

template <class Q>
void queue_child(Q q, mp::Connection out) {
  MP_CHILD_CHECK(q.qsize() == 2);
  MP_CHILD_CHECK(q.full());
  MP_CHILD_CHECK(!q.empty());
  MP_CHILD_CHECK(q.get() == 5);
  MP_CHILD_CHECK(q.get() == 6);
  MP_CHILD_CHECK(q.empty());
  out.send(std::string());
}

inline void list_child(mp::ListProxy<int> l, mp::Connection out) {
  MP_CHILD_CHECK(l.at(0) == 5);
  MP_CHILD_CHECK(l.count(5) == 1);
  MP_CHILD_CHECK(l.index(5) == 0);
  l.extend({7, 8});
  l.repeat(2);  // l *= 2
  MP_CHILD_CHECK(l.size() == 6);
  l.sort();
  MP_CHILD_CHECK((l.copy() == std::vector<int>{5, 5, 7, 7, 8, 8}));
  l.reverse();
  MP_CHILD_CHECK(l.at(0) == 8 && l.at(-1) == 5);
  MP_CHILD_CHECK(l.pop(0) == 8);
  l.clear();
  out.send(std::string());
}

inline void dict_child(mp::DictProxy<std::string, int> d, mp::Connection out) {
  MP_CHILD_CHECK(d.size() == 2);
  MP_CHILD_CHECK(d.get("foo") == 5);
  MP_CHILD_CHECK(d.get("nope", 9) == 9);
  using Item = std::pair<std::string, int>;
  MP_CHILD_CHECK((d.items() == std::vector<Item>{{"bar", 6}, {"foo", 5}}));
  MP_CHILD_CHECK((d.keys() == std::vector<std::string>{"bar", "foo"}));
  MP_CHILD_CHECK((d.values() == std::vector<int>{6, 5}));
  MP_CHILD_CHECK((d.copy() == std::map<std::string, int>{{"bar", 6}, {"foo", 5}}));
  MP_CHILD_CHECK((d.popitem() == Item{"foo", 5}));
  MP_CHILD_CHECK(d.setdefault("baz", 1) == 1 && d.setdefault("baz", 2) == 1);
  d.update({{"qux", 3}});
  MP_CHILD_CHECK(d.pop("qux") == 3);
  d.clear();
  out.send(std::string());
}

inline void value_child(mp::ValueProxy<int> v, mp::Connection out) {
  MP_CHILD_CHECK(v.value() == 1);
  MP_CHILD_CHECK(v.get() == 1);
  v.set(2);
  out.send(std::string());
}

inline void array_child(mp::ArrayProxy<int> a, mp::Connection out) {
  MP_CHILD_CHECK(a.at(0) == 0);
  MP_CHILD_CHECK(a.at(1) == 1);
  MP_CHILD_CHECK(a.size() == 2);
  MP_CHILD_CHECK((a.copy() == std::vector<int>{0, 1}));
  out.send(std::string());
}

template <class M>
concept SetFromInt = requires(M& m) { m.template set<int>(1234); };

inline void set_child(mp::SetProxy<int> s, mp::Connection out) {
  MP_CHILD_CHECK((s.copy() == std::set<int>{1, 2, 3}));
  s.add(4);
  s |= {5};
  s -= {1};
  MP_CHILD_CHECK(s.contains(5) && !s.contains(1));
  out.send(std::string());
}

inline void namespace_child(mp::NamespaceProxy ns, mp::Connection out) {
  MP_CHILD_CHECK(ns.get<int>("x") == 0);
  MP_CHILD_CHECK(ns.get<int>("y") == 1);
  out.send(std::string());
}

inline void set_pid(mp::Value<int> where) { where.set_value(static_cast<int>(::getpid())); }

inline int cube(int x) { return x * x * x; }

// Python's child enters and leaves `with pool:`, which terminates it.
inline void pool_child(mp::PoolProxy pool, mp::Connection out) {
  MP_CHILD_CHECK(pool.apply(&cube, 3) == 27);
  MP_CHILD_CHECK((pool.map(&cube, std::vector<int>{1, 2, 3}) == std::vector<int>{1, 8, 27}));
  MP_CHILD_CHECK(pool.processes() == 4);
  pool.terminate();
  pool.join();
  out.send(std::string());
}

}  // namespace manager_children

namespace mc = manager_children;
using namespace std::chrono_literals;

// Runs f(proxy..., writer) in a child of Impl and expects an empty report
// and exit code 0.
template <class Impl, class F, class... A>
void expect_child_passes(F f, A... args) {
  auto [reader, writer] = Impl::Pipe(false);
  auto p = Impl::Process(f, args..., writer);
  p.start();
  // Our copy of the child's end goes, so that a child that dies is seen as
  // EOF (a thread shares this one: it stays).
  if constexpr (Impl::kProcesses) writer.close();
  std::string report;
  try {
    report = reader.template recv<std::string>();
  } catch (const mp::EOFError&) {
    report = "the child died without a report";
  }
  p.join();
  EXPECT_EQ(report, "");
  EXPECT_EQ(p.exitcode(), 0);
}

// Containers ----------------------------------------------------------------------------

TYPED_TEST_P(SyncManagerSuite, InitializerRunsInTheServer) {
  cpython_id("manager.start_initializer");
  mp::Value<int> where(0);
  auto m = make_manager<TypeParam>();
  m.start(&mc::set_pid, where);
  EXPECT_EQ(where.value(), *m.process().pid()) << "the initializer ran in the server process";
  m.shutdown();
}

TYPED_TEST_P(SyncManagerSuite, RestartOnTheSameAddress) {
  cpython_id("manager.rapid_restart_same_address");
  const std::string key = mc::random_key();
  mp::Address address;
  std::optional<mp::QueueProxy<std::string>> first_queue;
  {
    auto m = make_manager<TypeParam>({.address = mp::TcpAddress{"127.0.0.1", 0}, .authkey = key});
    m.start();
    address = m.address();
    auto q = m.template Queue<std::string>();
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(
        +[](mp::QueueProxy<std::string> queue, mp::Connection out) {
          queue.put("hello world");
          out.send(std::string());
        },
        q, writer);
    p.start();
    if constexpr (TypeParam::kProcesses) writer.close();
    EXPECT_EQ(reader.template recv<std::string>(), "");
    p.join();
    EXPECT_EQ(q.get(), "hello world");
    m.shutdown();
  }
  // At once, on the same address (the listener reuses it).
  auto again = make_manager<TypeParam>({.address = address, .authkey = key});
  again.start();
  EXPECT_EQ(again.address(), address);
  auto q = again.template Queue<std::string>();
  q.put("again");
  EXPECT_EQ(q.get(), "again");
  again.shutdown();
}

TYPED_TEST_P(SyncManagerSuite, EventInAChild) {
  cpython_id("sync_manager.event");
  auto& m = this->manager();
  auto e = m.Event();
  e.set();
  expect_child_passes<TypeParam>(&mc::event_child, e);
  EXPECT_FALSE(e.is_set());
}

TYPED_TEST_P(SyncManagerSuite, LockHeldByTheServer) {
  cpython_id("sync_manager.lock");
  auto& m = this->manager();
  auto l = m.Lock();
  expect_child_passes<TypeParam>(&mc::acquire_child, l);
  EXPECT_TRUE(l.locked()) << "held after the child exited: the server holds it";
  l.release();
  EXPECT_THROW(l.release(), mp::RuntimeError);
}

TYPED_TEST_P(SyncManagerSuite, RLockInAChild) {
  cpython_id("sync_manager.rlock");
  expect_child_passes<TypeParam>(&mc::rlock_child, this->manager().RLock());
}

TYPED_TEST_P(SyncManagerSuite, SemaphoresReleasedByAnotherProcess) {
  cpython_id("sync_manager.semaphore,sync_manager.bounded_semaphore");
  auto& m = this->manager();
  auto s = m.Semaphore(1);
  expect_child_passes<TypeParam>(&mc::semaphore_child<mp::SemaphoreProxy>, s);
  s.release();
  EXPECT_EQ(s.get_value(), 1);
  auto b = m.BoundedSemaphore(1);
  expect_child_passes<TypeParam>(&mc::semaphore_child<mp::BoundedSemaphoreProxy>, b);
  b.release();
  EXPECT_THROW(b.release(), mp::ValueError) << "past the initial value";
}

TYPED_TEST_P(SyncManagerSuite, ConditionInAChild) {
  cpython_id("sync_manager.condition");
  expect_child_passes<TypeParam>(&mc::condition_child, this->manager().Condition());
}

TYPED_TEST_P(SyncManagerSuite, BarrierInAChild) {
  cpython_id("sync_manager.barrier");
  expect_child_passes<TypeParam>(&mc::barrier_child, this->manager().Barrier(5));
}

TYPED_TEST_P(SyncManagerSuite, QueuesInAChild) {
  cpython_id("sync_manager.queue,sync_manager.joinable_queue");
  auto& m = this->manager();
  auto q = m.template Queue<int>(2);
  q.put(5);
  q.put(6);
  expect_child_passes<TypeParam>(&mc::queue_child<mp::QueueProxy<int>>, q);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  auto j = m.template JoinableQueue<int>(2);
  j.put(5);
  j.put(6);
  expect_child_passes<TypeParam>(&mc::queue_child<mp::JoinableQueueProxy<int>>, j);
  EXPECT_TRUE(j.empty());
  j.task_done();
  j.task_done();
  j.join();
  EXPECT_THROW(j.task_done(), mp::ValueError);
}

TYPED_TEST_P(SyncManagerSuite, ListInAChild) {
  cpython_id("sync_manager.list");
  auto l = this->manager().template list<int>({5});
  expect_child_passes<TypeParam>(&mc::list_child, l);
  EXPECT_EQ(l.size(), 0u);
}

TYPED_TEST_P(SyncManagerSuite, DictInAChild) {
  cpython_id("sync_manager.dict");
  auto d = this->manager().template dict<std::string, int>({{"foo", 5}, {"bar", 6}});
  expect_child_passes<TypeParam>(&mc::dict_child, d);
  EXPECT_EQ(d.size(), 0u);
}

TYPED_TEST_P(SyncManagerSuite, ValueAndArrayInAChild) {
  cpython_id("sync_manager.value,sync_manager.array");
  auto& m = this->manager();
  auto v = m.Value(1);
  expect_child_passes<TypeParam>(&mc::value_child, v);
  EXPECT_EQ(v.value(), 2);
  EXPECT_EQ(v.get(), 2);
  auto a = m.Array(std::vector<int>{0, 1});
  expect_child_passes<TypeParam>(&mc::array_child, a);
  EXPECT_EQ(m.template Array<double>(3).copy(), (std::vector<double>{0, 0, 0})) << "zero-filled";
  EXPECT_THROW(a.at(2), mp::IndexError);
}

TYPED_TEST_P(SyncManagerSuite, NamespaceInAChild) {
  cpython_id("sync_manager.namespace");
  auto ns = this->manager().Namespace();
  ns.set("x", 0);
  ns.set("y", 1);
  expect_child_passes<TypeParam>(&mc::namespace_child, ns);
  ns.set("name", std::string("Bob"));
  EXPECT_EQ(ns.template get<std::string>("name"), "Bob");
  EXPECT_THROW(ns.template get<int>("name"), mp::TypeError) << "read back only as its type";
  EXPECT_THROW(ns.template get<int>("nobody"), mp::AttributeError);
  ns.erase("name");
  EXPECT_FALSE(ns.contains("name"));
  EXPECT_EQ(ns.names(), (std::vector<std::string>{"x", "y"}));
}

TYPED_TEST_P(SyncManagerSuite, PoolInAChild) {
  cpython_id("sync_manager.pool");
  auto pool = this->manager().Pool(4);
  EXPECT_EQ(pool.map_async(&mc::cube, std::vector<int>{2}).get(30s), std::vector<int>{8});
  expect_child_passes<TypeParam>(&mc::pool_child, pool);
  EXPECT_THROW(pool.apply(&mc::cube, 2), mp::ValueError)
      << "the child terminated the server's pool";
  EXPECT_TRUE(pool.worker_pids().empty()) << "and it joined its workers";
}

TYPED_TEST_P(SyncManagerSuite, SetOperations) {
  cpython_id("sync_manager.set_ops,sync_manager.set_methods_exposed");
  using Set = std::set<int>;
  auto s = this->manager().template set<int>(Set{1, 2, 3});
  expect_child_passes<TypeParam>(&mc::set_child, s);
  EXPECT_EQ(s.copy(), (Set{2, 3, 4, 5})) << "the child's changes are the server's";
  EXPECT_EQ((s | Set{9}), (Set{2, 3, 4, 5, 9}));
  EXPECT_EQ((Set{9} | s), (Set{2, 3, 4, 5, 9}));
  EXPECT_EQ((s & Set{3, 9}), (Set{3}));
  EXPECT_EQ((Set{3, 9} & s), (Set{3}));
  EXPECT_EQ((s - Set{2, 3}), (Set{4, 5}));
  EXPECT_EQ((Set{1, 2} - s), (Set{1}));
  EXPECT_EQ((s ^ Set{5, 6}), (Set{2, 3, 4, 6}));
  EXPECT_EQ((Set{5, 6} ^ s), (Set{2, 3, 4, 6}));
  EXPECT_EQ(s.size(), 4u) << "the plain operators leave the referent alone";
  s |= Set{6};
  s &= Set{2, 3, 4, 6};
  s -= Set{2};
  s ^= Set{3, 7};
  EXPECT_EQ(s.copy(), (Set{4, 6, 7})) << "the compound ones change it in place";
  EXPECT_TRUE(s.issubset(Set{4, 6, 7, 8}));
  EXPECT_TRUE(s.issuperset(Set{4}));
  EXPECT_TRUE(s.isdisjoint(Set{1}));
  EXPECT_THROW(s.remove(99), mp::KeyError);
  s.discard(99);
  s.clear();
  EXPECT_THROW(s.pop(), mp::KeyError);
  // The proxy offers set's public methods.
  static_assert(requires(mp::SetProxy<int> p, Set o, int i) {
    p.add(i), p.remove(i), p.discard(i), p.pop(), p.contains(i), p.size(), p.copy(), p.clear();
    p.update(o), p.intersection_update(o), p.difference_update(o), p.symmetric_difference_update(o);
    p.set_union(o), p.intersection(o), p.difference(o), p.symmetric_difference(o);
    p.isdisjoint(o), p.issubset(o), p.issuperset(o);
  });
}

TYPED_TEST_P(SyncManagerSuite, SetFromAnyCollection) {
  cpython_id("sync_manager.set_init");
  auto& m = this->manager();
  EXPECT_EQ((m.template set<int>(std::set<int>{1, 2}).copy()), (std::set<int>{1, 2}));
  EXPECT_EQ(m.template set<int>(std::vector<int>{2, 1, 2}).copy(), (std::set<int>{1, 2}))
      << "from a list";
  auto d = m.template dict<int, int>({{3, 0}, {4, 0}});
  EXPECT_EQ(m.template set<int>(d.keys()).copy(), (std::set<int>{3, 4})) << "from a dict's keys";
  // manager.set(1234) raises in Python; here an int is no collection and does
  // not compile.
  static_assert(!mc::SetFromInt<mp::SyncManager>);
}

REGISTER_TYPED_TEST_SUITE_P(SyncManagerSuite, InitializerRunsInTheServer, RestartOnTheSameAddress,
                            EventInAChild, LockHeldByTheServer, RLockInAChild,
                            SemaphoresReleasedByAnotherProcess, ConditionInAChild, BarrierInAChild,
                            QueuesInAChild, ListInAChild, DictInAChild, ValueAndArrayInAChild,
                            NamespaceInAChild, PoolInAChild, SetOperations, SetFromAnyCollection);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_SYNC_MANAGER_SUITE_H_
