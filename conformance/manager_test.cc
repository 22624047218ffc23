// The conformance suites against manager proxies (CPython's `manager` type),
// and the manager's own suite (each suite is instantiated in its own unit:
// conformance/BUILD and testing/instantiate.cc).

#include "implementations/manager.h"

#include "testing/conformance.h"

namespace mp::conformance {

const auto* const description = DescribeImplementation<ManagerImpl>::add();
const auto* const environment = ::testing::AddGlobalTestEnvironment(new ManagerEnvironment);

}  // namespace mp::conformance
