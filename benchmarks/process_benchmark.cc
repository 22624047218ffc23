// process.start_join: start a child that does nothing and wait for it.

#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <tbb/task_group.h>
#include <unistd.h>

#include "harness.h"

extern char** environ;

namespace mp::bench {
namespace {

void noop() {}

void start_join_process(benchmark::State& state, const std::string& method) {
  mp::Context& ctx = mp::get_context(method);
  if (method == "forkserver") mp::Process(ctx, &noop).start();  // the server starts once, not timed
  for (auto _ : state) {
    mp::Process p(ctx, &noop);
    p.start();
    p.join();
    if (p.exitcode() != 0) state.SkipWithError("child failed");
  }
  per_item(state, 1);
}

void start_join_thread(benchmark::State& state) {
  for (auto _ : state) {
    mp::dummy::Process p(&noop);
    p.start();
    p.join();
  }
  per_item(state, 1);
}

void start_join_tbb(benchmark::State& state) {
  tbb::task_group group;
  for (auto _ : state) {
    group.run(&noop);
    group.wait();
  }
  per_item(state, 1);
}

// The threads' floor: pthread_create and pthread_join of a function that
// returns at once.
void start_join_thread_floor(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t thread;
    ::pthread_create(
        &thread, nullptr, [](void*) -> void* { return nullptr; }, nullptr);
    ::pthread_join(thread, nullptr);
  }
  per_item(state, 1);
}

// The floor: fork(), _exit(0) in the child, waitpid().
void start_join_fork_floor(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
  }
  per_item(state, 1);
}

// The spawn floor: posix_spawn of this program told to exit at once.
void start_join_spawn_floor(benchmark::State& state) {
  char self[] = "/proc/self/exe";
  char flag[] = "--mp-bench-exit";
  char* argv[] = {self, flag, nullptr};
  for (auto _ : state) {
    pid_t pid;
    if (::posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    ::waitpid(pid, nullptr, 0);
  }
  per_item(state, 1);
}

const bool registered = [] {
  for (const std::string& method : start_methods()) {
    add("process.start_join", method, {}, [method](benchmark::State& s) {
      start_join_process(s, method);
    })->Unit(benchmark::kMicrosecond);
  }
  add("process.start_join", "threads", {}, start_join_thread)->Unit(benchmark::kMicrosecond);
  add("process.start_join", "tbb", {}, start_join_tbb)->Unit(benchmark::kMicrosecond);
  add("process.start_join", "floor", {}, start_join_fork_floor)->Unit(benchmark::kMicrosecond);
  add("process.start_join", "floor-spawn", {}, start_join_spawn_floor)
      ->Unit(benchmark::kMicrosecond);
  add("process.start_join", "floor-threads", {}, start_join_thread_floor)
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
