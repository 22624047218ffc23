#include "mp/context.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "mp/errors.h"
#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/runtime.h"
#include "mp/internal/launch/shm_guardian.h"

namespace mp {

namespace {
std::atomic<bool> g_initialized{false};
}  // namespace

void init(int argc, char** argv) {
  internal::set_program_name(argc > 0 ? argv[0] : nullptr);
  if (argc >= 3 && std::strcmp(argv[1], "--mp-internal-spawn") == 0) {
    g_initialized = true;
    std::atexit(internal::exit_function);
    internal::run_spawned_child(std::atoi(argv[2]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "--mp-internal-shm-guardian") == 0) {
    internal::run_shm_guardian(std::atoi(argv[2]));
  }
  if (argc >= 3 && std::strcmp(argv[1], "--mp-internal-forkserver") == 0) {
    g_initialized = true;
    internal::run_forkserver(std::atoi(argv[2]));
  }
  // The main process names the session its children share one shared
  // memory guardian in (they inherit the name through the environment).
  internal::start_shm_guardian_session();
  if (!g_initialized.exchange(true)) std::atexit(internal::exit_function);
}

bool initialized() noexcept { return g_initialized; }

std::string Context::get_start_method() const {
  if (!is_default()) return method_;
  return internal::start_method_name(internal::default_start_method());
}

Context& Context::get_context(std::string_view method) { return mp::get_context(method); }

void Context::set_start_method(std::string_view method, bool force) {
  if (!is_default()) throw ValueError("cannot set start method of concrete context");
  mp::set_start_method(method, force);
}

void Context::set_start_method(std::nullopt_t, bool force) {
  if (!is_default()) throw ValueError("cannot set start method of concrete context");
  mp::set_start_method(std::nullopt, force);
}

Context& get_context() {
  static Context* context = new Context("");
  return *context;
}

Context& get_context(std::string_view method) {
  static Context* fork = new Context("fork");
  static Context* spawn = new Context("spawn");
  static Context* forkserver = new Context("forkserver");
  switch (internal::parse_start_method(method)) {
    case internal::StartMethod::kFork:
      return *fork;
    case internal::StartMethod::kSpawn:
      return *spawn;
    case internal::StartMethod::kForkserver:
      return *forkserver;
  }
  throw ValueError("cannot find context for '" + std::string(method) + "'");
}

void set_start_method(std::string_view method, bool force) {
  internal::choose_start_method(internal::parse_start_method(method), force);
}

void set_start_method(std::nullopt_t, bool force) {
  internal::choose_start_method(std::nullopt, force);
}

std::string get_start_method() {
  return internal::start_method_name(internal::default_start_method());
}

std::optional<std::string> get_start_method_or_none() {
  auto method = internal::chosen_start_method();
  if (!method) return std::nullopt;
  return std::string(internal::start_method_name(*method));
}

std::vector<std::string> get_all_start_methods() { return {"forkserver", "spawn", "fork"}; }

int cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

void set_executable(std::string path) { internal::set_executable_path(std::move(path)); }
std::string get_executable() { return internal::executable(); }

void set_forkserver_preload(std::vector<void (*)()> functions) {
  internal::set_forkserver_preload_list(std::move(functions));
}

}  // namespace mp
