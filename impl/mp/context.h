// mp/context.h — program entry, start methods and contexts (Python: context.py).
//
//   int main(int argc, char** argv) {
//     mp::init(argc, argv);          // first statement of main()
//     mp::set_start_method("spawn"); // optional
//     mp::Context& ctx = mp::get_context("fork");
//   }
//
// Start methods:
//   fork        fork(); the child runs the target in a copy of the parent.
//   spawn       posix_spawn of the running executable; the child starts clean
//               and is told which function to run and with which arguments.
//   forkserver  a clean server process (started once, lazily) forks children
//               on request. The default, as in Python 3.14 on Linux.

#ifndef MP_CONTEXT_H_
#define MP_CONTEXT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mp {

// Must be the first statement of main(), like Python's `if __name__ ==
// "__main__":` guard. In an ordinary run it returns at once. In a process
// started by spawn or forkserver, and in the fork server itself, it never
// returns: it runs what the process was started for and exits.
void init(int argc, char** argv);

// True once init() has run in this process.
bool initialized() noexcept;

// A start method and the primitives created under it. Contexts live for the
// whole program; get_context() hands out references to them.
class Context {
 public:
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // "fork", "spawn" or "forkserver". For the default context this is the
  // global start method, which the call fixes if it was not set yet (as
  // Python's get_start_method(allow_none=False) does).
  std::string get_start_method() const;

  // ctx.get_context() is ctx; ctx.get_context("spawn") is the spawn context.
  Context& get_context() noexcept { return *this; }
  Context& get_context(std::string_view method);

  // Only the default context's start method can be set: on a concrete context
  // this throws mp::ValueError, as in Python.
  void set_start_method(std::string_view method, bool force = false);
  void set_start_method(std::nullopt_t, bool force = false);

  // True for the context returned by get_context() with no argument.
  bool is_default() const noexcept { return method_.empty(); }

 private:
  friend Context& get_context(std::string_view);
  friend Context& get_context();
  explicit Context(std::string method) : method_(std::move(method)) {}
  std::string method_;  // empty: the default context
};

// The default context (whatever the global start method is at start()).
Context& get_context();
// The context of `method`; an unknown method throws mp::ValueError.
Context& get_context(std::string_view method);

// Python's set_start_method(method, force=False): throws mp::RuntimeError if
// the method was already fixed and `force` is false; unknown -> mp::ValueError.
// set_start_method(std::nullopt, true) forgets the choice.
void set_start_method(std::string_view method, bool force = false);
void set_start_method(std::nullopt_t, bool force = false);

// The global start method; fixes it to the default if not set yet.
std::string get_start_method();
// nullopt when no start method has been fixed yet (allow_none=True).
std::optional<std::string> get_start_method_or_none();

// Every start method this platform has, the default first.
std::vector<std::string> get_all_start_methods();

// Number of CPUs in the system (at least 1).
int cpu_count();

// Python's set_executable(): the file spawn and forkserver execute. Default:
// /proc/self/exe. It must be this same program (a copy or a link to it): a
// child finds its target by where it lives in the program.
void set_executable(std::string path);
std::string get_executable();

// Python's set_forkserver_preload(): functions the fork server runs once when
// it starts, so every forkserver child inherits what they did (loaded data,
// warmed caches). Takes effect for a server started afterwards. Free functions
// and captureless lambdas only (the server finds them by location).
void set_forkserver_preload(std::vector<void (*)()> functions);

}  // namespace mp

#endif  // MP_CONTEXT_H_
