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

// The futures unit registers CPython's process-pool-only rows for every
// implementation; those that are no process pool leave them uninstantiated.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessPoolExecutorSuite);

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
