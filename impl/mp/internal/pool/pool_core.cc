#include "mp/internal/pool/pool_core.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iterator>
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
  w.write_pod(w.add_fd(l.arena->fd()));
  w.write_pod<uint64_t>(l.arena->size());
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
  auto arena_fd = r.take_fd(r.read_pod<uint32_t>());
  l.arena = internal::Segment::attach(std::move(arena_fd), r.read_pod<uint64_t>());
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

}  // namespace

// The worker ------------------------------------------------------------------------------

namespace {
thread_local const WorkerLink* t_worker_link = nullptr;
}  // namespace

const WorkerLink* current_worker_link() noexcept { return t_worker_link; }

void pool_worker_main(WorkerLink link) {
  t_worker_link = &link;
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
    auto publish = [&] { link.results->put(bytes_of(out.bytes()), std::nullopt); };
    try {
      Reader in(std::string_view(task).substr(sizeof(h)));
      auto runner =
          reinterpret_cast<ChunkRunner>(const_cast<void*>(resolve(mp::decode<CodeLocation>(in))));
      const void* fn = resolve(mp::decode<CodeLocation>(in));
      if (h.flags & kInArena) {
        const auto room = in.read_pod<ArenaRoom>();
        if (room.args + room.args_size > room.results || room.end() > link.arena->size() ||
            room.end() < room.results) {
          throw PicklingError("a chunk's room lies outside the pool's arena");
        }
        char* arena = static_cast<char*>(link.arena->data());
        Reader args(std::string_view(arena + room.args, room.args_size));
        runner(fn, args, out, std::span<char>(arena + room.results, room.results_size));
      } else {
        runner(fn, in, out, {});
      }
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
  if (config_.task_timeout && config_.sharing == Sharing::kThreads) {
    throw ValueError("task_timeout needs worker processes: a thread cannot be killed");
  }
  tasks_ = Ring::create(0, Ring::kDefaultCapacity, config_.sharing);
  results_ = Ring::create(0, Ring::kDefaultCapacity, config_.sharing);
  const auto n = static_cast<uint32_t>(config_.processes);
  segment_ = Segment::create(PoolShared::bytes(n), "mp-pool");
  shared_ = new (segment_->data()) PoolShared();
  shared_->slots = n;
  for (uint32_t i = 1; i < n; ++i) new (&shared_->slot[i]) PoolSlot();
  arena_ = Segment::create(kArenaCapacity, "mp-pool-arena");
  wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) throw std::system_error(errno, std::generic_category(), "eventfd");
  workers_.resize(n);
  timed_out_.assign(n, 0);
  try {
    const uint32_t initial = config_.on_demand ? 0 : n;
    for (uint32_t i = 0; i < initial; ++i) start_worker(i);
    started_.store(initial, std::memory_order_release);
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
  WorkerLink link{tasks_, results_, segment_, arena_, index, config_.maxtasksperchild};
  if (config_.initializer) {
    link.init = config_.initializer;
    link.init_call = config_.initializer->target.call;
  }
  PoolSlot& s = slot(index);
  s.task.store(0);
  s.stopped.store(0);
  Worker& w = workers_[index];
  if (config_.sharing == Sharing::kThreads) {
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

Writer& PoolCore::begin_task(uint64_t job, uint32_t chunk, uint32_t flags,
                             const std::string& prefix) {
  thread_local Writer w;
  w.clear();
  w.write_pod(TaskHeader{0, job, chunk, flags});
  w.write(prefix.data(), prefix.size());
  return w;
}

void PoolCore::submit(uint64_t job, uint32_t chunk, const std::string& prefix,
                      const std::function<void(Writer&)>& encode) {
  Writer& w = begin_task(job, chunk, 0, prefix);
  encode(w);
  if (!w.fds().empty()) {
    throw PicklingError(
        "a pool task cannot carry handles (Lock, Queue, Connection...): pass them to the "
        "initializer");
  }
  put_task(job, chunk, w);
}

bool PoolCore::submit_in_arena(uint64_t job, uint32_t chunk, const std::string& prefix,
                               size_t args_size, size_t results_size,
                               const std::function<void(char*)>& fill) {
  constexpr uint64_t kAlign = 64;
  const uint64_t args_room = (args_size + kAlign - 1) / kAlign * kAlign;
  std::optional<uint64_t> at;
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kTerminate) throw ValueError("Pool not running");
    at = arena_space_.allocate(args_room + results_size);
  }
  if (!at) return false;
  const ArenaRoom room{*at, args_size, *at + args_room, results_size};
  try {
    fill(static_cast<char*>(arena_->data()) + room.args);
    Writer& w = begin_task(job, chunk, kInArena, prefix);
    w.write_pod(room);
    put_task(job, chunk, w, room);
  } catch (...) {
    std::lock_guard lock(mu_);
    release_room(room);
    throw;
  }
  return true;
}

void PoolCore::release_room(const ArenaRoom& room) {
  if (room.results_size == 0) return;
  arena_space_.release(room.args, room.end() - room.args);
  if (arena_space_.empty()) {
    // After a burst beyond the pages kept warm, give the rest back.
    const uint64_t high = arena_space_.take_high_water();
    if (high > kArenaKept) {
      ::fallocate(arena_->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(kArenaKept), static_cast<off_t>(high - kArenaKept));
    }
  }
}

void PoolCore::put_task(uint64_t job, uint32_t chunk, Writer& w, const ArenaRoom& room) {
  std::lock_guard order(submit_mu_);
  const uint64_t seq = next_seq_++;
  std::memcpy(w.bytes().data(), &seq, sizeof(seq));
  {
    std::lock_guard lock(mu_);
    if (state_ == State::kTerminate) throw ValueError("Pool not running");
    outstanding_.emplace(seq, Outstanding{job, chunk, room});
  }
  tasks_->put(bytes_of(w.bytes()), std::nullopt);
}

std::optional<uint64_t> ArenaSpace::allocate(uint64_t size) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < size) continue;
    const uint64_t at = it->first, left = it->second - size;
    free_.erase(it);
    if (left > 0) free_.emplace(at + size, left);
    high_water_ = std::max(high_water_, at + size);
    return at;
  }
  return std::nullopt;
}

void ArenaSpace::release(uint64_t offset, uint64_t size) {
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      prev->second += size;
      return;
    }
  }
  free_.emplace_hint(next, offset, size);
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
    results_->get_into(buffer, std::nullopt);
    ResultHeader h;
    std::memcpy(&h, buffer.data(), sizeof(h));
    if (h.job == 0) return;
    std::shared_ptr<PoolJob> job;
    ArenaRoom room;
    {
      std::lock_guard lock(mu_);
      if (auto it = outstanding_.find(h.seq); it != outstanding_.end()) {
        room = it->second.room;
        outstanding_.erase(it);
        auto j = jobs_.find(h.job);
        if (j != jobs_.end()) job = j->second;
      }
    }
    bool finished = false;
    if (job) {
      // An answered chunk with room in the arena left its results there.
      Reader r(h.ok && room.results_size
                   ? std::string_view(static_cast<const char*>(arena_->data()) + room.results,
                                      room.results_size)
                   : std::string_view(buffer).substr(sizeof(h)));
      try {
        finished = h.ok ? job->deliver(h.chunk, r) : job->fail(h.chunk, decode_exception(r));
      } catch (...) {  // a result that does not decode, or a throwing callback
        finished = job->fail(h.chunk, std::current_exception());
      }
    }
    std::lock_guard lock(mu_);
    release_room(room);
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
  if (!Ring::reached(tasks_->records_consumed(), seq + 1)) return;
  // (2) Held by a live worker.
  for (uint32_t j = 0; j < shared_->slots; ++j) {
    if (j != index && slot(j).task.load(std::memory_order_seq_cst) == seq + 1) return;
  }
  // (3) Answered: wait until every result published so far has been handled.
  const uint32_t published = results_->records_published();
  std::shared_ptr<PoolJob> job;
  Outstanding what{};
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return Ring::reached(static_cast<uint32_t>(dispatched_), published) ||
             state_ == State::kTerminate;
    });
    auto it = outstanding_.find(seq);
    if (it == outstanding_.end()) return;
    what = it->second;
    outstanding_.erase(it);
    release_room(what.room);  // its worker is gone: nobody writes there any more
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
  int code = 0;
  if (w.process) {
    w.process->join();
    code = w.process->exitcode().value_or(0);
    how = code < 0 ? "it was killed by signal " + std::to_string(-code)
                   : "it exited with code " + std::to_string(code);
  }
  {
    std::lock_guard lock(mu_);
    w.alive = false;
  }
  const uint64_t held = s.task.load(std::memory_order_seq_cst);
  const bool stopped = s.stopped.load() != 0;
  if (config_.on_worker_death && w.process && (held != 0 || code != 0) &&
      config_.on_worker_death(WorkerDeath{index, code, held != 0, how})) {
    timed_out_[index] = 0;
    return;
  }
  if (held != 0) {
    std::exception_ptr why;
    if (timed_out_[index] == held) {
      why = std::make_exception_ptr(
          TimeoutError("the task ran longer than task_timeout; its worker was killed"));
    } else {
      why = std::make_exception_ptr(
          WorkerLostError("the pool worker running this task died: " + how));
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
    const uint32_t started = started_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < started; ++i) {
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
  wake_handler();  // with no worker started (on demand), nothing else would
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
      if (was_running || config_.sharing == Sharing::kThreads) put_stops();
    }
  }
  wake_handler();
  if (handler_thread_.joinable()) handler_thread_.join();
  for (auto& w : workers_) {
    if (w.process && w.alive) w.process->terminate();
  }
  auto error =
      std::make_exception_ptr(RuntimeError("the pool was terminated before this task finished"));
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
      std::lock_guard lock(mu_);  // worker_pids() reads it from other threads
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

bool PoolCore::start_worker_on_demand() {
  std::lock_guard one(start_mu_);
  const uint32_t index = started_.load(std::memory_order_relaxed);
  if (index >= workers_.size() || !running()) return false;
  start_worker(index);
  started_.store(index + 1, std::memory_order_release);
  wake_handler();  // it watches the new worker from its next round
  return true;
}

void PoolCore::signal_workers(bool kill) {
  std::lock_guard lock(mu_);
  for (auto& w : workers_) {
    if (!w.process || !w.alive) continue;
    if (kill) {
      w.process->kill();
    } else {
      w.process->terminate();
    }
  }
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
