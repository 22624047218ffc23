// Pool trials: a pool of three workers runs map, imap, or a map whose chunks
// go through the shared arena; a worker is killed while it runs a task.
// Each task notes in shared memory which worker started it and that it
// finished. Afterwards: the call finished; the tasks that failed, failed
// with WorkerLostError and belong to the one chunk the killed worker held
// (a chunk it was running a task of always fails); no task ran twice; every
// other result is right; and the pool still runs a map.

#include <signal.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "trials.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;

// The board: per task, the pid of the worker that started it, and whether
// it finished.
constexpr size_t kStarted = 0;
size_t finished_word(size_t tasks, size_t x) { return tasks + x; }

// The worker's board and the work per task, from the initializer.
struct WorkerState {
  std::optional<Board> board;
  size_t tasks = 0;
  int64_t spin_us = 0;
};
WorkerState& worker_state() {
  static auto* s = new WorkerState;
  return *s;
}

void remember_board(Board b, uint64_t tasks, int64_t spin_us) {
  worker_state().board = std::move(b);
  worker_state().tasks = tasks;
  worker_state().spin_us = spin_us;
}

int64_t task(int64_t x) {
  WorkerState& s = worker_state();
  const auto i = static_cast<size_t>(x);
  if (s.board) {
    if (s.board->load(kStarted + i) != 0) s.board->add(finished_word(s.tasks, i), 2);  // ran twice
    s.board->store(kStarted + i, static_cast<uint64_t>(::getpid()));
  }
  spin_for(std::chrono::microseconds(s.spin_us));
  if (s.board) s.board->add(finished_word(s.tasks, i), 1);
  return 3 * x + 1;
}

enum class Mode { kMap, kImap, kArena };

Outcome pool_trial(mp::Context& ctx, std::mt19937_64& random, Mode mode) {
  Outcome out;
  size_t tasks = 60 + random() % 120;
  int chunksize = 1 + static_cast<int>(random() % 3);
  int64_t spin_us = 100;
  if (mode == Mode::kArena) {
    // Chunks of 4096 ints: 32 KiB of arguments and results each, over the
    // arena's 16 KiB threshold.
    tasks = 4096 * (4 + random() % 4);
    chunksize = 4096;
    spin_us = 1;
  }
  Board b(2 * tasks);
  mp::Pool pool(ctx,
                {.processes = 3, .initializer = {&remember_board, b, uint64_t{tasks}, spin_us}});
  std::vector<int64_t> xs(tasks);
  for (size_t i = 0; i < tasks; ++i) xs[i] = static_cast<int64_t>(i);

  // The killer: once task `at` has started, its worker dies.
  const size_t at = random() % tasks;
  const auto extra = std::chrono::microseconds(random() % 50);
  pid_t victim = 0;
  std::thread killer([&] {
    if (!wait_until([&] { return b.load(kStarted + at) != 0; }, 60s)) return;
    spin_for(extra);
    victim = static_cast<pid_t>(b.load(kStarted + at));
    ::kill(victim, SIGKILL);
  });

  // Outcomes per chunk: true when it failed with WorkerLostError.
  const size_t chunks = (tasks + chunksize - 1) / chunksize;
  std::vector<bool> failed(chunks, false);
  std::vector<std::optional<int64_t>> results(tasks);
  try {
    if (mode == Mode::kImap) {
      auto it = pool.imap(&task, xs, chunksize);
      for (size_t c = 0, i = 0; c < chunks; ++c) {
        const size_t in_chunk = std::min<size_t>(chunksize, tasks - c * chunksize);
        try {
          for (size_t k = 0; k < in_chunk; ++k, ++i) {
            auto y = it.next();
            if (!y) {
              out.fail("imap ended early");
              break;
            }
            results[i] = *y;
          }
        } catch (const mp::WorkerLostError&) {
          failed[c] = true;
          i = (c + 1) * chunksize;
        }
      }
      if (it.next()) {
        ++out.duplicated;
        out.fail("imap yielded more results than tasks");
      }
    } else {
      auto r = pool.map_async(&task, xs, {.chunksize = chunksize});
      try {
        std::vector<int64_t> ys = r.get(120s);
        for (size_t i = 0; i < tasks; ++i) results[i] = ys[i];
      } catch (const mp::WorkerLostError&) {
        std::fill(failed.begin(), failed.end(), true);  // map: the whole call fails
      }
    }
  } catch (const mp::TimeoutError&) {
    out.hung = true;
    out.fail("the map never finished");
  } catch (const std::exception& e) {
    out.fail(std::string("the call threw ") + e.what());
  }
  killer.join();
  if (victim == 0) {
    out.fail("no worker was killed");
    return out;
  }
  out.killed = true;

  // Which tasks the victim was running when it died, and which it started.
  std::set<size_t> running, started_by_victim;
  for (size_t x = 0; x < tasks; ++x) {
    const uint64_t fin = b.load(finished_word(tasks, x));
    if (fin >= 2) {
      ++out.duplicated;
      out.fail("a task ran twice");
    }
    if (b.load(kStarted + x) == static_cast<uint64_t>(victim)) {
      started_by_victim.insert(x);
      if (fin == 0) running.insert(x);
    }
  }
  size_t failed_chunks = 0;
  for (size_t c = 0; c < chunks; ++c) {
    if (!failed[c]) continue;
    ++failed_chunks;
    if (mode == Mode::kImap) {
      // Only the victim's chunk may fail.
      for (size_t x = c * chunksize; x < std::min(tasks, (c + 1) * chunksize); ++x) {
        const uint64_t by = b.load(kStarted + x);
        if (by != 0 && by != static_cast<uint64_t>(victim)) {
          out.fail("a chunk a live worker ran failed with WorkerLostError");
        }
      }
    }
  }
  if (mode == Mode::kImap && failed_chunks > 1) {
    out.fail(std::to_string(failed_chunks) + " chunks failed; the victim held one");
  }
  for (size_t x : running) {
    if (!failed[x / chunksize]) {
      out.fail("task " + std::to_string(x) + " died with its worker but did not fail");
    }
  }
  if (mode != Mode::kImap && failed_chunks > 0 && started_by_victim.empty()) {
    out.fail("the map failed though the killed worker had started nothing");
  }
  for (size_t x = 0; x < tasks; ++x) {
    if (failed[x / chunksize]) {
      if (mode == Mode::kImap) ++out.lost;
      continue;
    }
    if (!results[x] || *results[x] != 3 * static_cast<int64_t>(x) + 1) {
      ++out.corrupted;
      out.fail("a wrong or missing result");
      break;
    }
  }
  // Tasks of the killed worker's chunk are what a kill may cost.
  out.allowed_lost = static_cast<uint64_t>(chunksize);
  // The pool goes on.
  try {
    std::vector<int64_t> small{1, 2, 3};
    auto ys = pool.map_async(&task, small).get(60s);
    if (ys != std::vector<int64_t>{4, 7, 10}) out.fail("the pool's next map is wrong");
  } catch (const std::exception& e) {
    out.hung = true;
    out.fail(std::string("the pool's next map failed: ") + e.what());
  }
  return out;
}

}  // namespace

std::vector<Scenario> pool_scenarios() {
  return {
      {"pool/map", [](mp::Context& c, std::mt19937_64& r) { return pool_trial(c, r, Mode::kMap); }},
      {"pool/imap",
       [](mp::Context& c, std::mt19937_64& r) { return pool_trial(c, r, Mode::kImap); }},
      {"pool/arena",
       [](mp::Context& c, std::mt19937_64& r) { return pool_trial(c, r, Mode::kArena); }},
  };
}

}  // namespace mp::reliability
