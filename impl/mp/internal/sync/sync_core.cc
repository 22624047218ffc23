#include "mp/internal/sync/sync_core.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "mp/internal/base/fault.h"

namespace mp::internal {

namespace {

// Pause rounds a lock waiter spends looking before it sleeps (measured:
// lock.contended is steadiest at 100; longer spins steal the lock's cache
// line from a holder that is busy with it).
constexpr int kLockSpin = 100;
constexpr uint32_t kHeld = 1;
constexpr uint32_t kContended = 2;
constexpr uint32_t kStateMask = 3;

uint32_t word_of(int32_t pid, uint32_t state) { return (static_cast<uint32_t>(pid) << 2) | state; }

bool expired(const Deadline& deadline) { return deadline && Clock::now() >= *deadline; }

Deadline earlier(const Deadline& a, Clock::time_point b) {
  if (!a || b < *a) return b;
  return a;
}

// Sleeps on a held lock ask about the holder after 1 ms, then twice as long
// each time, up to kOwnerCheckPeriod: a holder killed a moment ago is found
// soon, a long-held lock costs a look every 100 ms.
constexpr auto kFirstOwnerCheck = std::chrono::milliseconds(1);

// Names the holder: published right after the word was taken (see LockState).
void set_owner(LockState& s, const Holder& me) {
  s.owner.store(me.identity, std::memory_order_relaxed);
  if (s.owner_tid.load(std::memory_order_relaxed) != me.tid) {
    s.owner_tid.store(me.tid, std::memory_order_relaxed);
  }
}

// Whether the kernel says the holder named by the word `seen` is gone.
bool holder_died(const LockState& s, uint32_t seen, const Holder& me) {
  const int32_t pid = static_cast<int32_t>(seen >> 2);
  if (pid == 0) return false;
  // Its start time, once it has published its identity (and not before: a
  // previous holder's identity says nothing about this one).
  const uint64_t owner = s.owner.load(std::memory_order_acquire);
  const uint64_t start = Holder::pid_of(owner) == pid ? Holder::start_time_of(owner) : 0;
  if (pid == me.pid) {
    // Our own pid: another thread of ours holds it, unless the identity says
    // an earlier process with this pid took it and died.
    return start != 0 && me.start_time != 0 && start != me.start_time;
  }
  return holder_is_gone(pid, start);
}

// Tries to take over a lock whose holder's process is gone. One waiter wins
// (compare-and-swap on the word that names the dead holder).
bool take_from_dead_holder(LockState& s, uint32_t seen, const Holder& me) {
  if (!holder_died(s, seen, me)) return false;
  if (!s.word.compare_exchange_strong(seen, word_of(me.pid, kContended),
                                      std::memory_order_acquire)) {
    return false;
  }
  fault_point(FaultPoint::kLockTaken);
  set_owner(s, me);
  s.recoveries.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace

Acquired lock_acquire(LockState& s, const Deadline& deadline, Sharing sharing) {
  const Holder& me = this_holder();
  uint32_t c = 0;
  if (s.word.compare_exchange_strong(c, word_of(me.pid, kHeld), std::memory_order_acquire)) {
    fault_point(FaultPoint::kLockTaken);
    set_owner(s, me);
    return Acquired::kYes;
  }
  if (expired(deadline)) return Acquired::kNo;
  // The holder is often about to let go: look again for a moment before
  // paying for a sleep and a wake-up.
  if (spin_until([&] { return s.word.load(std::memory_order_relaxed) == 0; }, kLockSpin)) {
    c = 0;
    if (s.word.compare_exchange_strong(c, word_of(me.pid, kHeld), std::memory_order_acquire)) {
      fault_point(FaultPoint::kLockTaken);
      set_owner(s, me);
      return Acquired::kYes;
    }
  }
  Clock::duration check = kFirstOwnerCheck;
  for (;;) {
    c = s.word.load(std::memory_order_relaxed);
    if (c == 0) {
      // Others may be asleep: take it as contended so our release wakes one.
      if (s.word.compare_exchange_weak(c, word_of(me.pid, kContended), std::memory_order_acquire)) {
        fault_point(FaultPoint::kLockTaken);
        set_owner(s, me);
        return Acquired::kYes;
      }
      continue;
    }
    if ((c & kStateMask) != kContended) {
      uint32_t marked = (c & ~kStateMask) | kContended;
      if (!s.word.compare_exchange_weak(c, marked, std::memory_order_relaxed)) continue;
      c = marked;
    }
    Deadline slice = earlier(deadline, Clock::now() + check);
    check = std::min<Clock::duration>(check * 2, kOwnerCheckPeriod);
    if (!futex_wait(s.word, c, slice, sharing)) {
      if (sharing == Sharing::kProcesses && take_from_dead_holder(s, c, me)) {
        return Acquired::kFromDeadHolder;
      }
      if (expired(deadline)) return Acquired::kNo;
    }
  }
}

bool lock_release(LockState& s, Sharing sharing) {
  // The identity goes first: a word that still names this holder then reads
  // as "identity not yet published", never as another process's.
  s.owner.store(0, std::memory_order_relaxed);
  fault_point(FaultPoint::kLockReleasing);
  uint32_t c = s.word.exchange(0, std::memory_order_release);
  if (c == 0) return false;  // was not held (storing 0 again changed nothing)
  if ((c & kStateMask) == kContended) futex_wake(s.word, 1, sharing);
  return true;
}

bool lock_is_mine(const LockState& s) {
  const Holder& me = this_holder();
  return lock_holder_pid(s) == me.pid && s.owner_tid.load(std::memory_order_relaxed) == me.tid;
}

Acquired rlock_acquire(LockState& s, const Deadline& deadline, Sharing sharing) {
  if (lock_is_mine(s)) {
    // Only the holder touches the depth: no read-modify-write needed.
    s.count.store(s.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return Acquired::kYes;
  }
  Acquired got = lock_acquire(s, deadline, sharing);
  if (got != Acquired::kNo) s.count.store(1, std::memory_order_relaxed);
  return got;
}

bool rlock_release(LockState& s, Sharing sharing) {
  if (!lock_is_mine(s)) return false;
  uint32_t depth = s.count.load(std::memory_order_relaxed);
  s.count.store(depth - 1, std::memory_order_relaxed);
  if (depth == 1) {
    s.owner_tid.store(0, std::memory_order_relaxed);
    lock_release(s, sharing);
  }
  return true;
}

uint32_t rlock_release_all(LockState& s, Sharing sharing) {
  uint32_t depth = s.count.exchange(0, std::memory_order_relaxed);
  s.owner_tid.store(0, std::memory_order_relaxed);
  lock_release(s, sharing);
  return depth;
}

void rlock_restore(LockState& s, uint32_t depth, Sharing sharing) {
  lock_acquire(s, std::nullopt, sharing);
  s.count.store(depth, std::memory_order_relaxed);
}

bool semaphore_acquire(SemaphoreState& s, const Deadline& deadline, Sharing sharing) {
  auto try_take = [&s] {
    uint32_t v = s.value.load(std::memory_order_relaxed);
    while (v > 0) {
      if (s.value.compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
    }
    return false;
  };
  if (try_take()) return true;
  if (expired(deadline)) return false;
  if (spin_until([&] { return s.value.load(std::memory_order_relaxed) > 0; }) && try_take()) {
    return true;
  }
  for (;;) {
    s.sleepers.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(s.value, 0, wakeup_check_slice(deadline), sharing);
    s.sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (try_take()) return true;
    if (expired(deadline)) return false;
  }
}

bool semaphore_release(SemaphoreState& s, Sharing sharing) {
  uint32_t v = s.value.load(std::memory_order_relaxed);
  uint32_t max = s.max ? s.max : static_cast<uint32_t>(INT_MAX);
  do {
    if (v >= max) return false;
  } while (!s.value.compare_exchange_weak(v, v + 1, std::memory_order_seq_cst));
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(s.value, 1, sharing);
  return true;
}

void event_set(EventState& s, Sharing sharing) {
  s.flag.store(1, std::memory_order_seq_cst);
  s.generation.fetch_add(1, std::memory_order_seq_cst);
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(s.generation, INT_MAX, sharing);
}

void event_clear(EventState& s) { s.flag.store(0, std::memory_order_seq_cst); }

bool event_wait(EventState& s, const Deadline& deadline, Sharing sharing) {
  uint32_t generation = s.generation.load(std::memory_order_acquire);
  if (s.flag.load(std::memory_order_acquire)) return true;
  if (expired(deadline)) return false;
  if (yield_until([&] { return s.generation.load(std::memory_order_acquire) != generation; })) {
    return true;
  }
  s.sleepers.fetch_add(1, std::memory_order_seq_cst);
  bool set = false;
  for (;;) {
    if (s.generation.load(std::memory_order_seq_cst) != generation) {
      set = true;
      break;
    }
    if (!futex_wait(s.generation, generation, wakeup_check_slice(deadline), sharing) &&
        expired(deadline)) {
      break;
    }
  }
  s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  return set || s.flag.load(std::memory_order_acquire);
}

int condition_enter(ConditionState& s) {
  for (int i = 0; i < ConditionState::kSlots; ++i) {
    uint32_t free = 0;
    if (s.slots[i].state.compare_exchange_strong(free, 1, std::memory_order_acq_rel)) {
      s.slots[i].waiter = this_holder().pid;
      s.slots[i].ticket.store(s.next_ticket.fetch_add(1, std::memory_order_relaxed),
                              std::memory_order_relaxed);
      s.waiting.fetch_add(1, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

bool condition_sleep(ConditionState& s, int slot, const Deadline& deadline, Sharing sharing) {
  ConditionSlot& me = s.slots[slot];
  bool notified = false;
  if (yield_until([&] { return me.state.load(std::memory_order_acquire) == 2; })) {
    notified = true;
  } else {
    for (;;) {
      uint32_t state = me.state.load(std::memory_order_acquire);
      if (state == 2) {
        notified = true;
        break;
      }
      if (!futex_wait(me.state, 1, wakeup_check_slice(deadline), sharing) && expired(deadline)) {
        // Leave, unless a notify got to the slot first.
        uint32_t waiting = 1;
        notified = !me.state.compare_exchange_strong(waiting, 0, std::memory_order_acq_rel);
        if (!notified) {
          s.waiting.fetch_sub(1, std::memory_order_release);
          return false;
        }
        break;
      }
    }
  }
  me.state.store(0, std::memory_order_release);
  s.waiting.fetch_sub(1, std::memory_order_release);
  return notified;
}

int condition_notify(ConditionState& s, int n, Sharing sharing) {
  int woken = 0;
  while (woken < n && s.waiting.load(std::memory_order_acquire) > 0) {
    int oldest = -1;
    uint64_t oldest_ticket = UINT64_MAX;
    for (int i = 0; i < ConditionState::kSlots; ++i) {
      if (s.slots[i].state.load(std::memory_order_acquire) != 1) continue;
      uint64_t t = s.slots[i].ticket.load(std::memory_order_relaxed);
      if (t < oldest_ticket) {
        oldest_ticket = t;
        oldest = i;
      }
    }
    if (oldest < 0) break;
    ConditionSlot& slot = s.slots[oldest];
    uint32_t waiting = 1;
    if (slot.state.compare_exchange_strong(waiting, 2, std::memory_order_acq_rel)) {
      // Nobody asleep there: the waiter is about to look (it will see the
      // notification), or it was killed waiting, and the slot would take
      // every notification from now on. Only then ask the kernel.
      if (futex_wake(slot.state, 1, sharing) == 0 && sharing == Sharing::kProcesses &&
          ::kill(slot.waiter, 0) < 0 && errno == ESRCH) {
        uint32_t notified = 2;
        if (slot.state.compare_exchange_strong(notified, 0, std::memory_order_acq_rel)) {
          s.waiting.fetch_sub(1, std::memory_order_release);
        }
        continue;
      }
      ++woken;
    }
  }
  return woken;
}

namespace {

// The barrier's lock and its wait-for-a-change, as threading.Barrier uses
// its Condition.
void barrier_lock(BarrierState& s, Sharing sharing) { lock_acquire(s.lock, std::nullopt, sharing); }
void barrier_unlock(BarrierState& s, Sharing sharing) { lock_release(s.lock, sharing); }

void barrier_changed(BarrierState& s, Sharing sharing) {
  s.changes.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(s.changes, INT_MAX, sharing);
}

// Releases the lock, waits until the state changes or the deadline, takes
// the lock again. False on timeout.
bool barrier_sleep(BarrierState& s, const Deadline& deadline, Sharing sharing) {
  uint32_t seen = s.changes.load(std::memory_order_seq_cst);
  barrier_unlock(s, sharing);
  bool changed = true;
  if (yield_until([&] { return s.changes.load(std::memory_order_seq_cst) != seen; })) {
    barrier_lock(s, sharing);
    return true;
  }
  while (s.changes.load(std::memory_order_seq_cst) == seen) {
    if (!futex_wait(s.changes, seen, wakeup_check_slice(deadline), sharing) && expired(deadline)) {
      changed = s.changes.load(std::memory_order_seq_cst) != seen;
      break;
    }
  }
  barrier_lock(s, sharing);
  return changed;
}

void barrier_break(BarrierState& s, Sharing sharing) {
  s.phase = -2;
  barrier_changed(s, sharing);
}

}  // namespace

std::optional<int> barrier_wait(BarrierState& s, const Deadline& deadline,
                                const std::function<void()>& action, Sharing sharing) {
  barrier_lock(s, sharing);
  // Wait for the previous cycle to drain.
  while (s.phase == 1) {
    if (!barrier_sleep(s, deadline, sharing)) {
      barrier_break(s, sharing);
      barrier_unlock(s, sharing);
      return std::nullopt;
    }
  }
  if (s.phase < 0) {
    barrier_unlock(s, sharing);
    return std::nullopt;
  }
  int index = s.count++;
  const uint32_t my_cycle = s.cycle;
  const uint32_t my_epoch = s.epoch;
  std::optional<int> result = index;
  std::exception_ptr failure;
  if (index + 1 == s.parties) {
    try {
      if (action) action();
      s.phase = 1;
      ++s.cycle;
      barrier_changed(s, sharing);
    } catch (...) {
      barrier_break(s, sharing);
      failure = std::current_exception();
      result.reset();
    }
  } else {
    // Once this cycle has completed this party has passed, even if another
    // party breaks the barrier before this one wakes (threading.Barrier would
    // report that party broken too).
    while (s.phase == 0 && s.cycle == my_cycle && s.epoch == my_epoch) {
      if (!barrier_sleep(s, deadline, sharing) && s.phase == 0 && s.cycle == my_cycle &&
          s.epoch == my_epoch) {
        barrier_break(s, sharing);
        break;
      }
    }
    if (s.cycle == my_cycle && (s.phase < 0 || s.epoch != my_epoch)) result.reset();
  }
  // Leaving: the last one out of a drain opens the next cycle. A reset made
  // a new epoch meanwhile: its count is not this party's to change.
  if (s.epoch == my_epoch && --s.count == 0 && s.phase == 1) {
    s.phase = 0;
    barrier_changed(s, sharing);
  }
  barrier_unlock(s, sharing);
  if (failure) std::rethrow_exception(failure);
  return result;
}

void barrier_abort(BarrierState& s, Sharing sharing) {
  barrier_lock(s, sharing);
  barrier_break(s, sharing);
  barrier_unlock(s, sharing);
}

void barrier_reset(BarrierState& s, Sharing sharing) {
  barrier_lock(s, sharing);
  if (s.count > 0) {
    // Parties inside wait() leave with BrokenBarrierError (those whose cycle
    // completed have passed); the barrier is usable at once, even if one of
    // them never leaves (it was killed).
    ++s.epoch;
    s.count = 0;
  }
  s.phase = 0;
  barrier_changed(s, sharing);
  barrier_unlock(s, sharing);
}

int barrier_n_waiting(BarrierState& s, Sharing sharing) {
  barrier_lock(s, sharing);
  int n = s.phase == 0 ? s.count : 0;
  barrier_unlock(s, sharing);
  return n;
}

bool barrier_broken(BarrierState& s, Sharing sharing) {
  barrier_lock(s, sharing);
  bool broken = s.phase == -2;
  barrier_unlock(s, sharing);
  return broken;
}

}  // namespace mp::internal
