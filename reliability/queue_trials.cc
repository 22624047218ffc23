// Queue trials: two producers and two consumers (processes) share a Queue;
// one of the four is killed once it has made a random amount of progress.
// Every item carries its producer, its sequence number and a checksum of
// its bytes. Afterwards: every item a producer's put() returned for arrived
// once, undamaged, in its producer's order, except at most the one item the
// killed consumer had taken; qsize() matched a drain; no call overran its
// bound; an idle consumer did not spin.

#include <cstring>
#include <map>
#include <optional>

#include "faults.h"
#include "testing/conformance.h"
#include "trials.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;
using Q = mp::Queue<std::string>;

constexpr int kProducers = 2, kConsumers = 2;
// The board's words.
constexpr size_t kStop = 0, kOverruns = 1, kDone = 2, kCount = kDone + kProducers,
                 kCorrupt = kCount + kConsumers, kLogs = kCorrupt + kConsumers;

uint64_t fnv(const char* data, size_t size, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < size; ++i)
    h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return h;
}

uint64_t id_of(uint32_t producer, uint32_t seq) { return (uint64_t{producer} << 32) | seq; }

// [u32 producer][u32 seq][u64 checksum of the rest][payload]
std::string make_item(uint32_t producer, uint32_t seq, bool large) {
  size_t payload = 8;
  if (large) payload = 1024 + fnv(reinterpret_cast<const char*>(&seq), 4, producer + 1) % 23000;
  std::string item(16 + payload, '\0');
  std::memcpy(item.data(), &producer, 4);
  std::memcpy(item.data() + 4, &seq, 4);
  for (size_t i = 0; i < payload; ++i)
    item[16 + i] = static_cast<char>(seq * 31 + producer * 7 + i);
  uint64_t check = fnv(item.data() + 16, payload, fnv(item.data(), 8));
  std::memcpy(item.data() + 8, &check, 8);
  return item;
}

// The item's id if it is intact.
std::optional<uint64_t> check_item(const std::string& item) {
  if (item.size() < 16) return std::nullopt;
  uint32_t producer, seq;
  uint64_t check;
  std::memcpy(&producer, item.data(), 4);
  std::memcpy(&seq, item.data() + 4, 4);
  std::memcpy(&check, item.data() + 8, 8);
  if (check != fnv(item.data() + 16, item.size() - 16, fnv(item.data(), 8))) return std::nullopt;
  return id_of(producer, seq);
}

void produce(Q q, Board b, int me, int count, bool large) {
  for (int seq = 0; seq < count; ++seq) {
    try {
      q.put(make_item(static_cast<uint32_t>(me), static_cast<uint32_t>(seq), large), 20s);
    } catch (const mp::Full&) {
      b.add(kOverruns, 1);  // nobody consumed for 20 s
      return;
    }
    b.store(kDone + me, static_cast<uint64_t>(seq) + 1);
    if (!large) spin_for(std::chrono::microseconds(10));  // a kill may land mid-stream
  }
}

void consume(Q q, Board b, int me, int capacity) {
  const size_t log = kLogs + static_cast<size_t>(me) * capacity;
  uint64_t count = 0;
  for (;;) {
    std::string item;
    auto asked = std::chrono::steady_clock::now();
    try {
      item = q.get(10ms);
    } catch (const mp::Empty&) {
      if (std::chrono::steady_clock::now() - asked > 5s) b.add(kOverruns, 1);
      if (b.load(kStop)) return;
      continue;
    }
    auto id = check_item(item);
    if (!id || count >= static_cast<uint64_t>(capacity)) {
      b.add(kCorrupt + me, 1);
      continue;
    }
    b.store(log + count, *id);
    b.store(kCount + me, ++count);
  }
}

struct Variant {
  bool bounded, large, small_buffer;
};

Outcome queue_trial(mp::Context& ctx, std::mt19937_64& random, Variant v) {
  Outcome out;
  const int n =
      v.large ? 10 + static_cast<int>(random() % 50) : 40 + static_cast<int>(random() % 160);
  const int capacity = kProducers * n;
  Board b(kLogs + kConsumers * static_cast<size_t>(capacity));
  Q q(mp::QueueOptions{
      .maxsize = v.bounded ? 4 : 0,
      .buffer_bytes = v.small_buffer ? 64 * 1024 : mp::QueueOptions().buffer_bytes});
  std::vector<mp::Process> parties;  // producers, then consumers
  for (int p = 0; p < kProducers; ++p) parties.emplace_back(ctx, &produce, q, b, p, n, v.large);
  for (int c = 0; c < kConsumers; ++c) parties.emplace_back(ctx, &consume, q, b, c, capacity);
  for (int i = kProducers; i < kProducers + kConsumers; ++i) parties[i].start();
  for (int i = 0; i < kProducers; ++i) parties[i].start();

  // The instant: once the victim has made `at` progress (or the producers
  // are done, for a consumer that the other left nothing to).
  const int victim = static_cast<int>(random() % (kProducers + kConsumers));
  const bool victim_consumes = victim >= kProducers;
  // Producers: within their first three quarters, so that the kill lands
  // before they finish.
  const uint64_t at = victim_consumes ? random() % static_cast<uint64_t>(n + 1)
                                      : random() % static_cast<uint64_t>(n * 3 / 4 + 1);
  auto producers_done = [&] {
    for (int p = 0; p < kProducers; ++p) {
      if (b.load(kDone + p) < static_cast<uint64_t>(n)) return false;
    }
    return true;
  };
  auto reached = [&] {
    return victim_consumes ? b.load(kCount + victim - kProducers) >= at || producers_done()
                           : b.load(kDone + victim) >= at;
  };
  kill_when(parties[victim], reached, random, 50, out);
  out.allowed_lost = victim_consumes ? 1 : 0;
  join_survivors(parties, 0, kProducers, victim, 30s, "producer", out);
  // An idle consumer sleeps: measured on a quarter of the trials, once the
  // consumers have drained the queue and each has gone to sleep in get().
  // Not from the moment qsize() reads 0: that is the last get()'s commit,
  // and the consumer may still be finishing that get() (returning the
  // overflow lane's pages to the kernel, say), work rather than a spin. One
  // that never sleeps spins; a failure names the threads that used the CPU.
  if (random() % 4 == 0 && wait_until([&] { return q.qsize() == 0; }, 10s)) {
    for (int c = 0; c < kConsumers; ++c) {
      if (kProducers + c == victim) continue;
      pid_t pid = *parties[kProducers + c].pid();
      if (!conformance::wait_blocked(pid, pid, conformance::futex_calls(), 10s)) {
        out.fail("an idle consumer never slept in get() for 10 s");
        continue;
      }
      auto before = thread_states(pid);
      auto wall = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(30ms);  // the interval measured, not a synchronization
      auto after = thread_states(pid);
      auto elapsed = std::chrono::steady_clock::now() - wall;
      auto used = cpu_used(before, after);
      if (used * 4 > elapsed) {
        out.fail("an idle consumer spun: " + std::to_string(used.count() / 1000) +
                 " us of CPU in " + std::to_string(elapsed.count() / 1000) + " us (" +
                 describe_cpu(pid, before, after) + ")");
      }
    }
  }
  b.store(kStop, 1);
  join_survivors(parties, kProducers, kProducers + kConsumers, victim, 30s, "consumer", out);
  if (b.load(kOverruns)) {
    out.hung = true;
    out.fail("a get() or put() overran its timeout");
  }

  // What is left: qsize() says how much, and a drain must find exactly that
  // (the consumer lock may need taking over from the killed consumer).
  const size_t reported = q.qsize();
  std::vector<std::string> rest;
  for (size_t i = 0; i < reported; ++i) {
    try {
      rest.push_back(q.get(5s));
    } catch (const mp::Empty&) {
      break;
    }
  }
  auto cpu = thread_cpu_time();
  auto wall = std::chrono::steady_clock::now();
  try {
    rest.push_back(q.get(3ms));
  } catch (const mp::Empty&) {
    auto took = std::chrono::steady_clock::now() - wall;
    if ((thread_cpu_time() - cpu) * 2 > took + 1ms) out.fail("an idle get() spun");
    if (took > 5s) {
      out.hung = true;
      out.fail("get(3ms) took " + std::to_string(took.count() / 1000000) + " ms");
    }
  }
  if (reported != rest.size()) {
    ++out.corrupted;
    out.fail("qsize() said " + std::to_string(reported) + ", a drain found " +
             std::to_string(rest.size()));
  }

  // Every item: intact, once, in its producer's order per consumer.
  std::map<uint64_t, int> seen;
  auto note = [&](uint64_t id, std::map<uint32_t, int64_t>& last) {
    ++seen[id];
    uint32_t producer = static_cast<uint32_t>(id >> 32);
    int64_t seq = static_cast<uint32_t>(id);
    if (producer >= kProducers || seq > static_cast<int64_t>(b.load(kDone + producer))) {
      ++out.corrupted;  // never put
      return;
    }
    auto [it, fresh] = last.try_emplace(producer, -1);
    if (seq <= it->second) {
      ++out.corrupted;
      out.fail("items of one producer out of order");
    }
    it->second = seq;
  };
  for (int c = 0; c < kConsumers; ++c) {
    std::map<uint32_t, int64_t> last;
    out.corrupted += b.load(kCorrupt + c);
    const uint64_t count = b.load(kCount + c);
    for (uint64_t i = 0; i < count; ++i) note(b.load(kLogs + c * capacity + i), last);
  }
  std::map<uint32_t, int64_t> last;
  for (const std::string& item : rest) {
    if (auto id = check_item(item)) {
      note(*id, last);
    } else {
      ++out.corrupted;
    }
  }
  for (const auto& [id, times] : seen) {
    if (times > 1) out.duplicated += static_cast<uint64_t>(times - 1);
  }
  for (int p = 0; p < kProducers; ++p) {
    const uint64_t done = b.load(kDone + p);
    for (uint64_t seq = 0; seq < done; ++seq) {
      if (!seen.count(id_of(static_cast<uint32_t>(p), static_cast<uint32_t>(seq)))) ++out.lost;
    }
  }
  return out;
}

}  // namespace

std::vector<Scenario> queue_scenarios() {
  std::vector<Scenario> out;
  for (bool bounded : {false, true}) {
    for (bool large : {false, true}) {
      for (bool small_buffer : {false, true}) {
        std::string name = std::string("queue/") + (bounded ? "bounded" : "unbounded") + "/" +
                           (large ? "large" : "small") + (small_buffer ? "/overflow" : "");
        Variant v{bounded, large, small_buffer};
        out.push_back({name, [v](mp::Context& ctx, std::mt19937_64& random) {
                         return queue_trial(ctx, random, v);
                       }});
      }
    }
  }
  return out;
}

}  // namespace mp::reliability
