// mp/internal/sync/sync_core.h — the algorithms behind mp's locks, semaphores,
// events, conditions and barriers, on states that live in shared memory (for
// processes) or on the heap (for mp::dummy's threads).
//
// Every state is plain atomics with no pointers, so one copy serves every
// process that maps it. Blocking is a futex on a 32-bit word; deadlines are
// CLOCK_MONOTONIC; signals never end a wait early (see futex.h).

#ifndef MP_INTERNAL_SYNC_SYNC_CORE_H_
#define MP_INTERNAL_SYNC_SYNC_CORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mp/internal/base/fd.h"
#include "mp/internal/base/futex.h"

namespace mp::internal {

// How often, at most, a sleeper on a held lock asks the kernel whether the
// holder's process still exists (it asks sooner while the wait is young).
inline constexpr auto kOwnerCheckPeriod = std::chrono::milliseconds(100);

// A lock word: 0 when free; else (holder pid << 2) | 1, or | 2 when there may
// be sleepers (Drepper's three-state mutex, with the holder's pid in the word
// so that it is published by the same atomic step that takes the lock).
//
// The pid alone may name another process by the time a waiter looks (pids
// are reused), so the holder also publishes its identity, its pid and its
// process's start time, right after taking the word, and clears it before
// freeing the word. A waiter declares the holder dead only on the kernel's
// word: no process with that pid (or a zombie) or, once the identity is
// published, a process with that pid and another start time. A holder caught
// between taking the word and publishing its identity is alive for as long as
// its pid is.
struct LockState {
  std::atomic<uint32_t> word{0};
  std::atomic<int32_t> owner_tid{0};    // the holding thread
  std::atomic<uint64_t> owner{0};       // Holder::identity of the holder; 0 while unpublished
  std::atomic<uint32_t> count{0};       // recursion depth (RLock)
  std::atomic<uint32_t> recoveries{0};  // locks taken over from dead holders
};

enum class Acquired { kNo, kYes, kFromDeadHolder };

// Takes the lock (Lock semantics: not re-entrant). With a deadline in the
// past it only tries. A holder whose process has ended is detected within
// kOwnerCheckPeriod and its lock handed to one waiter (kFromDeadHolder).
Acquired lock_acquire(LockState& s, const Deadline& deadline, Sharing sharing);
// Frees the lock, whoever holds it. Returns false if it was not held.
bool lock_release(LockState& s, Sharing sharing);
inline bool lock_held(const LockState& s) { return s.word.load(std::memory_order_acquire) != 0; }
// Held by the calling thread?
bool lock_is_mine(const LockState& s);
// The holder's pid (0 when free).
inline int32_t lock_holder_pid(const LockState& s) {
  return static_cast<int32_t>(s.word.load(std::memory_order_acquire) >> 2);
}

// RLock: re-entrant for the holding thread; only it may release.
Acquired rlock_acquire(LockState& s, const Deadline& deadline, Sharing sharing);
// False if the caller does not hold it.
bool rlock_release(LockState& s, Sharing sharing);
// Releases every level the caller holds and returns how many (Condition.wait).
uint32_t rlock_release_all(LockState& s, Sharing sharing);
// Takes the lock back with that depth.
void rlock_restore(LockState& s, uint32_t depth, Sharing sharing);

// Semaphore: a counter that acquire() takes down (waiting at 0) and release()
// puts up. `max` 0 means unbounded (SEM_VALUE_MAX).
struct SemaphoreState {
  std::atomic<uint32_t> value{0};
  std::atomic<uint32_t> sleepers{0};
  uint32_t max = 0;
};
bool semaphore_acquire(SemaphoreState& s, const Deadline& deadline, Sharing sharing);
// False when it would go past `max` (BoundedSemaphore), changing nothing.
bool semaphore_release(SemaphoreState& s, Sharing sharing);

// Event: a flag, and a generation that set() advances so that a waiter woken
// by set() returns true even if clear() came right after.
struct EventState {
  std::atomic<uint32_t> flag{0};
  std::atomic<uint32_t> generation{0};
  std::atomic<uint32_t> sleepers{0};
};
void event_set(EventState& s, Sharing sharing);
void event_clear(EventState& s);
bool event_wait(EventState& s, const Deadline& deadline, Sharing sharing);

// Condition waiters: one slot each, notified oldest first; a waiter that
// times out gives its slot back and is never counted by notify(n).
struct ConditionSlot {
  std::atomic<uint32_t> state{0};  // 0 free, 1 waiting, 2 notified
  int32_t waiter = 0;              // its process
  std::atomic<uint64_t> ticket{0};
};
struct ConditionState {
  static constexpr int kSlots = 1000;
  std::atomic<uint64_t> next_ticket{1};
  std::atomic<uint32_t> waiting{0};
  ConditionSlot slots[kSlots];
};
// Takes a slot for the calling waiter (the caller holds the condition's
// lock); -1 when all kSlots are taken.
int condition_enter(ConditionState& s);
// Sleeps in slot `slot` until notified (true) or `deadline` (false). The
// caller released the lock after condition_enter and takes it back after.
bool condition_sleep(ConditionState& s, int slot, const Deadline& deadline, Sharing sharing);
// Wakes up to `n` current waiters, oldest first; returns how many. A waiter
// whose process the kernel says is gone is not counted: its slot is freed
// and the notification goes to the next waiter.
int condition_notify(ConditionState& s, int n, Sharing sharing);

// Barrier: threading.Barrier's state machine, in shared memory.
//
// reset() with parties inside starts a new epoch at once: those parties
// leave broken without touching the new epoch's count. So a party killed
// inside wait() (which never leaves, and would keep threading.Barrier's
// count from reaching zero) costs the survivors one BrokenBarrierError (at
// their timeout, or at an abort()), and reset() makes the barrier whole.
struct BarrierState {
  LockState lock;
  std::atomic<uint32_t> changes{0};  // futex: advanced on every state change
  uint32_t cycle = 0;                // cycles completed: a party whose cycle completed has passed
  int32_t parties = 0;
  int32_t count = 0;                // parties inside wait() in this epoch
  int32_t phase = 0;                // 0 filling, 1 draining, -2 broken
  uint32_t epoch = 0;               // advanced by reset() while parties are inside
  int64_t default_timeout_ns = -1;  // -1: none
};
enum class BarrierOutcome { kPassed, kBroken };
// Waits for the other parties. `action` runs in the last party to arrive,
// before anyone leaves; if it throws, the barrier breaks and the exception
// propagates in that party. Returns the party's index, or nullopt if the
// barrier broke (abort, reset, timeout, a failed action).
std::optional<int> barrier_wait(BarrierState& s, const Deadline& deadline,
                                const std::function<void()>& action, Sharing sharing);
void barrier_abort(BarrierState& s, Sharing sharing);
void barrier_reset(BarrierState& s, Sharing sharing);
int barrier_n_waiting(BarrierState& s, Sharing sharing);
bool barrier_broken(BarrierState& s, Sharing sharing);

}  // namespace mp::internal

#endif  // MP_INTERNAL_SYNC_SYNC_CORE_H_
