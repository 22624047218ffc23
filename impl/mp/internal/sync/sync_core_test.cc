// The futex-based primitives from the inside: the lock word and its holder,
// a dead holder's lock handed over, re-entrancy depth, semaphore bounds,
// events and conditions whose waiters died. Children are plain fork()s that
// _exit, holding state in a shared segment (shm.h's Shared, as the primitives do).

#include "mp/internal/sync/sync_core.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "mp/internal/base/shm.h"

namespace mp::internal {
namespace {

using namespace std::chrono_literals;

// Runs `body` in a fork child that then _exits with its result; returns the
// exit status (-signal if killed).
template <class Body>
int in_child(Body body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

const Deadline kNow = deadline_after(0s);

TEST(SyncCore, TheLockWordNamesItsHolder) {
  auto s = Shared<LockState>::create("mp-test");
  EXPECT_FALSE(lock_held(*s));
  EXPECT_EQ(lock_acquire(*s, std::nullopt, Sharing::kProcesses), Acquired::kYes);
  EXPECT_TRUE(lock_held(*s));
  EXPECT_TRUE(lock_is_mine(*s));
  EXPECT_EQ(lock_holder_pid(*s), ::getpid());
  EXPECT_NE((*s).owner.load(), 0u) << "the identity is published while held";
  EXPECT_EQ(lock_acquire(*s, kNow, Sharing::kProcesses), Acquired::kNo) << "not re-entrant";
  EXPECT_EQ(in_child([&] { return lock_acquire(*s, kNow, Sharing::kProcesses) == Acquired::kNo; }),
            1)
      << "a live holder in another process keeps it";
  EXPECT_TRUE(lock_release(*s, Sharing::kProcesses));
  EXPECT_FALSE(lock_held(*s));
  EXPECT_EQ((*s).owner.load(), 0u) << "cleared before the word is freed";
  EXPECT_FALSE(lock_release(*s, Sharing::kProcesses)) << "not held";
}

TEST(SyncCore, ADeadHoldersLockGoesToOneWaiter) {
  auto s = Shared<LockState>::create("mp-test");
  ASSERT_EQ(in_child([&] {
              return lock_acquire(*s, std::nullopt, Sharing::kProcesses) == Acquired::kYes ? 0 : 1;
            }),
            0);
  ASSERT_TRUE(lock_held(*s)) << "the child exited holding it";
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(lock_acquire(*s, deadline_after(30s), Sharing::kProcesses), Acquired::kFromDeadHolder);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s) << "within a few owner checks";
  EXPECT_EQ((*s).recoveries.load(), 1u);
  EXPECT_TRUE(lock_is_mine(*s));
  EXPECT_TRUE(lock_release(*s, Sharing::kProcesses));
  EXPECT_EQ(lock_acquire(*s, kNow, Sharing::kProcesses), Acquired::kYes)
      << "an ordinary lock again";
  lock_release(*s, Sharing::kProcesses);
}

TEST(SyncCore, AHolderWhoseIdentityIsNotYetPublishedIsAlive) {
  auto s = Shared<LockState>::create("mp-test");
  // As if a live process (this one) had taken the word and not yet
  // published its identity: waiters must not judge it dead.
  (*s).word.store((static_cast<uint32_t>(::getpid()) << 2) | 1);
  EXPECT_EQ(lock_acquire(*s, deadline_after(300ms), Sharing::kProcesses), Acquired::kNo);
  EXPECT_EQ((*s).recoveries.load(), 0u);
  (*s).word.store(0);
}

TEST(SyncCore, RLockDepthIsReleasedAndRestoredWhole) {
  auto s = Shared<LockState>::create("mp-test");
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(rlock_acquire(*s, kNow, Sharing::kProcesses), Acquired::kYes);
  }
  EXPECT_EQ((*s).count.load(), 3u);
  EXPECT_EQ(in_child([&] { return rlock_release(*s, Sharing::kProcesses) ? 1 : 0; }), 0)
      << "only the holder may release";
  EXPECT_EQ(rlock_release_all(*s, Sharing::kProcesses), 3u);
  EXPECT_FALSE(lock_held(*s));
  rlock_restore(*s, 3, Sharing::kProcesses);
  EXPECT_EQ((*s).count.load(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rlock_release(*s, Sharing::kProcesses));
  EXPECT_FALSE(lock_held(*s));
  EXPECT_FALSE(rlock_release(*s, Sharing::kProcesses));
}

TEST(SyncCore, SemaphoreCountsAndItsBoundHolds) {
  auto s = Shared<SemaphoreState>::create("mp-test");
  (*s).value.store(2);
  (*s).max = 2;
  EXPECT_FALSE(semaphore_release(*s, Sharing::kProcesses)) << "bounded at 2";
  EXPECT_TRUE(semaphore_acquire(*s, kNow, Sharing::kProcesses));
  EXPECT_TRUE(semaphore_acquire(*s, kNow, Sharing::kProcesses));
  EXPECT_FALSE(semaphore_acquire(*s, deadline_after(30ms), Sharing::kProcesses)) << "at 0";
  // Another process's release wakes a waiter here.
  std::thread waker([&] {
    EXPECT_EQ(in_child([&] { return semaphore_release(*s, Sharing::kProcesses) ? 0 : 1; }), 0);
  });
  EXPECT_TRUE(semaphore_acquire(*s, deadline_after(30s), Sharing::kProcesses));
  waker.join();
  EXPECT_EQ((*s).value.load(), 0u);
}

TEST(SyncCore, EventWaitersSeeTheSetFromAnotherProcess) {
  auto s = Shared<EventState>::create("mp-test");
  EXPECT_FALSE(event_wait(*s, kNow, Sharing::kProcesses));
  std::thread setter([&] {
    EXPECT_EQ(in_child([&] {
                event_set(*s, Sharing::kProcesses);
                return 0;
              }),
              0);
  });
  EXPECT_TRUE(event_wait(*s, deadline_after(30s), Sharing::kProcesses));
  setter.join();
  event_clear(*s);
  EXPECT_FALSE(event_wait(*s, deadline_after(10ms), Sharing::kProcesses));
}

TEST(SyncCore, ANotifyPassesOverADeadWaiter) {
  auto s = Shared<ConditionState>::create("mp-test");
  // A waiter enters and dies in its sleep, as a process killed in wait().
  pid_t dead = ::fork();
  if (dead == 0) {
    int slot = condition_enter(*s);
    condition_sleep(*s, slot, std::nullopt, Sharing::kProcesses);
    ::_exit(0);
  }
  // Once it sleeps in its slot, kill it.
  for (auto until = std::chrono::steady_clock::now() + 30s;
       (*s).waiting.load() == 0 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(1ms);  // polling the count, not waiting it out
  }
  ASSERT_EQ((*s).waiting.load(), 1u);
  ::kill(dead, SIGKILL);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  // This thread waits next; one notify must reach it, not the dead one.
  int mine = condition_enter(*s);
  ASSERT_GE(mine, 0);
  EXPECT_EQ(condition_notify(*s, 1, Sharing::kProcesses), 1);
  EXPECT_TRUE(condition_sleep(*s, mine, deadline_after(5s), Sharing::kProcesses))
      << "the notification went to the live waiter";
}

}  // namespace
}  // namespace mp::internal
