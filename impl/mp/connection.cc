#include "mp/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <deque>

#include "mp/internal/ipc/auth.h"
#include "mp/internal/ipc/wire.h"

namespace mp {

namespace internal {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
// While a peer is not yet authenticated: enough for one handshake message.
constexpr size_t kHandshakeReadChunk = auth::kMaxHandshakeMessage + wire::kMaxHeaderSize;
constexpr size_t kMaxFdsPerMessage = 253;  // SCM_MAX_FD
}  // namespace

// What every copy of a Connection shares.
struct ConnectionState {
  UniqueFd fd;
  bool readable = false;
  bool writable = false;
  // Received bytes; the unread ones are [begin, end). Not a std::string: a
  // string zero-fills what it grows by, on every read.
  std::unique_ptr<char[]> buffer;
  size_t capacity = 0;
  size_t begin = 0;
  size_t end = 0;
  std::deque<UniqueFd> fds;  // descriptors received, in arrival order
  // How much one read asks for (small until a peer is authenticated).
  size_t read_chunk = kReadChunk;
  // Reads give up with mp::TimeoutError after this (handshakes only).
  Deadline deadline;

  size_t buffered() const noexcept { return end - begin; }
  void drop_buffer() noexcept {
    buffer.reset();
    capacity = begin = end = 0;
  }
};

// The state behind a Connection, for Listener and Client.
struct ConnectionAccess {
  static ConnectionState& state(Connection& c) { return *c.state_; }
};

namespace {

[[noreturn]] void throw_closed() { throw_errno(EBADF, "handle is closed"); }

// One recvmsg of at most `size` bytes into `data`; descriptors that arrive
// join the queue. 0 at end of file.
size_t receive(ConnectionState& s, void* data, size_t size) {
  if (s.deadline && !wait_fd(s.fd.get(), POLLIN, s.deadline)) {
    throw TimeoutError("timed out waiting for the peer");
  }
  std::vector<UniqueFd> got;
  size_t n = recv_with_fds(s.fd.get(), data, size, got);
  for (auto& f : got) s.fds.push_back(std::move(f));
  return n;
}

// Makes at least `need` (<= 12) unread bytes available; false if the stream
// ended first. Reads up to read_chunk at a time, so small messages arrive
// many per system call.
bool fill(ConnectionState& s, size_t need) {
  if (s.buffered() >= need) return true;
  if (s.begin > 0) {
    std::memmove(s.buffer.get(), s.buffer.get() + s.begin, s.buffered());
    s.end -= s.begin;
    s.begin = 0;
  }
  size_t want = std::max(s.read_chunk, need);
  if (s.capacity < want) {
    auto bigger = std::make_unique<char[]>(want);
    if (s.end > 0) std::memcpy(bigger.get(), s.buffer.get(), s.end);
    s.buffer = std::move(bigger);
    s.capacity = want;
  }
  size_t limit = std::max(std::min(s.capacity, want), need);
  while (s.end < need) {
    size_t n = receive(s, s.buffer.get() + s.end, limit - s.end);
    if (n == 0) return false;
    s.end += n;
  }
  return true;
}

[[noreturn]] void throw_truncated() { throw_errno(EPROTO, "got end of file during message"); }

// A message that cannot be read: Python's _bad_message_length. A duplex
// connection stays writable; a read-only one is closed.
[[noreturn]] void bad_message(ConnectionState& s, int err) {
  s.drop_buffer();
  s.fds.clear();
  if (s.writable) {
    s.readable = false;
  } else {
    s.fd.reset();
  }
  throw_errno(err, "bad message length");
}

// Reads a frame header; nullopt at a clean end of file.
std::optional<uint64_t> read_length(ConnectionState& s) {
  if (!fill(s, 4)) {
    if (s.buffered() == 0) return std::nullopt;
    throw_truncated();
  }
  auto data = [&] { return reinterpret_cast<const unsigned char*>(s.buffer.get() + s.begin); };
  wire::Header h = wire::decode_header(data(), s.buffered());
  if (h.status == wire::Header::kIncomplete) {
    if (!fill(s, wire::kMaxHeaderSize)) throw_truncated();
    h = wire::decode_header(data(), s.buffered());
  }
  if (h.status == wire::Header::kBad) bad_message(s, EPROTO);
  s.begin += h.size;
  return h.length;
}

// Copies the next `size` bytes of the stream to `out`: buffered ones first,
// then straight from the socket.
void read_body(ConnectionState& s, char* out, size_t size) {
  size_t from_buffer = std::min(size, s.buffered());
  if (from_buffer > 0) std::memcpy(out, s.buffer.get() + s.begin, from_buffer);
  s.begin += from_buffer;
  size_t done = from_buffer;
  while (done < size) {
    size_t n = receive(s, out + done, size - done);
    if (n == 0) throw_truncated();
    done += n;
  }
}

// The same into a new string that grows only as bytes arrive (doubling, from
// 16 MiB), so a hostile length cannot make us allocate what was never sent.
std::string read_body(ConnectionState& s, uint64_t size) {
  std::string out;
  constexpr uint64_t kStep = 16 << 20;
  while (out.size() < size) {
    size_t have = out.size();
    size_t step =
        static_cast<size_t>(std::min<uint64_t>(size - have, std::max<uint64_t>(kStep, have)));
    out.resize(have + step);
    read_body(s, out.data() + have, step);
  }
  return out;
}

ConnectionState& readable_state(const std::shared_ptr<ConnectionState>& state) {
  if (!state || !state->fd) throw_closed();
  if (!state->readable) throw_errno(EBADF, "connection is write-only");
  return *state;
}

// While a peer is being authenticated: small reads, and a deadline.
class HandshakeScope {
 public:
  HandshakeScope(Connection& c, const Deadline& deadline) : s_(ConnectionAccess::state(c)) {
    s_.read_chunk = kHandshakeReadChunk;
    s_.deadline = deadline;
  }
  ~HandshakeScope() {
    s_.read_chunk = kReadChunk;
    s_.deadline.reset();
  }
  HandshakeScope(const HandshakeScope&) = delete;
  HandshakeScope& operator=(const HandshakeScope&) = delete;

 private:
  ConnectionState& s_;
};

}  // namespace
}  // namespace internal

using internal::ConnectionState;
using internal::UniqueFd;

// ---------------------------------------------------------------------------
// Connection

Connection::Connection(UniqueFd fd, bool readable, bool writable) {
  if (!fd) throw ValueError("invalid handle");
  state_ = std::make_shared<ConnectionState>();
  state_->fd = std::move(fd);
  state_->readable = readable;
  state_->writable = writable;
}

std::pair<size_t, size_t> Connection::checked_range(size_t length, int64_t offset,
                                                    std::optional<int64_t> size) {
  if (offset < 0) throw ValueError("offset is negative");
  if (static_cast<uint64_t>(offset) > length) throw ValueError("buffer length < offset");
  size_t start = static_cast<size_t>(offset);
  if (!size) return {start, length - start};
  if (*size < 0) throw ValueError("size is negative");
  if (static_cast<uint64_t>(*size) > length - start) {
    throw ValueError("buffer length < offset + size");
  }
  return {start, static_cast<size_t>(*size)};
}

void Connection::send_message(const void* data, size_t size, const std::vector<int>& fds) {
  if (!state_ || !state_->fd) internal::throw_closed();
  if (!state_->writable) internal::throw_errno(EBADF, "connection is read-only");
  if (fds.size() > internal::kMaxFdsPerMessage) {
    throw ValueError("a message can carry at most 253 descriptors");
  }
  // Header and payload in one system call: one segment on TCP for a small
  // message, as CPython arranges (Nagle). A small message without
  // descriptors is copied behind its header and goes by send(), which costs
  // the kernel less than sendmsg's vector.
  constexpr size_t kSmall = 2048;
  if (fds.empty() && size <= kSmall) {
    unsigned char frame[internal::wire::kMaxHeaderSize + kSmall];
    size_t header_size = internal::wire::encode_header(size, frame);
    if (size > 0) std::memcpy(frame + header_size, data, size);
    internal::write_all(state_->fd.get(), frame, header_size + size);
    return;
  }
  unsigned char header[internal::wire::kMaxHeaderSize];
  size_t header_size = internal::wire::encode_header(size, header);
  iovec parts[2] = {{header, header_size}, {const_cast<void*>(data), size}};
  internal::send_with_fds(state_->fd.get(), std::span<iovec>(parts, 2), fds);
}

std::string Connection::recv_bytes(std::optional<size_t> maxlength) {
  ConnectionState& s = internal::readable_state(state_);
  auto length = internal::read_length(s);
  if (!length) throw EOFError();
  if (maxlength && *length > *maxlength) internal::bad_message(s, EMSGSIZE);
  return internal::read_body(s, *length);
}

size_t Connection::recv_into(std::span<std::byte> out) {
  ConnectionState& s = internal::readable_state(state_);
  auto length = internal::read_length(s);
  if (!length) throw EOFError();
  if (*length > out.size()) throw BufferTooShort(internal::read_body(s, *length));
  internal::read_body(s, reinterpret_cast<char*>(out.data()), static_cast<size_t>(*length));
  return static_cast<size_t>(*length);
}

Connection::Message Connection::recv_message() {
  ConnectionState& s = internal::readable_state(state_);
  auto length = internal::read_length(s);
  if (!length) throw EOFError();
  Message m;
  m.bytes = internal::read_body(s, *length);
  if (m.bytes.size() < 4) throw PicklingError("message too short for a value");
  uint32_t fd_count;
  std::memcpy(&fd_count, m.bytes.data(), 4);
  if (fd_count > s.fds.size())
    throw PicklingError("message refers to descriptors that did not arrive");
  for (uint32_t i = 0; i < fd_count; ++i) {
    m.fds.push_back(std::move(s.fds.front()));
    s.fds.pop_front();
  }
  m.bytes.erase(0, 4);
  return m;
}

bool Connection::poll() { return poll_until(internal::Clock::now()); }

bool Connection::poll_until(const internal::Deadline& deadline) {
  ConnectionState& s = internal::readable_state(state_);
  if (s.buffered() > 0) return true;
  return internal::wait_fd(s.fd.get(), POLLIN, deadline);
}

void Connection::close() {
  if (!state_) return;
  state_->fd.reset();
  state_->drop_buffer();
  state_->fds.clear();
}

bool Connection::closed() const noexcept { return !state_ || !state_->fd; }
bool Connection::readable() const noexcept { return state_ && state_->readable; }
bool Connection::writable() const noexcept { return state_ && state_->writable; }

int Connection::fileno() const {
  if (closed()) internal::throw_closed();
  return state_->fd.get();
}

bool Connection::has_buffered_data() const noexcept { return state_ && state_->buffered() > 0; }

std::pair<Connection, Connection> Pipe(bool duplex) {
  auto [a, b] = internal::socket_pair(SOCK_STREAM);
  // Room for a whole 1 MiB message in flight (the kernel caps it at
  // net.core.wmem_max): a large message then costs the writer one system
  // call and the reader a few, instead of a wake-up per 200 KiB.
  int size = 1 << 20;
  for (int fd : {a.get(), b.get()}) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  if (duplex) return {Connection(std::move(a), true, true), Connection(std::move(b), true, true)};
  // One-way: a socket still (so descriptors can travel), shut the other way.
  ::shutdown(a.get(), SHUT_WR);
  ::shutdown(b.get(), SHUT_RD);
  return {Connection(std::move(a), true, false), Connection(std::move(b), false, true)};
}

// ---------------------------------------------------------------------------
// send_handle / recv_handle

void send_handle(Connection& connection, int handle, int /*destination_pid*/) {
  if (connection.closed()) internal::throw_closed();
  const unsigned char count = 1;  // CPython: bytes([len(fds) % 256])
  int fds[1] = {handle};
  internal::send_with_fds(connection.fileno(), &count, 1, fds);
}

int recv_handle(Connection& connection) {
  if (connection.closed()) internal::throw_closed();
  ConnectionState& s = internal::ConnectionAccess::state(connection);
  if (!internal::fill(s, 1)) throw EOFError();
  unsigned char count = static_cast<unsigned char>(s.buffer[s.begin]);
  s.begin += 1;
  if (s.fds.empty()) throw RuntimeError("received 0 items of ancdata");
  if (count != 1)
    throw RuntimeError("a handle message announcing " + std::to_string(count) + " descriptors");
  int fd = s.fds.front().release();
  s.fds.pop_front();
  return fd;
}

// ---------------------------------------------------------------------------
// Addresses

std::string address_type(const Address& address) {
  if (std::holds_alternative<TcpAddress>(address)) return "AF_INET";
  const std::string& path = std::get<std::string>(address);
  if (path.rfind("\\\\", 0) == 0) return "AF_PIPE";
  return "AF_UNIX";
}

namespace internal {
namespace {

void validate_family(const std::string& family) {
  if (family == "AF_UNIX" || family == "AF_INET") return;
  if (family == "AF_PIPE") throw ValueError("Family AF_PIPE is not recognized.");
  throw ValueError("unrecognized family: " + family);
}

// The family to use: the address's, which must agree with `family` if given.
std::string family_of(const Address& address, const std::optional<std::string>& family) {
  std::string type = address_type(address);
  if (family) {
    validate_family(*family);
    if (*family != type) throw ValueError("address " + type + " does not match family " + *family);
  }
  validate_family(type);
  return type;
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SocketAddress to_socket_address(const Address& address) {
  SocketAddress out;
  if (const auto* tcp = std::get_if<TcpAddress>(&address)) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(tcp->port);
    out.length = sizeof(sockaddr_in);
    if (tcp->host.empty()) {
      in->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (::inet_pton(AF_INET, tcp->host.c_str(), &in->sin_addr) != 1) {
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      int rc = ::getaddrinfo(tcp->host.c_str(), nullptr, &hints, &found);
      if (rc != 0 || !found) {
        throw std::system_error(EHOSTUNREACH, std::generic_category(),
                                "cannot resolve " + tcp->host + ": " + ::gai_strerror(rc));
      }
      in->sin_addr = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr;
      ::freeaddrinfo(found);
    }
    return out;
  }
  const std::string& path = std::get<std::string>(address);
  auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
  un->sun_family = AF_UNIX;
  bool abstract = !path.empty() && path[0] == '\0';
  // A path needs room for its terminating NUL; an abstract name does not.
  if (path.size() + (abstract ? 0 : 1) > sizeof(un->sun_path)) {
    throw_errno(ENAMETOOLONG, "AF_UNIX path too long");
  }
  std::memcpy(un->sun_path, path.data(), path.size());
  out.length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return out;
}

Address from_socket_address(const sockaddr_storage& storage, socklen_t length) {
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    char host[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return TcpAddress{host, ntohs(in->sin_port)};
  }
  const auto* un = reinterpret_cast<const sockaddr_un*>(&storage);
  size_t n =
      length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
  n = std::min(n, sizeof(un->sun_path));
  if (n > 0 && un->sun_path[0] == '\0') return std::string(un->sun_path, n);  // abstract
  return std::string(un->sun_path, ::strnlen(un->sun_path, n));
}

UniqueFd new_socket(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  return above_stdio(UniqueFd(fd));
}

// A fresh abstract AF_UNIX name, like CPython's arbitrary_address('AF_UNIX').
std::string arbitrary_unix_address() {
  static std::atomic<unsigned> counter{0};
  std::string random = auth::random_bytes(6);
  char hex[13];
  for (size_t i = 0; i < random.size(); ++i) {
    std::snprintf(hex + 2 * i, 3, "%02x", static_cast<unsigned char>(random[i]));
  }
  return std::string(1, '\0') + "mp-listener-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++) + "-" + hex;
}

// Authenticates a fresh connection: the server side runs deliver then answer,
// the client answer then deliver (mutual authentication).
void authenticate(Connection& c, const std::string& key, bool server, const Deadline& deadline) {
  HandshakeScope scope(c, deadline);
  if (server) {
    deliver_challenge(c, key);
    answer_challenge(c, key);
  } else {
    answer_challenge(c, key);
    deliver_challenge(c, key);
  }
}

}  // namespace

struct ListenerState {
  UniqueFd fd;
  std::string family;
  Address address;
  std::optional<std::string> authkey;
  std::optional<Address> last_accepted;
  pid_t owner = 0;  // the process that bound a path, and unlinks it

  ~ListenerState() { close(); }
  void close() noexcept {
    if (!fd) return;
    fd.reset();
    const auto* path = std::get_if<std::string>(&address);
    if (path && !path->empty() && (*path)[0] != '\0' && owner == ::getpid())
      ::unlink(path->c_str());
  }
};

}  // namespace internal

// ---------------------------------------------------------------------------
// Listener

Listener::Listener(const ListenerOptions& options)
    : Listener(options.family == "AF_INET" ? Address(TcpAddress{"127.0.0.1", 0})
                                           : Address(internal::arbitrary_unix_address()),
               options) {}

Listener::Listener(Address address, const ListenerOptions& options) {
  std::string family = internal::family_of(address, options.family);
  auto state = std::make_shared<internal::ListenerState>();
  state->family = family;
  state->authkey = options.authkey;
  UniqueFd fd = internal::new_socket(family == "AF_INET" ? AF_INET : AF_UNIX);
  if (family == "AF_INET") {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  internal::SocketAddress where = internal::to_socket_address(address);
  if (::bind(fd.get(), where.get(), where.length) != 0) internal::throw_errno("bind");
  state->owner = ::getpid();
  state->address = address;  // from here on close() unlinks a path
  if (::listen(fd.get(), std::max(options.backlog, 0)) != 0) internal::throw_errno("listen");
  // Non-blocking: accept() waits in poll, so a peer that vanishes between
  // the wake-up and accept4 cannot block it, and a timeout can be honoured.
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK) != 0) {
    internal::throw_errno("fcntl(O_NONBLOCK)");
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    internal::throw_errno("getsockname");
  }
  state->fd = std::move(fd);
  if (family == "AF_INET") state->address = internal::from_socket_address(bound, length);
  state_ = std::move(state);
}

Connection Listener::accept() { return accept_until(std::nullopt); }

Connection Listener::accept_until(const internal::Deadline& deadline) {
  if (!state_ || !state_->fd) internal::throw_errno(EBADF, "listener is closed");
  internal::ListenerState& s = *state_;
  sockaddr_storage peer{};
  socklen_t length;
  int fd;
  for (;;) {
    length = sizeof(peer);
    fd = ::accept4(s.fd.get(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd >= 0) break;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) internal::throw_errno("accept");
    if (!internal::wait_fd(s.fd.get(), POLLIN, deadline)) throw TimeoutError("accept() timed out");
  }
  Connection c(internal::above_stdio(UniqueFd(fd)), true, true);
  s.last_accepted = internal::from_socket_address(peer, length);
  if (s.authkey) internal::authenticate(c, *s.authkey, /*server=*/true, deadline);
  return c;
}

void Listener::close() {
  if (state_) state_->close();
}

bool Listener::closed() const noexcept { return !state_ || !state_->fd; }

Address Listener::address() const {
  if (!state_) internal::throw_errno(EBADF, "listener is closed");
  return state_->address;
}

std::optional<Address> Listener::last_accepted() const {
  return state_ ? state_->last_accepted : std::nullopt;
}

int Listener::fileno() const {
  if (closed()) internal::throw_errno(EBADF, "listener is closed");
  return state_->fd.get();
}

// ---------------------------------------------------------------------------
// Client

Connection Client(const Address& address, const ClientOptions& options) {
  std::string family = internal::family_of(address, options.family);
  internal::Deadline deadline;
  if (options.timeout) deadline = internal::deadline_after(*options.timeout);
  UniqueFd fd = internal::new_socket(family == "AF_INET" ? AF_INET : AF_UNIX);
  internal::SocketAddress where = internal::to_socket_address(address);
  auto set_send_timeout = [&](std::chrono::microseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000000),
               static_cast<suseconds_t>(t.count() % 1000000)};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  };
  for (;;) {
    if (deadline) {
      // SO_SNDTIMEO bounds connect() too (a full AF_UNIX backlog, a slow SYN).
      auto left = std::chrono::ceil<std::chrono::microseconds>(*deadline - internal::Clock::now());
      if (left <= std::chrono::microseconds::zero()) throw TimeoutError("connect() timed out");
      set_send_timeout(left);
    }
    if (::connect(fd.get(), where.get(), where.length) == 0) break;
    if (errno == EINTR) {
      // The connection goes on in the background: wait for its outcome.
      if (!internal::wait_fd(fd.get(), POLLOUT, deadline))
        throw TimeoutError("connect() timed out");
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) break;
      internal::throw_errno(err, "connect");
    }
    if (deadline && (errno == EINPROGRESS || errno == EAGAIN))
      throw TimeoutError("connect() timed out");
    internal::throw_errno("connect");
  }
  if (deadline) set_send_timeout(std::chrono::microseconds::zero());
  Connection c(std::move(fd), true, true);
  if (options.authkey) internal::authenticate(c, *options.authkey, /*server=*/false, deadline);
  return c;
}

// ---------------------------------------------------------------------------
// wait

namespace internal {

std::vector<Waitable> wait_until(const std::vector<Waitable>& objects, const Deadline& deadline) {
  std::vector<Waitable> ready;
  for (const Waitable& w : objects) {
    if (w.connection() && w.connection()->has_buffered_data()) ready.push_back(w);
  }
  if (!ready.empty()) return ready;
  std::vector<int> fds;
  fds.reserve(objects.size());
  for (const Waitable& w : objects) fds.push_back(w.fileno());
  std::vector<int> ready_fds = wait_readable(fds, deadline);
  for (const Waitable& w : objects) {
    if (std::find(ready_fds.begin(), ready_fds.end(), w.fileno()) != ready_fds.end()) {
      ready.push_back(w);
    }
  }
  return ready;
}

}  // namespace internal

std::vector<Waitable> wait(const std::vector<Waitable>& objects) {
  return internal::wait_until(objects, std::nullopt);
}

void Codec<Connection>::encode(Writer& w, const Connection& c) {
  uint8_t flags = (c.readable() ? 1 : 0) | (c.writable() ? 2 : 0);
  w.write_pod(flags);
  w.write_pod(w.add_fd(c.fileno()));
}

Connection Codec<Connection>::decode(Reader& r) {
  auto flags = r.read_pod<uint8_t>();
  auto fd = r.take_fd(r.read_pod<uint32_t>());
  return Connection(std::move(fd), flags & 1, flags & 2);
}

}  // namespace mp
