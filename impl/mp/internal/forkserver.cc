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

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "mp/errors.h"
#include "mp/internal/popen.h"
#include "mp/internal/target.h"
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

Client* g_client = new Client;  // never destroyed: used at exit

int exit_code_of_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 255;
}

void reap_server_locked(Client& c) {
  if (!c.pidfd) return;
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(c.pidfd.get()), &info, WEXITED) < 0 && errno == EINTR) {
  }
  c.pidfd.reset();
  c.control.reset();
  c.pid = 0;
}

// The first message a new server gets: the functions to run before forking.
void send_preload_locked(Client& c) {
  std::vector<CodeLocation> where;
  for (auto fn : forkserver_preload()) where.push_back(locate_code(reinterpret_cast<const void*>(fn)));
  if (where.empty()) return;
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
  c.pidfd = pidfd_open(pid);
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
    code_ = 255;  // unless the server tells us better
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
    std::lock_guard lock(g_client->mu);
    ensure_started_locked(*g_client);
    if (!send_request_locked(*g_client, b.get())) {
      reap_server_locked(*g_client);
      start_server_locked(*g_client);
      if (!send_request_locked(*g_client, b.get())) {
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
  std::lock_guard lock(g_client->mu);
  if (!server_alive_locked(*g_client)) return std::nullopt;
  return g_client->pid;
}

int forkserver_control_fd() {
  std::lock_guard lock(g_client->mu);
  return g_client->control ? g_client->control.get() : -1;
}

void ensure_forkserver() {
  std::lock_guard lock(g_client->mu);
  ensure_started_locked(*g_client);
}

void stop_forkserver() noexcept {
  std::lock_guard lock(g_client->mu);
  Client& c = *g_client;
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
  // Close our copies: the server belongs to the parent. Another parent thread
  // may have held the mutex at fork time, so it is made anew in place.
  new (&g_client->mu) std::mutex;
  g_client->control.reset();
  g_client->pidfd.reset();
  g_client->pid = 0;
}

void run_forkserver(int control_fd) {
  UniqueFd control(control_fd);
  const pid_t parent = ::getppid();
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old);
  UniqueFd sigfd(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) throw_errno("signalfd");
  std::map<pid_t, UniqueFd> status_of;

  for (;;) {
    pollfd fds[2] = {{control.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) {
      signalfd_siginfo si;
      while (::read(sigfd.get(), &si, sizeof(si)) > 0) {
      }
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = status_of.find(pid);
        if (it == status_of.end()) continue;
        int32_t code = exit_code_of_status(status);
        ::send(it->second.get(), &code, sizeof(code), MSG_NOSIGNAL | MSG_DONTWAIT);
        status_of.erase(it);
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char data[kMaxControlMessage];
      iovec iov{data, sizeof(data)};
      alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 8)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof(cbuf);
      ssize_t n = ::recvmsg(control.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // our parent closed the control socket: we are done
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
      bool from_parent = sender && sender->pid == parent;
      if (from_parent && data[0] == 'P' && passed.empty()) {
        run_preload(std::string_view(data + 1, static_cast<size_t>(n) - 1));
        continue;
      }
      if (!from_parent || passed.size() != 1 || data[0] != 'F' || n != 1) {
        for (auto& fd : passed) {
          int32_t refused = kRefused;
          ::send(fd.get(), &refused, sizeof(refused), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        continue;
      }
      UniqueFd channel = std::move(passed[0]);
      pid_t pid = ::fork();
      if (pid == 0) {
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        int keep = channel.get();
        close_fds_except(std::span<const int>(&keep, 1));
        control.release();
        sigfd.release();
        for (auto& [_, fd] : status_of) fd.release();
        run_child_from_channel(std::move(channel));
      }
      if (pid < 0) {
        int32_t failed = kForkFailed;
        ::send(channel.get(), &failed, sizeof(failed), MSG_NOSIGNAL);
        continue;
      }
      try {
        UniqueFd pidfd = pidfd_open(pid);
        int32_t reply = pid;
        int fd = pidfd.get();
        send_with_fds(channel.get(), &reply, sizeof(reply), std::span<const int>(&fd, 1));
      } catch (const std::exception&) {
        // The parent went away; the child will find its channel empty.
      }
      status_of.emplace(pid, std::move(channel));
    }
  }
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace mp::internal
