#include "mp/internal/shm_guardian.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mp/internal/fd.h"
#include "mp/internal/per_process.h"
#include "mp/internal/popen.h"
#include "mp/internal/runtime.h"

namespace mp::internal {

namespace {

// Frames on the socket: op (1 byte: '+' or '-'), inode (8), name length (4),
// name. Names may hold any byte but '/' and NUL, newlines included.
struct FrameHeader {
  char op;
  uint64_t inode;
  uint32_t length;
} __attribute__((packed));

std::string frame(char op, const std::string& name, ino_t inode) {
  FrameHeader h{op, static_cast<uint64_t>(inode), static_cast<uint32_t>(name.size())};
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  return out + name;
}

// The creator's side: its guardian's socket and the names it guards.
struct Link {
  std::mutex mu;
  UniqueFd channel;
  pid_t guardian = 0;
  std::map<std::string, ino_t> names;
};
PerProcess<Link> g_link;

void reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

UniqueFd start_guardian(pid_t* guardian) {
  auto [mine, theirs] = socket_pair(SOCK_STREAM);
  pid_t middle = spawn_self("--mp-internal-shm-guardian", theirs.get());
  theirs.reset();
  int pidfd = self_pidfd();
  char tag = 'p';
  try {
    send_with_fds(mine.get(), &tag, 1, std::span<const int>(&pidfd, 1));
  } catch (...) {
    reap(middle);
    throw;
  }
  // The middle process exits as soon as it has forked the guardian, which
  // then says it is ready.
  reap(middle);
  struct {
    char tag;
    int32_t pid;
  } __attribute__((packed)) ready{};
  if (!wait_fd(mine.get(), POLLIN, deadline_after(std::chrono::seconds(30))) ||
      !read_exact(mine.get(), &ready, sizeof(ready)) || ready.tag != 'r') {
    throw std::system_error(ECHILD, std::generic_category(),
                            "the shared memory guardian did not start");
  }
  *guardian = ready.pid;
  return std::move(mine);
}

void send_frame(int fd, const std::string& bytes) {
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

// Sends `bytes`; if the guardian is gone (or none runs yet), starts one and
// tells it every name still registered instead.
void send_or_restart(Link& link, const std::string& bytes) {
  if (link.channel) {
    try {
      send_frame(link.channel.get(), bytes);
      return;
    } catch (const std::system_error&) {
      link.channel.reset();
    }
  }
  if (link.names.empty()) return;
  link.channel = start_guardian(&link.guardian);
  for (const auto& [name, inode] : link.names)
    send_frame(link.channel.get(), frame('+', name, inode));
}

Link& my_link() {
  // A fork child inherits its parent's socket: not its own to use.
  if (Link* parents = g_link.inherited()) parents->channel.reset();
  return g_link.get();
}

// The guardian's side -------------------------------------------------------------

// Reads what is available on `channel` into `names`. False at end of file.
bool drain(int channel, std::string& pending, std::map<std::string, ino_t>& names, bool& quit) {
  char buf[4096];
  bool open = true;
  for (;;) {
    ssize_t n = ::recv(channel, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      pending.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    open = false;  // end of file, or an error: nothing more will come
    break;
  }
  size_t pos = 0;
  while (pending.size() - pos >= sizeof(FrameHeader)) {
    FrameHeader h;
    std::memcpy(&h, pending.data() + pos, sizeof(h));
    if (pending.size() - pos - sizeof(h) < h.length) break;
    std::string name = pending.substr(pos + sizeof(h), h.length);
    pos += sizeof(h) + h.length;
    if (h.op == '+') {
      names[name] = static_cast<ino_t>(h.inode);
    } else if (h.op == '-') {
      names.erase(name);
    } else if (h.op == 'q') {
      quit = true;
    }
  }
  pending.erase(0, pos);
  return open;
}

void remove_if_same(const std::string& name, ino_t inode) {
  struct stat st {};
  if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) return;  // already gone
  if (st.st_ino != inode) return;  // someone else's segment under the same name
  ::shm_unlink(("/" + name).c_str());
}

}  // namespace

void guard_shm_name(const std::string& name, ino_t inode) {
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
    // No guardian can be started: the remaining names are unguarded.
  }
  if (link->names.empty() && link->channel) {
    // Nothing left to watch: the guardian leaves at once (not only once every
    // fork child holding a copy of the socket has closed it).
    try {
      send_frame(link->channel.get(), frame('q', "", 0));
    } catch (...) {
    }
    link->channel.reset();
    // A subreaper (or a namespace's init) inherits its guardian, orphaned by
    // the middle process: reap it, or it stays a zombie.
    int subreaper = 0;
    ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
    if (::getpid() == 1 || subreaper != 0) reap(link->guardian);
  }
}

[[noreturn]] void run_shm_guardian(int channel) {
  std::vector<UniqueFd> fds;
  char tag = 0;
  size_t got = 0;
  try {
    got = recv_with_fds(channel, &tag, 1, fds);
  } catch (...) {
    ::_exit(1);
  }
  if (got != 1 || tag != 'p' || fds.empty()) ::_exit(1);
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
  const int pidfd = fds[0].get();
  struct {
    char tag;
    int32_t pid;
  } __attribute__((packed)) ready{'r', ::getpid()};
  if (::send(channel, &ready, sizeof(ready), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(ready))) {
    ::_exit(1);
  }

  std::map<std::string, ino_t> names;
  std::string pending;
  bool channel_open = true;
  bool quit = false;
  for (;;) {
    pollfd polls[2] = {{pidfd, POLLIN, 0}, {channel, POLLIN, 0}};
    int n = ::poll(polls, channel_open ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool creator_gone = polls[0].revents != 0;
    // What the creator sent before it went is still on the socket.
    if (channel_open && (creator_gone || polls[1].revents != 0)) {
      channel_open = drain(channel, pending, names, quit);
    }
    if (creator_gone) break;
    // The creator closed the socket: with nothing registered, it unlinked
    // everything (or has nothing to guard); otherwise it exec'd, and its
    // names stay guarded until it ends.
    if ((quit || !channel_open) && names.empty()) ::_exit(0);
  }
  for (const auto& [name, inode] : names) remove_if_same(name, inode);
  ::_exit(0);
}

}  // namespace mp::internal
