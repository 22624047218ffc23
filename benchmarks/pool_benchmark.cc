// Pools.
//
//   pool.map/tasks:N/grain_ns:G/chunksize:C
//       map() of N tasks that each spin G ns, over 2 workers; chunksize 0 is
//       Python's default rule (4 chunks per worker), 1 is one task per
//       message. Per task. N is 100000 except at G = 100000 (1000 tasks,
//       a tenth of a second of work per iteration).
//   pool.imap_unordered/tasks:100000/chunksize:1
//   pool.apply.roundtrip      one apply() of a trivial task: the round trip.
//   pool.map/tasks:1000/grain_ns:100000/processes:P
//       scaling: the same work over P workers (compare with processes:1).
//   pool.create_close_join    Pool(2), close(), join().
//
// tbb: tbb::parallel_for over the same tasks (simple partitioner, grain =
// chunksize, or TBB's auto partitioner for chunksize 0) in an arena of the
// same width; apply is a task_group run + wait. floor: fork()ed workers that
// claim chunks of a shared array with an atomic counter, started and
// finished through futexes. No encoding, no messages: the
// cost of the work itself and of sharing it out.

#include <sys/mman.h>
#include <sys/wait.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <ranges>
#include <thread>
#include <vector>

#include "harness.h"
#include "mp/internal/futex.h"

namespace mp::bench {
namespace {

constexpr int kWorkers = 2;

inline int64_t spin(int64_t ns) {
  if (ns == 0) return 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  int64_t turns = 0;
  while (std::chrono::steady_clock::now() < until) ++turns;
  return turns;
}

// The task: spins for its grain and returns something that depends on it.
int64_t task(std::pair<int64_t, int64_t> work) { return work.first + (spin(work.second) & 1); }
int64_t identity(int64_t x) { return x; }

std::vector<std::pair<int64_t, int64_t>> inputs(int64_t tasks, int64_t grain) {
  std::vector<std::pair<int64_t, int64_t>> v(static_cast<size_t>(tasks));
  for (int64_t i = 0; i < tasks; ++i) v[static_cast<size_t>(i)] = {i, grain};
  return v;
}

template <class Pool>
void map_rows(benchmark::State& state, Pool& pool, int64_t tasks, int64_t grain,
              int64_t chunksize) {
  auto xs = inputs(tasks, grain);
  std::optional<int> cs;
  if (chunksize > 0) cs = static_cast<int>(chunksize);
  pool.map(&task, xs, cs);  // workers warm
  for (auto _ : state) benchmark::DoNotOptimize(pool.map(&task, xs, cs));
  per_item(state, tasks);
}

template <class Pool>
void imap_unordered_rows(benchmark::State& state, Pool& pool, int64_t tasks) {
  std::vector<int64_t> xs(static_cast<size_t>(tasks));
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    int64_t sum = 0;
    for (int64_t y : pool.imap_unordered(&identity, xs)) sum += y;
    benchmark::DoNotOptimize(sum);
  }
  per_item(state, tasks);
}

template <class Pool>
void apply_rows(benchmark::State& state, Pool& pool) {
  pool.apply(&identity, 1);
  for (auto _ : state) benchmark::DoNotOptimize(pool.apply(&identity, 7));
  per_item(state, 1);
}

// TBB ------------------------------------------------------------------------------------

void tbb_map(benchmark::State& state, int64_t tasks, int64_t grain, int64_t chunksize, int width) {
  tbb::task_arena arena(width);
  auto xs = inputs(tasks, grain);
  std::vector<int64_t> out(xs.size());
  auto body = [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i != r.end(); ++i) out[i] = task(xs[i]);
  };
  for (auto _ : state) {
    arena.execute([&] {
      if (chunksize > 0) {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, xs.size(), static_cast<size_t>(chunksize)),
                          body, tbb::simple_partitioner());
      } else {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, xs.size()), body);
      }
    });
    benchmark::DoNotOptimize(out.data());
  }
  per_item(state, tasks);
}

void tbb_apply(benchmark::State& state) {
  tbb::task_arena arena(kWorkers);
  int64_t out = 0;
  for (auto _ : state) {
    arena.execute([&] {
      tbb::task_group g;
      g.run([&] { out = identity(7); });
      g.wait();
    });
    benchmark::DoNotOptimize(out);
  }
  per_item(state, 1);
}

// The floor ------------------------------------------------------------------------------

struct FloorShared {
  alignas(64) std::atomic<uint32_t> round{0};
  std::atomic<uint32_t> done{0};
  alignas(64) std::atomic<int64_t> next{0};      // first unclaimed task of the round
  alignas(64) std::atomic<int64_t> finished{0};  // tasks done this round
  std::atomic<bool> stop{false};
  int64_t tasks = 0;
  int64_t grain = 0;
  int64_t chunk = 1;
};

void floor_map(benchmark::State& state, int64_t tasks, int64_t grain, int64_t chunksize,
               int width) {
  const size_t bytes = sizeof(FloorShared) + static_cast<size_t>(tasks) * 2 * sizeof(int64_t);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    state.SkipWithError("mmap");
    return;
  }
  auto* s = new (mem) FloorShared();
  auto* in = reinterpret_cast<int64_t*>(s + 1);
  int64_t* out = in + tasks;
  for (int64_t i = 0; i < tasks; ++i) in[i] = i;
  s->tasks = tasks;
  s->grain = grain;
  s->chunk =
      chunksize > 0 ? chunksize : std::max<int64_t>(1, (tasks + 4 * width - 1) / (4 * width));
  std::vector<pid_t> kids;
  for (int w = 0; w < width; ++w) {
    pid_t pid = ::fork();
    if (pid == 0) {
      uint32_t seen = 0;
      for (;;) {
        while (s->round.load(std::memory_order_acquire) == seen) {
          internal::futex_wait(s->round, seen, std::nullopt, internal::Sharing::kProcesses);
        }
        if (s->stop.load()) ::_exit(0);
        seen = s->round.load();
        for (;;) {
          int64_t first = s->next.fetch_add(s->chunk);
          if (first >= s->tasks) break;
          int64_t last = std::min(s->tasks, first + s->chunk);
          for (int64_t i = first; i < last; ++i) out[i] = in[i] + (spin(s->grain) & 1);
          if (s->finished.fetch_add(last - first, std::memory_order_acq_rel) + (last - first) ==
              s->tasks) {
            s->done.store(1, std::memory_order_release);
            internal::futex_wake(s->done, 1, internal::Sharing::kProcesses);
          }
        }
      }
    }
    kids.push_back(pid);
  }
  // Nobody spins: on two cores a spinning parent would take a worker's core.
  for (auto _ : state) {
    s->next.store(0);
    s->finished.store(0);
    s->done.store(0);
    s->round.fetch_add(1, std::memory_order_release);
    internal::futex_wake(s->round, INT32_MAX, internal::Sharing::kProcesses);
    while (s->done.load(std::memory_order_acquire) == 0) {
      internal::futex_wait(s->done, 0, std::nullopt, internal::Sharing::kProcesses);
    }
  }
  s->stop.store(true);
  s->round.fetch_add(1);
  internal::futex_wake(s->round, INT32_MAX, internal::Sharing::kProcesses);
  for (pid_t pid : kids) ::waitpid(pid, nullptr, 0);
  ::munmap(mem, bytes);
  per_item(state, tasks);
}

// Registration ---------------------------------------------------------------------------

template <class MakePool, class Body>
auto with_pool(MakePool make, Body body) {
  return [make, body](benchmark::State& state) {
    auto pool = make();
    body(state, pool);
  };
}

void add_all(const std::string& impl, auto make_pool) {
  for (int64_t grain : {0, 1000, 100000}) {
    const int64_t tasks = grain == 100000 ? 1000 : 100000;
    for (int64_t chunksize : {0, 1}) {
      add("pool.map", impl, {{"tasks", tasks}, {"grain_ns", grain}, {"chunksize", chunksize}},
          with_pool(make_pool, [=](benchmark::State& s,
                                   auto& pool) { map_rows(s, pool, tasks, grain, chunksize); }))
          ->Unit(benchmark::kMillisecond);
    }
  }
  add("pool.imap_unordered", impl, {{"tasks", 100000}, {"chunksize", 1}},
      with_pool(make_pool,
                [](benchmark::State& s, auto& pool) { imap_unordered_rows(s, pool, 100000); }))
      ->Unit(benchmark::kMillisecond);
  add("pool.apply.roundtrip", impl, {},
      with_pool(make_pool, [](benchmark::State& s, auto& pool) { apply_rows(s, pool); }))
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  for (const std::string& method : start_methods()) {
    add_all(method, [method] { return mp::Pool(mp::get_context(method), kWorkers); });
    for (int p = 1; p <= kWorkers; ++p) {
      add("pool.map", method, {{"tasks", 1000}, {"grain_ns", 100000}, {"processes", p}},
          [method, p](benchmark::State& s) {
            mp::Pool pool(mp::get_context(method), p);
            map_rows(s, pool, 1000, 100000, 0);
          })
          ->Unit(benchmark::kMillisecond);
    }
    add("pool.create_close_join", method, {}, [method](benchmark::State& s) {
      mp::get_context(method);
      for (auto _ : s) {
        mp::Pool pool(mp::get_context(method), kWorkers);
        pool.close();
        pool.join();
      }
      per_item(s, 1);
    })->Unit(benchmark::kMillisecond);
  }
  add_all("threads", [] { return mp::dummy::Pool(kWorkers); });
  add("pool.create_close_join", "threads", {}, [](benchmark::State& s) {
    for (auto _ : s) {
      mp::dummy::Pool pool(kWorkers);
      pool.close();
      pool.join();
    }
    per_item(s, 1);
  })->Unit(benchmark::kMillisecond);
  for (int64_t grain : {0, 1000, 100000}) {
    const int64_t tasks = grain == 100000 ? 1000 : 100000;
    for (int64_t chunksize : {0, 1}) {
      const Args args = {{"tasks", tasks}, {"grain_ns", grain}, {"chunksize", chunksize}};
      add("pool.map", "tbb", args, [=](benchmark::State& s) {
        tbb_map(s, tasks, grain, chunksize, kWorkers);
      })->Unit(benchmark::kMillisecond);
      add("pool.map", "floor", args, [=](benchmark::State& s) {
        floor_map(s, tasks, grain, chunksize, kWorkers);
      })->Unit(benchmark::kMillisecond);
    }
  }
  for (int p = 1; p <= kWorkers; ++p) {
    const Args args = {{"tasks", 1000}, {"grain_ns", 100000}, {"processes", p}};
    add("pool.map", "tbb", args, [p](benchmark::State& s) {
      tbb_map(s, 1000, 100000, 0, p);
    })->Unit(benchmark::kMillisecond);
    add("pool.map", "floor", args, [p](benchmark::State& s) {
      floor_map(s, 1000, 100000, 0, p);
    })->Unit(benchmark::kMillisecond);
  }
  add("pool.apply.roundtrip", "tbb", {}, tbb_apply)->Unit(benchmark::kMicrosecond);
  add("pool.apply.roundtrip", "floor", {}, futex_pingpong_floor)->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
