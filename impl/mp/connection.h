// mp/connection.h — Pipe, Connection, Listener, Client, wait (Python:
// multiprocessing.connection).
//
//   auto [a, b] = mp::Pipe();             // duplex; mp::Pipe(false) -> (reader, writer)
//   a.send(std::vector<int>{1, 2});       // any mp::Transferable value
//   auto xs = b.recv<std::vector<int>>();
//   a.send_bytes("abc");                  // raw bytes, framed as CPython frames them
//   std::string m = b.recv_bytes();
//
//   mp::Listener lis(mp::TcpAddress{"127.0.0.1", 0}, {.authkey = "secret"});
//   mp::Connection c = mp::Client(lis.address(), {.authkey = "secret"});  // (another process)
//   mp::Connection d = lis.accept();
//
// Framing is CPython's: a 4-byte big-endian length, or -1 and an 8-byte length
// for messages over 2 GiB, then the bytes. send_bytes/recv_bytes therefore
// talk to a Python peer byte for byte, and so does the authkey handshake of
// Listener and Client (3.12+'s "{sha256}" challenge and 3.11's HMAC-MD5 one,
// in both roles). send<T>/recv<T> carry mp::Codec encodings (not pickles),
// and any descriptors the value holds travel with them (SCM_RIGHTS), so a
// Connection can be sent over a Connection.
//
// A Connection is a handle: copies share the descriptor and its read buffer.
// One Connection must not be used by two threads at once (as in Python).
//
// Errors, as Python raises them:
//   - a closed connection, or the wrong direction of a one-way one:
//     std::system_error(EBADF);
//   - recv on a drained connection whose peer has closed: mp::EOFError;
//   - the peer closed in the middle of a message, or sent a length that is
//     no frame: std::system_error(EPROTO);
//   - recv_bytes(maxlength) of a longer message: std::system_error(EMSGSIZE),
//     and the connection reads no more (Python's "bad message length");
//   - a failed authentication: mp::AuthenticationError, on both sides.
// Memory grows only as bytes arrive: a hostile length allocates nothing
// that was not sent.

#ifndef MP_CONNECTION_H_
#define MP_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "mp/errors.h"
#include "mp/internal/base/fd.h"
#include "mp/reduction.h"

namespace mp {

namespace internal {
struct ConnectionState;
struct ConnectionAccess;
struct ListenerState;

template <class B>
concept ByteBuffer = std::ranges::contiguous_range<B> && std::ranges::sized_range<B> &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<B>>;
}  // namespace internal

class Connection {
 public:
  // A closed connection.
  Connection() = default;
  // Takes ownership of `fd`, a connected stream socket. An invalid descriptor
  // throws mp::ValueError ("invalid handle").
  Connection(internal::UniqueFd fd, bool readable = true, bool writable = true);

  // Sends `data` as one message. Python: send_bytes(buf, offset, size), with
  // offset and size in bytes; a negative or out-of-range offset/size throws
  // mp::ValueError.
  void send_bytes(std::string_view data) { send_message(data.data(), data.size(), {}); }
  void send_bytes(const char* data) { send_bytes(std::string_view(data)); }
  template <internal::ByteBuffer B>
    requires(!std::is_convertible_v<const B&, std::string_view>)
  void send_bytes(const B& buffer) {
    send_bytes(buffer, 0);
  }
  template <internal::ByteBuffer B>
  void send_bytes(const B& buffer, int64_t offset, std::optional<int64_t> size = std::nullopt) {
    auto bytes = std::as_bytes(std::span(std::ranges::data(buffer), std::ranges::size(buffer)));
    auto [start, count] = checked_range(bytes.size(), offset, size);
    send_message(bytes.data() + start, count, {});
  }

  // Receives one message. With `maxlength`, a longer message throws
  // std::system_error(EMSGSIZE) and leaves the connection unusable (it is
  // closed), as Python's OSError("bad message length") does.
  std::string recv_bytes(std::optional<size_t> maxlength = std::nullopt);

  // Receives one message into `buffer` at byte `offset`; returns its size. A
  // message that does not fit throws mp::BufferTooShort carrying the message.
  template <internal::ByteBuffer B>
  size_t recv_bytes_into(B& buffer, int64_t offset = 0) {
    auto bytes =
        std::as_writable_bytes(std::span(std::ranges::data(buffer), std::ranges::size(buffer)));
    if (offset < 0) throw ValueError("negative offset");
    if (static_cast<uint64_t>(offset) > bytes.size()) throw ValueError("offset out of bounds");
    return recv_into(bytes.subspan(static_cast<size_t>(offset)));
  }

  // Sends / receives one value through mp::Codec.
  template <Transferable T>
  void send(const T& value) {
    Writer w;
    uint32_t header = 0;
    w.write_pod(header);
    Codec<T>::encode(w, value);
    uint32_t fd_count = static_cast<uint32_t>(w.fds().size());
    std::memcpy(w.bytes().data(), &fd_count, sizeof(fd_count));
    send_message(w.bytes().data(), w.bytes().size(), w.fds());
  }
  template <Transferable T>
  T recv() {
    Message m = recv_message();
    Reader r(m.bytes, std::move(m.fds));
    return Codec<T>::decode(r);
  }

  // Is there anything to read (a message, or end of file)? Without a timeout
  // it does not block; poll(std::nullopt) blocks until there is.
  bool poll();
  bool poll(std::nullopt_t) { return poll_until(std::nullopt); }
  template <class Rep, class Period>
  bool poll(std::chrono::duration<Rep, Period> timeout) {
    return poll_until(internal::deadline_after(timeout));
  }

  void close();
  bool closed() const noexcept;
  bool readable() const noexcept;
  bool writable() const noexcept;
  // The descriptor; closed -> std::system_error(EBADF).
  int fileno() const;
  // Bytes received but not yet returned (so wait() counts them as ready).
  bool has_buffered_data() const noexcept;

  friend bool operator==(const Connection& a, const Connection& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  friend struct internal::ConnectionAccess;
  struct Message {
    std::string bytes;
    std::vector<internal::UniqueFd> fds;
  };
  static std::pair<size_t, size_t> checked_range(size_t length, int64_t offset,
                                                 std::optional<int64_t> size);
  void send_message(const void* data, size_t size, const std::vector<int>& fds);
  Message recv_message();
  size_t recv_into(std::span<std::byte> out);
  bool poll_until(const internal::Deadline& deadline);

  std::shared_ptr<internal::ConnectionState> state_;
};

// Python's Pipe(duplex=True): two connected ends. Pipe(false) returns
// (reader, writer). Both are AF_UNIX stream sockets (Python's one-way Pipe
// is an os.pipe(); a socket lets descriptors travel), with a send buffer
// raised to 1 MiB where net.core.wmem_max allows.
std::pair<Connection, Connection> Pipe(bool duplex = true);

// Python: multiprocessing.connection.deliver_challenge(connection, authkey,
// digest_name): the server's half of the handshake. Sends a challenge,
// checks the reply (any digest CPython accepts, or a legacy HMAC-MD5), answers
// #WELCOME# or #FAILURE#. A wrong reply throws mp::AuthenticationError.
void deliver_challenge(Connection& connection, std::string_view authkey,
                       std::string_view digest_name = "sha256");
// Python: answer_challenge(connection, authkey): the client's half. Replies to
// a 3.12+ or a legacy challenge; throws mp::AuthenticationError unless welcomed.
void answer_challenge(Connection& connection, std::string_view authkey);

// An AF_INET address. Python: the (host, port) tuple.
struct TcpAddress {
  std::string host;
  uint16_t port = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(host, port);
  }
  friend bool operator==(const TcpAddress&, const TcpAddress&) = default;
};

// Python's addresses: a string is an AF_UNIX path (a leading '\0' makes it a
// Linux abstract name); a TcpAddress is AF_INET.
using Address = std::variant<std::string, TcpAddress>;

// Python: address_type(address): "AF_INET", "AF_UNIX", or "AF_PIPE" for a
// Windows pipe name (r"\\.\pipe\..."), which Linux does not have.
std::string address_type(const Address& address);

struct ListenerOptions {
  // "AF_UNIX" or "AF_INET"; by default the address's, AF_UNIX without one.
  // Anything else (AF_PIPE included) throws mp::ValueError.
  std::optional<std::string> family;
  int backlog = 1;
  // When set (even to ""), every accepted peer must authenticate with it.
  std::optional<std::string> authkey;
};

// Python: multiprocessing.connection.Listener. A handle: copies share the
// socket, which closes with the last copy or close(). An AF_UNIX path that
// this process bound is unlinked when the listener closes.
class Listener {
 public:
  // AF_UNIX at a fresh (abstract) address.
  Listener() : Listener(ListenerOptions{}) {}
  // At a fresh address of options.family (AF_INET: 127.0.0.1, a free port).
  explicit Listener(const ListenerOptions& options);
  // Bound to `address`; port 0 picks a free port. An address in use throws
  // std::system_error (EADDRINUSE); an address of the wrong family
  // mp::ValueError.
  explicit Listener(Address address, const ListenerOptions& options = {});

  // Waits for a peer and, with an authkey, runs deliver_challenge then
  // answer_challenge. Throws what the handshake throws (mp::AuthenticationError,
  // mp::EOFError, std::system_error); the listener stays usable either way.
  // A closed listener throws std::system_error(EBADF).
  Connection accept();
  // The same, giving up after `timeout` (the handshake included) with
  // mp::TimeoutError. An mp extension: Python's accept() has no timeout.
  template <class Rep, class Period>
  Connection accept(std::chrono::duration<Rep, Period> timeout) {
    return accept_until(internal::deadline_after(timeout));
  }

  void close();
  bool closed() const noexcept;
  // Where peers connect: the real port when 0 was asked for.
  Address address() const;
  // The address of the last peer accepted (Python: last_accepted).
  std::optional<Address> last_accepted() const;
  // The listening socket; wait() can wait on it. Closed -> std::system_error(EBADF).
  int fileno() const;

  friend bool operator==(const Listener& a, const Listener& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  Connection accept_until(const internal::Deadline& deadline);
  std::shared_ptr<internal::ListenerState> state_;
};

struct ClientOptions {
  // As for ListenerOptions; by default the address's.
  std::optional<std::string> family;
  // When set, runs answer_challenge then deliver_challenge.
  std::optional<std::string> authkey;
  // Gives up connecting and authenticating after this long, with
  // mp::TimeoutError. An mp extension; by default Client waits as Python's does.
  std::optional<std::chrono::milliseconds> timeout;
};

// Python: multiprocessing.connection.Client(address, family, authkey).
// Nobody listening -> std::system_error (ECONNREFUSED or ENOENT); a wrong key
// -> mp::AuthenticationError.
Connection Client(const Address& address, const ClientOptions& options = {});

// Python: multiprocessing.reduction.send_handle(conn, handle, destination_pid)
// and recv_handle(conn): one descriptor through the connection's socket,
// outside the message framing, as CPython sends it (one byte carrying the fd).
// recv_handle returns a close-on-exec descriptor the caller owns; a byte
// without a descriptor throws mp::RuntimeError.
void send_handle(Connection& connection, int handle, int destination_pid = 0);
int recv_handle(Connection& connection);

// Something wait() can wait on: a Connection, a Listener (ready when a peer
// is waiting to be accepted), or a descriptor such as a Process sentinel.
class Waitable {
 public:
  Waitable(Connection* connection) : connection_(connection), fd_(connection->fileno()) {}
  Waitable(Connection& connection) : Waitable(&connection) {}
  Waitable(const Listener& listener) : fd_(listener.fileno()) {}
  Waitable(int fd) : fd_(fd) {}
  int fileno() const noexcept { return fd_; }
  // The connection, or nullptr for a plain descriptor.
  Connection* connection() const noexcept { return connection_; }
  friend bool operator==(const Waitable& a, const Waitable& b) noexcept {
    return a.connection_ == b.connection_ && a.fd_ == b.fd_;
  }

 private:
  Connection* connection_ = nullptr;
  int fd_ = -1;
};

// Python's multiprocessing.connection.wait(): the objects that are ready (a
// message or end of file to read; a sentinel whose process ended). Waits until
// one is, or until the timeout elapses (then returns an empty list).
std::vector<Waitable> wait(const std::vector<Waitable>& objects);
template <class Rep, class Period>
std::vector<Waitable> wait(const std::vector<Waitable>& objects,
                           std::chrono::duration<Rep, Period> timeout);

namespace internal {
std::vector<Waitable> wait_until(const std::vector<Waitable>& objects, const Deadline& deadline);
}  // namespace internal

template <class Rep, class Period>
std::vector<Waitable> wait(const std::vector<Waitable>& objects,
                           std::chrono::duration<Rep, Period> timeout) {
  return internal::wait_until(objects, internal::deadline_after(timeout));
}

// A Connection travels as its descriptor.
template <>
struct Codec<Connection> {
  static void encode(Writer& w, const Connection& c);
  static Connection decode(Reader& r);
};

}  // namespace mp

#endif  // MP_CONNECTION_H_
