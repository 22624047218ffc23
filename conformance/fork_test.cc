// The conformance suites against fork (each suite is instantiated in its own
// unit: conformance/BUILD and testing/instantiate.cc).

#include "implementations/processes.h"
#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<Fork>::add();

#if defined(__SANITIZE_THREAD__)
// fork() from a process with ThreadSanitizer's runtime threads deadlocks in the
// child; CPython skips its fork tests under TSan for the same reason.
TEST(Fork, NotUnderThreadSanitizer) { GTEST_SKIP() << "fork children deadlock under TSan"; }
#endif

}  // namespace mp::conformance
