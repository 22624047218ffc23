// mp/internal/launch/process_state.h — the state a Process handle shares.

#ifndef MP_INTERNAL_LAUNCH_PROCESS_STATE_H_
#define MP_INTERNAL_LAUNCH_PROCESS_STATE_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mp/context.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/launch/popen.h"
#include "mp/process.h"

namespace mp::internal {

struct ProcessState {
  mutable std::mutex mu;
  Context* ctx = nullptr;  // nullptr: the default context, resolved at start()
  std::string name;
  bool daemon = false;
  std::string identity;  // "1:2": the 2nd child of this process's 1st child
  TargetSpec target;
  pid_t creator = 0;
  bool started = false;
  bool closed = false;
  std::unique_ptr<Popen> popen;
  std::optional<int> exitcode;

  // Waits for the child until `deadline`; returns its exit code once it has
  // ended (and forgets it in the children registry).
  std::optional<int> wait(const Deadline& deadline);
  // Non-blocking: is the child still running?
  bool running();
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_LAUNCH_PROCESS_STATE_H_
