#include "mp/synchronize.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "mp/dummy/process.h"
#include "mp/process.h"

namespace mp::internal {

std::string describe_holder(int32_t pid, int32_t tid) {
  const Holder& me = this_holder();
  if (pid != me.pid) return "SomeOtherProcess";
  if (tid != me.tid) return "SomeOtherThread";
  std::string name = current_process().name();
  if (me.tid != me.pid) {  // not the main thread
    name += "|" + mp::dummy::current_process().name();
  }
  return name;
}

}  // namespace mp::internal
