// Executors (mp::futures; Python: concurrent.futures).
//
//   executor.submit.roundtrip            submit() of a trivial call and result(): the round trip.
//   executor.map/tasks:100000/chunksize:C
//       map() of 100k trivial calls over 2 workers, results read in order;
//       chunksize 1 is one future per call. Per call.
//   executor.as_completed/futures:10000
//       10k submits, then as_completed() over them. Per future.
//
// fork, spawn, forkserver: ProcessPoolExecutor; threads: ThreadPoolExecutor.
// tbb: the same hand-off to TBB's worker threads: task_group tasks enqueued
// into an arena with no slot for this thread (so no call runs here), each
// completion published through an atomic this thread waits on. floor and
// floor-threads (floor.h): the round trip is roundtrip_floor's 8 bytes each
// way; map and as_completed are map_floor's trivial tasks over the same
// width, claimed in chunks of the same size from a shared array (one
// wake-up per round, not one per result: a lower bound for taking them one
// at a time).

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <unistd.h>

#include <atomic>
#include <numeric>
#include <vector>

#include "floor.h"
#include "harness.h"
#include "mp/futures.h"

namespace mp::bench {
namespace {

constexpr int kWorkers = 2;
constexpr int64_t kMapTasks = 100000;
constexpr int64_t kFutures = 10000;

int64_t identity(int64_t x) { return x; }

template <class Executor>
void roundtrip_rows(benchmark::State& state, Executor& ex) {
  ex.submit(&identity, 1).result();  // a worker is up
  for (auto _ : state) benchmark::DoNotOptimize(ex.submit(&identity, 7).result());
  per_item(state, 1);
}

template <class Executor>
void map_rows(benchmark::State& state, Executor& ex, int chunksize) {
  std::vector<int64_t> xs(static_cast<size_t>(kMapTasks));
  std::iota(xs.begin(), xs.end(), 0);
  auto run = [&] {
    int64_t sum = 0;
    for (int64_t y : ex.map(&identity, xs, {.chunksize = chunksize})) sum += y;
    return sum;
  };
  run();  // every worker is up
  for (auto _ : state) benchmark::DoNotOptimize(run());
  per_item(state, kMapTasks);
}

template <class Executor>
void as_completed_rows(benchmark::State& state, Executor& ex) {
  using Future = decltype(ex.submit(&identity, 0));
  auto run = [&] {
    std::vector<Future> fs;
    fs.reserve(static_cast<size_t>(kFutures));
    for (int64_t i = 0; i < kFutures; ++i) fs.push_back(ex.submit(&identity, i));
    int64_t sum = 0;
    for (auto& f : mp::futures::as_completed(fs)) sum += f.result();
    return sum;
  };
  run();
  for (auto _ : state) benchmark::DoNotOptimize(run());
  per_item(state, kFutures);
}

// TBB ------------------------------------------------------------------------------------

// Tasks of a task_group run on TBB's workers only: the arena keeps no slot
// for this thread, and this thread only waits on an atomic.
struct TbbWorkers {
  // TBB's default is one worker thread less than the cores: allow kWorkers.
  tbb::global_control workers{tbb::global_control::max_allowed_parallelism, kWorkers + 1};
  tbb::task_arena arena{kWorkers, 0};
  tbb::task_group group;
  template <class F>
  void run(F f) {
    arena.enqueue(group.defer(std::move(f)));
  }
  ~TbbWorkers() {
    arena.execute([&] { group.wait(); });
  }
};

void wait_past(std::atomic<uint32_t>& word, uint32_t seen) {
  uint32_t now;
  while ((now = word.load(std::memory_order_acquire)) == seen) word.wait(now);
}

void tbb_roundtrip(benchmark::State& state) {
  TbbWorkers tbb;
  std::atomic<uint32_t> done{0};
  int64_t out = 0;
  for (auto _ : state) {
    const uint32_t seen = done.load(std::memory_order_relaxed);
    tbb.run([&] {
      out = identity(7);
      done.fetch_add(1, std::memory_order_release);
      done.notify_one();
    });
    wait_past(done, seen);
    benchmark::DoNotOptimize(out);
  }
  per_item(state, 1);
}

void tbb_map(benchmark::State& state, int chunksize) {
  TbbWorkers tbb;
  std::vector<int64_t> xs(static_cast<size_t>(kMapTasks)), out(xs.size());
  std::iota(xs.begin(), xs.end(), 0);
  std::atomic<uint32_t> done{0};
  for (auto _ : state) {
    const uint32_t seen = done.load(std::memory_order_relaxed);
    tbb.run([&] {
      tbb::parallel_for(
          tbb::blocked_range<size_t>(0, xs.size(), static_cast<size_t>(chunksize)),
          [&](const tbb::blocked_range<size_t>& r) {
            for (size_t i = r.begin(); i != r.end(); ++i) out[i] = identity(xs[i]);
          },
          tbb::simple_partitioner());
      done.fetch_add(1, std::memory_order_release);
      done.notify_one();
    });
    wait_past(done, seen);
    benchmark::DoNotOptimize(std::accumulate(out.begin(), out.end(), int64_t{0}));
  }
  per_item(state, kMapTasks);
}

void tbb_as_completed(benchmark::State& state) {
  TbbWorkers tbb;
  std::vector<int64_t> out(static_cast<size_t>(kFutures));
  std::atomic<uint32_t> completed{0};
  for (auto _ : state) {
    completed.store(0);
    for (int64_t i = 0; i < kFutures; ++i) {
      tbb.run([&, i] {
        out[static_cast<size_t>(i)] = identity(i);
        completed.fetch_add(1, std::memory_order_release);
        completed.notify_one();
      });
    }
    int64_t sum = 0;
    for (uint32_t taken = 0; taken < kFutures;) {
      wait_past(completed, taken);
      const uint32_t now = completed.load(std::memory_order_acquire);
      for (; taken < now; ++taken) sum += 1;
    }
    benchmark::DoNotOptimize(sum + out[0]);
  }
  per_item(state, kFutures);
}

// Registration ---------------------------------------------------------------------------

void add_all(const std::string& impl, auto make) {
  add("executor.submit.roundtrip", impl, {}, [make](benchmark::State& s) {
    auto ex = make();
    roundtrip_rows(s, ex);
  })->Unit(benchmark::kMicrosecond);
  for (int chunksize : {1, 64}) {
    add("executor.map", impl, {{"tasks", kMapTasks}, {"chunksize", chunksize}},
        [make, chunksize](benchmark::State& s) {
          auto ex = make();
          map_rows(s, ex, chunksize);
        })
        ->Unit(benchmark::kMillisecond);
  }
  add("executor.as_completed", impl, {{"futures", kFutures}}, [make](benchmark::State& s) {
    auto ex = make();
    as_completed_rows(s, ex);
  })->Unit(benchmark::kMillisecond);
}

const bool registered = [] {
  for_each_column([]<class I>(const std::string& column) {
    add_all(column, [column] {
      select<I>(column);
      return I::Executor({.max_workers = kWorkers});
    });
  });
  add("executor.submit.roundtrip", "tbb", {}, tbb_roundtrip)->Unit(benchmark::kMicrosecond);
  add_floors(
      "executor.submit.roundtrip", {},
      [](benchmark::State& s, Parties p) {
        roundtrip_floor(s, {{8, 8}}, p);
      },
      benchmark::kMicrosecond);
  for (int chunksize : {1, 64}) {
    const Args args = {{"tasks", kMapTasks}, {"chunksize", chunksize}};
    add("executor.map", "tbb", args, [chunksize](benchmark::State& s) {
      tbb_map(s, chunksize);
    })->Unit(benchmark::kMillisecond);
    add_floors(
        "executor.map", args,
        [chunksize](benchmark::State& s, Parties p) {
          map_floor(s, kMapTasks, 0, chunksize, kWorkers, p);
        },
        benchmark::kMillisecond);
  }
  add("executor.as_completed", "tbb", {{"futures", kFutures}}, tbb_as_completed)
      ->Unit(benchmark::kMillisecond);
  add_floors(
      "executor.as_completed", {{"futures", kFutures}},
      [](benchmark::State& s, Parties p) { map_floor(s, kFutures, 0, 1, kWorkers, p); },
      benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
