// conformance/implementations/processes.h — mp's reference implementation,
// once per start method.

#ifndef MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_
#define MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_

#include <utility>
#include <vector>

#include "mp/mp.h"

namespace mp::conformance {

template <class Method>
struct Processes {
  static constexpr const char* name() { return Method::kName; }
  static constexpr bool kProcesses = true;      // children have their own address space
  static constexpr bool kSignals = true;        // terminate, kill, interrupt, sentinel, close
  static constexpr bool kFork = Method::kFork;  // children inherit the parent's memory

  static mp::Context& context() { return mp::get_context(Method::kName); }

  template <class... A>
  static mp::Process Process(A&&... args) {
    return mp::Process(context(), std::forward<A>(args)...);
  }
  template <class... A>
  static mp::Process Process(const mp::ProcessOptions& options, A&&... args) {
    return mp::Process(context(), options, std::forward<A>(args)...);
  }
  using Lock = mp::Lock;
  using RLock = mp::RLock;
  using Semaphore = mp::Semaphore;
  using BoundedSemaphore = mp::BoundedSemaphore;
  using Event = mp::Event;
  using Condition = mp::Condition;
  template <class T>
  using Queue = mp::Queue<T>;
  template <class T>
  using JoinableQueue = mp::JoinableQueue<T>;
  template <class T>
  using SimpleQueue = mp::SimpleQueue<T>;
  using Barrier = mp::Barrier;
  static mp::Pool Pool(const mp::PoolOptions& options) { return mp::Pool(context(), options); }
  // Python: ProcessPoolExecutor(mp_context=ctx, ...).
  static mp::futures::ProcessPoolExecutor Executor(
      mp::futures::ProcessPoolExecutorOptions options = {}) {
    if (!options.mp_context) options.mp_context = &context();
    return mp::futures::ProcessPoolExecutor(options);
  }
  template <class T, class L = RLock>
  using Value = mp::Value<T, L>;
  template <class T>
  using RawValue = mp::RawValue<T>;
  template <class T, class L = RLock>
  using Array = mp::Array<T, L>;
  template <class T>
  using RawArray = mp::RawArray<T>;
  using SharedMemory = mp::SharedMemory;
  // What misuse raises here (multiprocessing's choices).
  using LockReleaseError = mp::ValueError;
  using RLockReleaseError = mp::AssertionError;
  using ConditionMisuseError = mp::AssertionError;

  static auto current_process() { return mp::current_process(); }
  static std::vector<mp::Process> active_children() { return mp::active_children(); }
};

struct ForkMethod {
  static constexpr const char* kName = "fork";
  static constexpr bool kFork = true;
};
struct SpawnMethod {
  static constexpr const char* kName = "spawn";
  static constexpr bool kFork = false;
};
struct ForkserverMethod {
  static constexpr const char* kName = "forkserver";
  static constexpr bool kFork = false;
};

using Fork = Processes<ForkMethod>;
using Spawn = Processes<SpawnMethod>;
using Forkserver = Processes<ForkserverMethod>;

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_
