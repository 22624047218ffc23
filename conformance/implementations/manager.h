// conformance/implementations/manager.h — the primitives as proxies of one
// mp::SyncManager (CPython's `manager` test type), with children started by
// the forkserver method. The manager starts before the first test
// (ManagerEnvironment) and stops after the last.

#ifndef MP_CONFORMANCE_IMPLEMENTATIONS_MANAGER_H_
#define MP_CONFORMANCE_IMPLEMENTATIONS_MANAGER_H_

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "mp/mp.h"

namespace mp::conformance {

struct ManagerImpl {
  static constexpr const char* name() { return "manager"; }
  static constexpr bool kProcesses = true;  // the parties are processes
  static constexpr bool kSignals = true;    // ... that can be killed
  static constexpr bool kFork = false;
  static constexpr bool kManager = true;    // the primitives live in a manager's server

  static mp::Context& context() { return mp::get_context("forkserver"); }
  static mp::SyncManager& manager() {
    static mp::SyncManager* m = [] {
      auto* made = new mp::SyncManager(context());
      made->start();
      return made;
    }();
    return *m;
  }

  template <class... A>
  static mp::Process Process(A&&... args) {
    return mp::Process(context(), std::forward<A>(args)...);
  }
  template <class... A>
  static mp::Process Process(const mp::ProcessOptions& options, A&&... args) {
    return mp::Process(context(), options, std::forward<A>(args)...);
  }

  // Each primitive: default-constructs (or constructs from the primitive's
  // arguments) a new object in the manager; copies and decoded copies share it.
  struct Lock : mp::LockProxy {
    using LockProxy::LockProxy;
    Lock() : LockProxy(manager().Lock()) {}
  };
  struct RLock : mp::RLockProxy {
    using RLockProxy::RLockProxy;
    RLock() : RLockProxy(manager().RLock()) {}
  };
  struct Semaphore : mp::SemaphoreProxy {
    using SemaphoreProxy::SemaphoreProxy;
    explicit Semaphore(int value = 1) : SemaphoreProxy(manager().Semaphore(value)) {}
  };
  struct BoundedSemaphore : mp::BoundedSemaphoreProxy {
    using BoundedSemaphoreProxy::BoundedSemaphoreProxy;
    explicit BoundedSemaphore(int value = 1) : BoundedSemaphoreProxy(manager().BoundedSemaphore(value)) {}
  };
  struct Event : mp::EventProxy {
    using EventProxy::EventProxy;
    Event() : EventProxy(manager().Event()) {}
  };
  struct Condition : mp::ConditionProxy {
    using ConditionProxy::ConditionProxy;
    Condition() : ConditionProxy(manager().Condition()) {}
  };
  struct Barrier : mp::BarrierProxy {
    using BarrierProxy::BarrierProxy;
    // A manager's Barrier has no action (a function cannot be stored in the server).
    explicit Barrier(int parties, void (*action)() = nullptr) : BarrierProxy(make(parties, action)) {}
    template <class Rep, class Period>
    Barrier(int parties, void (*action)(), std::chrono::duration<Rep, Period> timeout)
        : BarrierProxy(action ? throw mp::ValueError("a manager Barrier has no action")
                              : manager().Barrier(parties, timeout)) {}

   private:
    static mp::BarrierProxy make(int parties, void (*action)()) {
      if (action != nullptr) throw mp::ValueError("a manager Barrier has no action");
      return manager().Barrier(parties);
    }
  };
  template <class T>
  struct Queue : mp::QueueProxy<T> {
    using mp::QueueProxy<T>::QueueProxy;
    explicit Queue(int maxsize = 0) : mp::QueueProxy<T>(manager().template Queue<T>(maxsize)) {}
  };
  template <class T>
  struct JoinableQueue : mp::JoinableQueueProxy<T> {
    using mp::JoinableQueueProxy<T>::JoinableQueueProxy;
    explicit JoinableQueue(int maxsize = 0)
        : mp::JoinableQueueProxy<T>(manager().template JoinableQueue<T>(maxsize)) {}
  };
  // Not proxies: the suites use these only as helpers around the primitive
  // under test.
  template <class T>
  using SimpleQueue = mp::SimpleQueue<T>;
  template <class T, class L = mp::RLock>
  using Value = mp::Value<T, L>;
  template <class T>
  using RawValue = mp::RawValue<T>;
  template <class T, class L = mp::RLock>
  using Array = mp::Array<T, L>;
  template <class T>
  using RawArray = mp::RawArray<T>;
  using SharedMemory = mp::SharedMemory;
  static mp::Pool Pool(const mp::PoolOptions& options) { return mp::Pool(context(), options); }

  // What misuse raises here (threading's choices, made in the server).
  using LockReleaseError = mp::RuntimeError;
  using RLockReleaseError = mp::RuntimeError;
  using ConditionMisuseError = mp::RuntimeError;

  static auto current_process() { return mp::current_process(); }
  static std::vector<mp::Process> active_children() { return mp::active_children(); }
};

// Starts the shared manager before the first test (so the per-test hygiene
// baseline includes its server and this thread's connection) and stops it
// after the last.
class ManagerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { (void)ManagerImpl::Lock().locked(); }
  void TearDown() override { ManagerImpl::manager().shutdown(); }
};

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_IMPLEMENTATIONS_MANAGER_H_
