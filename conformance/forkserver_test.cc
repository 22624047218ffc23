// The conformance suites against forkserver (each suite is instantiated in its
// own unit: conformance/BUILD and testing/instantiate.cc).

#include "implementations/processes.h"
#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<Forkserver>::add();

}  // namespace mp::conformance
