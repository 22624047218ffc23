// reliability/trials.h — the fault-injection trials: parties of one
// primitive (processes of one start method) at work, one of them SIGKILLed
// at a random instant, and the primitive's promises checked afterwards.
//
// Seeded and reproducible in what they choose: trial i of a scenario draws
// its victim, the instant (as the victim's progress: "after its 37th item")
// and its sizes from (seed, scenario, method, i), and a failure names the
// seed and trial that reproduce its choices (`--seed=S --first_trial=i
// --trials=1`). The kernel's scheduling is not reproducible, which is why
// there are thousands of trials.

#ifndef MP_RELIABILITY_TRIALS_H_
#define MP_RELIABILITY_TRIALS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mp/mp.h"

namespace mp::reliability {

// What the command line chose (main.cc fills it).
struct SuiteOptions {
  int trials = 40;  // per scenario and start method
  int first_trial = 0;
  uint64_t seed = 16;
  std::string json;  // where to write the tallies ("" : $TEST_UNDECLARED_OUTPUTS_DIR)
};
SuiteOptions& suite_options();
// Takes --trials=, --first_trial=, --seed= and --json= out of argv.
void parse_suite_options(int& argc, char** argv);

// One trial's findings.
struct Outcome {
  bool killed = false;        // the victim died of the SIGKILL (not after finishing)
  bool hung = false;          // a call or a party overran its bound
  uint64_t lost = 0;          // items (tasks) missing
  uint64_t allowed_lost = 0;  // how many may be missing (the killed consumer's one)
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;  // damaged, unknown, or never-put items; two lock holders
  std::string problem;     // the first broken promise, for the failure message
  void fail(const std::string& what);
  bool survived() const { return problem.empty(); }
};

// Tallies of a scenario on one implementation.
struct Tally {
  std::string scenario;
  std::string implementation;
  int trials = 0;
  int killed = 0;
  int survived = 0;
  int hung = 0;
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;
  double seconds = 0;
  std::vector<std::string> failures;  // the first few, with their seeds
  void add(const Outcome& o, const std::string& where);
};

// The scenarios, by name: "queue/unbounded/small", "lock", "pool/imap", ...
using TrialFn = std::function<Outcome(mp::Context& ctx, std::mt19937_64& random)>;
struct Scenario {
  std::string name;
  TrialFn run;
};
const std::vector<Scenario>& scenarios();

// Runs `trials` trials of `scenario` under start method `method`.
Tally run_trials(const Scenario& scenario, const std::string& method, int first, int trials,
                 uint64_t seed);

// Appends tallies to the suite's JSON report.
void record_tally(const Tally& tally);
void write_report();

// Words in shared memory that every party of a trial sees (any start
// method): std::atomic_ref over a RawArray's zeros.
class Board {
 public:
  explicit Board(size_t words) : words_(words) {}
  explicit Board(mp::RawArray<uint64_t> words) : words_(std::move(words)) {}
  std::atomic_ref<uint64_t> operator[](size_t i) const { return std::atomic_ref(words_[i]); }
  uint64_t load(size_t i) const { return (*this)[i].load(std::memory_order_acquire); }
  void store(size_t i, uint64_t v) const { (*this)[i].store(v, std::memory_order_release); }
  void add(size_t i, uint64_t v) const { (*this)[i].fetch_add(v, std::memory_order_acq_rel); }
  const mp::RawArray<uint64_t>& words() const { return words_; }

 private:
  mp::RawArray<uint64_t> words_;
};

// Helpers of the scenarios' parents.
// Waits (yielding) until `ready`; false after `bound`.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds bound);
// Joins within `bound`; a party still running then is killed and joined,
// and the answer is false.
bool join_within(mp::Process& p, std::chrono::milliseconds bound);
// Busy for a moment, so that a kill lands a random few microseconds later.
void spin_for(std::chrono::microseconds d);
// Kills `victim`; true if it died of it (it had not finished already).
bool kill_and_reap(mp::Process& victim, std::chrono::milliseconds bound, Outcome& out);
// The instant of a trial: once `reached()` (a hang after 30 s), a random few
// microseconds (< `jitter_us`) later, `victim` is killed.
void kill_when(mp::Process& victim, const std::function<bool()>& reached, std::mt19937_64& random,
               uint32_t jitter_us, Outcome& out);
// Joins parties[first, last) but the victim, each within `bound`; one that
// does not finish is a hang ("a <who> never finished").
void join_survivors(std::vector<mp::Process>& parties, size_t first, size_t last, size_t victim,
                    std::chrono::milliseconds bound, const char* who, Outcome& out);

// Each file's scenarios.
std::vector<Scenario> queue_scenarios();
std::vector<Scenario> sync_scenarios();
std::vector<Scenario> pool_scenarios();
std::vector<Scenario> manager_scenarios();

}  // namespace mp::reliability

namespace mp {
template <>
struct Codec<reliability::Board> {
  static void encode(Writer& w, const reliability::Board& b) { mp::encode(w, b.words()); }
  static reliability::Board decode(Reader& r) {
    return reliability::Board(mp::decode<mp::RawArray<uint64_t>>(r));
  }
};
}  // namespace mp

#endif  // MP_RELIABILITY_TRIALS_H_
