// mp/internal/launch/runtime.h — what this process knows about itself and its
// children, and the code every child runs around its target.

#ifndef MP_INTERNAL_LAUNCH_RUNTIME_H_
#define MP_INTERNAL_LAUNCH_RUNTIME_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mp/internal/base/fd.h"

namespace mp::internal {

enum class StartMethod { kFork, kSpawn, kForkserver };

// Throws mp::ValueError for anything but "fork", "spawn", "forkserver".
StartMethod parse_start_method(std::string_view name);
const char* start_method_name(StartMethod method) noexcept;
// The global start method, fixing it to the default when unset.
StartMethod default_start_method();
// The global start method if one is fixed.
std::optional<StartMethod> chosen_start_method();
// set_start_method(): throws mp::RuntimeError when one is fixed and !force.
void choose_start_method(std::optional<StartMethod> method, bool force);

// Who a child is, as the parent describes it when it launches the child.
struct ChildInfo {
  std::string name;
  bool daemon = false;
  std::string identity;  // "1:2": the 2nd child of this process's 1st child
  std::string authkey;
  std::string start_method;
  int32_t parent_pid = 0;
  std::string parent_name;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, daemon, identity, authkey, start_method, parent_pid, parent_name);
  }
};

// This process. Guarded by `mu` (self_mutex()).
struct Self {
  std::mutex mu;
  std::string name = "MainProcess";
  bool daemon = false;
  std::string identity;      // "1:2" for the 2nd child of the 1st; empty in the main process
  std::string authkey;       // 32 random bytes, inherited by children
  std::string start_method;  // how this process was launched; "" in main
  uint32_t next_child = 1;
  bool is_child = false;
  pid_t parent_pid = 0;
  std::string parent_name;
  int parent_pidfd = -1;  // readable once the parent has exited
};
std::mutex& self_mutex();
Self& self();
// The start method this process was launched with; "" in the main process.
std::string current_start_method();

// Describes the next child of this process (name "Process-<identity>").
ChildInfo next_child_info(const std::string& name, std::optional<bool> daemon);

// A pidfd for this process, opened once (children use it to watch us).
int self_pidfd();

// The program as init() saw it: argv[0] for children's command lines.
const std::string& program_name();
void set_program_name(const char* argv0);
// Whether set_program_name() ran: mp::init() calls it first.
bool program_named() noexcept;

// set_executable() / set_forkserver_preload() settings.
std::string executable();
void set_executable_path(std::string path);
std::vector<void (*)()> forkserver_preload();
void set_forkserver_preload_list(std::vector<void (*)()> functions);

// Flushes C and C++ standard streams (before fork, and at child exit).
void flush_std_streams() noexcept;

// Children of this process that have been started and not yet reaped.
struct ProcessState;
void register_child(std::shared_ptr<ProcessState> child);
void forget_child(const ProcessState* child);
std::vector<std::shared_ptr<ProcessState>> registered_children();

// Tests only: a function Process::start() calls before it launches anything.
// One that throws makes start() throw that (CPython's suite patches
// Process.start the same way to check that a pool whose fourth worker fails
// to start leaves none behind). Returns the previous hook; nullptr: none.
using StartHook = void (*)();
StartHook set_start_hook(StartHook hook) noexcept;
void run_start_hook();

// Registers a hook that exit_function() runs first (mp::dummy joins its
// non-daemonic threads there); registering it again changes nothing.
void add_runtime_hooks(void (*at_exit)());

// Python's util._exit_function: runs the finalizers of exit priority >= 0
// (mp/util.h), terminates daemonic children, joins the rest, runs the other
// finalizers, stops the fork server. Runs once, at normal exit (std::atexit)
// and at the end of every child.
void exit_function() noexcept;

// Makes this process the child described by `info` and runs `body`; returns
// the exit code: 0, or 1 after printing "Process <name>:" and the exception
// (the body's, or what kept the child from becoming itself, in which case
// the body never ran). Never throws: a child's exception must not unwind into
// code of the parent's that it is a copy of. A child that is a copy of
// another process (fork, forkserver) whose body ran does not return: it ends
// with std::exit(code), which runs the exit handlers it registered itself and
// none of those it inherited (then _exit).
// `parent_pidfd` (owned) watches the parent: a daemonic child kills itself
// when the parent dies, whatever way it dies.
// `forked`: this process is a copy of the parent (fork start method), which
// already holds the parent's authkey.
int run_child(const ChildInfo& info, int parent_pidfd, const std::function<void()>& body,
              bool forked) noexcept;

// The entry point that init() dispatches to in a spawned child (the fork
// server's is run_forkserver, forkserver.h); never returns, nor throws.
[[noreturn]] void run_spawned_child(int channel_fd) noexcept;

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_RUNTIME_H_
