#include "mp/internal/launch/runtime.h"

#include <cxxabi.h>
#include <poll.h>
#include <signal.h>
#include <stdio_ext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <ext/stdio_sync_filebuf.h>
#include <iostream>
#include <new>
#include <thread>
#include <typeinfo>

#include "mp/errors.h"
#include "mp/internal/base/fault.h"
#include "mp/internal/base/finalize.h"
#include "mp/internal/base/per_process.h"
#include "mp/internal/base/snapshot.h"
#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/process_state.h"

namespace mp::internal {

namespace {

// set_start_method()'s choice, per process: a child that has not chosen uses
// the method it was launched with.
struct StartMethodChoice {
  std::mutex mu;
  std::optional<StartMethod> method;
};
PerProcess<StartMethodChoice> g_choice;

// The children this process has started and not yet reaped.
struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ProcessState>> children;
};
PerProcess<Registry> g_registry;

struct SelfPidfd {
  std::mutex mu;
  int fd = -1;
};
PerProcess<SelfPidfd> g_self_pidfd;

struct ExitState {
  std::atomic<bool> ran{false};
};
PerProcess<ExitState> g_exit;

// This process's identity. A child overwrites the copy it inherited (or finds
// none, after exec) in run_child(), before anything else runs.
Self* g_self = nullptr;

// Hooks exit_function() runs first. Snapshots (see snapshot.h): a fork child
// reads them whole whatever the parent's threads were doing, and writes
// nothing to read them (constant-initialized).
using Hooks = std::vector<void (*)()>;
constinit Snapshots<Hooks> g_hooks;

struct LaunchSettings {
  std::string executable;  // empty: /proc/self/exe
  std::vector<void (*)()> preload;
};
constinit Snapshots<LaunchSettings> g_launch_settings;

std::string& program_name_storage() {
  static auto* name = new std::string;
  return *name;
}

std::string random_authkey() { return random_bytes(32); }

std::string describe_current_exception() {
  std::string type = "unknown exception";
  if (std::type_info* info = abi::__cxa_current_exception_type()) {
    type = demangle(info->name());
  }
  try {
    throw;
  } catch (const std::exception& e) {
    return type + ": " + e.what();
  } catch (...) {
    return type;
  }
}

void watch_parent_and_die_with_it(int parent_pidfd) {
  std::thread([parent_pidfd] {
    pollfd p{parent_pidfd, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    ::kill(::getpid(), SIGKILL);
  }).detach();
}

// Assigns only when different: an equal value costs no write (see
// per_process.h on why a fork child avoids writes).
template <class T>
void assign(T& to, const T& from) {
  if (!(to == from)) to = from;
}

// Flushes one C++ standard stream unless it writes straight through stdio
// (the default, sync_with_stdio(true)), in which case stdio's flush covers it.
void flush_unless_synced(std::ostream& stream) {
  if (dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(stream.rdbuf()) == nullptr) stream.flush();
}

}  // namespace

StartMethod parse_start_method(std::string_view name) {
  if (name == "fork") return StartMethod::kFork;
  if (name == "spawn") return StartMethod::kSpawn;
  if (name == "forkserver") return StartMethod::kForkserver;
  throw ValueError("cannot find context for '" + std::string(name) + "'");
}

const char* start_method_name(StartMethod method) noexcept {
  switch (method) {
    case StartMethod::kFork:
      return "fork";
    case StartMethod::kSpawn:
      return "spawn";
    case StartMethod::kForkserver:
      return "forkserver";
  }
  return "?";
}

StartMethod default_start_method() {
  auto& choice = g_choice.get();
  std::lock_guard lock(choice.mu);
  if (!choice.method) {
    std::string launched = current_start_method();
    choice.method = launched.empty() ? StartMethod::kForkserver : parse_start_method(launched);
  }
  return *choice.method;
}

std::optional<StartMethod> chosen_start_method() {
  auto* choice = g_choice.mine();
  if (!choice) return std::nullopt;
  std::lock_guard lock(choice->mu);
  return choice->method;
}

void choose_start_method(std::optional<StartMethod> method, bool force) {
  auto& choice = g_choice.get();
  std::lock_guard lock(choice.mu);
  if (choice.method && !force) throw RuntimeError("context has already been set");
  choice.method = method;
}

std::mutex& self_mutex() { return self().mu; }

Self& self() {
  if (g_self == nullptr) {
    g_self = new Self;  // never destroyed: used at exit
    g_self->authkey = random_authkey();
  }
  return *g_self;
}

std::string current_start_method() {
  Self& me = self();
  std::lock_guard lock(me.mu);
  return me.start_method;
}

ChildInfo next_child_info(const std::string& name, std::optional<bool> daemon) {
  Self& me = self();
  std::lock_guard lock(me.mu);
  ChildInfo info;
  info.identity = (me.identity.empty() ? "" : me.identity + ":") + std::to_string(me.next_child++);
  info.name = name.empty() ? "Process-" + info.identity : name;
  info.daemon = daemon.value_or(me.daemon);
  info.authkey = me.authkey;
  info.parent_pid = ::getpid();
  info.parent_name = me.name;
  return info;
}

int self_pidfd() {
  auto& s = g_self_pidfd.get();
  std::lock_guard lock(s.mu);
  if (s.fd < 0) s.fd = pidfd_open(::getpid()).release();
  return s.fd;
}

const std::string& program_name() { return program_name_storage(); }
namespace {
std::atomic<bool> g_program_named{false};
}  // namespace

void set_program_name(const char* argv0) {
  program_name_storage() = argv0 ? argv0 : "";
  g_program_named.store(true, std::memory_order_release);
}
bool program_named() noexcept { return g_program_named.load(std::memory_order_acquire); }

std::string executable() {
  const LaunchSettings* settings = g_launch_settings.current();
  return settings && !settings->executable.empty() ? settings->executable : "/proc/self/exe";
}

void set_executable_path(std::string path) {
  g_launch_settings.update([&](LaunchSettings& s) { s.executable = path; });
}

std::vector<void (*)()> forkserver_preload() {
  const LaunchSettings* settings = g_launch_settings.current();
  return settings ? settings->preload : std::vector<void (*)()>();
}

void set_forkserver_preload_list(std::vector<void (*)()> functions) {
  g_launch_settings.update([&](LaunchSettings& s) { s.preload = functions; });
}

void flush_std_streams() noexcept {
  try {
    flush_unless_synced(std::cout);
    flush_unless_synced(std::cerr);
    flush_unless_synced(std::clog);
  } catch (...) {
  }
  // Only what is pending: fflush() locks the stream (a write) even when
  // there is nothing to do.
  if (__fpending(stdout) > 0) std::fflush(stdout);
  if (__fpending(stderr) > 0) std::fflush(stderr);
}

void register_child(std::shared_ptr<ProcessState> child) {
  auto& registry = g_registry.get();
  std::lock_guard lock(registry.mu);
  registry.children.push_back(std::move(child));
}

void forget_child(const ProcessState* child) {
  auto* registry = g_registry.mine();
  if (!registry) return;
  std::lock_guard lock(registry->mu);
  std::erase_if(registry->children, [child](const auto& p) { return p.get() == child; });
}

std::vector<std::shared_ptr<ProcessState>> registered_children() {
  auto* registry = g_registry.mine();
  if (!registry) return {};
  std::lock_guard lock(registry->mu);
  return registry->children;
}

namespace {
std::atomic<StartHook> g_start_hook{nullptr};
}  // namespace

StartHook set_start_hook(StartHook hook) noexcept { return g_start_hook.exchange(hook); }

void run_start_hook() {
  if (StartHook hook = g_start_hook.load()) hook();
}

void add_runtime_hooks(void (*at_exit)()) {
  // A hook already present publishes nothing: no allocation, no snapshot
  // kept forever for a call that changes nothing.
  if (const Hooks* hooks = g_hooks.current();
      hooks && std::find(hooks->begin(), hooks->end(), at_exit) != hooks->end()) {
    return;
  }
  g_hooks.update([at_exit](Hooks& hooks) {
    if (std::find(hooks.begin(), hooks.end(), at_exit) == hooks.end()) hooks.push_back(at_exit);
  });
}

void exit_function() noexcept {
  // A fork child that started nothing has nothing to do here but flush, and
  // does it without marking anything (no write, no copy-on-write fault).
  const Hooks* hooks = g_hooks.current();
  if (hooks || g_registry.mine() || forkserver_pid() || has_finalizers()) {
    if (g_exit.get().ran.exchange(true)) return;
    // Python's order: finalizers of priority >= 0, then the children, then
    // the other finalizers.
    run_finalizers(0);
    if (hooks) {
      for (auto hook : *hooks) hook();
    }
    try {
      for (auto& child : registered_children()) {
        if (child->daemon && child->running()) {
          std::lock_guard lock(child->mu);
          if (child->popen) child->popen->send_signal(SIGTERM);
        }
      }
      for (auto& child : registered_children()) child->wait(std::nullopt);
    } catch (...) {
      // At exit nothing is left to report to.
    }
    run_finalizers(std::nullopt);
    stop_forkserver();
  }
  flush_std_streams();
}

namespace {

// "Process <name>:" and the exception in flight, on stderr; never throws.
void report_child_failure(const std::string& name) noexcept {
  try {
    std::string what = describe_current_exception();
    flush_std_streams();
    std::fprintf(stderr, "Process %s:\n%s\n", name.c_str(), what.c_str());
  } catch (...) {
    std::fputs("mp: a child failed, and reporting it failed too\n", stderr);
  }
}

// The last exit handler of a child that is a copy of another process (fork,
// forkserver): registered first thing in the child, it runs after every
// handler the child registered itself and ends the process before the
// inherited ones, which belong to the process it is a copy of (Python clears
// the atexit list in such a child for the same reason).
void end_copied_child(int status, void*) {
  exit_function();
  flush_std_streams();
  ::_exit(status);
}

}  // namespace

int run_child(const ChildInfo& info, int parent_pidfd, const std::function<void()>& body,
              bool forked) noexcept {
  const bool copy = forked || info.start_method == "forkserver";
  try {
    forget_forkserver_after_fork();
    if (copy) ::on_exit(&end_copied_child, nullptr);
    if (g_self == nullptr) g_self = new Self;  // spawned: no key to draw, the parent's comes
    // Another parent thread may have held the mutex at fork time: make it
    // anew, in place (the page is written below anyway).
    new (&g_self->mu) std::mutex;
    Self& me = *g_self;
    assign(me.name, info.name);
    me.daemon = info.daemon;
    assign(me.identity, info.identity);
    if (!forked) me.authkey = info.authkey;  // a fork child has its parent's already
    assign(me.start_method, info.start_method);
    me.next_child = 1;
    me.is_child = true;
    me.parent_pid = info.parent_pid;
    assign(me.parent_name, info.parent_name);
    me.parent_pidfd = parent_pidfd;
    fault_point(FaultPoint::kChildStarting);
    if (info.daemon && parent_pidfd >= 0) watch_parent_and_die_with_it(parent_pidfd);
  } catch (...) {
    // The child could not become itself (no thread for the parent watch:
    // EAGAIN under a process limit; no memory): its target never ran.
    report_child_failure(info.name);
    return 1;
  }
  int code = 0;
  try {
    body();
  } catch (...) {
    report_child_failure(info.name);
    code = 1;
  }
  exit_function();
  // A copy ends through the exit handlers it registered (std::atexit, static
  // objects it made), then end_copied_child(); a spawned child returns, and
  // its launcher calls std::exit.
  if (copy) std::exit(code);
  return code;
}

}  // namespace mp::internal
