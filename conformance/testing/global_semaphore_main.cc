// A program with a Semaphore at namespace scope, built again in every child
// that re-executes the program (spawn), as a module-level Semaphore is in
// Python's __main__. The start method is argv[1]; prints the child's exit code.

#include <cstdio>

#include "mp/mp.h"

namespace {
mp::Semaphore global_semaphore(1);
void use_it() {
  global_semaphore.acquire();
  global_semaphore.release();
}
}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);
  if (argc < 2) return 2;
  mp::Process p(mp::get_context(argv[1]), &use_it);
  p.start();
  p.join();
  std::printf("%d\n", p.exitcode().value_or(-100));
  return 0;
}
