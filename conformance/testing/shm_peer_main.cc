// A program the resource tracker tests run on its own, with its standard
// error on a pipe, as CPython's tests run a script (the shared memory
// guardian it starts writes there, and holds it open until it exits, so the
// end of that output says the guardian is done):
//
//   shm_peer_main leak METHOD        a child started by METHOD creates two
//                                    named segments and blocks; this process
//                                    unlinks the first, terminates the
//                                    child and prints "names A B"
//   shm_peer_main exit-code clean|leak METHOD
//                                    as a subreaper, so that the guardian
//                                    becomes its child: a child creates a
//                                    segment, then unlinks it and exits
//                                    (clean) or kills itself (leak); prints
//                                    "guardian N", the guardian's exit code
//   shm_peer_main manager METHOD     starts a SharedMemoryManager, makes a
//                                    ShareableList and a segment, shuts it
//                                    down; prints "done"
//
// Names carry MP_SHM_TAG, which it inherits from the test.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mp/internal/launch/shm_guardian.h"
#include "mp/mp.h"

namespace {

void create_two_and_block(mp::Connection out) {
  mp::SharedMemory a({.create = true, .size = 64});
  mp::SharedMemory b({.create = true, .size = 64});
  out.send(std::vector<std::string>{a.name(), b.name()});
  ::pause();
}

void create_then_leave(bool clean, mp::Connection out) {
  mp::SharedMemory shm({.create = true, .size = 64});
  out.send(static_cast<int>(mp::internal::shm_guardian_pid()));
  if (clean) {
    shm.unlink();
  } else {
    ::raise(SIGKILL);
  }
}

int leak(mp::Context& ctx) {
  auto [reader, writer] = mp::Pipe(false);
  mp::Process p(ctx, &create_two_and_block, writer);
  p.start();
  writer.close();
  auto names = reader.recv<std::vector<std::string>>();
  mp::SharedMemory(names[0]).unlink();
  p.terminate();
  p.join();
  std::printf("names %s %s\n", names[0].c_str(), names[1].c_str());
  return p.exitcode() == -SIGTERM ? 0 : 1;
}

int exit_code(mp::Context& ctx, bool clean) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return 3;
  auto [reader, writer] = mp::Pipe(false);
  mp::Process p(ctx, &create_then_leave, clean, writer);
  p.start();
  writer.close();
  const pid_t guardian = reader.recv<int>();
  p.join();
  int status = 0;
  while (::waitpid(guardian, &status, 0) < 0) {
    if (errno != EINTR) return 4;
  }
  std::printf("guardian %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
  return 0;
}

int manager(mp::Context& ctx) {
  mp::SharedMemoryManager smm(ctx);
  smm.start();
  mp::ShareableList list = smm.ShareableList({"howdy", 1, 2.5});
  mp::SharedMemory block = smm.SharedMemory(128);
  list.shm().close();
  block.close();
  smm.shutdown();
  std::printf("done\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "leak") return leak(mp::get_context(args[1]));
  if (args.size() == 3 && args[0] == "exit-code") {
    return exit_code(mp::get_context(args[2]), args[1] == "clean");
  }
  if (args.size() == 2 && args[0] == "manager") return manager(mp::get_context(args[1]));
  std::fprintf(stderr, "usage: shm_peer_main leak|exit-code clean|leak|manager METHOD\n");
  return 2;
}
