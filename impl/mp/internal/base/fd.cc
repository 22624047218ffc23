#include "mp/internal/base/fd.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mp/errors.h"

namespace mp::internal {

void throw_errno(const char* what) { throw_errno(errno, what); }

void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

void fill_random(void* out, size_t size) {
  auto* bytes = static_cast<char*>(out);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::getrandom(bytes + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom");
    }
    done += static_cast<size_t>(n);
  }
}

std::string random_bytes(size_t count) {
  std::string out(count, '\0');
  fill_random(out.data(), count);
  return out;
}

std::string demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && out ? out : name;
  std::free(out);
  return s;
}

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

UniqueFd dup_cloexec(int fd, int lowest) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, lowest);
  if (copy < 0) throw_errno("fcntl(F_DUPFD_CLOEXEC)");
  return UniqueFd(copy);
}

UniqueFd above_stdio(UniqueFd fd) {
  if (fd.get() >= 3 || !fd) return fd;
  return dup_cloexec(fd.get(), 3);
}

std::pair<UniqueFd, UniqueFd> socket_pair(int type) {
  int pair[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, pair) < 0) throw_errno("socketpair");
  UniqueFd a(pair[0]);
  UniqueFd b(pair[1]);
  return {above_stdio(std::move(a)), above_stdio(std::move(b))};
}

int poll_timeout_ms(const Deadline& deadline) {
  if (!deadline) return -1;
  auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

bool wait_fd(int fd, short events, const Deadline& deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (n > 0) return true;
    if (n == 0) {
      if (deadline && Clock::now() < *deadline) continue;  // rounding: poll woke early
      return false;
    }
    if (errno != EINTR) throw_errno("poll");
  }
}

std::vector<int> wait_readable(std::span<const int> fds, const Deadline& deadline) {
  std::vector<pollfd> polls;
  polls.reserve(fds.size());
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  for (;;) {
    int n = ::poll(polls.data(), polls.size(), poll_timeout_ms(deadline));
    if (n > 0) break;
    if (n == 0) {
      if (deadline && Clock::now() < *deadline) continue;
      return {};
    }
    if (errno != EINTR) throw_errno("poll");
  }
  std::vector<int> ready;
  for (const pollfd& p : polls) {
    if (p.revents != 0) ready.push_back(p.fd);
  }
  return ready;
}

bool read_exact(int fd, void* data, size_t size) {
  auto* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, p + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0) {
      if (done == 0) return false;
      throw EOFError("connection closed in the middle of a message");
    } else if (errno != EINTR) {
      throw_errno("read");
    }
  }
  return true;
}

void write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, p, size);
    if (n >= 0) {
      p += n;
      size -= static_cast<size_t>(n);
    } else if (errno != EINTR) {
      throw_errno("write");
    }
  }
}

void send_with_fds(int sock, const void* data, size_t size, std::span<const int> fds) {
  iovec part{const_cast<void*>(data), size};
  send_with_fds(sock, std::span<iovec>(&part, 1), fds);
}

void send_with_fds(int sock, std::span<iovec> parts, std::span<const int> fds) {
  std::vector<char> control;
  msghdr msg{};
  msg.msg_iov = parts.data();
  msg.msg_iovlen = parts.size();
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  // Skip empty leading parts: descriptors must ride on a real byte.
  while (msg.msg_iovlen > 0 && msg.msg_iov[0].iov_len == 0) {
    ++msg.msg_iov;
    --msg.msg_iovlen;
  }
  if (msg.msg_iovlen == 0) {
    if (!fds.empty()) throw ValueError("descriptors need at least one byte to travel with");
    return;
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("sendmsg");
    }
    msg.msg_control = nullptr;  // the descriptors went with the first bytes
    msg.msg_controllen = 0;
    size_t sent = static_cast<size_t>(n);
    while (msg.msg_iovlen > 0 && sent >= msg.msg_iov[0].iov_len) {
      sent -= msg.msg_iov[0].iov_len;
      ++msg.msg_iov;
      --msg.msg_iovlen;
    }
    if (msg.msg_iovlen == 0) return;
    msg.msg_iov[0].iov_base = static_cast<char*>(msg.msg_iov[0].iov_base) + sent;
    msg.msg_iov[0].iov_len -= sent;
  }
}

size_t recv_with_fds(int sock, void* data, size_t size, std::vector<UniqueFd>& fds) {
  constexpr size_t kMaxFds = 253;  // SCM_MAX_FD
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{data, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("recvmsg");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) throw ValueError("too many descriptors in one message");
  return static_cast<size_t>(n);
}

void close_fds_except(std::span<const int> keep) noexcept {
  std::vector<int> sorted(keep.begin(), keep.end());
  std::sort(sorted.begin(), sorted.end());
  unsigned first = 3;
  for (int fd : sorted) {
    if (fd < static_cast<int>(first)) continue;
    if (static_cast<unsigned>(fd) > first) ::syscall(SYS_close_range, first, fd - 1, 0);
    first = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0);
}

UniqueFd pidfd_open(int pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw_errno("pidfd_open");
  // pidfds are created close-on-exec.
  return above_stdio(UniqueFd(fd));
}

bool pidfd_send_signal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return true;
  if (errno == ESRCH) return false;
  throw_errno("pidfd_send_signal");
}

namespace {
// From <linux/pidfd.h> of Linux 6.15; Debian 12's headers predate it.
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
  uint32_t coredump_mask;
  uint32_t spare;
};
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr uint64_t kPidfdInfoExit = 1u << 3;
}  // namespace

std::optional<int> pidfd_exit_status(int pidfd) {
  PidfdInfo info{};
  info.mask = kPidfdInfoExit;
  if (::ioctl(pidfd, kPidfdGetInfo, &info) != 0 || !(info.mask & kPidfdInfoExit)) {
    return std::nullopt;
  }
  return info.exit_code;
}

bool kernel_reports_exit_through_pidfd() {
  static const bool reports = [] {
    utsname u{};
    if (::uname(&u) != 0) return false;
    int major = 0, minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 6 || (major == 6 && minor >= 15);
  }();
  return reports;
}

int exit_code_of_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 255;
}

}  // namespace mp::internal
