// conformance/implementations/threads.h — mp::dummy, the API on threads.

#ifndef MP_CONFORMANCE_IMPLEMENTATIONS_THREADS_H_
#define MP_CONFORMANCE_IMPLEMENTATIONS_THREADS_H_

#include <utility>
#include <vector>

#include "mp/mp.h"

namespace mp::conformance {

struct Threads {
  static constexpr const char* name() { return "threads"; }
  static constexpr bool kProcesses = false;
  static constexpr bool kSignals = false;
  static constexpr bool forks() { return false; }

  template <class... A>
  static mp::dummy::Process Process(A&&... args) {
    return mp::dummy::Process(std::forward<A>(args)...);
  }
  template <class... A>
  static mp::dummy::Process Process(const mp::ProcessOptions& options, A&&... args) {
    return mp::dummy::Process(options, std::forward<A>(args)...);
  }
  // Connections between parties (Python: Pipe(duplex=True)); threads use
  // mp's too, as multiprocessing.dummy uses multiprocessing's.
  using Connection = mp::Connection;
  static std::pair<Connection, Connection> Pipe(bool duplex = true) { return mp::Pipe(duplex); }
  using Lock = mp::dummy::Lock;
  using RLock = mp::dummy::RLock;
  using Semaphore = mp::dummy::Semaphore;
  using BoundedSemaphore = mp::dummy::BoundedSemaphore;
  using Event = mp::dummy::Event;
  using Condition = mp::dummy::Condition;
  template <class T>
  using Queue = mp::dummy::Queue<T>;
  template <class T>
  using JoinableQueue = mp::dummy::JoinableQueue<T>;
  template <class T>
  using SimpleQueue = mp::dummy::SimpleQueue<T>;
  using Barrier = mp::dummy::Barrier;
  static mp::dummy::Pool Pool(const mp::PoolOptions& options) { return mp::dummy::Pool(options); }
  // Python: ThreadPoolExecutor; of a process pool's options, those threads
  // have (max_workers, initializer).
  static mp::futures::ThreadPoolExecutor Executor(
      const mp::futures::ProcessPoolExecutorOptions& options = {}) {
    mp::futures::ThreadPoolExecutorOptions t{.max_workers = options.max_workers};
    if (options.initializer) t.initializer = options.initializer.spec()->target.call;
    return mp::futures::ThreadPoolExecutor(t);
  }
  template <class T, class L = RLock>
  using Value = mp::dummy::Value<T, L>;
  template <class T>
  using RawValue = mp::dummy::RawValue<T>;
  template <class T, class L = RLock>
  using Array = mp::dummy::Array<T, L>;
  template <class T>
  using RawArray = mp::dummy::RawArray<T>;
  using SharedMemory = mp::dummy::SharedMemory;
  // What misuse raises here (threading's choices).
  using LockReleaseError = mp::RuntimeError;
  using RLockReleaseError = mp::RuntimeError;
  using ConditionMisuseError = mp::RuntimeError;

  static auto current_process() { return mp::dummy::current_process(); }
  static std::vector<mp::dummy::Process> active_children() { return mp::dummy::active_children(); }
};

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_IMPLEMENTATIONS_THREADS_H_
