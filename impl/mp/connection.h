// mp/connection.h — Pipe, Connection, wait (Python: connection.py).
//
//   auto [a, b] = mp::Pipe();             // duplex; mp::Pipe(false) -> (reader, writer)
//   a.send(std::vector<int>{1, 2});       // any mp::Transferable value
//   auto xs = b.recv<std::vector<int>>();
//   a.send_bytes("abc");                  // raw bytes, framed as CPython frames them
//   std::string m = b.recv_bytes();
//
// Framing is CPython's: a 4-byte big-endian length, or -1 and an 8-byte length
// for messages over 2 GiB, then the bytes. send_bytes/recv_bytes therefore
// talk to a Python peer byte for byte. send<T>/recv<T> carry mp::Codec
// encodings (not pickles), and any descriptors the value holds travel with
// them (SCM_RIGHTS), so a Connection or a Queue can be sent over a Connection.
//
// A Connection is a handle: copies share the descriptor and its read buffer.
// One Connection must not be used by two threads at once (as in Python).
//
// Errors: operations on a closed connection, or reading a write-only end,
// throw std::system_error(EBADF); recv on a drained connection whose peer has
// closed throws mp::EOFError.

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
#include <vector>

#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/reduction.h"

namespace mp {

namespace internal {
struct ConnectionState;

template <class B>
concept ByteBuffer = std::ranges::contiguous_range<B> && std::ranges::sized_range<B> &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<B>>;
}  // namespace internal

class Connection {
 public:
  // A closed connection.
  Connection() = default;
  // Takes ownership of `fd`, a connected stream socket.
  Connection(internal::UniqueFd fd, bool readable, bool writable);

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
    auto bytes = std::as_writable_bytes(std::span(std::ranges::data(buffer), std::ranges::size(buffer)));
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
// (reader, writer).
std::pair<Connection, Connection> Pipe(bool duplex = true);

// Something wait() can wait on: a Connection, or a descriptor such as a
// Process sentinel.
class Waitable {
 public:
  Waitable(Connection* connection) : connection_(connection), fd_(connection->fileno()) {}
  Waitable(Connection& connection) : Waitable(&connection) {}
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
