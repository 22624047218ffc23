// One suite instantiated for one implementation. conformance/BUILD compiles
// this file once per (implementation, suite) pair, naming both with macros:
// a change to one suite recompiles only its units, and the units of a binary
// compile in parallel.
//
//   MP_ADAPTER_HEADER  the adapter's header, e.g. <implementations/processes.h>
//   MP_ADAPTER         the adapter type, e.g. Fork
//   MP_PREFIX          the instantiation's prefix, e.g. Fork
//   MP_SUITE_HEADER    the suite's header, e.g. <suites/process_suite.h>
//   MP_SUITE           the suite, e.g. ProcessSuite

#include MP_ADAPTER_HEADER
#include MP_SUITE_HEADER

namespace mp::conformance {

INSTANTIATE_TYPED_TEST_SUITE_P(MP_PREFIX, MP_SUITE, MP_ADAPTER, ImplementationName);

}  // namespace mp::conformance
