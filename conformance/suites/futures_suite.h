// conformance/suites/futures_suite.h — executors and futures (Python:
// concurrent.futures), mirroring Lib/test/test_concurrent_futures/.
//
// Two suites:
//   - FuturesSuite: the rows CPython runs on ThreadPoolExecutor and
//     ProcessPoolExecutor alike (executor.py, test_shutdown.py's
//     ExecutorShutdownTest, test_init.py), on every implementation, plus mp's
//     own tests of futures, wait() and as_completed();
//   - ProcessPoolExecutorSuite: the rows CPython runs on process pools only
//     (test_process_pool.py, ProcessPoolShutdownTest, test_deadlock.py), on
//     the start methods.
// Calls that must block until the test lets them go wait on an Event (and
// report through a Queue) the workers get from the initializer: a call
// cannot carry handles, and a thread pool's workers find them the same way.

#ifndef MP_CONFORMANCE_SUITES_FUTURES_SUITE_H_
#define MP_CONFORMANCE_SUITES_FUTURES_SUITE_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "mp/futures.h"
#include "testing/conformance.h"

namespace mp::conformance {
namespace futures_tasks {

using namespace std::chrono_literals;

inline int power(int x, int y) {
  int r = 1;
  for (int i = 0; i < y; ++i) r *= x;
  return r;
}
// Python's pow(x, y) has no overflow; this one stays within a long long.
inline long long power_mod(int x, int y) {
  long long r = 1;
  for (int i = 0; i < y; ++i) r = r * x % 1'000'000'007;
  return r;
}
inline int mul(int x, int y) { return x * y; }
inline int add(int x, int y) { return x + y; }
inline int absolute(int x) { return x < 0 ? -x : x; }
inline std::string to_str(int x) { return std::to_string(x); }
inline int identity(int x) { return x; }
// Python's divmod, with std::domain_error for ZeroDivisionError.
inline std::pair<int, int> divmod(int a, int b) {
  if (b == 0) throw std::domain_error("integer division or modulo by zero");
  return {a / b, a % b};
}
inline int sleep_then(int ms, int value) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return value;
}
inline void nothing() {}
inline int raise_runtime(int) { throw std::runtime_error("123"); }
inline int raise_mp_runtime(int) { throw mp::RuntimeError("raised in the call"); }
inline int raise_empty_message(int) { throw std::runtime_error(""); }
inline long pid_of(int) { return static_cast<long>(::getpid()); }
[[noreturn]] inline void exit_now(int code) { std::_Exit(code); }
inline int exit_in_call(int code) { exit_now(code); }

// A segmentation fault, without a core file (Python: faulthandler._sigsegv()).
[[noreturn]] inline void crash() {
  ::prctl(PR_SET_DUMPABLE, 0);
  ::signal(SIGSEGV, SIG_DFL);
  ::raise(SIGSEGV);
  std::_Exit(99);
}
inline int crash_in_call(int) { crash(); }
inline int crash_after(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  crash();
}
inline int crash_with_data(std::string) { crash(); }

// Python's keyword arguments: a struct of named fields.
struct Keywords {
  int self = 0;
  int fn = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(self, fn);
  }
};
inline std::tuple<int, int, int> capture(int positional, Keywords kw) {
  return {positional, kw.self, kw.fn};
}

// Values whose encoding or decoding misbehaves (test_deadlock.py's
// ErrorAtPickle, ExitAtUnpickle, CrashAtPickle...). Each Codec is below.
struct EncodeFails {
  int v = 0;
};
struct EncodeExits {
  int v = 0;
};
struct EncodeCrashes {
  int v = 0;
};
struct DecodeFails {
  int v = 0;
};
struct DecodeExits {
  int v = 0;
};
struct DecodeCrashes {
  int v = 0;
};
struct DecodeThrowsNonStd {
  int v = 0;
};
template <class T>
int swallow(T) {
  return 0;
}
template <class T>
T make(int) {
  return T{};
}

// What a blocking call waits on and reports through, handed to every worker
// by the initializer.
template <class Impl>
struct Kit {
  typename Impl::Event gate;
  typename Impl::Semaphore sem{0};
  typename Impl::template Queue<int> q;
};

template <class Impl>
struct KitSlot {
  static inline std::mutex mu;
  static inline std::optional<Kit<Impl>> kit;
};

template <class Impl>
void adopt_kit(typename Impl::Event gate, typename Impl::Semaphore sem,
               typename Impl::template Queue<int> q) {
  std::lock_guard lock(KitSlot<Impl>::mu);
  KitSlot<Impl>::kit = Kit<Impl>{gate, sem, q};
}

template <class Impl>
Kit<Impl> kit() {
  std::lock_guard lock(KitSlot<Impl>::mu);
  return KitSlot<Impl>::kit.value();
}

// A Kit for one test, and the initializer that hands it to the workers.
// The workers' copies (in this process, for threads) go with it.
template <class Impl>
struct TestKit : Kit<Impl> {
  mp::Initializer initializer() const {
    return mp::Initializer(&adopt_kit<Impl>, this->gate, this->sem, this->q);
  }
  ~TestKit() {
    std::lock_guard lock(KitSlot<Impl>::mu);
    KitSlot<Impl>::kit.reset();
  }
};

// Blocks until the test opens the gate (a minute at most), then returns x.
template <class Impl>
int wait_gate(int x) {
  kit<Impl>().gate.wait(60s);
  return x;
}
// Reports x.
template <class Impl>
int report(int x) {
  kit<Impl>().q.put(x);
  return x;
}
// Reports x, then blocks until the test opens the gate.
template <class Impl>
int report_then_wait_gate(int x) {
  kit<Impl>().q.put(x);
  return wait_gate<Impl>(x);
}
// Blocks on the gate when x is 1; returns x.
template <class Impl>
int block_on_one(int x) {
  if (x == 1) kit<Impl>().gate.wait(60s);
  return x;
}
// Reports x, blocks on the gate, then reports x + 1000.
template <class Impl>
int report_wait_report(int x) {
  auto k = kit<Impl>();
  k.q.put(x);
  k.gate.wait(60s);
  k.q.put(x + 1000);
  return x;
}
// Reports x, then works for a tenth of a second.
template <class Impl>
int report_then_sleep(int x) {
  kit<Impl>().q.put(x);
  return sleep_then(100, x);
}
// Takes one token of the semaphore (a minute at most).
template <class Impl>
int acquire_sem(int x) {
  kit<Impl>().sem.acquire(60s);
  return x;
}

// Python's get_init_status(): what the initializer left in this worker.
inline thread_local std::string init_status = "uninitialized";
inline void init_with(std::string status) { init_status = std::move(status); }
inline std::string get_init_status(int) { return init_status; }
inline void failing_init() { throw mp::ValueError("error in initializer"); }

// An endless input that counts the items read from it.
inline auto counted_ints(std::shared_ptr<std::atomic<long>> read) {
  return std::views::iota(0) | std::views::transform([read](int x) {
           read->fetch_add(1);
           return x;
         });
}

}  // namespace futures_tasks
}  // namespace mp::conformance

namespace mp {

namespace ft_ = conformance::futures_tasks;

template <>
struct Codec<ft_::EncodeFails> {
  static void encode(Writer&, const ft_::EncodeFails&) { throw PicklingError("Error in pickle"); }
  static ft_::EncodeFails decode(Reader&) { return {}; }
};
template <>
struct Codec<ft_::EncodeExits> {
  static void encode(Writer&, const ft_::EncodeExits&) { ft_::exit_now(1); }
  static ft_::EncodeExits decode(Reader&) { return {}; }
};
template <>
struct Codec<ft_::EncodeCrashes> {
  static void encode(Writer&, const ft_::EncodeCrashes&) { ft_::crash(); }
  static ft_::EncodeCrashes decode(Reader&) { return {}; }
};
template <>
struct Codec<ft_::DecodeFails> {
  static void encode(Writer& w, const ft_::DecodeFails& x) { w.write_pod(x.v); }
  static ft_::DecodeFails decode(Reader&) { throw PicklingError("Error in unpickle"); }
};
template <>
struct Codec<ft_::DecodeExits> {
  static void encode(Writer& w, const ft_::DecodeExits& x) { w.write_pod(x.v); }
  static ft_::DecodeExits decode(Reader&) { ft_::exit_now(1); }
};
template <>
struct Codec<ft_::DecodeCrashes> {
  static void encode(Writer& w, const ft_::DecodeCrashes& x) { w.write_pod(x.v); }
  static ft_::DecodeCrashes decode(Reader&) { ft_::crash(); }
};
template <>
struct Codec<ft_::DecodeThrowsNonStd> {
  static void encode(Writer& w, const ft_::DecodeThrowsNonStd& x) { w.write_pod(x.v); }
  static ft_::DecodeThrowsNonStd decode(Reader&) { throw 42; }
};

}  // namespace mp

namespace mp::conformance {

namespace fu = futures_tasks;
using namespace std::chrono_literals;
using mp::futures::BrokenExecutor;
using mp::futures::BrokenProcessPool;
using mp::futures::Future;

template <class E>
concept SubmitsWithoutCallable = requires(E& e) { e.submit(1); };
template <class T>
concept BuffersizeTakes = requires(T v) { mp::futures::MapOptions{.buffersize = v}; };
template <class E>
concept ForceShutdownByName = requires(E& e) { e._force_shutdown(std::string("invalid")); };

template <class Impl>
class FuturesSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(FuturesSuite);

TYPED_TEST_P(FuturesSuite, SubmitResult) {
  cpython_id("cf.submit_result");
  auto ex = TypeParam::Executor({.max_workers = 2});
  EXPECT_EQ(ex.submit(&fu::power, 2, 8).result(), 256);
}

TYPED_TEST_P(FuturesSuite, SubmitPassesEveryArgument) {
  cpython_id("cf.submit_kwargs");
  deviation(
      "C++ has no keyword arguments: a struct of named fields (here `self` and `fn`) stands in "
      "for them, and a submit() without a callable does not compile instead of raising "
      "TypeError");
  auto ex = TypeParam::Executor({.max_workers = 2});
  EXPECT_EQ(ex.submit(&fu::mul, 2, 8).result(), 16);
  EXPECT_EQ(ex.submit(&fu::capture, 1, fu::Keywords{.self = 2, .fn = 3}).result(),
            std::make_tuple(1, 2, 3));
  static_assert(!SubmitsWithoutCallable<decltype(ex)>);
}

TYPED_TEST_P(FuturesSuite, MapKeepsOrder) {
  cpython_id("cf.map_order");
  auto ex = TypeParam::Executor({.max_workers = 2});
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(fu::power(i, i));
  auto collect = [](auto&& results) {
    std::vector<int> out;
    for (int y : results) out.push_back(y);
    return out;
  };
  EXPECT_EQ(collect(ex.map(&fu::power, std::views::iota(0, 10), std::views::iota(0, 10))),
            expected);
  EXPECT_EQ(collect(ex.map(&fu::power, std::views::iota(0, 10), std::views::iota(0, 10),
                           {.chunksize = 3})),
            expected);
}

TYPED_TEST_P(FuturesSuite, MapRaisesInOrder) {
  cpython_id("cf.map_exception_in_order");
  auto ex = TypeParam::Executor({.max_workers = 2});
  for (int chunksize : {1, 3}) {
    auto it = ex.map(&fu::divmod, std::vector<int>{1, 1, 1, 1}, std::vector<int>{2, 3, 0, 5},
                     {.chunksize = chunksize});
    EXPECT_EQ(it.next(), std::make_pair(0, 1));
    EXPECT_EQ(it.next(), std::make_pair(0, 1));
    EXPECT_THROW(it.next(), std::domain_error) << "chunksize " << chunksize;
    // CPython's main branch: the iteration goes on past the failed call.
    EXPECT_EQ(it.next(), std::make_pair(0, 1));
    EXPECT_EQ(it.next(), std::nullopt);
  }
}

TYPED_TEST_P(FuturesSuite, MapTimeout) {
  cpython_id("cf.map_timeout");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = kit.initializer()});
  // The third call blocks on the gate, which opens only after the timeout.
  auto it = ex.map(&fu::block_on_one<TypeParam>, std::vector<int>{0, 0, 1}, {.timeout = 1500ms});
  std::vector<int> results;
  bool timed_out = false;
  try {
    while (auto y = it.next()) results.push_back(*y);
  } catch (const mp::TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  // On a loaded machine the workers may start after the timeout (gh-110097).
  EXPECT_TRUE(results == std::vector<int>({0, 0}) || results == std::vector<int>({0}) ||
              results.empty())
      << results.size() << " results before the timeout";
  EXPECT_EQ(it.next(), std::nullopt) << "the rest was cancelled: the iteration is over";
  EXPECT_EQ(it.next(), std::nullopt);
  kit.gate.set();
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOfWrongType) {
  cpython_id("cf.map_buffersize_type");
  deviation(
      "a buffersize that is not a number (\"foo\") does not compile instead of raising "
      "TypeError; a floating-point one converts to int, as for any int parameter in C++");
  static_assert(!BuffersizeTakes<const char*>);
  static_assert(!BuffersizeTakes<std::string>);
  static_assert(BuffersizeTakes<int>);
  auto ex = TypeParam::Executor({.max_workers = 1});
  std::vector<std::string> out;
  for (auto& y : ex.map(&fu::to_str, std::views::iota(0, 4), {.buffersize = 2})) out.push_back(y);
  EXPECT_EQ(out, (std::vector<std::string>{"0", "1", "2", "3"}));
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOutOfRange) {
  cpython_id("cf.map_buffersize_value");
  auto ex = TypeParam::Executor({.max_workers = 1});
  for (int bad : {0, -1}) {
    try {
      ex.map(&fu::to_str, std::views::iota(0, 4), {.buffersize = bad});
      ADD_FAILURE() << "buffersize " << bad << " accepted";
    } catch (const mp::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("buffersize must be None or > 0"), std::string::npos);
    }
  }
}

TYPED_TEST_P(FuturesSuite, MapBuffersize) {
  cpython_id("cf.map_buffersize_results");
  auto ex = TypeParam::Executor({.max_workers = 2});
  for (int buffersize : {1, 2, 4, 8}) {
    std::vector<std::string> out;
    for (auto& y : ex.map(&fu::to_str, std::views::iota(0, 4), {.buffersize = buffersize}))
      out.push_back(y);
    EXPECT_EQ(out, (std::vector<std::string>{"0", "1", "2", "3"})) << "buffersize " << buffersize;
  }
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOnSeveralRanges) {
  cpython_id("cf.map_buffersize_multi");
  auto ex = TypeParam::Executor({.max_workers = 2});
  for (int buffersize : {1, 2, 4, 8}) {
    std::vector<int> out;
    for (int y : ex.map(&fu::add, std::views::iota(0, 4), std::views::iota(0, 4),
                        {.buffersize = buffersize}))
      out.push_back(y);
    EXPECT_EQ(out, (std::vector<int>{0, 2, 4, 6})) << "buffersize " << buffersize;
  }
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOnEndlessRange) {
  cpython_id("cf.map_buffersize_infinite");
  auto ex = TypeParam::Executor({.max_workers = 2});
  auto it = ex.map(&fu::to_str, std::views::iota(0), {.buffersize = 2});
  EXPECT_EQ(it.next(), "0");
  EXPECT_EQ(it.next(), "1");
  EXPECT_EQ(it.next(), "2");
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOnSeveralEndlessRanges) {
  cpython_id("cf.map_buffersize_multi_infinite");
  auto ex = TypeParam::Executor({.max_workers = 2});
  auto it = ex.map(&fu::add, std::views::iota(0), std::views::iota(0), {.buffersize = 2});
  EXPECT_EQ(it.next(), 0);
  EXPECT_EQ(it.next(), 2);
  EXPECT_EQ(it.next(), 4);
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeOnEmptyRange) {
  cpython_id("cf.map_buffersize_empty");
  auto ex = TypeParam::Executor({.max_workers = 2});
  EXPECT_EQ(ex.map(&fu::to_str, std::vector<int>{}, {.buffersize = 2}).next(), std::nullopt);
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeWithoutRange) {
  cpython_id("cf.map_buffersize_no_iterable");
  auto ex = TypeParam::Executor({.max_workers = 2});
  EXPECT_EQ(ex.map(&fu::to_str, {.buffersize = 2}).next(), std::nullopt);
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeReadsNoMoreWhenFull) {
  cpython_id("cf.map_buffersize_backpressure");
  auto read = std::make_shared<std::atomic<long>>(0);
  auto ex = TypeParam::Executor({.max_workers = 2});
  auto results = ex.map(&fu::identity, fu::counted_ints(read), {.buffersize = 2});
  ex.shutdown();  // every submitted call done; nobody asked for a result
  EXPECT_EQ(read->load(), 2) << "only buffersize items were read from the input";
}

TYPED_TEST_P(FuturesSuite, ShutdownWithAFullCallQueue) {
  cpython_id("cf.shutdown_race_full_call_queue");
  const int workers = 2;
  auto ex = TypeParam::Executor({.max_workers = workers});
  auto results = ex.map(&fu::to_str, std::vector<int>(workers + 1, 2));
  ex.shutdown();
  int n = 0;
  for (auto& y : results) {
    EXPECT_EQ(y, "2");
    ++n;
  }
  EXPECT_EQ(n, workers + 1);
}

TYPED_TEST_P(FuturesSuite, MaxWorkersMustBePositive) {
  cpython_id("cf.max_workers_invalid");
  for (int bad : {0, -1}) {
    try {
      TypeParam::Executor({.max_workers = bad});
      ADD_FAILURE() << "max_workers " << bad << " accepted";
    } catch (const mp::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("max_workers must be greater than 0"),
                std::string::npos);
    }
  }
}

TYPED_TEST_P(FuturesSuite, EveryExceptionIsRaised) {
  cpython_id("cf.falsey_exceptions_raised");
  auto ex = TypeParam::Executor({.max_workers = 1});
  // C++'s nearest to Python's falsy exceptions: an empty message.
  try {
    ex.submit(&fu::raise_empty_message, 0).result();
    ADD_FAILURE() << "nothing raised";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "");
  }
  auto f = ex.submit(&fu::raise_empty_message, 0);
  EXPECT_NE(f.exception(), nullptr);
}

TYPED_TEST_P(FuturesSuite, SubmitAfterShutdownRaises) {
  cpython_id("cf.submit_after_shutdown");
  auto ex = TypeParam::Executor({.max_workers = 2});
  ex.shutdown();
  EXPECT_THROW(ex.submit(&fu::power, 2, 5), mp::RuntimeError);
}

TYPED_TEST_P(FuturesSuite, LeavingTheScopeWaitsForCalls) {
  cpython_id("cf.interpreter_exit_waits_tasks");
  // Python's atexit hook; in C++, the executor's destructor.
  Future<int> f;
  {
    auto ex = TypeParam::Executor({.max_workers = 5});
    f = ex.submit(&fu::sleep_then, 200, 42);
  }
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(0s), 42);
}

TYPED_TEST_P(FuturesSuite, SubmitDuringInterpreterShutdown) {
  cpython_id("cf.submit_in_atexit_raises");
  GTEST_SKIP() << "C++ has no interpreter shutdown that outlives the executor: an executor ends "
                  "with its object, and submit() after shutdown() is cf.submit_after_shutdown";
}

TYPED_TEST_P(FuturesSuite, ShutdownWithManyPendingCalls) {
  cpython_id("cf.shutdown_with_many_pending");
  auto ex = TypeParam::Executor({.max_workers = 5});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(ex.submit(&fu::sleep_then, 10, i));
  ex.shutdown();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[static_cast<size_t>(i)].result(0s), i);
}

TYPED_TEST_P(FuturesSuite, ShutdownCancelsPendingCalls) {
  cpython_id("cf.shutdown_cancel_futures");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 5, .initializer = kit.initializer()});
  // CPython counts on one of the calls having started by the time shutdown
  // runs; here the first one says so.
  std::vector<Future<int>> fs{ex.submit(&fu::report_then_sleep<TypeParam>, 0)};
  EXPECT_EQ(kit.q.get(60s), 0);
  for (int i = 1; i < 50; ++i) fs.push_back(ex.submit(&fu::sleep_then, 100, i));
  ex.shutdown({.cancel_futures = true});
  size_t cancelled = 0, others = 0;
  for (auto& f : fs) {
    if (f.cancelled()) {
      ++cancelled;
      EXPECT_THROW(f.result(0s), mp::futures::CancelledError);
      continue;
    }
    ++others;
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.exception(0s), nullptr);
  }
  EXPECT_GT(cancelled, 20u);
  EXPECT_GT(others, 0u);
}

TYPED_TEST_P(FuturesSuite, ShutdownWithoutWaitingStillRunsCalls) {
  cpython_id("cf.shutdown_nowait_at_exit");
  // CPython runs this for threads only (its process pool hangs, gh-83386);
  // mp's process pools pass it too.
  Future<int> f;
  {
    auto ex = TypeParam::Executor({.max_workers = 3});
    f = ex.submit(&fu::sleep_then, 200, 7);
    ex.shutdown({.wait = false});
  }
  EXPECT_EQ(f.result(0s), 7);
}

TYPED_TEST_P(FuturesSuite, ShutdownAfterCancelDoesNotHang) {
  cpython_id("cf.shutdown_after_cancel_no_hang");
  auto ex = TypeParam::Executor({.max_workers = 1});
  EXPECT_EQ(ex.submit(&fu::identity, 1).result(), 1);
  Stopwatch clock;
  ex.submit(&fu::identity, 2).cancel();
  ex.shutdown();
  EXPECT_LT(clock.elapsed(), 30s);
}

TYPED_TEST_P(FuturesSuite, InitializerRunsInEveryWorker) {
  cpython_id("cf.initializer_runs");
  auto ex = TypeParam::Executor(
      {.max_workers = 2, .initializer = {&fu::init_with, std::string("initialized")}});
  std::vector<Future<std::string>> fs;
  for (int i = 0; i < 2; ++i) fs.push_back(ex.submit(&fu::get_init_status, i));
  for (auto& f : fs) EXPECT_EQ(f.result(60s), "initialized");
}

TYPED_TEST_P(FuturesSuite, FailingInitializerBreaksTheExecutor) {
  cpython_id("cf.failing_initializer_breaks");
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = &fu::failing_init});
  try {
    auto f = ex.submit(&fu::identity, 1);
    EXPECT_THROW(f.result(60s), BrokenExecutor);
  } catch (const BrokenExecutor&) {
    // submit() may find it broken already
  }
  EXPECT_THROW(ex.submit(&fu::identity, 2), BrokenExecutor) << "it stays broken";
}

// mp's own: futures, wait() and as_completed() -------------------------------------------------

TYPED_TEST_P(FuturesSuite, FutureStatesAndCallbacks) {
  mp_id("mp.futures.future_states");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 1, .initializer = kit.initializer()});
  auto blocker = ex.submit(&fu::report_then_wait_gate<TypeParam>, 1);
  EXPECT_EQ(kit.q.get(60s), 1) << "the first call started";
  EXPECT_TRUE(blocker.running());
  EXPECT_FALSE(blocker.cancel()) << "running";
  // One worker, busy: the next calls wait, and cancel() reaches them.
  auto second = ex.submit(&fu::identity, 2);
  auto third = ex.submit(&fu::report<TypeParam>, 3);
  std::atomic<int> callbacks{0};
  third.add_done_callback([&](const Future<int>& f) {
    EXPECT_TRUE(f.cancelled());
    callbacks.fetch_add(1);
  });
  EXPECT_FALSE(third.running());
  EXPECT_TRUE(third.cancel());
  EXPECT_TRUE(third.cancelled());
  EXPECT_TRUE(third.done());
  EXPECT_EQ(callbacks.load(), 1) << "the callback ran at cancel()";
  EXPECT_THROW(third.result(0s), mp::futures::CancelledError);
  EXPECT_THROW(blocker.result(0s), mp::TimeoutError);
  kit.gate.set();
  EXPECT_EQ(blocker.result(60s), 1);
  EXPECT_FALSE(blocker.cancel()) << "finished";
  EXPECT_EQ(second.result(60s), 2);
  blocker.add_done_callback([&](const Future<int>& f) { callbacks.fetch_add(f.result(0s)); });
  EXPECT_EQ(callbacks.load(), 2) << "added to a done future: runs at once";
  EXPECT_THROW(blocker.set_result(5), mp::futures::InvalidStateError);
  ex.shutdown();
  EXPECT_THROW(kit.q.get_nowait(), mp::Empty) << "the cancelled call never ran";
}

TYPED_TEST_P(FuturesSuite, WaitReturnsWhenAsked) {
  mp_id("mp.futures.wait");
  using mp::futures::wait;
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = kit.initializer()});
  auto quick = ex.submit(&fu::identity, 1);
  auto failing = ex.submit(&fu::raise_runtime, 0);
  auto slow = ex.submit(&fu::wait_gate<TypeParam>, 3);
  std::vector<Future<int>> fs{quick, failing, slow, quick};
  auto first = wait(fs, {.timeout = 60s, .return_when = mp::futures::FIRST_COMPLETED});
  EXPECT_GE(first.done.size(), 1u);
  EXPECT_EQ(first.done.size() + first.not_done.size(), 3u) << "each future once";
  EXPECT_EQ(quick.result(60s), 1);
  auto exc = wait(fs, {.timeout = 60s, .return_when = mp::futures::FIRST_EXCEPTION});
  EXPECT_NE(std::find(exc.done.begin(), exc.done.end(), failing), exc.done.end());
  ASSERT_EQ(exc.not_done.size(), 1u) << "the blocked call";
  EXPECT_EQ(exc.not_done[0], slow);
  auto none = wait(fs, {.timeout = 100ms});
  EXPECT_EQ(none.not_done.size(), 1u) << "timed out with the blocked call pending";
  kit.gate.set();
  auto all = wait(fs, {.timeout = 60s});
  EXPECT_EQ(all.done.size(), 3u);
  EXPECT_TRUE(all.not_done.empty());
}

TYPED_TEST_P(FuturesSuite, AsCompletedYieldsEachOnce) {
  mp_id("mp.futures.as_completed");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = kit.initializer()});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(ex.submit(&fu::identity, i));
  fs.push_back(fs[0]);
  int sum = 0, count = 0;
  for (auto& f : mp::futures::as_completed(fs, 60s)) {
    sum += f.result(0s);
    ++count;
  }
  EXPECT_EQ(count, 20);
  EXPECT_EQ(sum, 190);
  std::vector<Future<int>> blocked{ex.submit(&fu::wait_gate<TypeParam>, 1)};
  auto ready = ex.submit(&fu::identity, 5);
  ready.result(60s);
  blocked.push_back(ready);
  count = 0;
  EXPECT_THROW(
      {
        for (auto& f : mp::futures::as_completed(blocked, 300ms)) {
          EXPECT_EQ(f, ready) << "the done one first";
          ++count;
        }
      },
      mp::TimeoutError);
  EXPECT_EQ(count, 1);
  kit.gate.set();
}

TYPED_TEST_P(FuturesSuite, MapBuffersizeStaysOneChunkAhead) {
  mp_id("mp.futures.buffersize_lazy");
  auto ex = TypeParam::Executor({.max_workers = 2});
  for (int chunksize : {1, 4}) {
    auto read = std::make_shared<std::atomic<long>>(0);
    auto it =
        ex.map(&fu::identity, fu::counted_ints(read), {.chunksize = chunksize, .buffersize = 3});
    EXPECT_EQ(read->load(), 3 * chunksize) << "buffersize chunks read by map() itself";
    for (int i = 0; i < 40; ++i) ASSERT_EQ(it.next(), i);
    // Each chunk taken from the buffer lets one more in.
    const long chunks_taken = (40 + chunksize - 1) / chunksize;
    EXPECT_EQ(read->load(), (3 + chunks_taken) * chunksize) << "chunksize " << chunksize;
  }
}

REGISTER_TYPED_TEST_SUITE_P(
    FuturesSuite, SubmitResult, SubmitPassesEveryArgument, MapKeepsOrder, MapRaisesInOrder,
    MapTimeout, MapBuffersizeOfWrongType, MapBuffersizeOutOfRange, MapBuffersize,
    MapBuffersizeOnSeveralRanges, MapBuffersizeOnEndlessRange, MapBuffersizeOnSeveralEndlessRanges,
    MapBuffersizeOnEmptyRange, MapBuffersizeWithoutRange, MapBuffersizeReadsNoMoreWhenFull,
    ShutdownWithAFullCallQueue, MaxWorkersMustBePositive, EveryExceptionIsRaised,
    SubmitAfterShutdownRaises, LeavingTheScopeWaitsForCalls, SubmitDuringInterpreterShutdown,
    ShutdownWithManyPendingCalls, ShutdownCancelsPendingCalls, ShutdownWithoutWaitingStillRunsCalls,
    ShutdownAfterCancelDoesNotHang, InitializerRunsInEveryWorker,
    FailingInitializerBreaksTheExecutor, FutureStatesAndCallbacks, WaitReturnsWhenAsked,
    AsCompletedYieldsEachOnce, MapBuffersizeStaysOneChunkAhead);

// Process pools only -------------------------------------------------------------------------

template <class Impl>
class ProcessPoolExecutorSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(ProcessPoolExecutorSuite);

template <class Impl>
bool is_fork() {
  return Impl::context().get_start_method() == "fork";
}

// A process that has ended and been reaped is gone.
inline bool process_gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

TYPED_TEST_P(ProcessPoolExecutorSuite, KilledWorkerBreaksThePool) {
  cpython_id("cf.ppe_killed_worker_breaks_pool");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = kit.initializer()});
  auto f = ex.submit(&fu::wait_gate<TypeParam>, 1);
  auto pids = ex.worker_pids();
  ASSERT_FALSE(pids.empty());
  ::kill(pids[0], SIGTERM);
  EXPECT_THROW(f.result(60s), BrokenProcessPool);
  EXPECT_THROW(ex.submit(&fu::power, 2, 8), BrokenProcessPool);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, MapChunksize) {
  cpython_id("cf.ppe_map_chunksize");
  auto ex = TypeParam::Executor({.max_workers = 2});
  std::vector<long long> expected;
  for (int i = 0; i < 40; ++i) expected.push_back(fu::power_mod(i, i));
  for (int chunksize : {6, 50, 40}) {
    std::vector<long long> out;
    for (long long y : ex.map(&fu::power_mod, std::views::iota(0, 40), std::views::iota(0, 40),
                              {.chunksize = chunksize}))
      out.push_back(y);
    EXPECT_EQ(out, expected) << "chunksize " << chunksize;
  }
  EXPECT_THROW(
      ex.map(&fu::power_mod, std::views::iota(0, 40), std::views::iota(0, 40), {.chunksize = -1}),
      mp::ValueError);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CallExceptionKeepsItsType) {
  cpython_id("cf.ppe_remote_traceback");
  deviation(
      "the exception keeps its type and message, but carries no remote traceback: a C++ "
      "exception has no stack to send");
  auto ex = TypeParam::Executor({.max_workers = 1});
  try {
    ex.submit(&fu::raise_runtime, 0).result(60s);
    ADD_FAILURE() << "nothing raised";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::runtime_error));
    EXPECT_STREQ(e.what(), "123");
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, SaturationStartsMaxWorkers) {
  cpython_id("cf.ppe_saturation");
  fu::TestKit<TypeParam> kit;
  const int workers = 3;
  auto ex = TypeParam::Executor({.max_workers = workers, .initializer = kit.initializer()});
  const int jobs = 15 * workers;
  for (int i = 0; i < jobs; ++i) ex.submit(&fu::acquire_sem<TypeParam>, i);
  EXPECT_EQ(ex.worker_pids().size(), static_cast<size_t>(workers));
  for (int i = 0; i < jobs; ++i) kit.sem.release();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, IdleWorkerIsReused) {
  cpython_id("cf.ppe_idle_reuse_one");
  if (is_fork<TypeParam>()) GTEST_SKIP() << "fork starts every worker up front";
  auto ex = TypeParam::Executor({.max_workers = 4});
  EXPECT_EQ(ex.submit(&fu::mul, 21, 2).result(60s), 42);
  EXPECT_EQ(ex.submit(&fu::mul, 6, 7).result(60s), 42);
  EXPECT_EQ(ex.submit(&fu::mul, 3, 14).result(60s), 42);
  EXPECT_EQ(ex.worker_pids().size(), 1u);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, IdleWorkersAreReused) {
  cpython_id("cf.ppe_idle_reuse_multiple");
  if (is_fork<TypeParam>()) GTEST_SKIP() << "fork starts every worker up front";
  auto ex = TypeParam::Executor({.max_workers = 4});
  EXPECT_EQ(ex.submit(&fu::mul, 12, 7).result(60s), 84);
  ex.submit(&fu::mul, 33, 25);
  EXPECT_EQ(ex.submit(&fu::mul, 25, 26).result(60s), 650);
  ex.submit(&fu::mul, 18, 29);
  EXPECT_EQ(ex.submit(&fu::mul, 1, 2).result(60s), 2);
  ex.submit(&fu::mul, 0, 9);
  EXPECT_LE(ex.worker_pids().size(), 3u);
  ex.shutdown();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, MaxTasksPerChild) {
  cpython_id("cf.ppe_max_tasks_per_child");
  if (is_fork<TypeParam>()) {
    EXPECT_THROW(TypeParam::Executor({.max_workers = 1, .max_tasks_per_child = 3}), mp::ValueError);
    return;
  }
  auto ex = TypeParam::Executor({.max_workers = 1, .max_tasks_per_child = 3});
  const long first = ex.submit(&fu::pid_of, 0).result(60s);
  EXPECT_EQ(ex.submit(&fu::pid_of, 0).result(60s), first) << "the worker is reused";
  EXPECT_EQ(ex.worker_pids().size(), 1u);
  EXPECT_EQ(ex.submit(&fu::pid_of, 0).result(60s), first);
  EXPECT_NE(ex.submit(&fu::pid_of, 0).result(60s), first) << "a fresh worker after 3 calls";
  EXPECT_EQ(ex.worker_pids().size(), 1u);
  ex.shutdown();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, MaxTasksPerChildDefaultsToSpawn) {
  cpython_id("cf.ppe_max_tasks_default_spawn");
  mp::futures::ProcessPoolExecutor ex({.max_workers = 1, .max_tasks_per_child = 3});
  EXPECT_EQ(ex.mp_context().get_start_method(), "spawn");
}

TYPED_TEST_P(ProcessPoolExecutorSuite, MaxTasksPerChildEarlyShutdown) {
  cpython_id("cf.ppe_max_tasks_early_shutdown");
  if (is_fork<TypeParam>()) GTEST_SKIP() << "max_tasks_per_child needs another start method";
  auto ex = TypeParam::Executor({.max_workers = 3, .max_tasks_per_child = 1});
  std::vector<Future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(ex.submit(&fu::mul, i, i));
  ex.shutdown();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fs[static_cast<size_t>(i)].result(0s), i * i);
}

// terminate_workers() / kill_workers(): the calls a worker held fail with
// BrokenProcessPool, and the message names the signal.
template <class Impl>
void force_shutdown_signals(bool kill) {
  fu::TestKit<Impl> kit;
  auto ex = Impl::Executor({.max_workers = 1, .initializer = kit.initializer()});
  auto f = ex.submit(&fu::report_wait_report<Impl>, 7);
  EXPECT_EQ(kit.q.get(60s), 7) << "the call started";
  if (kill) {
    ex.kill_workers();
  } else {
    ex.terminate_workers();
  }
  try {
    f.result(60s);
    ADD_FAILURE() << "the call was not stopped";
  } catch (const BrokenProcessPool& e) {
    const std::string signal = kill ? "signal 9" : "signal 15";
    EXPECT_NE(std::string(e.what()).find(signal), std::string::npos) << e.what();
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, TerminateWorkersSendsSigterm) {
  cpython_id("cf.ppe_terminate_workers_delegates");
  deviation(
      "checked by its effect (the worker ends by SIGTERM) rather than by mocking "
      "_force_shutdown, which mp does not have");
  force_shutdown_signals<TypeParam>(false);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, KillWorkersSendsSigkill) {
  cpython_id("cf.ppe_kill_workers_delegates");
  deviation(
      "checked by its effect (the worker ends by SIGKILL) rather than by mocking "
      "_force_shutdown, which mp does not have");
  force_shutdown_signals<TypeParam>(true);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ForceShutdownHasNoOperationByName) {
  cpython_id("cf.ppe_force_shutdown_invalid");
  deviation(
      "there is no operation name to get wrong: terminate_workers() and kill_workers() are two "
      "member functions, and nothing takes an operation by name");
  static_assert(!ForceShutdownByName<mp::futures::ProcessPoolExecutor>);
  auto ex = TypeParam::Executor({.max_workers = 1});
  ex.terminate_workers();
  ex.kill_workers();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ForceShutdownStopsABlockedCall) {
  cpython_id("cf.ppe_force_shutdown_kills_worker");
  for (bool kill : {false, true}) {
    fu::TestKit<TypeParam> kit;
    auto ex = TypeParam::Executor({.max_workers = 1, .initializer = kit.initializer()});
    auto f = ex.submit(&fu::report_wait_report<TypeParam>, 1);
    EXPECT_EQ(kit.q.get(60s), 1) << "started";
    const auto pids = ex.worker_pids();
    if (kill) {
      ex.kill_workers();
    } else {
      ex.terminate_workers();
    }
    ex.shutdown();
    for (pid_t pid : pids) EXPECT_TRUE(process_gone(pid));
    EXPECT_THROW(kit.q.get_nowait(), mp::Empty) << "it never reached its second report";
    EXPECT_THROW(f.result(0s), BrokenProcessPool);
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ForceShutdownOfABrokenPool) {
  cpython_id("cf.ppe_force_shutdown_broken_pool");
  for (bool kill : {false, true}) {
    auto ex = TypeParam::Executor({.max_workers = 1});
    EXPECT_THROW(ex.submit(&fu::exit_in_call, 1).result(60s), BrokenProcessPool);
    if (kill) {
      EXPECT_NO_THROW(ex.kill_workers());
    } else {
      EXPECT_NO_THROW(ex.terminate_workers());
    }
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ForceShutdownBeforeAnyWorker) {
  cpython_id("cf.ppe_force_shutdown_no_workers");
  for (bool kill : {false, true}) {
    auto ex = TypeParam::Executor({.max_workers = 1});
    if (kill) {
      ex.kill_workers();
    } else {
      ex.terminate_workers();
    }
    EXPECT_TRUE(ex.worker_pids().empty());
    EXPECT_TRUE(mp::active_children().empty()) << "no worker was started, nor signalled";
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ForceShutdownStopsThePool) {
  cpython_id("cf.ppe_force_shutdown_stops_pool");
  for (bool kill : {false, true}) {
    auto ex = TypeParam::Executor({.max_workers = 1});
    EXPECT_EQ(ex.submit(&fu::sleep_then, 0, 3).result(60s), 3);
    const auto pids = ex.worker_pids();
    ASSERT_EQ(pids.size(), 1u);
    if (kill) {
      ex.kill_workers();
    } else {
      ex.terminate_workers();
    }
    EXPECT_THROW(ex.submit(&fu::sleep_then, 0, 3), mp::RuntimeError);
    ex.shutdown();
    EXPECT_TRUE(process_gone(pids[0]));
  }
}

TYPED_TEST_P(ProcessPoolExecutorSuite, WorkersStartOnDemandAndAreJoined) {
  cpython_id("cf.ppe_worker_spawn_policy_and_join");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 5, .initializer = kit.initializer()});
  for (int i = 0; i < 3; ++i) ex.submit(&fu::acquire_sem<TypeParam>, i);
  EXPECT_EQ(ex.worker_pids().size(), is_fork<TypeParam>() ? 5u : 3u)
      << "fork starts them all; the others one per submit";
  const auto pids = ex.worker_pids();
  for (int i = 0; i < 3; ++i) kit.sem.release();
  ex.shutdown();
  for (pid_t pid : pids) EXPECT_TRUE(process_gone(pid));
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ScopeShutsDown) {
  cpython_id("cf.ppe_context_manager");
  std::vector<pid_t> pids;
  {
    auto ex = TypeParam::Executor({.max_workers = 5});
    std::vector<int> out;
    for (int y : ex.map(&fu::absolute, std::views::iota(-5, 5))) out.push_back(y);
    EXPECT_EQ(out, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
    pids = ex.worker_pids();
  }
  for (pid_t pid : pids) EXPECT_TRUE(process_gone(pid));
}

TYPED_TEST_P(ProcessPoolExecutorSuite, DestructorShutsDown) {
  cpython_id("cf.ppe_del_shutdown");
  std::optional<mp::futures::MapResults<int>> results;
  std::vector<pid_t> pids;
  {
    auto ex = TypeParam::Executor({.max_workers = 5});
    results.emplace(ex.map(&fu::absolute, std::views::iota(-5, 5)));
    pids = ex.worker_pids();
  }
  for (pid_t pid : pids) EXPECT_TRUE(process_gone(pid));
  std::vector<int> out;
  for (int y : *results) out.push_back(y);
  EXPECT_EQ(out, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4})) << "computed before it ended";
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ShutdownWithoutWaitingCleansUp) {
  cpython_id("cf.ppe_shutdown_nowait_cleans_up");
  auto ex = TypeParam::Executor({.max_workers = 5});
  auto results = ex.map(&fu::absolute, std::views::iota(-5, 5));
  ex.shutdown({.wait = false});
  std::vector<int> out;
  for (int y : results) out.push_back(y);
  EXPECT_EQ(out, (std::vector<int>{5, 4, 3, 2, 1, 0, 1, 2, 3, 4}));
  // The workers leave by themselves once the calls are done.
  Stopwatch clock;
  while (!ex.worker_pids().empty() && clock.elapsed() < 60s) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(ex.worker_pids().empty());
}

// gh-132969: max_tasks_per_child=1, a failing call, shutdown(wait=False).
template <class Impl>
int shutdown_nowait_with_max_tasks(int workers) {
  auto ex = Impl::Executor({.max_workers = workers, .max_tasks_per_child = 1});
  auto f1 = ex.submit(&fu::sleep_then, 100, 1);
  auto f2 = ex.submit(&fu::raise_mp_runtime, 2);
  auto f3 = ex.submit(&fu::sleep_then, 300, 3);
  int result = 0;
  try {
    result += f1.result(60s);
    result += f2.result(60s);
    result += f3.result(60s);
  } catch (const mp::RuntimeError&) {
  }
  ex.shutdown({.wait = false});
  return result;
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ShutdownWithoutWaitingWithMaxTasks2) {
  cpython_id("cf.ppe_shutdown_nowait_max_tasks_2");
  if (is_fork<TypeParam>()) GTEST_SKIP() << "max_tasks_per_child needs another start method";
  EXPECT_EQ(shutdown_nowait_with_max_tasks<TypeParam>(2), 1);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ShutdownWithoutWaitingWithMaxTasks4) {
  cpython_id("cf.ppe_shutdown_nowait_max_tasks_4");
  if (is_fork<TypeParam>()) GTEST_SKIP() << "max_tasks_per_child needs another start method";
  EXPECT_EQ(shutdown_nowait_with_max_tasks<TypeParam>(4), 1);
}

// test_deadlock.py: each case on a fresh executor of two workers; the
// future settles (or the executor breaks) instead of hanging.
template <class Impl, class Error, class F, class... A>
void expect_call_raises(F f, A... args) {
  auto ex = Impl::Executor({.max_workers = 2});
  auto fut = ex.submit(f, args...);
  EXPECT_THROW(fut.result(60s), Error);
  ex.shutdown();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ErrorEncodingTheCall) {
  cpython_id("cf.dl_error_at_task_pickle");
  expect_call_raises<TypeParam, mp::PicklingError>(&fu::swallow<fu::EncodeFails>,
                                                   fu::EncodeFails{});
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ExitDecodingTheCall) {
  cpython_id("cf.dl_exit_at_task_unpickle");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::swallow<fu::DecodeExits>,
                                                   fu::DecodeExits{});
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ErrorDecodingTheCall) {
  cpython_id("cf.dl_error_at_task_unpickle");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::swallow<fu::DecodeFails>,
                                                   fu::DecodeFails{});
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CrashDecodingTheCall) {
  cpython_id("cf.dl_crash_at_task_unpickle");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::swallow<fu::DecodeCrashes>,
                                                   fu::DecodeCrashes{});
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CrashInTheCall) {
  cpython_id("cf.dl_crash_in_task");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::crash_in_call, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ExitInTheCall) {
  cpython_id("cf.dl_sys_exit_in_task");
  deviation(
      "C++ has no SystemExit to catch: std::exit() in a call ends its worker, so the executor "
      "breaks (BrokenProcessPool) instead of re-raising SystemExit");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::exit_in_call, 1);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ErrorInTheCall) {
  cpython_id("cf.dl_error_in_task");
  expect_call_raises<TypeParam, mp::RuntimeError>(&fu::raise_mp_runtime, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CrashEncodingTheResult) {
  cpython_id("cf.dl_crash_result_pickle");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::make<fu::EncodeCrashes>, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ExitEncodingTheResult) {
  cpython_id("cf.dl_exit_result_pickle");
  deviation(
      "C++ has no SystemExit to catch: std::exit() while the result is encoded ends the worker, "
      "so the executor breaks (BrokenProcessPool) instead of re-raising SystemExit");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::make<fu::EncodeExits>, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ErrorEncodingTheResult) {
  cpython_id("cf.dl_error_result_pickle");
  expect_call_raises<TypeParam, mp::PicklingError>(&fu::make<fu::EncodeFails>, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ErrorDecodingTheResult) {
  cpython_id("cf.dl_error_result_unpickle");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::make<fu::DecodeFails>, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, NonStdThrowDecodingTheResult) {
  cpython_id("cf.dl_exit_result_unpickle");
  deviation(
      "C++ has no SystemExit: an exit while this process decodes a result would end it; the "
      "nearest case checked is a decoder throwing something that is not a std::exception, "
      "which breaks the executor as in CPython");
  expect_call_raises<TypeParam, BrokenProcessPool>(&fu::make<fu::DecodeThrowsNonStd>, 0);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CrashAfterShutdownDoesNotDeadlock) {
  cpython_id("cf.dl_crash_after_shutdown");
  auto ex = TypeParam::Executor({.max_workers = 2});
  auto f = ex.submit(&fu::crash_after, 100);
  Stopwatch clock;
  ex.shutdown();
  EXPECT_LT(clock.elapsed(), 60s);
  EXPECT_THROW(f.result(0s), BrokenProcessPool);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, EncodingErrorAfterShutdownDoesNotDeadlock) {
  cpython_id("cf.dl_pickle_error_after_shutdown_nowait");
  auto ex = TypeParam::Executor({.max_workers = 2});
  EXPECT_EQ(ex.submit(&fu::identity, 42).result(60s), 42);
  auto f = ex.submit(&fu::swallow<fu::EncodeFails>, fu::EncodeFails{});
  ex.shutdown({.wait = false});
  EXPECT_THROW(f.result(60s), mp::PicklingError);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, CrashWithBigArgumentsDoesNotDeadlock) {
  cpython_id("cf.dl_crash_while_writing_big_data");
  auto ex = TypeParam::Executor({.max_workers = 2});
  const std::string data((size_t{4} << 20) + 1, 'a');  // Python: support.PIPE_MAX_SIZE
  EXPECT_THROW(
      {
        for (int y : ex.map(&fu::crash_with_data, std::vector<std::string>(10, data))) (void)y;
      },
      BrokenProcessPool);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, SubmitNeverWaitsForTheWorkers) {
  cpython_id("cf.dl_wakeup_pipe_full");
  // CPython's case: a submit blocked on a full wakeup pipe while its manager
  // thread was slow. Here: workers busy, 100 calls submitted at once.
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2, .initializer = kit.initializer()});
  auto a = ex.submit(&fu::wait_gate<TypeParam>, 0);
  auto b = ex.submit(&fu::wait_gate<TypeParam>, 0);
  Stopwatch clock;
  auto results = ex.map(&fu::identity, std::views::iota(0, 100));
  EXPECT_LT(clock.elapsed(), 30s);
  kit.gate.set();
  int n = 0;
  for (int y : results) EXPECT_EQ(y, n++);
  EXPECT_EQ(n, 100);
}

// test_init.py's FailingInitializerResourcesTest: mp has no resource
// tracker to stop; what it checks, that nothing leaks, the harness checks
// after every test (no child, descriptor or segment left).
template <class Impl>
void failing_initializer_leaves_nothing() {
  auto ex = Impl::Executor({.max_workers = 2, .initializer = &fu::failing_init});
  try {
    EXPECT_THROW(ex.submit(&fu::identity, 1).result(60s), BrokenProcessPool);
  } catch (const BrokenProcessPool&) {
  }
  ex.shutdown();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, FailingInitializerLeaksNothingSpawn) {
  if (TypeParam::context().get_start_method() != "spawn") {
    GTEST_SKIP() << "CPython runs this row under spawn only";
  }
  cpython_id("cf.failing_initializer_no_leak_spawn");
  failing_initializer_leaves_nothing<TypeParam>();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, FailingInitializerLeaksNothingForkserver) {
  if (TypeParam::context().get_start_method() != "forkserver") {
    GTEST_SKIP() << "CPython runs this row under forkserver only";
  }
  cpython_id("cf.failing_initializer_no_leak_forkserver");
  failing_initializer_leaves_nothing<TypeParam>();
}

TYPED_TEST_P(ProcessPoolExecutorSuite, WindowsWorkerLimit) {
  cpython_id("cf.ppe_max_workers_windows");
  GTEST_SKIP() << "a Windows limit (61 workers); mp runs on Linux";
}

// mp's own: on_worker_death = Replace -----------------------------------------------------------

TYPED_TEST_P(ProcessPoolExecutorSuite, ReplaceFailsOnlyTheDeadWorkersCall) {
  mp_id("mp.futures.replace");
  fu::TestKit<TypeParam> kit;
  auto ex = TypeParam::Executor({.max_workers = 2,
                                 .initializer = kit.initializer(),
                                 .on_worker_death = mp::futures::Replace});
  auto survivor = ex.submit(&fu::wait_gate<TypeParam>, 5);
  EXPECT_THROW(ex.submit(&fu::exit_in_call, 3).result(60s), mp::WorkerLostError);
  EXPECT_THROW(ex.submit(&fu::crash_in_call, 0).result(60s), mp::WorkerLostError);
  EXPECT_EQ(ex.submit(&fu::power, 2, 8).result(60s), 256) << "a replacement took over";
  EXPECT_FALSE(survivor.done()) << "the other worker's call was not touched";
  kit.gate.set();
  EXPECT_EQ(survivor.result(60s), 5);
  std::vector<int> out;
  for (int y : ex.map(&fu::identity, std::views::iota(0, 50), {.chunksize = 7})) out.push_back(y);
  EXPECT_EQ(out.size(), 50u);
}

TYPED_TEST_P(ProcessPoolExecutorSuite, ReplaceStillBreaksOnAFailingInitializer) {
  mp_id("mp.futures.replace_initializer");
  auto ex = TypeParam::Executor({.max_workers = 2,
                                 .initializer = &fu::failing_init,
                                 .on_worker_death = mp::futures::Replace});
  try {
    EXPECT_THROW(ex.submit(&fu::identity, 1).result(60s), BrokenProcessPool);
  } catch (const BrokenProcessPool&) {
  }
  EXPECT_THROW(ex.submit(&fu::identity, 2), BrokenProcessPool) << "replacing would fail again";
}

REGISTER_TYPED_TEST_SUITE_P(
    ProcessPoolExecutorSuite, KilledWorkerBreaksThePool, MapChunksize, CallExceptionKeepsItsType,
    SaturationStartsMaxWorkers, IdleWorkerIsReused, IdleWorkersAreReused, MaxTasksPerChild,
    MaxTasksPerChildDefaultsToSpawn, MaxTasksPerChildEarlyShutdown, TerminateWorkersSendsSigterm,
    KillWorkersSendsSigkill, ForceShutdownHasNoOperationByName, ForceShutdownStopsABlockedCall,
    ForceShutdownOfABrokenPool, ForceShutdownBeforeAnyWorker, ForceShutdownStopsThePool,
    WorkersStartOnDemandAndAreJoined, ScopeShutsDown, DestructorShutsDown,
    ShutdownWithoutWaitingCleansUp, ShutdownWithoutWaitingWithMaxTasks2,
    ShutdownWithoutWaitingWithMaxTasks4, ErrorEncodingTheCall, ExitDecodingTheCall,
    ErrorDecodingTheCall, CrashDecodingTheCall, CrashInTheCall, ExitInTheCall, ErrorInTheCall,
    CrashEncodingTheResult, ExitEncodingTheResult, ErrorEncodingTheResult, ErrorDecodingTheResult,
    NonStdThrowDecodingTheResult, CrashAfterShutdownDoesNotDeadlock,
    EncodingErrorAfterShutdownDoesNotDeadlock, CrashWithBigArgumentsDoesNotDeadlock,
    SubmitNeverWaitsForTheWorkers, FailingInitializerLeaksNothingSpawn,
    FailingInitializerLeaksNothingForkserver, WindowsWorkerLimit,
    ReplaceFailsOnlyTheDeadWorkersCall, ReplaceStillBreaksOnAFailingInitializer);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_FUTURES_SUITE_H_
