#include "mp/internal/runtime.h"

#include <cxxabi.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <new>
#include <thread>
#include <typeinfo>

#include "mp/errors.h"
#include "mp/internal/popen.h"
#include "mp/internal/process_state.h"

namespace mp::internal {

namespace {

struct StartMethodChoice {
  std::mutex mu;
  std::optional<StartMethod> method;
};

StartMethodChoice& start_method_choice() {
  static auto* choice = new StartMethodChoice;  // never destroyed: used at exit
  return *choice;
}

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ProcessState>> children;
};

Registry* g_registry = new Registry;  // never destroyed: used at exit
Self* g_self = nullptr;
std::mutex* g_self_mutex = new std::mutex;
int g_self_pidfd = -1;
std::atomic<bool> g_exit_function_ran{false};

std::string random_authkey() {
  std::string key(32, '\0');
  size_t done = 0;
  while (done < key.size()) {
    ssize_t n = ::getrandom(key.data() + done, key.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom");
    }
    done += static_cast<size_t>(n);
  }
  return key;
}

std::string identity_suffix(const std::vector<uint32_t>& identity) {
  std::string out;
  for (size_t i = 0; i < identity.size(); ++i) {
    if (i) out += ':';
    out += std::to_string(identity[i]);
  }
  return out;
}

std::string describe_current_exception() {
  std::string type = "unknown exception";
  if (std::type_info* info = abi::__cxa_current_exception_type()) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(info->name(), nullptr, nullptr, &status);
    type = status == 0 && demangled ? demangled : info->name();
    std::free(demangled);
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

}  // namespace

StartMethod parse_start_method(std::string_view name) {
  if (name == "fork") return StartMethod::kFork;
  if (name == "spawn") return StartMethod::kSpawn;
  if (name == "forkserver") return StartMethod::kForkserver;
  throw ValueError("cannot find context for '" + std::string(name) + "'");
}

const char* start_method_name(StartMethod method) noexcept {
  switch (method) {
    case StartMethod::kFork: return "fork";
    case StartMethod::kSpawn: return "spawn";
    case StartMethod::kForkserver: return "forkserver";
  }
  return "?";
}

StartMethod default_start_method() {
  auto& choice = start_method_choice();
  std::lock_guard lock(choice.mu);
  if (!choice.method) choice.method = StartMethod::kForkserver;
  return *choice.method;
}

std::optional<StartMethod> chosen_start_method() {
  auto& choice = start_method_choice();
  std::lock_guard lock(choice.mu);
  return choice.method;
}

void choose_start_method(std::optional<StartMethod> method, bool force) {
  auto& choice = start_method_choice();
  std::lock_guard lock(choice.mu);
  if (choice.method && !force) throw RuntimeError("context has already been set");
  choice.method = method;
}

std::mutex& self_mutex() { return *g_self_mutex; }

Self& self() {
  if (g_self == nullptr) {
    g_self = new Self;  // never destroyed: used at exit
    g_self->authkey = random_authkey();
  }
  return *g_self;
}

ChildInfo next_child_info(const std::string& name, std::optional<bool> daemon) {
  std::lock_guard lock(self_mutex());
  Self& me = self();
  ChildInfo info;
  info.identity = me.identity;
  info.identity.push_back(me.next_child++);
  info.name = name.empty() ? "Process-" + identity_suffix(info.identity) : name;
  info.daemon = daemon.value_or(me.daemon);
  info.authkey = me.authkey;
  info.parent_pid = ::getpid();
  info.parent_name = me.name;
  return info;
}

int self_pidfd() {
  std::lock_guard lock(self_mutex());
  if (g_self_pidfd < 0) g_self_pidfd = pidfd_open(::getpid()).release();
  return g_self_pidfd;
}

namespace {
std::string& program_name_storage() {
  static auto* name = new std::string;
  return *name;
}
}  // namespace

const std::string& program_name() { return program_name_storage(); }

namespace {
struct LaunchSettings {
  std::mutex mu;
  std::string executable = "/proc/self/exe";
  std::vector<void (*)()> preload;
};
LaunchSettings& launch_settings() {
  static auto* settings = new LaunchSettings;
  return *settings;
}
}  // namespace

std::string executable() {
  std::lock_guard lock(launch_settings().mu);
  return launch_settings().executable;
}

void set_executable_path(std::string path) {
  std::lock_guard lock(launch_settings().mu);
  launch_settings().executable = std::move(path);
}

std::vector<void (*)()> forkserver_preload() {
  std::lock_guard lock(launch_settings().mu);
  return launch_settings().preload;
}

void set_forkserver_preload_list(std::vector<void (*)()> functions) {
  std::lock_guard lock(launch_settings().mu);
  launch_settings().preload = std::move(functions);
}
void set_program_name(const char* argv0) { program_name_storage() = argv0 ? argv0 : ""; }

void flush_std_streams() noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
    std::clog.flush();
  } catch (...) {
  }
  std::fflush(nullptr);
}

void register_child(std::shared_ptr<ProcessState> child) {
  std::lock_guard lock(g_registry->mu);
  g_registry->children.push_back(std::move(child));
}

void forget_child(const ProcessState* child) {
  std::lock_guard lock(g_registry->mu);
  auto& kids = g_registry->children;
  std::erase_if(kids, [child](const auto& p) { return p.get() == child; });
}

std::vector<std::shared_ptr<ProcessState>> registered_children() {
  std::lock_guard lock(g_registry->mu);
  return g_registry->children;
}

namespace {
struct Hooks {
  std::mutex mu;
  std::vector<void (*)()> at_exit;
  std::vector<void (*)()> in_child;
};
Hooks& hooks() {
  static auto* h = new Hooks;
  return *h;
}
}  // namespace

void add_runtime_hooks(void (*at_exit)(), void (*in_child)()) {
  std::lock_guard lock(hooks().mu);
  if (at_exit) hooks().at_exit.push_back(at_exit);
  if (in_child) hooks().in_child.push_back(in_child);
}

void exit_function() noexcept {
  if (g_exit_function_ran.exchange(true)) return;
  for (auto hook : hooks().at_exit) hook();
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
  stop_forkserver();
  flush_std_streams();
}

int run_child(const ChildInfo& info, int parent_pidfd, const std::function<void()>& body) {
  // Whatever the parent's bookkeeping was, it is not this process's. Only
  // this thread exists here, and another parent thread may have held these
  // mutexes at fork time: make them anew in place.
  new (&g_registry->mu) std::mutex;
  g_registry->children.clear();
  new (g_self_mutex) std::mutex;
  g_exit_function_ran = false;
  g_self_pidfd = -1;
  forget_forkserver_after_fork();
  for (auto hook : hooks().in_child) hook();
  {
    Self& me = self();
    me.name = info.name;
    me.daemon = info.daemon;
    me.identity = info.identity;
    me.authkey = info.authkey;
    me.start_method = info.start_method;
    me.next_child = 1;
    me.is_child = true;
    me.parent_pid = info.parent_pid;
    me.parent_name = info.parent_name;
    me.parent_pidfd = parent_pidfd;
  }
  {
    // A child launched with a method keeps using it by default.
    auto& choice = start_method_choice();
    choice.method = parse_start_method(info.start_method);
  }
  if (info.daemon && parent_pidfd >= 0) watch_parent_and_die_with_it(parent_pidfd);

  int code = 0;
  try {
    body();
  } catch (...) {
    std::string what = describe_current_exception();
    flush_std_streams();
    std::fprintf(stderr, "Process %s:\n%s\n", info.name.c_str(), what.c_str());
    code = 1;
  }
  exit_function();
  return code;
}

}  // namespace mp::internal
