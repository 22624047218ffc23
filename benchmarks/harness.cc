#include "harness.h"

namespace mp::bench {

std::string row_name(const std::string& scenario, const std::string& impl, const Args& args) {
  std::string name = scenario + "/impl:" + impl;
  for (const auto& [key, value] : args) name += "/" + key + ":" + std::to_string(value);
  return name;
}

benchmark::internal::Benchmark* add(const std::string& scenario, const std::string& impl,
                                    const Args& args, std::function<void(benchmark::State&)> fn) {
  return benchmark::RegisterBenchmark(row_name(scenario, impl, args).c_str(),
                                      [fn](benchmark::State& state) { fn(state); })
      ->UseRealTime();
}

void per_item(benchmark::State& state, int64_t items_per_iteration) {
  // items_per_second in the JSON; the report derives ns per item from it.
  state.SetItemsProcessed(state.iterations() * items_per_iteration);
}

}  // namespace mp::bench
