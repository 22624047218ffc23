#include "mp/internal/pool_core.h"

#include <cxxabi.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <new>
#include <stdexcept>
#include <system_error>
#include <typeinfo>

#include "mp/errors.h"

namespace mp {

void Codec<internal::WorkerLink>::encode(Writer& w, const internal::WorkerLink& l) {
  w.write_pod(w.add_fd(l.tasks->fd()));
  w.write_pod(w.add_fd(l.results->fd()));
  w.write_pod(w.add_fd(l.shared->fd()));
  w.write_pod<uint64_t>(l.shared->size());
  w.write_pod(l.index);
  w.write_pod(l.maxtasks);
  w.write_pod<bool>(l.init != nullptr);
  if (l.init) {
    if (!l.init->binder) throw PicklingError(l.init->target.not_transferable);
    mp::encode(w, internal::locate_code(reinterpret_cast<const void*>(l.init->binder)));
    mp::encode(w, internal::locate_code(l.init->target.function));
    l.init->target.encode(w);
  }
}

internal::WorkerLink Codec<internal::WorkerLink>::decode(Reader& r) {
  using internal::Ring;
  using internal::Sharing;
  internal::WorkerLink l;
  l.tasks = Ring::attach(r.take_fd(r.read_pod<uint32_t>()), Sharing::kProcesses);
  l.results = Ring::attach(r.take_fd(r.read_pod<uint32_t>()), Sharing::kProcesses);
  auto fd = r.take_fd(r.read_pod<uint32_t>());
  l.shared = internal::Segment::attach(std::move(fd), r.read_pod<uint64_t>());
  l.index = r.read_pod<uint32_t>();
  l.maxtasks = r.read_pod<int64_t>();
  if (r.read_pod<bool>()) {
    auto binder = reinterpret_cast<internal::InitBinder>(
        const_cast<void*>(internal::resolve_code(mp::decode<internal::CodeLocation>(r))));
    const void* fn = internal::resolve_code(mp::decode<internal::CodeLocation>(r));
    l.init_call = binder(fn, r);
  }
  return l;
}

}  // namespace mp

namespace mp::internal {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Exceptions ------------------------------------------------------------------------------

enum class ExcKind : uint8_t {
  kUnknown,
  kStdException, kLogicError, kInvalidArgument, kDomainError, kLengthError, kOutOfRange,
  kRuntimeError, kRangeError, kOverflowError, kUnderflowError, kBadAlloc, kSystemError,
  kMpError, kValueError, kAssertionError, kMpRuntimeError, kKeyError, kIndexError, kTypeError,
  kEOFError, kEmpty, kFull, kProcessError, kAuthenticationError, kTimeoutError,
  kBrokenBarrierError, kPicklingError, kRemoteError, kWorkerLostError,
};

template <class E>
bool is(const std::exception& e) {
  return typeid(e) == typeid(E);
}

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && out ? out : name;
  std::free(out);
  return s;
}

ExcKind kind_of(const std::exception& e) {
  // Exact types only: a user's subclass of std::runtime_error is not a
  // std::runtime_error on the other side, it is a RemoteError naming it.
  if (is<std::exception>(e)) return ExcKind::kStdException;
  if (is<std::logic_error>(e)) return ExcKind::kLogicError;
  if (is<std::invalid_argument>(e)) return ExcKind::kInvalidArgument;
  if (is<std::domain_error>(e)) return ExcKind::kDomainError;
  if (is<std::length_error>(e)) return ExcKind::kLengthError;
  if (is<std::out_of_range>(e)) return ExcKind::kOutOfRange;
  if (is<std::runtime_error>(e)) return ExcKind::kRuntimeError;
  if (is<std::range_error>(e)) return ExcKind::kRangeError;
  if (is<std::overflow_error>(e)) return ExcKind::kOverflowError;
  if (is<std::underflow_error>(e)) return ExcKind::kUnderflowError;
  if (is<std::bad_alloc>(e)) return ExcKind::kBadAlloc;
  if (is<std::system_error>(e)) return ExcKind::kSystemError;
  if (is<Error>(e)) return ExcKind::kMpError;
  if (is<ValueError>(e)) return ExcKind::kValueError;
  if (is<AssertionError>(e)) return ExcKind::kAssertionError;
  if (is<RuntimeError>(e)) return ExcKind::kMpRuntimeError;
  if (is<KeyError>(e)) return ExcKind::kKeyError;
  if (is<IndexError>(e)) return ExcKind::kIndexError;
  if (is<TypeError>(e)) return ExcKind::kTypeError;
  if (is<EOFError>(e)) return ExcKind::kEOFError;
  if (is<Empty>(e)) return ExcKind::kEmpty;
  if (is<Full>(e)) return ExcKind::kFull;
  if (is<ProcessError>(e)) return ExcKind::kProcessError;
  if (is<AuthenticationError>(e)) return ExcKind::kAuthenticationError;
  if (is<TimeoutError>(e)) return ExcKind::kTimeoutError;
  if (is<BrokenBarrierError>(e)) return ExcKind::kBrokenBarrierError;
  if (is<PicklingError>(e)) return ExcKind::kPicklingError;
  if (is<RemoteError>(e)) return ExcKind::kRemoteError;
  if (is<WorkerLostError>(e)) return ExcKind::kWorkerLostError;
  return ExcKind::kUnknown;
}

std::string where_here() {
  return "Process " + current_process().name() + " (pid " + std::to_string(::getpid()) + ")";
}

}  // namespace

void encode_exception(Writer& w, std::exception_ptr e) {
  ExcKind kind = ExcKind::kUnknown;
  std::string type = "unknown exception", message;
  int code = 0;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& x) {
    kind = kind_of(x);
    type = demangle(typeid(x).name());
    message = x.what();
    code = x.code().category() == std::generic_category() ||
                   x.code().category() == std::system_category()
               ? x.code().value()
               : 0;
  } catch (const RemoteError& x) {
    kind = kind_of(x);
    type = kind == ExcKind::kRemoteError ? x.type_name() : demangle(typeid(x).name());
    message = kind == ExcKind::kRemoteError ? x.message() : x.what();
  } catch (const std::exception& x) {
    kind = kind_of(x);
    type = demangle(typeid(x).name());
    message = x.what();
  } catch (...) {
  }
  w.write_pod(kind);
  w.write_pod(code);
  mp::encode(w, type);
  mp::encode(w, message);
  mp::encode(w, where_here());
}

std::exception_ptr decode_exception(Reader& r) {
  auto kind = r.read_pod<ExcKind>();
  int code = r.read_pod<int>();
  auto type = mp::decode<std::string>(r);
  auto m = mp::decode<std::string>(r);
  auto where = mp::decode<std::string>(r);
  switch (kind) {
    case ExcKind::kStdException: return std::make_exception_ptr(std::exception());
    case ExcKind::kLogicError: return std::make_exception_ptr(std::logic_error(m));
    case ExcKind::kInvalidArgument: return std::make_exception_ptr(std::invalid_argument(m));
    case ExcKind::kDomainError: return std::make_exception_ptr(std::domain_error(m));
    case ExcKind::kLengthError: return std::make_exception_ptr(std::length_error(m));
    case ExcKind::kOutOfRange: return std::make_exception_ptr(std::out_of_range(m));
    case ExcKind::kRuntimeError: return std::make_exception_ptr(std::runtime_error(m));
    case ExcKind::kRangeError: return std::make_exception_ptr(std::range_error(m));
    case ExcKind::kOverflowError: return std::make_exception_ptr(std::overflow_error(m));
    case ExcKind::kUnderflowError: return std::make_exception_ptr(std::underflow_error(m));
    case ExcKind::kBadAlloc: return std::make_exception_ptr(std::bad_alloc());
    case ExcKind::kSystemError: {
      // what() already holds the category's text after the caller's message.
      return std::make_exception_ptr(std::system_error(code, std::generic_category(), m));
    }
    case ExcKind::kMpError: return std::make_exception_ptr(Error(m));
    case ExcKind::kValueError: return std::make_exception_ptr(ValueError(m));
    case ExcKind::kAssertionError: return std::make_exception_ptr(AssertionError(m));
    case ExcKind::kMpRuntimeError: return std::make_exception_ptr(RuntimeError(m));
    case ExcKind::kKeyError: return std::make_exception_ptr(KeyError(m));
    case ExcKind::kIndexError: return std::make_exception_ptr(IndexError(m));
    case ExcKind::kTypeError: return std::make_exception_ptr(TypeError(m));
    case ExcKind::kEOFError: return std::make_exception_ptr(EOFError(m));
    case ExcKind::kEmpty: return std::make_exception_ptr(Empty(m));
    case ExcKind::kFull: return std::make_exception_ptr(Full(m));
    case ExcKind::kProcessError: return std::make_exception_ptr(ProcessError(m));
    case ExcKind::kAuthenticationError: return std::make_exception_ptr(AuthenticationError(m));
    case ExcKind::kTimeoutError: return std::make_exception_ptr(TimeoutError(m));
    case ExcKind::kBrokenBarrierError: return std::make_exception_ptr(BrokenBarrierError(m));
    case ExcKind::kPicklingError: return std::make_exception_ptr(PicklingError(m));
    case ExcKind::kRemoteError: return std::make_exception_ptr(RemoteError(type, m, where));
    case ExcKind::kWorkerLostError: return std::make_exception_ptr(WorkerLostError(m));
    case ExcKind::kUnknown: break;
  }
  return std::make_exception_ptr(RemoteError(type, m, where));
}

// The worker ------------------------------------------------------------------------------

void pool_worker_main(WorkerLink link) {
  auto* shared = static_cast<PoolShared*>(link.shared->data());
  PoolSlot& me = shared->slot[link.index];
  if (link.init_call) link.init_call();
  std::map<std::pair<std::string, uint64_t>, const void*> code;
  auto resolve = [&code](const CodeLocation& where) {
    auto key = std::make_pair(where.object, where.offset);
    auto it = code.find(key);
    if (it == code.end()) it = code.emplace(key, resolve_code(where)).first;
    return it->second;
  };
  std::string task;
  Writer out;
  int64_t done = 0;
  for (;;) {
    TaskHeader h;
    link.tasks->get(
        [&](std::span<const std::byte> bytes) {
          task.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          std::memcpy(&h, task.data(), sizeof(h));
          // Recorded while the consumer lock is held: see the header.
          me.started_ns.store(now_ns(), std::memory_order_relaxed);
          me.task.store(h.seq + 1, std::memory_order_seq_cst);
        },
        std::nullopt);
    if (h.job == 0 || shared->terminated.load(std::memory_order_acquire)) {
      me.stopped.store(h.job == 0 ? 1 : 0, std::memory_order_relaxed);
      me.task.store(0, std::memory_order_seq_cst);
      return;
    }
    ResultHeader rh{h.seq, h.job, h.chunk, 1};
    out.clear();
    out.write_pod(rh);
    // Called in a catch block: the chunk's answer becomes the exception.
    auto answer_with_exception = [&] {
      rh.ok = 0;
      out.clear();
      out.write_pod(rh);
      encode_exception(out, std::current_exception());
    };
    auto publish = [&] {
      link.results->put(std::as_bytes(std::span(out.bytes().data(), out.bytes().size())),
                        std::nullopt);
    };
    try {
      Reader in(std::string_view(task).substr(sizeof(h)));
      auto runner = reinterpret_cast<ChunkRunner>(const_cast<void*>(resolve(mp::decode<CodeLocation>(in))));
      const void* fn = resolve(mp::decode<CodeLocation>(in));
      runner(fn, in, out);
    } catch (...) {
      answer_with_exception();
    }
    try {
      publish();
    } catch (...) {  // e.g. a result larger than the ring
      answer_with_exception();
      publish();
    }
    me.task.store(0, std::memory_order_seq_cst);
    if (link.maxtasks > 0 && ++done >= link.maxtasks) return;
  }
}

// The owner's side --------------------------------------------------------------------------

PoolCore::PoolCore(PoolConfig config) : config_(std::move(config)) {
  if (config_.processes < 1) throw ValueError("Number of processes must be at least 1");
  if (config_.maxtasksperchild < 0) {
    throw ValueError("maxtasksperchild must be a positive int or None");
  }
  if (config_.task_timeout && config_.threads) {
    throw ValueError("task_timeout needs worker processes: a thread cannot be killed");
  }
  const Sharing sharing = config_.threads ? Sharing::kThreads : Sharing::kProcesses;
  tasks_ = Ring::create(0, Ring::kDefaultCapacity, sharing);
  results_ = Ring::create(0, Ring::kDefaultCapacity, sharing);
  const auto n = static_cast<uint32_t>(config_.processes);
  segment_ = Segment::create(PoolShared::bytes(n), "mp-pool");
  shared_ = new (segment_->data()) PoolShared();
  shared_->slots = n;
  for (uint32_t i = 1; i < n; ++i) new (&shared_->slot[i]) PoolSlot();
  wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
  workers_.resize(n);
  timed_out_.assign(n, 0);
  try {
    for (uint32_t i = 0; i < n; ++i) start_worker(i);
  } catch (...) {
    // Workers already started do not outlive the failure.
    shared_->terminated.store(1);
    for (auto& w : workers_) {
      if (w.process && w.alive) {
        w.process->kill();
        w.process->join();
      }
    }
    put_stops();
    for (auto& w : workers_) {
      if (w.thread.joinable()) w.thread.join();
    }
    throw;
  }
  result_thread_ = std::thread([this] { result_loop(); });
  handler_thread_ = std::thread([this] { handler_loop(); });
}

PoolCore::~PoolCore() {
  try {
    terminate();
    join();
  } catch (...) {
  }
}

void PoolCore::start_worker(uint32_t index) {
  WorkerLink link{tasks_, results_, segment_, index, config_.maxtasksperchild};
  if (config_.initializer) {
    link.init = config_.initializer;
    link.init_call = config_.initializer->target.call;
  }
  PoolSlot& s = slot(index);
  s.task.store(0);
  s.stopped.store(0);
  Worker& w = workers_[index];
  if (config_.threads) {
    if (w.thread.joinable()) w.thread.join();
    std::lock_guard lock(mu_);
    w.thread = std::thread([this, link, index] {
      try {
        pool_worker_main(link);
      } catch (...) {
      }
      std::lock_guard lock(mu_);
      ended_threads_.push_back(index);
      wake_handler();
    });
    w.alive = true;
    return;
  }
  ProcessOptions options{.name = "PoolWorker-" + std::to_string(index + 1), .daemon = true};
  Process p = config_.context ? Process(*config_.context, options, &pool_worker_main, link)
                              : Process(options, &pool_worker_main, link);
  p.start();
  std::lock_guard lock(mu_);
  w.process = std::move(p);
  w.alive = true;
}

uint64_t PoolCore::add_job(std::shared_ptr<PoolJob> job) {
  std::lock_guard lock(mu_);
  if (state_ != State::kRun) throw ValueError("Pool not running");
  uint64_t id = next_job_++;
  jobs_.emplace(id, std::move(job));
  return id;
}

void PoolCore::drop_job(uint64_t job) {
  std::lock_guard lock(mu_);
  jobs_.erase(job);
}

void PoolCore::submit(uint64_t job, uint32_t chunk, const std::string& prefix,
                      const std::function<void(Writer&)>& encode) {
  thread_local Writer w;
  w.clear();
  TaskHeader h{0, job, chunk, 0};
  w.write_pod(h);
  w.write(prefix.data(), prefix.size());
  encode(w);
  if (!w.fds().empty()) {
    throw PicklingError(
        "a pool task cannot carry handles (Lock, Queue, Connection...): pass them to the "
        "initializer");
  }
  put_task(job, chunk, w);
}

void PoolCore::put_task(uint64_t job, uint32_t chunk, Writer& w) {
  std::lock_guard order(submit_mu_);
  const uint64_t seq = next_seq_++;
  std::memcpy(w.bytes().data(), &seq, sizeof(seq));
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kTerminate) throw ValueError("Pool not running");
    outstanding_.emplace(seq, Outstanding{job, chunk});
  }
  tasks_->put(std::as_bytes(std::span(w.bytes().data(), w.bytes().size())), std::nullopt);
}

void PoolCore::put_stops() {
  for (size_t i = 0; i < workers_.size(); ++i) {
    TaskHeader stop{next_seq_++, 0, 0, 0};
    tasks_->put(std::as_bytes(std::span(&stop, 1)), std::nullopt);
  }
}

void PoolCore::result_loop() {
  std::string buffer;
  for (;;) {
    results_->get(
        [&](std::span<const std::byte> bytes) {
          buffer.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        },
        std::nullopt);
    ResultHeader h;
    std::memcpy(&h, buffer.data(), sizeof(h));
    if (h.job == 0) return;
    std::shared_ptr<PoolJob> job;
    {
      std::lock_guard lock(mu_);
      if (outstanding_.erase(h.seq)) {
        auto it = jobs_.find(h.job);
        if (it != jobs_.end()) job = it->second;
      }
    }
    bool finished = false;
    if (job) {
      Reader r(std::string_view(buffer).substr(sizeof(h)));
      try {
        finished = h.ok ? job->deliver(h.chunk, r) : job->fail(h.chunk, decode_exception(r));
      } catch (...) {  // a result that does not decode, or a throwing callback
        finished = job->fail(h.chunk, std::current_exception());
      }
    }
    std::lock_guard lock(mu_);
    if (finished) jobs_.erase(h.job);
    ++dispatched_;
    cv_.notify_all();
  }
}

void PoolCore::wake_handler() const {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
}

void PoolCore::lost_task(uint32_t index, uint64_t seq, std::exception_ptr why) {
  // (1) Still in the ring: the next worker takes it.
  if (tasks_->control().consumers.items.load(std::memory_order_acquire) <= seq) return;
  // (2) Held by a live worker.
  for (uint32_t j = 0; j < shared_->slots; ++j) {
    if (j != index && slot(j).task.load(std::memory_order_seq_cst) == seq + 1) return;
  }
  // (3) Answered: wait until every result published so far has been handled.
  const uint64_t published = results_->control().producers.items.load(std::memory_order_acquire);
  std::shared_ptr<PoolJob> job;
  Outstanding what{};
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return dispatched_ >= published || state_ == State::kTerminate; });
    auto it = outstanding_.find(seq);
    if (it == outstanding_.end()) return;
    what = it->second;
    outstanding_.erase(it);
    auto j = jobs_.find(what.job);
    if (j == jobs_.end()) return;
    job = j->second;
  }
  bool finished = job->fail(what.chunk, why);
  if (finished) {
    std::lock_guard lock(mu_);
    jobs_.erase(what.job);
  }
}

void PoolCore::worker_ended(uint32_t index) {
  Worker& w = workers_[index];
  PoolSlot& s = slot(index);
  std::string how = "it ended";
  if (w.process) {
    w.process->join();
    int code = w.process->exitcode().value_or(0);
    how = code < 0 ? "it was killed by signal " + std::to_string(-code)
                   : "it exited with code " + std::to_string(code);
  }
  {
    std::lock_guard lock(mu_);
    w.alive = false;
  }
  const uint64_t held = s.task.load(std::memory_order_seq_cst);
  const bool stopped = s.stopped.load() != 0;
  if (held != 0) {
    std::exception_ptr why;
    if (timed_out_[index] == held) {
      why = std::make_exception_ptr(TimeoutError(
          "the task ran longer than task_timeout; its worker was killed"));
    } else {
      why = std::make_exception_ptr(WorkerLostError(
          "the pool worker running this task died: " + how));
    }
    lost_task(index, held - 1, why);
  }
  timed_out_[index] = 0;
  State state;
  {
    std::lock_guard lock(mu_);
    state = state_;
  }
  if (state != State::kTerminate && !stopped) {
    try {
      start_worker(index);
    } catch (...) {
      // Could not replace it (out of processes): the others go on.
    }
  }
}

void PoolCore::handler_loop() {
  for (;;) {
    std::vector<int> fds{wake_.get()};
    std::vector<uint32_t> who{UINT32_MAX};
    Deadline deadline;
    State state;
    {
      std::lock_guard lock(mu_);
      state = state_;
    }
    if (state == State::kTerminate) return;
    bool any_alive = false;
    for (uint32_t i = 0; i < workers_.size(); ++i) {
      if (!workers_[i].alive) continue;
      any_alive = true;
      if (workers_[i].process) {
        fds.push_back(workers_[i].process->sentinel());
        who.push_back(i);
        if (config_.task_timeout) {
          uint64_t held = slot(i).task.load();
          if (held != 0 && timed_out_[i] != held) {
            auto ends = Clock::time_point(std::chrono::nanoseconds(slot(i).started_ns.load())) +
                        std::chrono::duration_cast<Clock::duration>(*config_.task_timeout);
            if (Clock::now() >= ends) {
              timed_out_[i] = held;
              workers_[i].process->kill();
            } else if (!deadline || ends < *deadline) {
              deadline = ends;
            }
          }
        }
      }
    }
    if (!any_alive && state == State::kClose) return;
    if (config_.task_timeout) {
      // A task taken after this look has its deadline checked within 10 ms.
      auto soon = Clock::now() + std::chrono::milliseconds(10);
      if (!deadline || soon < *deadline) deadline = soon;
    }
    auto ready = wait_readable(fds, deadline);
    for (int fd : ready) {
      if (fd == wake_.get()) {
        uint64_t v;
        [[maybe_unused]] auto n = ::read(wake_.get(), &v, sizeof(v));
        continue;
      }
      for (size_t k = 1; k < fds.size(); ++k) {
        if (fds[k] == fd) worker_ended(who[k]);
      }
    }
    std::vector<uint32_t> ended;
    {
      std::lock_guard lock(mu_);
      ended.swap(ended_threads_);
    }
    for (uint32_t i : ended) worker_ended(i);
  }
}

void PoolCore::close() {
  std::lock_guard order(submit_mu_);
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kRun) return;
    state_ = State::kClose;
  }
  // One stop record per worker slot, after every task: each slot's worker
  // leaves once the work is done.
  put_stops();
}

void PoolCore::terminate() {
  std::unordered_map<uint64_t, std::shared_ptr<PoolJob>> jobs;
  {
    std::lock_guard order(submit_mu_);
    {
      std::lock_guard lock(mu_);
      if (state_ == State::kTerminate) return;
      const bool was_running = state_ == State::kRun;
      state_ = State::kTerminate;
      jobs.swap(jobs_);
      outstanding_.clear();
      cv_.notify_all();
      shared_->terminated.store(1, std::memory_order_release);
      if (was_running || config_.threads) put_stops();
    }
  }
  wake_handler();
  if (handler_thread_.joinable()) handler_thread_.join();
  for (auto& w : workers_) {
    if (w.process && w.alive) w.process->terminate();
  }
  auto error = std::make_exception_ptr(
      RuntimeError("the pool was terminated before this task finished"));
  for (auto& [_, job] : jobs) job->fail_all(error);
}

void PoolCore::join() {
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kRun) throw ValueError("Pool is still running");
    if (joined_) return;
    joined_ = true;
  }
  if (handler_thread_.joinable()) handler_thread_.join();
  for (auto& w : workers_) {
    if (w.process) {
      w.process->join();
      w.alive = false;
    }
    if (w.thread.joinable()) w.thread.join();
  }
  // Threads that ended after the handler left are joined above; the result
  // thread is told to stop by a record of the owner's own.
  ResultHeader stop{0, 0, 0, 0};
  results_->put(std::as_bytes(std::span(&stop, 1)), std::nullopt);
  if (result_thread_.joinable()) result_thread_.join();
}

bool PoolCore::running() const {
  std::lock_guard lock(mu_);
  return state_ == State::kRun;
}

std::vector<pid_t> PoolCore::worker_pids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> pids;
  for (const auto& w : workers_) {
    if (w.process && w.alive) {
      if (auto pid = w.process->pid()) pids.push_back(*pid);
    }
  }
  return pids;
}

}  // namespace mp::internal
