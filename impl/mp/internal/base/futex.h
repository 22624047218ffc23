// mp/internal/base/futex.h — waiting on a 32-bit word, in shared or private memory.

#ifndef MP_INTERNAL_BASE_FUTEX_H_
#define MP_INTERNAL_BASE_FUTEX_H_

#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "mp/internal/base/fd.h"

namespace mp::internal {

// Where a word lives decides how the kernel hashes it: across processes
// (MAP_SHARED memory) or within one (cheaper).
enum class Sharing { kProcesses, kThreads };

// Sleeps while `*word == expected`, until woken, or until `deadline`.
// Returns false on timeout. Spurious returns are possible (callers re-check);
// EINTR is not one of them: a signal restarts the wait with the time left.
bool futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, const Deadline& deadline,
                Sharing sharing);

// Wakes up to `count` sleepers on `word`; returns how many it woke.
int futex_wake(const std::atomic<uint32_t>& word, int count, Sharing sharing);

// How often a sleeper looks again on its own, whoever was to wake it: a
// process killed between changing shared state and its futex_wake() cannot
// wake anyone. One wake-up per 100 ms costs an idle sleeper nothing
// measurable.
inline constexpr auto kWakeupCheck = std::chrono::milliseconds(100);
// The deadline of one sleep: `deadline`, or the next look if sooner.
inline Deadline wakeup_check_slice(const Deadline& deadline) {
  auto look = Clock::now() + kWakeupCheck;
  return deadline && *deadline < look ? deadline : Deadline(look);
}

// Looking again before sleeping: both return true as soon as `ready()`
// holds, false once their budget is spent. A sleep and its wake-up cost
// 5 µs (same CPU) to 50 µs (across vCPUs) on the benchmark VM.
//
// spin_until: a few hundred nanoseconds of pause instructions, for locks and
// semaphores, whose holders let go within that.
template <class Ready>
bool spin_until(Ready ready, int rounds = 100) {
  for (int i = 0; i < rounds; ++i) {
    if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  return ready();
}

// yield_until: a few sched_yield()s, for events, conditions and barriers,
// whose partner must run first. If the partner shares this CPU, yielding
// lets it run at once (where a busy spin would keep it off the CPU for the
// whole budget); if it runs elsewhere, a quick answer is caught without a
// sleep. Measured on the benchmark VM: event ping-pong 2-3 µs against 5-50 µs
// for a plain futex, and no loss when the CPUs are oversubscribed (the
// yields hand them over).
template <class Ready>
bool yield_until(Ready ready, int rounds = 20) {
  for (int i = 0; i < rounds; ++i) {
    if (ready()) return true;
    ::sched_yield();
  }
  return ready();
}

// Who holds a lock: enough to name the holder and to tell, from another
// process, whether it is still alive (a pid alone may be reused).
struct Holder {
  int32_t pid = 0;
  int32_t tid = 0;
  uint64_t start_time = 0;  // the process's start time, in clock ticks since boot
  uint64_t identity = 0;    // identity_of(pid, start_time)

  // A process as one word: its start time above its pid (pids fit in 22
  // bits, PID_MAX_LIMIT).
  static constexpr uint64_t identity_of(int32_t pid, uint64_t start_time) {
    return (start_time << 22) | static_cast<uint32_t>(pid);
  }
  static constexpr int32_t pid_of(uint64_t identity) {
    return static_cast<int32_t>(identity & ((uint64_t{1} << 22) - 1));
  }
  static constexpr uint64_t start_time_of(uint64_t identity) { return identity >> 22; }
};

// This thread, as a Holder (cached per process and per thread).
const Holder& this_holder();

// Whether the process `pid` has ended, as the kernel tells (/proc/<pid>/stat):
// no such process, or a zombie; or, when `start_time` is known (non-zero),
// a process with that pid that started at another time.
bool holder_is_gone(int32_t pid, uint64_t start_time);

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_FUTEX_H_
