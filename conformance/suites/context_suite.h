// conformance/suites/context_suite.h — start methods and contexts (CPython:
// TestStartMethod, TestCloseFds, TestNoForkBomb, ...; rows `start.*`).

#ifndef MP_CONFORMANCE_SUITES_CONTEXT_SUITE_H_
#define MP_CONFORMANCE_SUITES_CONTEXT_SUITE_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mp/internal/launch/forkserver.h"
#include "mp/internal/launch/popen.h"
#include "mp/mp.h"
#include "testing/conformance.h"

extern char** environ;

namespace mp::conformance {

template <class Impl>
class ContextSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(ContextSuite);

namespace context_children {

inline void report_fd_state(mp::Connection out, int fd) {
  out.send(::fcntl(fd, F_GETFD) >= 0 ? 0 : errno);
}

inline void report_start_method(mp::Connection out) {
  out.send(std::make_pair(mp::get_start_method(), mp::current_process().start_method()));
}

inline int g_preloaded = 0;
inline void preload_marker() { g_preloaded = 42; }
inline void report_preloaded(mp::Connection out) { out.send(g_preloaded); }

}  // namespace context_children

namespace cc = context_children;
using namespace std::chrono_literals;

TYPED_TEST_P(ContextSuite, DescriptorInheritance) {
  cpython_id("start.fd_inheritance");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads share the descriptor table";
  } else {
    // A high-numbered descriptor without close-on-exec, as a careless library
    // would leave one.
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(sock, 0);
    int high = ::fcntl(sock, F_DUPFD, 50);
    ::close(sock);
    ASSERT_GE(high, 50);
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&cc::report_fd_state, writer, high);
    p.start();
    int child_errno = reader.template recv<int>();
    p.join();
    ::close(high);
    if (TypeParam::forks()) {
      EXPECT_EQ(child_errno, 0) << "a fork child inherits it";
    } else {
      EXPECT_EQ(child_errno, EBADF) << "a " << TypeParam::name() << " child does not";
    }
  }
}

TYPED_TEST_P(ContextSuite, GetContextPerMethod) {
  cpython_id("start.get_context_per_method");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start method";
  } else {
    const std::string method = TypeParam::name();
    mp::Context& ctx = mp::get_context(method);
    EXPECT_EQ(ctx.get_start_method(), method);
    EXPECT_EQ(&ctx.get_context(), &ctx);
    EXPECT_EQ(&ctx.get_context(method), &ctx);
    EXPECT_THROW(ctx.set_start_method("spawn"), mp::ValueError);
    EXPECT_THROW(ctx.set_start_method(std::nullopt), mp::ValueError);
    auto [reader, writer] = TypeParam::Pipe(false);
    mp::Process p(ctx, &cc::report_start_method, writer);
    p.start();
    auto [child_default, launched_with] =
        reader.template recv<std::pair<std::string, std::string>>();
    p.join();
    EXPECT_EQ(child_default, method);
    EXPECT_EQ(launched_with, method);
  }
}

TYPED_TEST_P(ContextSuite, SetAndGetStartMethod) {
  cpython_id("start.set_get_start_method");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start method";
  } else {
    const std::string method = TypeParam::name();
    auto previous = mp::get_start_method_or_none();
    mp::set_start_method(method, /*force=*/true);
    EXPECT_EQ(mp::get_start_method(), method);
    EXPECT_EQ(mp::get_context().get_start_method(), method);
    EXPECT_THROW(mp::set_start_method(method), mp::RuntimeError) << "already set, no force";
    auto [reader, writer] = TypeParam::Pipe(false);
    mp::Process p(&cc::report_start_method, writer);  // the default context
    p.start();
    auto [child_default, launched_with] =
        reader.template recv<std::pair<std::string, std::string>>();
    p.join();
    EXPECT_EQ(child_default, method);
    EXPECT_EQ(launched_with, method);
    if (previous) {
      mp::set_start_method(*previous, true);
    } else {
      mp::set_start_method(std::nullopt, true);
    }
    EXPECT_EQ(mp::get_start_method_or_none(), previous);
  }
}

TYPED_TEST_P(ContextSuite, AllStartMethodsDefaultFirst) {
  cpython_id("start.get_all_start_methods");
  auto methods = mp::get_all_start_methods();
  ASSERT_FALSE(methods.empty());
  EXPECT_EQ(methods.front(), "forkserver") << "as in Python 3.14 on Linux: the default is not fork";
  for (const char* m : {"fork", "spawn", "forkserver"}) {
    EXPECT_NE(std::find(methods.begin(), methods.end(), m), methods.end()) << m;
  }
  EXPECT_EQ(methods.size(), 3u);
}

TYPED_TEST_P(ContextSuite, ForkserverPreloadTakesOnlyFunctions) {
  cpython_id("start.forkserver_preload_type_check");
  // Python refuses anything but a list of module names with TypeError. Only
  // plain functions can be preloaded here (the server finds them by
  // location); anything else does not compile.
  static_assert(!std::is_invocable_v<decltype(&mp::set_forkserver_preload),
                                     std::vector<std::function<void()>>>);
  static_assert(!std::is_invocable_v<decltype(&mp::set_forkserver_preload), std::vector<int>>);
  static_assert(
      std::is_invocable_v<decltype(&mp::set_forkserver_preload), std::vector<void (*)()>>);
}

TYPED_TEST_P(ContextSuite, ForkserverPreload) {
  cpython_id("start.forkserver_preload_resources");
  if (std::string_view(TypeParam::name()) != "forkserver") {
    GTEST_SKIP() << "forkserver only";
  } else {
    mp::set_forkserver_preload({&cc::preload_marker});
    mp::internal::stop_forkserver();  // a preload list applies to a new server
    auto [reader, writer] = TypeParam::Pipe(false);
    auto p = TypeParam::Process(&cc::report_preloaded, writer);
    p.start();
    EXPECT_EQ(reader.template recv<int>(), 42) << "the server ran the preload before forking";
    p.join();
    EXPECT_EQ(cc::g_preloaded, 0) << "it ran in the server, not here";
    mp::set_forkserver_preload({});
    mp::internal::stop_forkserver();
    mp::internal::ensure_forkserver();
  }
}

TYPED_TEST_P(ContextSuite, NoRecursiveSpawnWithoutInit) {
  cpython_id("start.no_fork_bomb_without_main_guard");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads execute nothing";
  } else {
    // Python re-imports __main__ in spawn children; without the __main__
    // guard that fails with RuntimeError instead of spawning forever. In C++
    // the guard is mp::init(): a program without it gets RuntimeError from
    // start() under spawn and forkserver, and runs normally under fork.
    Ran ran = run_program({"conformance/no_init_main", TypeParam::name()});
    if (TypeParam::forks()) {
      EXPECT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
      EXPECT_EQ(ran.out, "123\n");
      EXPECT_EQ(ran.err, "");
    } else {
      EXPECT_FALSE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0);
      EXPECT_NE(ran.err.find("RuntimeError"), std::string::npos) << ran.err;
      EXPECT_EQ(ran.out, "");
    }
  }
}

TYPED_TEST_P(ContextSuite, GlobalSemaphoreLeavesNothing) {
  cpython_id("start.spawn_global_semaphore_no_leak");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads execute nothing";
  } else {
    // Python warns of a leaked semaphore when __main__'s module-level
    // Semaphore is rebuilt in a spawned child. mp's are unnamed memory: the
    // child builds its own, and nothing is left to leak or warn about.
    Ran ran = run_program({"conformance/global_semaphore_main", TypeParam::name()});
    EXPECT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
    EXPECT_EQ(ran.out, "0\n");
    EXPECT_EQ(ran.err, "");
  }
}

REGISTER_TYPED_TEST_SUITE_P(ContextSuite, DescriptorInheritance, GetContextPerMethod,
                            SetAndGetStartMethod, AllStartMethodsDefaultFirst, ForkserverPreload,
                            ForkserverPreloadTakesOnlyFunctions, NoRecursiveSpawnWithoutInit,
                            GlobalSemaphoreLeavesNothing);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_CONTEXT_SUITE_H_
