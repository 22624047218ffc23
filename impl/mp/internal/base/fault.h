// mp/internal/base/fault.h — named points in mp's machinery where the
// reliability tests inject faults.
//
// A fault point costs one load and a branch that is never taken in a normal
// program: the hook is null unless a test installs one. A test's hook runs in
// whatever process reaches the point and may kill that process (SIGKILL in
// the middle of a ring commit, between taking a lock and naming its holder),
// stall it, or change its environment so that the next system call fails for
// real (a full descriptor table, no address space for a thread's stack).
// Children inherit the hook under fork; spawn and forkserver children run
// main() again, where a test binary installs it before mp::init().

#ifndef MP_INTERNAL_BASE_FAULT_H_
#define MP_INTERNAL_BASE_FAULT_H_

#include <atomic>
#include <cstdint>

namespace mp::internal {

enum class FaultPoint : uint8_t {
  // A queue ring's put: the producer lock taken; the record written and not
  // yet committed; committed (the item is in the queue) and the lock still
  // held; the lock released and the consumers not yet woken.
  kRingPutLocked,
  kRingPutWritten,
  kRingPutCommitted,
  kRingPutUnlocked,
  // A queue ring's get: the consumer lock taken and a record found; the
  // record copied out and not yet committed; committed and the lock still
  // held; the lock released and the producers not yet woken.
  kRingGetLocked,
  kRingGetCopied,
  kRingGetCommitted,
  kRingGetUnlocked,
  // Releasing the drained overflow lane's pages, with both locks held.
  kRingReleasing,
  // A lock: its word taken, its holder's identity not yet published; and a
  // release whose identity is cleared, the word not yet freed.
  kLockTaken,
  kLockReleasing,
  // A child (any start method) about to start its own threads, before its
  // target runs.
  kChildStarting,
  // The parent, right after fork() or posix_spawn() made a child and before
  // it opens the child's pidfd.
  kChildLaunched,
  kCount,
};

// The name tests and reports use ("ring.put.written").
const char* fault_point_name(FaultPoint point) noexcept;

using FaultHook = void (*)(FaultPoint);

// Null in normal programs.
inline std::atomic<FaultHook> g_fault_hook{nullptr};

inline void fault_point(FaultPoint point) {
  if (FaultHook hook = g_fault_hook.load(std::memory_order_relaxed)) [[unlikely]] {
    hook(point);
  }
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_FAULT_H_
