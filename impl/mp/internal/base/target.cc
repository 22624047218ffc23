#include "mp/internal/base/target.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>

#include "mp/errors.h"

namespace mp::internal {

CodeLocation locate_code(const void* address) {
  Dl_info info;
  link_map* map = nullptr;
  if (::dladdr1(address, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 ||
      map == nullptr) {
    throw PicklingError("target is not inside a loaded object and cannot be named in a child");
  }
  auto at = reinterpret_cast<uintptr_t>(address);
  return CodeLocation{map->l_name ? map->l_name : "", at - map->l_addr};
}

const void* resolve_code(const CodeLocation& location) {
  struct Search {
    const std::string* name;
    uintptr_t bias = 0;
    bool found = false;
  } search{&location.object};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* s = static_cast<Search*>(data);
        const char* name = info->dlpi_name ? info->dlpi_name : "";
        if (*s->name == name) {
          s->bias = info->dlpi_addr;
          s->found = true;
          return 1;
        }
        return 0;
      },
      &search);
  if (!search.found) {
    throw PicklingError("object '" + location.object + "' is not loaded in the child");
  }
  return reinterpret_cast<const void*>(search.bias + location.offset);
}

}  // namespace mp::internal
