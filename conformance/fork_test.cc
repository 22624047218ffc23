// The conformance suites against fork.

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

#if defined(__SANITIZE_THREAD__)
// fork() from a process with ThreadSanitizer's runtime threads deadlocks in the
// child; CPython skips its fork tests under TSan for the same reason.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ContextSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SynchronizeSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QueueSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PoolSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FuturesSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProcessPoolExecutorSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConnectionSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SharedctypesSuite);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SharedMemorySuite);
TEST(Fork, NotUnderThreadSanitizer) { GTEST_SKIP() << "fork children deadlock under TSan"; }
#else
using Implementation = Fork;
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ProcessSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ContextSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, SynchronizeSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, QueueSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, PoolSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, FuturesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ProcessPoolExecutorSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ConnectionSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, SharedctypesSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, SharedMemorySuite, Implementation, ImplementationName);
#endif

}  // namespace mp::conformance
