// A program that forgets mp::init(): start_method given as argv[1]. Under
// fork it prints "123"; under spawn and forkserver start() throws
// mp::RuntimeError (left uncaught, as Python leaves its RuntimeError).

#include <cstdio>

#include "mp/mp.h"

namespace {
void print_123() { std::printf("123\n"); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  mp::Process p(mp::get_context(argv[1]), &print_123);
  p.start();
  p.join();
  return p.exitcode().value_or(3);
}
