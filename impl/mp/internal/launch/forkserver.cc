// The fork server: a clean, single-threaded copy of the program, started once
// by exec and asked over a private socket to fork children.
//
// Protocol. The parent holds one end of a SOCK_SEQPACKET socketpair (the
// control socket; nobody else has it). For each child it makes a stream
// socketpair (A, B) and sends B over the control socket. The server checks the
// sender's credentials (SCM_CREDENTIALS: only its own parent is obeyed), forks,
// and replies on B with the child's pid and a pidfd for it; when it reaps the
// child it writes the exit code on B. The child reads what to run from B, which
// the parent fills through A exactly as for spawn.

#include "mp/internal/launch/forkserver.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "mp/errors.h"
#include "mp/internal/base/per_process.h"
#include "mp/internal/base/target.h"
#include "mp/internal/launch/popen.h"
#include "mp/reduction.h"

namespace mp::internal {

namespace {

constexpr int32_t kRefused = -1;
constexpr int32_t kForkFailed = -2;
constexpr size_t kMaxControlMessage = 4096;
// How long a parent waits for the server to report the exit code of a child
// that has ended before it assumes the server is gone.
constexpr auto kStatusGrace = std::chrono::seconds(10);

struct Client {
  std::mutex mu;
  UniqueFd control;
  pid_t pid = 0;
  UniqueFd pidfd;
};

PerProcess<Client> g_clients;

void reap_server_locked(Client& c) {
  if (!c.pidfd) return;
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(c.pidfd.get()), &info, WEXITED) < 0 &&
         errno == EINTR) {
  }
  c.pidfd.reset();
  c.control.reset();
  c.pid = 0;
}

// The first message a new server gets: the functions to run before forking.
void send_preload_locked(Client& c) {
  // Sent even when empty: it also tells the server its setup is complete.
  std::vector<CodeLocation> where;
  for (auto fn : forkserver_preload())
    where.push_back(locate_code(reinterpret_cast<const void*>(fn)));
  Writer w;
  w.write_pod('P');
  encode(w, where);
  if (w.bytes().size() > kMaxControlMessage) throw ValueError("forkserver preload list too long");
  write_all(c.control.get(), w.bytes().data(), w.bytes().size());
}

void start_server_locked(Client& c) {
  auto [ours, theirs] = socket_pair(SOCK_SEQPACKET);
  // Credentials are attached when a message is queued, so the server's end
  // must ask for them before the first request is sent, i.e. now.
  int one = 1;
  if (::setsockopt(theirs.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
    throw_errno("setsockopt(SO_PASSCRED)");
  }
  pid_t pid = spawn_self("--mp-internal-forkserver", theirs.get());
  c.pidfd = pidfd_of_new_child(pid);
  c.pid = pid;
  c.control = std::move(ours);
  send_preload_locked(c);
}

bool server_alive_locked(Client& c) {
  return c.control && c.pidfd && !wait_fd(c.pidfd.get(), POLLIN, Clock::now());
}

void ensure_started_locked(Client& c) {
  if (server_alive_locked(c)) return;
  reap_server_locked(c);  // it died (SIGINT, SIGKILL, ...): start a new one
  start_server_locked(c);
}

// Sends B to the server; false when the server has gone away.
bool send_request_locked(Client& c, int b) {
  char tag = 'F';
  try {
    send_with_fds(c.control.get(), &tag, 1, std::span<const int>(&b, 1));
    return true;
  } catch (const std::system_error& e) {
    if (e.code().value() == EPIPE || e.code().value() == ECONNRESET) return false;
    throw;
  }
}

class ForkserverPopen final : public Popen {
 public:
  ForkserverPopen(pid_t pid, UniqueFd pidfd, UniqueFd status)
      : Popen(pid, std::move(pidfd)), status_(std::move(status)) {}

  std::optional<int> wait(const Deadline& deadline) override {
    if (code_) return code_;
    if (!wait_fd(pidfd_.get(), POLLIN, deadline)) return std::nullopt;
    code_ = 255;  // unless we learn better
    if (kernel_reports_exit_through_pidfd()) {
      // The server lets the kernel reap its children at once, and the kernel
      // keeps the status with the pidfd: no message, no wake-up of the server
      // on the way. The reaping follows the exit by moments.
      for (auto until = Clock::now() + kStatusGrace; Clock::now() < until;) {
        if (auto status = pidfd_exit_status(pidfd_.get())) {
          code_ = exit_code_of_status(*status);
          break;
        }
        std::this_thread::yield();
      }
      status_.reset();
      return code_;
    }
    int32_t code = 0;
    try {
      if (wait_fd(status_.get(), POLLIN, Clock::now() + kStatusGrace) &&
          read_exact(status_.get(), &code, sizeof(code))) {
        code_ = code;
      }
    } catch (const std::exception&) {
    }
    status_.reset();
    return code_;
  }

 private:
  UniqueFd status_;
  std::optional<int> code_;
};

void run_preload(std::string_view message) {
  try {
    Reader r(message);
    for (const CodeLocation& where : decode<std::vector<CodeLocation>>(r)) {
      reinterpret_cast<void (*)()>(const_cast<void*>(resolve_code(where)))();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mp: fork server preload failed: %s\n", e.what());
  }
}

}  // namespace

std::unique_ptr<Popen> launch_forkserver(const ChildInfo& info, const EncodedTarget& target) {
  Writer message = encode_child_channel(info, target);  // may throw PicklingError
  auto [a, b] = socket_pair(SOCK_STREAM);
  {
    Client& client = g_clients.get();
    std::lock_guard lock(client.mu);
    ensure_started_locked(client);
    if (!send_request_locked(client, b.get())) {
      reap_server_locked(client);
      start_server_locked(client);
      if (!send_request_locked(client, b.get())) {
        throw ProcessError("the fork server is not answering");
      }
    }
  }
  b.reset();
  try {
    send_child_channel(a.get(), message);
  } catch (const std::system_error&) {
    // Refused or the child died before reading: the reply below tells which.
  }
  int32_t pid = 0;
  std::vector<UniqueFd> fds;
  size_t got = 0;
  while (got < sizeof(pid)) {
    size_t n = recv_with_fds(a.get(), reinterpret_cast<char*>(&pid) + got, sizeof(pid) - got, fds);
    if (n == 0) throw ProcessError("the fork server went away while starting a process");
    got += n;
  }
  if (pid == kRefused) {
    throw AuthenticationError("the fork server refused the request: it obeys only its parent");
  }
  if (pid == kForkFailed) throw ProcessError("the fork server could not fork");
  if (fds.size() != 1) throw ProcessError("the fork server sent no pidfd for the child");
  return std::make_unique<ForkserverPopen>(pid, std::move(fds[0]), std::move(a));
}

std::optional<pid_t> forkserver_pid() {
  Client* client = g_clients.mine();
  if (!client) return std::nullopt;
  std::lock_guard lock(client->mu);
  if (!server_alive_locked(*client)) return std::nullopt;
  return client->pid;
}

int forkserver_control_fd() {
  Client* client = g_clients.mine();
  if (!client) return -1;
  std::lock_guard lock(client->mu);
  return client->control ? client->control.get() : -1;
}

void ensure_forkserver() {
  Client& client = g_clients.get();
  std::lock_guard lock(client.mu);
  ensure_started_locked(client);
}

void stop_forkserver() noexcept {
  Client* client = g_clients.mine();
  if (!client) return;
  std::lock_guard lock(client->mu);
  Client& c = *client;
  if (!c.pidfd) return;
  c.control.reset();  // the server exits when its control socket closes
  try {
    if (!wait_fd(c.pidfd.get(), POLLIN, Clock::now() + std::chrono::seconds(2))) {
      pidfd_send_signal(c.pidfd.get(), SIGKILL);
    }
  } catch (...) {
  }
  reap_server_locked(c);
}

void forget_forkserver_after_fork() noexcept {
  // The server belongs to the parent: close our copies of its sockets (reads
  // only; the stale bookkeeping is left as it is, never used again).
  if (Client* inherited = g_clients.inherited(); inherited && inherited->control) {
    ::close(inherited->control.get());
    ::close(inherited->pidfd.get());
    // Our own, empty bookkeeping from now on: those numbers will be reused,
    // and our children must not close them again.
    g_clients.get();
  }
}

namespace {

// The server's side. Single-threaded: one poll loop over the control socket
// and a signalfd for SIGCHLD.
//
// To keep fork() off the path of a start(), the server keeps one spare: a
// child forked in advance, named "mp-spare", that waits for a channel. A
// request hands the channel to the spare (which becomes the new process) and
// a new spare is forked once the server is idle. Forking the spare early is
// invisible to the child: the server's memory does not change between
// requests. A spare dies with the server (its link to the server ends); a
// process it has become does not.
class Server {
 public:
  explicit Server(UniqueFd control) : control_(std::move(control)), parent_(::getppid()) {
    sigemptyset(&chld_);
    sigaddset(&chld_, SIGCHLD);
    if (kernel_reports_exit_through_pidfd()) {
      // Children are reaped by the kernel as they exit; their parents read
      // the status through their pidfds.
      ::signal(SIGCHLD, SIG_IGN);
      ::sigprocmask(SIG_SETMASK, nullptr, &old_mask_);
    } else {
      ::sigprocmask(SIG_BLOCK, &chld_, &old_mask_);
      sigfd_ = UniqueFd(::signalfd(-1, &chld_, SFD_CLOEXEC | SFD_NONBLOCK));
      if (!sigfd_) throw_errno("signalfd");
    }
  }

  [[noreturn]] void run() {
    for (;;) {
      pollfd fds[2] = {{control_.get(), POLLIN, 0}, {sigfd_ ? sigfd_.get() : -1, POLLIN, 0}};
      // Idle (nothing pending) and without a spare: fork one now.
      int timeout = (!spare_ && spares_wanted_) ? 0 : -1;
      int n = ::poll(fds, 2, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (n == 0) {
        make_spare();
        continue;
      }
      if (fds[1].revents) reap();
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !handle_control()) break;
    }
    // The parent closed the control socket: we are done. The spare follows
    // (its parent-death signal); started processes run on.
    std::fflush(nullptr);
    ::_exit(0);
  }

 private:
  struct Spare {
    pid_t pid;
    UniqueFd link;   // hands it the channel
    UniqueFd pidfd;  // for its parent-to-be
  };

  void reap() {
    signalfd_siginfo si;
    while (::read(sigfd_.get(), &si, sizeof(si)) > 0) {
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (spare_ && spare_->pid == pid) spare_.reset();
      auto it = status_of_.find(pid);
      if (it == status_of_.end()) continue;
      int32_t code = exit_code_of_status(status);
      ::send(it->second.get(), &code, sizeof(code), MSG_NOSIGNAL | MSG_DONTWAIT);
      status_of_.erase(it);
    }
  }

  // One message from the control socket; false once it is closed.
  bool handle_control() {
    char data[kMaxControlMessage];
    iovec iov{data, sizeof(data)};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    ssize_t n = ::recvmsg(control_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    std::optional<ucred> sender;
    std::vector<UniqueFd> passed;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        sender = cred;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          passed.emplace_back(fd);
        }
      }
    }
    bool from_parent = sender && sender->pid == parent_;
    if (from_parent && data[0] == 'P' && passed.empty()) {
      run_preload(std::string_view(data + 1, static_cast<size_t>(n) - 1));
      spares_wanted_ = true;  // from now on the server's memory is final
      return true;
    }
    if (!from_parent || passed.size() != 1 || data[0] != 'F' || n != 1) {
      for (auto& fd : passed) reply(fd.get(), kRefused);
      return true;
    }
    start(std::move(passed[0]));
    return true;
  }

  // Makes `channel`'s process out of the spare (forking one now if there is
  // none, or if the one there died).
  void start(UniqueFd channel) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!spare_) make_spare();
      if (!spare_) break;
      Spare spare = std::move(*spare_);
      spare_.reset();
      int fd = channel.get();
      char tag = 'G';
      try {
        send_with_fds(spare.link.get(), &tag, 1, std::span<const int>(&fd, 1));
      } catch (const std::exception&) {
        continue;  // it died; its pidfd goes with it
      }
      try {
        int32_t message = spare.pid;
        int pidfd = spare.pidfd.get();
        send_with_fds(channel.get(), &message, sizeof(message), std::span<const int>(&pidfd, 1));
      } catch (const std::exception&) {
        // The parent went away; the child will find its channel empty.
      }
      if (sigfd_) status_of_.emplace(spare.pid, std::move(channel));
      return;
    }
    reply(channel.get(), kForkFailed);
  }

  // In a child of the server: nothing of the server's but `keep` stays open.
  void become_child(int keep) {
    ::signal(SIGCHLD, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    close_fds_except(std::span<const int>(&keep, 1));
    control_.release();
    sigfd_.release();
    if (spare_) {
      spare_->link.release();
      spare_->pidfd.release();
    }
    for (auto& [_, fd] : status_of_) fd.release();
  }

  // In the spare: waits for its channel and becomes the process it names.
  // Nothing may unwind from here into the server's loop.
  [[noreturn]] void be_spare(UniqueFd link) noexcept {
    UniqueFd channel;
    try {
      char name[16] = {};
      ::prctl(PR_GET_NAME, name);
      ::prctl(PR_SET_NAME, "mp-spare");
      become_child(link.get());
      char tag = 0;
      std::vector<UniqueFd> fds;
      size_t got = recv_with_fds(link.get(), &tag, 1, fds);
      // End of file: the server is gone (a message it queued before dying
      // still arrives, so a started process always starts).
      if (got != 1 || tag != 'G' || fds.size() != 1) ::_exit(0);
      ::prctl(PR_SET_NAME, name);
      channel = std::move(fds[0]);
    } catch (...) {
      ::_exit(0);  // nobody asked for this spare yet: nobody misses it
    }
    link.reset();
    run_child_from_channel(std::move(channel), ChildExit::kQuick);
  }

  void make_spare() {
    UniqueFd ours, theirs;
    try {
      std::tie(ours, theirs) = socket_pair(SOCK_SEQPACKET);
    } catch (const std::exception&) {
      return;  // out of descriptors: start() reports it to the parent
    }
    pid_t pid = ::fork();
    if (pid < 0) return;  // start() reports it to the parent
    if (pid == 0) {
      ours.release();
      be_spare(std::move(theirs));
    }
    // The pidfd is taken while the spare waits: once it runs, it may exit
    // and (with automatic reaping) vanish before a later pidfd_open.
    UniqueFd pidfd;
    try {
      pidfd = pidfd_open(pid);
    } catch (const std::exception&) {
      ::kill(pid, SIGKILL);
      return;
    }
    spare_ = Spare{pid, std::move(ours), std::move(pidfd)};
  }

  static void reply(int channel, int32_t code) {
    ::send(channel, &code, sizeof(code), MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  UniqueFd control_;
  const pid_t parent_;
  sigset_t chld_{};
  sigset_t old_mask_{};
  UniqueFd sigfd_;
  std::map<pid_t, UniqueFd> status_of_;
  std::optional<Spare> spare_;
  bool spares_wanted_ = false;
};

}  // namespace

void run_forkserver(int control_fd) noexcept {
  try {
    Server(UniqueFd(control_fd)).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mp: the fork server failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mp: the fork server failed\n");
  }
  std::fflush(nullptr);
  ::_exit(1);
}

}  // namespace mp::internal
