// The conformance test main: mp::init first (a spawned child or the fork
// server is this same binary), then GoogleTest.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/runtime.h"
#include "mp/mp.h"
#include "testing/conformance.h"

#if defined(__SANITIZE_THREAD__)
// libstdc++'s exception_ptr counts references with atomics compiled without
// ThreadSanitizer: when a future's exception is read in one thread and its
// last reference is dropped in another (the one that ran the call), TSan
// sees the free but not the count that orders it after the read.
extern "C" const char* __tsan_default_suppressions() {
  return "race:std::__exception_ptr::exception_ptr::_M_release\n";
}
#endif

int main(int argc, char** argv) {
  // Before init(): spawned children re-run this main and must keep the tag
  // they inherited, not draw their own.
  // The pid alone is not unique: test binaries in Bazel's sandboxes each
  // have their own pid namespace but share /dev/shm. (The tag must not
  // contain the older "mptest<pid>" tags either: a binary built before this
  // change would take our names for its own.)
  if (std::getenv("MP_SHM_TAG") == nullptr) {
    char random[9];
    std::snprintf(random, sizeof(random), "%08x", std::random_device()());
    ::setenv("MP_SHM_TAG", ("mpx" + std::string(random) + "p" + std::to_string(::getpid())).c_str(),
             1);
  }
  mp::init(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  // Process-wide resources mp opens once, made now so that the per-test
  // hygiene baseline includes them: the watchdog thread, this process's pidfd,
  // the fork server (any test may start a forkserver child).
  mp::conformance::arm_watchdog("startup", std::chrono::seconds(60));
  mp::conformance::disarm_watchdog();
  mp::internal::self_pidfd();
  mp::internal::ensure_forkserver();
  return RUN_ALL_TESTS();
}
