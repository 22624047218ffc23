// The conformance suites against spawn (each suite is instantiated in its
// own unit: conformance/BUILD and testing/instantiate.cc).

#include "implementations/processes.h"
#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<Spawn>::add();

}  // namespace mp::conformance
