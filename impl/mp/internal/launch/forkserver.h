// The fork server: a clean single-threaded process, started by exec, that
// forks each forkserver child on request (Python's forkserver.py). Requests
// and descriptors travel over an authenticated AF_UNIX socket.

#ifndef MP_INTERNAL_LAUNCH_FORKSERVER_H_
#define MP_INTERNAL_LAUNCH_FORKSERVER_H_

#include <sys/types.h>

#include <memory>
#include <optional>

#include "mp/internal/launch/popen.h"

namespace mp::internal {

// Asks the fork server (starting it if needed) for a child running `target`.
std::unique_ptr<Popen> launch_forkserver(const ChildInfo& info, const EncodedTarget& target);

// The fork server's pid, if this process has one running.
std::optional<pid_t> forkserver_pid();
// The control socket to the fork server (tests use it to check that the
// server obeys nobody but its parent); -1 when none is running.
int forkserver_control_fd();
// Starts the fork server now rather than at the first forkserver start().
void ensure_forkserver();
// Closes the control socket and waits for the server to exit.
void stop_forkserver() noexcept;
// In a freshly forked child: forget the parent's fork server.
void forget_forkserver_after_fork() noexcept;

// The server itself, which init() runs in the process started for it: serves
// requests on `control_fd` until its parent closes it. Never returns, nor
// throws.
[[noreturn]] void run_forkserver(int control_fd) noexcept;

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_FORKSERVER_H_
