// benchmarks/harness.h — one scenario, many implementations.
//
// A scenario is written once, as a template or a function per implementation,
// and registered once per implementation under a comparable name:
//   <primitive>.<scenario>/impl:<impl>/<arg>:<value>...
// e.g. "process.start_join/impl:spawn/parent_mib:0". Implementations: fork,
// spawn, forkserver (mp's processes; `processes` where the start method plays
// no part), threads (mp::dummy), tbb (oneTBB, handing work to its own
// threads), floor (the same work done the cheapest way with bare system
// calls, futexes, atomics and shared memory: floor.h), and reference rows
// that are neither (socket-reference: what a socket round trip costs). CPython's
// rows come from benchmarks/cpython_bench.py under the same names
// (impl:cpython-<method>).
//
// Every row measures real time from a started state: the parties a row needs
// are started and have answered once before the timing loop begins, so no
// figure includes a start-up.

#ifndef MP_BENCHMARKS_HARNESS_H_
#define MP_BENCHMARKS_HARNESS_H_

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "implementations/benchmarked.h"
#include "mp/mp.h"

namespace mp::bench {

using Args = std::vector<std::pair<std::string, int64_t>>;

// "<scenario>/impl:<impl>/<arg>:<value>..."
std::string row_name(const std::string& scenario, const std::string& impl, const Args& args = {});

// Registers one row. Rows measure real time (children and threads do the
// work); `fn` reports its per-item counters itself.
benchmark::internal::Benchmark* add(const std::string& scenario, const std::string& impl,
                                    const Args& args, std::function<void(benchmark::State&)> fn);

// The same, for a row whose name is spelled out (arguments that are not
// numbers: listener.roundtrip/impl:fork/family:unix).
benchmark::internal::Benchmark* add_named(const std::string& name,
                                          std::function<void(benchmark::State&)> fn);

// Every registered row, in registration order (main.cc runs them).
struct Row {
  std::string name;
  benchmark::internal::Benchmark* benchmark;
};
const std::vector<Row>& rows();

// What each implementation in the rows is, in the order they were first
// registered: mp's implementations come from their adapters, the others
// (floors, TBB, references) from their names. main.cc writes it into the
// JSON's context (mp_implementations) for the renderer.
struct Implementation {
  std::string name;
  std::string kind;  // "mp", "tbb", "floor" or "reference"
  bool processes;    // its parties are processes
};
const std::vector<Implementation>& implementations();

// The implementations of conformance/implementations.bzl that are
// benchmarked, through the adapters the conformance suites use
// (conformance/implementations/): a scenario written over an adapter `I`
// (I::Lock, I::Queue<T>, I::Process(...), I::Pool(options), ...) is
// registered for each of them, and a new adapter in that list gets every
// scenario's rows.
//
// for_each_implementation: f.template operator()<I>(name) once per
// implementation, for rows where the start method plays no part
// (impl:processes, impl:threads).
template <class F>
void for_each_implementation(F&& f) {
  conformance::for_each_benchmarked(
      [&f]<class I>(const std::string& name, const std::vector<std::string>&) {
        f.template operator()<I>(name);
      });
}

// for_each_column: f.template operator()<I>(column) once per column of each
// implementation (mp's processes: one per start method); register its rows
// with add_column<I>, which selects the column before the row runs.
template <class F>
void for_each_column(F&& f) {
  conformance::for_each_benchmarked(
      [&f]<class I>(const std::string& name, const std::vector<std::string>& columns) {
        if (columns.empty()) f.template operator()<I>(name);
        for (const std::string& column : columns) f.template operator()<I>(column);
      });
}

// Selects a column of the adapter for what follows (a no-op for an
// implementation of one column).
template <class I>
void select(const std::string& column) {
  if constexpr (requires { I::choose(column); }) I::choose(column);
}

template <class I>
benchmark::internal::Benchmark* add_column(const std::string& scenario, const std::string& column,
                                           const Args& args,
                                           std::function<void(benchmark::State&)> fn) {
  return add(scenario, column, args, [column, fn = std::move(fn)](benchmark::State& state) {
    select<I>(column);
    fn(state);
  });
}

// A maker of the adapter's parties (not started), under its selected column.
template <class I>
auto party_maker() {
  return [](auto&&... args) { return I::Process(std::forward<decltype(args)>(args)...); };
}

// The timing loop for two started parties that each do one round per `go`
// token and answer with `done`: one untimed round first (both parties are
// running), then every iteration releases two tokens and takes two answers.
// Afterwards sets `stop`, lets both parties see it, and joins them.
template <class Semaphore, class Event, class Party>
void run_two_party_rounds(benchmark::State& state, Semaphore& go, Semaphore& done, Event& stop,
                          Party& a, Party& b) {
  auto round = [&] {
    go.release();
    go.release();
    done.acquire();
    done.acquire();
  };
  round();
  for (auto _ : state) round();
  stop.set();
  go.release();
  go.release();
  a.join();
  b.join();
}

// Reports `items_per_iteration` items per iteration (items/s in the JSON).
void per_item(benchmark::State& state, int64_t items_per_iteration);

// Makes this process's touched private memory `mib` MiB of its own (on top
// of what it already uses): the parent footprint of
// process.start_join/parent_mib:N. Kept until the next call; 0 gives it back.
void set_parent_footprint(int64_t mib);

// The reference row of request/response over a socket: a fork()ed partner on
// a socketpair, framed as mp::Connection frames messages (read/write, one
// write per message; connection_benchmark.cc). Per item, for each (request,
// reply) of `trips`, a `request`-byte message and a `reply`-byte answer.
void socket_roundtrip_reference(benchmark::State& state,
                                const std::vector<std::pair<int64_t, int64_t>>& trips);

}  // namespace mp::bench

#endif  // MP_BENCHMARKS_HARNESS_H_
