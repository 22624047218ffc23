#include "mp/internal/manager/manager_core.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <map>
#include <span>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "mp/internal/base/snapshot.h"
#include "mp/internal/ipc/ring.h"
#include "mp/internal/launch/runtime.h"
#include "mp/process.h"

namespace mp::internal {

// The first message on every connection: a client on the same host offers
// two rings in shared memory (requests, replies), and the conversation moves
// there (a futex handoff instead of two socket wakeups); the socket then
// carries only messages too large for a ring, and tells each side when the
// other has gone. A client over TCP offers none and stays on the socket.
struct ChannelOffer {
  std::shared_ptr<Ring> requests;
  std::shared_ptr<Ring> replies;
};

}  // namespace mp::internal

namespace mp {
template <>
struct Codec<internal::ChannelOffer> {
  static void encode(Writer& w, const internal::ChannelOffer& offer) {
    w.write_pod<uint8_t>(offer.requests != nullptr);
    if (offer.requests) {
      w.write_pod(w.add_fd(offer.requests->fd()));
      w.write_pod(w.add_fd(offer.replies->fd()));
    }
  }
  static internal::ChannelOffer decode(Reader& r) {
    internal::ChannelOffer offer;
    if (r.read_pod<uint8_t>() != 0) {
      offer.requests =
          internal::Ring::attach(r.take_fd(r.read_pod<uint32_t>()), internal::Sharing::kProcesses);
      offer.replies =
          internal::Ring::attach(r.take_fd(r.read_pod<uint32_t>()), internal::Sharing::kProcesses);
    }
    return offer;
  }
};
}  // namespace mp

namespace mp::internal {
namespace {

// A channel's rings are small (the pages of each stay resident); a message
// larger than kChannelLimit goes by the socket, announced by an empty record.
constexpr uint64_t kChannelCapacity = 64 * 1024;
constexpr size_t kChannelLimit = 32 * 1024;
// How often a side waiting on a ring checks that the other is still there.
constexpr auto kLivenessCheck = std::chrono::milliseconds(100);

// The peer of a connected socket has closed it (and nothing is left to read).
bool peer_gone(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// Sends one message on the channel (or, if large, by the socket).
void channel_send(Ring& ring, Connection& socket, std::string_view message) {
  if (message.size() <= kChannelLimit) {
    ring.put(bytes_of(message), std::nullopt);
  } else {
    ring.put({}, std::nullopt);
    socket.send_bytes(message);
  }
}

// Receives one message from the channel; nullopt if the peer left.
std::optional<std::string> channel_recv(Ring& ring, Connection& socket) {
  std::string message;
  while (!ring.get_into(message, deadline_after(kLivenessCheck))) {
    if (peer_gone(socket.fileno())) return std::nullopt;
  }
  if (message.empty()) message = socket.recv_bytes();
  return message;
}

// Links, interned by address and key: a key's link lives as long as the
// process (it is a few strings), so a table is published only for a key not
// seen before, never again for one whose proxies have all gone. Each link has
// a slot in the per-thread cache and an epoch that forget_connections()
// advances. A snapshot (see snapshot.h): a fork child interns links whatever
// the parent's threads were doing.
struct LinkTable {
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const ManagerLink>> entries;
};
constinit Snapshots<LinkTable> g_links;

std::string address_key(const Address& address) {
  if (const auto* path = std::get_if<std::string>(&address)) {
    std::string shown = *path;
    if (!shown.empty() && shown[0] == '\0') shown[0] = '@';  // an abstract name, as ss(8) shows it
    return "unix:" + shown;
  }
  const auto& tcp = std::get<TcpAddress>(address);
  return "tcp:" + tcp.host + ":" + std::to_string(tcp.port);
}

// A fork child must not talk on its parent's connections: they are the
// parent's conversations with the server.
std::atomic<uint64_t> fork_generation{0};
[[maybe_unused]] const bool atfork_registered = [] {
  ::pthread_atfork(nullptr, nullptr,
                   [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
  return true;
}();

struct CachedConnection {
  std::optional<Connection> connection;
  ChannelOffer channel;  // empty over TCP
  uint64_t generation = 0;
  uint64_t epoch = 0;
};

thread_local std::vector<CachedConnection> connection_cache;

CachedConnection& connection_for(const ManagerLink& link) {
  if (connection_cache.size() <= link.slot) connection_cache.resize(link.slot + 1);
  CachedConnection& entry = connection_cache[link.slot];
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  const uint64_t epoch = link.epoch.load(std::memory_order_acquire);
  if (entry.connection && (entry.generation != generation || entry.epoch != epoch)) {
    entry = CachedConnection();
  }
  if (!entry.connection) {
    Connection c = Client(link.address, {.authkey = link.authkey});
    ChannelOffer offer;
    if (std::holds_alternative<std::string>(link.address)) {
      offer.requests = Ring::create(0, kChannelCapacity, Sharing::kProcesses);
      offer.replies = Ring::create(0, kChannelCapacity, Sharing::kProcesses);
    }
    c.send(offer);
    entry.connection = std::move(c);
    entry.channel = std::move(offer);
    entry.generation = generation;
    entry.epoch = epoch;
  }
  return entry;
}

void drop_connection(const ManagerLink& link) {
  if (connection_cache.size() > link.slot) connection_cache[link.slot] = CachedConnection();
}

[[noreturn]] void server_gone(const ManagerLink& link, const char* why) {
  drop_connection(link);
  throw EOFError("the manager server at " + address_key(link.address) + " " + why +
                 " (it has shut down or died)");
}

}  // namespace

std::string readable_signature(std::string_view signature) {
  // "R(A,B)" of mangled names -> "R(A, B)" of readable ones.
  std::string out;
  std::string name;
  auto flush = [&] {
    if (!name.empty()) out += demangle(name.c_str());
    name.clear();
  };
  for (char c : signature) {
    if (c == '(' || c == ')' || c == ',') {
      flush();
      out += c;
      if (c == ',') out += ' ';
    } else {
      name += c;
    }
  }
  flush();
  return out;
}

void throw_signature_mismatch(std::string_view what, std::string_view expected,
                              std::string_view got) {
  throw TypeError(std::string(what) + " takes " + readable_signature(expected) + ", called as " +
                  readable_signature(got));
}

std::shared_ptr<const ManagerLink> ManagerLink::get(const Address& address,
                                                    const std::string& authkey) {
  auto key = std::make_pair(address_key(address), authkey);
  for (;;) {
    const LinkTable* table = g_links.current();
    if (table) {
      if (auto it = table->entries.find(key); it != table->entries.end()) return it->second;
    }
    auto link = std::make_shared<ManagerLink>();
    link->address = address;
    link->authkey = authkey;
    link->slot = table ? table->entries.size() : 0;
    LinkTable next = table ? *table : LinkTable();
    next.entries[key] = link;
    if (g_links.replace(table, std::move(next))) return link;
  }
}

void begin_request(Writer& w, ManagerOp op, uint64_t id, std::string_view name,
                   std::string_view signature) {
  w.write_pod(op);
  w.write_pod(id);
  put_size(w, name.size());
  w.write(name.data(), name.size());
  put_size(w, signature.size());
  w.write(signature.data(), signature.size());
}

std::string transact(const ManagerLink& link, const Writer& request) {
  if (!request.fds().empty()) {
    throw PicklingError(
        "a manager call cannot carry descriptors (Connection, Lock, Queue...): store proxies "
        "instead");
  }
  std::string reply;
  try {
    // Connecting is inside: a server that dies during the handshake has
    // gone away like one that dies during a call.
    CachedConnection& entry = connection_for(link);
    Connection& connection = *entry.connection;
    if (entry.channel.requests) {
      channel_send(*entry.channel.requests, connection, request.bytes());
      auto answer = channel_recv(*entry.channel.replies, connection);
      if (!answer) server_gone(link, "went away");
      reply = std::move(*answer);
    } else {
      connection.send_bytes(request.bytes());
      reply = connection.recv_bytes();
    }
  } catch (const EOFError&) {
    server_gone(link, "closed the connection");
  } catch (const std::system_error& e) {
    const int code = e.code().value();
    if (code == EPIPE || code == ECONNRESET || code == EPROTO)
      server_gone(link, "dropped the connection");
    throw;
  }
  if (reply.empty()) throw PicklingError("empty reply from the manager server");
  if (reply[0] != 0) {
    Reader r(std::string_view(reply).substr(1));
    std::rethrow_exception(decode_exception(r));
  }
  return reply;
}

void send_hello(Connection& connection) { connection.send(ChannelOffer{}); }

void forget_connections(const ManagerLink& link) {
  drop_connection(link);
  link.epoch.fetch_add(1, std::memory_order_release);
}

// Registry -----------------------------------------------------------------------------

namespace {
// Type name -> factory; a snapshot (see snapshot.h), like the link table.
using Registry = std::map<std::string, ServantFactory>;
constinit Snapshots<Registry> g_registry;
}  // namespace

void register_servant(const std::string& name, ServantFactory factory) {
  g_registry.update([&](Registry& r) { r[name] = factory; });
}

ServantFactory find_servant(const std::string& name) {
  const Registry* r = g_registry.current();
  if (r == nullptr) return nullptr;
  auto it = r->find(name);
  return it == r->end() ? nullptr : it->second;
}

std::vector<std::pair<std::string, ServantFactory>> registered_servants() {
  const Registry* r = g_registry.current();
  if (r == nullptr) return {};
  return {r->begin(), r->end()};
}

// The server ---------------------------------------------------------------------------

struct ManagerServer::State {
  State(Listener l, std::string key) : listener(std::move(l)), authkey(std::move(key)) {}
  Listener listener;
  std::string authkey;
  std::mutex mutex;
  std::unordered_map<uint64_t, std::unique_ptr<Servant>> objects;
  uint64_t next_id = 1;
};

ManagerServer::ManagerServer(const std::optional<Address>& address, std::string authkey)
    // No authkey on the listener: each connection's thread runs the handshake,
    // so a slow or hostile client cannot hold up accept().
    : state_(std::make_shared<State>(address ? Listener(*address, {.backlog = 128})
                                             : Listener(ListenerOptions{.backlog = 128}),
                                     std::move(authkey))) {}

ManagerServer::~ManagerServer() = default;

Address ManagerServer::address() const { return state_->listener.address(); }

Servant& ManagerServer::find(uint64_t id) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->objects.find(id);
  if (it == state_->objects.end())
    throw KeyError("the manager has no object with id " + std::to_string(id));
  return *it->second;  // never removed while the server runs
}

std::string ManagerServer::handle(std::string_view request) {
  Writer out;
  out.write_pod<uint8_t>(0);
  bool shutdown = false;
  try {
    Reader r(request);
    auto op = r.read_pod<ManagerOp>();
    auto id = r.read_pod<uint64_t>();
    auto name = r.read_view(get_size(r));
    auto signature = r.read_view(get_size(r));
    switch (op) {
      case ManagerOp::kCall:
        find(id).call(name, signature, r, out);
        break;
      case ManagerOp::kCreate: {
        ServantFactory factory = find_servant(std::string(name));
        if (factory == nullptr) {
          throw KeyError("the manager has no type registered as '" + std::string(name) + "'");
        }
        auto servant = factory(*this, signature, r);
        std::lock_guard lock(state_->mutex);
        uint64_t new_id = state_->next_id++;
        state_->objects.emplace(new_id, std::move(servant));
        out.write_pod(new_id);
        break;
      }
      case ManagerOp::kShutdown:
        shutdown = true;
        break;
      case ManagerOp::kPing:
        break;
      default:
        throw ValueError("unknown manager request " + std::to_string(static_cast<int>(op)));
    }
    if (!out.fds().empty()) throw PicklingError("a manager reply cannot carry descriptors");
  } catch (...) {
    out.clear();
    out.write_pod<uint8_t>(1);
    encode_exception(out, std::current_exception());
  }
  if (shutdown) out.bytes()[0] = 2;  // seen by serve_connection only
  return std::move(out.bytes());
}

void ManagerServer::serve_connection(Connection connection) {
  ChannelOffer channel;
  try {
    deliver_challenge(connection, state_->authkey);
    answer_challenge(connection, state_->authkey);
    channel = connection.recv<ChannelOffer>();
  } catch (...) {
    return;  // a wrong key, a peer that left, or no offer: only this connection ends
  }
  try {
    for (;;) {
      std::optional<std::string> request;
      if (channel.requests) {
        request = channel_recv(*channel.requests, connection);
        if (!request) return;
      } else {
        request = connection.recv_bytes();
      }
      std::string reply = handle(*request);
      const bool shutdown = reply[0] == 2;
      if (shutdown) reply[0] = 0;
      if (channel.replies) {
        channel_send(*channel.replies, connection, reply);
      } else {
        connection.send_bytes(reply);
      }
      if (shutdown) {
        std::fflush(nullptr);
        ::_exit(0);
      }
    }
  } catch (...) {
    // The client went away (EOFError) or sent garbage framing: drop it.
  }
}

void ManagerServer::serve_forever() {
  auto state = state_;
  for (;;) {
    Connection connection;
    try {
      connection = state->listener.accept();
    } catch (const std::system_error& e) {
      if (e.code().value() == EINTR || e.code().value() == ECONNABORTED) continue;
      std::fflush(nullptr);
      ::_exit(1);
    } catch (...) {
      continue;
    }
    // The thread keeps the state alive; it ends when its client leaves.
    std::thread([this, state, c = std::move(connection)]() mutable {
      serve_connection(std::move(c));
    }).detach();
  }
}

void run_manager_server(Connection ready, ServerConfig config, const std::function<void()>& init) {
  // A Ctrl-C meant for the program must not take its server down first
  // (Python's servers ignore SIGINT too, bpo-36368); shutdown() stops it.
  ::signal(SIGINT, SIG_IGN);
  {
    // The server may start processes (the workers of the Pools it hosts), as
    // Python's server, which is not daemonic, may. It still dies with its
    // parent: the watch its start set up runs on.
    std::lock_guard lock(self_mutex());
    self().daemon = false;
  }
  std::optional<ManagerServer> server;
  std::string error;
  try {
    for (const auto& [name, where] : config.types) {
      register_servant(name,
                       reinterpret_cast<ServantFactory>(const_cast<void*>(resolve_code(where))));
    }
    if (init) init();
    server.emplace(config.address, config.authkey);
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "the manager server failed to start";
  }
  try {
    ready.send(
        std::make_pair(error, server ? std::optional<Address>(server->address()) : std::nullopt));
    ready.close();
  } catch (...) {
    ::_exit(1);
  }
  if (!server) ::_exit(1);
  server->serve_forever();
}

}  // namespace mp::internal
