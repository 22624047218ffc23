// mp/util.h — Finalize: a cleanup that runs once, at the latest when the
// process exits (Python: multiprocessing.util.Finalize).
//
//   struct Cache {
//     mp::util::Finalize close{[] { /* flush, remove a file... */ }, {.exitpriority = 10}};
//   };
//   mp::util::Finalize stop(nullptr, [] { /* ... */ }, {.exitpriority = -10});
//
// A Finalize's callback runs once, at the first of:
//   - a call f() (later calls do nothing);
//   - the end of the Finalize itself, when it is tied to an object: it is a
//     member of that object, or lives beside it, and goes when it goes
//     (Python: the object is garbage collected);
//   - the end of the process, if it has an exit priority: when the program
//     returns from main() or calls std::exit, and when a child process's
//     target returns (mp's exit function, Python's util._exit_function).
//     Those with a priority of 0 or more run before daemonic children are
//     terminated and the others joined; the rest after. Higher priorities
//     first, equal priorities in the reverse order of creation. One without
//     an exit priority never runs at exit.
// cancel() drops it. Nothing runs in another process: a fork child inherits
// neither its parent's finalizers nor the right to run them. A callback's
// exception propagates from f() and from the destructor's run it is
// reported on stderr; at exit it is reported and the others still run.

#ifndef MP_UTIL_H_
#define MP_UTIL_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "mp/internal/base/finalize.h"

namespace mp::util {

// Python's Finalize(obj, callback, args, kwargs, exitpriority).
struct FinalizeOptions {
  // Run at exit if still pending (see above); nullopt: never at exit.
  std::optional<int> exitpriority;
};

class Finalize {
 public:
  // Tied to this Finalize's own lifetime (and so to the object that holds
  // it): runs `callback` when it is destroyed, called, or at exit.
  explicit Finalize(std::function<void()> callback, FinalizeOptions options = {});
  // Tied to no object (Python's Finalize(None, ...)): runs when called or at
  // exit only, so it needs an exit priority (nullopt -> mp::ValueError).
  // Destroying this handle leaves it registered.
  Finalize(std::nullptr_t, std::function<void()> callback, FinalizeOptions options);

  Finalize(Finalize&&) noexcept = default;
  Finalize& operator=(Finalize&& other) noexcept;
  Finalize(const Finalize&) = delete;
  Finalize& operator=(const Finalize&) = delete;
  ~Finalize();

  // Runs the callback now unless it already ran or was cancelled (or this is
  // another process than the one that made it).
  void operator()();
  void cancel() noexcept;
  // Python's still_active(): pending in this process.
  bool still_active() const noexcept;

 private:
  void finish() noexcept;
  std::shared_ptr<internal::Finalizer> state_;
  bool tied_ = true;
};

// Python's util._run_finalizers(minpriority): runs this process's pending
// finalizers whose exit priority is at least `minpriority` (every one that
// has an exit priority, if nullopt), in the order described above.
void run_finalizers(std::optional<int> minpriority = std::nullopt);

}  // namespace mp::util

#endif  // MP_UTIL_H_
