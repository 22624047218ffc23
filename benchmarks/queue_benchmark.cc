// Queues.
//
//   queue.throughput/producers:P/consumers:C/payload:B
//       K items of B bytes through one queue from P producers to C consumers,
//       per item. Producers and consumers are processes under each start
//       method (fork, spawn, forkserver), threads (mp::dummy), TBB's
//       concurrent_bounded_queue between threads, and for 1:1 the floor: a
//       lock-free single-producer single-consumer ring in shared memory with
//       cached indices, waiting without sleeping (floor.h).
//   queue.pingpong/payload:8       a round trip through two queues; the floor:
//                                  8 bytes there and back through shared
//                                  memory, a spin-then-futex handoff (floor.h)
//   simplequeue.throughput/payload:8, joinablequeue.task_done
//       the same 1:1 transfer through SimpleQueue, and through JoinableQueue
//       with a task_done() per item and a join() per batch.

#include <tbb/concurrent_queue.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "floor.h"
#include "harness.h"

namespace mp::bench {
namespace {

constexpr int64_t kBatch = 100'000;

template <size_t N>
struct Payload {
  std::array<char, N> bytes{};
};
using Payload8 = int64_t;
using Payload64 = Payload<64>;
using Payload4096 = Payload<4096>;

// A process or thread that produces or consumes `count` items per round,
// rounds started by `go` and finished into `done` (and `done` once at the
// start: it is running).
template <class Queue, class Item, class Semaphore, class Event>
void produce_rounds(Queue q, Semaphore go, Semaphore done, Event stop, int64_t count) {
  Item item{};
  done.release();
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    for (int64_t i = 0; i < count; ++i) q.put(item);
    done.release();
  }
}

template <class Queue, class Item, class Semaphore, class Event>
void consume_rounds(Queue q, Semaphore go, Semaphore done, Event stop, int64_t count) {
  done.release();
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    for (int64_t i = 0; i < count; ++i) benchmark::DoNotOptimize(q.get());
    done.release();
  }
}

template <class Queue, class Item, class Semaphore, class Event, class MakeParty>
void throughput(benchmark::State& state, MakeParty make_party, int producers, int consumers) {
  Queue q(10'000);
  // One go-semaphore per party: with a shared one a quick party could take a
  // second turn in the same round while another never starts it.
  const int n = producers + consumers;
  std::vector<Semaphore> go;
  for (int i = 0; i < n; ++i) go.emplace_back(0);
  Semaphore done(0);
  Event stop;
  std::vector<decltype(make_party(&produce_rounds<Queue, Item, Semaphore, Event>, q, go[0], done,
                                  stop, int64_t{}))>
      parties;
  for (int i = 0; i < producers; ++i) {
    parties.push_back(make_party(&produce_rounds<Queue, Item, Semaphore, Event>, q, go[i], done,
                                 stop, kBatch / producers));
  }
  for (int i = producers; i < n; ++i) {
    parties.push_back(make_party(&consume_rounds<Queue, Item, Semaphore, Event>, q, go[i], done,
                                 stop, kBatch / consumers));
  }
  for (auto& p : parties) p.start();
  for (int i = 0; i < n; ++i) done.acquire();  // every party is running
  for (auto _ : state) {
    for (auto& g : go) g.release();
    for (int i = 0; i < n; ++i) done.acquire();
  }
  stop.set();
  for (auto& g : go) g.release();
  for (auto& p : parties) p.join();
  per_item(state, kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<int64_t>(sizeof(Item)));
}

// Producer and consumer threads around a tbb::concurrent_bounded_queue;
// rounds started and finished through atomics the waiting side sleeps on
// (no thread spins for a core the workers need).
template <class Item>
void throughput_tbb(benchmark::State& state, int producers, int consumers) {
  tbb::concurrent_bounded_queue<Item> q;
  q.set_capacity(10'000);
  std::atomic<uint32_t> rounds{0};
  std::atomic<uint32_t> finished{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto next_round = [&](uint32_t& seen) {
    rounds.wait(seen);
    seen = rounds.load();
    return !stop.load();
  };
  auto finish = [&] {
    finished.fetch_add(1);
    finished.notify_all();
  };
  for (int i = 0; i < producers; ++i) {
    threads.emplace_back([&] {
      Item item{};
      for (uint32_t seen = 0; next_round(seen);) {
        for (int64_t k = 0; k < kBatch / producers; ++k) q.push(item);
        finish();
      }
    });
  }
  for (int i = 0; i < consumers; ++i) {
    threads.emplace_back([&] {
      Item item;
      for (uint32_t seen = 0; next_round(seen);) {
        for (int64_t k = 0; k < kBatch / consumers; ++k) q.pop(item);
        finish();
      }
    });
  }
  const uint32_t n = static_cast<uint32_t>(producers + consumers);
  uint32_t target = 0;
  auto round = [&] {
    target += n;
    rounds.fetch_add(1);
    rounds.notify_all();
    for (uint32_t f = finished.load(); f != target; f = finished.load()) finished.wait(f);
  };
  round();  // every thread is running
  for (auto _ : state) round();
  stop = true;
  rounds.fetch_add(1);
  rounds.notify_all();
  for (auto& t : threads) t.join();
  per_item(state, kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<int64_t>(sizeof(Item)));
}

// The floor: a single-producer single-consumer ring of fixed slots in
// MAP_SHARED memory, each side caching the other's index and waiting for room
// or for an item without sleeping (relax_until); rounds start through a
// Signal (floor.h).
template <class Item>
struct SpscRing {
  static constexpr uint64_t kSlots = 4096;
  alignas(128) std::atomic<uint64_t> head{0};
  alignas(128) std::atomic<uint64_t> tail{0};
  Signal rounds;
  std::atomic<uint32_t> stop{0};
  alignas(128) Item slots[kSlots];
};

template <class Item>
void throughput_floor(benchmark::State& state, Parties parties) {
  using Ring = SpscRing<Item>;
  Shared<Ring> shared;
  Ring& ring = *shared;
  ring.rounds.use_by(parties);
  {
    Party producer(parties, [&ring] {
      uint64_t tail = 0, cached_head = 0;
      Item item{};
      for (uint32_t seen = 0;;) {
        seen = ring.rounds.wait_change(seen);
        if (ring.stop.load()) return;
        for (int64_t i = 0; i < kBatch; ++i) {
          if (tail - cached_head == Ring::kSlots) {
            relax_until([&] {
              cached_head = ring.head.load(std::memory_order_acquire);
              return tail - cached_head < Ring::kSlots;
            });
          }
          ring.slots[tail % Ring::kSlots] = item;
          ring.tail.store(++tail, std::memory_order_release);
        }
      }
    });
    uint64_t head = 0, cached_tail = 0;
    auto round = [&] {
      ring.rounds.advance();
      for (int64_t i = 0; i < kBatch; ++i) {
        if (head == cached_tail) {
          relax_until([&] {
            cached_tail = ring.tail.load(std::memory_order_acquire);
            return head != cached_tail;
          });
        }
        Item item = ring.slots[head % Ring::kSlots];  // copied out, as a queue's get does
        benchmark::DoNotOptimize(item);
        ring.head.store(++head, std::memory_order_release);
      }
    };
    round();  // the producer is running
    for (auto _ : state) round();
    ring.stop = 1;
    ring.rounds.advance();
  }
  per_item(state, kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<int64_t>(sizeof(Item)));
}

// queue.pingpong ------------------------------------------------------------------

template <class Queue>
void echo_items(Queue in, Queue out) {
  for (;;) {
    int64_t v = in.get();
    if (v < 0) return;
    out.put(v);
  }
}

template <class Queue, class MakeParty>
void pingpong(benchmark::State& state, MakeParty make_party) {
  Queue ping, pong;
  auto partner = make_party(&echo_items<Queue>, ping, pong);
  partner.start();
  int64_t i = 0;
  auto round_trip = [&] {
    ping.put(i++);
    benchmark::DoNotOptimize(pong.get());
  };
  round_trip();  // the partner is running
  for (auto _ : state) round_trip();
  ping.put(-1);
  partner.join();
  per_item(state, 1);
}

void pingpong_tbb(benchmark::State& state) {
  tbb::concurrent_bounded_queue<int64_t> ping, pong;
  std::thread partner([&] {
    for (;;) {
      int64_t v;
      ping.pop(v);
      if (v < 0) return;
      pong.push(v);
    }
  });
  int64_t i = 0;
  auto round_trip = [&] {
    ping.push(i++);
    int64_t v;
    pong.pop(v);
  };
  round_trip();  // the partner is running
  for (auto _ : state) round_trip();
  ping.push(-1);
  partner.join();
  per_item(state, 1);
}

// simplequeue.throughput, joinablequeue.task_done -----------------------------------

template <class Queue, class Semaphore, class Event>
void produce_simple(Queue q, Semaphore go, Semaphore done, Event stop) {
  done.release();  // running
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    for (int64_t i = 0; i < kBatch; ++i) q.put(i);
    done.release();
  }
}

template <class Queue, class Semaphore, class Event, class MakeParty>
void simple_throughput(benchmark::State& state, MakeParty make_party) {
  Queue q;
  Semaphore go(0), done(0);
  Event stop;
  auto producer = make_party(&produce_simple<Queue, Semaphore, Event>, q, go, done, stop);
  producer.start();
  done.acquire();  // the producer is running
  for (auto _ : state) {
    go.release();
    for (int64_t i = 0; i < kBatch; ++i) benchmark::DoNotOptimize(q.get());
    done.acquire();
  }
  stop.set();
  go.release();
  producer.join();
  per_item(state, kBatch);
}

template <class Queue>
void work_and_mark_done(Queue q) {
  for (;;) {
    int64_t v = q.get();
    q.task_done();
    if (v < 0) return;
  }
}

template <class Queue, class MakeParty>
void task_done_rounds(benchmark::State& state, MakeParty make_party) {
  constexpr int64_t kRound = 10'000;
  Queue q(10'000);
  auto worker = make_party(&work_and_mark_done<Queue>, q);
  worker.start();
  q.put(0);
  q.join();  // the worker is running
  for (auto _ : state) {
    for (int64_t i = 0; i < kRound; ++i) q.put(i);
    q.join();
  }
  q.put(-1);
  worker.join();
  per_item(state, kRound);
}

// Registration --------------------------------------------------------------------------

template <class Item>
void add_throughput(int64_t payload) {
  const Args one = {{"producers", 1}, {"consumers", 1}, {"payload", payload}};
  for_each_column([&one]<class I>(const std::string& column) {
    add_column<I>("queue.throughput", column, one, [](benchmark::State& s) {
      throughput<typename I::template Queue<Item>, Item, typename I::Semaphore, typename I::Event>(
          s, party_maker<I>(), 1, 1);
    })->Unit(benchmark::kMillisecond);
  });
  add("queue.throughput", "tbb", one, [](benchmark::State& s) {
    throughput_tbb<Item>(s, 1, 1);
  })->Unit(benchmark::kMillisecond);
  add_floors("queue.throughput", one, throughput_floor<Item>, benchmark::kMillisecond);
}

const bool registered = [] {
  add_throughput<Payload8>(8);
  add_throughput<Payload64>(64);
  add_throughput<Payload4096>(4096);
  const Args two = {{"producers", 2}, {"consumers", 2}, {"payload", 64}};
  for_each_column([&two]<class I>(const std::string& column) {
    using Semaphore = typename I::Semaphore;
    using Event = typename I::Event;
    add_column<I>("queue.throughput", column, two, [](benchmark::State& s) {
      throughput<typename I::template Queue<Payload64>, Payload64, Semaphore, Event>(
          s, party_maker<I>(), 2, 2);
    })->Unit(benchmark::kMillisecond);
    add_column<I>("queue.pingpong", column, {{"payload", 8}}, [](benchmark::State& s) {
      pingpong<typename I::template Queue<int64_t>>(s, party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
    add_column<I>("simplequeue.throughput", column, {{"payload", 8}}, [](benchmark::State& s) {
      simple_throughput<typename I::template SimpleQueue<int64_t>, Semaphore, Event>(
          s, party_maker<I>());
    })->Unit(benchmark::kMillisecond);
    add_column<I>("joinablequeue.task_done", column, {}, [](benchmark::State& s) {
      task_done_rounds<typename I::template JoinableQueue<int64_t>>(s, party_maker<I>());
    })->Unit(benchmark::kMillisecond);
  });
  add("queue.throughput", "tbb", two, [](benchmark::State& s) {
    throughput_tbb<Payload64>(s, 2, 2);
  })->Unit(benchmark::kMillisecond);
  add("queue.pingpong", "tbb", {{"payload", 8}}, pingpong_tbb)->Unit(benchmark::kMicrosecond);
  add_floors(
      "queue.pingpong", {{"payload", 8}},
      [](benchmark::State& s, Parties p) {
        roundtrip_floor(s, {{8, 8}}, p);
      },
      benchmark::kMicrosecond);
  add_floors("simplequeue.throughput", {{"payload", 8}}, throughput_floor<Payload8>,
             benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
