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

extern char** environ;

namespace mp {
namespace {

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

// Every CPython 3.11+ on this machine, by real path.
std::vector<std::string> interpreters() {
  std::vector<std::string> candidates = {"/usr/bin/python3", "/usr/local/bin/python3"};
  glob_t found{};
  if (::glob("/root/.pyenv/versions/3.1[1-9]*/bin/python3", 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i) candidates.push_back(found.gl_pathv[i]);
  }
  ::globfree(&found);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& c : candidates) {
    char real[PATH_MAX];
    if (::access(c.c_str(), X_OK) != 0 || !::realpath(c.c_str(), real)) continue;
    if (seen.insert(real).second) out.push_back(c);
  }
  return out;
}

std::string peer_script() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  std::string rel = "impl/mp/internal/testdata/interop_peer.py";
  if (srcdir && workspace) return std::string(srcdir) + "/" + workspace + "/" + rel;
  return rel;
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

// A Python peer: a child process, its stdout readable line by line.
class PythonPeer {
 public:
  PythonPeer(const std::string& python, std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    args.insert(args.begin(), {python, peer_script()});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error("posix_spawn " + python);
    }
    out_ = ::fdopen(out[0], "r");
  }
  ~PythonPeer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_) ::fclose(out_);
  }

  std::string read_line() {
    char buf[4096];
    if (!::fgets(buf, sizeof(buf), out_)) return {};
    std::string line(buf);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
  }

  // The exit code; what it printed goes to `output`.
  int wait(std::string* output = nullptr) {
    std::string text;
    for (std::string line = read_line(); !line.empty(); line = read_line()) text += line + "\n";
    if (output) *output = text;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

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
      PythonPeer peer(GetParam(),
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
      PythonPeer peer(GetParam(), {"server", family, key.value_or("-"), sizes_arg()});
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
    PythonPeer peer(GetParam(), {"client", describe(lis.address()), "wrong", sizes_arg()});
    EXPECT_THROW(lis.accept(60s), AuthenticationError);
    std::string output;
    EXPECT_EQ(peer.wait(&output), 3) << "the Python client raises AuthenticationError\n" << output;
  }
  // The listener goes on serving.
  PythonPeer peer(GetParam(), {"client", describe(lis.address()), "secret", sizes_arg()});
  Connection c = lis.accept(60s);
  exchange(c);
  EXPECT_EQ(peer.wait(), 0);
}

TEST_P(CPythonInterop, WrongKeyFailsOnBothSidesPythonListener) {
  PythonPeer peer(GetParam(), {"server", "AF_INET", "secret", sizes_arg()});
  std::string line = peer.read_line();
  ASSERT_FALSE(line.empty());
  EXPECT_THROW(Client(parse(line), {.authkey = "wrong", .timeout = 60s}), AuthenticationError);
  std::string output;
  EXPECT_EQ(peer.wait(&output), 3) << "the Python listener raises AuthenticationError\n" << output;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
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
