// mp/internal/base/finalize.h — the registry behind mp::util::Finalize: cleanups
// a process runs once, at the latest when it exits, in priority order
// (Python: multiprocessing.util._finalizer_registry and _run_finalizers).
//
// The registry belongs to one process: a fork child starts with an empty one
// (Python clears it in every child), and a finalizer made in another process
// never runs here.

#ifndef MP_INTERNAL_BASE_FINALIZE_H_
#define MP_INTERNAL_BASE_FINALIZE_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace mp::internal {

struct Finalizer {
  std::function<void()> callback;  // emptied once it has run (or was cancelled)
  std::optional<int> exitpriority;
  uint64_t order = 0;  // registration order in its process
  pid_t owner = 0;     // the process that made it
};

// Registers `f` (made by this process).
void register_finalizer(const std::shared_ptr<Finalizer>& f);
// Runs `f` now if it is still pending and this process made it; true if it
// ran. Its callback's exceptions propagate.
bool run_finalizer(Finalizer& f);
// Drops `f` without running it.
void cancel_finalizer(Finalizer& f) noexcept;
bool finalizer_pending(const Finalizer& f) noexcept;

// Runs this process's pending finalizers that have an exit priority of at
// least `minpriority` (all that have one, if nullopt): higher priorities
// first, equal ones in reverse order of registration. An exception from a
// callback is reported on stderr and the others still run.
void run_finalizers(std::optional<int> minpriority) noexcept;
// Whether this process registered any finalizer (cheap; reads only).
bool has_finalizers() noexcept;

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_FINALIZE_H_
