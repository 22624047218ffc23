// mp/internal/pool/executor_core.h — the machinery behind mp::futures' executors
// (Python: concurrent/futures/process.py and thread.py).
//
// ProcessExecutorCore runs calls on a PoolCore (the machinery of mp::Pool:
// its task and result rings, its workers and their watch), in Python's
// manner:
//   - submitted calls wait in a queue of their own; a bounded number of them
//     is handed to the workers (through PoolCore's task ring), each with a
//     word on a board in shared memory (the pool's arena): the worker that
//     takes the call and cancel() race for that word, so a call is
//     cancellable until a worker starts it, and running() is true exactly
//     while one runs it (Python's call queue makes a call RUNNING, and
//     beyond cancel(), as soon as it is queued for the workers);
//   - workers start on demand, one per submit that finds none idle, up to
//     max_workers; under fork every worker starts at the first submit,
//     before the pool's threads do;
//   - a worker that ends abruptly, cannot decode its task, or whose
//     initializer fails breaks the executor: every call not yet answered,
//     and every later submit, fails with BrokenProcessPool, and the other
//     workers are terminated. With `replace_dead_workers` a dead worker fails
//     only the call it held (WorkerLostError) and is replaced, as in a Pool;
//     a failing initializer still breaks the executor.
// Answers come back in PoolCore's result thread, which also hands the next
// queued calls over, so a submit never waits for a worker.
//
// ThreadExecutorCore is Python's ThreadPoolExecutor: one queue, threads
// started on demand, each call run in place.

#ifndef MP_INTERNAL_POOL_EXECUTOR_CORE_H_
#define MP_INTERNAL_POOL_EXECUTOR_CORE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mp/context.h"
#include "mp/internal/pool/future_core.h"
#include "mp/internal/pool/pool_core.h"
#include "mp/reduction.h"

namespace mp::internal {

// The first byte of every answer an executor's task runner writes.
enum class Answer : uint8_t {
  kValue = 0,        // the value (or a chunk's outcomes) follows
  kRaised = 1,       // the call's exception follows
  kUndecodable = 2,  // the worker could not decode the task; the exception follows
  kSkipped = 3,      // cancelled before a worker took it: nothing ran
};

// In a worker, first thing for a call: reads its board word's number from
// `in` and takes the call (CallClaim::kStarted); false when it was
// cancelled, and must not run.
bool claim_call(Reader& in);

// One call for a process worker.
struct ProcessCall {
  std::shared_ptr<FutureCore> future;
  std::string code;  // where the runner and the function live (a PoolCore task prefix)
  std::string args;  // the arguments, encoded
  // Decodes the answer's value into `future`; throws when it cannot.
  void (*set_value)(FutureCore& future, Reader& answer) = nullptr;
};

struct ProcessExecutorConfig {
  int max_workers = 1;
  Context* context = nullptr;  // never null
  std::shared_ptr<const InitializerSpec> initializer;
  int64_t max_tasks_per_child = 0;  // 0: no limit
  bool replace_dead_workers = false;
};

class ProcessExecutorCore {
 public:
  explicit ProcessExecutorCore(ProcessExecutorConfig config);
  ~ProcessExecutorCore();
  ProcessExecutorCore(const ProcessExecutorCore&) = delete;
  ProcessExecutorCore& operator=(const ProcessExecutorCore&) = delete;

  // Broken -> BrokenProcessPool; shut down -> mp::RuntimeError.
  void check_open() const;
  // Queues `call` (check_open() first); may start a worker.
  void submit(ProcessCall call);
  // Python's shutdown(wait, cancel_futures). Never blocks for long when a
  // worker died: the executor breaks and the rest are terminated.
  void shutdown(bool wait, bool cancel_futures);
  // terminate_workers() (SIGTERM) / kill_workers() (SIGKILL).
  void force_shutdown(bool kill);

  std::vector<pid_t> worker_pids() const;
  int max_workers() const noexcept { return config_.max_workers; }
  Context& context() const noexcept { return *config_.context; }

 private:
  class Job;
  // Futures to fail once the lock is released (their callbacks run then).
  using Failures = std::vector<std::pair<std::shared_ptr<FutureCore>, std::exception_ptr>>;

  void make_pool_locked();
  std::shared_ptr<PoolCore> pool() const;
  void throw_unless_open_locked() const;
  void start_workers_locked();
  void dispatch_locked(Failures& failures);
  void close_if_drained_locked();
  // From the pool: an answer, a failure, or every call failing.
  void answered(uint32_t chunk, Reader& answer);
  void failed(uint32_t chunk, std::exception_ptr error);
  void failed_all(std::exception_ptr error);
  // Takes the call answered or failed as `chunk`; hands the next ones over.
  std::optional<ProcessCall> take_in_flight(uint32_t chunk);
  void settle(ProcessCall& call, Reader& answer);
  bool worker_died(const WorkerDeath& death);
  void break_pool(const std::string& why);
  void join_pool();
  static void fail(Failures& failures);

  const ProcessExecutorConfig config_;
  const bool on_demand_;        // not fork: workers start as submits need them
  const size_t max_in_flight_;  // calls handed to the workers at most

  mutable std::mutex mu_;
  std::condition_variable cv_;  // closed_ or broken_ changed
  struct InFlight {
    ProcessCall call;
    uint32_t slot;  // its word on the board
  };
  std::deque<ProcessCall> pending_;
  std::unordered_map<uint32_t, InFlight> in_flight_;  // by PoolCore chunk number
  size_t in_flight_bytes_ = 0;
  std::atomic<uint32_t>* board_ = nullptr;  // in the pool's arena; max_in_flight_ words
  std::vector<uint32_t> free_slots_;
  uint32_t next_chunk_ = 0;
  int64_t idle_ = 0;  // workers started and not busy (Python's _idle_worker_number)
  bool shutdown_ = false;
  bool closed_ = false;  // every call handed over, and the pool closed
  bool forced_ = false;  // terminate_workers() / kill_workers()
  std::string broken_;   // why, once broken

  std::mutex join_mu_;
  bool joined_ = false;

  uint64_t job_ = 0;
  // Null under fork until the first submit. Last: it goes first, while the
  // rest still stands.
  std::shared_ptr<PoolCore> pool_;
};

// One call for a thread worker: `run` checks that the future may start,
// calls, and settles the future.
struct ThreadCall {
  std::shared_ptr<FutureCore> future;
  std::function<void()> run;
};

class ThreadExecutorCore {
 public:
  ThreadExecutorCore(int max_workers, std::string name_prefix, std::function<void()> initializer);
  ~ThreadExecutorCore();
  ThreadExecutorCore(const ThreadExecutorCore&) = delete;
  ThreadExecutorCore& operator=(const ThreadExecutorCore&) = delete;

  // Broken -> BrokenThreadPool; shut down -> mp::RuntimeError.
  void check_open() const;
  void submit(ThreadCall call);
  void shutdown(bool wait, bool cancel_futures);

  int max_workers() const noexcept { return max_workers_; }
  // Threads started so far (Python: len(executor._threads)).
  size_t worker_count() const;

 private:
  void throw_unless_open_locked() const;
  void work(size_t index);
  void initializer_failed();

  const int max_workers_;
  const std::string name_prefix_;
  const std::function<void()> initializer_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ThreadCall> queue_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  bool shutdown_ = false;
  std::string broken_;
  std::mutex join_mu_;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POOL_EXECUTOR_CORE_H_
