// conformance/suites/pool_suite.h — Pool: map / imap / starmap / apply /
// async, callbacks, errors, worker lifetime; and what CPython lacks: worker
// death, task timeouts, lazy imap.

#ifndef MP_CONFORMANCE_SUITES_POOL_SUITE_H_
#define MP_CONFORMANCE_SUITES_POOL_SUITE_H_

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "mp/internal/launch/runtime.h"
#include "testing/conformance.h"

namespace mp::conformance {

using namespace std::chrono_literals;

namespace pool_tasks {

using namespace std::chrono_literals;

inline int sqr(int x) { return x * x; }
inline int mul(int a, int b) { return a * b; }
inline int to_int(std::string s) {
  size_t used = 0;
  int v = std::stoi(s, &used);  // std::invalid_argument for "a"
  return v;
}
inline int sqr_after(int x, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x * x;
}
inline std::pair<long, short> swap_widen(std::pair<short, long> p) { return {p.second, p.first}; }
inline std::optional<int> odd_or_none(int x) {
  return x % 2 ? std::optional<int>(x) : std::nullopt;
}
inline int raise_runtime(int) { throw std::runtime_error("foo"); }
inline int raise_key(int) { throw mp::KeyError("missing"); }
inline int raise_large_value_error(int) { throw mp::ValueError(std::string(1 << 20, 'v')); }
struct OwnError : std::exception {
  const char* what() const noexcept override { return "own"; }
};
inline int raise_own(int) { throw OwnError(); }
inline long thread_or_process_id(int) { return static_cast<long>(::syscall(SYS_gettid)); }
inline int die_by_signal(int) {
  ::raise(SIGKILL);
  return 0;
}
inline int die_by_exit(int) { std::_Exit(7); }
inline int die_at_31337(int x) {
  if (x == 31337) ::raise(SIGKILL);
  return x;
}
inline int raise_at_31337(int x) {
  if (x == 31337) throw mp::KeyError("31337");
  return x;
}
inline int triple(int x) { return 3 * x; }
inline long pair_sum(std::pair<long, long> p) { return p.first + p.second; }

// A result whose encoding fails (Python: an unpicklable result).
struct Refuses {
  int v = 0;
};
inline Refuses make_refuses(int x) { return {x}; }

// An input range that throws when it reaches position `at`.
struct SayWhenError : std::runtime_error {
  SayWhenError() : std::runtime_error("input failed") {}
};
struct SayWhen {
  int n;
  int at;
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int i = 0;
    int at = 0;
    int operator*() const {
      if (i == at) throw SayWhenError();
      return i;
    }
    iterator& operator++() {
      ++i;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++i;
      return old;
    }
    bool operator==(const iterator& o) const { return i == o.i; }
  };
  iterator begin() const { return {0, at}; }
  iterator end() const { return {n, at}; }
  size_t size() const { return static_cast<size_t>(n); }
};

// In a pool worker (a daemon process): Python refuses a process pool there,
// and a thread pool works.
inline int nested_pools(int) {
  try {
    mp::Pool inner(1);
    return -1;
  } catch (const mp::AssertionError&) {
  }
  mp::dummy::Pool threads(2);
  return threads.map(&sqr, std::vector<int>{1, 2, 3})[2];
}

template <class Queue>
void initializer_puts(Queue q, int v) {
  q.put(v);
}

}  // namespace pool_tasks
}  // namespace mp::conformance

template <>
struct mp::Codec<mp::conformance::pool_tasks::Refuses> {
  static void encode(Writer&, const conformance::pool_tasks::Refuses&) {
    throw PicklingError("Refuses cannot be encoded");
  }
  static conformance::pool_tasks::Refuses decode(Reader&) { return {}; }
};

namespace mp::conformance {

template <class Impl>
class PoolSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(PoolSuite);

namespace pool_tasks {

// Children for pool.pool_inside_child and pool.atexit_finalization.
template <class Impl>
void pool_in_child(bool close_it) {
  auto pool = Impl::Pool({.processes = 4});
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7};
  auto ys = pool.map(&sqr, xs);
  if (std::accumulate(ys.begin(), ys.end(), 0) != 140) std::exit(3);
  if (close_it) {
    pool.close();
    pool.join();
  }
}

}  // namespace pool_tasks

namespace pt = pool_tasks;

template <class T>
std::vector<T> iota_vec(int n) {
  std::vector<T> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

inline std::vector<int> squares(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i * i);
  return v;
}

TYPED_TEST_P(PoolSuite, Apply) {
  cpython_id("pool.apply");
  auto pool = TypeParam::Pool({.processes = 4});
  EXPECT_EQ(pool.apply(&pt::sqr, 5), 25);
  EXPECT_EQ(pool.apply(&pt::mul, 3, 3), 9);
}

TYPED_TEST_P(PoolSuite, MapKeepsOrder) {
  cpython_id("pool.map_order_chunksize");
  auto pool = TypeParam::Pool({.processes = 4});
  EXPECT_EQ(pool.map(&pt::sqr, iota_vec<int>(10)), squares(10));
  EXPECT_EQ(pool.map(&pt::sqr, iota_vec<int>(100), 20), squares(100));
  EXPECT_THROW(pool.map(&pt::sqr, iota_vec<int>(3), 0), mp::ValueError) << "chunksize < 1";
}

TYPED_TEST_P(PoolSuite, ItemsOfEveryShapeCrossIntact) {
  mp_id("mp.pool.item_encodings");
  // Fixed-size items (pairs of plain data) travel in place, the others by
  // their Codec; map, imap and starmap must agree on both.
  auto pool = TypeParam::Pool({.processes = 2});
  std::vector<std::pair<short, long>> in;
  std::vector<std::pair<long, short>> out;
  for (short i = 0; i < 300; ++i) {
    in.emplace_back(i, long{i} << 33);
    out.emplace_back(long{i} << 33, i);
  }
  EXPECT_EQ(pool.map(&pt::swap_widen, in, 7), out);
  std::vector<std::pair<long, short>> lazily;
  for (auto y : pool.imap(&pt::swap_widen, in, 7)) lazily.push_back(y);
  EXPECT_EQ(lazily, out);
  std::vector<std::optional<int>> maybe;
  for (int i = 0; i < 300; ++i) maybe.push_back(i % 2 ? std::optional<int>(i) : std::nullopt);
  EXPECT_EQ(pool.map(&pt::odd_or_none, iota_vec<int>(300), 7), maybe);
  std::vector<std::optional<int>> maybe_lazily;
  for (auto y : pool.imap(&pt::odd_or_none, iota_vec<int>(300), 7)) maybe_lazily.push_back(y);
  EXPECT_EQ(maybe_lazily, maybe);
  std::vector<std::tuple<int, int>> pairs;
  std::vector<int> products;
  for (int i = 0; i < 300; ++i) {
    pairs.emplace_back(i, i + 1);
    products.push_back(i * (i + 1));
  }
  EXPECT_EQ(pool.starmap(&pt::mul, pairs, 7), products);
}

TYPED_TEST_P(PoolSuite, LargeFixedSizeChunksCrossIntact) {
  mp_id("mp.pool.arena");
  // Chunks of fixed-size items of 16 KiB and more go through the pool's
  // arena instead of the rings; one larger than the arena falls back to the
  // rings chunk by chunk. Results, errors and lost workers must not differ.
  auto pool = TypeParam::Pool({.processes = 2});
  const auto xs = iota_vec<int>(200'000);
  std::vector<int> expected(xs.size());
  std::transform(xs.begin(), xs.end(), expected.begin(), [](int x) { return 3 * x; });
  auto triple_all = [&] { return pool.map(&pt::triple, xs); };
  EXPECT_EQ(triple_all(), expected) << "8 chunks of 25000, in the arena";
  // 48 MiB of arguments and results against a 32 MiB arena.
  std::vector<std::pair<long, long>> big(2'000'000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = {static_cast<long>(i), 3L * static_cast<long>(i)};
  auto sums = pool.map(&pt::pair_sum, big);
  ASSERT_EQ(sums.size(), big.size());
  for (size_t i = 0; i < big.size(); i += 997) EXPECT_EQ(sums[i], 4L * static_cast<long>(i));
  EXPECT_EQ(sums.back(), 4L * static_cast<long>(big.size() - 1));
  // An exception from a task, and one from the input while a chunk is being
  // written into the arena.
  EXPECT_THROW(pool.map(&pt::raise_at_31337, xs), mp::KeyError);
  EXPECT_THROW(pool.map(&pt::triple, pt::SayWhen{200'000, 120'000}), pt::SayWhenError);
  EXPECT_EQ(triple_all(), expected) << "the pool goes on";
  if constexpr (TypeParam::kProcesses) {
    EXPECT_THROW(pool.map(&pt::die_at_31337, xs), mp::WorkerLostError);
    for (int round = 0; round < 3; ++round) EXPECT_EQ(triple_all(), expected) << "round " << round;
  }
}

TYPED_TEST_P(PoolSuite, Starmap) {
  cpython_id("pool.starmap");
  auto pool = TypeParam::Pool({.processes = 4});
  std::vector<std::tuple<int, int>> pairs;
  std::vector<int> expected;
  for (int i = 0; i < 10; ++i) {
    pairs.emplace_back(i, 9 - i);
    expected.push_back(i * (9 - i));
  }
  EXPECT_EQ(pool.starmap(&pt::mul, pairs), expected);
  std::vector<std::tuple<int, int>> many;
  std::vector<int> many_expected;
  for (int i = 0; i < 100; ++i) {
    many.emplace_back(i, 99 - i);
    many_expected.push_back(i * (99 - i));
  }
  EXPECT_EQ(pool.starmap(&pt::mul, many, 20), many_expected);
}

TYPED_TEST_P(PoolSuite, StarmapAsync) {
  cpython_id("pool.starmap_async");
  auto pool = TypeParam::Pool({.processes = 4});
  std::vector<std::tuple<int, int>> pairs;
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i) {
    pairs.emplace_back(i, 99 - i);
    expected.push_back(i * (99 - i));
  }
  EXPECT_EQ(pool.starmap_async(&pt::mul, pairs).get(), expected);
}

TYPED_TEST_P(PoolSuite, MapAsync) {
  cpython_id("pool.map_async");
  auto pool = TypeParam::Pool({.processes = 4});
  auto r = pool.map_async(&pt::sqr, iota_vec<int>(10));
  EXPECT_EQ(r.get(30s), squares(10));
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
}

TYPED_TEST_P(PoolSuite, MapAsyncCallbacks) {
  cpython_id("pool.map_async_callbacks");
  auto pool = TypeParam::Pool({.processes = 2});
  std::vector<std::vector<int>> called;
  std::vector<std::exception_ptr> errors;
  pool.map_async(&pt::to_int, std::vector<std::string>{"1"},
                 {.callback = [&](const std::vector<int>& v) { called.push_back(v); },
                  .error_callback = [&](std::exception_ptr e) { errors.push_back(e); }})
      .wait();
  ASSERT_EQ(called.size(), 1u);
  EXPECT_EQ(called[0], std::vector<int>{1});
  EXPECT_TRUE(errors.empty());
  called.clear();
  auto failing =
      pool.map_async(&pt::to_int, std::vector<std::string>{"a"},
                     {.callback = [&](const std::vector<int>& v) { called.push_back(v); },
                      .error_callback = [&](std::exception_ptr e) { errors.push_back(e); }});
  failing.wait();
  EXPECT_TRUE(called.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THROW(std::rethrow_exception(errors[0]), std::invalid_argument);
  EXPECT_FALSE(failing.successful());
}

TYPED_TEST_P(PoolSuite, UnencodableArgumentRaisesInsteadOfHanging) {
  cpython_id("pool.map_unpicklable_no_hang");
  auto pool = TypeParam::Pool({.processes = 2});
  std::vector<pt::Refuses> items(10);
  EXPECT_THROW(pool.map(
                   +[](pt::Refuses r) { return r.v; }, items),
               mp::PicklingError);
  EXPECT_EQ(pool.apply(&pt::sqr, 3), 9) << "the pool goes on";
}

TYPED_TEST_P(PoolSuite, EmptyInputWithChunksizeDoesNotStall) {
  cpython_id("pool.map_async_empty_chunksize");
  auto pool = TypeParam::Pool({.processes = 2});
  EXPECT_TRUE(pool.map_async(&pt::sqr, std::vector<int>{}, {.chunksize = 1}).get(100ms).empty());
}

TYPED_TEST_P(PoolSuite, MapReraisesInputException) {
  cpython_id("pool.map_input_iterator_exception");
  auto pool = TypeParam::Pool({.processes = 2});
  EXPECT_THROW(pool.map(&pt::sqr, pt::SayWhen{10, 0}), pt::SayWhenError) << "at the first item";
  EXPECT_THROW(pool.map(&pt::sqr, pt::SayWhen{10, 3}), pt::SayWhenError) << "at item 3";
  EXPECT_EQ(pool.map(&pt::sqr, iota_vec<int>(5)), squares(5)) << "the pool goes on";
}

TYPED_TEST_P(PoolSuite, ApplyAsyncGet) {
  cpython_id("pool.apply_async_get");
  auto pool = TypeParam::Pool({.processes = 2});
  Stopwatch clock;
  auto r = pool.apply_async(&pt::sqr_after, 7, 100);
  EXPECT_EQ(r.get(), 49);
  EXPECT_GE(clock.elapsed(), 100ms);
}

TYPED_TEST_P(PoolSuite, AsyncGetTimeout) {
  cpython_id("pool.async_get_timeout");
  auto pool = TypeParam::Pool({.processes = 2});
  // A thread cannot be killed at the end, so thread pools get a shorter task.
  const int long_ms = TypeParam::kProcesses ? 30'000 : 1'000;
  auto r = pool.apply_async(&pt::sqr_after, 6, long_ms);
  Stopwatch clock;
  EXPECT_THROW(r.get(100ms), mp::TimeoutError);
  EXPECT_GE(clock.elapsed(), 100ms);
  EXPECT_FALSE(r.ready());
  EXPECT_THROW(r.successful(), mp::ValueError) << "successful() before ready()";
}

TYPED_TEST_P(PoolSuite, ImapKeepsOrderAndEnds) {
  cpython_id("pool.imap_order_stopiteration");
  auto pool = TypeParam::Pool({.processes = 4});
  auto it = pool.imap(&pt::sqr, iota_vec<int>(10));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(it.next(), i * i);
  EXPECT_EQ(it.next(), std::nullopt) << "StopIteration";
  EXPECT_EQ(it.next(), std::nullopt);
  std::vector<int> got;
  for (int y : pool.imap(&pt::sqr, iota_vec<int>(1000), 100)) got.push_back(y);
  EXPECT_EQ(got, squares(1000));
  EXPECT_THROW(pool.imap(&pt::sqr, iota_vec<int>(3), 0), mp::ValueError);
}

TYPED_TEST_P(PoolSuite, ImapReraisesInputExceptionInPlace) {
  cpython_id("pool.imap_input_iterator_exception");
  auto pool = TypeParam::Pool({.processes = 2});
  auto first = pool.imap(&pt::sqr, pt::SayWhen{10, 0});
  EXPECT_THROW(first.next(), pt::SayWhenError);
  auto third = pool.imap(&pt::sqr, pt::SayWhen{10, 3});
  EXPECT_EQ(third.next(), 0);
  EXPECT_EQ(third.next(), 1);
  EXPECT_EQ(third.next(), 4);
  EXPECT_THROW(third.next(), pt::SayWhenError);
  // With chunks of 2, only whole chunks before the failure come back.
  auto chunked = pool.imap(&pt::sqr, pt::SayWhen{20, 5}, 2);
  std::vector<int> got;
  try {
    for (int y : chunked) got.push_back(y);
    ADD_FAILURE() << "the input's exception was not raised";
  } catch (const pt::SayWhenError&) {
  }
  EXPECT_EQ(got, squares(4));
}

TYPED_TEST_P(PoolSuite, ImapUnorderedYieldsEachOnce) {
  cpython_id("pool.imap_unordered");
  auto pool = TypeParam::Pool({.processes = 4});
  for (int chunksize : {1, 100}) {
    std::vector<int> got;
    for (int y : pool.imap_unordered(&pt::sqr, iota_vec<int>(1000), chunksize)) got.push_back(y);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, squares(1000)) << "chunksize " << chunksize;
  }
}

TYPED_TEST_P(PoolSuite, ImapUnorderedReraisesInputException) {
  cpython_id("pool.imap_unordered_input_iterator_exception");
  auto pool = TypeParam::Pool({.processes = 2});
  auto first = pool.imap_unordered(&pt::sqr, pt::SayWhen{10, 0});
  EXPECT_THROW(first.next(), pt::SayWhenError);
  std::multiset<int> got;
  try {
    for (int y : pool.imap_unordered(&pt::sqr, pt::SayWhen{10, 5})) got.insert(y);
    ADD_FAILURE() << "the input's exception was not raised";
  } catch (const pt::SayWhenError&) {
  }
  EXPECT_EQ(got, (std::multiset<int>{0, 1, 4, 9, 16}));
}

TYPED_TEST_P(PoolSuite, InvalidSize) {
  cpython_id("pool.invalid_size");
  EXPECT_THROW(TypeParam::Pool({.processes = -1}), mp::ValueError);
  EXPECT_THROW(TypeParam::Pool({.processes = 0}), mp::ValueError);
  auto pool = TypeParam::Pool({.processes = 3});
  EXPECT_EQ(pool.processes(), 3);
  if constexpr (TypeParam::kProcesses) {
    EXPECT_EQ(pool.worker_pids().size(), 3u);
  }
}

TYPED_TEST_P(PoolSuite, TerminateStopsRunningTasks) {
  cpython_id("pool.terminate_running_tasks");
  auto pool = TypeParam::Pool({.processes = 3});
  EXPECT_EQ(pool.apply(&pt::sqr, 2), 4);  // the workers are up
  const int long_ms = TypeParam::kProcesses ? 60'000 : 300;
  std::vector<std::tuple<int, int>> sleeps(100, {1, long_ms});
  auto r = pool.starmap_async(&pt::sqr_after, sleeps, {.chunksize = 1});
  Stopwatch clock;
  pool.terminate();
  pool.join();
  EXPECT_LT(clock.elapsed(), 10s) << "terminate() and join() return promptly";
  EXPECT_THROW(r.get(5s), mp::RuntimeError) << "unfinished tasks fail (Python leaves them pending)";
}

TYPED_TEST_P(PoolSuite, EmptyIterable) {
  cpython_id("pool.empty_iterable");
  auto pool = TypeParam::Pool({.processes = 1});
  std::vector<int> none;
  EXPECT_TRUE(pool.map(&pt::sqr, none).empty());
  EXPECT_EQ(pool.imap(&pt::sqr, none).next(), std::nullopt);
  EXPECT_EQ(pool.imap_unordered(&pt::sqr, none).next(), std::nullopt);
  EXPECT_TRUE(pool.map_async(&pt::sqr, none).get().empty());
}

TYPED_TEST_P(PoolSuite, DestructorTerminates) {
  cpython_id("pool.context_manager_terminates");
  std::vector<pid_t> pids;
  {
    auto pool = TypeParam::Pool({.processes = 2});
    EXPECT_EQ(pool.map_async(&pt::sqr, iota_vec<int>(10)).get(), squares(10));
    pids = pool.worker_pids();
  }
  for (pid_t pid : pids) {
    EXPECT_EQ(::kill(pid, 0), -1) << "worker " << pid << " was terminated and reaped";
  }
}

TYPED_TEST_P(PoolSuite, ApplyReraises) {
  cpython_id("pool.apply_reraises,pool.remote_traceback");
  auto pool = TypeParam::Pool({.processes = 2});
  try {
    pool.apply(&pt::raise_runtime, 1);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(typeid(e), typeid(std::runtime_error));
    EXPECT_STREQ(e.what(), "foo");
  }
  try {
    pool.apply(&pt::raise_own, 1);
    ADD_FAILURE() << "no exception";
  } catch (const mp::RemoteError& e) {
    EXPECT_NE(e.type_name().find("OwnError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.message(), "own");
  }
  EXPECT_EQ(pool.apply(&pt::sqr, 4), 16) << "the pool goes on";
}

TYPED_TEST_P(PoolSuite, LargeFailingMapDoesNotDeadlockJoin) {
  cpython_id("pool.map_no_failfast_join");
  auto pool = TypeParam::Pool({.processes = 2});
  try {
    pool.map(&pt::raise_large_value_error, iota_vec<int>(2));
    ADD_FAILURE() << "no exception";
  } catch (const mp::ValueError& e) {
    EXPECT_EQ(std::string(e.what()).size(), size_t{1} << 20);
  }
  pool.close();
  pool.join();
}

TYPED_TEST_P(PoolSuite, TerminatedPoolRefusesWork) {
  cpython_id("pool.reenter_terminated_raises");
  auto pool = TypeParam::Pool({.processes = 1});
  EXPECT_THROW(pool.join(), mp::ValueError) << "join() while running";
  pool.terminate();
  EXPECT_THROW(pool.apply(&pt::sqr, 1), mp::ValueError);
  EXPECT_THROW(pool.map_async(&pt::sqr, iota_vec<int>(3)), mp::ValueError);
  pool.join();
  auto closed = TypeParam::Pool({.processes = 1});
  closed.close();
  EXPECT_THROW(closed.apply(&pt::sqr, 1), mp::ValueError);
  closed.join();
}

TYPED_TEST_P(PoolSuite, ErrorCallback) {
  cpython_id("pool.error_callback");
  auto pool = TypeParam::Pool({.processes = 2});
  std::exception_ptr seen;
  auto r = pool.apply_async({.error_callback = [&](std::exception_ptr e) { seen = e; }},
                            &pt::raise_key, 1);
  EXPECT_THROW(r.get(), mp::KeyError);
  ASSERT_TRUE(seen);
  EXPECT_THROW(std::rethrow_exception(seen), mp::KeyError);
}

TYPED_TEST_P(PoolSuite, UnencodableResultFailsOnlyItsTask) {
  cpython_id("pool.unpicklable_result");
  auto pool = TypeParam::Pool({.processes = 2});
  auto pids = pool.worker_pids();
  for (int i = 0; i < 20; ++i) {
    std::exception_ptr seen;
    auto r = pool.apply_async({.error_callback = [&](std::exception_ptr e) { seen = e; }},
                              &pt::make_refuses, i);
    EXPECT_THROW(r.get(), mp::PicklingError);
    EXPECT_TRUE(seen);
  }
  EXPECT_EQ(pool.worker_pids(), pids) << "the pool keeps its workers";
  EXPECT_EQ(pool.apply(&pt::sqr, 3), 9);
}

TYPED_TEST_P(PoolSuite, MaxTasksPerChildReplacesWorkers) {
  cpython_id("pool.maxtasksperchild_replaces_workers");
  auto pool = TypeParam::Pool({.processes = 3, .maxtasksperchild = 10});
  EXPECT_EQ(pool.map(&pt::sqr, iota_vec<int>(100), 1), squares(100));
  auto ids = pool.map(&pt::thread_or_process_id, iota_vec<int>(100), 1);
  std::set<long> distinct(ids.begin(), ids.end());
  EXPECT_GE(distinct.size(), 10u) << "100 tasks, 10 per worker";
  pool.close();
  pool.join();
}

TYPED_TEST_P(PoolSuite, MaxTasksPerChildEarlyClose) {
  cpython_id("pool.maxtasksperchild_early_close");
  auto pool = TypeParam::Pool({.processes = 3, .maxtasksperchild = 1});
  std::vector<mp::AsyncResult<int>> results;
  for (int i = 0; i < 6; ++i) results.push_back(pool.apply_async(&pt::sqr_after, i, 50));
  pool.close();
  pool.join();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(results[i].get(), i * i);
}

TYPED_TEST_P(PoolSuite, MaxTasksPerChildInvalid) {
  cpython_id("pool.maxtasksperchild_invalid");
  for (int v : {0, -1}) {
    EXPECT_THROW(TypeParam::Pool({.processes = 3, .maxtasksperchild = v}), mp::ValueError) << v;
  }
}

TYPED_TEST_P(PoolSuite, ExitWithLivePoolDoesNotHang) {
  cpython_id("pool.atexit_finalization");
  auto p = TypeParam::Process(&pt::pool_in_child<TypeParam>, false);
  p.start();
  p.join(60s);
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(PoolSuite, InitializerRunsInEveryWorker) {
  cpython_id("pool.initializer");
  if constexpr (kIsManager<TypeParam>) {
    EXPECT_THROW(TypeParam::Pool({.processes = 1, .initializer = {&pt::sqr, 1}}), mp::ValueError);
    GTEST_SKIP() << "a manager's Pool takes no initializer: its workers start in the server, "
                    "which would need the function and its arguments sent there";
  }
  typename TypeParam::template Queue<int> q;
  {
    auto pool = TypeParam::Pool(
        {.processes = 2, .initializer = {&pt::initializer_puts<decltype(q)>, q, 42}});
    EXPECT_EQ(pool.apply(&pt::sqr, 2), 4);
    EXPECT_EQ(q.get(30s), 42);
    EXPECT_EQ(q.get(30s), 42) << "once per worker";
    pool.close();
    pool.join();
  }
  EXPECT_TRUE(q.empty());
}

TYPED_TEST_P(PoolSuite, PoolInsideChild) {
  cpython_id("pool.pool_inside_child");
  auto p = TypeParam::Process(&pt::pool_in_child<TypeParam>, true);
  p.start();
  p.join(60s);
  EXPECT_EQ(p.exitcode(), 0);
}

TYPED_TEST_P(PoolSuite, DaemonWorkerCannotStartAProcessPool) {
  mp_id("mp.pool.nested");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "thread workers are not daemon processes: any pool may start there";
  } else {
    auto pool = TypeParam::Pool({.processes = 1});
    EXPECT_EQ(pool.apply(&pt::nested_pools, 0), 9)
        << "a process pool raises AssertionError in a worker; a thread pool runs";
  }
}

TYPED_TEST_P(PoolSuite, LargePool) {
  cpython_id("pool.large_pool_200");
  auto pool = TypeParam::Pool({.processes = 200});
  auto ys = pool.map(&pt::sqr, iota_vec<int>(1000));
  EXPECT_EQ(std::accumulate(ys.begin(), ys.end(), 0LL), 332833500LL);
  pool.close();
  pool.join();
}

namespace pool_tasks {
inline std::atomic<int> g_starts{0};
// CPython's test patches Process.start to fail the fourth time.
inline void fail_the_fourth_start() {
  if (g_starts.fetch_add(1) + 1 == 4) {
    throw std::system_error(EAGAIN, std::generic_category(), "Manually induced OSError");
  }
}
}  // namespace pool_tasks

TYPED_TEST_P(PoolSuite, WorkerThatFailsToStartLeavesNoneBehind) {
  cpython_id("pool.no_leak_on_start_failure");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread pool starts no process";
  } else if constexpr (kIsManager<TypeParam>) {
    GTEST_SKIP() << "the workers start in the manager's server, out of reach of this "
                    "process's start hook";
  } else {
    pt::g_starts = 0;
    auto previous = mp::internal::set_start_hook(&pt::fail_the_fourth_start);
    try {
      auto pool = TypeParam::Pool({.processes = 5});
      ADD_FAILURE() << "Pool(5) started although its fourth worker could not";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EAGAIN);
      EXPECT_NE(std::string(e.what()).find("Manually induced"), std::string::npos) << e.what();
    }
    mp::internal::set_start_hook(previous);
    EXPECT_EQ(pt::g_starts.load(), 4) << "three workers started, the fourth failed";
    EXPECT_TRUE(mp::active_children().empty()) << "the three started workers are gone";
  }
}

TYPED_TEST_P(PoolSuite, WorkerDeathFailsOnlyItsTask) {
  mp_id("mp.pool.worker_lost");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread that dies takes the whole process with it";
  } else {
    auto pool = TypeParam::Pool({.processes = 2});
    EXPECT_THROW(pool.apply(&pt::die_by_signal, 1), mp::WorkerLostError);
    EXPECT_THROW(pool.apply(&pt::die_by_exit, 1), mp::WorkerLostError);
    EXPECT_EQ(pool.apply(&pt::sqr, 5), 25) << "replacements run later tasks";
    EXPECT_THROW(pool.map(&pt::die_by_signal, iota_vec<int>(4), 1), mp::WorkerLostError);
    EXPECT_EQ(pool.map(&pt::sqr, iota_vec<int>(50)), squares(50));
    EXPECT_EQ(pool.apply(&pt::sqr, 6), 36);
  }
}

TYPED_TEST_P(PoolSuite, TaskTimeoutKillsTheTask) {
  mp_id("mp.pool.task_timeout");
  if constexpr (!TypeParam::kProcesses) {
    EXPECT_THROW(TypeParam::Pool({.processes = 1, .task_timeout = 100ms}), mp::ValueError)
        << "a thread cannot be killed";
  } else {
    auto pool = TypeParam::Pool({.processes = 1, .task_timeout = 200ms});
    Stopwatch clock;
    EXPECT_THROW(pool.apply(&pt::sqr_after, 3, 60'000), mp::TimeoutError);
    EXPECT_GE(clock.elapsed(), 200ms);
    EXPECT_LT(clock.elapsed(), 30s);
    EXPECT_EQ(pool.apply(&pt::sqr_after, 3, 0), 9) << "the pool goes on";
  }
}

TYPED_TEST_P(PoolSuite, ImapReadsItsInputLazily) {
  mp_id("mp.pool.lazy_imap");
  auto pool = TypeParam::Pool({.processes = 2});
  std::atomic<long> read{0};
  auto input = std::views::iota(0, 10'000'000) | std::views::transform([&read](int x) {
                 read.fetch_add(1);
                 return x;
               });
  auto it = pool.imap(&pt::sqr, input);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(it.next(), i * i);
  EXPECT_LE(read.load(), 10'000) << "only a bounded window of the input was read";
}

REGISTER_TYPED_TEST_SUITE_P(
    PoolSuite, ItemsOfEveryShapeCrossIntact, LargeFixedSizeChunksCrossIntact, Apply, MapKeepsOrder,
    Starmap, StarmapAsync, MapAsync, MapAsyncCallbacks, UnencodableArgumentRaisesInsteadOfHanging,
    EmptyInputWithChunksizeDoesNotStall, MapReraisesInputException, ApplyAsyncGet, AsyncGetTimeout,
    ImapKeepsOrderAndEnds, ImapReraisesInputExceptionInPlace, ImapUnorderedYieldsEachOnce,
    ImapUnorderedReraisesInputException, InvalidSize, TerminateStopsRunningTasks, EmptyIterable,
    DestructorTerminates, ApplyReraises, LargeFailingMapDoesNotDeadlockJoin,
    TerminatedPoolRefusesWork, ErrorCallback, UnencodableResultFailsOnlyItsTask,
    MaxTasksPerChildReplacesWorkers, MaxTasksPerChildEarlyClose, MaxTasksPerChildInvalid,
    ExitWithLivePoolDoesNotHang, InitializerRunsInEveryWorker, PoolInsideChild,
    DaemonWorkerCannotStartAProcessPool, LargePool, WorkerThatFailsToStartLeavesNoneBehind,
    WorkerDeathFailsOnlyItsTask, TaskTimeoutKillsTheTask, ImapReadsItsInputLazily);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_POOL_SUITE_H_
