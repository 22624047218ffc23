// Connections:
//   pipe.throughput/payload:N   a child streams N-byte messages through a
//                               one-way Pipe; the parent receives (recv_bytes)
//   pipe.pingpong/payload:64    the parent sends, a child echoes it back
//   listener.roundtrip/family:F Client() to a Listener served by a child,
//                               64 bytes there and back, close (no authkey)
// Implementations: fork, spawn, forkserver (a child process), threads (a
// thread, mp::dummy::Process), and
//   floor             (floor-threads: the same with a thread for the child)
//                     pipe.throughput: a fork()ed child copies each message
//                     (a length and the bytes) into a ring in shared memory,
//                     the parent takes it there, both waiting with
//                     spin-then-futex handoffs (floor.h): one memory copy and
//                     no system call per message, less than any kernel path
//                     can do. pipe.pingpong: the
//                     64 bytes there and back through a shared mailbox
//                     (roundtrip_floor). listener.roundtrip: bare
//                     socket/connect/accept/read/write (a connection needs
//                     the kernel), the same framing.
//   socket-reference  pipe.throughput and pipe.pingpong on a raw socketpair
//                     from a fork()ed child with the same framing, written
//                     the way a careful C programmer would (one write per
//                     message, reads of up to 64 KiB parsed in place, one
//                     reused receive buffer, default buffer sizes): not a
//                     floor (mp's Pipe enlarges its socket buffers and may
//                     beat it), the cost of a socket done plainly.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "floor.h"
#include "harness.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/ipc/wire.h"

namespace mp::bench {
namespace {

constexpr int64_t kPingPongPayload = 64;
const std::vector<int64_t> kThroughputPayloads = {64, 4096, 1048576};

// How many messages a streaming child sends between looks at its stop signal.
int64_t batch_for(int64_t size) { return std::max<int64_t>(1, 65536 / size); }

// --- children (free functions: every start method can name them) -------------

void stream(mp::Connection out, mp::Connection stop, int64_t size) {
  std::string payload(static_cast<size_t>(size), 'x');
  const int64_t batch = batch_for(size);
  do {
    for (int64_t i = 0; i < batch; ++i) out.send_bytes(payload);
  } while (!stop.poll());
  out.send_bytes("");  // the end
}

void echo(mp::Connection conn) {
  for (;;) {
    std::string m = conn.recv_bytes();
    if (m.empty()) break;
    conn.send_bytes(m);
  }
}

void serve(mp::Connection report, int64_t tcp) {
  mp::Listener lis({.family = tcp ? "AF_INET" : "AF_UNIX", .backlog = 16});
  report.send(lis.address());
  for (;;) {
    mp::Connection c = lis.accept();
    std::string m = c.recv_bytes();
    if (m.empty()) break;
    c.send_bytes(m);
  }
}

// --- starting a child per implementation -------------------------------------

// Starts an implementation's child under a column of it (`I` an adapter).
template <class I>
struct Starter {
  std::string column;
  // A child process holds its own descriptors; a thread shares its parent's.
  static constexpr bool kOwnCopies = I::kProcesses;
  template <class... A>
  auto operator()(A&&... args) const {
    select<I>(column);
    auto p = I::Process(std::forward<A>(args)...);
    p.start();
    return p;
  }
};

template <class Starter>
void release(mp::Connection& c) {
  if constexpr (Starter::kOwnCopies) c.close();
}

template <class Starter>
void throughput(benchmark::State& state, const Starter& start, int64_t size) {
  auto [reader, writer] = mp::Pipe(false);
  auto [stop_r, stop_w] = mp::Pipe(false);
  auto child = start(&stream, writer, stop_r, size);
  release<Starter>(writer);
  benchmark::DoNotOptimize(reader.recv_bytes().data());  // the child is running
  for (auto _ : state) {
    std::string m = reader.recv_bytes();
    benchmark::DoNotOptimize(m.data());
  }
  state.SetBytesProcessed(state.iterations() * size);
  per_item(state, 1);
  stop_w.send_bytes("stop");
  while (!reader.recv_bytes().empty()) {
  }
  child.join();
}

template <class Starter>
void pingpong(benchmark::State& state, const Starter& start) {
  auto [conn, child_conn] = mp::Pipe();
  auto child = start(&echo, child_conn);
  release<Starter>(child_conn);
  std::string payload(kPingPongPayload, 'p');
  auto round_trip = [&] {
    conn.send_bytes(payload);
    std::string m = conn.recv_bytes();
    benchmark::DoNotOptimize(m.data());
  };
  round_trip();  // the child is running
  for (auto _ : state) round_trip();
  per_item(state, 1);
  conn.send_bytes("");
  child.join();
}

template <class Starter>
void listener_roundtrip(benchmark::State& state, const Starter& start, bool tcp) {
  auto [report_r, report_w] = mp::Pipe(false);
  auto child = start(&serve, report_w, int64_t{tcp});
  auto address = report_r.recv<mp::Address>();
  std::string payload(kPingPongPayload, 'l');
  auto round_trip = [&] {
    mp::Connection c = mp::Client(address);
    c.send_bytes(payload);
    std::string m = c.recv_bytes();
    benchmark::DoNotOptimize(m.data());
  };
  round_trip();  // the child is serving
  for (auto _ : state) round_trip();
  per_item(state, 1);
  mp::Client(address).send_bytes("");
  child.join();
}

// --- the floor: bare system calls, the same bytes on the wire ----------------

// Reads frames from a socket: up to 64 KiB per read, parsed in place; a
// payload larger than what is buffered is read straight into `out`.
class RawReader {
 public:
  explicit RawReader(int fd) : fd_(fd), buffer_(64 * 1024) {}

  // The next payload, in `out` (reused); false at end of file.
  bool next(std::vector<char>& out) {
    if (!fill(4)) return false;
    auto h = internal::wire::decode_header(reinterpret_cast<unsigned char*>(&buffer_[begin_]),
                                           end_ - begin_);
    if (h.status != internal::wire::Header::kComplete) {
      fill(internal::wire::kMaxHeaderSize);
      h = internal::wire::decode_header(reinterpret_cast<unsigned char*>(&buffer_[begin_]),
                                        end_ - begin_);
    }
    begin_ += h.size;
    out.resize(h.length);
    size_t from_buffer = std::min<size_t>(h.length, end_ - begin_);
    std::memcpy(out.data(), &buffer_[begin_], from_buffer);
    begin_ += from_buffer;
    for (size_t done = from_buffer; done < h.length;) {
      ssize_t n = ::read(fd_, out.data() + done, h.length - done);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  bool fill(size_t need) {
    if (end_ - begin_ >= need) return true;
    std::memmove(buffer_.data(), &buffer_[begin_], end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    while (end_ < need) {
      ssize_t n = ::read(fd_, &buffer_[end_], buffer_.size() - end_);
      if (n <= 0) return false;
      end_ += static_cast<size_t>(n);
    }
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

std::string framed(int64_t size, char fill) {
  unsigned char header[internal::wire::kMaxHeaderSize];
  size_t n = internal::wire::encode_header(static_cast<uint64_t>(size), header);
  return std::string(reinterpret_cast<char*>(header), n) +
         std::string(static_cast<size_t>(size), fill);
}

void write_all(int fd, const std::string& bytes) {
  internal::write_all(fd, bytes.data(), bytes.size());
}

void throughput_socket_reference(benchmark::State& state, int64_t size) {
  auto [reader, writer] = internal::socket_pair(SOCK_STREAM);
  auto [stop_r, stop_w] = internal::socket_pair(SOCK_STREAM);
  pid_t pid = ::fork();
  if (pid == 0) {
    const std::string message = framed(size, 'x');
    const int64_t batch = batch_for(size);
    pollfd p{stop_r.get(), POLLIN, 0};
    do {
      for (int64_t i = 0; i < batch; ++i) write_all(writer.get(), message);
    } while (::poll(&p, 1, 0) == 0);
    write_all(writer.get(), framed(0, 0));
    ::_exit(0);
  }
  writer.reset();
  RawReader in(reader.get());
  std::vector<char> m;
  in.next(m);  // the child is running
  for (auto _ : state) {
    in.next(m);
    benchmark::DoNotOptimize(m.data());
  }
  state.SetBytesProcessed(state.iterations() * size);
  per_item(state, 1);
  write_all(stop_w.get(), "s");
  while (in.next(m) && !m.empty()) {
  }
  ::waitpid(pid, nullptr, 0);
}

// The floor of a stream of messages: a ring of bytes in shared memory. The
// producer copies each message (its length, its bytes) in; the consumer takes
// it where it lies and gives the room back. One copy per message, the least
// that moves bytes from one process to another, and no system call.
struct ByteRing {
  static constexpr uint32_t kCapacity = 4 << 20;  // a power of two: room for 3 MiB messages
  Signal tail;                                    // bytes written (modulo 2^32)
  Signal head;                                    // bytes taken
  std::atomic<uint32_t> stop{0};
  alignas(64) std::byte data[kCapacity];

  // A message's room: its length and its bytes, padded to 64 and never split
  // by the end of the ring (a message that would be is written at the start;
  // the length 0 there says so).
  static uint32_t room(uint64_t size) {
    return static_cast<uint32_t>((8 + size + 63) & ~uint64_t{63});
  }
};

void throughput_floor(benchmark::State& state, int64_t size, Parties parties) {
  Shared<ByteRing> shared;
  ByteRing& r = *shared;
  r.tail.use_by(parties);
  r.head.use_by(parties);
  const uint32_t need = ByteRing::room(static_cast<uint64_t>(size));
  uint32_t head = 0;
  auto receive = [&] {
    r.tail.wait([head](uint32_t t) { return t != head; });
    uint64_t length;
    std::memcpy(&length, r.data + head % ByteRing::kCapacity, sizeof(length));
    if (length == 0) {  // the rest of the ring was skipped
      head += ByteRing::kCapacity - head % ByteRing::kCapacity;
      r.tail.wait([head](uint32_t t) { return t != head; });
      std::memcpy(&length, r.data, sizeof(length));
    }
    benchmark::DoNotOptimize(r.data + head % ByteRing::kCapacity + 8);  // the message, in place
    head += ByteRing::room(length);
    r.head.store(head);
  };
  {
    Party producer(parties, [&r, size, need] {
      const std::string payload(static_cast<size_t>(size), 'x');
      const uint64_t length = payload.size(), skip = 0;
      for (uint32_t tail = 0;;) {
        uint32_t offset = tail % ByteRing::kCapacity;
        uint32_t want =
            offset + need > ByteRing::kCapacity ? ByteRing::kCapacity - offset + need : need;
        r.head.wait([&](uint32_t h) { return ByteRing::kCapacity - (tail - h) >= want || r.stop; });
        if (r.stop.load()) return;
        if (want != need) {
          std::memcpy(r.data + offset, &skip, sizeof(skip));
          tail += ByteRing::kCapacity - offset;
          offset = 0;
        }
        std::memcpy(r.data + offset, &length, sizeof(length));
        std::memcpy(r.data + offset + 8, payload.data(), length);
        tail += need;
        r.tail.store(tail);
      }
    });
    receive();  // the producer is running
    for (auto _ : state) receive();
    r.stop.store(1);
    r.head.store(head);  // wakes a producer waiting for room
  }
  state.SetBytesProcessed(state.iterations() * size);
  per_item(state, 1);
}

// Round trips on a socketpair with a fork()ed partner: per item, for each
// (request, reply) in `trips`, a `request`-byte message and a `reply`-byte
// answer (the request's first bytes echoed back).
void socket_roundtrip(benchmark::State& state,
                      const std::vector<std::pair<int64_t, int64_t>>& trips) {
  auto [mine, theirs] = internal::socket_pair(SOCK_STREAM);
  std::vector<std::string> requests, replies;
  for (const auto& [request, reply] : trips) {
    requests.push_back(framed(request, 'p'));
    replies.push_back(framed(reply, 0));
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    mine.reset();
    RawReader in(theirs.get());
    std::vector<char> m;
    for (size_t k = 0; in.next(m) && !m.empty(); k = (k + 1) % replies.size()) {
      std::string& back = replies[k];
      std::memcpy(back.data() + 4, m.data(), std::min(m.size(), back.size() - 4));
      write_all(theirs.get(), back);
    }
    ::_exit(0);
  }
  theirs.reset();
  RawReader in(mine.get());
  std::vector<char> m;
  auto item = [&] {
    for (const std::string& message : requests) {
      write_all(mine.get(), message);
      in.next(m);
      benchmark::DoNotOptimize(m.data());
    }
  };
  item();  // the partner is running
  for (auto _ : state) item();
  per_item(state, 1);
  write_all(mine.get(), framed(0, 0));
  ::waitpid(pid, nullptr, 0);
}

void listener_roundtrip_floor(benchmark::State& state, bool tcp, Parties parties) {
  internal::UniqueFd lis(::socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage where{};
  socklen_t length;
  if (tcp) {
    auto* in = reinterpret_cast<sockaddr_in*>(&where);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof(sockaddr_in);
    int one = 1;
    ::setsockopt(lis.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  } else {
    auto* un = reinterpret_cast<sockaddr_un*>(&where);
    un->sun_family = AF_UNIX;
    std::string name = std::string(1, '\0') + "mp-bench-floor-" + std::to_string(::getpid());
    std::memcpy(un->sun_path, name.data(), name.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  }
  if (::bind(lis.get(), reinterpret_cast<sockaddr*>(&where), length) != 0 ||
      ::listen(lis.get(), 16) != 0) {
    state.SkipWithError("bind/listen failed");
    return;
  }
  ::getsockname(lis.get(), reinterpret_cast<sockaddr*>(&where), &length);
  Party server(parties, [listening = lis.get()] {
    std::vector<char> m;
    std::string back;
    for (;;) {
      internal::UniqueFd c(::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC));
      RawReader in(c.get());
      if (!in.next(m) || m.empty()) break;
      back = framed(static_cast<int64_t>(m.size()), 0);
      std::memcpy(back.data() + 4, m.data(), m.size());
      write_all(c.get(), back);
    }
  });
  const std::string message = framed(kPingPongPayload, 'l');
  std::vector<char> m;
  auto connect = [&] {
    internal::UniqueFd c(::socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ::connect(c.get(), reinterpret_cast<sockaddr*>(&where), length);
    return c;
  };
  auto round_trip = [&] {
    internal::UniqueFd c = connect();
    write_all(c.get(), message);
    RawReader in(c.get());
    in.next(m);
    benchmark::DoNotOptimize(m.data());
  };
  round_trip();  // the server is serving
  for (auto _ : state) round_trip();
  per_item(state, 1);
  write_all(connect().get(), framed(0, 0));  // the server leaves; ~Party joins it
}

template <class Starter>
void register_all(const std::string& impl, const Starter& start) {
  for (int64_t size : kThroughputPayloads) {
    add("pipe.throughput", impl, {{"payload", size}}, [start, size](benchmark::State& s) {
      throughput(s, start, size);
    })->Unit(benchmark::kMicrosecond);
  }
  add("pipe.pingpong", impl, {{"payload", kPingPongPayload}}, [start](benchmark::State& s) {
    pingpong(s, start);
  })->Unit(benchmark::kMicrosecond);
  for (bool tcp : {false, true}) {
    add_named("listener.roundtrip/impl:" + impl + "/family:" + (tcp ? "tcp" : "unix"),
              [start, tcp](benchmark::State& s) { listener_roundtrip(s, start, tcp); })
        ->Unit(benchmark::kMicrosecond);
  }
}

const bool registered = [] {
  for_each_column(
      []<class I>(const std::string& column) { register_all(column, Starter<I>{column}); });
  for (int64_t size : kThroughputPayloads) {
    add_floors(
        "pipe.throughput", {{"payload", size}},
        [size](benchmark::State& s, Parties p) { throughput_floor(s, size, p); },
        benchmark::kMicrosecond);
    add("pipe.throughput", "socket-reference", {{"payload", size}}, [size](benchmark::State& s) {
      throughput_socket_reference(s, size);
    })->Unit(benchmark::kMicrosecond);
  }
  add_floors(
      "pipe.pingpong", {{"payload", kPingPongPayload}},
      [](benchmark::State& s, Parties p) {
        roundtrip_floor(s, {{kPingPongPayload, kPingPongPayload}}, p);
      },
      benchmark::kMicrosecond);
  add("pipe.pingpong", "socket-reference", {{"payload", kPingPongPayload}},
      [](benchmark::State& s) {
        socket_roundtrip(s, {{kPingPongPayload, kPingPongPayload}});
      })
      ->Unit(benchmark::kMicrosecond);
  for (bool tcp : {false, true}) {
    for (auto [impl, parties] :
         {std::pair{"floor", Parties::kProcesses}, std::pair{"floor-threads", Parties::kThreads}}) {
      add_named(
          std::string("listener.roundtrip/impl:") + impl + "/family:" + (tcp ? "tcp" : "unix"),
          [tcp, parties = parties](benchmark::State& s) {
            listener_roundtrip_floor(s, tcp, parties);
          })
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace

void socket_roundtrip_reference(benchmark::State& state,
                                const std::vector<std::pair<int64_t, int64_t>>& trips) {
  socket_roundtrip(state, trips);
}

}  // namespace mp::bench
