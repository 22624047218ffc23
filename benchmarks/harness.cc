#include "harness.h"

#include <sys/mman.h>

#include <cstring>
#include <system_error>

namespace mp::bench {

namespace {

std::vector<Row>& registry() {
  static std::vector<Row> all;
  return all;
}

std::vector<Implementation>& implementation_registry() {
  static std::vector<Implementation> all = [] {
    std::vector<Implementation> adapters;
    conformance::for_each_benchmarked(
        [&adapters]<class I>(const std::string& name, const std::vector<std::string>& columns) {
          adapters.push_back({name, "mp", I::kProcesses});
          for (const std::string& column : columns) {
            adapters.push_back({column, "mp", I::kProcesses});
          }
        });
    return adapters;
  }();
  return all;
}

// A row's implementation, if not an adapter's: floor, floor-threads, ...
// are floors; tbb, tbb-spin, ... TBB's; anything else a reference.
void note_implementation(const std::string& name) {
  auto& all = implementation_registry();
  for (const Implementation& known : all) {
    if (known.name == name) return;
  }
  auto starts = [&name](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  std::string kind = starts("floor") ? "floor" : starts("tbb") ? "tbb" : "reference";
  all.push_back({name, kind, kind != "tbb" && name != "floor-threads"});
}

}  // namespace

std::string row_name(const std::string& scenario, const std::string& impl, const Args& args) {
  std::string name = scenario + "/impl:" + impl;
  for (const auto& [key, value] : args) name += "/" + key + ":" + std::to_string(value);
  return name;
}

benchmark::internal::Benchmark* add_named(const std::string& name,
                                          std::function<void(benchmark::State&)> fn) {
  const size_t at = name.find("/impl:");
  if (at != std::string::npos) {
    const size_t from = at + 6;
    note_implementation(name.substr(from, name.find('/', from) - from));
  }
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& state) {
              fn(state);
            })->UseRealTime();
  registry().push_back({name, b});
  return b;
}

benchmark::internal::Benchmark* add(const std::string& scenario, const std::string& impl,
                                    const Args& args, std::function<void(benchmark::State&)> fn) {
  return add_named(row_name(scenario, impl, args), std::move(fn));
}

const std::vector<Row>& rows() { return registry(); }

const std::vector<Implementation>& implementations() { return implementation_registry(); }

void per_item(benchmark::State& state, int64_t items_per_iteration) {
  // items_per_second in the JSON; the report derives ns per item from it.
  state.SetItemsProcessed(state.iterations() * items_per_iteration);
}

void set_parent_footprint(int64_t mib) {
  static void* ballast = nullptr;
  static size_t ballast_bytes = 0;
  const size_t bytes = static_cast<size_t>(mib) << 20;
  if (bytes == ballast_bytes) {
    // Written again, page by page, before every repetition: the benchmark
    // VM's memory monitor (DAMON, "pageout" for regions idle a few seconds)
    // would otherwise work on the ballast while some repetitions run and not
    // others, and fork()'s cost with it.
    auto* page = static_cast<volatile char*>(ballast);
    for (size_t at = 0; at < bytes; at += 4096) page[at] = 0x5a;
    return;
  }
  if (ballast) ::munmap(ballast, ballast_bytes);
  ballast = nullptr;
  ballast_bytes = 0;
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap ballast");
  // Touched, page by page, with something other than zeros: memory a
  // program has really used, which a fork() must copy the page tables of.
  std::memset(p, 0x5a, bytes);
  ballast = p;
  ballast_bytes = bytes;
}

}  // namespace mp::bench
