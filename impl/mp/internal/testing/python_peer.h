// mp/internal/testing/python_peer.h — tests that check mp against real CPython
// interpreters: which ones this machine has, and one running a peer script
// with its standard input and output on pipes.

#ifndef MP_INTERNAL_TESTING_PYTHON_PEER_H_
#define MP_INTERNAL_TESTING_PYTHON_PEER_H_

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace mp::testing {

// Every CPython 3.11+ on this machine (/usr/bin/python3, pyenv's), by real
// path, each once.
inline std::vector<std::string> interpreters() {
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

// A file of this repository in the test's runfiles.
inline std::string runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir && workspace) return std::string(srcdir) + "/" + workspace + "/" + path;
  return path;
}

// A test name made of an interpreter's path.
inline std::string interpreter_name(const std::string& path) {
  std::string name;
  for (char c : path) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// `python script args...`, its stdout readable line by line and its stdin
// writable. The destructor kills it if it is still running.
class PythonPeer {
 public:
  PythonPeer(const std::string& python, const std::string& script, std::vector<std::string> args) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    if (::pipe2(in, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      throw std::runtime_error("pipe2");
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    ::posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    args.insert(args.begin(), {python, script});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(in[0]);
    if (rc != 0) {
      ::close(out[0]);
      ::close(in[1]);
      throw std::runtime_error("posix_spawn " + python);
    }
    out_ = ::fdopen(out[0], "r");
    in_ = in[1];
  }
  PythonPeer(const PythonPeer&) = delete;
  PythonPeer& operator=(const PythonPeer&) = delete;
  ~PythonPeer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_) ::fclose(out_);
    if (in_ >= 0) ::close(in_);
  }

  // The next line it printed, without its newline; "" at end of output.
  std::string read_line() {
    std::string line;
    char buf[4096];
    while (::fgets(buf, sizeof(buf), out_)) {
      line += buf;
      if (!line.empty() && line.back() == '\n') {
        line.pop_back();
        return line;
      }
    }
    return line;
  }

  void write_line(const std::string& line) {
    std::string text = line + "\n";
    if (::write(in_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      throw std::runtime_error("write to the Python peer");
    }
  }

  // The exit code once it ended; what it still printed goes to `output`.
  int wait(std::string* output = nullptr) {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
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
  int in_ = -1;
};

}  // namespace mp::testing

#endif  // MP_INTERNAL_TESTING_PYTHON_PEER_H_
