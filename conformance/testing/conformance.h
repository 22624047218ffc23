// conformance/testing/conformance.h — the base of every conformance test.
//
// Each test:
//   - names the CPython test(s) it mirrors, cpython_id("process.sentinel"),
//     or, having no CPython twin, its own id, mp_id("mp.process.misuse");
//   - makes its assertions in the parent only (children report back through
//     a Pipe);
//   - leaves nothing behind: ConformanceTest::TearDown fails the test if a
//     child process, descriptor, shared segment or thread outlived it.

#ifndef MP_CONFORMANCE_TESTING_CONFORMANCE_H_
#define MP_CONFORMANCE_TESTING_CONFORMANCE_H_

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mp/mp.h"
#include "testing/contract.h"
#include "testing/hygiene.h"

namespace mp::conformance {

// Records the ids of cpython-conformance.tsv rows this test mirrors
// (comma-separated when several).
inline void cpython_id(const std::string& ids) {
  ::testing::Test::RecordProperty("cpython_id", ids);
}

// True for the implementation whose primitives are manager proxies.
template <class Impl>
inline constexpr bool kIsManager = requires { requires Impl::kManager; };

// Records the id of a test of mp's own, with no CPython twin.
inline void mp_id(const std::string& id) { ::testing::Test::RecordProperty("mp_id", id); }

// What kind of implementation an adapter is, in the words of CPython's
// ALLOWED_TYPES: "processes", "threads" or "manager". An adapter may say so
// itself with `static constexpr const char* kKind`.
template <class Impl>
constexpr const char* kind_of() {
  if constexpr (requires { Impl::kKind; }) {
    return Impl::kKind;
  } else if constexpr (kIsManager<Impl>) {
    return "manager";
  } else if constexpr (Impl::kProcesses) {
    return "processes";
  } else {
    return "threads";
  }
}

// Records, for reports/render_conformance.py, which implementation this binary
// tests: `implementation` (the column), `kind`, and for processes
// `start_method`. GoogleTest writes them as attributes of <testsuites>.
// Registering an adapter checks it against the contract (testing/contract.h).
template <class Impl>
class DescribeImplementation : public ::testing::Environment {
  static_assert(contract::check_contract<Impl>());

 public:
  // Also adds the adapter's own environment, `using Environment = ...;`
  // (the manager's starts its server before the first test).
  static ::testing::Environment* add() {
    if constexpr (requires { typename Impl::Environment; }) {
      ::testing::AddGlobalTestEnvironment(new typename Impl::Environment);
    }
    return ::testing::AddGlobalTestEnvironment(new DescribeImplementation);
  }
  void SetUp() override {
    ::testing::Test::RecordProperty("implementation", Impl::name());
    ::testing::Test::RecordProperty("kind", kind_of<Impl>());
    if constexpr (std::string_view(kind_of<Impl>()) == "processes") {
      ::testing::Test::RecordProperty("start_method", Impl::context().get_start_method());
    }
  }
};

// Records that the test asserts mp's deliberate difference from CPython's row
// rather than the row itself: `how_and_why` says what mp does instead and
// why. The report shows the row as **deviates**, not pass.
inline void deviation(const std::string& how_and_why) {
  ::testing::Test::RecordProperty("deviation", how_and_why);
}

// Every suite's test in this binary skips with `reason` instead of running
// (an implementation that cannot run under the build's sanitizer). Callable
// during static initialisation.
void stand_down(const std::string& reason);

// Arms the per-test watchdog: a test still running after `limit` is reported
// by name and the binary aborts (rather than hang until Bazel's timeout).
void arm_watchdog(const std::string& test_name, std::chrono::seconds limit);
void disarm_watchdog();

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

 private:
  Snapshot baseline_;
};

// Names the typed instantiations after the implementation: "fork", "threads".
struct ImplementationName {
  template <class Impl>
  static std::string GetName(int) {
    return Impl::name();
  }
};

// Measures how long something took.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  std::chrono::duration<double> elapsed() const {
    return std::chrono::steady_clock::now() - start_;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// A child's way to block until the test lets it go: the child calls wait()
// on its end, the test calls open(). Closing the test's end also releases it.
// One gate per child: a Connection must have a single reader.
struct Gate {
  Gate() { std::tie(child_end, test_end) = mp::Pipe(); }
  void open() { test_end.send_bytes("go"); }
  // In the child: returns once the test opened the gate or went away.
  static void wait(mp::Connection child_end) {
    try {
      child_end.recv_bytes();
    } catch (const mp::EOFError&) {
    }
  }
  mp::Connection child_end;
  mp::Connection test_end;
};

// Waits until none of `names` is in /dev/shm (woken by each removal there),
// or `limit` passes; false then.
bool wait_removed(const std::vector<std::string>& names, std::chrono::seconds limit);

// Waits until process `pid` (not necessarily a child of ours) has ended, or
// `limit` passes; false then.
bool wait_process_gone(pid_t pid, std::chrono::seconds limit);

// The signals process `pid` ignores and blocks (/proc/<pid>/status SigIgn and
// SigBlk, as bit masks: bit n-1 for signal n).
struct SignalDispositions {
  uint64_t ignored = 0;
  uint64_t blocked = 0;
};
SignalDispositions signal_dispositions(pid_t pid);

// Handshakes with a thread or process that is to be blocked in a system call
// (waiting on a lock, a pipe, a child) before the test acts on it: read from
// /proc/<pid>/task/<tid>/syscall, whose first field is the number of the
// call a sleeping thread is in.
//
// The call thread `tid` of process `pid` is blocked in, or nullopt while it
// runs (or when it is gone).
std::optional<long> blocked_syscall(pid_t pid, pid_t tid);
// Waits until thread `tid` of `pid` is blocked in one of `calls` (in any, if
// empty); false after `limit` or once the thread is gone.
bool wait_blocked(pid_t pid, pid_t tid, std::vector<long> calls, std::chrono::seconds limit);
// The calls mp sleeps in: on a futex (locks, events, conditions, semaphores),
// and on descriptors (connections, listeners, process sentinels).
std::vector<long> futex_calls();
std::vector<long> descriptor_calls();
// This thread's id.
pid_t this_thread_id();

// From a thread of its own, opens `gate` once thread `tid` of this process is
// blocked in one of `calls`: the test's own thread blocks in a wait, and the
// child it started acts only then. After `limit` it opens the gate anyway, so
// that a wait that never starts fails the test rather than hanging it; the
// destructor joins the thread.
class OpenWhenBlocked {
 public:
  OpenWhenBlocked(Gate& gate, std::vector<long> calls, pid_t tid = this_thread_id(),
                  std::chrono::seconds limit = std::chrono::seconds(60));
  ~OpenWhenBlocked();
  OpenWhenBlocked(const OpenWhenBlocked&) = delete;
  OpenWhenBlocked& operator=(const OpenWhenBlocked&) = delete;
  // Whether the thread was seen blocked (once the gate is open).
  bool saw_it_blocked();

 private:
  std::atomic<bool> blocked_{false};  // before watcher_: made before the thread starts
  std::thread watcher_;
};

// Runs a program (a path under the test's runfiles) and collects its exit
// status and output.
struct Ran {
  int status = 0;
  std::string out;
  std::string err;
};

// Environment variables a program is run without.
struct RunOptions {
  std::vector<std::string> unset;
};

inline Ran run_program(const std::vector<std::string>& args, const RunOptions& options = {}) {
  auto [out_read, out_write] = mp::Pipe(false);
  auto [err_read, err_write] = mp::Pipe(false);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_write.fileno(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.fileno(), 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool dropped = false;
    for (const std::string& name : options.unset) {
      dropped = dropped || (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
                            entry[name.size()] == '=');
    }
    if (!dropped) env.push_back(*e);
  }
  env.push_back(nullptr);
  pid_t pid = 0;
  int err = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  Ran ran;
  if (err != 0) {
    ran.status = -1;
    return ran;
  }
  out_write.close();
  err_write.close();
  auto drain = [](mp::Connection& c) {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(c.fileno(), buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
    return text;
  };
  ran.out = drain(out_read);
  ran.err = drain(err_read);
  ::waitpid(pid, &ran.status, 0);
  return ran;
}

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_TESTING_CONFORMANCE_H_
