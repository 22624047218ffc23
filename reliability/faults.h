// reliability/faults.h — what the reliability tests do at mp's fault points
// (mp/internal/base/fault.h), and the measurements they take afterwards.
//
// The arming table lives in shared memory made before anything forks, so a
// point armed in the test process fires in its fork children too (the pool's
// workers, a victim child), and the test sees how often it fired. A spawn or
// forkserver child runs main() afresh: it gets its own table, armed from the
// MP_FAULTS environment variable ("child.starting=no_threads,..."), or by
// calling arm() in its own target.

#ifndef MP_RELIABILITY_FAULTS_H_
#define MP_RELIABILITY_FAULTS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "mp/internal/base/fault.h"

namespace mp::reliability {

using internal::FaultPoint;

enum class Action : uint32_t {
  kNone,
  kKill,           // SIGKILL the process that reached the point
  kStall,          // block there until release_stalls() (or 60 s)
  kSleep,          // sleep `argument` microseconds there, then go on
  kNoThreads,      // cap the address space: the process's next thread cannot get a stack
  kNoDescriptors,  // fill the descriptor table: the process's next open() fails with EMFILE
};

// Call first thing in main(), before mp::init(): maps the table, installs
// the hook, arms what MP_FAULTS names.
void install();

// Arms `point`: the next `shots` processes to reach it (any number when
// negative) do `action`; the process `spare` (0: none) never does.
void arm(FaultPoint point, Action action, int shots = 1, pid_t spare = 0, uint32_t argument = 0);
void disarm(FaultPoint point);
void disarm_all();
// How often `point` fired since it was armed.
int fired(FaultPoint point);
// Waits until `point` has fired `times` times; false at the timeout.
bool wait_fired(FaultPoint point, int times, std::chrono::milliseconds timeout);
// Lets every process stalled at a point go on.
void release_stalls();
// Undoes kNoDescriptors and kNoThreads in this process.
void restore_limits();

// "child.starting=no_threads": the MP_FAULTS text that arms `point` with
// `action` (one shot) in spawn and forkserver children.
std::string env_spec(FaultPoint point, Action action);

// CPU time this thread has used.
std::chrono::nanoseconds thread_cpu_time();

// Each thread of process `pid`: the CPU time it has used, and the system
// call it sleeps in (/proc/<pid>/task/<tid>/syscall), or -1 while it runs.
struct ThreadState {
  std::chrono::nanoseconds cpu{0};
  long syscall = -1;
};
std::map<pid_t, ThreadState> thread_states(pid_t pid);
// The CPU time all its threads used between two looks.
std::chrono::nanoseconds cpu_used(const std::map<pid_t, ThreadState>& before,
                                  const std::map<pid_t, ThreadState>& after);
// What the CPU time process `pid` used between `before` and `after` went
// to: "tid 123 (main): 4100 us, now in syscall 202; ...", for a failure
// message.
std::string describe_cpu(pid_t pid, const std::map<pid_t, ThreadState>& before,
                         const std::map<pid_t, ThreadState>& after);

}  // namespace mp::reliability

#endif  // MP_RELIABILITY_FAULTS_H_
