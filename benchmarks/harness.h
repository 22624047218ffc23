// benchmarks/harness.h — one scenario, many implementations.
//
// A scenario is written once, as a template or a function per implementation,
// and registered once per implementation under a comparable name:
//   <primitive>.<scenario>/impl:<impl>/<arg>:<value>...
// e.g. "process.start_join/impl:spawn". Implementations: fork, spawn,
// forkserver (mp's processes), threads (mp::dummy), tbb, floor (bare system
// calls: the limit the primitive is judged against). CPython's rows come from
// benchmarks/cpython_bench.py under the same names (impl:cpython-<method>).

#ifndef MP_BENCHMARKS_HARNESS_H_
#define MP_BENCHMARKS_HARNESS_H_

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mp/mp.h"

namespace mp::bench {

using Args = std::vector<std::pair<std::string, int64_t>>;

// "<scenario>/impl:<impl>/<arg>:<value>..."
std::string row_name(const std::string& scenario, const std::string& impl, const Args& args = {});

// Registers one row. Rows measure real time (children and threads do the
// work); `fn` reports its per-item counters itself.
benchmark::internal::Benchmark* add(const std::string& scenario, const std::string& impl,
                                    const Args& args, std::function<void(benchmark::State&)> fn);

// The start methods of mp's process implementation.
inline const std::vector<std::string>& start_methods() {
  static const std::vector<std::string> methods = {"fork", "spawn", "forkserver"};
  return methods;
}

// The timing loop for two started parties that each do one round per
// `go` token and answer with `done`: every iteration releases two tokens and
// takes two answers. Afterwards sets `stop`, lets both parties see it, and
// joins them.
template <class Semaphore, class Event, class Party>
void run_two_party_rounds(benchmark::State& state, Semaphore& go, Semaphore& done, Event& stop,
                          Party& a, Party& b) {
  for (auto _ : state) {
    go.release();
    go.release();
    done.acquire();
    done.acquire();
  }
  stop.set();
  go.release();
  go.release();
  a.join();
  b.join();
}

// Reports `items_per_iteration` items per iteration (items/s in the JSON).
void per_item(benchmark::State& state, int64_t items_per_iteration);

// The floor of every two-party round trip: a turn word in MAP_SHARED memory,
// FUTEX_WAIT and FUTEX_WAKE, no spinning, between this process and a fork()ed
// partner (synchronize_benchmark.cc).
void futex_pingpong_floor(benchmark::State& state);

// The floor of every request/response over a socket, between this process and
// a fork()ed partner on a socketpair, framed as mp::Connection frames
// messages (read/write, one write per message; connection_benchmark.cc): per
// item, for each (request, reply) of `trips`, a `request`-byte message and a
// `reply`-byte answer.
void socket_pingpong_floor(benchmark::State& state,
                           const std::vector<std::pair<int64_t, int64_t>>& trips);

// A fork()ed party for the floor rows: runs `body`, then _exit(0); joined by
// the destructor.
class ForkedParty {
 public:
  template <class F>
  explicit ForkedParty(F body) {
    pid_ = ::fork();
    if (pid_ == 0) {
      body();
      ::_exit(0);
    }
  }
  ForkedParty(const ForkedParty&) = delete;
  ForkedParty& operator=(const ForkedParty&) = delete;
  ~ForkedParty() { ::waitpid(pid_, nullptr, 0); }

 private:
  pid_t pid_;
};

}  // namespace mp::bench

#endif  // MP_BENCHMARKS_HARNESS_H_
