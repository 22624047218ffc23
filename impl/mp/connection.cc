#include "mp/connection.h"

#include <arpa/inet.h>
#include <endian.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>

namespace mp {

namespace internal {

// What every copy of a Connection shares.
struct ConnectionState {
  UniqueFd fd;
  bool readable = false;
  bool writable = false;
  std::string buffer;  // received bytes; the unread ones start at `pos`
  size_t pos = 0;
  std::deque<UniqueFd> fds;  // descriptors received, in arrival order

  size_t buffered() const noexcept { return buffer.size() - pos; }
};

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxFdsPerMessage = 253;  // SCM_MAX_FD

[[noreturn]] void throw_closed() { throw_errno(EBADF, "handle is closed"); }

// One recvmsg into `data`; descriptors that arrive join `fds`. 0 at EOF.
size_t receive(int fd, void* data, size_t size, std::deque<UniqueFd>& fds) {
  std::vector<UniqueFd> got;
  size_t n = recv_with_fds(fd, data, size, got);
  for (auto& f : got) fds.push_back(std::move(f));
  return n;
}

}  // namespace
}  // namespace internal

using internal::ConnectionState;
using internal::UniqueFd;

Connection::Connection(UniqueFd fd, bool readable, bool writable)
    : state_(std::make_shared<ConnectionState>()) {
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
  // CPython's header: 4-byte big-endian length, or -1 then an 8-byte length.
  unsigned char header[12];
  size_t header_size;
  if (size > 0x7fffffff) {
    uint32_t minus_one = 0xffffffffu;
    uint64_t big = htobe64(size);
    std::memcpy(header, &minus_one, 4);
    std::memcpy(header + 4, &big, 8);
    header_size = 12;
  } else {
    uint32_t small = htonl(static_cast<uint32_t>(size));
    std::memcpy(header, &small, 4);
    header_size = 4;
  }
  iovec parts[2] = {{header, header_size}, {const_cast<void*>(data), size}};
  internal::send_with_fds(state_->fd.get(), std::span<iovec>(parts, 2), fds);
}

namespace {

// Makes at least `need` unread bytes available in the buffer; false if the
// stream ended first.
bool fill(ConnectionState& s, size_t need) {
  if (s.buffered() >= need) return true;
  if (s.pos > 0) {
    s.buffer.erase(0, s.pos);
    s.pos = 0;
  }
  while (s.buffer.size() < need) {
    size_t have = s.buffer.size();
    s.buffer.resize(have + std::max(internal::kReadChunk, need - have));
    size_t n = internal::receive(s.fd.get(), s.buffer.data() + have, s.buffer.size() - have, s.fds);
    s.buffer.resize(have + n);
    if (n == 0) return false;
  }
  return true;
}

// Reads a frame header; nullopt at a clean end of file.
std::optional<uint64_t> read_length(ConnectionState& s) {
  if (!fill(s, 4)) {
    if (s.buffered() == 0) return std::nullopt;
    throw EOFError("got end of file during message");
  }
  uint32_t raw;
  std::memcpy(&raw, s.buffer.data() + s.pos, 4);
  s.pos += 4;
  int32_t length = static_cast<int32_t>(ntohl(raw));
  if (length >= 0) return static_cast<uint64_t>(length);
  if (length != -1) internal::throw_errno(EPROTO, "bad message length");
  if (!fill(s, 8)) throw EOFError("got end of file during message");
  uint64_t big;
  std::memcpy(&big, s.buffer.data() + s.pos, 8);
  s.pos += 8;
  return be64toh(big);
}

// Copies the next `size` bytes of the stream to `out` (buffered ones first,
// then straight from the socket). Memory grows only as bytes arrive, so a
// hostile length cannot make us allocate what was never sent.
void read_body(ConnectionState& s, char* out, size_t size) {
  size_t from_buffer = std::min(size, s.buffered());
  if (from_buffer > 0) std::memcpy(out, s.buffer.data() + s.pos, from_buffer);
  s.pos += from_buffer;
  size_t done = from_buffer;
  while (done < size) {
    size_t n = internal::receive(s.fd.get(), out + done, size - done, s.fds);
    if (n == 0) throw EOFError("got end of file during message");
    done += n;
  }
}

std::string read_body(ConnectionState& s, uint64_t size) {
  std::string out;
  constexpr uint64_t kStep = 16 << 20;
  while (out.size() < size) {
    size_t have = out.size();
    size_t step = static_cast<size_t>(std::min<uint64_t>(size - have, std::max<uint64_t>(kStep, have)));
    out.resize(have + step);
    read_body(s, out.data() + have, step);
  }
  return out;
}

ConnectionState& readable_state(const std::shared_ptr<ConnectionState>& state) {
  if (!state || !state->fd) internal::throw_closed();
  if (!state->readable) internal::throw_errno(EBADF, "connection is write-only");
  return *state;
}

}  // namespace

std::string Connection::recv_bytes(std::optional<size_t> maxlength) {
  ConnectionState& s = readable_state(state_);
  auto length = read_length(s);
  if (!length) throw EOFError();
  if (maxlength && *length > *maxlength) {
    close();
    internal::throw_errno(EMSGSIZE, "bad message length");
  }
  return read_body(s, *length);
}

size_t Connection::recv_into(std::span<std::byte> out) {
  ConnectionState& s = readable_state(state_);
  auto length = read_length(s);
  if (!length) throw EOFError();
  if (*length > out.size()) throw BufferTooShort(read_body(s, *length));
  read_body(s, reinterpret_cast<char*>(out.data()), static_cast<size_t>(*length));
  return static_cast<size_t>(*length);
}

Connection::Message Connection::recv_message() {
  ConnectionState& s = readable_state(state_);
  auto length = read_length(s);
  if (!length) throw EOFError();
  Message m;
  m.bytes = read_body(s, *length);
  if (m.bytes.size() < 4) throw PicklingError("message too short for a value");
  uint32_t fd_count;
  std::memcpy(&fd_count, m.bytes.data(), 4);
  if (fd_count > s.fds.size()) throw PicklingError("message refers to descriptors that did not arrive");
  for (uint32_t i = 0; i < fd_count; ++i) {
    m.fds.push_back(std::move(s.fds.front()));
    s.fds.pop_front();
  }
  m.bytes.erase(0, 4);
  return m;
}

bool Connection::poll() { return poll_until(internal::Clock::now()); }

bool Connection::poll_until(const internal::Deadline& deadline) {
  ConnectionState& s = readable_state(state_);
  if (s.buffered() > 0) return true;
  return internal::wait_fd(s.fd.get(), POLLIN, deadline);
}

void Connection::close() {
  if (!state_) return;
  state_->fd.reset();
  state_->buffer.clear();
  state_->pos = 0;
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
  if (duplex) return {Connection(std::move(a), true, true), Connection(std::move(b), true, true)};
  // One-way: a socket still (so descriptors can travel), shut the other way.
  ::shutdown(a.get(), SHUT_WR);
  ::shutdown(b.get(), SHUT_RD);
  return {Connection(std::move(a), true, false), Connection(std::move(b), false, true)};
}

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
