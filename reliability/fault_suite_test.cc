// The fault-injection suite: every scenario of trials.h under every start
// method, `--trials=N` trials each (CI: 40, so over 2,000 kills in all; a
// soak: --trials=2000). A scenario passes when every trial kept every
// promise: nothing hung, nothing was duplicated or damaged, and nothing was
// lost but what the kill may cost (the item a killed consumer held, the
// chunk a killed pool worker ran). The tallies go to reliability.json
// (--json=PATH, or the test's undeclared outputs).

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <tuple>

#include "testing/conformance.h"
#include "trials.h"

namespace mp::reliability {
namespace {

using Cell = std::tuple<size_t, std::string>;  // scenario index, start method

class FaultSuite : public conformance::ConformanceTest,
                   public ::testing::WithParamInterface<Cell> {};

TEST_P(FaultSuite, EveryTrialKeepsThePromises) {
  const Scenario& scenario = scenarios()[std::get<0>(GetParam())];
  const std::string& method = std::get<1>(GetParam());
  conformance::mp_id("reliability.faults." + scenario.name);
  const SuiteOptions& o = suite_options();
  Tally t = run_trials(scenario, method, o.first_trial, o.trials, o.seed);
  record_tally(t);
  for (const char* key : {"trials", "killed", "survived", "hung"}) {
    int v = std::string(key) == "trials"   ? t.trials
            : std::string(key) == "killed" ? t.killed
            : std::string(key) == "hung"   ? t.hung
                                           : t.survived;
    RecordProperty(key, v);
  }
  RecordProperty("lost", std::to_string(t.lost));
  RecordProperty("duplicated", std::to_string(t.duplicated));
  RecordProperty("corrupted", std::to_string(t.corrupted));
  std::printf(
      "%-28s %-10s trials %4d killed %4d survived %4d hung %d lost %llu dup %llu "
      "corrupt %llu  %.1f s\n",
      t.scenario.c_str(), method.c_str(), t.trials, t.killed, t.survived, t.hung,
      static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.duplicated),
      static_cast<unsigned long long>(t.corrupted), t.seconds);
  for (const std::string& f : t.failures) ADD_FAILURE() << f;
  EXPECT_EQ(t.survived, t.trials);
  EXPECT_EQ(t.hung, 0);
  EXPECT_EQ(t.duplicated, 0u);
  EXPECT_EQ(t.corrupted, 0u);
}

std::vector<Cell> cells() {
  std::vector<Cell> out;
  for (size_t i = 0; i < scenarios().size(); ++i) {
    for (const char* method : {"fork", "spawn", "forkserver"}) {
#if defined(__SANITIZE_THREAD__)
      // ThreadSanitizer cannot follow a fork of a threaded process.
      if (std::string(method) == "fork") continue;
#endif
      out.emplace_back(i, method);
    }
  }
  return out;
}

std::string cell_name(const ::testing::TestParamInfo<Cell>& info) {
  std::string name = scenarios()[std::get<0>(info.param)].name + "_" + std::get<1>(info.param);
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, FaultSuite, ::testing::ValuesIn(cells()), cell_name);

}  // namespace
}  // namespace mp::reliability
