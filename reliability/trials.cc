#include "trials.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "testing/conformance.h"

namespace mp::reliability {

SuiteOptions& suite_options() {
  static SuiteOptions options;
  return options;
}

void parse_suite_options(int& argc, char** argv) {
  SuiteOptions& o = suite_options();
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg(argv[i]);
    auto value = [&](std::string_view flag) -> const char* {
      return arg.substr(0, flag.size()) == flag ? argv[i] + flag.size() : nullptr;
    };
    if (const char* v = value("--trials=")) {
      o.trials = std::atoi(v);
    } else if (const char* v = value("--first_trial=")) {
      o.first_trial = std::atoi(v);
    } else if (const char* v = value("--seed=")) {
      o.seed = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--json=")) {
      o.json = v;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
}

void Outcome::fail(const std::string& what) {
  if (problem.empty()) problem = what;
}

void Tally::add(const Outcome& o, const std::string& where) {
  ++trials;
  if (o.killed) ++killed;
  if (o.survived()) ++survived;
  if (o.hung) ++hung;
  lost += o.lost;
  duplicated += o.duplicated;
  corrupted += o.corrupted;
  if (!o.survived() && failures.size() < 5) failures.push_back(where + ": " + o.problem);
}

const std::vector<Scenario>& scenarios() {
  static const auto* all = [] {
    auto* v = new std::vector<Scenario>;
    for (auto part : {queue_scenarios(), sync_scenarios(), pool_scenarios(), manager_scenarios()}) {
      v->insert(v->end(), part.begin(), part.end());
    }
    return v;
  }();
  return *all;
}

Tally run_trials(const Scenario& scenario, const std::string& method, int first, int trials,
                 uint64_t seed) {
  Tally tally;
  tally.scenario = scenario.name;
  tally.implementation = method;
  mp::Context& ctx = mp::get_context(method);
  const auto started = std::chrono::steady_clock::now();
  const uint64_t name_hash = std::hash<std::string>()(scenario.name);
  const uint64_t method_hash = std::hash<std::string>()(method);
  for (int i = first; i < first + trials; ++i) {
    std::seed_seq seq{seed, name_hash, method_hash, static_cast<uint64_t>(i)};
    std::mt19937_64 random(seq);
    const std::string where = scenario.name + " on " + method + ", --seed=" + std::to_string(seed) +
                              " --first_trial=" + std::to_string(i);
    conformance::arm_watchdog(where, std::chrono::seconds(120));
    Outcome outcome;
    try {
      outcome = scenario.run(ctx, random);
    } catch (const std::exception& e) {
      outcome.fail(std::string("the trial threw: ") + e.what());
    }
    if (outcome.lost > outcome.allowed_lost) {
      outcome.fail(std::to_string(outcome.lost) + " items lost, " +
                   std::to_string(outcome.allowed_lost) + " allowed");
    }
    if (outcome.duplicated) outcome.fail(std::to_string(outcome.duplicated) + " duplicated");
    if (outcome.corrupted) outcome.fail(std::to_string(outcome.corrupted) + " corrupted");
    tally.add(outcome, where);
  }
  conformance::disarm_watchdog();
  tally.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return tally;
}

namespace {
std::mutex g_report_mu;
std::vector<Tally>& report() {
  static auto* r = new std::vector<Tally>;
  return *r;
}
}  // namespace

void record_tally(const Tally& tally) {
  std::lock_guard lock(g_report_mu);
  report().push_back(tally);
}

void write_report() {
  std::string path = suite_options().json;
  if (path.empty()) {
    const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
    if (dir == nullptr) return;
    path = std::string(dir) + "/reliability.json";
  }
  std::ostringstream out;
  out << "{\n  \"seed\": " << suite_options().seed << ",\n  \"rows\": [\n";
  std::lock_guard lock(g_report_mu);
  for (size_t i = 0; i < report().size(); ++i) {
    const Tally& t = report()[i];
    out << "    {\"scenario\": \"" << t.scenario << "\", \"implementation\": \"" << t.implementation
        << "\", \"trials\": " << t.trials << ", \"killed\": " << t.killed
        << ", \"survived\": " << t.survived << ", \"hung\": " << t.hung << ", \"lost\": " << t.lost
        << ", \"duplicated\": " << t.duplicated << ", \"corrupted\": " << t.corrupted
        << ", \"seconds\": " << t.seconds << "}" << (i + 1 < report().size() ? ",\n" : "\n");
  }
  out << "  ]\n}\n";
  std::ofstream(path) << out.str();
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

bool join_within(mp::Process& p, std::chrono::milliseconds bound) {
  p.join(bound);
  if (!p.exitcode()) {
    p.kill();
    p.join();
    return false;
  }
  return true;
}

void spin_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

bool kill_and_reap(mp::Process& victim, std::chrono::milliseconds bound, Outcome& out) {
  victim.kill();
  victim.join(bound);
  if (!victim.exitcode()) {
    out.hung = true;
    out.fail("the victim did not die of SIGKILL");
    return false;
  }
  out.killed = *victim.exitcode() == -SIGKILL;
  return out.killed;
}

void kill_when(mp::Process& victim, const std::function<bool()>& reached, std::mt19937_64& random,
               uint32_t jitter_us, Outcome& out) {
  if (!wait_until(reached, std::chrono::seconds(30))) {
    out.hung = true;
    out.fail("the victim made no progress for 30 s");
  }
  spin_for(std::chrono::microseconds(random() % jitter_us));
  kill_and_reap(victim, std::chrono::seconds(10), out);
}

void join_survivors(std::vector<mp::Process>& parties, size_t first, size_t last, size_t victim,
                    std::chrono::milliseconds bound, const char* who, Outcome& out) {
  for (size_t i = first; i < last; ++i) {
    if (i != victim && !join_within(parties[i], bound)) {
      out.hung = true;
      out.fail(std::string("a ") + who + " never finished");
    }
  }
}

}  // namespace mp::reliability
