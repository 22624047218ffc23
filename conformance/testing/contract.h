// conformance/testing/contract.h — what an implementation's adapter must
// provide: the suites reach every primitive through it (TypeParam::Lock,
// TypeParam::Process(...), ...). check_contract<Impl>() runs where the
// adapter is registered (DescribeImplementation), so a missing or misshapen
// member fails there, with a message naming it, rather than deep inside a
// suite. The primitives' shapes are mp/concepts.h's, which mp's primitives,
// mp::dummy's and a manager's proxies all satisfy.

#ifndef MP_CONFORMANCE_TESTING_CONTRACT_H_
#define MP_CONFORMANCE_TESTING_CONTRACT_H_

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mp/concepts.h"
#include "mp/pool.h"
#include "mp/process.h"

namespace mp::conformance::contract {

inline void nothing() {}
inline int twice(int x) { return 2 * x; }

// name() (the report's column) and what the implementation can do.
template <class I>
concept Described = requires {
  { I::name() } -> std::convertible_to<std::string_view>;
  { I::kProcesses } -> std::convertible_to<bool>;
  { I::kSignals } -> std::convertible_to<bool>;
  { I::forks() } -> std::convertible_to<bool>;
};

// A child: Process(target, args...) and Process(options, target, args...),
// with Python's calls.
template <class P>
concept ChildLike = requires(P& p, const P& c, std::chrono::milliseconds timeout) {
  p.start();
  p.join();
  p.join(timeout);
  { c.is_alive() } -> std::same_as<bool>;
  { c.exitcode() } -> std::same_as<std::optional<int>>;
  { c.name() } -> std::convertible_to<std::string>;
};

template <class I>
concept StartsChildren = requires(const mp::ProcessOptions& options) {
  { I::Process(&nothing) } -> ChildLike;
  { I::Process(options, &nothing) } -> ChildLike;
  I::current_process();
  { I::active_children() } -> std::ranges::range;
};

// Processes also have a context and can be signalled.
template <class I>
concept ProcessesIfSo = !I::kProcesses || requires(decltype(I::Process(&nothing)) p) {
  { I::context() } -> std::convertible_to<mp::Context&>;
  p.terminate();
  p.kill();
  { p.pid() } -> std::convertible_to<std::optional<pid_t>>;
};

template <class I>
concept HasLocks =
    mp::LockLike<typename I::Lock> && mp::LockLike<typename I::RLock> &&
    mp::SemaphoreLike<typename I::Semaphore> && mp::SemaphoreLike<typename I::BoundedSemaphore> &&
    mp::EventLike<typename I::Event> && mp::ConditionLike<typename I::Condition> &&
    mp::BarrierLike<typename I::Barrier>;

// The exceptions misuse raises (they differ: processes follow
// multiprocessing, threads and managers threading).
template <class I>
concept NamesItsMisuseErrors = std::derived_from<typename I::LockReleaseError, std::exception> &&
                               std::derived_from<typename I::RLockReleaseError, std::exception> &&
                               std::derived_from<typename I::ConditionMisuseError, std::exception>;

template <class I>
concept HasQueues = mp::QueueLike<typename I::template Queue<int>, int> &&
                    mp::JoinableQueueLike<typename I::template JoinableQueue<int>, int> &&
                    requires(typename I::template SimpleQueue<int>& q) {
                      q.put(1);
                      { q.get() } -> std::same_as<int>;
                      { q.empty() } -> std::same_as<bool>;
                      q.close();
                    };

template <class I>
concept HasSharedValues = mp::ValueLike<typename I::template Value<int>> &&
                          mp::ArrayLike<typename I::template Array<int>> && requires {
                            typename I::template RawValue<int>;
                            typename I::template RawArray<int>;
                          } && requires { typename I::SharedMemory; };

template <class I>
concept HasPool = requires(const mp::PoolOptions& options, std::vector<int> items) {
  requires requires(decltype(I::Pool(options)) pool) {
    { pool.map(&twice, items) } -> std::same_as<std::vector<int>>;
    { pool.apply(&twice, 1) } -> std::same_as<int>;
    pool.close();
    pool.terminate();
    pool.join();
  };
};

template <class I>
concept HasExecutor = requires(decltype(I::Executor()) executor) {
  executor.submit(&twice, 1).result();
  executor.shutdown();
};

// Connections between parties: Pipe(duplex) and the Connection it returns,
// which the suites use to report from children.
template <class I>
concept HasPipes = requires(typename I::Connection& c, std::chrono::milliseconds timeout) {
  { I::Pipe() } -> std::same_as<std::pair<typename I::Connection, typename I::Connection>>;
  { I::Pipe(false) } -> std::same_as<std::pair<typename I::Connection, typename I::Connection>>;
  c.send_bytes(std::string_view());
  { c.recv_bytes() } -> std::convertible_to<std::string>;
  { c.poll(timeout) } -> std::same_as<bool>;
  c.send(0);
  { c.template recv<int>() } -> std::same_as<int>;
  c.close();
};

// Each part alone, so that the compiler names the one an adapter misses.
template <class Impl>
constexpr bool check_contract() {
  static_assert(Described<Impl>,
                "an adapter needs name(), kProcesses, kSignals and forks() (implementations/*.h)");
  static_assert(StartsChildren<Impl>,
                "an adapter needs Process(target, args...), Process(options, target, args...) "
                "with start/join/is_alive/exitcode/name, current_process() and "
                "active_children()");
  static_assert(ProcessesIfSo<Impl>,
                "an adapter of processes needs context(), and children with terminate(), kill() "
                "and pid()");
  static_assert(HasLocks<Impl>,
                "an adapter needs Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and "
                "Barrier that satisfy mp/concepts.h");
  static_assert(NamesItsMisuseErrors<Impl>,
                "an adapter needs LockReleaseError, RLockReleaseError and ConditionMisuseError");
  static_assert(HasQueues<Impl>,
                "an adapter needs Queue<T>, JoinableQueue<T> (mp/concepts.h) and SimpleQueue<T>");
  static_assert(HasSharedValues<Impl>,
                "an adapter needs Value<T>, Array<T> (mp/concepts.h), RawValue<T>, RawArray<T> "
                "and SharedMemory");
  static_assert(HasPool<Impl>, "an adapter needs Pool(PoolOptions) with map/apply/close/join");
  static_assert(HasExecutor<Impl>, "an adapter needs Executor() with submit/shutdown");
  static_assert(HasPipes<Impl>,
                "an adapter needs Connection and Pipe(duplex) with send/recv, send_bytes/"
                "recv_bytes, poll and close");
  return true;
}

}  // namespace mp::conformance::contract

#endif  // MP_CONFORMANCE_TESTING_CONTRACT_H_
