// mp/process.h — Process, current_process(), parent_process(),
// active_children() (Python: process.py).
//
//   void work(int n, std::string s);
//   mp::Process p(&work, 1, "x");                 // Process(target=work, args=(1, "x"))
//   mp::Process q({.name = "w1", .daemon = true}, &work, 2, "y");
//   mp::Process r(mp::get_context("spawn"), &work, 3, "z");
//   p.start(); p.join(); assert(p.exitcode() == 0);
//
// A target is a free function or a captureless lambda: those run under every
// start method. Under fork any callable works, capturing lambdas too. The
// arguments are stored as the target's parameter types (decayed), copied into
// the child under fork and sent through mp::Codec under spawn and forkserver.
// A target or an argument that cannot travel makes start() throw
// mp::PicklingError under spawn and forkserver.
//
// A Process is a handle: copies refer to the same process. Destroying the last
// handle of a running child leaves it running; it is joined (or, if daemonic,
// terminated) when the program exits normally.
//
// Exit codes: 0 when the target returns; n for std::exit(n); 1 when the target
// throws (the child prints "Process <name>:" and the exception to stderr); -N
// when killed by signal N.

#ifndef MP_PROCESS_H_
#define MP_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mp/context.h"
#include "mp/errors.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/base/target.h"
#include "mp/reduction.h"

namespace mp {

// Python's keyword arguments of Process().
struct ProcessOptions {
  std::string name;            // empty: "Process-N" (N counts this process's children)
  std::optional<bool> daemon;  // nullopt: inherit current_process().daemon()
};

namespace internal {

struct ProcessState;

// A target bound to its arguments, in both forms a start method may need.
struct TargetSpec {
  std::function<void()> call;              // runs it here (fork, threads); empty: no target
  Trampoline trampoline = nullptr;         // spawn/forkserver: decodes the arguments, calls
  const void* function = nullptr;          // ... this function
  std::function<void(Writer&)> encode;     // ... with the arguments encoded by this
  const char* not_transferable = nullptr;  // why it can only run under fork
};

template <class F, class... Args>
concept ProcessTarget = std::invocable<std::decay_t<F>&, std::decay_t<Args>&...>;

template <class F, class... Args>
TargetSpec make_target(F&& f, Args&&... args) {
  TargetSpec spec;
  if constexpr (FunctionPointerLike<std::decay_t<F>>) {
    auto fn = +f;
    using Fn = decltype(fn);
    using Stored = typename function_traits<Fn>::args;
    auto stored = std::make_shared<Stored>(std::forward<Args>(args)...);
    spec.call = [fn, stored] { std::apply(fn, *stored); };
    if constexpr (tuple_transferable<Stored>) {
      spec.trampoline = &trampoline<Fn, Stored>;
      spec.function = reinterpret_cast<const void*>(fn);
      spec.encode = [stored](Writer& w) { encode_tuple(w, *stored); };
    } else {
      spec.not_transferable =
          "an argument type has no mp::Codec, so it cannot be sent to a spawn or "
          "forkserver child";
    }
  } else {
    auto stored = std::make_shared<std::tuple<std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(f), std::forward<Args>(args)...);
    spec.call = [stored] {
      std::apply([](auto& fn, auto&... items) { std::invoke(fn, items...); }, *stored);
    };
    spec.not_transferable =
        "the target is a capturing lambda or a function object; only free functions "
        "and captureless lambdas can be named in a spawn or forkserver child";
  }
  return spec;
}

}  // namespace internal

class Process {
 public:
  // A process without a target: run() does nothing unless a subclass
  // overrides it (subclasses with their own run() start under fork only).
  Process();
  explicit Process(const ProcessOptions& options);
  explicit Process(Context& ctx, const ProcessOptions& options = {});

  template <class F, class... Args>
    requires internal::ProcessTarget<F, Args...>
  explicit Process(F&& target, Args&&... args)
      : Process(nullptr, {},
                internal::make_target(std::forward<F>(target), std::forward<Args>(args)...)) {}

  template <class F, class... Args>
    requires internal::ProcessTarget<F, Args...>
  Process(const ProcessOptions& options, F&& target, Args&&... args)
      : Process(nullptr, options,
                internal::make_target(std::forward<F>(target), std::forward<Args>(args)...)) {}

  template <class F, class... Args>
    requires internal::ProcessTarget<F, Args...>
  Process(Context& ctx, F&& target, Args&&... args)
      : Process(&ctx, {},
                internal::make_target(std::forward<F>(target), std::forward<Args>(args)...)) {}

  template <class F, class... Args>
    requires internal::ProcessTarget<F, Args...>
  Process(Context& ctx, const ProcessOptions& options, F&& target, Args&&... args)
      : Process(&ctx, options,
                internal::make_target(std::forward<F>(target), std::forward<Args>(args)...)) {}

  Process(const Process&) = default;
  Process& operator=(const Process&) = default;
  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  virtual ~Process();

  // Starts the child. Twice -> mp::AssertionError; from a daemonic process ->
  // mp::AssertionError; a target or argument that cannot travel under spawn or
  // forkserver -> mp::PicklingError; a closed Process -> mp::ValueError.
  void start();

  // Waits for the child to end; with a timeout, returns when it elapses
  // (check exitcode()). Signals do not cut the wait short. Before start ->
  // mp::AssertionError; closed -> mp::ValueError.
  void join();
  template <class Rep, class Period>
  void join(std::chrono::duration<Rep, Period> timeout) {
    join_until(internal::deadline_after(timeout));
  }

  bool is_alive() const;
  // nullopt while running (or before start); see the top of this file.
  std::optional<int> exitcode() const;
  // nullopt before start.
  std::optional<pid_t> pid() const;
  std::optional<pid_t> ident() const { return pid(); }

  // SIGTERM / SIGKILL / SIGINT. No-ops before start and after the child ended.
  void terminate();
  void kill();
  void interrupt();

  // A descriptor that becomes readable when the child ends (poll, select,
  // mp::wait). Before start -> mp::ValueError.
  int sentinel() const;

  // Releases the resources of an ended child. While running -> mp::ValueError;
  // afterwards every other call -> mp::ValueError; a second close() is a no-op.
  void close();

  const std::string& name() const;
  void set_name(std::string name);
  bool daemon() const;
  // After start -> mp::AssertionError.
  void set_daemon(bool daemon);
  // The child's authentication key: inherited from this process.
  std::string authkey() const;

  friend bool operator==(const Process& a, const Process& b) noexcept {
    return a.state_ == b.state_;
  }

 protected:
  // What the child runs: the target. Override in a subclass; under spawn and
  // forkserver the subclass must derive from ProcessSubclass (below).
  virtual void run();
  // A process whose child runs `target` (ProcessSubclass passes one that
  // rebuilds the subclass there).
  Process(Context* ctx, const ProcessOptions& options, internal::TargetSpec target);

 private:
  friend std::vector<Process> active_children();
  explicit Process(std::shared_ptr<internal::ProcessState> state) : state_(std::move(state)) {}
  void join_until(const internal::Deadline& deadline);
  void signal(int sig);

  std::shared_ptr<internal::ProcessState> state_;
};

// A Process subclass that starts under every start method. Python pickles a
// Process object, its subclass's attributes included, into a spawn or
// forkserver child; in C++ the subclass says what to send the same way any
// value that crosses processes does. Derived:
//   - derives from ProcessSubclass<Derived> and overrides run();
//   - is default-constructible (the child makes one, then fills it in);
//   - has `template <class Archive> void serialize(Archive& ar)` naming the
//     members its run() needs (see mp/reduction.h).
//
//   class Echo : public mp::ProcessSubclass<Echo> {
//    public:
//     Echo() = default;
//     Echo(mp::Context& ctx, mp::Connection conn) : ProcessSubclass(ctx), conn_(conn) {}
//     template <class Archive> void serialize(Archive& ar) { ar(conn_); }
//    protected:
//     void run() override { conn_.send(conn_.recv<std::string>()); }
//    private:
//     mp::Connection conn_;
//   };
//
// start() encodes the object it is called on (or, through a plain Process
// handle, the subclass object made or copied last; one that is gone makes
// start() throw mp::PicklingError). Under fork the child simply runs run().
template <class Derived>
class ProcessSubclass : public Process {
 public:
  void start() {
    *self_ = this;
    Process::start();
  }

 protected:
  ProcessSubclass() : ProcessSubclass(nullptr, {}) {}
  explicit ProcessSubclass(const ProcessOptions& options) : ProcessSubclass(nullptr, options) {}
  explicit ProcessSubclass(Context& ctx, const ProcessOptions& options = {})
      : ProcessSubclass(&ctx, options) {}
  ProcessSubclass(const ProcessSubclass& other) : Process(other), self_(other.self_) {
    *self_ = this;
  }
  ProcessSubclass(ProcessSubclass&& other) noexcept
      : Process(std::move(other)), self_(other.self_) {
    *self_ = this;
  }
  ProcessSubclass& operator=(const ProcessSubclass& other) {
    Process::operator=(other);
    self_ = other.self_;
    *self_ = this;
    return *this;
  }
  ProcessSubclass& operator=(ProcessSubclass&& other) noexcept {
    Process::operator=(std::move(other));
    self_ = other.self_;
    *self_ = this;
    return *this;
  }
  ~ProcessSubclass() override {
    if (self_ && *self_ == this) *self_ = nullptr;
  }

 private:
  // The object start() encodes, as its base: a base's constructor may not
  // name `this` as a Derived yet (Derived is not constructed); encoding, after
  // construction, may.
  using Cell = std::shared_ptr<const ProcessSubclass*>;

  ProcessSubclass(Context* ctx, const ProcessOptions& options)
      : ProcessSubclass(ctx, options, std::make_shared<const ProcessSubclass*>(nullptr)) {}
  ProcessSubclass(Context* ctx, const ProcessOptions& options, Cell cell)
      : Process(ctx, options, target(cell)), self_(std::move(cell)) {
    *self_ = this;
  }

  static internal::TargetSpec target(const Cell& cell) {
    internal::TargetSpec spec;
    spec.trampoline = &run_in_child;
    spec.function = reinterpret_cast<const void*>(&run_in_child);
    spec.encode = [cell](Writer& w) {
      if (*cell == nullptr) throw PicklingError("the Process subclass object is gone");
      mp::encode(w, *static_cast<const Derived*>(*cell));
    };
    return spec;
  }
  // The spawn or forkserver child: rebuilds the object, runs it.
  static void run_in_child(const void*, Reader& r) {
    Derived object = mp::decode<Derived>(r);
    static_cast<ProcessSubclass&>(object).run();
  }

  Cell self_;
};

// What current_process() describes: this process.
class CurrentProcess {
 public:
  std::string name() const;
  void set_name(std::string name);
  bool daemon() const;
  pid_t pid() const;
  pid_t ident() const { return pid(); }
  bool is_alive() const noexcept { return true; }
  std::optional<int> exitcode() const noexcept { return std::nullopt; }
  std::string authkey() const;
  // The start method this process was launched with ("" in the main process).
  std::string start_method() const;
};

CurrentProcess current_process();

// The process that started this one (Python's parent_process()). Its liveness
// is tracked through a pidfd, so it stays right after the parent dies.
class ParentProcess {
 public:
  pid_t pid() const noexcept { return pid_; }
  pid_t ident() const noexcept { return pid_; }
  const std::string& name() const noexcept { return name_; }
  bool is_alive() const;
  void join();
  template <class Rep, class Period>
  void join(std::chrono::duration<Rep, Period> timeout) {
    join_until(internal::deadline_after(timeout));
  }
  // Readable once the parent has exited.
  int sentinel() const noexcept { return sentinel_; }

 private:
  friend std::optional<ParentProcess> parent_process();
  ParentProcess(pid_t pid, std::string name, int sentinel)
      : pid_(pid), name_(std::move(name)), sentinel_(sentinel) {}
  void join_until(const internal::Deadline& deadline);
  pid_t pid_;
  std::string name_;
  int sentinel_;
};

// nullopt in the main process.
std::optional<ParentProcess> parent_process();

// The children of this process that are still running; reaps the ones that
// have finished.
std::vector<Process> active_children();

}  // namespace mp

#endif  // MP_PROCESS_H_
