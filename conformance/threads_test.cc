// The conformance suites against threads.

#include "implementations/threads.h"

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

// CPython runs its process-pool-only rows on process pools only.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessPoolExecutorSuite);

using Implementation = Threads;
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, ProcessSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, ContextSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, SynchronizeSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, QueueSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, PoolSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, FuturesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, ConnectionSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, SharedctypesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Threads, SharedMemorySuite, Implementation, ImplementationName);

}  // namespace mp::conformance
