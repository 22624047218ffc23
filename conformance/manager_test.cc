// The conformance suites against manager proxies (CPython's `manager` type),
// and the manager's own suite.

#include "implementations/manager.h"

#include "suites/manager_suite.h"
#include "suites/queue_suite.h"
#include "suites/synchronize_suite.h"

namespace mp::conformance {

using Implementation = ManagerImpl;
INSTANTIATE_TYPED_TEST_SUITE_P(Manager, SynchronizeSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Manager, QueueSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Manager, ManagerSuite, Implementation, ImplementationName);

const auto* const environment = ::testing::AddGlobalTestEnvironment(new ManagerEnvironment);

}  // namespace mp::conformance
