// The conformance test main: mp::init first (a spawned child or the fork
// server is this same binary), then GoogleTest.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "mp/internal/popen.h"
#include "mp/internal/runtime.h"
#include "mp/mp.h"
#include "testing/conformance.h"

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
