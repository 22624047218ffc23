// conformance/testing/conformance.h — the base of every conformance test.
//
// Each test:
//   - names the CPython test(s) it mirrors, cpython_id("process.sentinel"),
//     or, having no CPython twin, its own id, mp_id("mp.process.misuse");
//   - makes its assertions in the parent only (children report back through
//     a Pipe);
//   - leaves nothing behind: ConformanceTest::TearDown fails the test if a
//     child process, descriptor, shared segment or thread outlived it.

#ifndef MP_CONFORMANCE_TESTING_CONFORMANCE_H_
#define MP_CONFORMANCE_TESTING_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "mp/mp.h"
#include "testing/hygiene.h"

namespace mp::conformance {

// Records the ids of cpython-conformance.tsv rows this test mirrors
// (comma-separated when several).
inline void cpython_id(const std::string& ids) {
  ::testing::Test::RecordProperty("cpython_id", ids);
}

// Records the id of a test of mp's own, with no CPython twin.
inline void mp_id(const std::string& id) { ::testing::Test::RecordProperty("mp_id", id); }

// Arms the per-test watchdog: a test still running after `limit` is reported
// by name and the binary aborts (rather than hang until Bazel's timeout).
void arm_watchdog(const std::string& test_name, std::chrono::seconds limit);
void disarm_watchdog();

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

 private:
  Snapshot baseline_;
};

// Names the typed instantiations after the implementation: "fork", "threads".
struct ImplementationName {
  template <class Impl>
  static std::string GetName(int) {
    return Impl::name();
  }
};

// Measures how long something took.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  std::chrono::duration<double> elapsed() const { return std::chrono::steady_clock::now() - start_; }

 private:
  std::chrono::steady_clock::time_point start_;
};

// A child's way to block until the test lets it go: the child calls wait()
// on its end, the test calls open(). Closing the test's end also releases it.
// One gate per child: a Connection must have a single reader.
struct Gate {
  Gate() { std::tie(child_end, test_end) = mp::Pipe(); }
  void open() { test_end.send_bytes("go"); }
  // In the child: returns once the test opened the gate or went away.
  static void wait(mp::Connection child_end) {
    try {
      child_end.recv_bytes();
    } catch (const mp::EOFError&) {
    }
  }
  mp::Connection child_end;
  mp::Connection test_end;
};

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_TESTING_CONFORMANCE_H_
