// The conformance suites against spawn.

#include "implementations/processes.h"
#include "suites/connection_suite.h"
#include "suites/context_suite.h"
#include "suites/futures_suite.h"
#include "suites/pool_suite.h"
#include "suites/process_suite.h"
#include "suites/queue_suite.h"
#include "suites/shared_memory_suite.h"
#include "suites/sharedctypes_suite.h"
#include "suites/synchronize_suite.h"

namespace mp::conformance {

using Implementation = Spawn;
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, ProcessSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, ContextSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, SynchronizeSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, QueueSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, PoolSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, FuturesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, ProcessPoolExecutorSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, ConnectionSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, SharedctypesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Spawn, SharedMemorySuite, Implementation, ImplementationName);

}  // namespace mp::conformance
