// White-box tests of futures.h: docs/API.md's "Executors and futures"
// lines as written (under the default start method), and the pieces below
// the executors: a future settled by hand, wait()'s modes and as_completed()
// on futures no executor owns. (The executors' behaviour is the conformance
// suites' business: conformance/suites/futures_suite.h.)

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mp/mp.h"

namespace {

using namespace std::chrono_literals;

int power(int x, int y) {
  int r = 1;
  for (int i = 0; i < y; ++i) r *= x;
  return r;
}
int square(int x) { return x * x; }
int seen_init = 0;
void init(int v) { seen_init = v; }

TEST(Futures, ApiPageCompilesAndBehaves) {
  mp::Context& ctx = mp::get_context("spawn");
  mp::futures::ProcessPoolExecutor ex({.max_workers = 4});
  mp::futures::ProcessPoolExecutor ex2({.max_workers = 2,
                                        .mp_context = &ctx,
                                        .initializer = {&init, 3},
                                        .max_tasks_per_child = 5,
                                        .on_worker_death = mp::futures::Replace});
  mp::futures::Future<int> f = ex.submit(&power, 2, 8);
  int r = f.result();
  EXPECT_EQ(r, 256);
  EXPECT_EQ(f.result(1s), 256);
  std::exception_ptr e = f.exception();
  EXPECT_EQ(e, nullptr);
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_FALSE(f.running());
  EXPECT_TRUE(f.done());
  int called = 0;
  f.add_done_callback([&called](const mp::futures::Future<int>& g) { called = g.result(); });
  EXPECT_EQ(called, 256);
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7};
  std::vector<int> ys;
  for (int y : ex.map(&square, xs)) ys.push_back(y);
  for (int y : ex.map(&square, xs, {.timeout = 5s, .chunksize = 6, .buffersize = 2}))
    ys.push_back(y);
  EXPECT_EQ(ys, (std::vector<int>{1, 4, 9, 16, 25, 36, 49, 1, 4, 9, 16, 25, 36, 49}));
  std::vector<mp::futures::Future<int>> fs;
  for (int x : xs) fs.push_back(ex2.submit(&square, x));
  int sum = 0;
  for (auto& g : mp::futures::as_completed(fs)) sum += g.result();
  for (auto& g : mp::futures::as_completed(fs, 1s)) sum -= g.result();
  EXPECT_EQ(sum, 0);
  auto [done, pending] =
      mp::futures::wait(fs, {.timeout = 1s, .return_when = mp::futures::FIRST_COMPLETED});
  EXPECT_EQ(done.size(), fs.size());
  EXPECT_TRUE(pending.empty());
  ex.shutdown();
  EXPECT_THROW(ex.submit(&power, 2, 8), mp::RuntimeError);
  ex2.shutdown({.wait = false, .cancel_futures = true});
  ex2.terminate_workers();
  ex2.kill_workers();
  mp::futures::ThreadPoolExecutor tex(4);
  EXPECT_EQ(tex.submit(&power, 3, 3).result(), 27);
  EXPECT_EQ(tex.submit([](int a) { return a + 1; }, 41).result(1s), 42) << "any callable";
}

TEST(Futures, SettledByHand) {
  mp::futures::Future<int> f;
  EXPECT_FALSE(f.done());
  EXPECT_THROW(f.result(10ms), mp::TimeoutError);
  std::vector<int> calls;
  f.add_done_callback([&](const mp::futures::Future<int>& g) { calls.push_back(g.result()); });
  f.add_done_callback([](const mp::futures::Future<int>&) { throw std::runtime_error("dropped"); });
  f.add_done_callback([&](const mp::futures::Future<int>&) { calls.push_back(-1); });
  EXPECT_TRUE(f.set_running_or_notify_cancel());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancel());
  f.set_result(7);
  EXPECT_EQ(calls, (std::vector<int>{7, -1})) << "in the order added; a throwing one is skipped";
  EXPECT_THROW(f.set_result(8), mp::futures::InvalidStateError);
  EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
               mp::futures::InvalidStateError);

  mp::futures::Future<void> v;
  EXPECT_TRUE(v.cancel());
  EXPECT_TRUE(v.cancel()) << "cancelling twice is fine";
  EXPECT_FALSE(v.set_running_or_notify_cancel()) << "an executor must not run it";
  EXPECT_THROW(v.result(), mp::futures::CancelledError);
  EXPECT_THROW(v.exception(), mp::futures::CancelledError);

  mp::futures::Future<int> failed;
  failed.set_exception(std::make_exception_ptr(std::out_of_range("oor")));
  EXPECT_THROW(failed.result(), std::out_of_range);
  EXPECT_NE(failed.exception(0s), nullptr);
}

TEST(Futures, WaitModesAndAsCompletedOnHandMadeFutures) {
  using mp::futures::Future;
  std::vector<Future<int>> fs(4);
  fs[0].set_result(0);
  // FIRST_COMPLETED: one is done already.
  auto first = mp::futures::wait(fs, {.return_when = mp::futures::FIRST_COMPLETED});
  EXPECT_EQ(first.done.size(), 1u);
  EXPECT_EQ(first.not_done.size(), 3u);
  // FIRST_EXCEPTION: none raised, so it waits for all (here: times out).
  auto none = mp::futures::wait(fs, {.timeout = 20ms, .return_when = mp::futures::FIRST_EXCEPTION});
  EXPECT_EQ(none.not_done.size(), 3u);
  // Another thread settles them: one raises, one is cancelled, one returns.
  std::thread settler([&] {
    std::this_thread::sleep_for(20ms);
    fs[1].set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    std::this_thread::sleep_for(20ms);
    fs[2].cancel();
    fs[3].set_result(3);
  });
  auto exc = mp::futures::wait(fs, {.timeout = 60s, .return_when = mp::futures::FIRST_EXCEPTION});
  EXPECT_TRUE(std::find(exc.done.begin(), exc.done.end(), fs[1]) != exc.done.end());
  std::set<int> order;
  size_t yielded = 0;
  for (auto& g : mp::futures::as_completed(fs, 60s)) {
    ++yielded;
    if (!g.cancelled() && !g.exception()) order.insert(g.result());
  }
  settler.join();
  EXPECT_EQ(yielded, 4u) << "a cancelled future counts as completed";
  EXPECT_EQ(order, (std::set<int>{0, 3}));
  auto all = mp::futures::wait(fs);
  EXPECT_EQ(all.done.size(), 4u);
}

}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);  // spawn and forkserver workers are this program again
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
