// White-box tests of the frame header and of messages over 2 GiB.

#include "mp/connection.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "mp/internal/ipc/wire.h"

namespace mp::internal {
namespace {

std::string header_bytes(uint64_t length) {
  unsigned char h[wire::kMaxHeaderSize];
  size_t n = wire::encode_header(length, h);
  return std::string(reinterpret_cast<char*>(h), n);
}

TEST(Wire, ShortAndLongHeaders) {
  EXPECT_EQ(header_bytes(0), std::string("\0\0\0\0", 4));
  EXPECT_EQ(header_bytes(0x7fffffff), std::string("\x7f\xff\xff\xff", 4));
  EXPECT_EQ(header_bytes(0x80000000ull), std::string("\xff\xff\xff\xff\0\0\0\0\x80\0\0\0", 12));
  for (uint64_t n : {0ull, 1ull, 0x7fffffffull, 0x80000000ull, 1ull << 40}) {
    std::string h = header_bytes(n);
    auto d = wire::decode_header(reinterpret_cast<const unsigned char*>(h.data()), h.size());
    EXPECT_EQ(d.status, wire::Header::kComplete);
    EXPECT_EQ(d.length, n);
    EXPECT_EQ(d.size, h.size());
    for (size_t cut = 0; cut < h.size(); ++cut) {
      EXPECT_EQ(wire::decode_header(reinterpret_cast<const unsigned char*>(h.data()), cut).status,
                wire::Header::kIncomplete);
    }
  }
  std::string bad("\x80\0\0\0", 4);
  EXPECT_EQ(wire::decode_header(reinterpret_cast<const unsigned char*>(bad.data()), 4).status,
            wire::Header::kBad);
}

// CPython's rule: a message over 0x7fffffff bytes goes as -1 + 8-byte length.
TEST(Connection, MessageOverTwoGibibytes) {
  const size_t size = (size_t{1} << 31) + 3;
  auto [a, b] = Pipe();
  std::thread sender([&, size] {
    std::string big(size, 'z');
    big[0] = 'a';
    big[size - 1] = 'q';
    a.send_bytes(big);
  });
  std::string got = b.recv_bytes();
  sender.join();
  ASSERT_EQ(got.size(), size);
  EXPECT_EQ(got[0], 'a');
  EXPECT_EQ(got[size - 1], 'q');
  EXPECT_EQ(got.find_first_not_of('z', 1), size - 1);
}

TEST(Connection, LongHeaderOnTheWire) {
  auto [a, b] = Pipe();
  // What send_bytes writes for a long message starts with the 12-byte form.
  const size_t size = (size_t{1} << 31) + 1;
  std::thread sender([&, size] {
    try {
      a.send_bytes(std::string(size, 'x'));
    } catch (const std::system_error&) {
      // EPIPE: the reader left after the header, as intended
    }
  });
  char first[12];
  ASSERT_TRUE(read_exact(b.fileno(), first, sizeof(first)));
  EXPECT_EQ(std::string(first, 12), header_bytes(size));
  b.close();  // the sender gets EPIPE
  sender.join();
}

// The Connections section of docs/API.md, as written there.
TEST(Connection, ApiContractCompilesAndBehaves) {
  using namespace std::chrono_literals;
  std::string buf = "0123456789";
  int64_t offset = 2, size = 3;
  std::array<std::byte, 16> storage{};
  std::span<std::byte> span(storage);

  auto [a, b] = mp::Pipe();  // duplex; mp::Pipe(false) -> (reader, writer)
  a.send(std::vector<int>{1, 2});
  auto xs = b.recv<std::vector<int>>();
  a.send_bytes("abc");
  a.send_bytes(buf, offset, size);
  std::string m = b.recv_bytes();
  std::string m2 = b.recv_bytes(1024);
  a.send_bytes("xyz");
  size_t n = b.recv_bytes_into(span, offset);
  bool ready = b.poll();
  bool ready2 = b.poll(100ms);
  auto ready_list = mp::wait({&a, &b}, 1s);
  EXPECT_EQ(xs, (std::vector<int>{1, 2}));
  EXPECT_EQ(m, "abc");
  EXPECT_EQ(m2, "234");
  EXPECT_EQ(n, 3u);
  EXPECT_FALSE(ready);
  EXPECT_FALSE(ready2);
  EXPECT_TRUE(ready_list.empty());
  EXPECT_GE(a.fileno(), 0);
  a.close();
  EXPECT_TRUE(a.closed());
  a.readable();
  a.writable();
  EXPECT_THROW(b.recv_bytes(), mp::EOFError);  // peer closed, drained

  mp::Listener lis(mp::TcpAddress{"127.0.0.1", 0}, {.authkey = "secret"});
  mp::Address where = lis.address();
  EXPECT_NE(std::get<mp::TcpAddress>(where).port, 0) << "the real port when 0 was asked";
  std::thread client([where] {
    mp::Connection d = mp::Client(where, {.authkey = "secret"});
    d.send_bytes("hi");
  });
  mp::Connection c = lis.accept();
  lis.close();
  EXPECT_EQ(c.recv_bytes(), "hi");
  client.join();
}

}  // namespace
}  // namespace mp::internal
