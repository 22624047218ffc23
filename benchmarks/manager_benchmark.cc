// Managers: calls through proxies to objects in a manager's server process.
//
//   manager.dict_get             DictProxy<int64_t, int64_t>::get of a present key; per call
//   manager.dict_set             DictProxy<int64_t, int64_t>::set of one key; per call
//   manager.list_append          ListProxy<int64_t>::append; per call
//   manager.lock_acquire_release LockProxy acquire + release (two round trips); per pair
//   manager.dict_get/clients:2   two client processes each call get kClientOps
//                                times per iteration on one dict. Per op "as
//                                seen overall": the iteration's wall time
//                                divided by the calls both clients made in it
//                                (the inverse of the combined call rate), so
//                                on a machine with cores to spare it can be
//                                below the one-client figure.
//
// Implementations: fork, spawn, forkserver (the server process started under
// that context: mp::Manager m(mp::get_context(method)); the two clients of
// clients:2 are started under it too), and
//   floor             the same round trips through shared memory: a request
//                     and a reply of exactly the sizes mp's own calls encode
//                     (message_sizes), copied in and out of a mailbox that a
//                     fork()ed partner and this process hand back and forth
//                     with a spin-then-futex handoff (floor.h). mp's calls
//                     travel this way too (a client on the same host hands
//                     each request to the server through a ring in shared
//                     memory and waits for the reply in another).
//   socket-reference  the same round trips on a socketpair with plain
//                     read/write (harness.h): not a floor, but what a manager
//                     that talks over its socket, as CPython's does, is
//                     bounded by.
// No threads row: a manager's server is a process.
//
// The server is started and the first call (connect + authenticate) is made
// before timing begins.

#include <string_view>

#include "floor.h"
#include "harness.h"
#include "mp/internal/manager/manager_core.h"
#include "mp/internal/manager/manager_objects.h"

namespace mp::bench {
namespace {

constexpr int64_t kKey = 7;
constexpr int64_t kValue = 42;
constexpr int64_t kClientOps = 1000;

using Dict = mp::DictProxy<int64_t, int64_t>;

// The size of the request message for a call of `method` with `args` (a
// result of type R), and of its reply: exactly what mp sends, for the floor.
template <class R, class... A>
std::pair<int64_t, int64_t> message_sizes(std::string_view method, const A&... args) {
  Writer request;
  internal::begin_request(request, internal::ManagerOp::kCall, 1, method,
                          internal::call_signature<R, A...>());
  (mp::encode<A>(request, args), ...);
  Writer reply;
  reply.write_pod<uint8_t>(0);
  if constexpr (!std::is_void_v<R>) mp::encode<R>(reply, R{});
  return {static_cast<int64_t>(request.bytes().size()), static_cast<int64_t>(reply.bytes().size())};
}

// A manager's server under `ctx`.
mp::Manager start_manager(mp::Context& ctx) { return mp::Manager(ctx); }

void dict_get(benchmark::State& state, mp::Context& ctx) {
  mp::Manager m = start_manager(ctx);
  Dict d = m.dict<int64_t, int64_t>({{kKey, kValue}});
  int64_t got = d.get(kKey);  // connected
  for (auto _ : state) {
    got = d.get(kKey);
    benchmark::DoNotOptimize(got);
  }
  if (got != kValue) state.SkipWithError("get returned the wrong value");
  per_item(state, 1);
}

void dict_set(benchmark::State& state, mp::Context& ctx) {
  mp::Manager m = start_manager(ctx);
  Dict d = m.dict<int64_t, int64_t>();
  int64_t i = 0;
  d.set(kKey, i);
  for (auto _ : state) d.set(kKey, ++i);
  if (d.get(kKey) != i) state.SkipWithError("set lost a value");
  per_item(state, 1);
}

void list_append(benchmark::State& state, mp::Context& ctx) {
  mp::Manager m = start_manager(ctx);
  auto l = m.list<int64_t>();
  l.size();  // connected
  int64_t i = 0;
  for (auto _ : state) l.append(i++);
  if (static_cast<int64_t>(l.size()) != i) state.SkipWithError("append lost an item");
  per_item(state, 1);
}

void lock_acquire_release(benchmark::State& state, mp::Context& ctx) {
  mp::Manager m = start_manager(ctx);
  auto lock = m.Lock();
  lock.locked();  // connected
  for (auto _ : state) {
    lock.acquire();
    lock.release();
  }
  if (lock.locked()) state.SkipWithError("the lock is still held");
  per_item(state, 1);
}

// dict_get/clients:2 -----------------------------------------------------------------

// A client: connects, reports ready, then kClientOps gets each time `go` is
// released, until `stop`.
void hammer(Dict d, mp::Semaphore go, mp::Semaphore done, mp::Event stop) {
  d.get(kKey);
  done.release();
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    int64_t sum = 0;
    for (int64_t i = 0; i < kClientOps; ++i) sum += d.get(kKey);
    if (sum != kClientOps * kValue) return;  // the parent then waits in vain: never expected
    done.release();
  }
}

void dict_get_two_clients(benchmark::State& state, mp::Context& ctx) {
  mp::Manager m(ctx);
  Dict d = m.dict<int64_t, int64_t>({{kKey, kValue}});
  mp::Semaphore go(0), done(0);
  mp::Event stop;
  mp::Process a(ctx, &hammer, d, go, done, stop);
  mp::Process b(ctx, &hammer, d, go, done, stop);
  a.start();
  b.start();
  done.acquire();  // both connected: their start-up is not timed
  done.acquire();
  run_two_party_rounds(state, go, done, stop, a, b);
  per_item(state, 2 * kClientOps);
}

// Registration ---------------------------------------------------------------------

const bool registered = [] {
  using Fn = void (*)(benchmark::State&, mp::Context&);
  const std::pair<const char*, Fn> rows[] = {
      {"manager.dict_get", dict_get},
      {"manager.dict_set", dict_set},
      {"manager.list_append", list_append},
      {"manager.lock_acquire_release", lock_acquire_release},
  };
  // The server is a process of each implementation of processes, under each
  // of its columns.
  for_each_column([&rows]<class I>(const std::string& column) {
    if constexpr (I::kProcesses) {
      for (const auto& [scenario, fn] : rows) {
        add_column<I>(scenario, column, {}, [fn = fn](benchmark::State& s) {
          fn(s, I::context());
        })->Unit(benchmark::kMicrosecond);
      }
      add_column<I>("manager.dict_get", column, {{"clients", 2}}, [](benchmark::State& s) {
        dict_get_two_clients(s, I::context());
      })->Unit(benchmark::kMicrosecond);
    }
  });

  // The floors and the socket references: one round trip of the same sizes
  // per call.
  const auto get = message_sizes<int64_t>("get", kKey);
  const auto set = message_sizes<void>("set", kKey, kValue);
  const auto append = message_sizes<void>("append", kValue);
  const auto acquire = message_sizes<bool>("acquire", true, internal::WireTimeout());
  const auto release = message_sizes<void>("release");
  auto floor = [](const char* scenario, std::vector<std::pair<int64_t, int64_t>> trips) {
    add(scenario, "floor", {}, [trips](benchmark::State& s) {
      roundtrip_floor(s, trips, Parties::kProcesses);
    })->Unit(benchmark::kMicrosecond);
    add(scenario, "socket-reference", {}, [trips](benchmark::State& s) {
      socket_roundtrip_reference(s, trips);
    })->Unit(benchmark::kMicrosecond);
  };
  floor("manager.dict_get", {get});
  floor("manager.dict_set", {set});
  floor("manager.list_append", {append});
  floor("manager.lock_acquire_release", {acquire, release});
  return true;
}();

}  // namespace
}  // namespace mp::bench
