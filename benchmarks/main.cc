// The benchmark binary: mp::init first (spawn children and the fork server
// are this same program), then the rows.
//
// main() schedules the rows itself, one Google Benchmark run per repetition
// of a row:
//   - the repetitions of all selected rows run in a random order, so that a
//     slow or fast moment of the machine lands on many rows a little rather
//     than on one row entirely;
//   - a row's first repetition finds its iteration count as Google Benchmark
//     does (--benchmark_min_time); its other repetitions reuse that count;
//   - after each run one progress line: `[k/N] <row> … elapsed, about M min
//     left` (rewritten in place on a terminal);
//   - --benchmark_out gets one JSON document (Google Benchmark's schema) with
//     every repetition as an iteration row; the renderer takes medians and
//     spreads from them.
//
// Flags, beside Google Benchmark's own (--benchmark_min_time, ...):
//   --benchmark_filter=REGEX        rows to run: POSIX extended, matched against
//                                   the row's name, a leading '-' negates
//   --benchmark_repetitions=N       repetitions of every row (default 1)
//   --benchmark_out=FILE            the JSON document
//   --mp_rows=FILE                  run the rows FILE names (one per line)
//   --mp_list                       print the selected rows' names and exit
//   --mp_run_id=ID                  recorded in the JSON's context (mp_run_id)
//   --mp_progress=DONE/TOTAL/START  count progress across invocations (run.sh):
//                                   runs made before this one, runs in the whole
//                                   run, and when it started (seconds since the
//                                   epoch)
//   --mp_seed=N                     the order of the repetitions (default: random)

#include <benchmark/benchmark.h>
#include <regex.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "floor.h"
#include "harness.h"
#include "mp/mp.h"

namespace {

using Run = benchmark::BenchmarkReporter::Run;
using Clock = std::chrono::system_clock;

struct Options {
  std::string filter;
  std::string rows_file;
  std::string out;
  std::string run_id;
  int repetitions = 1;
  bool list = false;
  std::optional<uint64_t> seed;
  int64_t done_before = 0;
  int64_t total = 0;  // 0: this invocation's runs
  std::optional<double> started;
};

bool take_flag(const std::string& arg, const std::string& name, std::string& value) {
  const std::string prefix = "--" + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  value = arg.substr(prefix.size());
  return true;
}

// Takes mp's flags and the ones main() handles itself out of argv; leaves
// the rest to Google Benchmark.
Options parse(int& argc, char** argv) {
  Options o;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], v;
    if (take_flag(arg, "benchmark_filter", o.filter) || take_flag(arg, "mp_rows", o.rows_file) ||
        take_flag(arg, "benchmark_out", o.out) || take_flag(arg, "mp_run_id", o.run_id)) {
      continue;
    }
    if (take_flag(arg, "benchmark_repetitions", v)) {
      o.repetitions = std::max(1, std::stoi(v));
    } else if (take_flag(arg, "benchmark_out_format", v)) {
      if (v != "json") {
        std::fprintf(stderr, "mp_benchmarks: --benchmark_out_format=%s: only json\n", v.c_str());
        std::exit(2);
      }
    } else if (take_flag(arg, "benchmark_enable_random_interleaving", v)) {
      // Always on: the repetitions run in a random order.
    } else if (take_flag(arg, "mp_seed", v)) {
      o.seed = std::stoull(v);
    } else if (take_flag(arg, "mp_progress", v)) {
      long long done = 0, total = 0;
      double start = 0;
      if (std::sscanf(v.c_str(), "%lld/%lld/%lf", &done, &total, &start) != 3) {
        std::fprintf(stderr, "mp_benchmarks: --mp_progress=DONE/TOTAL/START\n");
        std::exit(2);
      }
      o.done_before = done;
      o.total = total;
      o.started = start;
    } else if (arg == "--mp_list") {
      o.list = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return o;
}

// The rows to run: those `rows_file` names, or those `filter` matches, in
// registration order.
std::vector<mp::bench::Row> select_rows(const Options& o) {
  const auto& all = mp::bench::rows();
  std::vector<mp::bench::Row> chosen;
  if (!o.rows_file.empty()) {
    std::ifstream in(o.rows_file);
    if (!in) {
      std::fprintf(stderr, "mp_benchmarks: cannot read %s\n", o.rows_file.c_str());
      std::exit(2);
    }
    for (std::string name; std::getline(in, name);) {
      if (name.empty()) continue;
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.name == name; });
      if (it == all.end()) {
        std::fprintf(stderr, "mp_benchmarks: no row %s\n", name.c_str());
        std::exit(2);
      }
      chosen.push_back(*it);
    }
    return chosen;
  }
  std::string pattern = o.filter.empty() || o.filter == "all" ? "." : o.filter;
  bool negative = pattern[0] == '-';
  if (negative) pattern.erase(0, 1);
  regex_t re;
  if (regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    std::fprintf(stderr, "mp_benchmarks: bad --benchmark_filter %s\n", o.filter.c_str());
    std::exit(2);
  }
  for (const auto& row : all) {
    bool match = regexec(&re, row.name.c_str(), 0, nullptr, 0) == 0;
    if (match != negative) chosen.push_back(row);
  }
  regfree(&re);
  return chosen;
}

// An extended regular expression that matches `name` and nothing else
// (Google Benchmark appends "/iterations:N" to rows given an iteration count
// and "/real_time" to rows that measure real time).
std::string exactly(const std::string& name) {
  std::string out = "^";
  for (char c : name) {
    if (std::strchr(".[]()*+?{}|^$\\", c)) out += '\\';
    out += c;
  }
  return out + "(/iterations:[0-9]+)?(/real_time)?$";
}

// Keeps what Google Benchmark reports, for main() to look at.
class Collector : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context& context) override {
    if (!context_) context_.emplace(context);
    return true;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    latest_.insert(latest_.end(), runs.begin(), runs.end());
  }
  std::vector<Run> take() { return std::exchange(latest_, {}); }
  const std::optional<Context>& context() const { return context_; }

 private:
  std::optional<Context> context_;
  std::vector<Run> latest_;
};

std::string format_duration(double seconds) {
  char text[32];
  long s = std::lround(seconds);
  if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof(text), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lds", s);
  }
  return text;
}

// Time per item (or per iteration), in a readable unit.
std::string format_figure(const Run& run) {
  double ns;
  auto items = run.counters.find("items_per_second");
  if (items != run.counters.end() && items->second.value > 0) {
    ns = 1e9 / items->second.value;
  } else {
    ns = run.GetAdjustedRealTime() * benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
         benchmark::GetTimeUnitMultiplier(run.time_unit);
  }
  char text[32];
  if (ns >= 1e9) {
    std::snprintf(text, sizeof(text), "%.3g s", ns / 1e9);
  } else if (ns >= 1e6) {
    std::snprintf(text, sizeof(text), "%.3g ms", ns / 1e6);
  } else if (ns >= 1e3) {
    std::snprintf(text, sizeof(text), "%.3g us", ns / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.3g ns", ns);
  }
  return text;
}

// One line per run: rewritten in place on a terminal (cut to its width),
// else a line of its own. Under run.sh (--mp_progress) the line stays open
// for the next invocation to rewrite.
class Progress {
 public:
  Progress(const Options& o, int64_t runs)
      : tty_(::isatty(STDOUT_FILENO)),
        standalone_(o.total == 0),
        done_(o.done_before),
        total_(o.total > 0 ? o.total : o.done_before + runs),
        started_(o.started ? *o.started : now()) {}

  void report(const std::string& row, int repetition, int repetitions, const std::string& figure) {
    ++done_;
    double elapsed = now() - started_;
    double left = done_ > 0 ? elapsed / static_cast<double>(done_) * (total_ - done_) : 0;
    char remaining[64] = "less than a minute left";
    if (left >= 60)
      std::snprintf(remaining, sizeof(remaining), "about %.0f min left", std::ceil(left / 60));
    char line[512];
    std::snprintf(line, sizeof(line), "[%lld/%lld] %s (%d/%d) %s … %s elapsed, %s",
                  static_cast<long long>(done_), static_cast<long long>(total_), row.c_str(),
                  repetition, repetitions, figure.c_str(), format_duration(elapsed).c_str(),
                  remaining);
    if (tty_) {
      winsize size{};
      std::string shown = line;
      if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 &&
          shown.size() > size.ws_col - 1u) {
        // Cut at a character boundary (the line holds UTF-8: "…").
        size_t cut = size.ws_col - 1u;
        while (cut > 0 && (shown[cut] & 0xC0) == 0x80) --cut;
        shown.resize(cut);
      }
      std::printf("\r\033[K%s", shown.c_str());
    } else {
      std::printf("%s\n", line);
    }
    std::fflush(stdout);
  }

  void finish() {
    if (tty_ && standalone_) std::printf("\n");
    std::fflush(stdout);
  }

 private:
  static double now() {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  }
  bool tty_;
  bool standalone_;
  int64_t done_;
  int64_t total_;
  double started_;
};

// The figures of each row, median and range of its repetitions.
void print_summary(const std::vector<Run>& runs) {
  std::map<std::string, std::vector<const Run*>> by_row;
  std::vector<std::string> order;
  for (const Run& run : runs) {
    auto& v = by_row[run.benchmark_name()];
    if (v.empty()) order.push_back(run.benchmark_name());
    v.push_back(&run);
  }
  for (const auto& name : order) {
    auto& v = by_row[name];
    if (v.front()->error_occurred) {
      std::printf("%-70s error: %s\n", name.c_str(), v.front()->error_message.c_str());
      continue;
    }
    auto per_item = [](const Run* r) {
      auto it = r->counters.find("items_per_second");
      return it != r->counters.end() && it->second.value > 0 ? 1 / it->second.value
                                                             : r->GetAdjustedRealTime();
    };
    std::sort(v.begin(), v.end(), [&](auto* a, auto* b) { return per_item(a) < per_item(b); });
    std::printf("%-70s %12s  (%s – %s, %zu runs)\n", name.c_str(),
                format_figure(*v[v.size() / 2]).c_str(), format_figure(*v.front()).c_str(),
                format_figure(*v.back()).c_str(), v.size());
  }
}

bool write_json(const std::string& path, const benchmark::BenchmarkReporter::Context& context,
                const std::vector<Run>& runs) {
  std::ofstream out(path);
  if (!out) return false;
  benchmark::JSONReporter json;
  std::ostringstream errors;
  json.SetOutputStream(&out);
  json.SetErrorStream(&errors);
  json.ReportContext(context);
  json.ReportRuns(runs);
  json.Finalize();
  return static_cast<bool>(out);
}

// What each implementation of the rows is (harness.h's Implementation), as
// a JSON array for the renderer: [{"name":..., "kind":..., "processes":...}].
std::string implementations_json() {
  std::string out = "[";
  for (const mp::bench::Implementation& i : mp::bench::implementations()) {
    if (out.size() > 1) out += ",";
    out += "{\"name\":\"" + i.name + "\",\"kind\":\"" + i.kind +
           "\",\"processes\":" + (i.processes ? "true" : "false") + "}";
  }
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  // The floors' other lives (floor.h), before anything else; they leave
  // with _exit, as mp's children do (no static destructors, no atexit).
  if (argc > 1 && std::strcmp(argv[1], mp::bench::kExitFlag) == 0) ::_exit(0);
  if (argc > 1 && std::strcmp(argv[1], mp::bench::kForkServerFlag) == 0) {
    ::_exit(mp::bench::serve_forks(3));
  }
  mp::init(argc, argv);
  Options o = parse(argc, argv);
  std::vector<mp::bench::Row> rows = select_rows(o);
  if (o.list) {
    for (const auto& row : rows) std::printf("%s\n", row.name.c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifdef NDEBUG
  benchmark::AddCustomContext("mp_build", "optimized (-O2, NDEBUG)");
#else
  benchmark::AddCustomContext("mp_build", "-O2 with assertions");
#endif
  benchmark::AddCustomContext("mp_compiler", "g++ " __VERSION__);
  if (!o.run_id.empty()) benchmark::AddCustomContext("mp_run_id", o.run_id);
  benchmark::AddCustomContext("mp_implementations", implementations_json());

  // Every repetition of every row, in a random order.
  std::vector<std::pair<size_t, int>> plan;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int k = 0; k < o.repetitions; ++k) plan.emplace_back(r, k);
  }
  std::mt19937_64 shuffle(o.seed ? *o.seed : std::random_device{}());
  std::shuffle(plan.begin(), plan.end(), shuffle);
  // Each row's repetitions keep their own order (0, 1, ...): the first one
  // finds the iteration count.
  std::vector<int> next(rows.size(), 0);
  for (auto& [r, k] : plan) k = next[r]++;

  Collector collector;
  Progress progress(o, static_cast<int64_t>(plan.size()));
  std::vector<Run> runs;
  std::vector<int64_t> iterations(rows.size(), 0);
  for (const auto& [r, k] : plan) {
    const mp::bench::Row& row = rows[r];
    if (iterations[r] > 0) row.benchmark->Iterations(iterations[r]);
    benchmark::RunSpecifiedBenchmarks(&collector, exactly(row.name));
    for (Run& run : collector.take()) {
      // The row's own name, nothing appended.
      run.run_name.iterations.clear();
      run.run_name.time_type.clear();
      run.family_index = static_cast<int64_t>(r);
      run.per_family_instance_index = 0;
      run.repetition_index = k;
      run.repetitions = o.repetitions;
      if (k == 0 && !run.error_occurred) iterations[r] = run.iterations;
      progress.report(row.name, k + 1, o.repetitions,
                      run.error_occurred ? "error: " + run.error_message : format_figure(run));
      runs.push_back(std::move(run));
    }
  }
  progress.finish();
  if (!o.total && ::isatty(STDOUT_FILENO)) print_summary(runs);
  if (!o.out.empty()) {
    if (!collector.context()) {
      // Nothing ran: a context of our own, for a document that says so.
      benchmark::BenchmarkReporter::Context context;
      if (!write_json(o.out, context, runs)) return 1;
    } else if (!write_json(o.out, *collector.context(), runs)) {
      std::fprintf(stderr, "mp_benchmarks: cannot write %s\n", o.out.c_str());
      return 1;
    }
  }
  benchmark::Shutdown();
  bool failed =
      std::any_of(runs.begin(), runs.end(), [](const Run& r) { return r.error_occurred; });
  return failed ? 1 : 0;
}
