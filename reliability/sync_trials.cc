// Lock, RLock, Semaphore, Condition and Barrier trials: three processes
// loop over the primitive; one is killed once it has made a random number of
// rounds, at whatever point of acquire, the critical section or release it
// then is. A counter of holders inside the critical section proves there are
// never more holders than the primitive admits, and a counter updated without
// atomics under the lock proves that no update was lost to a second holder.
// Afterwards the survivors finish their rounds (no one waits forever for a
// dead holder) and the primitive is still usable.

#include <algorithm>
#include <bit>
#include <thread>

#include "trials.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;

constexpr int kParties = 3;
// The board's words.
constexpr size_t kTotal = 0, kOverruns = 1, kConflicts = 2, kConflictMasks = 3, kMaxConflicts = 16,
                 kInside = kConflictMasks + kMaxConflicts, kRounds = kInside + kParties,
                 kBroken = kRounds + kParties, kWords = kBroken + kParties;

// The critical section: each party flags itself inside, then looks at the
// others' flags (Dekker's order: two holders at once cannot both miss each
// other); more than `admitted` flags is logged, and judged by the parent,
// which knows whose flag a killed party left up. `total` is advanced with a
// plain read and write (a second holder would lose updates).
void critical_section(const Board& b, int me, uint64_t admitted) {
  b[kInside + me].store(1, std::memory_order_seq_cst);
  uint64_t others = 0;
  for (int j = 0; j < kParties; ++j) {
    if (j != me && b[kInside + j].load(std::memory_order_seq_cst)) others |= uint64_t{1} << j;
  }
  if (static_cast<uint64_t>(std::popcount(others)) + 1 > admitted) {
    uint64_t n = b[kConflicts].fetch_add(1);
    if (n < kMaxConflicts) b.store(kConflictMasks + n, others);
  }
  if (admitted == 1) {
    uint64_t t = b.load(kTotal);
    spin_for(std::chrono::microseconds(5));
    b.store(kTotal, t + 1);
  } else {
    b.add(kTotal, 1);
    spin_for(std::chrono::microseconds(5));
  }
  b[kInside + me].store(0, std::memory_order_seq_cst);
}

// Work between rounds, so that the parties take turns.
void outside() { spin_for(std::chrono::microseconds(5)); }

template <class L>
void lock_party(L lock, Board b, int me, int rounds, bool nested) {
  for (int i = 0; i < rounds; ++i) {
    if (!lock.acquire(20s)) {
      b.add(kOverruns, 1);
      return;
    }
    if (nested && !lock.acquire(20s)) b.add(kOverruns, 1);
    critical_section(b, me, 1);
    if (nested) lock.release();
    lock.release();
    b.store(kRounds + me, static_cast<uint64_t>(i) + 1);
    outside();
  }
}

void semaphore_party(mp::Semaphore s, Board b, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    if (!s.acquire(20s)) {
      b.add(kOverruns, 1);
      return;
    }
    critical_section(b, me, 2);
    s.release();
    b.store(kRounds + me, static_cast<uint64_t>(i) + 1);
    outside();
  }
}

void condition_party(mp::Condition c, Board b, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    if (!c.acquire(20s)) {
      b.add(kOverruns, 1);
      return;
    }
    critical_section(b, me, 1);
    if (i % 3 == 0) {
      c.notify();
    } else {
      c.wait(2ms);  // gives the lock up, and takes it back (from a dead holder too)
    }
    critical_section(b, me, 1);
    c.release();
    b.store(kRounds + me, static_cast<uint64_t>(i) + 1);
  }
}

void barrier_party(mp::Barrier barrier, Board b, int me, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    try {
      barrier.wait(60ms);
    } catch (const mp::BrokenBarrierError&) {
      b.store(kBroken + me, 1);
      return;
    }
    b.store(kRounds + me, static_cast<uint64_t>(i) + 1);
  }
}

// Starts the parties, kills one once it has made `at` rounds, and lets the
// others finish. Returns the victim.
int run_parties(std::vector<mp::Process>& parties, const Board& b, std::mt19937_64& random,
                int rounds, uint64_t admitted, Outcome& out) {
  for (auto& p : parties) p.start();
  const int victim = static_cast<int>(random() % kParties);
  const uint64_t at = random() % static_cast<uint64_t>(rounds * 4 / 5);
  kill_when(
      parties[victim], [&] { return b.load(kRounds + victim) >= at || b.load(kBroken + victim); },
      random, 30, out);
  join_survivors(parties, 0, kParties, victim, 60s, "survivor", out);
  if (b.load(kOverruns)) {
    out.hung = true;
    out.fail("an acquire waited past its 20 s timeout");
  }
  // Conflicts that a flag of the killed party's explains are no conflicts.
  const uint64_t conflicts = std::min<uint64_t>(b.load(kConflicts), kMaxConflicts);
  for (uint64_t i = 0; i < conflicts; ++i) {
    const uint64_t others = b.load(kConflictMasks + i) & ~(uint64_t{1} << victim);
    if (static_cast<uint64_t>(std::popcount(others)) + 1 > admitted) {
      ++out.corrupted;
      out.fail("more holders inside than the primitive admits");
      break;
    }
  }
  return victim;
}

// The plain counter saw every completed round (and maybe the victim's
// unfinished one): no update was lost to a second holder.
void check_total(const Board& b, uint64_t per_round, Outcome& out) {
  uint64_t completed = 0;
  for (int i = 0; i < kParties; ++i) completed += b.load(kRounds + i) * per_round;
  const uint64_t total = b.load(kTotal);
  if (total < completed || total > completed + per_round) {
    ++out.corrupted;
    out.fail("the counter under the lock is " + std::to_string(total) + " after " +
             std::to_string(completed) + " updates");
  }
}

template <class L>
Outcome lock_trial(mp::Context& ctx, std::mt19937_64& random, bool nested) {
  Outcome out;
  const int rounds = 300 + static_cast<int>(random() % 1200);
  Board b(kWords);
  L lock;
  std::vector<mp::Process> parties;
  for (int i = 0; i < kParties; ++i) {
    parties.emplace_back(ctx, &lock_party<L>, lock, b, i, rounds, nested);
  }
  run_parties(parties, b, random, rounds, 1, out);
  check_total(b, 1, out);
  if (!lock.acquire(20s)) {
    out.hung = true;
    out.fail("the lock could not be taken after the kill");
  } else {
    lock.release();
  }
  return out;
}

Outcome semaphore_trial(mp::Context& ctx, std::mt19937_64& random) {
  Outcome out;
  const int rounds = 300 + static_cast<int>(random() % 1200);
  Board b(kWords);
  mp::Semaphore s(2);
  std::vector<mp::Process> parties;
  for (int i = 0; i < kParties; ++i) parties.emplace_back(ctx, &semaphore_party, s, b, i, rounds);
  run_parties(parties, b, random, rounds, 2, out);
  // A semaphore has no owner: a unit the victim held is gone with it (as in
  // CPython and POSIX). The other is still there.
  if (!s.acquire(20s)) {
    out.hung = true;
    out.fail("no unit of the semaphore was left");
  } else {
    s.release();
  }
  if (s.get_value() < 1 || s.get_value() > 2) {
    ++out.corrupted;
    out.fail("the semaphore's value is " + std::to_string(s.get_value()));
  }
  return out;
}

Outcome condition_trial(mp::Context& ctx, std::mt19937_64& random) {
  Outcome out;
  const int rounds = 50 + static_cast<int>(random() % 200);
  Board b(kWords);
  mp::Condition c;
  std::vector<mp::Process> parties;
  for (int i = 0; i < kParties; ++i) parties.emplace_back(ctx, &condition_party, c, b, i, rounds);
  run_parties(parties, b, random, rounds, 1, out);
  check_total(b, 2, out);
  if (!c.acquire(20s)) {
    out.hung = true;
    out.fail("the condition's lock could not be taken after the kill");
  } else {
    c.notify_all();
    c.release();
  }
  return out;
}

Outcome barrier_trial(mp::Context& ctx, std::mt19937_64& random) {
  Outcome out;
  const int rounds = 20 + static_cast<int>(random() % 80);
  Board b(kWords);
  mp::Barrier barrier(kParties);
  std::vector<mp::Process> parties;
  for (int i = 0; i < kParties; ++i) {
    parties.emplace_back(ctx, &barrier_party, barrier, b, i, rounds);
  }
  run_parties(parties, b, random, rounds, kParties, out);
  // Usable again after a reset: three threads pass a cycle together.
  barrier.reset();
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kParties; ++i) {
    threads.emplace_back([&] {
      try {
        barrier.wait(20s);
        ++passed;
      } catch (const mp::BrokenBarrierError&) {
      }
    });
  }
  for (auto& t : threads) t.join();
  if (passed != kParties) {
    out.hung = true;
    out.fail("the barrier did not pass a cycle after reset()");
  }
  return out;
}

}  // namespace

std::vector<Scenario> sync_scenarios() {
  return {
      {"lock",
       [](mp::Context& c, std::mt19937_64& r) { return lock_trial<mp::Lock>(c, r, false); }},
      {"rlock",
       [](mp::Context& c, std::mt19937_64& r) { return lock_trial<mp::RLock>(c, r, true); }},
      {"semaphore", &semaphore_trial},
      {"condition", &condition_trial},
      {"barrier", &barrier_trial},
  };
}

}  // namespace mp::reliability
