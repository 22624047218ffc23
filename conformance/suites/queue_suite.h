// conformance/suites/queue_suite.h — Queue, JoinableQueue, SimpleQueue
// (CPython: _TestQueue, TestSimpleQueue, ...; rows `queue.*`, `jqueue.*`,
// `squeue.*`, and the queue rows of `start.*`).

#ifndef MP_CONFORMANCE_SUITES_QUEUE_SUITE_H_
#define MP_CONFORMANCE_SUITES_QUEUE_SUITE_H_

#include <signal.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "mp/mp.h"
#include "testing/conformance.h"

namespace mp::conformance::queue_children {

// An item whose encoding fails on demand (CPython's unpicklable object).
struct Unsendable {
  bool fail = true;
};

}  // namespace mp::conformance::queue_children

namespace mp {
template <>
struct Codec<conformance::queue_children::Unsendable> {
  static void encode(Writer& w, const conformance::queue_children::Unsendable& u) {
    if (u.fail) throw PicklingError("this item refuses to be encoded");
    w.write_pod(u.fail);
  }
  static conformance::queue_children::Unsendable decode(Reader& r) { return {r.read_pod<bool>()}; }
};
}  // namespace mp

namespace mp::conformance {

template <class Impl>
class QueueSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(QueueSuite);

namespace queue_children {

using namespace std::chrono_literals;

template <class Queue>
void get_six(Queue q, mp::Connection out) {
  int sum = 0;
  for (int i = 0; i < 6; ++i) sum += q.get();
  out.send(sum);
}

template <class Queue>
void put_items(Queue q, int first, int last) {
  for (int i = first; i <= last; ++i) q.put(i);
}

template <class Queue>
void jqueue_worker(Queue q) {
  for (;;) {
    std::optional<int> item = q.get();
    if (!item) return;
    q.task_done();
  }
}

template <class Queue>
void put_empties(Queue q) {
  q.put(q.empty());
  q.put(q.empty());
}

template <class Queue>
void put_value(Queue q, int value) {
  q.put(value);
}

template <class Impl>
void pass_queue_on(typename Impl::template Queue<int> q) {
  q.put(1);
  auto grandchild = Impl::Process(&put_value<typename Impl::template Queue<int>>, q, 2);
  grandchild.start();
  grandchild.join();
}

template <class Impl>
void create_queue_and_daemon_child(mp::Connection out) {
  typename Impl::template Queue<int> q;
  auto grandchild = Impl::Process(
      {.daemon = true},
      [](typename Impl::template Queue<int> queue, mp::Connection o) {
        try {
          queue.get(false);
          o.send(std::string("got something"));
        } catch (const mp::Empty&) {
          o.send(std::string("Empty"));
        }
      },
      q, out);
  grandchild.start();
  grandchild.join();
  out.send(grandchild.exitcode().value_or(-1000));
}

// An item of the many-to-many test: (producer, sequence number).
using Tagged = std::pair<int32_t, int32_t>;

template <class Queue>
void produce_tagged(Queue q, int32_t producer, int32_t count) {
  for (int32_t i = 0; i < count; ++i) q.put(Tagged{producer, i});
}

// Consumes until it gets a stop item (-1, -1); reports (count, checksum).
template <class Queue>
void consume_tagged(Queue q, mp::Connection out) {
  int64_t count = 0;
  int64_t checksum = 0;
  for (;;) {
    Tagged t = q.get();
    if (t.first < 0) break;
    ++count;
    checksum += int64_t{t.first} * 1'000'003 + t.second;
  }
  out.send(std::make_pair(count, checksum));
}

template <class Queue>
void consume_and_report_each(Queue q, mp::Connection out) {
  for (;;) out.send(q.get());
}

template <class Queue>
void put_and_count(Queue q, int n, std::string payload) {
  for (int i = 0; i < n; ++i) q.put(payload);
}

}  // namespace queue_children

namespace qc = queue_children;
using namespace std::chrono_literals;

TYPED_TEST_P(QueueSuite, PutFullAndTimeouts) {
  cpython_id("queue.put_full_and_timeouts");
  using Q = typename TypeParam::template Queue<int>;
  Q q(6);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  q.put(1);
  q.put(2, true);
  q.put(3, true, 10s);
  q.put(4, false);
  q.put(5, false, 10s);
  q.put_nowait(6);
  EXPECT_FALSE(q.empty()) << "exact at once, no feeder delay";
  EXPECT_TRUE(q.full());
  Stopwatch immediate;
  EXPECT_THROW(q.put(7, false), mp::Full);
  EXPECT_THROW(q.put_nowait(7), mp::Full);
  EXPECT_THROW(q.put(7, false, 10s), mp::Full) << "no waiting when not blocking";
  EXPECT_FALSE(q.try_put(7));
  EXPECT_LT(immediate.elapsed(), 5s);
  Stopwatch timed;
  EXPECT_THROW(q.put(7, true, 100ms), mp::Full);
  EXPECT_GE(timed.elapsed(), 100ms);
  Stopwatch timed2;
  EXPECT_THROW(q.put(7, 100ms), mp::Full);
  EXPECT_GE(timed2.elapsed(), 100ms);
  EXPECT_LT(timed2.elapsed(), 5s);
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&qc::get_six<Q>, q, writer);
  p.start();
  EXPECT_EQ(reader.template recv<int>(), 21);
  p.join();
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
}

TYPED_TEST_P(QueueSuite, GetEmptyAndTimeouts) {
  cpython_id("queue.get_empty_and_timeouts");
  using Q = typename TypeParam::template Queue<int>;
  Q q;
  auto p = TypeParam::Process(&qc::put_items<Q>, q, 2, 5);
  p.start();
  EXPECT_EQ(q.get(true), 2);
  EXPECT_EQ(q.get(), 3);
  EXPECT_EQ(q.get(1s), 4);
  p.join();
  EXPECT_EQ(q.get_nowait(), 5);
  Stopwatch immediate;
  EXPECT_THROW(q.get(false), mp::Empty);
  EXPECT_THROW(q.get_nowait(), mp::Empty);
  EXPECT_THROW(q.get(false, 10s), mp::Empty);
  EXPECT_FALSE(q.try_get().has_value());
  EXPECT_LT(immediate.elapsed(), 5s);
  Stopwatch timed;
  EXPECT_THROW(q.get(true, 100ms), mp::Empty);
  EXPECT_GE(timed.elapsed(), 100ms);
  Stopwatch timed2;
  EXPECT_THROW(q.get(100ms), mp::Empty);
  EXPECT_GE(timed2.elapsed(), 100ms);
  EXPECT_LT(timed2.elapsed(), 5s);
}

TYPED_TEST_P(QueueSuite, FifoAcrossProcesses) {
  cpython_id("queue.fifo_across_fork_with_feeder");
  using Q = typename TypeParam::template Queue<int>;
  Q q;
  for (int i = 0; i < 10; ++i) q.put(i);
  auto p = TypeParam::Process(&qc::put_items<Q>, q, 10, 19);
  p.start();
  p.join();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(q.get(), i);
  EXPECT_THROW(q.get(false), mp::Empty);
}

TYPED_TEST_P(QueueSuite, Qsize) {
  cpython_id("queue.qsize");
  typename TypeParam::template Queue<int> q;
  EXPECT_EQ(q.qsize(), 0u);
  q.put(1);
  EXPECT_EQ(q.qsize(), 1u);
  q.put(2);
  EXPECT_EQ(q.qsize(), 2u);
  q.get();
  EXPECT_EQ(q.qsize(), 1u);
  q.get();
  EXPECT_EQ(q.qsize(), 0u);
}

TYPED_TEST_P(QueueSuite, JoinableQueueTaskDoneAndJoin) {
  cpython_id("jqueue.task_done_join");
  using Q = typename TypeParam::template JoinableQueue<std::optional<int>>;
  Q q;
  std::vector<decltype(TypeParam::Process(&qc::jqueue_worker<Q>, q))> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(TypeParam::Process(&qc::jqueue_worker<Q>, q));
    workers.back().start();
  }
  for (int i = 0; i < 10; ++i) q.put(i);
  q.join();
  EXPECT_EQ(q.qsize(), 0u) << "join() returned after every item was taken and marked done";
  for (int i = 0; i < 4; ++i) q.put(std::nullopt);
  for (auto& w : workers) w.join();
  for (auto& w : workers) EXPECT_EQ(w.exitcode(), 0);
  q.task_done();
  q.task_done();
  q.task_done();
  q.task_done();
  EXPECT_THROW(q.task_done(), mp::ValueError) << "one more than was put";
}

TYPED_TEST_P(QueueSuite, GetTimeoutWaitsLongEnough) {
  cpython_id("queue.get_timeout_min_duration");
  typename TypeParam::template Queue<int> q;
  Stopwatch clock;
  EXPECT_THROW(q.get(true, 200ms), mp::Empty);
  EXPECT_GE(clock.elapsed(), 200ms);
}

TYPED_TEST_P(QueueSuite, FailedSendReportedAndQueueGoesOn) {
  cpython_id("queue.feeder_survives_serialization_error");
  // CPython's feeder thread reports a failed pickle through a hook and must
  // neither die nor keep the capacity slot. mp encodes in put() itself: the
  // failure is put()'s exception, nothing was reserved, the queue goes on.
  using Item = std::variant<bool, qc::Unsendable>;
  typename TypeParam::template Queue<Item> q(1);
  EXPECT_THROW(q.put(Item(qc::Unsendable{})), mp::PicklingError);
  q.put(Item(true), 30s);  // bounded: a put that wrongly went in must not hang here
  EXPECT_EQ(q.qsize(), 1u) << "the failed put took no slot";
  EXPECT_EQ(std::get<bool>(q.get(30s)), true);
  EXPECT_TRUE(q.empty());
}

TYPED_TEST_P(QueueSuite, FailedSendIsThePutsOwnError) {
  cpython_id("queue.feeder_error_hook");
  deviation(
      "no hook: the caller's put() throws mp::PicklingError. CPython pickles in a feeder thread "
      "after put() has returned, so it can only report the failure to an overridable "
      "_on_queue_feeder_error(); mp encodes in put() itself, where the exception reaches the "
      "code that made the bad item");
  using Item = std::variant<bool, qc::Unsendable>;
  typename TypeParam::template Queue<Item> q;
  try {
    q.put(Item(qc::Unsendable{}));
    ADD_FAILURE() << "put() of an item that cannot be encoded returned";
  } catch (const mp::PicklingError& e) {
    EXPECT_NE(std::string(e.what()), "") << "the error says what failed";
  }
  q.put(Item(true));
  EXPECT_EQ(std::get<bool>(q.get(30s)), true) << "the queue keeps working";
}

TYPED_TEST_P(QueueSuite, CloseUnusedIsANoOp) {
  cpython_id("queue.close_unused_noop_then_empty_raises");
  if constexpr (kIsManager<TypeParam>) {
    GTEST_SKIP() << "queue.Queue behind a manager has no close() or join_thread()";
  } else {
    auto check = [](auto q) {
      q.close();
      q.join_thread();
      EXPECT_TRUE(q.empty()) << "an unused queue";
      decltype(q) fresh;
      fresh.put(std::string("foo"));
      fresh.close();
      fresh.join_thread();
      EXPECT_THROW(fresh.empty(), std::system_error) << "a used queue, closed";
    };
    check(typename TypeParam::template Queue<std::string>());
    check(typename TypeParam::template JoinableQueue<std::string>());
    typename TypeParam::template Queue<int> open;
    EXPECT_THROW(open.join_thread(), mp::AssertionError) << "join_thread() before close()";
  }
}

TYPED_TEST_P(QueueSuite, ClosedQueueRefusesPutAndGet) {
  cpython_id("queue.closed_put_get_valueerror");
  if constexpr (kIsManager<TypeParam>) {
    GTEST_SKIP() << "queue.Queue behind a manager has no close()";
  } else {
    auto check = [](auto q) {
      q.close();
      EXPECT_THROW(q.put(std::string("foo")), mp::ValueError);
      EXPECT_THROW(q.get(), mp::ValueError);
    };
    check(typename TypeParam::template Queue<std::string>());
    check(typename TypeParam::template JoinableQueue<std::string>());
  }
}

TYPED_TEST_P(QueueSuite, SimpleQueueClosedEmptyRaises) {
  cpython_id("squeue.closed_empty_raises,squeue.close_idempotent");
  typename TypeParam::template SimpleQueue<int> q;
  q.close();
  EXPECT_THROW(q.empty(), std::system_error) << "even unused, unlike Queue";
  EXPECT_NO_THROW(q.close()) << "twice is fine";
}

TYPED_TEST_P(QueueSuite, SimpleQueueEmptyAcrossProcesses) {
  cpython_id("squeue.empty_across_processes");
  using Q = typename TypeParam::template SimpleQueue<bool>;
  Q q;
  EXPECT_TRUE(q.empty());
  auto p = TypeParam::Process(&qc::put_empties<Q>, q);
  p.start();
  p.join();
  EXPECT_FALSE(q.empty());
  EXPECT_TRUE(q.get());
  EXPECT_FALSE(q.get());
  EXPECT_TRUE(q.empty());
}

TYPED_TEST_P(QueueSuite, SimpleQueueCloseClosesBothEnds) {
  cpython_id("squeue.close_closes_both_ends");
  typename TypeParam::template SimpleQueue<int> q;
  q.put(1);
  q.close();
  EXPECT_THROW(q.put(2), std::system_error) << "the writing end";
  EXPECT_THROW(q.get(), std::system_error) << "the reading end";
}

TYPED_TEST_P(QueueSuite, ChildPassesTheQueueOn) {
  cpython_id("start.nested_pass_queue");
  using Q = typename TypeParam::template Queue<int>;
  Q q;
  auto p = TypeParam::Process(&qc::pass_queue_on<TypeParam>, q);
  p.start();
  p.join();
  std::set<int> got{q.get(10s), q.get(10s)};
  EXPECT_EQ(got, (std::set<int>{1, 2}));
}

TYPED_TEST_P(QueueSuite, ForkContextQueuesWorkEverywhere) {
  cpython_id("start.fork_semlock_to_spawn_rejected");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start methods";
  } else {
    deviation(
        "a Queue made in the fork context works in spawn and forkserver children instead of "
        "making start() raise RuntimeError: CPython must refuse it because a fork-context SemLock "
        "is a named semaphore already unlinked, which a fresh process cannot open; mp's queues and "
        "locks live in memfd segments whose descriptors travel with the child, so nothing is "
        "missing there");
    for (const char* made_under : {"fork", "spawn", "forkserver"}) {
      for (const char* used_under : {"spawn", "forkserver"}) {
        mp::Queue<int> q(mp::get_context(made_under));
        mp::Process p(mp::get_context(used_under), &qc::put_value<mp::Queue<int>>, q, 7);
        p.start();
        EXPECT_EQ(q.get(30s), 7) << "made under " << made_under << ", used under " << used_under;
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
      }
    }
  }
}

TYPED_TEST_P(QueueSuite, QueueFromAnyContextWorksUnderEveryMethod) {
  mp_id("mp.queue.any_context_anywhere");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start methods";
  } else {
    for (const char* made_under : {"fork", "spawn", "forkserver"}) {
      mp::Queue<int> q(mp::get_context(made_under));
      auto p = TypeParam::Process(&qc::put_value<mp::Queue<int>>, q, 7);
      p.start();
      EXPECT_EQ(q.get(30s), 7) << "made under " << made_under << ", used under "
                               << TypeParam::name();
      p.join();
    }
  }
}

TYPED_TEST_P(QueueSuite, ChildCreatesAQueueAndItsOwnChild) {
  cpython_id("process.child_creates_queue_and_child");
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&qc::create_queue_and_daemon_child<TypeParam>, writer);
  p.start();
  EXPECT_EQ(reader.template recv<std::string>(), "Empty");
  EXPECT_EQ(reader.template recv<int>(), 0);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

// mp's own --------------------------------------------------------------------

TYPED_TEST_P(QueueSuite, MillionItemsWithNoConsumerYet) {
  mp_id("mp.queue.million_unbounded");
  using Q = typename TypeParam::template Queue<std::string>;
  Q q;
  const std::string payload(100, 'x');
  // A manager's put() is a round trip to its server (tens of µs): the same
  // rule at a hundredth of the size.
  constexpr int64_t kItems = kIsManager<TypeParam> ? 10'000 : 1'000'000;
  Stopwatch clock;
  for (int64_t i = 0; i < kItems; ++i) q.put(payload);  // never blocks: nobody is reading yet
  EXPECT_EQ(q.qsize(), static_cast<size_t>(kItems));
  auto [reader, writer] = TypeParam::Pipe(false);
  auto consumer = TypeParam::Process(
      [](Q queue, mp::Connection out) {
        int64_t count = 0, bytes = 0;
        while (auto item = queue.try_get()) {
          ++count;
          bytes += static_cast<int64_t>(item->size());
        }
        out.send(std::make_pair(count, bytes));
      },
      q, writer);
  consumer.start();
  auto [count, bytes] = reader.template recv<std::pair<int64_t, int64_t>>();
  consumer.join();
  EXPECT_EQ(count, kItems) << "none lost";
  EXPECT_EQ(bytes, kItems * 100);
  EXPECT_TRUE(q.empty());
}

TYPED_TEST_P(QueueSuite, ManyProducersManyConsumers) {
  mp_id("mp.queue.many_to_many");
  using Q = typename TypeParam::template Queue<qc::Tagged>;
  constexpr int kProducers = 4, kConsumers = 4;
  constexpr int kEach = kIsManager<TypeParam> ? 2'500 : 250'000;  // manager: a round trip per item
  Q q(10'000);
  std::vector<mp::Connection> readers;
  std::vector<decltype(TypeParam::Process(&qc::consume_tagged<Q>, q,
                                          std::declval<mp::Connection>()))>
      consumers;
  for (int i = 0; i < kConsumers; ++i) {
    auto [reader, writer] = TypeParam::Pipe(false);
    readers.push_back(reader);
    consumers.push_back(TypeParam::Process(&qc::consume_tagged<Q>, q, writer));
    consumers.back().start();
  }
  std::vector<decltype(TypeParam::Process(&qc::produce_tagged<Q>, q, 0, 0))> producers;
  for (int i = 0; i < kProducers; ++i) {
    producers.push_back(TypeParam::Process(&qc::produce_tagged<Q>, q, i, kEach));
    producers.back().start();
  }
  for (auto& p : producers) p.join();
  for (int i = 0; i < kConsumers; ++i) q.put(qc::Tagged{-1, -1});
  int64_t count = 0, checksum = 0;
  for (auto& r : readers) {
    auto [c, s] = r.template recv<std::pair<int64_t, int64_t>>();
    count += c;
    checksum += s;
  }
  for (auto& c : consumers) c.join();
  int64_t expected = 0;
  for (int64_t p = 0; p < kProducers; ++p) {
    expected += p * 1'000'003 * kEach + int64_t{kEach} * (kEach - 1) / 2;
  }
  EXPECT_EQ(count, int64_t{kProducers} * kEach) << "every item delivered";
  EXPECT_EQ(checksum, expected) << "each exactly once";
  EXPECT_TRUE(q.empty());
}

TYPED_TEST_P(QueueSuite, KilledConsumerLosesAtMostOneItem) {
  mp_id("mp.queue.consumer_killed");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "needs a consumer that can be killed";
  } else {
    using Q = typename TypeParam::template Queue<int>;
    constexpr int kItems = 20'000;
    Q q;
    for (int i = 0; i < kItems; ++i) q.put(i);
    auto [reader, writer] = TypeParam::Pipe(false);
    auto doomed = TypeParam::Process(&qc::consume_and_report_each<Q>, q, writer);
    doomed.start();
    std::set<int> seen;
    while (seen.size() < 1000) seen.insert(reader.template recv<int>());
    doomed.kill();
    doomed.join();
    writer.close();
    while (reader.poll()) {
      try {
        seen.insert(reader.template recv<int>());
      } catch (const mp::EOFError&) {
        break;
      }
    }
    size_t taken_by_doomed = seen.size();
    int duplicates = 0;
    while (!q.empty()) {  // the next consumer is not wedged
      duplicates += !seen.insert(q.get(5s)).second;
    }
    EXPECT_EQ(duplicates, 0) << "nothing delivered twice";
    EXPECT_GE(seen.size(), size_t{kItems} - 1)
        << "at most the item in the dead consumer's hands is lost";
    EXPECT_GT(taken_by_doomed, 0u);
  }
}

TYPED_TEST_P(QueueSuite, QsizeIsExactAcrossProcesses) {
  mp_id("mp.queue.exact_qsize");
  using Q = typename TypeParam::template Queue<std::string>;
  Q q;
  std::vector<decltype(TypeParam::Process(&qc::put_and_count<Q>, q, 0, std::string()))> producers;
  for (int i = 0; i < 3; ++i) {
    producers.push_back(
        TypeParam::Process(&qc::put_and_count<Q>, q, 1000 + i, std::string(10 * i, 'z')));
    producers.back().start();
  }
  for (auto& p : producers) p.join();
  EXPECT_EQ(q.qsize(), 3003u);
  for (int i = 0; i < 1500; ++i) q.get();
  EXPECT_EQ(q.qsize(), 1503u);
  EXPECT_FALSE(q.empty());
  EXPECT_FALSE(q.full());
}

TYPED_TEST_P(QueueSuite, LargeItemsPassIntact) {
  mp_id("mp.queue.large_items");
  using Q = typename TypeParam::template Queue<std::vector<uint32_t>>;
  Q q(2);
  auto p = TypeParam::Process(
      [](Q queue) {
        for (uint32_t n = 0; n < 6; ++n) {
          std::vector<uint32_t> big(1 << 20);  // 4 MiB
          for (uint32_t i = 0; i < big.size(); ++i) big[i] = i * 2654435761u + n;
          queue.put(big);
        }
      },
      q);
  p.start();
  bool intact = true;
  for (uint32_t n = 0; n < 6; ++n) {
    auto big = q.get(30s);
    intact &= big.size() == (1u << 20);
    for (uint32_t i = 0; intact && i < big.size(); ++i) intact &= big[i] == i * 2654435761u + n;
  }
  p.join();
  EXPECT_TRUE(intact);
}

TYPED_TEST_P(QueueSuite, ItemsCannotCarryHandles) {
  mp_id("mp.queue.no_handles_in_items");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread queue's items stay in one process";
  } else {
    mp::Queue<mp::Lock> q;
    EXPECT_THROW(q.put(mp::Lock()), mp::PicklingError);
    EXPECT_TRUE(q.empty());
  }
}

REGISTER_TYPED_TEST_SUITE_P(
    QueueSuite, PutFullAndTimeouts, GetEmptyAndTimeouts, FifoAcrossProcesses, Qsize,
    JoinableQueueTaskDoneAndJoin, GetTimeoutWaitsLongEnough, FailedSendReportedAndQueueGoesOn,
    FailedSendIsThePutsOwnError, CloseUnusedIsANoOp, ClosedQueueRefusesPutAndGet,
    SimpleQueueClosedEmptyRaises, SimpleQueueEmptyAcrossProcesses, SimpleQueueCloseClosesBothEnds,
    ChildPassesTheQueueOn, ForkContextQueuesWorkEverywhere,
    QueueFromAnyContextWorksUnderEveryMethod, ChildCreatesAQueueAndItsOwnChild,
    MillionItemsWithNoConsumerYet, ManyProducersManyConsumers, KilledConsumerLosesAtMostOneItem,
    QsizeIsExactAcrossProcesses, LargeItemsPassIntact, ItemsCannotCarryHandles);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_QUEUE_SUITE_H_
