// mp/internal/launch/popen.h — launching a child under each start method, and
// waiting for it (Python: popen_fork.py, popen_spawn_posix.py,
// popen_forkserver.py).

#ifndef MP_INTERNAL_LAUNCH_POPEN_H_
#define MP_INTERNAL_LAUNCH_POPEN_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>

#include "mp/internal/base/fd.h"
#include "mp/internal/launch/runtime.h"
#include "mp/reduction.h"

namespace mp::internal {

// A started child. The pidfd is the sentinel: readable once the child ended.
class Popen {
 public:
  Popen(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  virtual ~Popen() = default;
  pid_t pid() const noexcept { return pid_; }
  int sentinel() const noexcept { return pidfd_.get(); }
  // The exit code once the child has ended (reaping it), else nullopt.
  // Waits until `deadline` at most; signals do not end the wait early.
  virtual std::optional<int> wait(const Deadline& deadline) = 0;
  // Sends `sig` unless the child has already been reaped.
  void send_signal(int sig);
  // Fills in a Popen made before its child existed.
  void adopt(pid_t pid, UniqueFd pidfd) {
    pid_ = pid;
    pidfd_ = std::move(pidfd);
  }

 protected:
  pid_t pid_;
  UniqueFd pidfd_;
};

// The parts of a target that spawn and forkserver send to the child.
struct EncodedTarget {
  const void* trampoline = nullptr;
  const void* function = nullptr;
  const std::function<void(Writer&)>* encode_args = nullptr;
};

// The pidfd of a child just made by fork() or posix_spawn(). If it cannot be
// opened the child is killed and reaped before the error propagates: nothing
// could wait for it otherwise.
UniqueFd pidfd_of_new_child(pid_t pid);

// posix_spawn of this program (see set_executable) with `channel` as its fd
// 3 and no other descriptor but 0-2, signals at their defaults, and argv
// {argv[0], flag, "3"}: init() in the new process dispatches on `flag`.
// A process that has not called init() gets mp::RuntimeError instead.
pid_t spawn_self(const char* flag, int channel);

// fork(): the child runs `body` in a copy of this process.
std::unique_ptr<Popen> launch_fork(const ChildInfo& info, const std::function<void()>& body);
// posix_spawn of this executable; the child decodes and runs `target`.
std::unique_ptr<Popen> launch_spawn(const ChildInfo& info, const EncodedTarget& target);
// launch_forkserver: forkserver.h.

// Everything a spawn or forkserver child needs, in one message; encoding the
// arguments may throw mp::PicklingError. Sent before anything is launched.
Writer encode_child_channel(const ChildInfo& info, const EncodedTarget& target);
void send_child_channel(int channel, const Writer& message);

// How a child ends once its target returned (and mp's exit function ran).
enum class ChildExit {
  // std::exit: atexit handlers and static destructors run. For spawn
  // children, whose program started fresh.
  kNormal,
  // Flush the standard streams, then _exit: for children that are a copy of
  // another process (fork, forkserver), whose atexit list and static objects
  // belong to that process (Python ends them with os._exit too).
  kQuick,
};

// The child side of spawn and forkserver: reads what to run from `channel`,
// runs it as run_child() does, and exits. Never returns nor throws: a start
// message that cannot be read ends the child with code 255 (the parent went
// away) or 1 (it made no sense), with a line on stderr.
[[noreturn]] void run_child_from_channel(UniqueFd channel, ChildExit how) noexcept;

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_POPEN_H_
