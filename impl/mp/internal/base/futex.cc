#include "mp/internal/base/futex.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mp::internal {

namespace {

int op(int base, Sharing sharing) {
  return sharing == Sharing::kThreads ? (base | FUTEX_PRIVATE_FLAG) : base;
}

timespec to_timespec(Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// The start time of a live process (0 if none, or it has ended: a zombie
// counts as ended). Plain system calls: waiters call it on held locks.
uint64_t read_start_time(int32_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char line[1024];
  ssize_t n;
  do {
    n = ::read(fd, line, sizeof(line) - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return 0;
  line[n] = '\0';
  // Field 22 (starttime) counted after the command, which ends at the last ')'.
  const char* close = std::strrchr(line, ')');
  if (close == nullptr || close + 2 >= line + n) return 0;
  const char* p = close + 2;  // field 3: the state
  if (*p == 'Z' || *p == 'X' || *p == 'x') return 0;
  for (int field = 3; field < 22 && *p; ++field) {
    p = std::strchr(p, ' ');
    if (p == nullptr) return 0;
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace

bool futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, const Deadline& deadline,
                Sharing sharing) {
  // steady_clock is CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET's absolute
  // timeout uses: a signal (EINTR) simply waits again for the same deadline.
  timespec abs{};
  if (deadline) abs = to_timespec(*deadline);
  auto* addr = const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(&word));
  for (;;) {
    long r = ::syscall(SYS_futex, addr, op(FUTEX_WAIT_BITSET, sharing), expected,
                       deadline ? &abs : nullptr, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return true;
    if (errno == EAGAIN) return true;  // the word had already changed
    if (errno == ETIMEDOUT) return false;
    if (errno != EINTR) throw_errno("futex wait");
    if (word.load(std::memory_order_acquire) != expected) return true;
  }
}

int futex_wake(const std::atomic<uint32_t>& word, int count, Sharing sharing) {
  auto* addr = const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(&word));
  long woken = ::syscall(SYS_futex, addr, op(FUTEX_WAKE, sharing), count, nullptr, nullptr, 0);
  return woken > 0 ? static_cast<int>(woken) : 0;
}

namespace {

// This process's pid without a system call on the hot path: read once, and
// again in every fork child (pthread_atfork), so a lock taken in a child
// names the child. getpid() costs ~150 ns on this VM; a lock ~5 ns.
std::atomic<int32_t> g_pid{0};

int32_t current_pid() {
  int32_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    static const bool registered = [] {
      ::pthread_atfork(nullptr, nullptr, [] {
        g_pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
      });
      return true;
    }();
    (void)registered;
    pid = static_cast<int32_t>(::getpid());
    g_pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

}  // namespace

const Holder& this_holder() {
  struct ProcessPart {
    int32_t pid;
    uint64_t start_time;
  };
  static std::atomic<ProcessPart*> process{nullptr};
  thread_local Holder me;
  int32_t pid = current_pid();
  if (me.pid != pid) {  // first use in this thread, or a fork child
    ProcessPart* part = process.load(std::memory_order_acquire);
    while (part == nullptr || part->pid != pid) {
      // One per process, kept. Threads may race here on first use: the
      // loser frees its own and takes the winner's.
      auto* mine = new ProcessPart{pid, read_start_time(pid)};
      if (process.compare_exchange_strong(part, mine, std::memory_order_acq_rel)) {
        part = mine;
      } else {
        delete mine;
      }
    }
    me = Holder{pid, static_cast<int32_t>(::syscall(SYS_gettid)), part->start_time,
                Holder::identity_of(pid, part->start_time)};
  }
  return me;
}

bool holder_is_gone(int32_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  uint64_t now = read_start_time(pid);
  return now == 0 || (start_time != 0 && now != start_time);
}

}  // namespace mp::internal
