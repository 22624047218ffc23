// Shared values: Value, RawValue, Array.
//
//   value.increment_locked
//       one process: take the Value's lock, add 1 to the raw value, let go:
//       one lock pair per increment (Python: `with lock: raw.value += 1`,
//       lock = v.get_lock(), raw = v.get_obj(); `v.value += 1` would take
//       the lock twice more, in the getter and the setter). impl:processes
//       (mp::Value, an RLock in shared memory), threads (mp::dummy::Value),
//       floor (a spin lock and a counter in MAP_SHARED memory, floor.h).
//   value.increment_locked/parties:2
//       two parties each add 1 under the lock, 100 000 times per iteration;
//       per increment. The floors: the same spin lock, two fork()ed parties
//       (floor) or two threads (floor-threads).
//   rawvalue.atomic_increment/parties:2
//       two parties each add 1 to a RawValue<int64_t> through std::atomic_ref,
//       100 000 times per iteration; per increment. The floors: the same
//       fetch_add on a counter in MAP_SHARED memory, two fork()ed parties or
//       two threads: the work itself, which mp can match but not beat.
//   array.fill/size:1048576
//       copy 1 Mi doubles (8 MiB) into an Array under its lock (Python:
//       `arr[:] = src`); the floor: memcpy into a MAP_SHARED memfd mapping.
//       Bytes per second.

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "floor.h"
#include "harness.h"
#include "mp/internal/base/fd.h"

namespace mp::bench {
namespace {

constexpr int64_t kIncrements = 100'000;
constexpr int64_t kFillSize = 1 << 20;

// value.increment_locked -----------------------------------------------------------

template <class Value>
void increment_locked(benchmark::State& state) {
  Value v(0);
  for (auto _ : state) {
    std::scoped_lock guard(v.get_lock());
    ++v.raw();
  }
  if (v.value() != static_cast<int64_t>(state.iterations())) state.SkipWithError("lost increments");
  per_item(state, 1);
}

void increment_locked_floor(benchmark::State& state) {
  struct alignas(64) Locked {
    std::atomic<uint32_t> word{0};
    int64_t counter = 0;  // on the lock's cache line: the cheapest layout
  };
  Shared<Locked> s;
  for (auto _ : state) {
    spin_lock(s->word);
    ++s->counter;
    spin_unlock(s->word);
  }
  per_item(state, 1);
}

// value.increment_locked/parties:2 and rawvalue.atomic_increment/parties:2 ----------

// One round: kIncrements locked increments.
template <class Value>
void locked_round(Value& v) {
  for (int64_t i = 0; i < kIncrements; ++i) {
    std::scoped_lock guard(v.get_lock());
    ++v.raw();
  }
}

template <class RawValue>
void atomic_round(RawValue& v) {
  std::atomic_ref<int64_t> counter(v.raw());
  for (int64_t i = 0; i < kIncrements; ++i) counter.fetch_add(1, std::memory_order_relaxed);
}

// A party: a round each time `go` is released, until `stop`.
template <class Value, class Semaphore, class Event, bool kAtomic>
void party(Value v, Semaphore go, Semaphore done, Event stop) {
  for (;;) {
    go.acquire();
    if (stop.is_set()) return;
    if constexpr (kAtomic) {
      atomic_round(v);
    } else {
      locked_round(v);
    }
    done.release();
  }
}

// `make_party` makes an mp::Process under a context, or an mp::dummy::Process.
template <class Value, class Semaphore, class Event, bool kAtomic, class MakeParty>
void two_parties(benchmark::State& state, MakeParty make_party) {
  Value v(0);
  Semaphore go(0), done(0);
  Event stop;
  auto a = make_party(&party<Value, Semaphore, Event, kAtomic>, v, go, done, stop);
  auto b = make_party(&party<Value, Semaphore, Event, kAtomic>, v, go, done, stop);
  a.start();
  b.start();
  run_two_party_rounds(state, go, done, stop, a, b);
  // Every iteration and the untimed first round.
  if (v.raw() != (static_cast<int64_t>(state.iterations()) + 1) * 2 * kIncrements) {
    state.SkipWithError("lost increments");
  }
  per_item(state, 2 * kIncrements);
}

// array.fill/size:1048576 ------------------------------------------------------------

template <class Array>
void array_fill(benchmark::State& state) {
  std::vector<double> src(kFillSize);
  for (int64_t i = 0; i < kFillSize; ++i) src[i] = static_cast<double>(i);
  Array arr(kFillSize);
  arr.assign(src);  // the first touch of every page, not timed
  for (auto _ : state) {
    arr.assign(src);
    benchmark::ClobberMemory();
  }
  if (arr.get(kFillSize - 1) != static_cast<double>(kFillSize - 1))
    state.SkipWithError("wrong contents");
  state.SetBytesProcessed(state.iterations() * kFillSize * static_cast<int64_t>(sizeof(double)));
  per_item(state, kFillSize);
}

// The floor: memcpy into a MAP_SHARED memfd mapping (what processes share),
// or for threads into private memory, as mp::dummy::Array's.
void array_fill_floor(benchmark::State& state, Parties parties) {
  const size_t bytes = kFillSize * sizeof(double);
  std::vector<double> src(kFillSize);
  for (int64_t i = 0; i < kFillSize; ++i) src[i] = static_cast<double>(i);
  std::vector<double> private_dst;
  void* dst = nullptr;
  internal::UniqueFd fd;
  if (parties == Parties::kThreads) {
    private_dst.resize(kFillSize);
    dst = private_dst.data();
  } else {
    fd = internal::UniqueFd(::memfd_create("mp-bench-floor", MFD_CLOEXEC));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) < 0) {
      state.SkipWithError("memfd_create");
      return;
    }
    dst = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (dst == MAP_FAILED) {
      state.SkipWithError("mmap");
      return;
    }
  }
  std::memcpy(dst, src.data(), bytes);  // the first touch of every page, not timed
  for (auto _ : state) {
    std::memcpy(dst, src.data(), bytes);
    benchmark::ClobberMemory();
  }
  if (parties == Parties::kProcesses) ::munmap(dst, bytes);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  per_item(state, kFillSize);
}

// Registration ------------------------------------------------------------------------

const bool registered = [] {
  for_each_implementation([]<class I>(const std::string& impl) {
    add("value.increment_locked", impl, {}, increment_locked<typename I::template Value<int64_t>>);
    add("array.fill", impl, {{"size", kFillSize}}, array_fill<typename I::template Array<double>>)
        ->Unit(benchmark::kMicrosecond);
  });
  add("value.increment_locked", "floor", {}, increment_locked_floor);

  const Args two = {{"parties", 2}};
  for_each_column([&two]<class I>(const std::string& column) {
    using Semaphore = typename I::Semaphore;
    using Event = typename I::Event;
    add_column<I>("value.increment_locked", column, two, [](benchmark::State& s) {
      two_parties<typename I::template Value<int64_t>, Semaphore, Event, false>(s,
                                                                                party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
    add_column<I>("rawvalue.atomic_increment", column, two, [](benchmark::State& s) {
      two_parties<typename I::template RawValue<int64_t>, Semaphore, Event, true>(s,
                                                                                  party_maker<I>());
    })->Unit(benchmark::kMicrosecond);
  });
  add_floors(
      "value.increment_locked", two,
      [](benchmark::State& s, Parties p) {
        contended_increment_floor(s, kIncrements, Increment::kLocked, p);
      },
      benchmark::kMicrosecond);
  add_floors(
      "rawvalue.atomic_increment", two,
      [](benchmark::State& s, Parties p) {
        contended_increment_floor(s, kIncrements, Increment::kAtomic, p);
      },
      benchmark::kMicrosecond);

  const Args fill = {{"size", kFillSize}};
  add_floors("array.fill", fill, array_fill_floor, benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
