#include "mp/internal/manager/manager_pool.h"

#include <chrono>

#include "mp/errors.h"
#include "mp/internal/launch/remote_exception.h"
#include "mp/pool.h"

namespace mp::internal {

// One map, apply or imap of a client: the chunks' results as the workers
// wrote them. Everything but the constants is guarded by the pool's mutex.
class PoolObject::Job final : public PoolJob {
 public:
  Job(PoolObject& pool, std::string prefix, uint64_t token, bool whole)
      : pool_(pool), prefix(std::move(prefix)), token(token), whole(whole) {}

  bool deliver(uint32_t chunk, Reader& r) override {
    std::string bytes(r.read_view(r.remaining()));
    std::lock_guard lock(pool_.mu_);
    if (done) return true;
    results.emplace(chunk, std::move(bytes));
    pool_.cv_.notify_all();
    if (!whole || results.size() < expected) return false;
    pool_.finished_locked(*this);
    return true;
  }
  bool fail(uint32_t chunk, std::exception_ptr e) override {
    std::lock_guard lock(pool_.mu_);
    if (done) return true;
    pool_.cv_.notify_all();
    if (!whole) {
      errors.emplace(chunk, std::move(e));
      return false;
    }
    error = std::move(e);  // Python: the first failure decides the whole map
    pool_.finished_locked(*this);
    return true;
  }
  void fail_all(std::exception_ptr e) override {
    std::lock_guard lock(pool_.mu_);
    if (done) return;
    error = std::move(e);
    pool_.cv_.notify_all();
    if (whole) pool_.finished_locked(*this);
  }

  // The results in chunk order.
  std::vector<std::string> take_results() {
    std::vector<std::string> out;
    out.reserve(results.size());
    for (auto& [chunk, bytes] : results) out.push_back(std::move(bytes));
    results.clear();
    return out;
  }

  PoolObject& pool_;
  const std::string prefix;
  const uint64_t token;  // 0: its caller waits in run() or reads it with take()
  const bool whole;      // map or apply: done when every chunk answered or one failed
  uint64_t id = 0;       // 0 until registered
  uint32_t expected = 0;
  uint32_t queued = 0;  // chunks queued
  uint32_t taken = 0;   // stream: chunks handed back
  std::map<uint32_t, std::string> results;
  std::map<uint32_t, std::exception_ptr> errors;  // stream: by chunk
  std::exception_ptr error;  // whole: the first failure; stream: the pool's termination
  bool done = false;
};

PoolObject::PoolObject(std::optional<int64_t> processes, std::optional<int64_t> maxtasksperchild,
                       std::optional<int64_t> task_timeout_ms) {
  PoolOptions options;
  if (processes) options.processes = static_cast<int>(*processes);
  if (maxtasksperchild) options.maxtasksperchild = static_cast<int>(*maxtasksperchild);
  if (task_timeout_ms) options.task_timeout = std::chrono::milliseconds(*task_timeout_ms);
  core_ = make_pool_core(nullptr, options, Sharing::kProcesses);
}

PoolObject::~PoolObject() {
  try {
    core_->terminate();
    core_->join();
  } catch (...) {
  }
}

void PoolObject::finished_locked(Job& job) {
  job.done = true;
  if (job.id == 0) return;     // start() routes it once registered
  if (job.token == 0) return;  // run() is waiting for it
  if (forgotten_.count(job.token)) {
    jobs_.erase(job.id);
  } else {
    done_[job.token].push_back(job.id);
  }
}

std::shared_ptr<PoolObject::Job> PoolObject::start(const std::string& prefix,
                                                   const std::vector<std::string>& chunks,
                                                   uint64_t token, bool whole) {
  auto job = std::make_shared<Job>(*this, prefix, token, whole);
  job->expected = static_cast<uint32_t>(chunks.size());
  const uint64_t id = core_->add_job(job);  // not running -> ValueError
  {
    std::lock_guard lock(mu_);
    job->id = id;
    jobs_.emplace(id, job);
    if (job->done) finished_locked(*job);  // terminated in between
  }
  queue(*job, prefix, chunks);
  return job;
}

void PoolObject::queue(Job& job, const std::string& prefix,
                       const std::vector<std::string>& chunks) {
  for (const std::string& chunk : chunks) {
    uint32_t index;
    {
      std::lock_guard lock(mu_);
      index = job.queued++;
    }
    try {
      core_->submit(job.id, index, prefix, [&](Writer& w) { w.bytes() += chunk; });
    } catch (...) {
      // Terminated meanwhile: what was queued fails with the pool; a whole
      // job that queued nothing is dropped here.
      bool unused;
      {
        std::lock_guard lock(mu_);
        --job.queued;
        unused = job.whole && job.queued == 0;
        if (unused) jobs_.erase(job.id);
      }
      if (unused) core_->drop_job(job.id);
      throw;
    }
  }
}

std::shared_ptr<PoolObject::Job> PoolObject::find_locked(uint64_t job) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) throw KeyError("the pool has no job " + std::to_string(job));
  return it->second;
}

std::vector<std::string> PoolObject::run(const std::string& prefix,
                                         const std::vector<std::string>& chunks) {
  if (chunks.empty()) {
    // Python refuses even an empty map when the pool is closed.
    if (!core_->running()) throw ValueError("Pool not running");
    return {};
  }
  auto job = start(prefix, chunks, 0, true);
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return job->done; });
  jobs_.erase(job->id);
  if (job->error) std::rethrow_exception(job->error);
  return job->take_results();
}

uint64_t PoolObject::new_token() {
  std::lock_guard lock(mu_);
  return next_token_++;
}

uint64_t PoolObject::submit(const std::string& prefix, const std::vector<std::string>& chunks,
                            uint64_t token) {
  if (token == 0) throw ValueError("a pool's async results need a token");
  if (chunks.empty()) {
    if (!core_->running()) throw ValueError("Pool not running");
    return 0;
  }
  return start(prefix, chunks, token, true)->id;
}

std::vector<PoolOutcome> PoolObject::wait_done(uint64_t token) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] {
    auto it = done_.find(token);
    return forgotten_.count(token) || (it != done_.end() && !it->second.empty());
  });
  std::vector<PoolOutcome> out;
  if (forgotten_.count(token)) return out;
  for (uint64_t id : std::exchange(done_[token], {})) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    Job& job = *it->second;
    std::string error;
    if (job.error) {
      Writer w;
      encode_exception(w, job.error);
      error = std::move(w.bytes());
    }
    out.emplace_back(id, job.take_results(), std::move(error));
    jobs_.erase(it);
  }
  return out;
}

void PoolObject::forget(uint64_t token) {
  std::lock_guard lock(mu_);
  forgotten_.insert(token);
  if (auto it = done_.find(token); it != done_.end()) {
    for (uint64_t id : it->second) jobs_.erase(id);
    done_.erase(it);
  }
  cv_.notify_all();
}

uint64_t PoolObject::open_stream(const std::string& prefix) {
  return start(prefix, {}, 0, false)->id;
}

void PoolObject::add(uint64_t job, const std::vector<std::string>& chunks) {
  std::shared_ptr<Job> j;
  {
    std::lock_guard lock(mu_);
    j = find_locked(job);
    if (j->whole) throw ValueError("chunks are added only to an imap");
  }
  queue(*j, j->prefix, chunks);
}

std::pair<uint32_t, std::string> PoolObject::take(uint64_t job, bool ordered, uint32_t chunk) {
  std::unique_lock lock(mu_);
  auto j = find_locked(job);
  if (j->whole) throw ValueError("results are taken only from an imap");
  if (ordered ? chunk >= j->queued : j->taken >= j->queued) {
    throw ValueError("no such chunk in flight");
  }
  for (;;) {
    auto result = ordered ? j->results.find(chunk) : j->results.begin();
    if (result != j->results.end()) {
      std::pair<uint32_t, std::string> out(result->first, std::move(result->second));
      j->results.erase(result);
      ++j->taken;
      return out;
    }
    auto error = ordered ? j->errors.find(chunk) : j->errors.begin();
    if (error != j->errors.end()) {
      std::exception_ptr e = error->second;
      j->errors.erase(error);
      ++j->taken;
      std::rethrow_exception(e);
    }
    if (j->error) std::rethrow_exception(j->error);
    cv_.wait(lock);
  }
}

void PoolObject::drop(uint64_t job) {
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(job);
    if (it == jobs_.end() || it->second->whole) return;
    it->second->done = true;
    jobs_.erase(it);
  }
  core_->drop_job(job);
}

void PoolObject::close() { core_->close(); }
void PoolObject::terminate() { core_->terminate(); }
void PoolObject::join() { core_->join(); }
int64_t PoolObject::processes() const { return core_->processes(); }

std::vector<int64_t> PoolObject::worker_pids() const {
  std::vector<int64_t> out;
  for (pid_t pid : core_->worker_pids()) out.push_back(pid);
  return out;
}

}  // namespace mp::internal
