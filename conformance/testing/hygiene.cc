#include "testing/hygiene.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"

namespace mp::conformance {

namespace {

std::vector<std::string> list_dir(const char* path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path);
  if (dir == nullptr) return names;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// (ppid, "comm (state)") from /proc/<pid>/stat; the command may hold spaces.
bool read_stat(pid_t pid, pid_t* ppid, std::string* what) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t open = line.find('(');
  size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  char state;
  rest >> state >> *ppid;
  *what = line.substr(open + 1, close - open - 1) + " (" + state + ")";
  return true;
}

std::map<pid_t, std::string> list_descendants() {
  std::map<pid_t, std::string> out;
  const pid_t me = ::getpid();
  const pid_t server = mp::internal::forkserver_pid().value_or(-1);
  for (const std::string& name : list_dir("/proc")) {
    if (!all_digits(name)) continue;
    pid_t pid = std::stoi(name);
    pid_t ppid;
    std::string what;
    if (pid == server || !read_stat(pid, &ppid, &what)) continue;
    // The fork server keeps one spare child, forked in advance; it is part
    // of the server, not something a test left behind.
    if (what.rfind("mp-spare (", 0) == 0) continue;
    if (ppid == me || (server > 0 && ppid == server)) out[pid] = what;
  }
  return out;
}

std::string link_target(const std::string& path) {
  char buf[512];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n < 0 ? "?" : std::string(buf, static_cast<size_t>(n));
}

}  // namespace

const std::string& shm_tag() {
  static const std::string tag = [] {
    const char* set = std::getenv("MP_SHM_TAG");
    return std::string(set ? set : "");
  }();
  return tag;
}

Snapshot Snapshot::take() {
  Snapshot s;
  s.descendants = list_descendants();
  for (const std::string& name : list_dir("/proc/self/fd")) {
    std::string target = link_target("/proc/self/fd/" + name);
    if (target.rfind("/proc/", 0) == 0 && target.find("/fd") != std::string::npos) continue;
    s.fds[std::stoi(name)] = target;
  }
  // /dev/shm is shared by everything on the machine (other test binaries
  // running beside this one, CPython benchmarks): only names carrying this
  // binary's tag (see shm_tag()) are ours to account for.
  const std::string tag = shm_tag();
  for (const std::string& name : list_dir("/dev/shm")) {
    if (name.find(tag) != std::string::npos) s.shm.insert(name);
  }
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:") != std::string::npos) ++s.memfd_maps;
  }
  s.threads = list_dir("/proc/self/task").size();
  return s;
}

std::vector<std::string> leaks_since(const Snapshot& before) {
  // Threads and processes that were told to finish may need a moment to be
  // gone; anything still there after the grace period is a leak.
  Snapshot after = Snapshot::take();
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // New pids, not a larger count: the fork server's fresh spare is briefly
  // unnamed, and one such spare in each snapshot must not hide a leak or make
  // one up.
  auto new_child = [&before](const Snapshot& s) {
    for (const auto& [pid, what] : s.descendants) {
      if (!before.descendants.count(pid)) return true;
    }
    return false;
  };
  while ((after.threads > before.threads || new_child(after)) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    after = Snapshot::take();
  }
  std::vector<std::string> leaks;
  for (const auto& [pid, what] : after.descendants) {
    if (!before.descendants.count(pid)) {
      leaks.push_back("child process left behind: pid " + std::to_string(pid) + " " + what);
    }
  }
  if (after.fds.size() > before.fds.size()) {
    std::string which;
    for (const auto& [fd, target] : after.fds) {
      auto it = before.fds.find(fd);
      if (it == before.fds.end() || it->second != target) {
        which += " " + std::to_string(fd) + "->" + target;
      }
    }
    leaks.push_back("descriptors leaked: " + std::to_string(after.fds.size() - before.fds.size()) +
                    " more open than before the test;" + which);
  }
  for (const std::string& name : after.shm) {
    if (!before.shm.count(name)) {
      leaks.push_back("shared memory segment left in /dev/shm: " + name);
      ::unlink(("/dev/shm/" + name).c_str());
    }
  }
  if (after.memfd_maps > before.memfd_maps) {
    leaks.push_back("shared memory mappings leaked: " +
                    std::to_string(after.memfd_maps - before.memfd_maps));
  }
  if (after.threads > before.threads) {
    leaks.push_back("threads left running: " + std::to_string(after.threads - before.threads));
  }
  return leaks;
}

void kill_descendants() { kill_descendants_since(Snapshot{}); }

void kill_descendants_since(const Snapshot& before) {
  std::vector<pid_t> killed;
  for (const auto& [pid, what] : list_descendants()) {
    if (!before.descendants.count(pid) && ::kill(pid, SIGKILL) == 0) killed.push_back(pid);
  }
  // Reaps what it killed (the fork server's children are the server's to
  // reap: waitpid fails at once with ECHILD for them).
  for (pid_t pid : killed) ::waitpid(pid, nullptr, 0);
}

}  // namespace mp::conformance
