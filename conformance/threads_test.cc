// The conformance suites against threads (each suite is instantiated in its
// own unit: conformance/BUILD and testing/instantiate.cc).

#include "implementations/threads.h"

#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<Threads>::add();

}  // namespace mp::conformance
