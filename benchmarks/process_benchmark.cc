// process.start_join/parent_mib:M — start a child that does nothing and wait
// for it, from a parent that has touched M MiB of memory of its own
// (set_parent_footprint). fork's cost grows with the parent (its page tables
// are copied); spawn's and forkserver's do not (a fresh program; a server
// started small).
//
// Implementations: fork, spawn, forkserver (mp::Process under that context),
// threads (mp::dummy::Process: a thread, joined when it has flagged that it
// is done), and their floors:
//   floor             fork(), _exit(0) in the child, waitpid()
//   floor-spawn       posix_spawn() of this program told to exit at once, waitpid()
//   floor-forkserver  a server spawned small (this program in server mode,
//                     untimed) is asked over a socket to fork; its child
//                     _exit()s, it reaps it and answers
//   floor-threads     pthread_create() of a detached thread that flags it is
//                     done; the caller waits for the flag (what
//                     mp::dummy::Process::join waits for)
// TBB has no equivalent of starting a process: no tbb row.

#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floor.h"
#include "harness.h"
#include "mp/internal/base/fd.h"

extern char** environ;

namespace mp::bench {
namespace {

const std::vector<int64_t> kParentMib = {0, 256, 1024};

void noop() {}

// An implementation's child (`I` an adapter, under its selected column).
template <class I>
void start_join(benchmark::State& state) {
  // The fork server starts once, not timed (it is a fresh program, whatever
  // the parent's footprint).
  if constexpr (I::kProcesses) {
    if (I::context().get_start_method() == "forkserver") {
      auto p = I::Process(&noop);
      p.start();
      p.join();
    }
  }
  for (auto _ : state) {
    auto p = I::Process(&noop);
    p.start();
    p.join();
    if (p.exitcode() != 0) state.SkipWithError("child failed");
  }
  per_item(state, 1);
}

void start_join_fork_floor(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ::waitpid(pid, nullptr, 0);
  }
  per_item(state, 1);
}

// posix_spawn of this program, which main() turns into `flag` before
// anything else.
pid_t spawn_self(const char* flag, const posix_spawn_file_actions_t* actions = nullptr) {
  char self[] = "/proc/self/exe";
  std::string arg = flag;
  char* argv[] = {self, arg.data(), nullptr};
  pid_t pid;
  if (::posix_spawn(&pid, self, actions, nullptr, argv, environ) != 0) return -1;
  return pid;
}

void start_join_spawn_floor(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = spawn_self(kExitFlag);
    if (pid < 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    ::waitpid(pid, nullptr, 0);
  }
  per_item(state, 1);
}

void start_join_forkserver_floor(benchmark::State& state) {
  auto [ours, theirs] = internal::socket_pair(SOCK_STREAM);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
  pid_t server = spawn_self(kForkServerFlag, &actions);
  ::posix_spawn_file_actions_destroy(&actions);
  theirs.reset();
  if (server < 0) {
    state.SkipWithError("posix_spawn failed");
    return;
  }
  auto start_join = [fd = ours.get()] {
    char c = 's';
    return ::write(fd, &c, 1) == 1 && ::read(fd, &c, 1) == 1;
  };
  bool ok = start_join();  // the server is up
  for (auto _ : state) {
    if (!ok) break;
    ok = start_join();
  }
  if (!ok) state.SkipWithError("the fork server failed");
  ours.reset();  // end of file: the server leaves
  ::waitpid(server, nullptr, 0);
  per_item(state, 1);
}

void start_join_thread_floor(benchmark::State& state) {
  // Static: a detached thread may still be inside advance() when the row
  // ends.
  static Signal done;
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (auto _ : state) {
    uint32_t seen = done.load();
    pthread_t thread;
    ::pthread_create(
        &thread, &attr,
        [](void*) -> void* {
          done.advance();
          return nullptr;
        },
        nullptr);
    done.wait_change(seen);
  }
  ::pthread_attr_destroy(&attr);
  per_item(state, 1);
}

const bool registered = [] {
  std::vector<std::pair<std::string, std::function<void(benchmark::State&)>>> impls;
  for_each_column([&impls]<class I>(const std::string& column) {
    impls.emplace_back(column, [column](benchmark::State& s) {
      select<I>(column);
      start_join<I>(s);
    });
  });
  impls.emplace_back("floor", start_join_fork_floor);
  impls.emplace_back("floor-spawn", start_join_spawn_floor);
  impls.emplace_back("floor-forkserver", start_join_forkserver_floor);
  impls.emplace_back("floor-threads", start_join_thread_floor);
  for (const auto& [impl, fn] : impls) {
    for (int64_t mib : kParentMib) {
      add("process.start_join", impl, {{"parent_mib", mib}}, [fn = fn, mib](benchmark::State& s) {
        set_parent_footprint(mib);
        fn(s);
      })->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace
}  // namespace mp::bench
