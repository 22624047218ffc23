#include "mp/dummy/process.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "mp/context.h"
#include "mp/internal/base/per_process.h"
#include "mp/internal/launch/runtime.h"

namespace mp::dummy {

namespace internal {

struct ThreadState {
  std::mutex mu;
  std::condition_variable done_cv;
  std::string name;
  bool daemon = false;
  std::function<void()> call;
  std::thread::id starter;
  std::optional<std::thread::id> ident;
  bool started = false;
  bool done = false;
  int exitcode = 0;
};

namespace {

std::atomic<unsigned> g_thread_counter{1};
thread_local ThreadState* t_current = nullptr;

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ThreadState>> threads;
};

// Per process: a fork child does not have its parent's threads.
mp::internal::PerProcess<Registry> g_registry;
Registry& registry() { return g_registry.get(); }

void join_non_daemon_threads_at_exit() {
  Registry* mine = g_registry.mine();
  if (!mine) return;
  std::vector<std::shared_ptr<ThreadState>> threads;
  {
    std::lock_guard lock(mine->mu);
    threads = mine->threads;
  }
  for (auto& t : threads) {
    std::unique_lock lock(t->mu);
    if (!t->daemon) t->done_cv.wait(lock, [&] { return t->done; });
  }
}

}  // namespace
}  // namespace internal

using internal::ThreadState;

Process::Process() : Process(ProcessOptions{}, std::function<void()>{}) {}
Process::Process(const ProcessOptions& options) : Process(options, std::function<void()>{}) {}

Process::Process(const ProcessOptions& options, std::function<void()> call)
    : state_(std::make_shared<ThreadState>()) {
  state_->name = options.name.empty()
                     ? "Thread-" + std::to_string(internal::g_thread_counter.fetch_add(1))
                     : options.name;
  state_->daemon = options.daemon.value_or(internal::t_current && internal::t_current->daemon);
  state_->call = std::move(call);
}

Process::~Process() = default;

void Process::run() {
  if (state_->call) state_->call();
}

void Process::start() {
  static std::once_flag at_exit;
  std::call_once(at_exit, [] {
    // Python joins non-daemonic threads before a process exits; so does mp's
    // exit function (also at the end of every child), or atexit without init().
    mp::internal::add_runtime_hooks(&internal::join_non_daemon_threads_at_exit);
    if (!mp::initialized()) std::atexit(internal::join_non_daemon_threads_at_exit);
  });
  {
    std::lock_guard lock(state_->mu);
    if (state_->started) throw AssertionError("cannot start a process twice");
    state_->started = true;
    state_->starter = std::this_thread::get_id();
  }
  {
    std::lock_guard lock(internal::registry().mu);
    auto& threads = internal::registry().threads;
    std::erase_if(threads, [](const auto& t) {
      std::lock_guard l(t->mu);
      return t->done;
    });
    threads.push_back(state_);
  }
  // A subclass's run() needs this object; a target needs only the state.
  bool own_run = !state_->call;
  std::thread thread([state = state_, self = own_run ? this : nullptr] {
    internal::t_current = state.get();
    int code = 0;
    try {
      if (self) {
        self->run();
      } else {
        state->call();
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "Exception in thread %s:\n%s\n", state->name.c_str(), e.what());
      code = 1;
    } catch (...) {
      std::fprintf(stderr, "Exception in thread %s:\nunknown exception\n", state->name.c_str());
      code = 1;
    }
    // The arguments go before anyone is told the thread is done: a joiner
    // may count on them (a Connection, say) being closed.
    state->call = nullptr;
    {
      std::lock_guard lock(state->mu);
      state->exitcode = code;
      state->done = true;
    }
    state->done_cv.notify_all();
  });
  std::lock_guard lock(state_->mu);
  state_->ident = thread.get_id();
  thread.detach();
}

void Process::join() { join_until(std::nullopt); }

void Process::join_until(const mp::internal::Deadline& deadline) {
  std::unique_lock lock(state_->mu);
  if (!state_->started) throw AssertionError("can only join a started process");
  if (internal::t_current == state_.get()) throw RuntimeError("cannot join current thread");
  if (deadline) {
    state_->done_cv.wait_until(lock, *deadline, [&] { return state_->done; });
  } else {
    state_->done_cv.wait(lock, [&] { return state_->done; });
  }
}

bool Process::is_alive() const {
  std::lock_guard lock(state_->mu);
  return state_->started && !state_->done;
}

std::optional<int> Process::exitcode() const {
  std::lock_guard lock(state_->mu);
  if (!state_->done) return std::nullopt;
  return state_->exitcode;
}

const std::string& Process::name() const { return state_->name; }
void Process::set_name(std::string name) { state_->name = std::move(name); }
bool Process::daemon() const { return state_->daemon; }

void Process::set_daemon(bool daemon) {
  std::lock_guard lock(state_->mu);
  if (state_->started) throw AssertionError("process has already started");
  state_->daemon = daemon;
}

std::optional<std::thread::id> Process::ident() const {
  std::lock_guard lock(state_->mu);
  return state_->ident;
}

std::string CurrentThread::name() const {
  return internal::t_current ? internal::t_current->name : "MainThread";
}

bool CurrentThread::daemon() const { return internal::t_current && internal::t_current->daemon; }

CurrentThread current_process() { return CurrentThread(); }

std::vector<Process> active_children() {
  std::vector<Process> alive;
  auto me = std::this_thread::get_id();
  std::lock_guard lock(internal::registry().mu);
  for (auto& t : internal::registry().threads) {
    std::lock_guard l(t->mu);
    if (t->started && !t->done && t->starter == me) alive.push_back(Process(t));
  }
  return alive;
}

}  // namespace mp::dummy
