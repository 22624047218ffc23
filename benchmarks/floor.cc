#include "floor.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

namespace mp::bench {

SharedMapping::SharedMapping(size_t bytes) : bytes_(bytes) {
  address_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (address_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
}

SharedMapping::~SharedMapping() { ::munmap(address_, bytes_); }

void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, bool shared) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word),
            shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(const std::atomic<uint32_t>& word, bool shared) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word),
            shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

pid_t Party::fork_or_die() {
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  return pid;
}

void Party::exit_child() { ::_exit(0); }

Party::~Party() {
  if (thread_.joinable()) thread_.join();
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
}

void add_floors(const std::string& scenario, const Args& args,
                std::function<void(benchmark::State&, Parties)> fn, benchmark::TimeUnit unit) {
  for (auto [impl, parties] :
       {std::pair{"floor", Parties::kProcesses}, std::pair{"floor-threads", Parties::kThreads}}) {
    add(scenario, impl, args, [fn, parties = parties](benchmark::State& s) {
      fn(s, parties);
    })->Unit(unit);
  }
}

namespace {

// The mailbox of roundtrip_floor: `turn` odd while a request waits, even
// while a reply waits (or nothing does); `stop` ends the partner. The
// message lies in the bytes after it (Shared::extra).
struct Mailbox {
  Signal turn;
  alignas(64) std::atomic<uint32_t> stop{0};
};

}  // namespace

void roundtrip_floor(benchmark::State& state, const std::vector<std::pair<int64_t, int64_t>>& trips,
                     Parties parties) {
  size_t largest = 1;
  for (const auto& [request, reply] : trips) {
    largest = std::max({largest, static_cast<size_t>(request), static_cast<size_t>(reply)});
  }
  Shared<Mailbox> box(largest);
  box->turn.use_by(parties);
  std::byte* const message = box.extra();
  std::vector<std::byte> request_bytes(largest, std::byte{'q'});
  std::vector<std::byte> reply_bytes(largest, std::byte{'r'});
  std::vector<std::byte> received(largest);
  {
    // The partner keeps its own copies of what it reads: a thread that read
    // them through references into this frame would share cache lines with
    // the caller's stack, which the caller writes on every trip.
    Party partner(parties, [mailbox = &*box, message, trips, reply_bytes, largest] {
      std::vector<std::byte> in(largest);
      // The parent makes its trips in order: the partner's k-th answer is
      // to trip k % trips.size().
      for (uint32_t turn = 1, k = 0;; turn += 2, k = (k + 1) % trips.size()) {
        mailbox->turn.wait_for(turn);
        if (mailbox->stop.load(std::memory_order_acquire)) return;
        std::memcpy(in.data(), message, static_cast<size_t>(trips[k].first));
        benchmark::DoNotOptimize(in.data());
        std::memcpy(message, reply_bytes.data(), static_cast<size_t>(trips[k].second));
        mailbox->turn.store(turn + 1);
      }
    });
    uint32_t turn = 0;
    auto item = [&] {
      for (const auto& [request, reply] : trips) {
        std::memcpy(message, request_bytes.data(), static_cast<size_t>(request));
        box->turn.store(++turn);
        box->turn.wait_for(++turn);
        std::memcpy(received.data(), message, static_cast<size_t>(reply));
        benchmark::DoNotOptimize(received.data());
      }
    };
    item();  // the partner is running
    for (auto _ : state) item();
    box->stop.store(1, std::memory_order_release);
    box->turn.store(++turn);
  }
  state.SetItemsProcessed(state.iterations());
}

namespace {

struct ContendedShared {
  // The counter on the lock's cache line: one line moves per critical
  // section, the cheapest layout there is.
  struct alignas(64) {
    std::atomic<uint32_t> word{0};
    int64_t counter = 0;
  } locked;
  Signal go;       // rounds started
  Signal handoff;  // in turn: the first party's half done, the second's to go
  Signal done;     // parties' rounds finished
  alignas(64) std::atomic<uint32_t> stop{0};
};

}  // namespace

void contended_increment_floor(benchmark::State& state, int64_t increments, Increment how,
                               Parties parties) {
  Shared<ContendedShared> f;
  f->go.use_by(parties);
  f->handoff.use_by(parties);
  f->done.use_by(parties);
  // Atomic adds go in turn: two CPUs adding to one line at once pay for
  // the line's moves, which an implementation whose parties happen not to
  // overlap does not, and a floor must be the cheaper of the two.
  const bool in_turn = how == Increment::kAtomic;
  // The parties reach the shared struct through a pointer of their own
  // (see roundtrip_floor), not through `f` in this frame.
  auto body = [f = &*f, increments, how, in_turn](int who) {
    Signal& start = in_turn && who == 1 ? f->handoff : f->go;
    Signal& finish = in_turn && who == 0 ? f->handoff : f->done;
    for (uint32_t seen = 0;;) {
      seen = start.wait_change(seen);
      if (f->stop.load()) return;
      if (how == Increment::kAtomic) {
        std::atomic_ref<int64_t> counter(f->locked.counter);
        for (int64_t i = 0; i < increments; ++i) counter.fetch_add(1, std::memory_order_relaxed);
      } else {
        for (int64_t i = 0; i < increments; ++i) {
          spin_lock(f->locked.word);
          ++f->locked.counter;
          spin_unlock(f->locked.word);
        }
      }
      finish.advance();
    }
  };
  {
    Party a(parties, [body] { body(0); }), b(parties, [body] { body(1); });
    uint32_t target = 0;
    auto round = [&f, &target, in_turn] {
      target += in_turn ? 1 : 2;
      f->go.advance();
      f->done.wait_for(target);
    };
    round();  // both parties are running
    for (auto _ : state) round();
    f->stop = 1;
    f->go.advance();
    f->handoff.advance();
  }
  if (f->locked.counter != (static_cast<int64_t>(state.iterations()) + 1) * 2 * increments) {
    state.SkipWithError("lost increments");
  }
  state.SetItemsProcessed(state.iterations() * 2 * increments);
}

int serve_forks(int fd) {
  char c;
  while (::read(fd, &c, 1) == 1) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    if (pid < 0 || ::waitpid(pid, nullptr, 0) != pid || ::write(fd, &c, 1) != 1) return 1;
  }
  return 0;
}

// map_floor ------------------------------------------------------------------------------

// Spins for `ns` of wall time. A task on a thread that waits for a CPU
// meanwhile finishes as if it had worked, so these rows mean what they say
// only on a quiet machine with a CPU per worker (the publish run's); the
// thread's CPU time would not have that flaw, but reading it costs ~3 µs on
// the benchmark VM, three times a 1 µs task.
int64_t spin(int64_t ns) {
  if (ns == 0) return 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  int64_t turns = 0;
  while (std::chrono::steady_clock::now() < until) ++turns;
  return turns;
}

// The task: spins for its grain and returns something that depends on it.
int64_t pool_task(std::pair<int64_t, int64_t> work) { return work.first + (spin(work.second) & 1); }
namespace {

constexpr int kMaxWidth = 8;

struct FloorPool {
  struct alignas(64) Lane {
    std::atomic<int64_t> next{0};  // first unclaimed task
    int64_t end = 0;
  };
  Signal round;  // advanced to start a round
  Signal left;   // advanced by each worker when it has no task left in the round
  std::atomic<uint32_t> stop{0};
  Lane lanes[kMaxWidth];
};

// Runs lane `own`, then whatever is left in the others.
void drain(FloorPool& p, int own, int width, int64_t chunk, const std::pair<int64_t, int64_t>* in,
           int64_t* out) {
  for (int k = 0; k < width; ++k) {
    FloorPool::Lane& lane = p.lanes[(own + k) % width];
    for (;;) {
      int64_t first = lane.next.fetch_add(chunk, std::memory_order_relaxed);
      if (first >= lane.end) break;
      int64_t last = std::min(lane.end, first + chunk);
      for (int64_t i = first; i < last; ++i) out[i] = pool_task(in[i]);
    }
  }
}

}  // namespace

void map_floor(benchmark::State& state, int64_t tasks, int64_t grain, int64_t chunksize, int width,
               Parties parties) {
  const int64_t chunk =
      chunksize > 0 ? chunksize : std::max<int64_t>(1, (tasks + 4 * width - 1) / (4 * width));
  Shared<FloorPool> pool(static_cast<size_t>(tasks) *
                         (sizeof(std::pair<int64_t, int64_t>) + sizeof(int64_t)));
  auto* in = reinterpret_cast<std::pair<int64_t, int64_t>*>(pool.extra());
  auto* out = reinterpret_cast<int64_t*>(in + tasks);
  for (int64_t i = 0; i < tasks; ++i) in[i] = {i, grain};
  FloorPool& p = *pool;
  p.round.use_by(parties);
  p.left.use_by(parties);
  std::vector<std::unique_ptr<Party>> workers;
  for (int w = 1; w < width; ++w) {
    workers.push_back(std::make_unique<Party>(parties, [&p, w, width, chunk, in, out] {
      for (uint32_t seen = 0;;) {
        seen = p.round.wait_change(seen);
        if (p.stop.load()) return;
        drain(p, w, width, chunk, in, out);
        p.left.advance();
      }
    }));
  }
  uint32_t left = 0;
  auto map = [&] {
    for (int w = 0; w < width; ++w) {
      p.lanes[w].end = tasks * (w + 1) / width;
      p.lanes[w].next.store(tasks * w / width, std::memory_order_relaxed);
    }
    p.round.advance();
    drain(p, 0, width, chunk, in, out);
    left += static_cast<uint32_t>(width - 1);
    p.left.wait_for(left);
    benchmark::DoNotOptimize(out);
  };
  map();  // the workers are running
  for (auto _ : state) map();
  p.stop.store(1);
  p.round.advance();
  workers.clear();
  per_item(state, tasks);
}

}  // namespace mp::bench
