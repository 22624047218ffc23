// A program that forgets mp::init() and creates a tracked SharedMemory: the
// guardian that tracking needs is this program run again, which without
// init() would run this main() again, create again, and so on. Expected: an
// uncaught mp::RuntimeError naming mp::init, and no other process started.

#include "mp/shared_memory.h"

int main() {
  mp::SharedMemory shm({.create = true, .size = 64});
  shm.close();
  shm.unlink();
  return 0;
}
