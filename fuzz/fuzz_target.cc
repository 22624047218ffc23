#include "fuzz_target.h"

#include <cstdio>
#include <cstdlib>

namespace mp::fuzz {

void finding(const char* target, const char* what) {
  std::fprintf(stderr, "%s: %s\n", target, what);
  std::abort();
}

}  // namespace mp::fuzz
