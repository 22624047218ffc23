// Pools.
//
//   pool.map/tasks:N/grain_ns:G/chunksize:C
//       map() of N tasks that each spin G ns, over 2 workers; chunksize 0 is
//       Python's default rule (4 chunks per worker), 1 is one task per
//       message. Per task. N is 100000, except at G = 100000 (1000 tasks,
//       a tenth of a second of work per iteration) and at chunksize 1
//       (10000 tasks: CPython takes 40-600 µs per message, a minute per
//       repetition at 100000).
//   pool.imap_unordered/tasks:10000/chunksize:1
//   pool.apply.roundtrip      one apply() of a trivial task: the round trip.
//   pool.map/tasks:1000/grain_ns:100000/processes:P
//       scaling: the same work over P workers (compare with processes:1).
//   pool.create_close_join    Pool(2), close(), join().
//
// tbb: tbb::parallel_for over the same tasks (simple partitioner, grain =
// chunksize, or TBB's auto partitioner for chunksize 0) in an arena of the
// same width, the calling thread taking part; apply is a task enqueued into
// an arena whose threads run it (the caller only waits for the result: a
// handoff, as a pool's apply is).
//
// floor: the same tasks over the same width, shared out the cheapest way: the
// caller and width - 1 fork()ed workers (floor-threads: threads) each take a
// contiguous lane of a task array in shared memory, claim chunks of it with
// an atomic counter of their own (chunksize, or Python's 4 chunks per worker
// for 0; one task per claim for chunksize 1), then take chunks from the
// other lanes until none is left. Rounds start and end through
// spin-then-futex handoffs (floor.h). No encoding, no messages: the cost of
// the work itself and of sharing it out, task by task where a row asks for
// that. pool.apply.roundtrip's floors are a round trip of 8 bytes each way
// through shared memory (roundtrip_floor).

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include "floor.h"
#include "harness.h"

namespace mp::bench {
namespace {

constexpr int kWorkers = 2;
// Tasks of the rows that send one task per message (chunksize 1).
constexpr int64_t kOneByOneTasks = 10000;

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
  pool.map(&pool_task, xs, cs);  // workers warm
  for (auto _ : state) benchmark::DoNotOptimize(pool.map(&pool_task, xs, cs));
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
    for (size_t i = r.begin(); i != r.end(); ++i) out[i] = pool_task(xs[i]);
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
  // Worker threads only: the caller reserves no slot, so an enqueued task
  // runs on a TBB thread.
  tbb::task_arena arena(kWorkers, 0);
  std::atomic<uint32_t> done{0};
  int64_t out = 0;
  auto apply = [&] {
    uint32_t before = done.load();
    arena.enqueue([&] {
      out = identity(7);
      done.fetch_add(1);
      done.notify_one();
    });
    done.wait(before);
    benchmark::DoNotOptimize(out);
  };
  apply();  // TBB's threads are up
  for (auto _ : state) apply();
  per_item(state, 1);
}

// Registration ---------------------------------------------------------------------------

template <class MakePool, class Body>
auto with_pool(MakePool make, Body body) {
  return [make, body](benchmark::State& state) {
    auto pool = make();
    body(state, pool);
  };
}

// The tasks of a pool.map row (see the top of this file).
int64_t map_tasks(int64_t grain, int64_t chunksize) {
  if (grain == 100000) return 1000;
  return chunksize == 1 ? kOneByOneTasks : 100000;
}

void add_all(const std::string& impl, auto make_pool) {
  for (int64_t grain : {0, 1000, 100000}) {
    for (int64_t chunksize : {0, 1}) {
      const int64_t tasks = map_tasks(grain, chunksize);
      add("pool.map", impl, {{"tasks", tasks}, {"grain_ns", grain}, {"chunksize", chunksize}},
          with_pool(make_pool, [=](benchmark::State& s,
                                   auto& pool) { map_rows(s, pool, tasks, grain, chunksize); }))
          ->Unit(benchmark::kMillisecond);
    }
  }
  add("pool.imap_unordered", impl, {{"tasks", kOneByOneTasks}, {"chunksize", 1}},
      with_pool(make_pool, [](benchmark::State& s,
                              auto& pool) { imap_unordered_rows(s, pool, kOneByOneTasks); }))
      ->Unit(benchmark::kMillisecond);
  add("pool.apply.roundtrip", impl, {},
      with_pool(make_pool, [](benchmark::State& s, auto& pool) { apply_rows(s, pool); }))
      ->Unit(benchmark::kMicrosecond);
}

const bool registered = [] {
  for_each_column([]<class I>(const std::string& column) {
    auto make = [column](int processes) {
      select<I>(column);
      return I::Pool({.processes = processes});
    };
    add_all(column, [make] { return make(kWorkers); });
    if constexpr (I::kProcesses) {
      for (int p = 1; p <= kWorkers; ++p) {
        add("pool.map", column, {{"tasks", 1000}, {"grain_ns", 100000}, {"processes", p}},
            [make, p](benchmark::State& s) {
              auto pool = make(p);
              map_rows(s, pool, 1000, 100000, 0);
            })
            ->Unit(benchmark::kMillisecond);
      }
    }
    add_column<I>("pool.create_close_join", column, {}, [](benchmark::State& s) {
      if constexpr (I::kProcesses) I::context();
      for (auto _ : s) {
        auto pool = I::Pool({.processes = kWorkers});
        pool.close();
        pool.join();
      }
      per_item(s, 1);
    })->Unit(benchmark::kMillisecond);
  });
  for (int64_t grain : {0, 1000, 100000}) {
    for (int64_t chunksize : {0, 1}) {
      const int64_t tasks = map_tasks(grain, chunksize);
      const Args args = {{"tasks", tasks}, {"grain_ns", grain}, {"chunksize", chunksize}};
      add("pool.map", "tbb", args, [=](benchmark::State& s) {
        tbb_map(s, tasks, grain, chunksize, kWorkers);
      })->Unit(benchmark::kMillisecond);
      add_floors(
          "pool.map", args,
          [=](benchmark::State& s, Parties p) {
            map_floor(s, tasks, grain, chunksize, kWorkers, p);
          },
          benchmark::kMillisecond);
    }
  }
  for (int p = 1; p <= kWorkers; ++p) {
    const Args args = {{"tasks", 1000}, {"grain_ns", 100000}, {"processes", p}};
    add("pool.map", "tbb", args, [p](benchmark::State& s) {
      tbb_map(s, 1000, 100000, 0, p);
    })->Unit(benchmark::kMillisecond);
    add_floors(
        "pool.map", args,
        [p](benchmark::State& s, Parties parties) { map_floor(s, 1000, 100000, 0, p, parties); },
        benchmark::kMillisecond);
  }
  add("pool.apply.roundtrip", "tbb", {}, tbb_apply)->Unit(benchmark::kMicrosecond);
  add_floors(
      "pool.imap_unordered", {{"tasks", kOneByOneTasks}, {"chunksize", 1}},
      [](benchmark::State& s, Parties p) { map_floor(s, kOneByOneTasks, 0, 1, kWorkers, p); },
      benchmark::kMillisecond);
  add_floors(
      "pool.apply.roundtrip", {},
      [](benchmark::State& s, Parties p) {
        roundtrip_floor(s, {{8, 8}}, p);
      },
      benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
