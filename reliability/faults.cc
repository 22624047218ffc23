#include "faults.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "testing/conformance.h"

namespace mp::reliability {

namespace {

constexpr int kPoints = static_cast<int>(FaultPoint::kCount);

struct Entry {
  std::atomic<uint32_t> action{0};
  std::atomic<int32_t> shots{0};
  std::atomic<int32_t> spare{0};
  std::atomic<uint32_t> argument{0};
  std::atomic<uint32_t> fired{0};
};

struct Table {
  Entry entries[kPoints];
  std::atomic<uint32_t> stalls_released{0};
};

Table* g_table = nullptr;

// What kNoDescriptors and kNoThreads changed in this process.
struct Saved {
  std::vector<int> fillers;
  rlimit nofile{};
  rlimit as{};
  bool nofile_saved = false;
  bool as_saved = false;
};
Saved& saved() {
  static auto* s = new Saved;
  return *s;
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, const timespec* timeout) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT, expected, timeout, nullptr,
            0);
}
void futex_wake(std::atomic<uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr,
            0);
}

bool take_shot(Entry& e) {
  int32_t shots = e.shots.load(std::memory_order_acquire);
  for (;;) {
    if (shots == 0) return false;
    if (shots < 0) return true;
    if (e.shots.compare_exchange_weak(shots, shots - 1, std::memory_order_acq_rel)) return true;
  }
}

void stall() {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (g_table->stalls_released.load(std::memory_order_acquire) == 0 &&
         std::chrono::steady_clock::now() < until) {
    timespec slice{0, 50'000'000};
    futex_wait(g_table->stalls_released, 0, &slice);
  }
}

// The address space this process uses now: a thread stack more is refused.
// New threads ask for a stack larger than any glibc keeps cached from
// threads that ended (a fork child inherits that cache).
void cap_address_space() {
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, size_t{1} << 30);
  ::pthread_setattr_default_np(&attr);
  ::pthread_attr_destroy(&attr);
  long pages = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages;
  Saved& s = saved();
  if (!s.as_saved) {
    ::getrlimit(RLIMIT_AS, &s.as);
    s.as_saved = true;
  }
  rlimit capped = s.as;
  capped.rlim_cur = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
  ::setrlimit(RLIMIT_AS, &capped);
}

// Every free descriptor number below a lowered limit taken: the next open
// of any kind fails with EMFILE.
void fill_descriptors() {
  Saved& s = saved();
  if (!s.nofile_saved) {
    ::getrlimit(RLIMIT_NOFILE, &s.nofile);
    s.nofile_saved = true;
  }
  int highest = 2;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') highest = std::max(highest, std::atoi(e->d_name));
    }
    ::closedir(d);
  }
  rlimit lowered = s.nofile;
  lowered.rlim_cur = static_cast<rlim_t>(highest) + 1;
  ::setrlimit(RLIMIT_NOFILE, &lowered);
  for (;;) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    s.fillers.push_back(fd);
  }
}

void hook(FaultPoint point) {
  if (g_table == nullptr) return;
  Entry& e = g_table->entries[static_cast<int>(point)];
  auto action = static_cast<Action>(e.action.load(std::memory_order_acquire));
  if (action == Action::kNone) return;
  if (e.spare.load(std::memory_order_relaxed) == ::getpid()) return;
  if (!take_shot(e)) return;
  e.fired.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(e.fired);
  switch (action) {
    case Action::kNone:
      break;
    case Action::kKill:
      ::kill(::getpid(), SIGKILL);
      for (;;) ::pause();
    case Action::kStall:
      stall();
      break;
    case Action::kSleep:
      std::this_thread::sleep_for(std::chrono::microseconds(e.argument.load()));
      break;
    case Action::kNoThreads:
      cap_address_space();
      break;
    case Action::kNoDescriptors:
      fill_descriptors();
      break;
  }
}

struct Named {
  const char* name;
  Action action;
};
constexpr Named kActions[] = {{"kill", Action::kKill},
                              {"stall", Action::kStall},
                              {"no_threads", Action::kNoThreads},
                              {"no_descriptors", Action::kNoDescriptors}};

std::optional<FaultPoint> point_named(std::string_view name) {
  for (int i = 0; i < kPoints; ++i) {
    auto p = static_cast<FaultPoint>(i);
    if (name == internal::fault_point_name(p)) return p;
  }
  return std::nullopt;
}

}  // namespace

void install() {
  void* area =
      ::mmap(nullptr, sizeof(Table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    std::perror("reliability: mmap");
    std::abort();
  }
  g_table = new (area) Table;
  internal::g_fault_hook.store(&hook);
  const char* spec = std::getenv("MP_FAULTS");
  if (spec == nullptr) return;
  std::string_view rest(spec);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    auto point = point_named(item.substr(0, eq));
    for (const Named& a : kActions) {
      if (point && item.substr(eq + 1) == a.name) arm(*point, a.action);
    }
  }
}

void arm(FaultPoint point, Action action, int shots, pid_t spare, uint32_t argument) {
  Entry& e = g_table->entries[static_cast<int>(point)];
  e.action.store(0);
  e.fired.store(0);
  e.spare.store(spare);
  e.argument.store(argument);
  e.shots.store(shots);
  g_table->stalls_released.store(0);
  e.action.store(static_cast<uint32_t>(action), std::memory_order_release);
}

void disarm(FaultPoint point) { g_table->entries[static_cast<int>(point)].action.store(0); }

void disarm_all() {
  for (int i = 0; i < kPoints; ++i) disarm(static_cast<FaultPoint>(i));
}

int fired(FaultPoint point) {
  return static_cast<int>(g_table->entries[static_cast<int>(point)].fired.load());
}

bool wait_fired(FaultPoint point, int times, std::chrono::milliseconds timeout) {
  Entry& e = g_table->entries[static_cast<int>(point)];
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    uint32_t now = e.fired.load(std::memory_order_acquire);
    if (static_cast<int>(now) >= times) return true;
    auto left = until - std::chrono::steady_clock::now();
    if (left <= left.zero()) return false;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    futex_wait(e.fired, now, &t);
  }
}

void release_stalls() {
  g_table->stalls_released.store(1, std::memory_order_release);
  futex_wake(g_table->stalls_released);
}

void restore_limits() {
  Saved& s = saved();
  for (int fd : s.fillers) ::close(fd);
  s.fillers.clear();
  if (s.nofile_saved) ::setrlimit(RLIMIT_NOFILE, &s.nofile);
  if (s.as_saved) ::setrlimit(RLIMIT_AS, &s.as);
  s.nofile_saved = s.as_saved = false;
}

std::string env_spec(FaultPoint point, Action action) {
  for (const Named& a : kActions) {
    if (a.action == action) return std::string(internal::fault_point_name(point)) + "=" + a.name;
  }
  return "";
}

std::map<pid_t, ThreadState> thread_states(pid_t pid) {
  std::map<pid_t, ThreadState> out;
  std::string base = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = ::opendir(base.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const auto tid = static_cast<pid_t>(std::atol(e->d_name));
      ThreadState& t = out[tid];
      std::ifstream cpu(base + "/" + e->d_name + "/schedstat");
      uint64_t ns = 0;
      if (cpu >> ns) t.cpu = std::chrono::nanoseconds(ns);
      t.syscall = conformance::blocked_syscall(pid, tid).value_or(-1);
    }
    ::closedir(d);
  }
  return out;
}

namespace {

std::chrono::nanoseconds cpu_since(const std::map<pid_t, ThreadState>& before, pid_t tid,
                                   const ThreadState& now) {
  auto was = before.find(tid);
  return now.cpu - (was == before.end() ? std::chrono::nanoseconds(0) : was->second.cpu);
}

}  // namespace

std::chrono::nanoseconds cpu_used(const std::map<pid_t, ThreadState>& before,
                                  const std::map<pid_t, ThreadState>& after) {
  std::chrono::nanoseconds used{0};
  for (const auto& [tid, now] : after) used += cpu_since(before, tid, now);
  return used;
}

std::string describe_cpu(pid_t pid, const std::map<pid_t, ThreadState>& before,
                         const std::map<pid_t, ThreadState>& after) {
  std::string out;
  for (const auto& [tid, now] : after) {
    auto used = cpu_since(before, tid, now);
    if (!out.empty()) out += "; ";
    out += "tid " + std::to_string(tid) + (tid == pid ? " (main)" : "") + ": " +
           std::to_string(used.count() / 1000) + " us, now " +
           (now.syscall < 0 ? std::string("running") : "in syscall " + std::to_string(now.syscall));
  }
  return out;
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

}  // namespace mp::reliability
