#include "mp/internal/launch/popen.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/fault.h"
#include "mp/internal/base/target.h"
#include "mp/reduction.h"

extern char** environ;

namespace mp::internal {

namespace {

constexpr uint32_t kChannelMagic = 0x6d704348;  // "mpCH"

struct ChannelHeader {
  uint32_t magic;
  uint32_t fd_count;
  uint64_t size;
};

// A sanity check that the child runs the same program: where spawn_self's
// code is.
CodeLocation program_location() { return locate_code(reinterpret_cast<const void*>(&spawn_self)); }

int exit_code_of(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return info.si_status;
  return -info.si_status;
}

// fork and spawn children are ours: wait on the pidfd, reap with waitid.
class DirectPopen final : public Popen {
 public:
  using Popen::Popen;

  std::optional<int> wait(const Deadline& deadline) override {
    if (code_) return code_;
    if (!wait_fd(pidfd_.get(), POLLIN, deadline)) return std::nullopt;
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) {
        // Someone else reaped it (SIGCHLD ignored, or a stray waitpid(-1)).
        code_ = 255;
        return code_;
      }
      throw_errno("waitid");
    }
    code_ = exit_code_of(info);
    return code_;
  }

 private:
  std::optional<int> code_;
};

}  // namespace

Writer encode_child_channel(const ChildInfo& info, const EncodedTarget& target) {
  Writer w;
  encode(w, program_location());
  encode(w, info);
  encode(w, w.add_fd(self_pidfd()));
  encode(w, locate_code(target.trampoline));
  encode(w, locate_code(target.function));
  (*target.encode_args)(w);
  if (w.fds().size() > 253) throw ValueError("too many handles in the arguments of one process");
  return w;
}

void send_child_channel(int channel, const Writer& message) {
  ChannelHeader header{kChannelMagic, static_cast<uint32_t>(message.fds().size()),
                       message.bytes().size()};
  send_with_fds(channel, &header, sizeof(header), message.fds());
  write_all(channel, message.bytes().data(), message.bytes().size());
}

void Popen::send_signal(int sig) {
  if (pidfd_) pidfd_send_signal(pidfd_.get(), sig);
}

UniqueFd pidfd_of_new_child(pid_t pid) {
  fault_point(FaultPoint::kChildLaunched);
  try {
    return pidfd_open(pid);
  } catch (...) {
    // Without a pidfd nobody could wait for it: it must not outlive the
    // failure, running or as a zombie.
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
}

std::unique_ptr<Popen> launch_fork(const ChildInfo& info, const std::function<void()>& body) {
  int parent_pidfd = self_pidfd();
  // Allocated before fork(): a page written while the child runs is copied.
  auto popen = std::make_unique<DirectPopen>(0, UniqueFd());
  flush_std_streams();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    // Nothing may unwind from here into the parent's code (run_child never
    // throws; the exit is immediate).
    int code = run_child(info, parent_pidfd, body, /*forked=*/true);
    flush_std_streams();
    ::_exit(code);
  }
  popen->adopt(pid, pidfd_of_new_child(pid));
  return popen;
}

pid_t spawn_self(const char* flag, int channel) {
  // Without mp::init() the child would run main() again, and do again what
  // made it: a tracked SharedMemory's guardian would start a guardian...
  if (!program_named()) {
    throw RuntimeError(std::string("mp starts a helper process (") + flag +
                       ") by running this program again: call mp::init(argc, argv) first thing "
                       "in main()");
  }
  // The channel must not sit at 3 (dup2 onto itself would keep close-on-exec).
  UniqueFd moved = dup_cloexec(channel, 4);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, moved.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string argv0 = program_name().empty() ? "mp-child" : program_name();
  std::string flag_arg = flag;
  std::string fd = "3";
  char* argv[] = {argv0.data(), flag_arg.data(), fd.data(), nullptr};
  std::string path = executable();
  flush_std_streams();
  pid_t pid = 0;
  int err = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw_errno(err, "posix_spawn");
  return pid;
}

std::unique_ptr<Popen> launch_spawn(const ChildInfo& info, const EncodedTarget& target) {
  Writer message = encode_child_channel(info, target);  // may throw PicklingError
  auto [parent_end, child_end] = socket_pair(SOCK_STREAM);
  pid_t pid = spawn_self("--mp-internal-spawn", child_end.get());
  auto popen = std::make_unique<DirectPopen>(pid, pidfd_of_new_child(pid));
  child_end.reset();
  try {
    send_child_channel(parent_end.get(), message);
  } catch (const std::system_error&) {
    // The child died before reading; its exit code tells the story.
  }
  return popen;
}

namespace {

// What a spawn or forkserver child was started for, read from its channel
// and run; returns the exit code.
int run_from_channel(UniqueFd channel) {
  // A parent that had closed its standard streams must not have us write our
  // output into whatever descriptor takes their numbers.
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int null = ::open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) {
        ::dup2(null, fd);
        ::close(null);
      }
    }
  }
  ChannelHeader header{};
  std::vector<UniqueFd> fds;
  size_t got = 0;
  while (got < sizeof(header)) {
    size_t n = recv_with_fds(channel.get(), reinterpret_cast<char*>(&header) + got,
                             sizeof(header) - got, fds);
    if (n == 0) return 255;  // the parent went away before telling us anything
    got += n;
  }
  if (header.magic != kChannelMagic) {
    std::fprintf(stderr, "mp: child channel is corrupt\n");
    return 255;
  }
  std::string body(header.size, '\0');
  if (!read_exact(channel.get(), body.data(), body.size())) return 255;
  // Anything the parent's write left unread would be a protocol error; the
  // channel's only other user is the fork server, which writes, never reads.
  channel.reset();

  Reader reader(body, std::move(fds));
  auto sanity = decode<CodeLocation>(reader);
  auto info = decode<ChildInfo>(reader);
  auto parent_pidfd = reader.take_fd(decode<uint32_t>(reader));
  auto body_of_target = [&] {
    if (sanity.offset != program_location().offset) {
      throw PicklingError("the child is not running the same program as its parent");
    }
    auto trampoline =
        reinterpret_cast<Trampoline>(const_cast<void*>(resolve_code(decode<CodeLocation>(reader))));
    const void* function = resolve_code(decode<CodeLocation>(reader));
    trampoline(function, reader);
  };
  return run_child(info, parent_pidfd.release(), body_of_target, /*forked=*/false);
}

}  // namespace

void run_child_from_channel(UniqueFd channel, ChildExit how) noexcept {
  int code = 1;
  try {
    code = run_from_channel(std::move(channel));
  } catch (const std::exception& e) {
    // Before there was a child to speak of: its start message was unreadable.
    std::fprintf(stderr, "mp: a child could not start: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "mp: a child could not start\n");
  }
  if (how == ChildExit::kQuick) {
    flush_std_streams();
    ::_exit(code);
  }
  std::exit(code);
}

void run_spawned_child(int channel_fd) noexcept {
  run_child_from_channel(UniqueFd(channel_fd), ChildExit::kNormal);
}

}  // namespace mp::internal
