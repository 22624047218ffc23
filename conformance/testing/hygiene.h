// conformance/testing/hygiene.h — what a test must leave as it found it:
// no child process (running or zombie), no descriptor, no shared-memory
// segment, no thread.

#ifndef MP_CONFORMANCE_TESTING_HYGIENE_H_
#define MP_CONFORMANCE_TESTING_HYGIENE_H_

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mp::conformance {

struct Snapshot {
  // Children of this process and of its fork server (the server excluded):
  // pid -> "name (state)".
  std::map<pid_t, std::string> descendants;
  // Open descriptors: number -> what it points at.
  std::map<int, std::string> fds;
  // Names in /dev/shm.
  std::set<std::string> shm;
  // memfd mappings in this process (mp's shared primitives).
  size_t memfd_maps = 0;
  size_t threads = 0;

  static Snapshot take();
};

// What `after` has that `before` had not, one line per leak. Waits briefly
// for threads and descendants that are already on their way out.
std::vector<std::string> leaks_since(const Snapshot& before);

// The tag that names of /dev/shm segments made by this test binary and its
// children contain (the main puts it in MP_SHM_TAG, which mp's SharedMemory
// puts into the names it draws).
const std::string& shm_tag();

// Kills (SIGKILL) and reaps every descendant (the watchdog's last act).
void kill_descendants();
// Kills and reaps the descendants that `before` did not have, so one failing
// test does not poison the next, nor take down what the binary shares among
// its tests (the manager implementation's server).
void kill_descendants_since(const Snapshot& before);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_TESTING_HYGIENE_H_
