// The unit that registers an implementation with the binary that tests it.
// conformance/BUILD compiles this file once per implementation, naming the
// adapter with macros as testing/instantiate.cc does:
//
//   MP_ADAPTER_HEADER  the adapter's header, e.g. <implementations/threads.h>
//   MP_ADAPTER         the adapter type, e.g. Threads
//
// Registering checks the adapter against the contract (testing/contract.h)
// and adds the adapter's own test environment, if it names one.

#include MP_ADAPTER_HEADER

#include <string>

#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<MP_ADAPTER>::add();

// Each binary instantiates one suite, and some suites' headers bring others
// along: futures_suite.h holds the executors' rows for every implementation
// and CPython's process-pool-only rows (which implementations that are no
// process pool never instantiate); manager_suite.h includes
// sync_manager_suite.h.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FuturesSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessPoolExecutorSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SyncManagerSuite);

#if defined(__SANITIZE_THREAD__)
// fork() from a process with ThreadSanitizer's runtime threads deadlocks in
// the child; CPython skips its fork tests under TSan for the same reason.
const bool stood_down = [] {
  if (MP_ADAPTER::forks())
    stand_down(std::string(MP_ADAPTER::name()) + "'s children deadlock under TSan");
  return true;
}();
#endif

}  // namespace mp::conformance
