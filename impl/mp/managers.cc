#include "mp/managers.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace mp {
namespace {

std::string default_authkey(const ManagerOptions& options) {
  return options.authkey ? *options.authkey : current_process().authkey();
}

// Sends one request on a connection of its own (not the thread's cached one).
std::string one_request(const internal::ManagerLink& link, internal::ManagerOp op,
                        std::chrono::milliseconds timeout) {
  Connection c = Client(link.address, {.authkey = link.authkey, .timeout = timeout});
  internal::send_hello(c);
  Writer w;
  internal::begin_request(w, op, 0, "", "");
  c.send_bytes(w.bytes());
  if (!c.poll(timeout)) throw TimeoutError("the manager server did not answer");
  std::string reply = c.recv_bytes();
  if (reply.empty() || reply[0] != 0) throw ProcessError("the manager server refused the request");
  return reply;
}

}  // namespace

BaseManager::BaseManager(const ManagerOptions& options) : BaseManager(get_context(), options) {}

BaseManager::BaseManager(Context& ctx, const ManagerOptions& options)
    : ctx_(&ctx), options_(options) {}

BaseManager::BaseManager(BaseManager&& other) noexcept
    : ctx_(other.ctx_),
      options_(std::move(other.options_)),
      state_(std::exchange(other.state_, State::kShutdown)),
      link_(std::move(other.link_)),
      process_(std::move(other.process_)) {
  other.process_.reset();
}

BaseManager& BaseManager::operator=(BaseManager&& other) noexcept {
  if (this != &other) {
    try {
      shutdown();
    } catch (...) {
    }
    ctx_ = other.ctx_;
    options_ = std::move(other.options_);
    state_ = std::exchange(other.state_, State::kShutdown);
    link_ = std::move(other.link_);
    process_ = std::move(other.process_);
    other.process_.reset();
  }
  return *this;
}

BaseManager::~BaseManager() {
  if (state_ != State::kStarted) return;
  try {
    shutdown();
  } catch (...) {
  }
}

void BaseManager::start() {
  start_with([](Context& ctx, const ProcessOptions& options, Connection ready,
                internal::ServerConfig config) {
    return Process(ctx, options, &internal::manager_server_main, std::move(ready),
                   std::move(config));
  });
}

void BaseManager::start_with(const Launcher& launch) {
  if (state_ == State::kStarted || state_ == State::kConnected)
    throw ProcessError("Already started server");
  if (state_ == State::kShutdown) throw ProcessError("the manager has been shut down");
  internal::ServerConfig config;
  config.address = options_.address;
  config.authkey = default_authkey(options_);
  for (const auto& [name, factory] : internal::registered_servants()) {
    config.types.emplace_back(name, internal::locate_code(reinterpret_cast<const void*>(factory)));
  }
  auto [reader, writer] = Pipe(false);
  static std::atomic<int> counter{0};
  Process server =
      launch(*ctx_, {.name = "SyncManager-" + std::to_string(++counter), .daemon = true},
             std::move(writer), std::move(config));
  server.start();
  std::pair<std::string, std::optional<Address>> answer;
  try {
    // The child holds the only writing end: EOF means it died first.
    answer = reader.recv<std::pair<std::string, std::optional<Address>>>();
  } catch (const EOFError&) {
    server.join();
    throw ProcessError("the manager server exited before it was ready");
  }
  if (!answer.first.empty() || !answer.second) {
    server.join();
    throw ProcessError("the manager server failed to start: " + answer.first);
  }
  link_ = internal::ManagerLink::get(*answer.second, default_authkey(options_));
  process_ = std::move(server);
  state_ = State::kStarted;
}

void BaseManager::connect() {
  if (state_ != State::kInitial) throw ProcessError("Already started server");
  if (!options_.address) throw ValueError("connect() needs ManagerOptions::address");
  auto link = internal::ManagerLink::get(*options_.address, default_authkey(options_));
  // Authenticates now, as Python's connect() does, and leaves the connection
  // in this thread's cache.
  Writer w;
  internal::begin_request(w, internal::ManagerOp::kPing, 0, "", "");
  internal::transact(*link, w);
  link_ = std::move(link);
  state_ = State::kConnected;
}

void BaseManager::shutdown() {
  if (state_ == State::kInitial || state_ == State::kShutdown) return;
  const bool ours = state_ == State::kStarted;
  state_ = State::kShutdown;
  internal::forget_connections(*link_);
  try {
    one_request(*link_, internal::ManagerOp::kShutdown, options_.shutdown_timeout);
  } catch (...) {
    if (!ours) throw;
  }
  if (!ours) return;
  process_->join(options_.shutdown_timeout);
  if (process_->is_alive()) {
    process_->terminate();
    process_->join(std::chrono::milliseconds(100));
  }
  if (process_->is_alive()) {
    process_->kill();
    process_->join();
  }
}

Server BaseManager::get_server() const {
  if (state_ != State::kInitial) throw ProcessError("Already started server");
  return Server(
      std::make_unique<internal::ManagerServer>(options_.address, default_authkey(options_)));
}

const std::shared_ptr<const internal::ManagerLink>& BaseManager::link() const {
  if (!link_) throw ValueError("the manager is not started or connected");
  if (state_ == State::kShutdown) throw ValueError("the manager has been shut down");
  return link_;
}

Address BaseManager::address() const {
  if (!link_) {
    if (options_.address) return *options_.address;
    throw ValueError("the manager is not started or connected");
  }
  return link_->address;
}

Process BaseManager::process() const {
  if (!process_) throw ValueError("this manager did not start a server process");
  return *process_;
}

uint64_t BaseManager::create_id(const std::string& type_name, const std::string& signature,
                                const std::function<void(Writer&)>& encode_args) {
  const auto& l = link();
  Writer w;
  internal::begin_request(w, internal::ManagerOp::kCreate, 0, type_name, signature);
  encode_args(w);
  std::string reply = internal::transact(*l, w);
  Reader r(std::string_view(reply).substr(1));
  return r.read_pod<uint64_t>();
}

// SharedMemoryManager ---------------------------------------------------------------

namespace internal {

// In the server: the segments it made for its clients. Each is created
// tracked, so the guardian removes the names if the server dies; release()
// unlinks them all.
struct SharedSegmentsObject {
  static std::string type_name() { return "SharedMemoryManager.segments"; }

  std::string create(uint64_t size) {
    mp::SharedMemory shm({.create = true, .size = static_cast<int64_t>(size)});
    shm.close();  // the server keeps the name, not a mapping
    names.push_back(shm.name());
    return shm.name();
  }
  void release() {
    for (const std::string& name : names) {
      try {
        mp::SharedMemory(name).unlink();
      } catch (const std::system_error&) {
        // Already unlinked by a client: nothing left to do.
      }
    }
    names.clear();
  }
  std::vector<std::string> list() const { return names; }

  static constexpr auto exposed() {
    return std::make_tuple(ExposedMethod{"create", &SharedSegmentsObject::create},
                           ExposedMethod{"release", &SharedSegmentsObject::release},
                           ExposedMethod{"list", &SharedSegmentsObject::list});
  }

  std::vector<std::string> names;
};

}  // namespace internal

SharedMemoryManager::~SharedMemoryManager() {
  try {
    shutdown();
  } catch (...) {
    // Destructors never throw; the server's end removes what is left.
  }
}

void SharedMemoryManager::start() {
  BaseManager::start();
  segments_ = create_builtin<BaseProxy, internal::SharedSegmentsObject>();
}

std::string SharedMemoryManager::create_segment(size_t size) {
  if (!segments_) throw ValueError("the SharedMemoryManager is not started");
  return segments_->call<std::string>("create", uint64_t{size});
}

mp::SharedMemory SharedMemoryManager::SharedMemory(int64_t size) {
  if (size <= 0) throw ValueError("'size' must be a positive number different from zero");
  return mp::SharedMemory(create_segment(static_cast<size_t>(size)));
}

mp::ShareableList SharedMemoryManager::ShareableList(
    std::initializer_list<mp::ShareableList::Item> items) {
  return ShareableList(std::vector<mp::ShareableList::Item>(items));
}

mp::ShareableList SharedMemoryManager::ShareableList(
    const std::vector<mp::ShareableList::Item>& items) {
  const std::string name = create_segment(mp::ShareableList::bytes_for(items));
  return mp::ShareableList(mp::SharedMemory(name), items);
}

void SharedMemoryManager::shutdown() {
  if (segments_) {
    std::optional<BaseProxy> segments = std::move(segments_);
    segments_.reset();
    try {
      segments->call("release");
    } catch (const std::exception&) {
      // The server is gone already: the guardian removes its names.
    }
  }
  BaseManager::shutdown();
}

// Pool ---------------------------------------------------------------------------------

PoolProxy SyncManager::Pool(const PoolOptions& options) {
  if (options.initializer) {
    throw ValueError(
        "a manager's Pool takes no initializer: its workers start in the manager's server");
  }
  auto wide = [](const std::optional<int>& v) {
    return v ? std::optional<int64_t>(*v) : std::optional<int64_t>();
  };
  std::optional<int64_t> timeout_ms;
  if (options.task_timeout) timeout_ms = options.task_timeout->count();
  auto made = create_builtin<BaseProxy, internal::PoolObject>(
      wide(options.processes), wide(options.maxtasksperchild), timeout_ms);
  return PoolProxy(made.link(), made.id(), true);
}

namespace internal {

struct PoolClient::Waiting {
  explicit Waiting(BaseProxy p) : pool(std::move(p)) {}
  void loop();

  const BaseProxy pool;
  std::mutex mu;
  uint64_t token = 0;
  int processes = 0;
  bool running = false;  // the thread is in loop()
  std::unique_ptr<std::thread> thread;
  std::map<uint64_t, Done> pending;
  // Outcomes that came before their job was watched.
  std::map<uint64_t, std::pair<std::vector<std::string>, std::exception_ptr>> early;
};

PoolClient::PoolClient(BaseProxy pool, bool owner)
    : pool_(pool), owner_(owner), pid_(::getpid()), w_(std::make_shared<Waiting>(pool)) {}

PoolClient::~PoolClient() {
  if (::getpid() != pid_) {
    // A copy of another process's memory (fork): its thread is not ours,
    // and its pool is not ours to end.
    (void)w_->thread.release();
    return;
  }
  // Every call may fail once the manager is gone: nothing is left to end then.
  if (owner_) {
    try {
      pool_.call("terminate");
      pool_.call("join");
    } catch (...) {
    }
  }
  std::unique_ptr<std::thread> thread;
  uint64_t token;
  {
    std::lock_guard lock(w_->mu);
    thread = std::move(w_->thread);
    token = w_->token;
  }
  if (token != 0) {
    try {
      pool_.call("forget", token);  // wakes the thread if it still waits
    } catch (...) {
    }
  }
  if (thread && thread->joinable()) {
    // A callback that dropped the last copy runs on the thread itself,
    // which holds what it needs.
    if (thread->get_id() == std::this_thread::get_id()) {
      thread->detach();
    } else {
      thread->join();
    }
  }
}

uint64_t PoolClient::token() {
  std::lock_guard lock(w_->mu);
  if (w_->token == 0) w_->token = pool_.call<uint64_t>("new_token");
  return w_->token;
}

int PoolClient::processes() {
  std::lock_guard lock(w_->mu);
  if (w_->processes == 0) w_->processes = static_cast<int>(pool_.call<int64_t>("processes"));
  return w_->processes;
}

void PoolClient::watch(uint64_t job, Done done) {
  std::unique_lock lock(w_->mu);
  if (auto it = w_->early.find(job); it != w_->early.end()) {
    auto [chunks, error] = std::move(it->second);
    w_->early.erase(it);
    lock.unlock();
    done(&chunks, error);
    return;
  }
  w_->pending.emplace(job, std::move(done));
  if (w_->running) return;
  // The previous thread has left loop() and takes no lock again: it ends at once.
  if (w_->thread && w_->thread->joinable()) w_->thread->join();
  w_->running = true;
  w_->thread = std::make_unique<std::thread>([w = w_] { w->loop(); });
}

void PoolClient::Waiting::loop() {
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (pending.empty()) {
        running = false;
        return;
      }
    }
    std::vector<PoolOutcome> outcomes;
    std::exception_ptr lost;
    try {
      outcomes = pool.call<std::vector<PoolOutcome>>("wait_done", token);
      if (outcomes.empty()) {
        lost = std::make_exception_ptr(
            RuntimeError("the pool proxy went away before this task finished"));
      }
    } catch (...) {
      lost = std::current_exception();  // the manager is gone (mp::EOFError...)
    }
    using Outcome = std::pair<std::vector<std::string>, std::exception_ptr>;
    std::vector<std::pair<Done, Outcome>> ready;
    {
      std::lock_guard lock(mu);
      if (lost) {
        for (auto& entry : pending) ready.emplace_back(std::move(entry.second), Outcome({}, lost));
        pending.clear();
      }
      for (auto& [job, chunks, error_bytes] : outcomes) {
        std::exception_ptr error;
        if (!error_bytes.empty()) {
          Reader r(error_bytes);
          error = decode_exception(r);
        }
        auto it = pending.find(job);
        if (it == pending.end()) {
          early.emplace(job, Outcome(std::move(chunks), error));
          continue;
        }
        ready.emplace_back(std::move(it->second), Outcome(std::move(chunks), error));
        pending.erase(it);
      }
    }
    // Python runs callbacks on the pool's result thread; here on this one.
    for (auto& [done, outcome] : ready) done(&outcome.first, outcome.second);
  }
}

}  // namespace internal

// The built-in types that are no templates, compiled once here rather than
// in every unit that includes managers.h (each instantiates the object's
// servant and its registration).
NamespaceProxy SyncManager::Namespace() {
  return create_builtin<NamespaceProxy, internal::NamespaceObject>();
}
LockProxy SyncManager::Lock() { return create_builtin<LockProxy, internal::LockObject>(); }
RLockProxy SyncManager::RLock() { return create_builtin<RLockProxy, internal::RLockObject>(); }
SemaphoreProxy SyncManager::Semaphore(int value) {
  return create_builtin<SemaphoreProxy, internal::SemaphoreObject<false>>(int64_t{value});
}
BoundedSemaphoreProxy SyncManager::BoundedSemaphore(int value) {
  return create_builtin<BoundedSemaphoreProxy, internal::SemaphoreObject<true>>(int64_t{value});
}
ConditionProxy SyncManager::Condition() {
  return create_builtin<ConditionProxy, internal::ConditionObject>(std::optional<uint64_t>());
}
ConditionProxy SyncManager::Condition(const LockProxy& lock) {
  return create_builtin<ConditionProxy, internal::ConditionObject>(
      std::optional<uint64_t>(lock.id()));
}
ConditionProxy SyncManager::Condition(const RLockProxy& lock) {
  return create_builtin<ConditionProxy, internal::ConditionObject>(
      std::optional<uint64_t>(lock.id()));
}
EventProxy SyncManager::Event() { return create_builtin<EventProxy, internal::EventObject>(); }
BarrierProxy SyncManager::Barrier(int parties) {
  return create_builtin<BarrierProxy, internal::BarrierObject>(int64_t{parties},
                                                               internal::WireTimeout());
}

}  // namespace mp
