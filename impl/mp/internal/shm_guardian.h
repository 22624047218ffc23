// mp/internal/shm_guardian.h — removes the /dev/shm names a process created
// once that process has ended, however it ended.
//
// The first time a process registers a name, it starts its guardian: this
// program again (posix_spawn, init() dispatches on the flag), which receives
// the creator's pidfd, forks once more and lets its middle process exit, so
// the guardian is no child of the creator (it is reaped by init or the
// nearest subreaper) and outlives it. The creator tells it "+name" when it
// creates a name and "-name" when it unlinks it, over a socket. When the
// creator's pidfd becomes readable (the creator is gone: exit, exception,
// SIGKILL), the guardian reads what is left on the socket and unlinks every
// name still registered whose inode is the one the creator made (a name
// unlinked and created anew by someone else is left alone), then exits. Once
// a creator has unlinked every name it registered, it closes the socket and
// the guardian exits; the next registration starts a new one.
//
// The guardian ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C to the terminal's
// process group must not take it down with the creator). Killed with
// SIGKILL, it can guarantee nothing. A creator that dies between shm_open()
// and its registration (a few microseconds) leaves its name behind.

#ifndef MP_INTERNAL_SHM_GUARDIAN_H_
#define MP_INTERNAL_SHM_GUARDIAN_H_

#include <sys/types.h>

#include <string>

namespace mp::internal {

// Registers `name` (without the leading '/'), made by this process, whose
// inode is `inode`. Throws std::system_error if the guardian cannot start.
void guard_shm_name(const std::string& name, ino_t inode);
// Forgets `name`: it was unlinked (by this process or another). No-op for a
// name this process did not register.
void forget_shm_name(const std::string& name) noexcept;

// The guardian's side; `channel` is the socket from its creator. Never
// returns.
[[noreturn]] void run_shm_guardian(int channel);

}  // namespace mp::internal

#endif  // MP_INTERNAL_SHM_GUARDIAN_H_
