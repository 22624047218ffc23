// conformance/implementations/processes.h — mp's reference implementation.
// One adapter for every start method, as CPython runs one test module under
// each: the fork, spawn and forkserver columns run the same compiled suites,
// each test with MP_CONFORMANCE_START_METHOD set (conformance/BUILD).

#ifndef MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_
#define MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mp/mp.h"

namespace mp::conformance {

template <class Method>
struct ProcessesOf {
  // The start method: the report's column.
  static const char* name() { return Method::name(); }
  static constexpr bool kProcesses = true;  // children have their own address space
  static constexpr bool kSignals = true;    // terminate, kill, interrupt, sentinel, close
  // Children inherit the parent's memory.
  static bool forks() { return std::string_view(name()) == "fork"; }

  static mp::Context& context() { return mp::get_context(name()); }
  // The column what follows runs under, where the method can change.
  static void choose(const std::string& column)
    requires requires { Method::choose(column); }
  {
    Method::choose(column);
  }

  template <class... A>
  static mp::Process Process(A&&... args) {
    return mp::Process(context(), std::forward<A>(args)...);
  }
  template <class... A>
  static mp::Process Process(const mp::ProcessOptions& options, A&&... args) {
    return mp::Process(context(), options, std::forward<A>(args)...);
  }
  // Connections between parties (Python: Pipe(duplex=True)).
  using Connection = mp::Connection;
  static std::pair<Connection, Connection> Pipe(bool duplex = true) { return mp::Pipe(duplex); }
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

// The start method this run tests: MP_CONFORMANCE_START_METHOD (conformance/
// BUILD sets it for each test target), fork when unset. Read once, before
// the first test registers (test names carry it). The benchmarks, which run
// every start method's rows in one program, choose() it before each row.
struct ChosenMethod {
  static const char* name() { return chosen().c_str(); }
  static void choose(const std::string& method) { chosen() = known_or_abort(method.c_str()); }

 private:
  static std::string& chosen() {
    static std::string method = [] {
      const char* set = std::getenv("MP_CONFORMANCE_START_METHOD");
      return known_or_abort(set == nullptr || *set == '\0' ? "fork" : set);
    }();
    return method;
  }
  static std::string known_or_abort(const char* method) {
    for (const std::string& known : mp::get_all_start_methods()) {
      if (known == method) return known;
    }
    std::fprintf(stderr, "start method %s: not a start method of this platform\n", method);
    std::abort();
  }
};

struct ForkserverMethod {
  static const char* name() { return "forkserver"; }
};

using Processes = ProcessesOf<ChosenMethod>;
using Forkserver = ProcessesOf<ForkserverMethod>;  // the manager's children

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_IMPLEMENTATIONS_PROCESSES_H_
