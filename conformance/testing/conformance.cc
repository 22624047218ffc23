#include "testing/conformance.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <system_error>
#include <thread>

#include "mp/internal/base/fd.h"

namespace mp::conformance {

namespace {

struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  std::string test;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool started = false;
};

Watchdog& watchdog() {
  static auto* w = new Watchdog;  // never destroyed: its thread outlives main
  return *w;
}

void watch() {
  Watchdog& w = watchdog();
  std::unique_lock lock(w.mu);
  for (;;) {
    if (w.deadline == std::chrono::steady_clock::time_point::max()) {
      w.cv.wait(lock);
      continue;
    }
    if (w.cv.wait_until(lock, w.deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= w.deadline) {
      std::fprintf(stderr,
                   "\nconformance: %s is still running after its time limit; "
                   "killing its children and aborting\n",
                   w.test.c_str());
      kill_descendants();
      std::_Exit(3);
    }
  }
}

}  // namespace

void arm_watchdog(const std::string& test_name, std::chrono::seconds limit) {
  Watchdog& w = watchdog();
  std::lock_guard lock(w.mu);
  if (!w.started) {
    w.started = true;
    std::thread(watch).detach();
  }
  w.test = test_name;
  w.deadline = std::chrono::steady_clock::now() + limit;
  w.cv.notify_all();
}

void disarm_watchdog() {
  Watchdog& w = watchdog();
  std::lock_guard lock(w.mu);
  w.deadline = std::chrono::steady_clock::time_point::max();
  w.cv.notify_all();
}

std::optional<long> blocked_syscall(pid_t pid, pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(in >> first) || first == "running" || first.empty()) return std::nullopt;
  char* end = nullptr;
  long number = std::strtol(first.c_str(), &end, 10);
  if (*end != '\0' || number < 0) return std::nullopt;
  return number;
}

bool wait_blocked(pid_t pid, pid_t tid, std::vector<long> calls, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  const std::string task = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
  while (std::chrono::steady_clock::now() < until) {
    if (::access(task.c_str(), F_OK) != 0) return false;  // the thread is gone
    std::optional<long> call = blocked_syscall(pid, tid);
    if (call && (calls.empty() || std::find(calls.begin(), calls.end(), *call) != calls.end())) {
      return true;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(1));  // polling the state, not waiting it out
  }
  return false;
}

std::vector<long> futex_calls() { return {SYS_futex}; }

std::vector<long> descriptor_calls() {
  return {SYS_read,       SYS_write,       SYS_poll,   SYS_ppoll,   SYS_select, SYS_pselect6,
          SYS_recvfrom,   SYS_recvmsg,     SYS_sendto, SYS_sendmsg, SYS_accept, SYS_accept4,
          SYS_epoll_wait, SYS_epoll_pwait, SYS_waitid, SYS_wait4};
}

pid_t this_thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

OpenWhenBlocked::OpenWhenBlocked(Gate& gate, std::vector<long> calls, pid_t tid,
                                 std::chrono::seconds limit)
    : watcher_([this, &gate, calls = std::move(calls), tid, limit] {
        blocked_ = wait_blocked(::getpid(), tid, calls, limit);
        gate.open();
      }) {}

OpenWhenBlocked::~OpenWhenBlocked() {
  if (watcher_.joinable()) watcher_.join();
}

bool OpenWhenBlocked::saw_it_blocked() {
  if (watcher_.joinable()) watcher_.join();
  return blocked_;
}

bool wait_removed(const std::vector<std::string>& names, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  mp::internal::UniqueFd watch(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!watch || ::inotify_add_watch(watch.get(), "/dev/shm", IN_DELETE) < 0) return false;
  for (;;) {
    bool any = false;
    for (const std::string& name : names) {
      any = any || ::access(("/dev/shm/" + name).c_str(), F_OK) == 0;
    }
    if (!any) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{watch.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
      char events[4096];
      while (::read(watch.get(), events, sizeof(events)) > 0) {
      }
    }
  }
}

bool wait_process_gone(pid_t pid, std::chrono::seconds limit) {
  mp::internal::UniqueFd watch;
  try {
    watch = mp::internal::pidfd_open(pid);
  } catch (const std::system_error&) {
    return true;  // no such process any more
  }
  return mp::internal::wait_fd(watch.get(), POLLIN, mp::internal::deadline_after(limit));
}

SignalDispositions signal_dispositions(pid_t pid) {
  SignalDispositions out;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigIgn:", 0) == 0) out.ignored = std::stoull(line.substr(7), nullptr, 16);
    if (line.rfind("SigBlk:", 0) == 0) out.blocked = std::stoull(line.substr(7), nullptr, 16);
  }
  return out;
}

std::string& stand_down_reason() {
  static std::string reason;
  return reason;
}

void stand_down(const std::string& reason) { stand_down_reason() = reason; }

void ConformanceTest::SetUp() {
  if (!stand_down_reason().empty()) GTEST_SKIP() << stand_down_reason();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  arm_watchdog(std::string(info->test_suite_name()) + "." + info->name(),
               std::chrono::seconds(120));
  baseline_ = Snapshot::take();
}

void ConformanceTest::TearDown() {
  for (const std::string& leak : leaks_since(baseline_)) ADD_FAILURE() << leak;
  if (HasFailure()) kill_descendants_since(baseline_);
  disarm_watchdog();
}

}  // namespace mp::conformance
