// reliability/defects_test.cc — one test per defect of issue 16, each made
// exact with mp's fault points (mp/internal/base/fault.h): a party killed at a
// named instant of a ring commit or a lock, a child whose first thread cannot
// start, a parent whose descriptor table is full right after fork(). Every
// test failed on the code before its fix.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/runtime.h"
#include "mp/internal/manager/manager_core.h"
#include "mp/mp.h"
#include "testing/conformance.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;
using conformance::mp_id;

// A word in memory shared with fork children (for what a child that
// escaped into the test would report).
std::atomic<int>& shared_counter() {
  static auto* word = [] {
    void* area = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return new (area) std::atomic<int>(0);
  }();
  return *word;
}

class Defects : public conformance::ConformanceTest {
 protected:
  void TearDown() override {
    release_stalls();
    disarm_all();
    restore_limits();
    ConformanceTest::TearDown();
  }
};

class DefectsByMethod : public Defects, public ::testing::WithParamInterface<std::string> {
 protected:
  mp::Context& ctx() { return mp::get_context(GetParam()); }
  bool forkserver() const { return GetParam() == "forkserver"; }
  // Spawn and forkserver children arm their own table from MP_FAULTS; the
  // fork server reads it when it starts.
  void arm_children(FaultPoint point, Action action) {
    if (GetParam() == "fork") {
      arm(point, action, 1, ::getpid());
      return;
    }
    ::setenv("MP_FAULTS", env_spec(point, action).c_str(), 1);
    if (forkserver()) restart_forkserver();
  }
  void disarm_children() {
    disarm_all();
    if (std::getenv("MP_FAULTS") == nullptr) return;
    ::unsetenv("MP_FAULTS");
    if (forkserver()) restart_forkserver();
  }
  static void restart_forkserver() {
    internal::stop_forkserver();
    internal::ensure_forkserver();
  }
};

std::string method_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

// Rings ---------------------------------------------------------------------------------

template <class Q>
void put_and_die_at(Q q, int point, uint64_t value) {
  arm(static_cast<FaultPoint>(point), Action::kKill);
  q.put(value);
}

template <class Q>
void get_and_die_at(Q q, int point) {
  arm(static_cast<FaultPoint>(point), Action::kKill);
  q.get();
}

// The queue holds exactly `expected`, in order: qsize() says so, a drain
// finds them, an idle get() then sleeps instead of spinning and times out,
// and a bounded queue takes maxsize new items, no more.
template <class Q>
void expect_consistent(Q& q, const std::vector<uint64_t>& expected, int maxsize) {
  EXPECT_EQ(q.qsize(), expected.size()) << "qsize() disagrees with what a drain finds";
  for (uint64_t want : expected) {
    try {
      EXPECT_EQ(q.get(5s), want);
    } catch (const mp::Empty&) {
      ADD_FAILURE() << "item " << want << " is not in the queue";
    }
  }
  auto cpu = thread_cpu_time();
  auto wall = std::chrono::steady_clock::now();
  EXPECT_THROW(q.get(300ms), mp::Empty);
  auto spent = thread_cpu_time() - cpu;
  auto waited = std::chrono::steady_clock::now() - wall;
  EXPECT_LT(spent, waited / 10) << "an idle get() spun: "
                                << std::chrono::duration<double, std::milli>(spent).count()
                                << " ms of CPU in "
                                << std::chrono::duration<double, std::milli>(waited).count()
                                << " ms";
  const int fill = maxsize > 0 ? maxsize : 3;
  for (int i = 0; i < fill; ++i) {
    try {
      q.put(100 + i, 5s);
    } catch (const mp::Full&) {
      ADD_FAILURE() << "put " << i << " of " << fill << " found the queue full";
    }
  }
  if (maxsize > 0) {
    EXPECT_THROW(q.put_nowait(999), mp::Full);
  }
  EXPECT_EQ(q.qsize(), static_cast<size_t>(fill));
  for (int i = 0; i < fill; ++i) EXPECT_EQ(q.get(5s), static_cast<uint64_t>(100 + i));
}

const FaultPoint kPutPoints[] = {FaultPoint::kRingPutLocked, FaultPoint::kRingPutWritten,
                                 FaultPoint::kRingPutCommitted, FaultPoint::kRingPutUnlocked};
const FaultPoint kGetPoints[] = {FaultPoint::kRingGetLocked, FaultPoint::kRingGetCopied,
                                 FaultPoint::kRingGetCommitted, FaultPoint::kRingGetUnlocked};

TEST_P(DefectsByMethod, QueueProducerKilledAtAnyPointOfPut) {
  mp_id("reliability.ring.commit");
  for (FaultPoint point : kPutPoints) {
    for (int maxsize : {0, 2}) {
      SCOPED_TRACE(std::string(internal::fault_point_name(point)) +
                   " maxsize=" + std::to_string(maxsize));
      mp::Queue<uint64_t> q(maxsize);
      q.put(1);
      mp::Process p(ctx(), &put_and_die_at<mp::Queue<uint64_t>>, q, static_cast<int>(point),
                    uint64_t{2});
      p.start();
      p.join(30s);
      ASSERT_EQ(p.exitcode(), -SIGKILL) << "the child did not die at the point";
      const bool committed = point >= FaultPoint::kRingPutCommitted;
      expect_consistent(q, committed ? std::vector<uint64_t>{1, 2} : std::vector<uint64_t>{1},
                        maxsize);
    }
  }
}

TEST_P(DefectsByMethod, QueueConsumerKilledAtAnyPointOfGet) {
  mp_id("reliability.ring.commit");
  for (FaultPoint point : kGetPoints) {
    for (int maxsize : {0, 2}) {
      SCOPED_TRACE(std::string(internal::fault_point_name(point)) +
                   " maxsize=" + std::to_string(maxsize));
      mp::Queue<uint64_t> q(maxsize);
      q.put(1);
      q.put(2);
      mp::Process p(ctx(), &get_and_die_at<mp::Queue<uint64_t>>, q, static_cast<int>(point));
      p.start();
      p.join(30s);
      ASSERT_EQ(p.exitcode(), -SIGKILL) << "the child did not die at the point";
      // Committed: the killed consumer took item 1 with it (the one item a
      // consumer killed mid-get may lose).
      const bool committed = point >= FaultPoint::kRingGetCommitted;
      expect_consistent(q, committed ? std::vector<uint64_t>{2} : std::vector<uint64_t>{1, 2},
                        maxsize);
    }
  }
}

// JoinableQueue.join() counts what was put: a producer killed before its put
// committed put nothing, and join() does not wait for it.
TEST_P(DefectsByMethod, JoinableQueueJoinIgnoresAPutThatNeverCommitted) {
  mp_id("reliability.ring.joinable");
  mp::JoinableQueue<uint64_t> q;
  q.put(1);
  mp::Process p(ctx(), &put_and_die_at<mp::JoinableQueue<uint64_t>>, q,
                static_cast<int>(FaultPoint::kRingPutWritten), uint64_t{2});
  p.start();
  p.join(30s);
  ASSERT_EQ(p.exitcode(), -SIGKILL);
  EXPECT_EQ(q.get(5s), 1u);
  q.task_done();
  auto joined = std::async(std::launch::async, [&q] { q.join(); });
  if (joined.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "join() waits for an item that was never put";
    q.task_done();  // lets the stuck join() return
  }
  EXPECT_THROW(q.task_done(), mp::ValueError);
}

// With a small buffer the overflow lane is reused round after round; its
// drained pages go back to the kernel while a producer may be writing there.
// The consumer (this process) lingers at that instant; the producer (a
// child) fills the hot lane meanwhile and goes on into the overflow lane.
// The producer sets `full` whenever it finds no room in either lane.
void produce_checked(mp::Queue<std::string> q, mp::Event full, int count, int size) {
  for (int i = 0; i < count; ++i) {
    std::string item(static_cast<size_t>(size), static_cast<char>('a' + i % 26));
    std::memcpy(item.data(), &i, sizeof(i));
    if (!q.try_put(item)) {
      full.set();
      q.put(item);
    }
  }
}

TEST_P(DefectsByMethod, OverflowLaneReleaseNeverHolesAProducersRecord) {
  mp_id("reliability.ring.release_overflow");
  // 3,000 items of 3,000 bytes through 64 KiB lanes. A consumer that keeps
  // up leaves the overflow lane unused and never releases it (a released lane
  // takes 1 MiB of traffic), so every 50 items it lets the producer fill both
  // lanes, then races it: the lane is drained, and released, while the
  // producer is still writing.
  constexpr int kCount = 3000, kSize = 3000, kPhase = 50;
  mp::Queue<std::string> q(mp::QueueOptions{.buffer_bytes = 64 * 1024});
  mp::Event full;
  arm(FaultPoint::kRingReleasing, Action::kSleep, -1, 0, 3000);
  mp::Process p(ctx(), &produce_checked, q, full, kCount, kSize);
  p.start();
  int bad = 0;
  for (int i = 0; i < kCount && bad == 0; ++i) {
    try {
      // Past the last phase's start the producer may finish without
      // filling them again.
      if (i % kPhase == 0 && i + kPhase <= kCount) {
        if (!full.wait(30s)) throw std::runtime_error("the producer never filled the queue");
        full.clear();
      }
      std::string item = q.get(30s);
      int index = -1;
      if (item.size() == kSize) std::memcpy(&index, item.data(), sizeof(index));
      if (index != i || item.find_first_not_of(static_cast<char>('a' + i % 26), sizeof(int)) !=
                            std::string::npos) {
        ADD_FAILURE() << "item " << i << " arrived damaged (" << item.size() << " bytes)";
        ++bad;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "item " << i << ": " << e.what();
      ++bad;
    }
  }
  if (bad) p.kill();
  p.join(30s);
  EXPECT_GT(fired(FaultPoint::kRingReleasing), 0) << "the overflow lane was never released";
}

// Pools: a worker killed in the middle of publishing its result fails its
// task with WorkerLostError, and the pool goes on.
int twice(int x) { return 2 * x; }

// Fork workers share the test's arming table: the owner, which puts tasks,
// is spared.
void die_in_one_worker(mp::Semaphore ticket, pid_t owner) {
  if (ticket.acquire(false)) arm(FaultPoint::kRingPutWritten, Action::kKill, 1, owner);
}

TEST_P(DefectsByMethod, PoolWorkerKilledWhilePublishingFailsItsTaskOnly) {
  mp_id("reliability.pool.result_commit");
  mp::Semaphore ticket(1);
  mp::Pool pool(ctx(), {.processes = 1, .initializer = {&die_in_one_worker, ticket, ::getpid()}});
  // The only task in flight: nothing published after it can make up for a
  // miscount of what was published before it.
  auto result = pool.apply_async(&twice, 21);
  try {
    result.get(30s);
    ADD_FAILURE() << "the task succeeded, though its worker died publishing the result";
  } catch (const mp::WorkerLostError&) {
  } catch (const mp::TimeoutError&) {
    ADD_FAILURE() << "the task never failed: the pool lost track of it";
  }
  std::vector<int> xs(20);
  for (int i = 0; i < 20; ++i) xs[i] = i;
  std::vector<int> ys = pool.map(&twice, xs);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ys[i], 2 * i);
}

// Locks -----------------------------------------------------------------------------------

// Takes the lock and lingers between taking its word and naming itself (as a
// holder preempted there would), then counts itself in and out.
void hold_slowly(mp::Lock lock, mp::Value<int> holders) {
  arm(FaultPoint::kLockTaken, Action::kSleep, 1, 0, 2'000'000);
  lock.acquire();
  holders.set_value(holders.value() + 1);
  holders.set_value(holders.value() - 1);
  lock.release();
}

TEST_P(DefectsByMethod, LockHolderNotYetNamedIsNotJudgedDead) {
  mp_id("reliability.lock.identity");
  mp::Lock lock;
  mp::Value<int> holders(0);
  mp::Process p(ctx(), &hold_slowly, lock, holders);
  p.start();
  auto until = std::chrono::steady_clock::now() + 30s;
  while (!lock.locked() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  ASSERT_TRUE(lock.locked());
  // The holder is alive: a second holder must not appear while it lingers.
  EXPECT_FALSE(lock.acquire(1s)) << "the lock was taken from a live holder";
  EXPECT_TRUE(lock.acquire(30s));
  lock.release();
  p.join(30s);
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(holders.value(), 0);
}

void acquire_and_die_at(mp::Lock lock, int point) {
  arm(static_cast<FaultPoint>(point), Action::kKill);
  lock.acquire();
  lock.release();
}

TEST_P(DefectsByMethod, LockHolderKilledAtAnyPointIsTakenOver) {
  mp_id("reliability.lock.dead_holder");
  for (FaultPoint point : {FaultPoint::kLockTaken, FaultPoint::kLockReleasing}) {
    SCOPED_TRACE(internal::fault_point_name(point));
    mp::Lock lock;
    mp::Process p(ctx(), &acquire_and_die_at, lock, static_cast<int>(point));
    p.start();
    p.join(30s);
    ASSERT_EQ(p.exitcode(), -SIGKILL);
    EXPECT_TRUE(lock.acquire(30s)) << "a lock whose holder died was never taken over";
    EXPECT_TRUE(lock.acquired_from_dead_holder());
    lock.release();
  }
}

// Children ----------------------------------------------------------------------------------

void set_event(mp::Event ran) { ran.set(); }

// A child whose first thread cannot start (no address space left for its
// stack: EAGAIN) ends with exit code 1 without running its target, under
// every start method; nothing of it returns into the parent's code.
// The sanitizers' runtimes cannot work with the address space capped or the
// descriptor table full themselves: those faults are plain-build tests.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST_P(DefectsByMethod, ChildWhoseThreadCannotStartExitsAlone) {
  mp_id("reliability.child.entry");
  if (kSanitized) GTEST_SKIP() << "a sanitizer's runtime needs the address space this caps";
  std::atomic<int>& escaped = shared_counter();
  escaped = 0;
  const pid_t me = ::getpid();
  mp::Event ran;
  arm_children(FaultPoint::kChildStarting, Action::kNoThreads);
  mp::Process p(ctx(), {.daemon = true}, &set_event, ran);
  try {
    p.start();
  } catch (...) {
  }
  if (::getpid() != me) {
    escaped.fetch_add(1);
    ::_exit(0);
  }
  p.join(30s);
  disarm_children();
  EXPECT_EQ(escaped.load(), 0) << "the child went on running the parent's code";
  EXPECT_FALSE(ran.is_set());
  EXPECT_EQ(p.exitcode(), 1);
}

TEST(DefectsFork, PoolWorkerWhoseThreadCannotStartIsReplaced) {
  mp_id("reliability.child.entry");
  if (kSanitized) GTEST_SKIP() << "a sanitizer's runtime needs the address space this caps";
  std::atomic<int>& escaped = shared_counter();
  escaped = 0;
  const pid_t me = ::getpid();
  arm(FaultPoint::kChildStarting, Action::kNoThreads, 1, me);
  std::optional<mp::Pool> pool;
  try {
    pool.emplace(mp::get_context("fork"), mp::PoolOptions{.processes = 3});
  } catch (...) {
  }
  if (::getpid() != me) {
    escaped.fetch_add(1);
    ::_exit(0);
  }
  ASSERT_TRUE(pool.has_value());
  std::vector<int> xs{1, 2, 3, 4, 5, 6};
  try {
    EXPECT_EQ(pool->map_async(&twice, xs).get(60s), (std::vector<int>{2, 4, 6, 8, 10, 12}));
  } catch (const mp::TimeoutError&) {
    ADD_FAILURE() << "the pool never ran its tasks";
  }
  EXPECT_EQ(escaped.load(), 0);
  EXPECT_EQ(fired(FaultPoint::kChildStarting), 1);
  pool.reset();
  disarm_all();
}

void nothing() {}

// The parent cannot open the new child's pidfd (its descriptor table is
// full): start() fails, and the child it made is not left behind (the
// hygiene check after the test finds no child and no zombie).
TEST_P(DefectsByMethod, ChildIsReapedWhenItsPidfdCannotBeOpened) {
  mp_id("reliability.child.reaped");
  if (kSanitized) GTEST_SKIP() << "a sanitizer's runtime needs the descriptors this takes";
  if (forkserver()) {
    // The fork server opens its children's pidfds itself; the parent opens
    // only the server's.
    internal::stop_forkserver();
    arm(FaultPoint::kChildLaunched, Action::kNoDescriptors, 1);
    EXPECT_THROW(internal::ensure_forkserver(), std::system_error);
    restore_limits();
    disarm_all();
    internal::ensure_forkserver();
    return;
  }
  mp::Process p(ctx(), &nothing);
  arm(FaultPoint::kChildLaunched, Action::kNoDescriptors, 1);
  EXPECT_THROW(p.start(), std::system_error);
  restore_limits();
}

INSTANTIATE_TEST_SUITE_P(Methods, DefectsByMethod, ::testing::Values("fork", "spawn", "forkserver"),
                         method_name);

// Mutexes a fork child inherits ---------------------------------------------------------------

// A thread of the parent keeps taking a mutex while the parent forks; every
// child then takes the same mutex once. A child that inherited it locked
// would wait forever.
//
// Plain builds only: GCC 12's AddressSanitizer allocator takes no lock
// around fork(), so a child forked while the hammering thread allocates can
// inherit the sanitizer's own allocator lock held and wait in malloc forever
// (seen in SizeClassAllocator64::GetFromAllocator), whatever mp does.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kForkUnsafeMalloc = true;
#else
constexpr bool kForkUnsafeMalloc = false;
#endif
#define MP_SKIP_IF_FORK_UNSAFE_MALLOC()                                                     \
  if (kForkUnsafeMalloc)                                                                    \
  GTEST_SKIP() << "this sanitizer's malloc is not fork-safe with other threads allocating " \
                  "(the plain build runs this test)"
template <class Use>
int children_that_hang(Use use) {
  std::atomic<bool> stop{false};
  std::thread hammer([&] {
    while (!stop.load(std::memory_order_relaxed)) use();
  });
  std::vector<mp::Process> children;
  for (int i = 0; i < 60; ++i) {
    children.emplace_back(mp::get_context("fork"), [use] { use(); });
    children.back().start();
  }
  stop = true;
  hammer.join();
  int hung = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  for (auto& c : children) {
    c.join(std::max(until - std::chrono::steady_clock::now(),
                    std::chrono::steady_clock::duration::zero()));
    if (c.exitcode() != 0) {
      ++hung;
      c.kill();
      c.join();
    }
  }
  return hung;
}

void noop_hook() {}

TEST_F(Defects, ForkChildNeverInheritsALockedLaunchSettingsMutex) {
  mp_id("reliability.fork.mutexes");
  MP_SKIP_IF_FORK_UNSAFE_MALLOC();
  EXPECT_EQ(children_that_hang([] { (void)internal::executable(); }), 0);
}

TEST_F(Defects, ForkChildNeverInheritsALockedHooksMutex) {
  mp_id("reliability.fork.mutexes");
  MP_SKIP_IF_FORK_UNSAFE_MALLOC();
  EXPECT_EQ(children_that_hang([] { internal::add_runtime_hooks(&noop_hook); }), 0);
}

TEST_F(Defects, ForkChildNeverInheritsALockedManagerLinkTable) {
  mp_id("reliability.fork.mutexes");
  MP_SKIP_IF_FORK_UNSAFE_MALLOC();
  const mp::Address address = std::string("/nonexistent/mp-reliability");
  EXPECT_EQ(children_that_hang([address] { internal::ManagerLink::get(address, "key"); }), 0);
}

// A key's link outlives its proxies: getting it again after the last one
// went publishes no new table (each table published is kept for good, so a
// process that received proxies one at a time grew without bound).
TEST_F(Defects, ManagerLinkOutlivesItsProxies) {
  mp_id("reliability.manager.link_interned");
  const mp::Address address = std::string("/nonexistent/mp-reliability-interned");
  std::weak_ptr<const internal::ManagerLink> first = internal::ManagerLink::get(address, "key");
  EXPECT_FALSE(first.expired());
  EXPECT_EQ(internal::ManagerLink::get(address, "key"), first.lock());
  EXPECT_NE(internal::ManagerLink::get(address, "other key"), first.lock());
}

TEST_F(Defects, ForkChildNeverInheritsALockedServantRegistry) {
  mp_id("reliability.fork.mutexes");
  MP_SKIP_IF_FORK_UNSAFE_MALLOC();
  EXPECT_EQ(children_that_hang([] { (void)internal::find_servant("no such type"); }), 0);
}

// The guardian a tracked SharedMemory needs is this program started again,
// which only mp::init() turns into the guardian: without it, the copy ran
// main() and created again, starting copies without end (found when a test
// main without init() did it).
TEST_F(Defects, NoInitProgramGetsAnErrorNotCopiesOfItself) {
  mp_id("reliability.no_init_guardian");
  mp::conformance::Ran ran = mp::conformance::run_program({"reliability/no_init_shm_main"});
  EXPECT_FALSE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
  EXPECT_NE(ran.err.find("mp::init(argc, argv)"), std::string::npos) << ran.err;
}

}  // namespace
}  // namespace mp::reliability
