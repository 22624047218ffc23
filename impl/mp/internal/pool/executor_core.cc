#include "mp/internal/pool/executor_core.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <optional>
#include <stdexcept>

#include "mp/errors.h"
#include "mp/internal/launch/remote_exception.h"

namespace mp::internal {
namespace {

// Calls handed to the workers at most, and their arguments' bytes (at least
// one call goes, whatever its size): enough to keep the workers and the
// result thread from ever waiting on one another, and far from filling the
// rings. Cancelling reaches every call a worker has not taken, so the
// number costs cancel() nothing (Python keeps max_workers + 1 in its call
// queue, because cancel() cannot reach those).
constexpr size_t kMaxInFlight = 256;
constexpr size_t kMaxBytesInFlight = size_t{64} << 20;

std::string describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return demangle(typeid(x).name()) + ": " + x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

// The process executor ------------------------------------------------------------------------

class ProcessExecutorCore::Job final : public PoolJob {
 public:
  explicit Job(ProcessExecutorCore* owner) : owner_(owner) {}
  bool deliver(uint32_t chunk, Reader& answer) override {
    owner_->answered(chunk, answer);
    return false;  // the executor's one job lasts as long as the pool
  }
  bool fail(uint32_t chunk, std::exception_ptr error) override {
    owner_->failed(chunk, std::move(error));
    return false;
  }
  void fail_all(std::exception_ptr error) override { owner_->failed_all(std::move(error)); }

 private:
  ProcessExecutorCore* owner_;
};

ProcessExecutorCore::ProcessExecutorCore(ProcessExecutorConfig config)
    : config_(std::move(config)),
      on_demand_(config_.context->get_start_method() != "fork"),
      max_in_flight_(std::max(kMaxInFlight, 2 * static_cast<size_t>(config_.max_workers) + 2)) {
  // Under spawn and forkserver the pool is there from the start and its
  // workers start one by one; under fork it comes with the first submit.
  if (on_demand_) make_pool_locked();
}

void ProcessExecutorCore::make_pool_locked() {
  PoolConfig pc;
  pc.processes = config_.max_workers;
  pc.maxtasksperchild = config_.max_tasks_per_child;
  pc.initializer = config_.initializer;
  pc.context = config_.context;
  // Under fork every worker starts in PoolCore's constructor, before its
  // threads do: a fork while another thread is inside a lock or a static's
  // first initialization leaves the child waiting forever (CPython's
  // gh-90622, the reason it launches fork workers before its manager thread).
  pc.on_demand = on_demand_;
  pc.on_worker_death = [this](const WorkerDeath& death) { return worker_died(death); };
  auto pool = std::make_shared<PoolCore>(std::move(pc));
  job_ = pool->add_job(std::make_shared<Job>(this));
  // The board: one word per call in flight, at the start of the pool's
  // arena (the executor sends nothing through the arena otherwise).
  board_ = reinterpret_cast<std::atomic<uint32_t>*>(pool->arena_bytes());
  for (size_t i = 0; i < max_in_flight_; ++i) {
    new (&board_[i]) std::atomic<uint32_t>(0);
    free_slots_.push_back(static_cast<uint32_t>(max_in_flight_ - 1 - i));
  }
  pool_ = std::move(pool);
  idle_ = on_demand_ ? 0 : config_.max_workers;
}

std::shared_ptr<PoolCore> ProcessExecutorCore::pool() const {
  std::lock_guard lock(mu_);
  return pool_;
}

std::vector<pid_t> ProcessExecutorCore::worker_pids() const {
  auto p = pool();
  return p ? p->worker_pids() : std::vector<pid_t>{};
}

ProcessExecutorCore::~ProcessExecutorCore() {
  try {
    shutdown(true, false);
  } catch (...) {
  }
}

void ProcessExecutorCore::throw_unless_open_locked() const {
  if (!broken_.empty()) throw futures::BrokenProcessPool(broken_);
  if (shutdown_) throw RuntimeError("cannot schedule new futures after shutdown");
}

void ProcessExecutorCore::check_open() const {
  std::lock_guard lock(mu_);
  throw_unless_open_locked();
}

void ProcessExecutorCore::submit(ProcessCall call) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    throw_unless_open_locked();
    start_workers_locked();
    pending_.push_back(std::move(call));
    dispatch_locked(failures);
  }
  fail(failures);
}

void ProcessExecutorCore::start_workers_locked() {
  if (!on_demand_) {
    if (!pool_) make_pool_locked();  // fork: every worker, now
    return;
  }
  // Python's _adjust_process_count: a new worker only when none is idle.
  if (idle_ <= 0 && pool_->started_workers() < static_cast<uint32_t>(config_.max_workers)) {
    if (pool_->start_worker_on_demand()) ++idle_;
  }
  --idle_;
}

void ProcessExecutorCore::dispatch_locked(Failures& failures) {
  while (broken_.empty() && !pending_.empty() && in_flight_.size() < max_in_flight_ &&
         (in_flight_bytes_ < kMaxBytesInFlight || in_flight_.empty())) {
    ProcessCall call = std::move(pending_.front());
    pending_.pop_front();
    const uint32_t slot = free_slots_.back();
    if (!call.future->dispatch(&board_[slot])) {  // cancelled, or settled by hand
      ++idle_;
      continue;
    }
    free_slots_.pop_back();
    const uint32_t chunk = next_chunk_++;
    try {
      pool_->submit(job_, chunk, call.code, [&](Writer& w) {
        w.write_pod(slot);
        w.write(call.args.data(), call.args.size());
      });
    } catch (...) {
      call.future->begin_settle();
      free_slots_.push_back(slot);
      ++idle_;
      failures.emplace_back(std::move(call.future), std::current_exception());
      continue;
    }
    in_flight_bytes_ += call.args.size();
    in_flight_.emplace(chunk, InFlight{std::move(call), slot});
  }
  close_if_drained_locked();
}

void ProcessExecutorCore::close_if_drained_locked() {
  // The workers' stop records go after every call: only once none waits.
  if (!shutdown_ || closed_ || !broken_.empty() || !pending_.empty()) return;
  if (pool_) pool_->close();
  closed_ = true;
  cv_.notify_all();
}

void ProcessExecutorCore::fail(Failures& failures) {
  for (auto& [future, error] : failures) future->try_set_exception(std::move(error));
  failures.clear();
}

std::optional<ProcessCall> ProcessExecutorCore::take_in_flight(uint32_t chunk) {
  Failures failures;
  std::optional<ProcessCall> call;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(chunk);
    if (it == in_flight_.end()) return std::nullopt;  // broken: it has failed already
    call = std::move(it->second.call);
    // Its word is free again once the future no longer looks at it.
    call->future->begin_settle();
    free_slots_.push_back(it->second.slot);
    in_flight_bytes_ -= call->args.size();
    in_flight_.erase(it);
    ++idle_;
    dispatch_locked(failures);
  }
  fail(failures);
  return call;
}

void ProcessExecutorCore::answered(uint32_t chunk, Reader& answer) {
  if (auto call = take_in_flight(chunk)) settle(*call, answer);
}

void ProcessExecutorCore::failed(uint32_t chunk, std::exception_ptr error) {
  if (auto call = take_in_flight(chunk)) call->future->try_set_exception(std::move(error));
}

void ProcessExecutorCore::failed_all(std::exception_ptr error) {
  Failures failures;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, f] : in_flight_) failures.emplace_back(std::move(f.call.future), error);
    in_flight_.clear();
  }
  fail(failures);
}

void ProcessExecutorCore::settle(ProcessCall& call, Reader& answer) {
  std::exception_ptr trouble;
  std::string why;
  try {
    switch (answer.read_pod<Answer>()) {
      case Answer::kValue:
        call.set_value(*call.future, answer);
        return;
      case Answer::kRaised:
        call.future->try_set_exception(decode_exception(answer));
        return;
      case Answer::kSkipped:  // cancelled before a worker took it
        return;
      case Answer::kUndecodable:
        trouble = decode_exception(answer);
        why = "a worker could not decode its task (" + describe(trouble) + ")";
        break;
      default:
        throw PicklingError("an executor's answer begins with an unknown byte");
    }
  } catch (...) {
    // Python: a result that does not unpickle breaks the pool.
    trouble = std::current_exception();
    why = "a result could not be decoded (" + describe(trouble) + ")";
  }
  if (config_.replace_dead_workers) {  // as a Pool does: only this call fails
    call.future->try_set_exception(trouble);
    return;
  }
  break_pool(why);
  call.future->try_set_exception(std::make_exception_ptr(futures::BrokenProcessPool(
      "the process pool is not usable anymore: " + why + "; this future was running")));
}

bool ProcessExecutorCore::worker_died(const WorkerDeath& death) {
  {
    std::lock_guard lock(mu_);
    // An initializer that raised (the worker exits 1 before taking a task)
    // would fail again in every replacement.
    const bool initializer_failed = death.exitcode == 1 && !death.held_task;
    if (config_.replace_dead_workers && !forced_ && !initializer_failed) return false;
  }
  break_pool("a worker process terminated abruptly: " + death.how);
  return true;
}

void ProcessExecutorCore::break_pool(const std::string& why) {
  std::vector<ProcessCall> calls;
  {
    std::lock_guard lock(mu_);
    if (!broken_.empty()) return;
    broken_ = "the process pool is not usable anymore: " + why;
    shutdown_ = true;
    for (auto& call : pending_) calls.push_back(std::move(call));
    pending_.clear();
    for (auto& [_, f] : in_flight_) calls.push_back(std::move(f.call));
    in_flight_.clear();
    cv_.notify_all();
  }
  for (auto& call : calls) {
    call.future->try_set_exception(std::make_exception_ptr(futures::BrokenProcessPool(
        "A process in the process pool was terminated abruptly while the future was running "
        "or pending: " +
        why)));
  }
  // Python terminates the rest: the queues may be in a state nobody can use.
  if (auto p = pool()) p->signal_workers(false);
}

void ProcessExecutorCore::shutdown(bool wait, bool cancel_futures) {
  std::deque<ProcessCall> dropped;
  std::vector<std::shared_ptr<FutureCore>> handed_over;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    if (cancel_futures) {
      dropped.swap(pending_);
      for (auto& [_, f] : in_flight_) handed_over.push_back(f.call.future);
    }
    close_if_drained_locked();
  }
  for (auto& call : dropped) call.future->cancel();
  // Handed over and not taken by a worker yet: pending too (a worker skips
  // a call that was cancelled).
  for (auto& future : handed_over) future->cancel();
  if (!wait) return;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !broken_.empty(); });
  }
  join_pool();
}

void ProcessExecutorCore::join_pool() {
  std::lock_guard one(join_mu_);
  if (joined_) return;
  bool broken;
  std::shared_ptr<PoolCore> p;
  {
    std::lock_guard lock(mu_);
    broken = !broken_.empty();
    p = pool_;
  }
  if (p) {
    if (broken) p->terminate();  // no stop records went in: end the workers
    p->join();
  }
  joined_ = true;
  // Every call has been answered or failed by now; should one not have
  // been, it fails here rather than wait forever (and stops looking at a
  // board that goes with the pool).
  Failures failures;
  {
    std::lock_guard lock(mu_);
    auto error = std::make_exception_ptr(
        RuntimeError("the executor's workers ended before this call was answered"));
    for (auto& [_, f] : in_flight_) failures.emplace_back(std::move(f.call.future), error);
    in_flight_.clear();
    for (auto& call : pending_) failures.emplace_back(std::move(call.future), error);
    pending_.clear();
  }
  fail(failures);
}

void ProcessExecutorCore::force_shutdown(bool kill) {
  {
    std::lock_guard lock(mu_);
    forced_ = true;
  }
  shutdown(false, true);
  if (auto p = pool()) p->signal_workers(kill);
}

bool claim_call(Reader& in) {
  const auto slot = in.read_pod<uint32_t>();
  const WorkerLink* link = current_worker_link();
  if (link == nullptr) return true;
  auto* board = reinterpret_cast<std::atomic<uint32_t>*>(link->arena->data());
  if ((slot + 1) * sizeof(uint32_t) > link->arena->size()) {
    throw PicklingError("a call's board word lies outside the pool's arena");
  }
  uint32_t queued = CallClaim::kQueued;
  return board[slot].compare_exchange_strong(queued, CallClaim::kStarted,
                                             std::memory_order_acq_rel) ||
         queued != CallClaim::kCancelled;
}

// The thread executor -------------------------------------------------------------------------

ThreadExecutorCore::ThreadExecutorCore(int max_workers, std::string name_prefix,
                                       std::function<void()> initializer)
    : max_workers_(max_workers),
      name_prefix_(std::move(name_prefix)),
      initializer_(std::move(initializer)) {}

ThreadExecutorCore::~ThreadExecutorCore() {
  try {
    shutdown(true, false);
  } catch (...) {
  }
}

void ThreadExecutorCore::throw_unless_open_locked() const {
  if (!broken_.empty()) throw futures::BrokenThreadPool(broken_);
  if (shutdown_) throw RuntimeError("cannot schedule new futures after shutdown");
}

void ThreadExecutorCore::check_open() const {
  std::lock_guard lock(mu_);
  throw_unless_open_locked();
}

void ThreadExecutorCore::submit(ThreadCall call) {
  std::lock_guard lock(mu_);
  throw_unless_open_locked();
  queue_.push_back(std::move(call));
  // Python's _adjust_thread_count: a new thread only when none is idle.
  if (idle_ > 0) {
    --idle_;
  } else if (threads_.size() < static_cast<size_t>(max_workers_)) {
    const size_t index = threads_.size();
    threads_.emplace_back([this, index] { work(index); });
  }
  cv_.notify_one();
}

size_t ThreadExecutorCore::worker_count() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

void ThreadExecutorCore::work(size_t index) {
  const std::string name = (name_prefix_ + "_" + std::to_string(index)).substr(0, 15);
  ::pthread_setname_np(::pthread_self(), name.c_str());
  if (initializer_) {
    try {
      initializer_();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "Exception in initializer: %s: %s\n", demangle(typeid(e).name()).c_str(),
                   e.what());
      initializer_failed();
      return;
    } catch (...) {
      std::fprintf(stderr, "Exception in initializer\n");
      initializer_failed();
      return;
    }
  }
  for (;;) {
    ThreadCall call;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || shutdown_ || !broken_.empty(); });
      if (queue_.empty()) return;
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    call.run();
    call = {};  // the call's arguments and result go now, not at the next call
    std::lock_guard lock(mu_);
    ++idle_;
  }
}

void ThreadExecutorCore::initializer_failed() {
  std::deque<ThreadCall> calls;
  {
    std::lock_guard lock(mu_);
    if (broken_.empty()) {
      broken_ = "A thread initializer failed, the thread pool is not usable anymore";
    }
    calls.swap(queue_);
    cv_.notify_all();
  }
  for (auto& call : calls) {
    call.future->try_set_exception(std::make_exception_ptr(futures::BrokenThreadPool(broken_)));
  }
}

void ThreadExecutorCore::shutdown(bool wait, bool cancel_futures) {
  std::deque<ThreadCall> dropped;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    if (cancel_futures) dropped.swap(queue_);
    cv_.notify_all();
  }
  for (auto& call : dropped) call.future->cancel();
  if (!wait) return;
  // No thread starts after shutdown_ is set: the list is final.
  std::lock_guard one(join_mu_);
  for (auto& t : threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // shut down from one of its own calls: that thread ends by itself
    } else {
      t.join();
    }
  }
}

}  // namespace mp::internal
