// mp/internal/manager/manager_pool.h — the Pool a manager's server hosts (Python:
// SyncManager.Pool and PoolProxy).
//
// The server owns a PoolCore, made as mp::Pool makes its own (workers of the
// server's default context: the server's start method). Clients encode each
// chunk themselves, exactly as mp::Pool does (where its code lives, then the
// item count and the arguments), and get back the bytes the workers wrote
// for it; so the server knows neither the functions nor the item types. A
// task's exception reaches the server by value and travels on to the client
// as the reply's exception, with its type.
//
// Jobs are of three kinds:
//   - run: a whole map or apply whose caller waits in the call;
//   - submit: the same, finished later; its outcome waits in the queue of
//     the client's token, which the client's waiting thread drains
//     (wait_done), so one thread of a client serves all its async results;
//   - stream (imap, imap_unordered): chunks come as the client reads its
//     input (add) and their results go back one chunk at a time (take).
// Only the server's connection threads and the pool's result thread touch
// the jobs, under one mutex, never held across a call into the PoolCore
// (whose result thread delivers under that mutex).

#ifndef MP_INTERNAL_MANAGER_MANAGER_POOL_H_
#define MP_INTERNAL_MANAGER_MANAGER_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mp/internal/manager/manager_core.h"
#include "mp/internal/pool/pool_core.h"

namespace mp::internal {

// A finished job as a client's waiting thread receives it: its id, its
// chunks' results in chunk order, and its exception (encoded; empty when it
// succeeded).
using PoolOutcome = std::tuple<uint64_t, std::vector<std::string>, std::string>;

class PoolObject {
 public:
  static constexpr bool kConcurrent = true;
  static std::string type_name() { return "Pool"; }
  // Python: Pool(processes, maxtasksperchild) in the server; the timeout in
  // milliseconds. Bad values -> mp::ValueError.
  PoolObject(std::optional<int64_t> processes, std::optional<int64_t> maxtasksperchild,
             std::optional<int64_t> task_timeout_ms);
  ~PoolObject();
  PoolObject(const PoolObject&) = delete;
  PoolObject& operator=(const PoolObject&) = delete;

  // Runs the chunks of one map or apply and returns their results; the
  // first failure is thrown. Not running -> mp::ValueError.
  std::vector<std::string> run(const std::string& prefix, const std::vector<std::string>& chunks);
  // A token for a client's async results.
  uint64_t new_token();
  // Queues a map or apply whose outcome goes to `token`'s queue; returns its
  // job id, or 0 when there is nothing to run (the result is empty).
  uint64_t submit(const std::string& prefix, const std::vector<std::string>& chunks,
                  uint64_t token);
  // The finished jobs of `token`, waiting for one; none once the token is
  // forgotten.
  std::vector<PoolOutcome> wait_done(uint64_t token);
  // The client is gone: wakes its waiting thread; its jobs' outcomes are dropped.
  void forget(uint64_t token);

  // A stream job (imap): chunks numbered from 0 in the order they are added.
  uint64_t open_stream(const std::string& prefix);
  void add(uint64_t job, const std::vector<std::string>& chunks);
  // The results of chunk `chunk` (ordered), or of any chunk that has
  // answered (unordered), removed from the job: (chunk, bytes). The chunk's
  // exception, or the pool's termination, is thrown.
  std::pair<uint32_t, std::string> take(uint64_t job, bool ordered, uint32_t chunk);
  // Forgets a stream job (its remaining results are dropped).
  void drop(uint64_t job);

  void close();
  void terminate();
  void join();
  int64_t processes() const;
  std::vector<int64_t> worker_pids() const;

  static constexpr auto exposed() {
    return std::make_tuple(
        ExposedMethod{"run", &PoolObject::run}, ExposedMethod{"new_token", &PoolObject::new_token},
        ExposedMethod{"submit", &PoolObject::submit},
        ExposedMethod{"wait_done", &PoolObject::wait_done},
        ExposedMethod{"forget", &PoolObject::forget},
        ExposedMethod{"open_stream", &PoolObject::open_stream},
        ExposedMethod{"add", &PoolObject::add}, ExposedMethod{"take", &PoolObject::take},
        ExposedMethod{"drop", &PoolObject::drop}, ExposedMethod{"close", &PoolObject::close},
        ExposedMethod{"terminate", &PoolObject::terminate},
        ExposedMethod{"join", &PoolObject::join},
        ExposedMethod{"processes", &PoolObject::processes},
        ExposedMethod{"worker_pids", &PoolObject::worker_pids});
  }

 private:
  class Job;

  // Registers a job and queues its chunks; drops it again if that fails.
  std::shared_ptr<Job> start(const std::string& prefix, const std::vector<std::string>& chunks,
                             uint64_t token, bool whole);
  void queue(Job& job, const std::string& prefix, const std::vector<std::string>& chunks);
  std::shared_ptr<Job> find_locked(uint64_t job);
  // A whole job has finished: its outcome goes where its caller waits.
  void finished_locked(Job& job);

  std::shared_ptr<PoolCore> core_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;
  std::map<uint64_t, std::vector<uint64_t>> done_;  // token -> finished job ids
  std::set<uint64_t> forgotten_;
  uint64_t next_token_ = 1;
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_MANAGER_MANAGER_POOL_H_
