// mp/internal/launch/shm_guardian.h — the guardian: mp's resource tracker. It
// removes the /dev/shm names a process created once that process has ended
// without unlinking them, however it ended.
//
// One guardian serves a whole tree of processes (a session): the program's
// main process and every child it starts under any start method, their
// children, and fork children of any of them. init() names the session in the
// environment (MP_SHM_GUARDIAN_SESSION), which children inherit; the
// guardian listens on an abstract AF_UNIX socket named after it. The first
// process of the session to create a name starts the guardian: this program
// again (posix_spawn, init() dispatches on the flag), which forks once more
// and lets its middle process exit, so that the guardian is nobody's child in
// the session (init or the nearest subreaper reaps it) and outlives them all.
// Every process that creates names connects to it, hands it its pidfd, and
// says "+name" for each name it creates and "-name" for each it unlinks.
// When a process's pidfd becomes readable (it ended: exit, exception,
// SIGKILL), the guardian reads what is left on its connection and unlinks
// every name still registered whose inode is the one that process made (a
// name unlinked and made anew by someone else is left alone), and says so on
// its standard error. When no process is connected any more, it exits: 0 if
// it never had to remove a name, 1 if it did.
//
// The guardian ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C to the terminal's
// process group must not take it down with the program), and starting it
// changes no signal mask of the caller. SIGKILLed, it is replaced: the next
// process that registers or unlinks a name, or that exits holding names,
// finds it gone, starts a new one and hands it every name it still holds.
// (Not covered: a name created between the guardian's death and its
// creator's next call, when that creator is then SIGKILLed; a creator that
// dies between shm_open() and its registration, a few microseconds.)

#ifndef MP_INTERNAL_LAUNCH_SHM_GUARDIAN_H_
#define MP_INTERNAL_LAUNCH_SHM_GUARDIAN_H_

#include <sys/types.h>

#include <string>

namespace mp::internal {

// Registers `name` (without the leading '/'), made by this process, whose
// inode is `inode`. Throws std::system_error if no guardian can be reached or
// started.
void guard_shm_name(const std::string& name, ino_t inode);
// Forgets `name`: it was unlinked (by this process or another). No-op for a
// name this process did not register.
void forget_shm_name(const std::string& name) noexcept;

// The session's name: the environment's MP_SHM_GUARDIAN_SESSION, set by
// init() in a program's main process when it is not set yet.
std::string shm_guardian_session();
void start_shm_guardian_session();

// For tests. The guardian this process is connected to (0 if none); a round
// trip to it (false if it is gone); a session of this process's own (its
// children inherit it only through fork).
pid_t shm_guardian_pid();
bool ping_shm_guardian();
void set_shm_guardian_session(const std::string& session);

// The guardian's side; `channel` is the socket from the process that started
// it. Never returns.
[[noreturn]] void run_shm_guardian(int channel);

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_SHM_GUARDIAN_H_
