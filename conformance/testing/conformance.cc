#include "testing/conformance.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace mp::conformance {

namespace {

struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  std::string test;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool started = false;
};

Watchdog& watchdog() {
  static auto* w = new Watchdog;  // never destroyed: its thread outlives main
  return *w;
}

void watch() {
  Watchdog& w = watchdog();
  std::unique_lock lock(w.mu);
  for (;;) {
    if (w.deadline == std::chrono::steady_clock::time_point::max()) {
      w.cv.wait(lock);
      continue;
    }
    if (w.cv.wait_until(lock, w.deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= w.deadline) {
      std::fprintf(stderr,
                   "\nconformance: %s is still running after its time limit; "
                   "killing its children and aborting\n",
                   w.test.c_str());
      kill_descendants();
      std::_Exit(3);
    }
  }
}

}  // namespace

void arm_watchdog(const std::string& test_name, std::chrono::seconds limit) {
  Watchdog& w = watchdog();
  std::lock_guard lock(w.mu);
  if (!w.started) {
    w.started = true;
    std::thread(watch).detach();
  }
  w.test = test_name;
  w.deadline = std::chrono::steady_clock::now() + limit;
  w.cv.notify_all();
}

void disarm_watchdog() {
  Watchdog& w = watchdog();
  std::lock_guard lock(w.mu);
  w.deadline = std::chrono::steady_clock::time_point::max();
  w.cv.notify_all();
}

void ConformanceTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  arm_watchdog(std::string(info->test_suite_name()) + "." + info->name(),
               std::chrono::seconds(120));
  baseline_ = Snapshot::take();
}

void ConformanceTest::TearDown() {
  for (const std::string& leak : leaks_since(baseline_)) ADD_FAILURE() << leak;
  if (HasFailure()) kill_descendants();
  disarm_watchdog();
}

}  // namespace mp::conformance
