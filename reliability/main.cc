// The reliability tests' main: the fault hook before mp::init() (spawned
// children and the fork server run this main too, and arm their own points
// from MP_FAULTS), then GoogleTest.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "faults.h"
#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/runtime.h"
#include "mp/mp.h"
#include "testing/conformance.h"
#include "trials.h"

int main(int argc, char** argv) {
  mp::reliability::install();
  // Named segments carry a tag of this binary's (see conformance/testing/main.cc).
  if (std::getenv("MP_SHM_TAG") == nullptr) {
    char random[9];
    std::snprintf(random, sizeof(random), "%08x", std::random_device()());
    ::setenv("MP_SHM_TAG", ("mpr" + std::string(random) + "p" + std::to_string(::getpid())).c_str(),
             1);
  }
  mp::init(argc, argv);
  mp::reliability::parse_suite_options(argc, argv);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Under a sanitizer each trial is several times slower; the CI pass is
  // about memory and races, the plain pass about the numbers of trials.
  if (mp::reliability::suite_options().trials == 40) mp::reliability::suite_options().trials = 8;
#endif
  ::testing::InitGoogleTest(&argc, argv);
  mp::conformance::arm_watchdog("startup", std::chrono::seconds(60));
  mp::conformance::disarm_watchdog();
  mp::internal::self_pidfd();
  mp::internal::ensure_forkserver();
  int status = RUN_ALL_TESTS();
  mp::reliability::write_report();
  return status;
}
