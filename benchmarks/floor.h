// benchmarks/floor.h — what the floor rows are built from.
//
// A floor does a row's work the cheapest known way: bare system calls,
// futexes, atomics and MAP_SHARED memory, spinning where spinning helps. It
// is a lower bound no implementation may beat (a row below its floor means
// the floor is wrong); a primitive with more guarantees may stay well above
// it.
//
// The one waiting strategy the floors use (Signal::wait): look at the word
// between pause instructions and give the CPU away now and then (20 times,
// as mp's own waits do), for ~15 µs; only then sleep on a futex. A partner
// that answers from another CPU is seen within a pause (tens of
// nanoseconds) instead of after a wake-up (5-50 µs on the benchmark VM); a
// partner waiting for this CPU gets it at the next yield.

#ifndef MP_BENCHMARKS_FLOOR_H_
#define MP_BENCHMARKS_FLOOR_H_

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.h"

namespace mp::bench {

// Who a floor's other parties are: fork()ed processes (the row "floor", the
// floor of mp's processes and CPython's) or threads of this process
// ("floor-threads", the floor of mp::dummy's, TBB's and CPython's threads: a
// switch between threads of one process is cheaper than between processes,
// so threads are not held to the processes' floor).
enum class Parties { kProcesses, kThreads };

// `bytes` of zeroed MAP_SHARED anonymous memory: fork()ed children see it.
class SharedMapping {
 public:
  explicit SharedMapping(size_t bytes);
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();
  void* get() const { return address_; }
  size_t size() const { return bytes_; }

 private:
  void* address_;
  size_t bytes_;
};

// A T constructed in MAP_SHARED memory, followed by `extra` spare bytes.
template <class T>
class Shared {
 public:
  explicit Shared(size_t extra = 0) : mapping_(sizeof(T) + extra) {
    object_ = new (mapping_.get()) T();
  }
  ~Shared() { object_->~T(); }
  T* operator->() const { return object_; }
  T& operator*() const { return *object_; }
  // The spare bytes after the object.
  std::byte* extra() const { return reinterpret_cast<std::byte*>(object_ + 1); }

 private:
  SharedMapping mapping_;
  T* object_;
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// FUTEX_WAIT / FUTEX_WAKE on a word shared between processes, or (`shared`
// false: cheaper) between the threads of one.
void futex_wait(const std::atomic<uint32_t>& word, uint32_t expected, bool shared);
void futex_wake(const std::atomic<uint32_t>& word, bool shared);

// A 32-bit word one side changes and the other waits on, with a count of
// sleepers so that the changing side makes a system call only when someone
// sleeps.
struct alignas(64) Signal {
  static constexpr int kRounds = 20;  // sched_yield()s before a futex sleep
  static constexpr int kPauses = 16;  // looks between two of them

  std::atomic<uint32_t> value{0};
  std::atomic<uint32_t> sleepers{0};
  bool shared = true;  // false when only threads of one process use it

  // Shared between processes, or only between threads of this one.
  void use_by(Parties parties) { shared = parties == Parties::kProcesses; }

  uint32_t load() const { return value.load(std::memory_order_acquire); }

  void store(uint32_t v) {
    value.store(v, std::memory_order_seq_cst);
    wake();
  }
  void advance() {
    value.fetch_add(1, std::memory_order_seq_cst);
    wake();
  }

  // Waits until `ready(value)` holds and returns that value.
  template <class Ready>
  uint32_t wait(Ready ready) {
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kPauses; ++i) {
        uint32_t v = value.load(std::memory_order_acquire);
        if (ready(v)) return v;
        cpu_relax();
      }
      ::sched_yield();
    }
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      uint32_t v = value.load(std::memory_order_seq_cst);
      if (ready(v)) {
        sleepers.fetch_sub(1, std::memory_order_relaxed);
        return v;
      }
      futex_wait(value, v, shared);
    }
  }
  uint32_t wait_change(uint32_t seen) {
    return wait([seen](uint32_t v) { return v != seen; });
  }
  uint32_t wait_for(uint32_t target) {
    return wait([target](uint32_t v) { return v == target; });
  }

 private:
  void wake() {
    if (sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(value, shared);
  }
};

// Waits until `ready()` holds without ever sleeping: pauses, and a
// sched_yield() every few looks (a partner that needs this CPU gets it).
// For waits as short as a ring's being empty or full for a moment.
template <class Ready>
void relax_until(Ready ready) {
  for (int i = 1; !ready(); ++i) {
    if (i % Signal::kPauses == 0) {
      ::sched_yield();
    } else {
      cpu_relax();
    }
  }
}

// The cheapest lock in shared memory: test-and-set with exponential backoff
// (as oneTBB's spin_mutex does: a waiter that backs off lets the holder
// keep the cache line for several rounds instead of bouncing it on every
// attempt), and a plain store to let go. It never sleeps: a floor for the
// work of locking, on a machine with a core for each party.
inline void spin_lock(std::atomic<uint32_t>& word) {
  for (int backoff = 1; word.exchange(1, std::memory_order_acquire) != 0;) {
    if (backoff <= 16) {
      for (int i = 0; i < backoff; ++i) cpu_relax();
      backoff *= 2;
    } else {
      ::sched_yield();
    }
  }
}
inline void spin_unlock(std::atomic<uint32_t>& word) { word.store(0, std::memory_order_release); }

struct alignas(64) SpinLock {
  std::atomic<uint32_t> word{0};
  void lock() { spin_lock(word); }
  void unlock() { spin_unlock(word); }
};

// A party of a floor: runs `body` in a fork()ed child (which then _exit()s)
// or in a thread; joined by the destructor.
class Party {
 public:
  template <class F>
  Party(Parties kind, F body) {
    if (kind == Parties::kThreads) {
      thread_ = std::thread(std::move(body));
      return;
    }
    pid_ = fork_or_die();
    if (pid_ == 0) {
      body();
      exit_child();
    }
  }
  Party(const Party&) = delete;
  Party& operator=(const Party&) = delete;
  ~Party();

 private:
  static pid_t fork_or_die();
  [[noreturn]] static void exit_child();
  pid_t pid_ = -1;
  std::thread thread_;
};

// Registers `fn` as a scenario's floors: "floor" (Parties::kProcesses) and
// "floor-threads" (Parties::kThreads).
void add_floors(const std::string& scenario, const Args& args,
                std::function<void(benchmark::State&, Parties)> fn, benchmark::TimeUnit unit);

// The floor of every request/response between two parties: a partner and
// this thread hand a mailbox in MAP_SHARED memory back and forth through a
// Signal. Per item, for each (request, reply) of `trips`: `request` bytes
// copied in and out by the partner, `reply` bytes copied in and out by this
// thread. With {{0, 0}} it is a bare handoff and back (an event's
// ping-pong).
void roundtrip_floor(benchmark::State& state, const std::vector<std::pair<int64_t, int64_t>>& trips,
                     Parties parties);

// The floor of two parties adding 1 to a shared counter, `increments` times
// each per iteration: under a lock (lock.contended,
// value.increment_locked/parties:2: spin_lock() and spin_unlock() on a word
// beside the counter) or with an atomic add (rawvalue.atomic_increment: the
// work itself, the parties in turn, never colliding on the line). Rounds
// start and finish through Signals. Per increment.
enum class Increment { kLocked, kAtomic };
void contended_increment_floor(benchmark::State& state, int64_t increments, Increment how,
                               Parties parties);

// The task of the pool and executor rows, and their floor ----------------------------------

// Spins for `ns` of wall time. A task on a thread that waits for a CPU
// meanwhile finishes as if it had worked, so rows with a grain mean what
// they say only on a quiet machine with a CPU per worker (the publish run's);
// the thread's CPU time would not have that flaw, but reading it costs ~3 µs
// on the benchmark VM, three times a 1 µs task.
int64_t spin(int64_t ns);

// A pool task: spins for `work.second` ns and returns something that depends
// on `work.first` and on the spin.
int64_t pool_task(std::pair<int64_t, int64_t> work);

// The floor of mapping `tasks` pool_task()s of `grain` ns over `width`
// parties: the caller and width - 1 partners each take a contiguous lane of
// a task array in shared memory, claim chunks of it with an atomic counter
// of their own (`chunksize`, or Python's 4 chunks per worker for 0), then
// take chunks from the other lanes until none is left. Rounds start and end
// through Signals. No encoding, no messages. Per task.
void map_floor(benchmark::State& state, int64_t tasks, int64_t grain, int64_t chunksize, int width,
               Parties parties);

// The program's other lives, for the process.start_join floors: main()
// checks its first argument for these before anything else.
//   kExitFlag        exit at once (floor-spawn's child)
//   kForkServerFlag  serve forks on descriptor 3 (floor-forkserver's server):
//                    for each byte read, fork a child that _exit()s, reap it,
//                    answer with a byte; leave at end of file
inline constexpr const char* kExitFlag = "--mp-bench-exit";
inline constexpr const char* kForkServerFlag = "--mp-bench-forkserver";
int serve_forks(int fd);

}  // namespace mp::bench

#endif  // MP_BENCHMARKS_FLOOR_H_
