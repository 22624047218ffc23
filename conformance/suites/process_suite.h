// conformance/suites/process_suite.h — Process: start, join, exit codes,
// signals, names, daemons, parents and children (CPython: _TestProcess,
// _TestSubclassingProcess, TestStartMethod and friends; rows `process.*`).

#ifndef MP_CONFORMANCE_SUITES_PROCESS_SUITE_H_
#define MP_CONFORMANCE_SUITES_PROCESS_SUITE_H_

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "mp/internal/base/fd.h"
#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/mp.h"
#include "testing/conformance.h"

namespace mp::conformance {

template <class Impl>
class ProcessSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(ProcessSuite);

// What the children of these tests run. Free functions (templates where the
// child needs to know the implementation), so every start method can name them.
namespace process_children {

using namespace std::chrono_literals;

inline pid_t os_thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

inline int open_fd_count() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(dir)) count += e->d_name[0] != '.';
  ::closedir(dir);
  return count - 1;  // the directory's own descriptor
}

template <class T>
void echo_arg(mp::Connection out, T value) {
  out.send(value);
}

inline void block_on(mp::Connection gate) { Gate::wait(gate); }

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

inline void exit_with(int code) { std::exit(code); }

inline void report_tid(mp::Connection out) { out.send(os_thread_id()); }

template <class Impl>
void report_identity(mp::Connection out) {
  auto me = Impl::current_process();
  out.send(std::make_tuple(me.is_alive(), me.daemon(), me.authkey(), me.ident() == ::getpid(),
                           me.exitcode().has_value(), me.name()));
}

inline void report_parent(mp::Connection out) {
  auto parent = mp::parent_process();
  out.send(std::make_tuple(parent.has_value(), parent ? parent->pid() : 0,
                           parent ? parent->name() : std::string()));
}

inline void report_parent_status(mp::Connection out) {
  auto parent = mp::parent_process();
  out.send(parent.has_value() && parent->is_alive());
  parent->join(30s);
  out.send(parent->is_alive());
}

template <class Impl>
void create_grandchild(mp::Connection out, mp::Connection gate) {
  auto grandchild = Impl::Process(&report_parent_status, out);
  grandchild.start();
  Gate::wait(gate);  // stays alive until the test terminates it
}

template <class Impl>
void lifecycle_child(mp::Connection out, mp::Connection gate, int a, double b, std::string hello) {
  Gate::wait(gate);
  auto me = Impl::current_process();
  std::string authkey;
  pid_t pid = 0;
  if constexpr (Impl::kProcesses) {
    authkey = me.authkey();
    pid = me.pid();
  }
  out.send(std::make_tuple(a, b, hello, me.name(), authkey, pid));
}

inline void block_with_default_sigint(mp::Connection ready, mp::Connection gate) {
  ::signal(SIGINT, SIG_DFL);
  ready.send(true);
  Gate::wait(gate);
}

template <class Impl>
void nested(mp::Connection out, std::vector<int> id) {
  out.send(id);
  if (id.size() >= 2) return;
  for (int i : {0, 1}) {
    std::vector<int> child_id = id;
    child_id.push_back(i);
    auto child = Impl::Process(&nested<Impl>, out, child_id);
    child.start();
    child.join();
  }
}

inline void report_fd_count(mp::Connection out, mp::Connection gate) {
  out.send(open_fd_count());
  Gate::wait(gate);
}

inline void start_threads_and_return(mp::Connection out) {
  // Reports only once the process's main thread is waiting for it at exit.
  mp::dummy::Process slow(
      [](mp::Connection o) { o.send(wait_blocked(::getpid(), ::getpid(), futex_calls(), 60s)); },
      out);
  slow.start();
  mp::dummy::Process idle({.daemon = true}, [] { std::this_thread::sleep_for(20s); });
  idle.start();
}

inline void print_and_report(mp::Connection out) {
  std::printf("to a closed stdout\n");
  std::fprintf(stderr, "to a closed stderr\n");
  std::cout << "and through iostreams" << std::endl;
  out.send(std::string("ran"));
}

template <class Impl>
void start_with_closed_stdio(mp::Connection out) {
  mp::internal::flush_std_streams();
  ::close(1);
  ::close(2);
  auto grandchild = Impl::Process(&print_and_report, out);
  grandchild.start();
  grandchild.join();
  out.send(grandchild.exitcode().value_or(-1000));
}

inline void close_own_stdio() {
  std::cout << "buffered, never flushed before the streams close";
  std::printf("buffered too");
  ::close(1);
  ::close(2);
}

inline void fail_with_output(mp::Connection sink) {
  ::dup2(sink.fileno(), 1);
  ::dup2(sink.fileno(), 2);
  std::cout << "buffered line before the failure";
  throw std::runtime_error("MARKER 1/0");
}

template <class Impl>
void create_pipe_and_daemon_child(mp::Connection out) {
  auto [reader, writer] = mp::Pipe(false);
  auto grandchild = Impl::Process(
      {.daemon = true}, [](mp::Connection r, mp::Connection o) { o.send(r.poll()); }, reader, out);
  grandchild.start();
  grandchild.join();
  out.send(grandchild.exitcode().value_or(-1000));
}

inline int g_atexit_fd = -1;
inline void write_deadbeef() { [[maybe_unused]] auto n = ::write(g_atexit_fd, "deadbeef", 8); }
inline void register_atexit(mp::Connection sink) {
  g_atexit_fd = ::dup(sink.fileno());
  std::atexit(write_deadbeef);
}
// Registered by the test in its own process: if a child ran the exit
// handlers it inherited, this one would write into the child's sink.
inline pid_t g_inherited_handler_owner = 0;
inline void write_if_inherited() {
  if (g_atexit_fd >= 0 && ::getpid() != g_inherited_handler_owner) {
    [[maybe_unused]] auto n = ::write(g_atexit_fd, "+inherited", 10);
  }
}

// CPython's _test_finalize: what runs when, in the order it runs.
inline void finalize_in_order(mp::Connection out) {
  auto sender = [out](const char* what) {
    return [out, what]() mutable { out.send(std::string(what)); };
  };
  using mp::util::Finalize;
  struct Foo {
    Finalize close;
  };
  { Foo a{Finalize(sender("a"))}; }  // a goes: its finalizer runs
  {
    Foo b{Finalize(sender("b"))};
    b.close();  // runs it
    b.close();  // does nothing: it ran
  }             // b goes: nothing more
  // These objects live until the process ends (never destroyed; held by a
  // static, so that LeakSanitizer sees them reachable at exit).
  static const Foo* const kept[] = {
      new Foo{Finalize(sender("c"))},  // no exit priority: never runs at exit
      new Foo{Finalize(sender("d10"), {.exitpriority = 1})},
      new Foo{Finalize(sender("d01"), {.exitpriority = 0})},
      new Foo{Finalize(sender("d02"), {.exitpriority = 0})},
      new Foo{Finalize(sender("d03"), {.exitpriority = 0})},
  };
  (void)kept;
  Finalize(nullptr, sender("e"), {.exitpriority = -10});
  Finalize(nullptr, sender("STOP"), {.exitpriority = -100});
  // Returning ends the process through mp's exit function.
}

inline void report_pid_and_sleep(mp::Connection out) {
  out.send(::getpid());
  std::this_thread::sleep_for(1h);
}

template <class Impl>
void start_daemon_and_block(mp::Connection out, mp::Connection gate) {
  auto daemon = Impl::Process({.daemon = true}, &report_pid_and_sleep, out);
  daemon.start();
  Gate::wait(gate);
}

template <class Impl>
void leave_children_to_exit_function(mp::Connection out) {
  auto [daemon_reader, daemon_writer] = mp::Pipe(false);
  auto daemon = Impl::Process({.daemon = true}, &report_pid_and_sleep, daemon_writer);
  daemon.start();
  out.send(daemon_reader.recv<pid_t>());  // the daemon is up
  // Reports only once its parent waits for it in the exit function.
  auto worker = Impl::Process(
      {.daemon = false},
      [](mp::Connection o) {
        const pid_t parent = mp::parent_process()->pid();
        if (wait_blocked(parent, parent, descriptor_calls(), 60s)) o.send(::getpid());
      },
      out);
  worker.start();
  // Returning without joining: the exit function terminates the daemon and
  // waits for the worker.
}

template <class Impl>
void try_to_start_child(mp::Connection out) {
  try {
    auto child = Impl::Process(&sleep_ms, 0);
    child.start();
    child.join();
    out.send(std::string("started"));
  } catch (const mp::AssertionError& e) {
    out.send(std::string("AssertionError: ") + e.what());
  }
}

inline void report_open_fds(mp::Connection out) {
  std::vector<std::string> targets;
  DIR* dir = ::opendir("/proc/self/fd");
  int self = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == self) continue;
    char buf[256];
    ssize_t n = ::readlinkat(self, e->d_name, buf, sizeof(buf) - 1);
    targets.push_back(std::string(e->d_name) + " " + (n > 0 ? std::string(buf, n) : "?"));
  }
  ::closedir(dir);
  out.send(targets);
}

}  // namespace process_children

namespace pc = process_children;
using namespace std::chrono_literals;

TYPED_TEST_P(ProcessSuite, CurrentProcessAttributes) {
  cpython_id("process.current_process_attrs");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "CPython skips this for threads: a thread has no authkey or pid of its own";
  } else {
    auto me = mp::current_process();
    EXPECT_TRUE(me.is_alive());
    EXPECT_FALSE(me.daemon());
    EXPECT_FALSE(me.authkey().empty());
    EXPECT_EQ(me.ident(), ::getpid());
    EXPECT_FALSE(me.exitcode().has_value());
    EXPECT_EQ(me.name(), "MainProcess");

    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::report_identity<TypeParam>, writer);
    p.start();
    auto [alive, daemon, authkey, ident_is_pid, has_exitcode, name] =
        reader.template recv<std::tuple<bool, bool, std::string, bool, bool, std::string>>();
    p.join();
    EXPECT_TRUE(alive);
    EXPECT_FALSE(daemon);
    EXPECT_EQ(authkey, me.authkey()) << "a child inherits its parent's authkey";
    EXPECT_TRUE(ident_is_pid);
    EXPECT_FALSE(has_exitcode);
    EXPECT_EQ(name, p.name());
  }
}

TYPED_TEST_P(ProcessSuite, SetExecutable) {
  cpython_id("process.set_executable_pathlike");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads execute nothing";
  } else {
    char real[4096];
    ssize_t n = ::readlink("/proc/self/exe", real, sizeof(real) - 1);
    ASSERT_GT(n, 0);
    std::string previous = mp::get_executable();
    mp::set_executable(std::string(real, static_cast<size_t>(n)));
    EXPECT_EQ(mp::get_executable(), std::string(real, static_cast<size_t>(n)));
    auto p = TypeParam::Process(&pc::sleep_ms, 0);
    p.start();
    p.join();
    mp::set_executable(previous);
    EXPECT_EQ(p.exitcode(), 0);
  }
}

TYPED_TEST_P(ProcessSuite, ArgumentsReachTheChild) {
  cpython_id("process.args_list_or_tuple");
  auto round_trip = [](const auto& value) {
    using T = std::decay_t<decltype(value)>;
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::echo_arg<T>, writer, value);
    p.start();
    EXPECT_EQ(reader.template recv<T>(), value);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  };
  round_trip(1);
  round_trip(std::string("str"));
  round_trip(std::vector<int>{1});
  round_trip(std::tuple<int>{1});
}

TYPED_TEST_P(ProcessSuite, DaemonDefaultsToTheCreator) {
  cpython_id("process.daemon_kwarg_default");
  auto inherited = TypeParam::Process({.daemon = std::nullopt}, &pc::sleep_ms, 0);
  EXPECT_EQ(inherited.daemon(), TypeParam::current_process().daemon());
  EXPECT_FALSE(inherited.daemon());
  auto yes = TypeParam::Process({.daemon = true}, &pc::sleep_ms, 0);
  EXPECT_TRUE(yes.daemon());
  auto no = TypeParam::Process({.daemon = false}, &pc::sleep_ms, 0);
  EXPECT_FALSE(no.daemon());
}

TYPED_TEST_P(ProcessSuite, ParentProcessAttributes) {
  cpython_id("process.parent_process_attrs");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "parent_process() describes processes";
  } else {
    EXPECT_FALSE(mp::parent_process().has_value()) << "the main process has no parent";
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::report_parent, writer);
    p.start();
    auto [has_parent, pid, name] = reader.template recv<std::tuple<bool, pid_t, std::string>>();
    p.join();
    EXPECT_TRUE(has_parent);
    EXPECT_EQ(pid, ::getpid());
    EXPECT_EQ(name, mp::current_process().name());
  }
}

TYPED_TEST_P(ProcessSuite, ParentProcessTracksTheRealParent) {
  cpython_id("process.parent_process_liveness");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "needs a parent that can be terminated";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    Gate gate;
    auto p = TypeParam::Process(&pc::create_grandchild<TypeParam>, writer, gate.child_end);
    p.start();
    writer.close();
    EXPECT_TRUE(reader.template recv<bool>()) << "the grandchild sees its parent alive";
    p.terminate();
    p.join();
    EXPECT_FALSE(reader.template recv<bool>())
        << "after the parent died, join() returned and is_alive() is false";
    // The grandchild exits right after; its end of the pipe closing says so.
    EXPECT_TRUE(reader.poll(30s));
    EXPECT_THROW(reader.recv_bytes(), mp::EOFError);
  }
}

TYPED_TEST_P(ProcessSuite, Lifecycle) {
  cpython_id("process.lifecycle_basic");
  auto [reader, writer] = TypeParam::Pipe(false);
  Gate gate;
  auto p = TypeParam::Process({.name = "SomeProcess"}, &pc::lifecycle_child<TypeParam>, writer,
                              gate.child_end, 1, 2.54, std::string("hello"));
  p.set_daemon(true);
  if constexpr (TypeParam::kProcesses) {
    EXPECT_EQ(p.authkey(), mp::current_process().authkey());
  }
  EXPECT_FALSE(p.is_alive());
  EXPECT_TRUE(p.daemon());
  auto before = TypeParam::active_children();
  EXPECT_EQ(std::find(before.begin(), before.end(), p), before.end());
  EXPECT_FALSE(p.exitcode().has_value());

  p.start();
  EXPECT_FALSE(p.exitcode().has_value());
  EXPECT_TRUE(p.is_alive());
  auto during = TypeParam::active_children();
  EXPECT_NE(std::find(during.begin(), during.end(), p), during.end());

  gate.open();
  auto [a, b, hello, name, authkey, pid] =
      reader.template recv<std::tuple<int, double, std::string, std::string, std::string, pid_t>>();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2.54);
  EXPECT_EQ(hello, "hello");
  EXPECT_EQ(name, "SomeProcess");
  if constexpr (TypeParam::kProcesses) {
    EXPECT_EQ(authkey, mp::current_process().authkey());
    EXPECT_EQ(pid, p.pid());
  }
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_FALSE(p.is_alive());
  auto after = TypeParam::active_children();
  EXPECT_EQ(std::find(after.begin(), after.end(), p), after.end());
}

TYPED_TEST_P(ProcessSuite, ChildRunsOnItsOwnThread) {
  cpython_id("process.child_mainthread_native_id");
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&pc::report_tid, writer);
  p.start();
  pid_t child_tid = reader.template recv<pid_t>();
  p.join();
  EXPECT_NE(child_tid, pc::os_thread_id());
}

// Starts a child that blocks, checks that join(0) and join(-1) return at once,
// delivers the signal and checks how the child ended.
template <class Impl, class Signal>
void expect_ended_by_signal(Signal deliver, int expected_exitcode, bool default_sigint = false) {
  Gate gate;
  auto [ready_reader, ready_writer] = Impl::Pipe(false);
  auto p = default_sigint
               ? Impl::Process(&pc::block_with_default_sigint, ready_writer, gate.child_end)
               : Impl::Process(&pc::block_on, gate.child_end);
  p.start();
  if (default_sigint) {
    EXPECT_TRUE(ready_reader.template recv<bool>());
  }
  Stopwatch immediate;
  p.join(0s);
  p.join(-1s);
  EXPECT_LT(immediate.elapsed(), 5s) << "join(0) and join(-1) do not wait";
  EXPECT_TRUE(p.is_alive());
  deliver(p);
  p.join();
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.exitcode(), expected_exitcode);
  auto kids = Impl::active_children();
  EXPECT_EQ(std::find(kids.begin(), kids.end(), p), kids.end());
}

TYPED_TEST_P(ProcessSuite, InterruptSendsSigint) {
  cpython_id("process.interrupt_sigint_exitcode_1");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads cannot be signalled";
  } else {
    deviation(
        "exit code -SIGINT, not 1: Python's default SIGINT handler raises KeyboardInterrupt, "
        "which ends the child with exit code 1; C++ has no such exception, so an mp child keeps "
        "SIGINT's default action and dies by the signal");
    expect_ended_by_signal<TypeParam>([](auto& p) { p.interrupt(); }, -SIGINT);
  }
}

TYPED_TEST_P(ProcessSuite, InterruptWithDefaultHandler) {
  cpython_id("process.interrupt_sig_dfl");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads cannot be signalled";
  } else {
    expect_ended_by_signal<TypeParam>([](auto& p) { p.interrupt(); }, -SIGINT, true);
  }
}

TYPED_TEST_P(ProcessSuite, TerminateGivesMinusSigterm) {
  cpython_id("process.terminate_exitcode");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads cannot be terminated";
  } else {
    expect_ended_by_signal<TypeParam>([](auto& p) { p.terminate(); }, -SIGTERM);
  }
}

TYPED_TEST_P(ProcessSuite, KillGivesMinusSigkill) {
  cpython_id("process.kill_exitcode");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads cannot be killed";
  } else {
    expect_ended_by_signal<TypeParam>([](auto& p) { p.kill(); }, -SIGKILL);
  }
}

TYPED_TEST_P(ProcessSuite, CpuCount) {
  cpython_id("misc.cpu_count");
  EXPECT_GE(mp::cpu_count(), 1);
  EXPECT_EQ(mp::cpu_count(), static_cast<int>(std::thread::hardware_concurrency()));
}

TYPED_TEST_P(ProcessSuite, ActiveChildren) {
  cpython_id("process.active_children");
  Gate gate;
  auto p = TypeParam::Process({.daemon = true}, &pc::block_on, gate.child_end);
  auto contains = [&p](const auto& kids) {
    return std::find(kids.begin(), kids.end(), p) != kids.end();
  };
  EXPECT_FALSE(contains(TypeParam::active_children()));
  p.start();
  EXPECT_TRUE(contains(TypeParam::active_children()));
  gate.open();
  p.join();
  EXPECT_FALSE(contains(TypeParam::active_children()));
}

TYPED_TEST_P(ProcessSuite, NestedChildrenRunInOrder) {
  cpython_id("process.nested_children_order");
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&pc::nested<TypeParam>, writer, std::vector<int>{});
  p.start();
  std::vector<std::vector<int>> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(reader.template recv<std::vector<int>>());
  p.join();
  std::vector<std::vector<int>> expected = {{}, {0}, {0, 0}, {0, 1}, {1}, {1, 0}, {1, 1}};
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(ProcessSuite, Sentinel) {
  cpython_id("process.sentinel");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads have no sentinel";
  } else {
    Gate gate;
    auto p = TypeParam::Process(&pc::block_on, gate.child_end);
    EXPECT_THROW(p.sentinel(), mp::ValueError);
    p.start();
    int sentinel = p.sentinel();
    EXPECT_GE(sentinel, 0);
    EXPECT_TRUE(mp::wait({sentinel}, 0s).empty()) << "not ready while the child runs";
    gate.open();
    p.join();
    EXPECT_EQ(mp::wait({sentinel}, 1s).size(), 1u) << "ready once the child ended";
  }
}

TYPED_TEST_P(ProcessSuite, Close) {
  cpython_id("process.close");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads have no close()";
  } else {
    Gate gate;
    auto p = TypeParam::Process(&pc::block_on, gate.child_end);
    p.start();
    EXPECT_THROW(p.close(), mp::ValueError) << "cannot close a running process";
    gate.open();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    p.close();
    EXPECT_THROW(p.is_alive(), mp::ValueError);
    EXPECT_THROW(p.join(), mp::ValueError);
    EXPECT_THROW(p.terminate(), mp::ValueError);
    EXPECT_THROW(p.exitcode(), mp::ValueError);
    EXPECT_NO_THROW(p.close()) << "a second close() is a no-op";
  }
}

TYPED_TEST_P(ProcessSuite, ManyStartAndTerminate) {
  cpython_id("process.many_start_terminate");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "threads cannot be terminated";
  } else {
    const int n = std::string(TypeParam::name()) == "spawn" ? 20 : 100;
    std::vector<mp::Process> quick;
    for (int i = 0; i < n; ++i) quick.push_back(TypeParam::Process(&pc::sleep_ms, 10));
    for (auto& p : quick) p.start();
    for (auto& p : quick) p.join();
    for (auto& p : quick) EXPECT_EQ(p.exitcode(), 0);

    std::vector<mp::Process> sleepers;
    for (int i = 0; i < n; ++i) sleepers.push_back(TypeParam::Process(&pc::sleep_ms, 100'000));
    for (auto& p : sleepers) p.start();
    for (auto& p : sleepers) p.terminate();
    for (auto& p : sleepers) p.join();
    for (auto& p : sleepers) EXPECT_EQ(p.exitcode(), -SIGTERM);
  }
}

TYPED_TEST_P(ProcessSuite, ChildFdCountDoesNotGrowWithSiblings) {
  cpython_id("process.child_fd_count_stable");
  if (TypeParam::forks()) {
    GTEST_SKIP() << "a fork child inherits every descriptor of its parent by design (CPython skips "
                    "this for fork too)";
  } else if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads share one descriptor table";
  } else {
    constexpr int kChildren = 5;
    std::vector<Gate> gates(kChildren);
    std::vector<mp::Connection> readers;
    std::vector<mp::Process> children;
    for (int i = 0; i < kChildren; ++i) {
      auto [reader, writer] = TypeParam::Pipe(false);
      readers.push_back(reader);
      children.push_back(TypeParam::Process(&pc::report_fd_count, writer, gates[i].child_end));
      children.back().start();
    }
    std::vector<int> counts;
    for (auto& r : readers) counts.push_back(r.template recv<int>());
    for (auto& g : gates) g.open();
    for (auto& p : children) p.join();
    for (int count : counts) EXPECT_EQ(count, counts.front()) << "every sibling sees as many fds";
  }
}

TYPED_TEST_P(ProcessSuite, ChildWaitsForItsNonDaemonThreads) {
  cpython_id("process.child_waits_nondaemon_threads");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "CPython runs this for processes only";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::start_threads_and_return, writer);
    Stopwatch clock;
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_TRUE(reader.poll()) << "the non-daemon thread finished before the child exited";
    EXPECT_TRUE(reader.template recv<bool>());
    EXPECT_LT(clock.elapsed(), 15s) << "the daemon thread did not hold the child back";
  }
}

TYPED_TEST_P(ProcessSuite, ParentWithClosedStdio) {
  cpython_id("process.broken_parent_stdio");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "closing the standard streams would close the test's own";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::start_with_closed_stdio<TypeParam>, writer);
    p.start();
    EXPECT_EQ(reader.template recv<std::string>(), "ran");
    EXPECT_EQ(reader.template recv<int>(), 0) << "the grandchild exits 0";
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
}

TYPED_TEST_P(ProcessSuite, ChildClosingItsStdio) {
  cpython_id("process.broken_child_stdio");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "closing the standard streams would close the test's own";
  } else {
    auto p = TypeParam::Process(&pc::close_own_stdio);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0) << "flushing at exit into closed streams is not an error";
  }
}

template <class Impl>
void expect_forkserver_restarts_after(int sig) {
  Gate gate;
  auto before = Impl::Process(&pc::block_on, gate.child_end);
  before.start();
  auto server = mp::internal::forkserver_pid();
  ASSERT_TRUE(server.has_value());
  auto server_fd = mp::internal::pidfd_open(*server);
  ASSERT_EQ(::kill(*server, sig), 0);
  ASSERT_TRUE(mp::internal::wait_fd(server_fd.get(), POLLIN, mp::internal::Clock::now() + 30s));

  auto [reader, writer] = Impl::Pipe(false);
  auto after = Impl::Process(&pc::echo_arg<bool>, writer, true);
  after.start();
  EXPECT_TRUE(reader.template recv<bool>()) << "a new process starts: the server restarted";
  after.join();
  EXPECT_EQ(after.exitcode(), 0);
  EXPECT_NE(mp::internal::forkserver_pid(), server);

  gate.open();
  before.join();
  ASSERT_TRUE(before.exitcode().has_value());
  EXPECT_TRUE(*before.exitcode() == 0 || *before.exitcode() == 255)
      << "a child of the dead server still ends; its status is 0 or unknown (255), got "
      << *before.exitcode();
}

TYPED_TEST_P(ProcessSuite, ForkserverRestartsAfterSigint) {
  cpython_id("start.forkserver_restart_after_sigint");
  if (std::string_view(TypeParam::name()) != "forkserver") {
    GTEST_SKIP() << "forkserver only";
  } else {
    expect_forkserver_restarts_after<TypeParam>(SIGINT);
  }
}

TYPED_TEST_P(ProcessSuite, ForkserverRestartsAfterSigkill) {
  cpython_id("start.forkserver_restart_after_sigkill");
  if (std::string_view(TypeParam::name()) != "forkserver") {
    GTEST_SKIP() << "forkserver only";
  } else {
    expect_forkserver_restarts_after<TypeParam>(SIGKILL);
  }
}

TYPED_TEST_P(ProcessSuite, ForkserverControlChannelIsPrivate) {
  cpython_id("start.forkserver_auth_enabled");
  if (std::string_view(TypeParam::name()) != "forkserver") {
    GTEST_SKIP() << "forkserver only";
  } else {
    // CPython authenticates its server's listening socket with an HMAC key.
    // mp's server has no address at all: its control socket is one end of a
    // socketpair, and it checks the sender's credentials on every request.
    auto server = mp::internal::forkserver_pid();
    ASSERT_TRUE(server.has_value());
    int control = mp::internal::forkserver_control_fd();
    ASSERT_GE(control, 0);
    int type = 0;
    socklen_t len = sizeof(type);
    ASSERT_EQ(::getsockopt(control, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_SEQPACKET);
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof(addr);
    ASSERT_EQ(::getpeername(control, reinterpret_cast<sockaddr*>(&addr), &addr_len), 0);
    EXPECT_EQ(addr_len, sizeof(sa_family_t)) << "the server's end has no name to connect to";
    ucred peer{};
    socklen_t cred_len = sizeof(peer);
    ASSERT_EQ(::getsockopt(control, SOL_SOCKET, SO_PEERCRED, &peer, &cred_len), 0);
    EXPECT_EQ(peer.pid, ::getpid()) << "the pair was made here, before the server was started";
    auto p = TypeParam::Process(&pc::exit_with, 0);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  }
}

TYPED_TEST_P(ProcessSuite, ForkserverObeysOnlyItsParent) {
  cpython_id("start.forkserver_bad_auth_rejected");
  if (std::string_view(TypeParam::name()) != "forkserver") {
    GTEST_SKIP() << "forkserver only";
  } else {
    int control = mp::internal::forkserver_control_fd();
    ASSERT_GE(control, 0);
    // A process that got hold of the control socket (here: a raw fork() that
    // inherited it) but is not the server's parent asks for a child.
    pid_t stranger = ::fork();
    if (stranger == 0) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) ::_exit(10);
      char tag = 'F';
      iovec iov{&tag, 1};
      alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof(cbuf);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pair[1], sizeof(int));
      if (::sendmsg(control, &msg, 0) != 1) ::_exit(11);
      ::close(pair[1]);
      int32_t reply = 0;
      ssize_t n = ::read(pair[0], &reply, sizeof(reply));
      ::_exit(n == sizeof(reply) && reply == -1 ? 0 : 12);
    }
    ASSERT_GT(stranger, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(stranger, &status, 0), stranger);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the server refused the stranger (status " << status << ")";
    auto p = TypeParam::Process(&pc::exit_with, 0);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0) << "and still serves its parent";
  }
}

template <class Base>
class UpperCaser : public Base {
 public:
  template <class... A>
  explicit UpperCaser(mp::Connection conn, A&&... base_args)
      : Base(std::forward<A>(base_args)...), conn_(conn) {}

  // Upper-cases each word received until a nullopt arrives.
  static void serve(mp::Connection conn) {
    for (;;) {
      auto word = conn.recv<std::optional<std::string>>();
      if (!word) return;
      for (char& c : *word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      conn.send(*word);
    }
  }

 protected:
  void run() override { serve(conn_); }

 private:
  mp::Connection conn_;
};

// A Process subclass with its own run() that starts under every start method:
// its connection travels to spawn and forkserver children by serialize().
class UpperCaserProcess : public mp::ProcessSubclass<UpperCaserProcess> {
 public:
  UpperCaserProcess() = default;
  UpperCaserProcess(mp::Context& ctx, mp::Connection conn) : ProcessSubclass(ctx), conn_(conn) {}
  template <class Archive>
  void serialize(Archive& ar) {
    ar(conn_);
  }

 protected:
  void run() override { UpperCaser<mp::Process>::serve(conn_); }

 private:
  mp::Connection conn_;
};

TYPED_TEST_P(ProcessSuite, SubclassOverridingRun) {
  cpython_id("process.subclass_run_override");
  auto exercise = [](auto& p, mp::Connection& ours) {
    p.start();
    ours.send(std::optional<std::string>("hello"));
    EXPECT_EQ(ours.recv<std::string>(), "HELLO");
    ours.send(std::optional<std::string>("world"));
    EXPECT_EQ(ours.recv<std::string>(), "WORLD");
    ours.send(std::optional<std::string>());
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
  };
  auto [ours, theirs] = TypeParam::Pipe();
  if constexpr (!TypeParam::kProcesses) {
    UpperCaser<mp::dummy::Process> p(theirs);
    exercise(p, ours);
  } else {
    UpperCaserProcess p(TypeParam::context(), theirs);
    exercise(p, ours);
    if (TypeParam::forks()) {
      // Under fork any subclass works, without serialize().
      auto [ours2, theirs2] = TypeParam::Pipe();
      UpperCaser<mp::Process> q(theirs2, TypeParam::context());
      exercise(q, ours2);
    }
  }
}

// Reads a raw byte stream until every writer has closed it.
inline std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

TYPED_TEST_P(ProcessSuite, UncaughtExceptionIsReportedOnStderr) {
  cpython_id("process.stderr_flushed_on_exit");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads share the test's standard streams";
  } else {
    auto [ours, sink] = TypeParam::Pipe();
    auto p = TypeParam::Process(&pc::fail_with_output, sink);
    p.start();
    sink.close();
    std::string output = read_to_end(ours.fileno());
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(output.find("Process " + p.name() + ":"), std::string::npos) << output;
    EXPECT_NE(output.find("std::runtime_error: MARKER 1/0"), std::string::npos) << output;
    EXPECT_NE(output.find("buffered line before the failure"), std::string::npos)
        << "buffered output is flushed at exit: " << output;
  }
}

TYPED_TEST_P(ProcessSuite, ExitCodes) {
  cpython_id("process.sys_exit_codes");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "std::exit in a thread would end the test itself";
  } else {
    // Python's non-integer exit values have no C++ form; integers pass through,
    // truncated to 8 bits by the OS.
    for (auto [code, expected] : std::vector<std::pair<int, int>>{
             {0, 0}, {1, 1}, {8, 8}, {true, 1}, {false, 0}, {256, 0}, {257, 1}}) {
      auto p = TypeParam::Process(&pc::exit_with, code);
      p.start();
      p.join();
      EXPECT_EQ(p.exitcode(), expected) << "std::exit(" << code << ")";
    }
  }
}

inline std::atomic<int> g_usr1_count{0};

TYPED_TEST_P(ProcessSuite, JoinContinuesAcrossSignals) {
  cpython_id("process.join_retries_eintr");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "CPython runs this for processes only";
  } else {
    struct sigaction handler {
    }, previous{};
    handler.sa_handler = [](int) { g_usr1_count.fetch_add(1); };
    sigemptyset(&handler.sa_mask);
    handler.sa_flags = 0;  // no SA_RESTART: poll() and waitid() see EINTR
    ASSERT_EQ(::sigaction(SIGUSR1, &handler, &previous), 0);
    g_usr1_count = 0;
    Gate gate;
    auto p = TypeParam::Process(&pc::block_on, gate.child_end);
    p.start();
    // Signals the joining thread while join() is blocked, twice, each time
    // after the handler ran and join() blocked again; then lets the child end.
    pthread_t joiner = ::pthread_self();
    const pid_t joiner_id = this_thread_id();
    std::atomic<int> delivered{0};
    std::thread interrupter([&] {
      for (int i = 0; i < 2; ++i) {
        if (!wait_blocked(::getpid(), joiner_id, descriptor_calls(), 60s)) break;
        ::pthread_kill(joiner, SIGUSR1);
        while (g_usr1_count.load() == i) std::this_thread::yield();
        delivered = i + 1;
      }
      wait_blocked(::getpid(), joiner_id, descriptor_calls(), 60s);
      gate.open();
    });
    p.join();
    EXPECT_FALSE(p.is_alive()) << "join() returned before the child ended";
    EXPECT_EQ(p.exitcode(), 0);
    interrupter.join();
    ::sigaction(SIGUSR1, &previous, nullptr);
    EXPECT_EQ(delivered.load(), 2) << "the signals reached join() while it was blocked";
    EXPECT_EQ(g_usr1_count.load(), 2);
  }
}

TYPED_TEST_P(ProcessSuite, ChildCreatesIpcAndItsOwnChild) {
  mp_id("mp.process.child_creates_pipe_and_child");
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&pc::create_pipe_and_daemon_child<TypeParam>, writer);
  p.start();
  EXPECT_FALSE(reader.template recv<bool>()) << "the grandchild polled an empty pipe";
  EXPECT_EQ(reader.template recv<int>(), 0) << "the grandchild exited 0";
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(ProcessSuite, ChildRunsAtexitHandlers) {
  cpython_id("process.child_atexit_runs");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread has no exit of its own";
  } else {
    // The handlers a child registers run; those it inherited (a fork child
    // has this process's) do not.
    static const bool registered = [] {
      pc::g_inherited_handler_owner = ::getpid();
      return std::atexit(&pc::write_if_inherited) == 0;
    }();
    ASSERT_TRUE(registered);
    auto [ours, sink] = TypeParam::Pipe();
    auto p = TypeParam::Process(&pc::register_atexit, sink);
    p.start();
    sink.close();
    std::string written = read_to_end(ours.fileno());
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(written, "deadbeef");
  }
}

TYPED_TEST_P(ProcessSuite, FinalizersRunInPriorityOrder) {
  cpython_id("misc.finalize_order");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "finalizers belong to a process: a thread's end runs none";
  } else {
    // One of this process's: a child must not run it.
    mp::util::Finalize mine(nullptr, [] { std::fputs("parent's finalizer ran\n", stderr); },
                            {.exitpriority = 100});
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process({.daemon = true}, &pc::finalize_in_order, writer);
    p.start();
    writer.close();
    std::vector<std::string> got;
    for (;;) {
      std::string what;
      try {
        what = reader.template recv<std::string>();
      } catch (const mp::EOFError&) {
        break;
      }
      if (what == "STOP") break;
      got.push_back(what);
    }
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "d10", "d03", "d02", "d01", "e"}));
    EXPECT_TRUE(mine.still_active()) << "the child ran none of this process's finalizers";
    mine.cancel();
    EXPECT_FALSE(mine.still_active());
  }
}

TYPED_TEST_P(ProcessSuite, FinalizeRunsOnceAndInOrder) {
  mp_id("mp.util.finalize");
  std::vector<std::string> ran;
  auto note = [&ran](std::string what) { return [&ran, what] { ran.push_back(what); }; };
  using mp::util::Finalize;
  EXPECT_THROW(Finalize(nullptr, note("x"), {}), mp::ValueError) << "no object, no priority";
  {
    Finalize tied(note("tied"));
    EXPECT_TRUE(tied.still_active());
    Finalize moved = std::move(tied);
    EXPECT_TRUE(moved.still_active());
  }
  EXPECT_EQ(ran, (std::vector<std::string>{"tied"})) << "ran once, when the last owner went";
  Finalize low(nullptr, note("low"), {.exitpriority = 200});
  Finalize high1(nullptr, note("high1"), {.exitpriority = 300});
  Finalize high2(nullptr, note("high2"), {.exitpriority = 300});
  Finalize cancelled(nullptr, note("cancelled"), {.exitpriority = 400});
  cancelled.cancel();
  Finalize throwing(nullptr, [] { throw std::runtime_error("on purpose"); }, {.exitpriority = 250});
  mp::util::run_finalizers(200);  // what exit would run, for these priorities
  EXPECT_EQ(ran, (std::vector<std::string>{"tied", "high2", "high1", "low"}))
      << "higher first, equal ones newest first, one that throws does not stop the rest";
  EXPECT_FALSE(low.still_active());
  low();
  EXPECT_EQ(ran.size(), 4u) << "a finalizer that ran does not run again";
  Finalize called(note("called"));
  called();
  EXPECT_THROW(Finalize(nullptr, {}, {.exitpriority = 1}), mp::ValueError) << "no callback";
  EXPECT_EQ(ran.back(), "called");
}

// mp's own tests ------------------------------------------------------------

TYPED_TEST_P(ProcessSuite, DaemonDiesWithAKilledParent) {
  mp_id("mp.process.daemon_dies_with_killed_parent");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "needs a parent that can be killed";
  } else {
    // Python leaves the daemon running when its parent is SIGKILLed.
    auto [reader, writer] = TypeParam::Pipe(false);
    Gate gate;
    auto parent =
        TypeParam::Process(&pc::start_daemon_and_block<TypeParam>, writer, gate.child_end);
    parent.start();
    pid_t daemon = reader.template recv<pid_t>();
    auto daemon_fd = mp::internal::pidfd_open(daemon);
    parent.kill();
    parent.join();
    EXPECT_EQ(parent.exitcode(), -SIGKILL);
    EXPECT_TRUE(mp::internal::wait_fd(daemon_fd.get(), POLLIN, mp::internal::Clock::now() + 10s))
        << "the daemon died with its parent";
  }
}

TYPED_TEST_P(ProcessSuite, ExitFunctionTerminatesDaemonsAndJoinsTheRest) {
  mp_id("mp.process.exit_function");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread has no exit of its own";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::leave_children_to_exit_function<TypeParam>, writer);
    p.start();
    pid_t daemon = reader.template recv<pid_t>();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_TRUE(reader.poll()) << "the non-daemon child was joined before its parent exited";
    EXPECT_GT(reader.template recv<pid_t>(), 0);
    EXPECT_EQ(::kill(daemon, 0), -1)
        << "the daemon was terminated and reaped before its parent exited";
    EXPECT_EQ(errno, ESRCH);
  }
}

TYPED_TEST_P(ProcessSuite, MisuseGetsTheDocumentedErrors) {
  mp_id("mp.process.misuse_errors");
  Gate gate;
  auto p = TypeParam::Process(&pc::block_on, gate.child_end);
  EXPECT_THROW(p.join(), mp::AssertionError) << "join before start";
  p.start();
  EXPECT_THROW(p.start(), mp::AssertionError) << "start twice";
  EXPECT_THROW(p.set_daemon(true), mp::AssertionError) << "daemon after start";
  gate.open();
  p.join();
  EXPECT_THROW(p.start(), mp::AssertionError) << "start after the end";
  if constexpr (TypeParam::kSignals) {
    p.close();
    EXPECT_THROW(p.start(), mp::ValueError) << "start a closed process";
    EXPECT_THROW(p.pid(), mp::ValueError);
    EXPECT_THROW(p.sentinel(), mp::ValueError);
  }
  EXPECT_THROW(mp::get_context("bogus"), mp::ValueError);
}

TYPED_TEST_P(ProcessSuite, JoinTimeoutWaitsAtLeastTheTimeout) {
  mp_id("mp.process.join_timeout");
  Gate gate;
  auto p = TypeParam::Process(&pc::block_on, gate.child_end);
  p.start();
  Stopwatch clock;
  p.join(100ms);
  auto waited = clock.elapsed();
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 5s);
  EXPECT_TRUE(p.is_alive());
  gate.open();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(ProcessSuite, DaemonsCannotHaveChildren) {
  mp_id("mp.process.daemon_no_children");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "daemonic threads may start threads";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process({.daemon = true}, &pc::try_to_start_child<TypeParam>, writer);
    p.start();
    std::string outcome = reader.template recv<std::string>();
    p.join();
    EXPECT_EQ(outcome, "AssertionError: daemonic processes are not allowed to have children");
  }
}

inline void takes_a_shared_ptr(std::shared_ptr<int> p) { (void)p; }

TYPED_TEST_P(ProcessSuite, UnpicklableTargetsAreRejected) {
  mp_id("mp.process.unpicklable_targets");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads run any callable";
  } else {
    int captured = 7;
    auto capturing = TypeParam::Process([captured] { std::exit(captured); });
    auto bad_argument = TypeParam::Process(&takes_a_shared_ptr, std::make_shared<int>(1));
    auto [ours, theirs] = TypeParam::Pipe();
    UpperCaser<mp::Process> subclass(theirs, TypeParam::context());
    if (TypeParam::forks()) {
      capturing.start();
      capturing.join();
      EXPECT_EQ(capturing.exitcode(), 7) << "fork runs any callable";
      bad_argument.start();
      bad_argument.join();
      EXPECT_EQ(bad_argument.exitcode(), 0);
    } else {
      EXPECT_THROW(capturing.start(), mp::PicklingError);
      EXPECT_THROW(bad_argument.start(), mp::PicklingError);
      EXPECT_THROW(subclass.start(), mp::PicklingError);
      EXPECT_FALSE(capturing.is_alive());
    }
  }
}

TYPED_TEST_P(ProcessSuite, ChildHasOnlyTheDescriptorsItWasHanded) {
  mp_id("mp.process.child_fds");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads share the parent's descriptors by design";
  } else if (TypeParam::forks()) {
    GTEST_SKIP() << "fork children share the parent's descriptors by design";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&pc::report_open_fds, writer);
    p.start();
    auto fds = reader.template recv<std::vector<std::string>>();
    p.join();
    // stdin, stdout, stderr, the connection it was handed, and the pidfd that
    // watches its parent.
    ASSERT_EQ(fds.size(), 5u) << ::testing::PrintToString(fds);
    EXPECT_EQ(
        std::count_if(fds.begin(), fds.end(),
                      [](const std::string& f) { return f.find("socket:") != std::string::npos; }),
        1);
    EXPECT_EQ(
        std::count_if(fds.begin(), fds.end(),
                      [](const std::string& f) { return f.find("pidfd") != std::string::npos; }),
        1);
  }
}

REGISTER_TYPED_TEST_SUITE_P(
    ProcessSuite, CurrentProcessAttributes, SetExecutable, ArgumentsReachTheChild,
    DaemonDefaultsToTheCreator, ParentProcessAttributes, ParentProcessTracksTheRealParent,
    Lifecycle, ChildRunsOnItsOwnThread, InterruptSendsSigint, InterruptWithDefaultHandler,
    TerminateGivesMinusSigterm, KillGivesMinusSigkill, CpuCount, ActiveChildren,
    NestedChildrenRunInOrder, Sentinel, Close, ManyStartAndTerminate,
    ChildFdCountDoesNotGrowWithSiblings, ChildWaitsForItsNonDaemonThreads, ParentWithClosedStdio,
    ChildClosingItsStdio, ForkserverRestartsAfterSigint, ForkserverRestartsAfterSigkill,
    ForkserverControlChannelIsPrivate, ForkserverObeysOnlyItsParent, SubclassOverridingRun,
    UncaughtExceptionIsReportedOnStderr, ExitCodes, JoinContinuesAcrossSignals,
    ChildCreatesIpcAndItsOwnChild, ChildRunsAtexitHandlers, FinalizersRunInPriorityOrder,
    FinalizeRunsOnceAndInOrder, DaemonDiesWithAKilledParent,
    ExitFunctionTerminatesDaemonsAndJoinsTheRest, MisuseGetsTheDocumentedErrors,
    JoinTimeoutWaitsAtLeastTheTimeout, DaemonsCannotHaveChildren, UnpicklableTargetsAreRejected,
    ChildHasOnlyTheDescriptorsItWasHanded);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_PROCESS_SUITE_H_
