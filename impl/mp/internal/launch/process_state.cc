// mp/internal/launch/process_state.cc — waiting for a started child (ProcessState),
// which the exit function needs as much as mp::Process does.

#include "mp/internal/launch/process_state.h"

#include <poll.h>

#include "mp/internal/launch/popen.h"
#include "mp/internal/launch/runtime.h"

namespace mp::internal {

std::optional<int> ProcessState::wait(const Deadline& deadline) {
  int sentinel;
  {
    std::lock_guard lock(mu);
    if (exitcode || !popen) return exitcode;
    sentinel = popen->sentinel();
  }
  if (!wait_fd(sentinel, POLLIN, deadline)) return std::nullopt;
  std::optional<int> code;
  {
    std::lock_guard lock(mu);
    if (exitcode || !popen) return exitcode;
    code = popen->wait(Clock::now());
    exitcode = code;
  }
  if (code) forget_child(this);
  return code;
}

bool ProcessState::running() {
  {
    std::lock_guard lock(mu);
    if (exitcode || !popen) return false;
  }
  return !wait(Clock::now()).has_value();
}

}  // namespace mp::internal
