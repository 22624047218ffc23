// mp/internal/pool/pool_core.h — the machinery behind mp::Pool and mp::dummy::Pool.
//
// Tasks go to the workers through one shared ring (the queue ring of
// ring.h): idle workers take the next record, so load balances itself. Each
// record is one chunk: a header, where the chunk's code lives (a trampoline
// and the user's function, named by location as Process targets are) and the
// encoded arguments. Results come back through a second ring, read by a
// result thread in the pool's owner, which decodes them into the jobs and
// runs the callbacks. A handler thread watches the workers: it replaces those
// that end (maxtasksperchild, death), kills those past task_timeout, and
// decides which task a dead worker took with it.
//
// Knowing what a dead worker held: a worker records the sequence number of
// the task it takes in its slot (shared memory) while it still holds the
// ring's consumer lock, and clears it after its result is published. When a
// worker dies with a task in its slot, the task was lost exactly when (1)
// the ring's consumed count is past it (it was taken, not left in the ring
// for the next worker), (2) no live worker holds it, and (3) no result for
// it arrives among everything published up to that moment. Such a task fails
// with WorkerLostError (or TimeoutError when the handler killed it).
//
// Large chunks of fixed-size items (map of numbers, pairs, arrays...) skip
// the rings' copies: the owner writes the arguments into a shared arena, the
// worker reads them there and writes its results beside them, and only small
// records naming that room go through the rings. The owner hands out the
// room (first fit, lowest offset first, so that the same warm pages serve
// map after map) and takes it back once the results are read or the chunk is
// lost.
//
// Workers are daemon processes of the pool's context, or threads
// (mp::dummy::Pool) running the same loop.

#ifndef MP_INTERNAL_POOL_POOL_CORE_H_
#define MP_INTERNAL_POOL_POOL_CORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mp/context.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/futex.h"
#include "mp/internal/base/shm.h"
#include "mp/internal/base/target.h"
#include "mp/internal/ipc/ring.h"
#include "mp/internal/launch/remote_exception.h"
#include "mp/process.h"
#include "mp/reduction.h"

namespace mp::internal {

// Runs one chunk: decodes its arguments from `in`, calls the function at
// `fn` on each, encodes the results into `out`, or into `direct` when the
// chunk has room for them in the arena.
using ChunkRunner = void (*)(const void* fn, Reader& in, Writer& out, std::span<char> direct);

struct PoolSlot {
  std::atomic<uint64_t> task{0};       // sequence number + 1 of the task held; 0: none
  std::atomic<int64_t> started_ns{0};  // steady clock, when it was taken
  std::atomic<uint32_t> stopped{0};    // took a stop record and left
  std::atomic<uint32_t> pad{0};
};

// A pool's initializer with its arguments. `call` runs it where the worker
// shares the owner's memory (threads, fork); elsewhere `binder` (named by
// location) decodes the arguments that `encode` wrote and returns the call.
using InitBinder = std::function<void()> (*)(const void* function, Reader& args);

template <class Fn, class Tuple>
std::function<void()> bind_call(const void* target, Reader& r) {
  auto fn = reinterpret_cast<Fn>(const_cast<void*>(target));
  auto args = std::make_shared<Tuple>(decode_tuple<Tuple>(r));
  return [fn, args] { std::apply(fn, *args); };
}

struct InitializerSpec {
  TargetSpec target;            // call, function, encode, not_transferable
  InitBinder binder = nullptr;  // set when the arguments can be encoded
};

struct PoolShared {
  std::atomic<uint32_t> terminated{0};  // workers leave without running what they take
  uint32_t slots = 0;
  PoolSlot slot[1];  // `slots` of them
  static size_t bytes(uint32_t n) { return sizeof(PoolShared) + (n - 1) * sizeof(PoolSlot); }
};

// What a worker needs; travels to spawn and forkserver workers as descriptors.
struct WorkerLink {
  std::shared_ptr<Ring> tasks;
  std::shared_ptr<Ring> results;
  std::shared_ptr<Segment> shared;  // a PoolShared
  std::shared_ptr<Segment> arena;   // chunks of fixed-size items
  uint32_t index = 0;
  int64_t maxtasks = 0;                         // 0: no limit
  std::shared_ptr<const InitializerSpec> init;  // encoded for spawn and forkserver
  std::function<void()> init_call;              // what the worker runs first
};

// The loop every worker runs, in a process or a thread.
void pool_worker_main(WorkerLink link);

// In a worker (its ChunkRunner), the link of the loop running it; null
// outside one. Lets a runner reach the pool's shared segments.
const WorkerLink* current_worker_link() noexcept;

struct TaskHeader {
  uint64_t seq;
  uint64_t job;  // 0: a stop record
  uint32_t chunk;
  uint32_t flags;  // kInArena: an ArenaRoom follows the code's location
};
inline constexpr uint32_t kInArena = 1;

// A chunk's room in the arena: its arguments, then room for its results.
struct ArenaRoom {
  uint64_t args = 0, args_size = 0;
  uint64_t results = 0, results_size = 0;
  uint64_t end() const { return results + results_size; }
};

// The arena's free space: first fit from the lowest offset. Not locked.
class ArenaSpace {
 public:
  explicit ArenaSpace(uint64_t capacity) : capacity_(capacity) { free_.emplace(0, capacity); }
  // The offset of `size` bytes, or nullopt when no free run is that long.
  std::optional<uint64_t> allocate(uint64_t size);
  void release(uint64_t offset, uint64_t size);
  // How far into the arena anything has been handed out since the last call.
  uint64_t take_high_water() { return std::exchange(high_water_, 0); }
  // Nothing handed out.
  bool empty() const {
    return free_.size() == 1 && free_.begin()->first == 0 && free_.begin()->second == capacity_;
  }

 private:
  uint64_t capacity_;
  std::map<uint64_t, uint64_t> free_;  // offset -> length; runs never touch
  uint64_t high_water_ = 0;
};

struct ResultHeader {
  uint64_t seq;
  uint64_t job;  // 0: the owner's own stop record for the result thread
  uint32_t chunk;
  uint32_t ok;
};

// A job's side of the pool: it receives its chunks' results (from the result
// thread) and failures (from the handler thread, or terminate()). Called with
// no pool lock held; returns true when the job expects nothing more.
class PoolJob {
 public:
  virtual ~PoolJob() = default;
  virtual bool deliver(uint32_t chunk, Reader& results) = 0;
  virtual bool fail(uint32_t chunk, std::exception_ptr error) = 0;
  // Every chunk fails (the pool was terminated).
  virtual void fail_all(std::exception_ptr error) = 0;
};

// A process worker that ended abruptly: it held a task, or its exit code is
// not 0 (see PoolConfig::on_worker_death).
struct WorkerDeath {
  uint32_t index = 0;
  int exitcode = 0;  // -N: killed by signal N
  bool held_task = false;
  std::string how;  // "it was killed by signal 9", "it exited with code 1"
};

struct PoolConfig {
  int processes = 0;
  int64_t maxtasksperchild = 0;
  std::optional<std::chrono::nanoseconds> task_timeout;
  std::shared_ptr<const InitializerSpec> initializer;  // may be null
  Context* context = nullptr;                          // nullptr: the default
  Sharing sharing = Sharing::kProcesses;               // kThreads: workers are threads (mp::dummy)
  // For executors (mp::futures): no worker starts with the pool; each one
  // starts at start_worker_on_demand().
  bool on_demand = false;
  // Called by the handler thread (no pool lock held) when a process worker
  // ended abruptly. True: the owner takes it from there, and the pool
  // neither fails the task the worker held nor replaces it. False, or
  // unset: the task fails with WorkerLostError and a new worker starts.
  std::function<bool(const WorkerDeath&)> on_worker_death;
};

class PoolCore {
 public:
  explicit PoolCore(PoolConfig config);
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  int processes() const noexcept { return config_.processes; }

  // Chunks of fixed-size items this large (arguments and results) go
  // through the arena; smaller ones are cheaper as ring records.
  static constexpr size_t kArenaMinBytes = 16 << 10;
  static constexpr size_t kArenaCapacity = size_t{32} << 20;
  // Pages of the arena kept when it empties after a larger burst.
  static constexpr size_t kArenaKept = size_t{4} << 20;

  // Registers a job; returns its id. Throws mp::ValueError unless running.
  uint64_t add_job(std::shared_ptr<PoolJob> job);
  // Forgets a job whose caller gave up on it (its results are dropped).
  void drop_job(uint64_t job);
  // Queues one chunk of `job`: `prefix` names the code, `encode` writes the
  // arguments.
  void submit(uint64_t job, uint32_t chunk, const std::string& prefix,
              const std::function<void(Writer&)>& encode);
  // Queues one chunk of fixed-size items through the arena: `fill` writes
  // its `args_size` bytes of arguments in place; the worker writes
  // `results_size` bytes of results beside them. False, with nothing queued
  // and `fill` not called, when the arena has no room for it now.
  bool submit_in_arena(uint64_t job, uint32_t chunk, const std::string& prefix, size_t args_size,
                       size_t results_size, const std::function<void(char*)>& fill);

  void close();
  void terminate();
  void join();
  bool running() const;

  // Worker pids (processes) for tests and introspection; empty for threads.
  std::vector<pid_t> worker_pids() const;

  // With PoolConfig::on_demand: starts the next worker; false when every
  // slot has been started, or the pool is not running.
  bool start_worker_on_demand();
  // Workers started so far (with PoolConfig::on_demand), replacements aside.
  uint32_t started_workers() const noexcept { return started_.load(std::memory_order_acquire); }
  // Sends SIGTERM (or SIGKILL) to every live worker process; no-op for
  // threads. The handler sees them end.
  void signal_workers(bool kill);
  // The arena's bytes, for an owner that never calls submit_in_arena and so
  // may keep state of its own there, which every worker sees
  // (current_worker_link()->arena).
  char* arena_bytes() const noexcept { return static_cast<char*>(arena_->data()); }

 private:
  enum class State { kRun, kClose, kTerminate };
  struct Worker {
    std::optional<Process> process;
    std::thread thread;
    bool alive = false;
  };

  void start_worker(uint32_t index);
  void result_loop();
  void handler_loop();
  void worker_ended(uint32_t index);
  void lost_task(uint32_t index, uint64_t seq, std::exception_ptr why);
  PoolSlot& slot(uint32_t i) const { return shared_->slot[i]; }
  void wake_handler() const;
  // This thread's task record, holding the header (its sequence number
  // filled in by put_task) and where the code lives.
  static Writer& begin_task(uint64_t job, uint32_t chunk, uint32_t flags,
                            const std::string& prefix);
  void put_task(uint64_t job, uint32_t chunk, Writer& w, const ArenaRoom& room = {});
  // Gives a chunk's room back (under mu_).
  void release_room(const ArenaRoom& room);
  // One stop record per worker slot, in sequence order (under submit_mu_, or
  // before any other thread can submit).
  void put_stops();

  PoolConfig config_;
  std::shared_ptr<Ring> tasks_;
  std::shared_ptr<Ring> results_;
  std::shared_ptr<Segment> segment_;
  PoolShared* shared_ = nullptr;
  std::shared_ptr<Segment> arena_;
  UniqueFd wake_;  // eventfd: the handler's doorbell

  mutable std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kRun;
  uint64_t next_job_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<PoolJob>> jobs_;
  struct Outstanding {
    uint64_t job;
    uint32_t chunk;
    ArenaRoom room;  // results_size 0: not in the arena
  };
  std::unordered_map<uint64_t, Outstanding> outstanding_;  // by sequence number
  uint64_t dispatched_ = 0;                                // results the result thread has handled
  std::vector<Worker> workers_;
  std::vector<uint32_t> ended_threads_;  // thread workers that returned
  std::vector<uint64_t> timed_out_;      // per worker: seq + 1 killed for task_timeout
  ArenaSpace arena_space_{kArenaCapacity};

  std::mutex submit_mu_;  // sequence numbers follow ring order
  uint64_t next_seq_ = 0;

  std::thread result_thread_;
  std::thread handler_thread_;
  bool joined_ = false;

  // Slots [0, started_) have had a worker; the handler watches only those.
  std::atomic<uint32_t> started_{0};
  std::mutex start_mu_;  // one start_worker_on_demand() at a time
};

}  // namespace mp::internal

namespace mp {

template <>
struct Codec<internal::WorkerLink> {
  static void encode(Writer& w, const internal::WorkerLink& l);
  static internal::WorkerLink decode(Reader& r);
};

}  // namespace mp

#endif  // MP_INTERNAL_POOL_POOL_CORE_H_
