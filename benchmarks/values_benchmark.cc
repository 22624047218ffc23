// Shared values: Value, RawValue, Array.
//
//   value.increment_locked
//       one process: take the Value's lock, add 1, let go (Python:
//       `with v.get_lock(): v.value += 1`). impl:processes (mp::Value, an
//       RLock in shared memory), threads (mp::dummy::Value), floor (a
//       PTHREAD_PROCESS_SHARED pthread mutex and a counter in MAP_SHARED memory).
//   value.increment_locked/parties:2
//       two parties each add 1 under the lock, 100 000 times per iteration;
//       per increment. The floor: the same pthread mutex, two fork()ed parties.
//   rawvalue.atomic_increment/parties:2
//       two parties each add 1 to a RawValue<int64_t> through std::atomic_ref,
//       100 000 times per iteration; per increment. The floor: a std::atomic
//       between two threads.
//   array.fill/size:1048576
//       copy 1 Mi doubles (8 MiB) into an Array under its lock (Python:
//       `arr[:] = src`); the floor: memcpy into a MAP_SHARED memfd mapping.
//       Bytes per second.

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "harness.h"
#include "mp/internal/fd.h"

namespace mp::bench {
namespace {

constexpr int64_t kIncrements = 100'000;
constexpr int64_t kFillSize = 1 << 20;

// Floors: bare system calls in MAP_SHARED memory ---------------------------------

long futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

void wait_change(std::atomic<uint32_t>& word, uint32_t seen) {
  while (word.load(std::memory_order_acquire) == seen) futex(&word, FUTEX_WAIT, seen);
}

void bump(std::atomic<uint32_t>& word) {
  word.fetch_add(1, std::memory_order_release);
  futex(&word, FUTEX_WAKE, INT_MAX);
}

struct PthreadShared {
  pthread_mutex_t mutex;
  alignas(128) int64_t counter = 0;  // apart from the mutex, as mp's is
  alignas(128) std::atomic<uint32_t> go{0};
  std::atomic<uint32_t> done{0};
  std::atomic<uint32_t> stop{0};
};

PthreadShared* map_pthread_shared() {
  void* p = ::mmap(nullptr, sizeof(PthreadShared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* s = new (p) PthreadShared;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&s->mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  return s;
}

void unmap_pthread_shared(PthreadShared* s) {
  pthread_mutex_destroy(&s->mutex);
  ::munmap(s, sizeof(PthreadShared));
}

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
  PthreadShared* s = map_pthread_shared();
  for (auto _ : state) {
    pthread_mutex_lock(&s->mutex);
    ++s->counter;
    pthread_mutex_unlock(&s->mutex);
  }
  unmap_pthread_shared(s);
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
  if (v.raw() != static_cast<int64_t>(state.iterations()) * 2 * kIncrements) {
    state.SkipWithError("lost increments");
  }
  per_item(state, 2 * kIncrements);
}

void increment_locked_floor_2(benchmark::State& state) {
  PthreadShared* s = map_pthread_shared();
  auto body = [s] {
    uint32_t seen = 0;
    for (;;) {
      wait_change(s->go, seen);
      seen = s->go.load();
      if (s->stop.load()) return;
      for (int64_t i = 0; i < kIncrements; ++i) {
        pthread_mutex_lock(&s->mutex);
        ++s->counter;
        pthread_mutex_unlock(&s->mutex);
      }
      bump(s->done);
    }
  };
  {
    ForkedParty a(body), b(body);
    for (auto _ : state) {
      uint32_t target = s->done.load() + 2;
      bump(s->go);
      for (uint32_t d = s->done.load(); d < target; d = s->done.load())
        futex(&s->done, FUTEX_WAIT, d);
    }
    s->stop = 1;
    bump(s->go);
  }
  if (s->counter != static_cast<int64_t>(state.iterations()) * 2 * kIncrements) {
    state.SkipWithError("lost increments");
  }
  unmap_pthread_shared(s);
  per_item(state, 2 * kIncrements);
}

void atomic_floor_2(benchmark::State& state) {
  // The counter on a cache line of its own, as a RawValue's is on its own
  // page (sharing the line with the words the main thread polls would slow
  // the floor down).
  struct alignas(128) Shared {
    alignas(128) std::atomic<int64_t> counter{0};
    alignas(128) std::atomic<uint32_t> go{0};
    std::atomic<uint32_t> done{0};
    std::atomic<bool> stop{false};
  };
  auto shared = std::make_unique<Shared>();
  auto& [counter, go, done, stop] = *shared;
  auto worker = [&] {
    uint32_t seen = 0;
    for (;;) {
      go.wait(seen);
      seen = go.load();
      if (stop) return;
      for (int64_t i = 0; i < kIncrements; ++i) counter.fetch_add(1, std::memory_order_relaxed);
      done.fetch_add(1);
      done.notify_all();
    }
  };
  std::thread a(worker), b(worker);
  for (auto _ : state) {
    uint32_t target = done.load() + 2;
    go.fetch_add(1);
    go.notify_all();
    for (uint32_t d = done.load(); d < target; d = done.load()) done.wait(d);
  }
  stop = true;
  go.fetch_add(1);
  go.notify_all();
  a.join();
  b.join();
  if (counter.load() != static_cast<int64_t>(state.iterations()) * 2 * kIncrements) {
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

void array_fill_floor(benchmark::State& state) {
  const size_t bytes = kFillSize * sizeof(double);
  std::vector<double> src(kFillSize);
  for (int64_t i = 0; i < kFillSize; ++i) src[i] = static_cast<double>(i);
  internal::UniqueFd fd(::memfd_create("mp-bench-floor", MFD_CLOEXEC));
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) < 0) {
    state.SkipWithError("memfd_create");
    return;
  }
  void* dst = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  std::memcpy(dst, src.data(), bytes);  // the first touch of every page, not timed
  for (auto _ : state) {
    std::memcpy(dst, src.data(), bytes);
    benchmark::ClobberMemory();
  }
  ::munmap(dst, bytes);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  per_item(state, kFillSize);
}

// Registration ------------------------------------------------------------------------

auto party_under(const std::string& method) {
  return [method](auto&&... args) { return mp::Process(mp::get_context(method), args...); };
}

auto thread_party() {
  return [](auto&&... args) { return mp::dummy::Process(args...); };
}

const bool registered = [] {
  add("value.increment_locked", "processes", {}, increment_locked<mp::Value<int64_t>>);
  add("value.increment_locked", "threads", {}, increment_locked<mp::dummy::Value<int64_t>>);
  add("value.increment_locked", "floor", {}, increment_locked_floor);

  const Args two = {{"parties", 2}};
  for (const std::string& method : start_methods()) {
    add("value.increment_locked", method, two, [method](benchmark::State& s) {
      two_parties<mp::Value<int64_t>, mp::Semaphore, mp::Event, false>(s, party_under(method));
    })->Unit(benchmark::kMicrosecond);
    add("rawvalue.atomic_increment", method, two, [method](benchmark::State& s) {
      two_parties<mp::RawValue<int64_t>, mp::Semaphore, mp::Event, true>(s, party_under(method));
    })->Unit(benchmark::kMicrosecond);
  }
  add("value.increment_locked", "threads", two, [](benchmark::State& s) {
    two_parties<mp::dummy::Value<int64_t>, mp::dummy::Semaphore, mp::dummy::Event, false>(
        s, thread_party());
  })->Unit(benchmark::kMicrosecond);
  add("value.increment_locked", "floor", two, increment_locked_floor_2)
      ->Unit(benchmark::kMicrosecond);
  add("rawvalue.atomic_increment", "threads", two, [](benchmark::State& s) {
    two_parties<mp::dummy::RawValue<int64_t>, mp::dummy::Semaphore, mp::dummy::Event, true>(
        s, thread_party());
  })->Unit(benchmark::kMicrosecond);
  add("rawvalue.atomic_increment", "floor", two, atomic_floor_2)->Unit(benchmark::kMicrosecond);

  const Args fill = {{"size", kFillSize}};
  add("array.fill", "processes", fill, array_fill<mp::Array<double>>)
      ->Unit(benchmark::kMicrosecond);
  add("array.fill", "threads", fill, array_fill<mp::dummy::Array<double>>)
      ->Unit(benchmark::kMicrosecond);
  add("array.fill", "floor", fill, array_fill_floor)->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
}  // namespace mp::bench
