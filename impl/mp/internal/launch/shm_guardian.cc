#include "mp/internal/launch/shm_guardian.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mp/internal/base/fd.h"
#include "mp/internal/base/per_process.h"
#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/runtime.h"

namespace mp::internal {

namespace {

using namespace std::chrono_literals;

constexpr const char* kSessionVariable = "MP_SHM_GUARDIAN_SESSION";
constexpr auto kHandshakeLimit = 30s;

// Frames a client sends: op (1 byte), inode (8), name length (4), name.
//   '+' registers a name, '-' forgets it, 'q' says the client leaves (it holds
//   no names), 'k' asks for a 'k' back (a ping).
// Names may hold any byte but '/' and NUL, newlines included.
struct FrameHeader {
  char op;
  uint64_t inode;
  uint32_t length;
} __attribute__((packed));

// The guardian's answer to a greeting: 'r' and its pid; or, to the process
// that started it, 'b' when another guardian already serves the session.
struct Ready {
  char tag;
  int32_t pid;
} __attribute__((packed));

// What the starter sends first: 'p', the session name's length, with its
// pidfd attached; then the session name.
struct Start {
  char tag;
  uint32_t length;
} __attribute__((packed));

std::string frame(char op, const std::string& name, ino_t inode) {
  FrameHeader h{op, static_cast<uint64_t>(inode), static_cast<uint32_t>(name.size())};
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  return out + name;
}

sockaddr_un session_address(const std::string& session, socklen_t* length) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = "mp-shm-guardian-" + session;
  name.resize(std::min(name.size(), sizeof(addr.sun_path) - 1));
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // abstract: leading NUL
  *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return addr;
}

std::string random_session() {
  uint64_t bits[2] = {};
  fill_random(bits, sizeof(bits));
  char text[40];
  std::snprintf(text, sizeof(text), "%016llx%016llx", static_cast<unsigned long long>(bits[0]),
                static_cast<unsigned long long>(bits[1]));
  return text;
}

// The session when the environment names none (a program that did not call
// init(), or a test's own): kept in memory, which fork children inherit.
std::mutex g_session_mu;
std::string* g_session = nullptr;

// This process's side: its guardian's connection and the names it guards.
struct Link {
  std::mutex mu;
  UniqueFd channel;
  pid_t guardian = 0;
  std::map<std::string, ino_t> names;
};
PerProcess<Link> g_link;
std::once_flag g_exit_hook;

void reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void send_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("send to the shared memory guardian");
    }
    done += static_cast<size_t>(n);
  }
}

// Reads the guardian's Ready answer (within the handshake limit).
std::optional<Ready> read_ready(int fd) {
  Ready ready{};
  if (!wait_fd(fd, POLLIN, deadline_after(kHandshakeLimit))) return std::nullopt;
  try {
    if (!read_exact(fd, &ready, sizeof(ready))) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;  // it closed part-way: it is going
  }
  return ready;
}

// Connects to the session's guardian, if one listens. nullopt: none does.
std::optional<UniqueFd> connect_guardian(const std::string& session, pid_t* guardian) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket");
  fd = above_stdio(std::move(fd));
  socklen_t length = 0;
  sockaddr_un addr = session_address(session, &length);
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), length) < 0) {
    if (errno == EINTR) continue;
    if (errno == ECONNREFUSED || errno == ENOENT) return std::nullopt;
    throw_errno("connect to the shared memory guardian");
  }
  int pidfd = self_pidfd();
  char tag = 'p';
  try {
    send_with_fds(fd.get(), &tag, 1, std::span<const int>(&pidfd, 1));
  } catch (const std::system_error&) {
    return std::nullopt;  // it was closing its listener
  }
  std::optional<Ready> ready = read_ready(fd.get());
  if (!ready || ready->tag != 'r') return std::nullopt;
  *guardian = ready->pid;
  return fd;
}

// Starts a guardian for the session. nullopt: another one got there first.
std::optional<UniqueFd> start_guardian(const std::string& session, pid_t* guardian) {
  auto [mine, theirs] = socket_pair(SOCK_STREAM);
  pid_t middle = spawn_self("--mp-internal-shm-guardian", theirs.get());
  theirs.reset();
  int pidfd = self_pidfd();
  Start start{'p', static_cast<uint32_t>(session.size())};
  try {
    send_with_fds(mine.get(), &start, sizeof(start), std::span<const int>(&pidfd, 1));
    write_all(mine.get(), session.data(), session.size());
  } catch (...) {
    reap(middle);
    throw;
  }
  // The middle process exits as soon as it has forked the guardian.
  reap(middle);
  std::optional<Ready> ready = read_ready(mine.get());
  if (!ready) {
    throw std::system_error(ECHILD, std::generic_category(),
                            "the shared memory guardian did not start");
  }
  if (ready->tag != 'r') return std::nullopt;
  *guardian = ready->pid;
  return std::move(mine);
}

// Connects this process to the session's guardian, starting one if none runs,
// and tells it every name this process holds.
void connect_link(Link& link) {
  link.channel.reset();
  const std::string session = shm_guardian_session();
  for (int attempt = 0;; ++attempt) {
    std::optional<UniqueFd> fd = connect_guardian(session, &link.guardian);
    if (!fd) fd = start_guardian(session, &link.guardian);
    if (fd) {
      link.channel = std::move(*fd);
      break;
    }
    // A guardian was exiting while we connected, or another process started
    // one at the same moment: try again.
    if (attempt == 20) {
      throw std::system_error(EAGAIN, std::generic_category(),
                              "no shared memory guardian could be reached");
    }
  }
  for (const auto& [name, inode] : link.names)
    send_all(link.channel.get(), frame('+', name, inode));
}

// Whether the guardian at the other end of `fd` is gone (its end closed).
bool peer_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// Sends `bytes`; if the guardian is gone (SIGKILLed) or none runs yet,
// connects anew (which re-registers every name held) instead.
void send_or_restart(Link& link, const std::string& bytes) {
  if (link.channel && !peer_gone(link.channel.get())) {
    try {
      send_all(link.channel.get(), bytes);
      return;
    } catch (const std::system_error&) {
    }
  }
  if (link.names.empty()) {
    link.channel.reset();
    return;
  }
  connect_link(link);
}

Link& my_link() {
  // A fork child inherits its parent's connection: not its own to use.
  if (Link* parents = g_link.inherited()) parents->channel.reset();
  return g_link.get();
}

// At exit (mp's exit function): a process that still holds names makes sure
// a guardian is there to remove them once it is gone.
void check_guardian_at_exit() {
  Link* link = g_link.mine();
  if (link == nullptr) return;
  std::lock_guard lock(link->mu);
  if (link->names.empty() || (link->channel && !peer_gone(link->channel.get()))) return;
  try {
    connect_link(*link);
  } catch (...) {
    // Nothing can be done: the names stay.
  }
}

}  // namespace

std::string shm_guardian_session() {
  {
    std::lock_guard lock(g_session_mu);
    if (g_session != nullptr) return *g_session;
  }
  if (const char* set = std::getenv(kSessionVariable); set != nullptr && *set != '\0') return set;
  std::lock_guard lock(g_session_mu);
  if (g_session == nullptr) g_session = new std::string(random_session());
  return *g_session;
}

void start_shm_guardian_session() {
  const char* set = std::getenv(kSessionVariable);
  if (set == nullptr || *set == '\0') ::setenv(kSessionVariable, random_session().c_str(), 1);
}

void set_shm_guardian_session(const std::string& session) {
  Link& link = my_link();
  std::lock_guard lock(link.mu);
  if (!link.names.empty()) {
    throw std::logic_error("set_shm_guardian_session: this process still holds names");
  }
  link.channel.reset();
  link.guardian = 0;
  std::lock_guard session_lock(g_session_mu);
  if (g_session == nullptr) g_session = new std::string;
  *g_session = session;
}

pid_t shm_guardian_pid() {
  Link* link = g_link.mine();
  if (link == nullptr) return 0;
  std::lock_guard lock(link->mu);
  return link->channel ? link->guardian : 0;
}

bool ping_shm_guardian() {
  Link* link = g_link.mine();
  if (link == nullptr) return false;
  std::lock_guard lock(link->mu);
  if (!link->channel) return false;
  try {
    send_all(link->channel.get(), frame('k', "", 0));
    char answer = 0;
    if (!wait_fd(link->channel.get(), POLLIN, deadline_after(kHandshakeLimit))) return false;
    return read_exact(link->channel.get(), &answer, 1) && answer == 'k';
  } catch (...) {
    return false;
  }
}

void guard_shm_name(const std::string& name, ino_t inode) {
  std::call_once(g_exit_hook, [] { add_runtime_hooks(&check_guardian_at_exit); });
  Link& link = my_link();
  std::lock_guard lock(link.mu);
  link.names[name] = inode;
  try {
    send_or_restart(link, frame('+', name, inode));
  } catch (...) {
    link.names.erase(name);
    throw;
  }
}

void forget_shm_name(const std::string& name) noexcept {
  Link* link = g_link.mine();
  if (link == nullptr) return;
  std::lock_guard lock(link->mu);
  if (link->names.erase(name) == 0) return;
  try {
    send_or_restart(*link, frame('-', name, 0));
  } catch (...) {
    // No guardian can be reached: the remaining names are unguarded.
  }
  if (link->names.empty() && link->channel) {
    // Nothing left to guard: this process leaves the guardian (it exits once
    // nobody is left).
    int fd = link->channel.get();
    bool last = false;
    try {
      send_all(fd, frame('q', "", 0));
      char answer = 0;
      last = wait_fd(fd, POLLIN, deadline_after(kHandshakeLimit)) && read_exact(fd, &answer, 1) &&
             answer == 'x';
    } catch (...) {
    }
    link->channel.reset();
    // A subreaper (or a namespace's init) inherits the guardian it started,
    // orphaned by the middle process: reap it once it exits, or it stays a
    // zombie.
    int subreaper = 0;
    ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
    if (last && (::getpid() == 1 || subreaper != 0)) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(link->guardian), &info, WEXITED | WNOHANG) == 0 &&
          info.si_pid == 0) {
        UniqueFd watch;
        try {
          watch = pidfd_open(link->guardian);
        } catch (...) {
        }
        if (watch) wait_fd(watch.get(), POLLIN, deadline_after(kHandshakeLimit));
        ::waitid(P_PID, static_cast<id_t>(link->guardian), &info, WEXITED | WNOHANG);
      }
    }
    link->guardian = 0;
  }
}

// The guardian's side ------------------------------------------------------------

namespace {

struct Client {
  UniqueFd conn;
  UniqueFd pidfd;
  pid_t pid = 0;
  bool greeted = false;
  bool open = true;
  std::string pending;
  std::map<std::string, ino_t> names;
};

// Reads what is available on `c`'s connection; answers pings. Returns false
// once the client said it leaves.
bool drain(Client& c) {
  char buf[4096];
  while (c.open) {
    ssize_t n = ::recv(c.conn.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      c.pending.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    c.open = false;  // end of file, or an error: nothing more will come
  }
  bool stays = true;
  size_t pos = 0;
  while (c.pending.size() - pos >= sizeof(FrameHeader)) {
    FrameHeader h;
    std::memcpy(&h, c.pending.data() + pos, sizeof(h));
    if (c.pending.size() - pos - sizeof(h) < h.length) break;
    std::string name = c.pending.substr(pos + sizeof(h), h.length);
    pos += sizeof(h) + h.length;
    if (h.op == '+') {
      c.names[name] = static_cast<ino_t>(h.inode);
    } else if (h.op == '-') {
      c.names.erase(name);
    } else if (h.op == 'k') {
      ::send(c.conn.get(), "k", 1, MSG_NOSIGNAL);
    } else if (h.op == 'q') {
      stays = false;
    }
  }
  c.pending.erase(0, pos);
  return stays;
}

// Unlinks `name` if it is still the segment its creator made.
bool remove_if_same(const std::string& name, ino_t inode) {
  struct stat st {};
  if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) return false;  // already gone
  if (st.st_ino != inode) return false;  // someone else's segment under the same name
  return ::shm_unlink(("/" + name).c_str()) == 0;
}

}  // namespace

[[noreturn]] void run_shm_guardian(int channel) {
  std::vector<UniqueFd> fds;
  Start start{};
  size_t got = 0;
  std::string session;
  try {
    while (got < sizeof(start)) {
      size_t n =
          recv_with_fds(channel, reinterpret_cast<char*>(&start) + got, sizeof(start) - got, fds);
      if (n == 0) ::_exit(1);
      got += n;
    }
    if (start.tag != 'p' || fds.empty() || start.length > 4096) ::_exit(1);
    session.resize(start.length);
    if (!read_exact(channel, session.data(), session.size())) ::_exit(1);
  } catch (...) {
    ::_exit(1);
  }
  pid_t pid = ::fork();
  if (pid != 0) ::_exit(pid < 0 ? 1 : 0);  // the middle process: its parent reaps it

  ::setsid();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) ::signal(sig, SIG_IGN);
  ::prctl(PR_SET_NAME, "mp-shm-guardian");
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::close(null);
  }
  const pid_t me = ::getpid();

  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  socklen_t length = 0;
  sockaddr_un addr = session_address(session, &length);
  if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), length) < 0 ||
      ::listen(listener.get(), 64) < 0) {
    // Another guardian serves the session (or none can): the starter
    // connects to that one.
    Ready busy{'b', me};
    ::send(channel, &busy, sizeof(busy), MSG_NOSIGNAL);
    ::_exit(0);
  }

  std::list<Client> clients;
  {
    Client& first = clients.emplace_back();
    first.conn = UniqueFd(channel);
    first.pidfd = std::move(fds[0]);
    first.greeted = true;
  }
  Ready ready{'r', me};
  if (::send(channel, &ready, sizeof(ready), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(ready))) {
    ::_exit(1);
  }

  bool removed_any = false;
  for (;;) {
    std::vector<pollfd> polls;
    polls.push_back({listener.get(), POLLIN, 0});
    for (Client& c : clients) {
      polls.push_back({c.open ? c.conn.get() : -1, POLLIN, 0});
      polls.push_back({c.pidfd ? c.pidfd.get() : -1, POLLIN, 0});
    }
    int n = ::poll(polls.data(), polls.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (polls[0].revents != 0) {
      for (;;) {
        int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) break;
        clients.emplace_back().conn = UniqueFd(fd);
      }
    }
    size_t at = 1;
    for (auto it = clients.begin(); it != clients.end(); at += 2) {
      Client& c = *it;
      const bool conn_ready = polls.size() > at && polls[at].revents != 0;
      const bool ended = polls.size() > at + 1 && polls[at + 1].revents != 0;
      bool stays = true;
      if (!c.greeted && conn_ready) {
        // The greeting: 'p' with the client's pidfd.
        std::vector<UniqueFd> got_fds;
        char tag = 0;
        size_t r = 0;
        try {
          r = recv_with_fds(c.conn.get(), &tag, 1, got_fds);
        } catch (...) {
        }
        if (r != 1 || tag != 'p' || got_fds.empty()) {
          it = clients.erase(it);
          continue;
        }
        c.pidfd = std::move(got_fds[0]);
        c.greeted = true;
        if (::send(c.conn.get(), &ready, sizeof(ready), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(sizeof(ready))) {
          it = clients.erase(it);
          continue;
        }
      } else if (c.greeted && (conn_ready || ended) && c.open) {
        // What the client sent before it went is still on the socket.
        stays = drain(c);
      }
      if (ended) {
        std::string removed;
        size_t count = 0;
        for (const auto& [name, inode] : c.names) {
          if (remove_if_same(name, inode)) {
            removed += (count++ ? ", /" : "/") + name;
          }
        }
        if (count > 0) {
          removed_any = true;
          std::fprintf(stderr,
                       "mp: shared memory guardian: a process ended without unlinking %zu "
                       "segment%s; removed %s\n",
                       count, count == 1 ? "" : "s", removed.c_str());
        }
        it = clients.erase(it);
        continue;
      }
      if (!stays) {
        // It left holding nothing: tell it whether the guardian goes too.
        bool last = clients.size() == 1;
        ::send(c.conn.get(), last ? "x" : "c", 1, MSG_NOSIGNAL);
        it = clients.erase(it);
        continue;
      }
      if (!c.open && c.names.empty()) {
        it = clients.erase(it);  // gone quietly, holding nothing
        continue;
      }
      ++it;
    }
    if (clients.empty()) break;
  }
  // Nobody left: stop listening (a process connecting meanwhile finds the
  // connection closed and starts a new guardian) and leave.
  listener.reset();
  ::_exit(removed_any ? 1 : 0);
}

}  // namespace mp::internal
