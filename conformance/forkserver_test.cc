// The conformance suites against forkserver.

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

using Implementation = Forkserver;
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, ProcessSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, ContextSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, SynchronizeSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, QueueSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, PoolSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, FuturesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, ProcessPoolExecutorSuite, Implementation,
                               ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, ConnectionSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, SharedctypesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Forkserver, SharedMemorySuite, Implementation, ImplementationName);

}  // namespace mp::conformance
