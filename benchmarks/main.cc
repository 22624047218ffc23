// The benchmark binary: mp::init first (spawn children and the fork server
// are this same program), then Google Benchmark.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "mp/mp.h"

namespace {

// Rows measure real time, and Google Benchmark appends "/real_time" to their
// names; mp's rows are named <primitive>.<scenario>/impl:<impl>/<arg>:<value>
// and nothing else, so the suffix is dropped before anything is reported.
template <class Base>
class PlainNames : public Base {
 public:
  using Base::Base;
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    std::vector<benchmark::BenchmarkReporter::Run> renamed = runs;
    for (auto& run : renamed) run.run_name.time_type.clear();
    Base::ReportRuns(renamed);
  }
};

}  // namespace

// Google Benchmark matches --benchmark_filter against the name before the
// "/real_time" suffix is dropped: let "impl:fork$" mean what it says.
std::string allow_real_time_suffix(const std::string& filter) {
  std::string out;
  for (size_t i = 0; i < filter.size(); ++i) {
    if (filter[i] == '\\' && i + 1 < filter.size()) {
      out += filter.substr(i, 2);
      ++i;
    } else if (filter[i] == '$') {
      out += "(/real_time)?$";
    } else {
      out += filter[i];
    }
  }
  return out;
}

int main(int argc, char** argv) {
  mp::init(argc, argv);
  std::vector<std::string> rewritten;  // owns the strings argv points to below
  rewritten.reserve(argc);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const std::string flag = "--benchmark_filter=";
    if (arg.rfind(flag, 0) == 0) {
      rewritten.push_back(flag + allow_real_time_suffix(arg.substr(flag.size())));
      argv[i] = rewritten.back().data();
    }
  }
  bool file_output = false;  // a file reporter is only allowed with --benchmark_out
  for (int i = 1; i < argc; ++i) file_output |= std::strncmp(argv[i], "--benchmark_out=", 16) == 0;
  // The `floor-spawn` rows time posix_spawn of this program doing nothing.
  if (argc > 1 && std::strcmp(argv[1], "--mp-bench-exit") == 0) return 0;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifdef NDEBUG
  benchmark::AddCustomContext("mp_build", "optimized (-O2, NDEBUG)");
#else
  benchmark::AddCustomContext("mp_build", "-O2 with assertions");
#endif
  benchmark::AddCustomContext("mp_compiler", "g++ " __VERSION__);
  PlainNames<benchmark::ConsoleReporter> display(::isatty(STDOUT_FILENO)
                                                     ? benchmark::ConsoleReporter::OO_Defaults
                                                     : benchmark::ConsoleReporter::OO_Tabular);
  PlainNames<benchmark::JSONReporter> file;
  benchmark::RunSpecifiedBenchmarks(&display, file_output ? &file : nullptr);
  benchmark::Shutdown();
  return 0;
}
