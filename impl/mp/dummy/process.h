// mp/dummy/process.h — mp::dummy::Process: the Process API on a thread
// (Python: multiprocessing.dummy.Process, a threading.Thread).
//
// Same constructors and calls as mp::Process, minus what a thread cannot do:
// there is no pid, sentinel, terminate, kill or interrupt. exitcode() is 0
// after the target returned and 1 if it threw (Python's dummy reports 0 in
// both cases; 1 keeps the two implementations comparable). A thread's
// exception is printed to stderr as "Exception in thread <name>:".
// At normal program exit non-daemonic threads are joined.

#ifndef MP_DUMMY_PROCESS_H_
#define MP_DUMMY_PROCESS_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mp/errors.h"
#include "mp/process.h"

namespace mp::dummy {

namespace internal {
struct ThreadState;
}  // namespace internal

class Process {
 public:
  Process();
  explicit Process(const ProcessOptions& options);

  template <class F, class... Args>
    requires mp::internal::ProcessTarget<F, Args...>
  explicit Process(F&& target, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

  template <class F, class... Args>
    requires mp::internal::ProcessTarget<F, Args...>
  Process(const ProcessOptions& options, F&& target, Args&&... args)
      : Process(
            options,
            mp::internal::make_target(std::forward<F>(target), std::forward<Args>(args)...).call) {}

  Process(const Process&) = default;
  Process& operator=(const Process&) = default;
  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  virtual ~Process();

  // Twice -> mp::AssertionError.
  void start();
  // Before start -> mp::AssertionError.
  void join();
  template <class Rep, class Period>
  void join(std::chrono::duration<Rep, Period> timeout) {
    join_until(mp::internal::deadline_after(timeout));
  }
  bool is_alive() const;
  std::optional<int> exitcode() const;
  const std::string& name() const;
  void set_name(std::string name);
  bool daemon() const;
  // After start -> mp::AssertionError.
  void set_daemon(bool daemon);
  // The thread's id once started.
  std::optional<std::thread::id> ident() const;

  friend bool operator==(const Process& a, const Process& b) noexcept {
    return a.state_ == b.state_;
  }

 protected:
  // What the thread runs: the target. A subclass that overrides it must
  // outlive the thread.
  virtual void run();

 private:
  friend std::vector<Process> active_children();
  Process(const ProcessOptions& options, std::function<void()> call);
  explicit Process(std::shared_ptr<internal::ThreadState> state) : state_(std::move(state)) {}
  void join_until(const mp::internal::Deadline& deadline);
  std::shared_ptr<internal::ThreadState> state_;
};

// The thread that calls it (Python's dummy.current_process is
// threading.current_thread): "MainThread" in the main thread.
class CurrentThread {
 public:
  std::string name() const;
  bool daemon() const;
  bool is_alive() const noexcept { return true; }
  std::thread::id ident() const { return std::this_thread::get_id(); }
};
CurrentThread current_process();

// Threads started by the calling thread that are still running.
std::vector<Process> active_children();

}  // namespace mp::dummy

#endif  // MP_DUMMY_PROCESS_H_
