// Locks, semaphores, events, conditions and barriers.
//
//   lock.uncontended, rlock.uncontended, semaphore.uncontended
//       acquire + release in one process: impl:processes (mp::Lock and
//       friends, shared memory), threads (mp::dummy), tbb-* (oneTBB's
//       mutexes), floor (a spin lock in shared memory: test-and-set and a
//       store, floor.h).
//   lock.contended/parties:2
//       two parties each add 1 to a shared counter under the lock, 100 000
//       times per iteration; per increment.
//   event.pingpong, condition.pingpong
//       a round trip between two parties: set/wait/clear (notify/wait).
//   barrier.cycle/parties:2
//       two parties pass a barrier; per pass.
// Multi-party rows run the partner under each start method (the primitive is
// the same; the rows show it), on a thread (threads, tbb) and, for the
// floors, in a fork()ed child (floor) or a thread (floor-threads) sharing
// MAP_SHARED memory (floor.h): a spin lock with backoff for the locks, a
// spin-then-futex handoff of a turn word for the ping-pongs, a
// sense-reversing barrier on the same handoff.

#include <oneapi/tbb/mutex.h>
#include <sys/syscall.h>
#include <tbb/queuing_mutex.h>
#include <tbb/spin_mutex.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "floor.h"
#include "harness.h"
#include "mp/internal/base/shm.h"

namespace mp::bench {

// A shared 64-bit counter for the contended rows (a plain int: the lock is
// what protects it).
struct Counter {
  Counter() : value(internal::Shared<int64_t>::create("mp-bench-counter")) {}
  explicit Counter(internal::Shared<int64_t> v) : value(std::move(v)) {}
  internal::Shared<int64_t> value;
};

}  // namespace mp::bench

namespace mp {
template <>
struct Codec<bench::Counter> {
  static void encode(Writer& w, const bench::Counter& c) { c.value.encode(w); }
  static bench::Counter decode(Reader& r) {
    return bench::Counter(internal::Shared<int64_t>::decode(r));
  }
};
}  // namespace mp

namespace mp::bench {
namespace {

constexpr int64_t kIncrements = 100'000;

// The floors' shared state.
struct FloorShared {
  SpinLock mutex;
  Signal sense;                                  // barrier: rounds completed
  alignas(64) std::atomic<uint32_t> arrived{0};  // barrier: parties in this round
  std::atomic<uint32_t> stop{0};
};

// One-process rows --------------------------------------------------------------

template <class L>
void uncontended(benchmark::State& state) {
  L lock;
  for (auto _ : state) {
    lock.acquire();
    lock.release();
  }
  per_item(state, 1);
}

template <class M>
void uncontended_std(benchmark::State& state) {
  M lock;
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
  per_item(state, 1);
}

void uncontended_queuing(benchmark::State& state) {
  tbb::queuing_mutex lock;
  for (auto _ : state) {
    tbb::queuing_mutex::scoped_lock guard(lock);
  }
  per_item(state, 1);
}

void uncontended_floor(benchmark::State& state) {
  Shared<FloorShared> f;
  for (auto _ : state) {
    f->mutex.lock();
    f->mutex.unlock();
  }
  per_item(state, 1);
}

// A recursive futex lock: the owner's tid and a depth beside the mutex.
void rlock_floor(benchmark::State& state) {
  Shared<FloorShared> f;
  std::atomic<int32_t> owner{0};
  int depth = 0;
  const int32_t me = static_cast<int32_t>(::syscall(SYS_gettid));
  for (auto _ : state) {
    if (owner.load(std::memory_order_relaxed) == me) {
      ++depth;
    } else {
      f->mutex.lock();
      owner.store(me, std::memory_order_relaxed);
      depth = 1;
    }
    if (--depth == 0) {
      owner.store(0, std::memory_order_relaxed);
      f->mutex.unlock();
    }
  }
  per_item(state, 1);
}

template <class S>
void semaphore_uncontended(benchmark::State& state) {
  S sem(1);
  for (auto _ : state) {
    sem.acquire();
    sem.release();
  }
  per_item(state, 1);
}

// lock.contended/parties:2 -------------------------------------------------------

template <class Lock, class Semaphore, class Event>
void contend(Lock lock, Counter counter, Semaphore go, Semaphore done, Event stop) {
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    for (int64_t i = 0; i < kIncrements; ++i) {
      lock.acquire();
      ++*counter.value;
      lock.release();
    }
    done.release();
  }
}

// `Party` is mp::Process under a context, or mp::dummy::Process.
template <class Lock, class Semaphore, class Event, class MakeParty>
void contended(benchmark::State& state, MakeParty make_party) {
  Lock lock;
  Counter counter;
  Semaphore go(0), done(0);
  Event stop;
  auto a = make_party(&contend<Lock, Semaphore, Event>, lock, counter, go, done, stop);
  auto b = make_party(&contend<Lock, Semaphore, Event>, lock, counter, go, done, stop);
  a.start();
  b.start();
  run_two_party_rounds(state, go, done, stop, a, b);
  // Every iteration and the untimed first round.
  if (*counter.value != (static_cast<int64_t>(state.iterations()) + 1) * 2 * kIncrements) {
    state.SkipWithError("lost increments");
  }
  per_item(state, 2 * kIncrements);
}

template <class M>
void contended_std_threads(benchmark::State& state) {
  M lock;
  int64_t counter = 0;
  std::atomic<uint32_t> go{0}, done{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    uint32_t seen = 0;
    for (;;) {
      go.wait(seen);
      seen = go.load();
      if (stop) return;
      for (int64_t i = 0; i < kIncrements; ++i) {
        std::scoped_lock guard(lock);
        ++counter;
      }
      done.fetch_add(1);
      done.notify_all();
    }
  };
  std::thread a(worker), b(worker);
  auto round = [&] {
    uint32_t target = done.load() + 2;
    go.fetch_add(1);
    go.notify_all();
    for (uint32_t d = done.load(); d < target; d = done.load()) done.wait(d);
  };
  round();  // both threads are running
  for (auto _ : state) round();
  stop = true;
  go.fetch_add(1);
  go.notify_all();
  a.join();
  b.join();
  per_item(state, 2 * kIncrements);
}

// event.pingpong ------------------------------------------------------------------

template <class Event>
void echo_events(Event ping, Event pong, Event stop) {
  for (;;) {
    ping.wait();
    ping.clear();
    if (stop.is_set()) return;
    pong.set();
  }
}

template <class Event, class MakeParty>
void event_pingpong(benchmark::State& state, MakeParty make_party) {
  Event ping, pong, stop;
  auto partner = make_party(&echo_events<Event>, ping, pong, stop);
  partner.start();
  auto round_trip = [&] {
    ping.set();
    pong.wait();
    pong.clear();
  };
  round_trip();  // the partner is running
  for (auto _ : state) round_trip();
  stop.set();
  ping.set();
  partner.join();
  per_item(state, 1);
}

// condition.pingpong ----------------------------------------------------------------

// Turns are a counter under the condition: each side waits for its parity.
template <class Condition, class Semaphore, class Event>
void echo_condition(Condition cond, Semaphore turn, Event stop) {
  cond.acquire();
  for (;;) {
    cond.wait_for([&] { return turn.get_value() % 2 == 1 || stop.is_set(); });
    if (stop.is_set()) break;
    turn.release();
    cond.notify();
  }
  cond.release();
}

template <class Condition, class Semaphore, class Event, class MakeParty>
void condition_pingpong(benchmark::State& state, MakeParty make_party) {
  Condition cond;
  Semaphore turn(0);
  Event stop;
  auto partner = make_party(&echo_condition<Condition, Semaphore, Event>, cond, turn, stop);
  partner.start();
  cond.acquire();
  auto round_trip = [&] {
    turn.release();  // odd: the partner's turn
    cond.notify();
    cond.wait_for([&] { return turn.get_value() % 2 == 0; });
  };
  round_trip();  // the partner is running
  for (auto _ : state) round_trip();
  stop.set();
  cond.notify();
  cond.release();
  partner.join();
  per_item(state, 1);
}

// barrier.cycle/parties:2 --------------------------------------------------------------

// The partner passes until the barrier is aborted.
template <class Barrier>
void pass_barrier(Barrier barrier) {
  try {
    for (;;) barrier.wait();
  } catch (const mp::BrokenBarrierError&) {
  }
}

template <class Barrier, class MakeParty>
void barrier_cycle(benchmark::State& state, MakeParty make_party) {
  Barrier barrier(2);
  auto partner = make_party(&pass_barrier<Barrier>, barrier);
  partner.start();
  barrier.wait();  // the partner is running
  for (auto _ : state) barrier.wait();
  barrier.abort();
  partner.join();
  per_item(state, 1);
}

void barrier_floor(benchmark::State& state, Parties parties) {
  Shared<FloorShared> f;
  f->sense.use_by(parties);
  // Sense-reversing: the second to arrive starts the next round.
  auto pass = [f = &*f] {
    uint32_t round = f->sense.load();
    if (f->arrived.fetch_add(1, std::memory_order_acq_rel) == 1) {
      f->arrived.store(0, std::memory_order_relaxed);
      f->sense.advance();
    } else {
      f->sense.wait_change(round);
    }
  };
  {
    // The partner leaves after the pass numbered `stop` (set before the
    // parent's last pass, so it can never miss it).
    Party partner(parties, [pass, shared = &*f] {
      for (uint32_t passes = 1;; ++passes) {
        pass();
        if (shared->stop.load() == passes) return;
      }
    });
    uint32_t passes = 1;
    pass();  // the partner is running
    for (auto _ : state) {
      pass();
      ++passes;
    }
    f->stop = passes + 1;
    pass();
  }
  per_item(state, 1);
}

// Registration --------------------------------------------------------------------

const bool registered = [] {
  using namespace std::string_literals;
  // One process.
  for_each_implementation([]<class I>(const std::string& impl) {
    add("lock.uncontended", impl, {}, uncontended<typename I::Lock>);
    add("rlock.uncontended", impl, {}, uncontended<typename I::RLock>);
    add("semaphore.uncontended", impl, {}, semaphore_uncontended<typename I::Semaphore>);
  });
  add("lock.uncontended", "tbb", {}, uncontended_std<tbb::mutex>);
  add("lock.uncontended", "tbb-spin", {}, uncontended_std<tbb::spin_mutex>);
  add("lock.uncontended", "tbb-queuing", {}, uncontended_queuing);
  add("lock.uncontended", "floor", {}, uncontended_floor);
  add("rlock.uncontended", "floor", {}, rlock_floor);
  add("semaphore.uncontended", "floor", {}, uncontended_floor);

  // Two parties.
  const Args two = {{"parties", 2}};
  for_each_column([&two]<class I>(const std::string& column) {
    using Semaphore = typename I::Semaphore;
    using Event = typename I::Event;
    add_column<I>("lock.contended", column, two, [](benchmark::State& s) {
      contended<typename I::Lock, Semaphore, Event>(s, party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
    add_column<I>("event.pingpong", column, {}, [](benchmark::State& s) {
      event_pingpong<Event>(s, party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
    add_column<I>("condition.pingpong", column, {}, [](benchmark::State& s) {
      condition_pingpong<typename I::Condition, Semaphore, Event>(s, party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
    add_column<I>("barrier.cycle", column, two, [](benchmark::State& s) {
      barrier_cycle<typename I::Barrier>(s, party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
  });
  add("lock.contended", "tbb", two, contended_std_threads<tbb::mutex>)
      ->Unit(benchmark::kMicrosecond);
  add("lock.contended", "tbb-spin", two, contended_std_threads<tbb::spin_mutex>)
      ->Unit(benchmark::kMicrosecond);
  add_floors(
      "lock.contended", two,
      [](benchmark::State& s, Parties p) {
        contended_increment_floor(s, kIncrements, Increment::kLocked, p);
      },
      benchmark::kMicrosecond);
  auto handoff = [](benchmark::State& s, Parties p) { roundtrip_floor(s, {{0, 0}}, p); };
  add_floors("event.pingpong", {}, handoff, benchmark::kMicrosecond);
  add_floors("condition.pingpong", {}, handoff, benchmark::kMicrosecond);
  add_floors("barrier.cycle", two, barrier_floor, benchmark::kMicrosecond);
  return true;
}();

}  // namespace

}  // namespace mp::bench
