// mp/internal/base/fd.h — owning file descriptors and small system-call helpers
// (random bytes, type names).

#ifndef MP_INTERNAL_BASE_FD_H_
#define MP_INTERNAL_BASE_FD_H_

#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace mp::internal {

// Throws std::system_error for the current errno, naming `what`.
[[noreturn]] void throw_errno(const char* what);
[[noreturn]] void throw_errno(int err, const char* what);

// The one source of random bytes (keys, challenges, names): the kernel's,
// through getrandom(2).
void fill_random(void* out, size_t size);
std::string random_bytes(size_t count);

// A type's readable name: "std::map<int, int>" for typeid(...).name().
std::string demangle(const char* name);

// An owned file descriptor, closed on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// A close-on-exec duplicate numbered `lowest` or above; throws std::system_error.
UniqueFd dup_cloexec(int fd, int lowest = 3);

// Moves a descriptor numbered 0-2 out of the way of the standard streams
// (whose numbers a child reuses if the program closed them). Close-on-exec.
UniqueFd above_stdio(UniqueFd fd);

// socketpair(AF_UNIX, type | SOCK_CLOEXEC), both ends above_stdio().
std::pair<UniqueFd, UniqueFd> socket_pair(int type);

// A monotonic deadline; nullopt means "no deadline".
using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> timeout) {
  if (timeout <= timeout.zero()) return Clock::now();
  return Clock::now() + std::chrono::ceil<Clock::duration>(timeout);
}

// Milliseconds left until `deadline` for poll(): -1 when none, 0 when past.
int poll_timeout_ms(const Deadline& deadline);

// Waits until `fd` has any of `events` (POLLIN, POLLOUT), restarting on EINTR
// with the time left. Returns false on timeout.
bool wait_fd(int fd, short events, const Deadline& deadline);

// Waits until one of `fds` is readable (or hung up); returns the ready ones.
std::vector<int> wait_readable(std::span<const int> fds, const Deadline& deadline);

// Reads / writes exactly `size` bytes, restarting on EINTR. read_exact returns
// false on end of file before the first byte and throws mp::EOFError when the
// stream ends part-way.
bool read_exact(int fd, void* data, size_t size);
void write_all(int fd, const void* data, size_t size);

// sendmsg/recvmsg with SCM_RIGHTS. send_with_fds sends all of `data` (or of
// the buffers `parts`, in order), with the descriptors attached to the first
// bytes; it never raises SIGPIPE. recv_with_fds reads up to `size`
// bytes and appends any descriptors received (close-on-exec) to `fds`; returns
// the number of bytes read (0 at end of file).
void send_with_fds(int sock, const void* data, size_t size, std::span<const int> fds);
void send_with_fds(int sock, std::span<iovec> parts, std::span<const int> fds);
size_t recv_with_fds(int sock, void* data, size_t size, std::vector<UniqueFd>& fds);

// Closes every descriptor >= 3 except those in `keep`.
void close_fds_except(std::span<const int> keep) noexcept;

// pidfd_open(2) and pidfd_send_signal(2).
UniqueFd pidfd_open(int pid);
// Returns false when the process has already been reaped.
bool pidfd_send_signal(int pidfd, int sig);

// The wait status (as waitpid() reports it) of the process behind `pidfd`,
// once it has ended and been reaped by whoever its parent is; nullopt before
// that, or where the kernel cannot tell (PIDFD_GET_INFO with PIDFD_INFO_EXIT
// is Linux 6.15+).
std::optional<int> pidfd_exit_status(int pidfd);
// Whether this kernel reports exit statuses through pidfds at all.
bool kernel_reports_exit_through_pidfd();

// Converts a waitpid() status to Python's exit code: n, or -signal.
int exit_code_of_status(int status);

}  // namespace mp::internal

#endif  // MP_INTERNAL_BASE_FD_H_
