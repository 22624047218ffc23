// The conformance suites against fork.

#include "implementations/processes.h"
#include "suites/context_suite.h"
#include "suites/process_suite.h"

namespace mp::conformance {

using Implementation = Fork;
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ProcessSuite, Implementation, ImplementationName);
INSTANTIATE_TYPED_TEST_SUITE_P(Fork, ContextSuite, Implementation, ImplementationName);

}  // namespace mp::conformance
