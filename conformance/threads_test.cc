// The conformance suites against threads (each suite is instantiated in its
// own unit: conformance/BUILD and testing/instantiate.cc).

#include "implementations/threads.h"

#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<Threads>::add();

// CPython runs its process-pool-only rows on process pools only; the futures
// unit registers them all the same.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessPoolExecutorSuite);

}  // namespace mp::conformance
