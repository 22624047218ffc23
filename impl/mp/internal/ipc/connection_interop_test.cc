// Wire compatibility with CPython's multiprocessing.connection, against real
// interpreters: a Python Client talks to an mp Listener and an mp Client to a
// Python Listener, with and without an authkey, with payloads of 0 B, 1 B,
// 64 KiB and 4 MiB each way; a wrong key fails on both sides. Runs once per
// CPython found (/usr/bin/python3 and pyenv's 3.11-3.13); none -> skipped.

#include <fcntl.h>
#include <glob.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mp/connection.h"
#include "mp/internal/testing/python_peer.h"

extern char** environ;

namespace mp {
namespace {

using testing::interpreters;
using testing::PythonPeer;

std::string peer_script() {
  return testing::runfile("impl/mp/internal/testing/testdata/interop_peer.py");
}

using namespace std::chrono_literals;

const std::vector<size_t> kSizes = {0, 1, 64 << 10, 4 << 20};

std::string pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i + n) % 256);
  return out;
}

std::string sizes_arg() {
  std::string out;
  for (size_t n : kSizes) out += (out.empty() ? "" : ",") + std::to_string(n);
  return out;
}

std::string describe(const Address& address) {
  if (const auto* tcp = std::get_if<TcpAddress>(&address)) {
    return "tcp " + tcp->host + " " + std::to_string(tcp->port);
  }
  std::string path = std::get<std::string>(address);
  if (!path.empty() && path[0] == '\0') path = "@" + path.substr(1);
  return "unix " + path;
}

Address parse(const std::string& line) {
  if (line.rfind("tcp ", 0) == 0) {
    size_t space = line.find(' ', 4);
    return TcpAddress{line.substr(4, space - 4),
                      static_cast<uint16_t>(std::stoi(line.substr(space + 1)))};
  }
  std::string path = line.substr(5);
  if (!path.empty() && path[0] == '@') path = std::string(1, '\0') + path.substr(1);
  return path;
}

// The C++ side of an exchange: for each size, send pattern(n), receive it back.
void exchange(Connection& c) {
  for (size_t n : kSizes) {
    c.send_bytes(pattern(n));
    ASSERT_TRUE(c.poll(60s)) << "no answer to " << n << " bytes";
    std::string back = c.recv_bytes();
    EXPECT_EQ(back.size(), n);
    EXPECT_TRUE(back == pattern(n)) << n << " bytes came back different";
  }
}

class CPythonInterop : public ::testing::TestWithParam<std::string> {};

std::vector<Address> listener_addresses() {
  return {TcpAddress{"127.0.0.1", 0}, Address(std::string())};  // "" -> a fresh abstract name
}

Listener make_listener(const Address& address, std::optional<std::string> key) {
  if (std::holds_alternative<std::string>(address))
    return Listener(ListenerOptions{.authkey = key});
  return Listener(address, {.authkey = key});
}

TEST_P(CPythonInterop, PythonClientToMpListener) {
  for (const Address& where : listener_addresses()) {
    for (std::optional<std::string> key :
         {std::optional<std::string>(), std::optional<std::string>("secret")}) {
      Listener lis = make_listener(where, key);
      PythonPeer peer(GetParam(), peer_script(),
                      {"client", describe(lis.address()), key.value_or("-"), sizes_arg()});
      Connection c = lis.accept(60s);
      exchange(c);
      std::string output;
      EXPECT_EQ(peer.wait(&output), 0)
          << describe(lis.address()) << (key ? " with key" : "") << "\n"
          << output;
    }
  }
}

TEST_P(CPythonInterop, MpClientToPythonListener) {
  for (const char* family : {"AF_INET", "AF_UNIX"}) {
    for (std::optional<std::string> key :
         {std::optional<std::string>(), std::optional<std::string>("secret")}) {
      PythonPeer peer(GetParam(), peer_script(),
                      {"server", family, key.value_or("-"), sizes_arg()});
      std::string line = peer.read_line();
      ASSERT_FALSE(line.empty()) << "the Python listener printed no address";
      Connection c = Client(parse(line), {.authkey = key, .timeout = 60s});
      exchange(c);
      std::string output;
      EXPECT_EQ(peer.wait(&output), 0) << family << (key ? " with key" : "") << "\n" << output;
    }
  }
}

TEST_P(CPythonInterop, WrongKeyFailsOnBothSidesPythonClient) {
  Listener lis(TcpAddress{"127.0.0.1", 0}, {.authkey = "secret"});
  {
    PythonPeer peer(GetParam(), peer_script(),
                    {"client", describe(lis.address()), "wrong", sizes_arg()});
    EXPECT_THROW(lis.accept(60s), AuthenticationError);
    std::string output;
    EXPECT_EQ(peer.wait(&output), 3) << "the Python client raises AuthenticationError\n" << output;
  }
  // The listener goes on serving.
  PythonPeer peer(GetParam(), peer_script(),
                  {"client", describe(lis.address()), "secret", sizes_arg()});
  Connection c = lis.accept(60s);
  exchange(c);
  EXPECT_EQ(peer.wait(), 0);
}

TEST_P(CPythonInterop, WrongKeyFailsOnBothSidesPythonListener) {
  PythonPeer peer(GetParam(), peer_script(), {"server", "AF_INET", "secret", sizes_arg()});
  std::string line = peer.read_line();
  ASSERT_FALSE(line.empty());
  EXPECT_THROW(Client(parse(line), {.authkey = "wrong", .timeout = 60s}), AuthenticationError);
  std::string output;
  EXPECT_EQ(peer.wait(&output), 3) << "the Python listener raises AuthenticationError\n" << output;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  return testing::interpreter_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, CPythonInterop, ::testing::ValuesIn(interpreters()),
                         test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CPythonInterop);

TEST(CPythonInterop, SomeInterpreterExists) {
  if (interpreters().empty())
    GTEST_SKIP() << "no CPython 3.11+ on this machine: interop not checked";
  SUCCEED() << interpreters().size() << " interpreters";
}

}  // namespace
}  // namespace mp
