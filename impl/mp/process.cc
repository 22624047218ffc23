#include "mp/process.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <typeinfo>

#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/process_state.h"
#include "mp/internal/launch/runtime.h"

namespace mp {

namespace internal {

namespace {
void noop() {}
}  // namespace

}  // namespace internal

using internal::ProcessState;

Process::Process() : Process(nullptr, {}, {}) {}
Process::Process(const ProcessOptions& options) : Process(nullptr, options, {}) {}
Process::Process(Context& ctx, const ProcessOptions& options) : Process(&ctx, options, {}) {}

Process::Process(Context* ctx, const ProcessOptions& options, internal::TargetSpec target)
    : state_(std::make_shared<ProcessState>()) {
  internal::ChildInfo info = internal::next_child_info(options.name, options.daemon);
  state_->ctx = ctx;
  state_->name = std::move(info.name);
  state_->daemon = info.daemon;
  state_->identity = std::move(info.identity);
  state_->target = std::move(target);
  state_->creator = ::getpid();
}

Process::~Process() = default;

void Process::run() {
  if (state_->target.call) state_->target.call();
}

void Process::start() {
  ProcessState& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.closed) throw ValueError("process object is closed");
  if (s.started) throw AssertionError("cannot start a process twice");
  if (s.creator != ::getpid()) {
    throw AssertionError("can only start a process object created by current process");
  }
  internal::ChildInfo info;
  {
    std::lock_guard self_lock(internal::self_mutex());
    const internal::Self& me = internal::self();
    if (me.daemon) throw AssertionError("daemonic processes are not allowed to have children");
    info.authkey = me.authkey;
    info.parent_name = me.name;
  }
  active_children();  // reap finished children, as Python's _cleanup() does
  internal::run_start_hook();
  internal::StartMethod method = (s.ctx && !s.ctx->is_default())
                                     ? internal::parse_start_method(s.ctx->get_start_method())
                                     : internal::default_start_method();
  info.name = s.name;
  info.daemon = s.daemon;
  info.identity = s.identity;
  info.start_method = internal::start_method_name(method);
  info.parent_pid = ::getpid();

  if (method == internal::StartMethod::kFork) {
    s.popen = internal::launch_fork(info, [this] { run(); });
  } else {
    if (!initialized()) {
      throw RuntimeError(std::string("the ") + info.start_method +
                         " start method re-executes this program: call mp::init(argc, argv) "
                         "first thing in main()");
    }
    internal::EncodedTarget encoded;
    static const std::function<void(Writer&)> no_args = [](Writer&) {};
    if (s.target.trampoline) {
      encoded = {reinterpret_cast<const void*>(s.target.trampoline), s.target.function,
                 &s.target.encode};
    } else if (s.target.not_transferable) {
      throw PicklingError(std::string("cannot start under ") + info.start_method + ": " +
                          s.target.not_transferable);
    } else if (typeid(*this) != typeid(Process)) {
      throw PicklingError(std::string("cannot start under ") + info.start_method +
                          ": a Process subclass's own run() runs only under the fork start "
                          "method; pass a target instead");
    } else {
      using Fn = void (*)();
      encoded = {reinterpret_cast<const void*>(&internal::trampoline<Fn, std::tuple<>>),
                 reinterpret_cast<const void*>(&internal::noop), &no_args};
    }
    s.popen = method == internal::StartMethod::kSpawn ? internal::launch_spawn(info, encoded)
                                                      : internal::launch_forkserver(info, encoded);
  }
  s.started = true;
  // Like Python, drop the target and its arguments once the child has them:
  // a Connection passed to the child must not stay open here because of it.
  s.target = {};
  internal::register_child(state_);
}

void Process::join() { join_until(std::nullopt); }

void Process::join_until(const internal::Deadline& deadline) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) throw ValueError("process object is closed");
    if (state_->creator != ::getpid()) throw AssertionError("can only join a child process");
    if (!state_->started) throw AssertionError("can only join a started process");
  }
  state_->wait(deadline);
}

bool Process::is_alive() const {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) throw ValueError("process object is closed");
    if (!state_->started) return false;
    if (state_->creator != ::getpid()) throw AssertionError("can only test a child process");
  }
  return state_->running();
}

std::optional<int> Process::exitcode() const {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) throw ValueError("process object is closed");
    if (!state_->started || state_->creator != ::getpid()) return state_->exitcode;
  }
  return state_->wait(internal::Clock::now());
}

std::optional<pid_t> Process::pid() const {
  std::lock_guard lock(state_->mu);
  if (state_->closed) throw ValueError("process object is closed");
  if (!state_->popen) return std::nullopt;
  return state_->popen->pid();
}

void Process::signal(int sig) {
  std::lock_guard lock(state_->mu);
  if (state_->closed) throw ValueError("process object is closed");
  if (state_->popen && !state_->exitcode) state_->popen->send_signal(sig);
}

void Process::terminate() { signal(SIGTERM); }
void Process::kill() { signal(SIGKILL); }
void Process::interrupt() { signal(SIGINT); }

int Process::sentinel() const {
  std::lock_guard lock(state_->mu);
  if (state_->closed) throw ValueError("process object is closed");
  if (!state_->popen) throw ValueError("process not started");
  return state_->popen->sentinel();
}

void Process::close() {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) return;
  }
  if (state_->started && !state_->wait(internal::Clock::now())) {
    throw ValueError(
        "Cannot close a process while it is still running. You should first call join() or "
        "terminate().");
  }
  std::lock_guard lock(state_->mu);
  state_->popen.reset();
  state_->closed = true;
}

const std::string& Process::name() const { return state_->name; }
void Process::set_name(std::string name) { state_->name = std::move(name); }
bool Process::daemon() const { return state_->daemon; }

void Process::set_daemon(bool daemon) {
  std::lock_guard lock(state_->mu);
  if (state_->started) throw AssertionError("process has already started");
  state_->daemon = daemon;
}

std::string Process::authkey() const {
  std::lock_guard lock(internal::self_mutex());
  return internal::self().authkey;
}

// current_process() ---------------------------------------------------------

CurrentProcess current_process() { return CurrentProcess(); }

std::string CurrentProcess::name() const {
  std::lock_guard lock(internal::self_mutex());
  return internal::self().name;
}

void CurrentProcess::set_name(std::string name) {
  std::lock_guard lock(internal::self_mutex());
  internal::self().name = std::move(name);
}

bool CurrentProcess::daemon() const {
  std::lock_guard lock(internal::self_mutex());
  return internal::self().daemon;
}

pid_t CurrentProcess::pid() const { return ::getpid(); }

std::string CurrentProcess::authkey() const {
  std::lock_guard lock(internal::self_mutex());
  return internal::self().authkey;
}

std::string CurrentProcess::start_method() const {
  std::lock_guard lock(internal::self_mutex());
  return internal::self().start_method;
}

// parent_process() ----------------------------------------------------------

std::optional<ParentProcess> parent_process() {
  std::lock_guard lock(internal::self_mutex());
  const internal::Self& me = internal::self();
  if (!me.is_child) return std::nullopt;
  return ParentProcess(me.parent_pid, me.parent_name, me.parent_pidfd);
}

bool ParentProcess::is_alive() const {
  return sentinel_ >= 0 && !internal::wait_fd(sentinel_, POLLIN, internal::Clock::now());
}

void ParentProcess::join() { join_until(std::nullopt); }

void ParentProcess::join_until(const internal::Deadline& deadline) {
  if (sentinel_ >= 0) internal::wait_fd(sentinel_, POLLIN, deadline);
}

// active_children() ---------------------------------------------------------

std::vector<Process> active_children() {
  std::vector<Process> alive;
  for (auto& child : internal::registered_children()) {
    if (child->creator != ::getpid()) continue;
    if (child->running()) alive.push_back(Process(child));
  }
  return alive;
}

}  // namespace mp
