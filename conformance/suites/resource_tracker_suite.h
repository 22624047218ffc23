// conformance/suites/resource_tracker_suite.h — the shared memory guardian,
// mp's resource tracker (CPython: TestResourceTracker; rows `rtracker.*`).
//
// CPython runs these as plain TestCases once per start method, so they run
// against the process implementations: the children that create names are
// started by the implementation's start method. Waits are on events: a
// removal in /dev/shm (inotify), a process's end (pidfd), the end of the
// guardian's standard error.

#ifndef MP_CONFORMANCE_SUITES_RESOURCE_TRACKER_SUITE_H_
#define MP_CONFORMANCE_SUITES_RESOURCE_TRACKER_SUITE_H_

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include "mp/internal/launch/shm_guardian.h"
#include "mp/mp.h"
#include "testing/conformance.h"
#include "testing/hygiene.h"

namespace mp::conformance {

template <class Impl>
class ResourceTrackerSuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(ResourceTrackerSuite);

namespace tracker_children {

using namespace std::chrono_literals;

inline std::string fresh_session() {
  uint64_t bits = 0;
  if (::getrandom(&bits, sizeof(bits), 0) != sizeof(bits)) throw std::runtime_error("getrandom");
  char text[32];
  std::snprintf(text, sizeof(text), "test%016llx", static_cast<unsigned long long>(bits));
  return text;
}

inline bool exists(const std::string& name) {
  return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0;
}

// A name of this test binary's own, `length` characters long.
inline std::string tagged_name(size_t length) {
  static int counter = 0;
  std::string name =
      "mpt_" + shm_tag() + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_";
  name.resize(length, 'x');
  return name;
}

// Creates a segment named `name` (tracked), reports it and its guardian,
// then dies by SIGKILL.
inline void create_and_die(std::string name, mp::Connection out) {
  mp::SharedMemory shm({.name = name, .create = true, .size = 64});
  out.send(static_cast<int>(mp::internal::shm_guardian_pid()));
  ::raise(SIGKILL);
}

// Creates a segment and reports the guardian it reached; then unlinks it.
inline void report_guardian(mp::Connection out) {
  mp::SharedMemory shm({.create = true, .size = 64});
  out.send(static_cast<int>(mp::internal::shm_guardian_pid()));
  out.send(mp::internal::ping_shm_guardian());
  shm.unlink();
}

// In a session of its own: creates `first`, reports its guardian, waits for
// the test (which SIGKILLs that guardian), creates `second`, reports the
// guardian again, and dies by SIGKILL.
inline void outlive_the_guardian(std::string first, std::string second, mp::Connection out,
                                 mp::Connection gate) {
  mp::internal::set_shm_guardian_session(fresh_session());
  mp::SharedMemory a({.name = first, .create = true, .size = 64});
  out.send(static_cast<int>(mp::internal::shm_guardian_pid()));
  Gate::wait(gate);
  mp::SharedMemory b({.name = second, .create = true, .size = 64});
  out.send(static_cast<int>(mp::internal::shm_guardian_pid()));
  ::raise(SIGKILL);
}

}  // namespace tracker_children

namespace tc = tracker_children;
using namespace std::chrono_literals;

TYPED_TEST_P(ResourceTrackerSuite, KilledCreatorsNamesAreRemoved) {
  cpython_id("rtracker.cleanup_leaked_on_kill");
  // A program of its own, so that its guardian's standard error is ours to
  // read: a child creates two names and is terminated after its parent
  // unlinked the first; the guardian removes the second and says so.
  Ran ran = run_program({"conformance/shm_peer_main", "leak", TypeParam::name()},
                        {.unset = {"MP_SHM_GUARDIAN_SESSION"}});
  ASSERT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
  char first[NAME_MAX + 1] = {}, second[NAME_MAX + 1] = {};
  ASSERT_EQ(std::sscanf(ran.out.c_str(), "names %255s %255s", first, second), 2) << ran.out;
  // The guardian held the standard error until it exited: it is done.
  EXPECT_FALSE(tc::exists(first));
  EXPECT_FALSE(tc::exists(second)) << "the guardian did not remove the killed creator's name";
  EXPECT_NE(ran.err.find("1 segment; removed /" + std::string(second)), std::string::npos)
      << ran.err;
  EXPECT_EQ(ran.err.find(first), std::string::npos)
      << "a name someone else unlinked is not reported";
}

// Sends `sig` to this session's guardian and checks that it goes on guarding.
template <class Impl>
void check_guardian_ignores(int sig) {
  mp::SharedMemory held({.create = true, .size = 64});
  const pid_t guardian = mp::internal::shm_guardian_pid();
  ASSERT_GT(guardian, 0);
  EXPECT_TRUE(signal_dispositions(guardian).ignored & (uint64_t{1} << (sig - 1)))
      << "signal " << sig << " is not ignored";
  ASSERT_EQ(::kill(guardian, sig), 0);
  // Had the signal killed it, its end would come before any answer.
  EXPECT_TRUE(mp::internal::ping_shm_guardian()) << "the guardian died of signal " << sig;
  EXPECT_EQ(mp::internal::shm_guardian_pid(), guardian);
  // And it still removes what a killed creator leaves.
  const std::string name = tc::tagged_name(60);
  auto [reader, writer] = Impl::Pipe(false);
  auto p = Impl::Process(&tc::create_and_die, name, writer);
  p.start();
  EXPECT_EQ(reader.template recv<int>(), guardian) << "the child reached the same guardian";
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  EXPECT_TRUE(wait_removed({name}, 30s)) << name << " outlived its creator";
  held.unlink();
}

TYPED_TEST_P(ResourceTrackerSuite, IgnoresSigint) {
  cpython_id("rtracker.ignores_sigint");
  check_guardian_ignores<TypeParam>(SIGINT);
}

TYPED_TEST_P(ResourceTrackerSuite, IgnoresSigterm) {
  cpython_id("rtracker.ignores_sigterm");
  check_guardian_ignores<TypeParam>(SIGTERM);
}

TYPED_TEST_P(ResourceTrackerSuite, ReplacedAfterSigkill) {
  cpython_id("rtracker.restart_after_sigkill");
  const std::string first = tc::tagged_name(60), second = tc::tagged_name(60);
  auto [reader, writer] = TypeParam::Pipe(false);
  Gate gate;
  auto p = TypeParam::Process(&tc::outlive_the_guardian, first, second, writer, gate.child_end);
  p.start();
  const pid_t killed = reader.template recv<int>();
  ASSERT_GT(killed, 0);
  ASSERT_EQ(::kill(killed, SIGKILL), 0);
  ASSERT_TRUE(wait_process_gone(killed, 30s));
  gate.open();
  const pid_t replacement = reader.template recv<int>();
  EXPECT_GT(replacement, 0) << "no guardian after the first was killed";
  EXPECT_NE(replacement, killed);
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  // The replacement was told about the first name too: it removes both, then
  // exits (its session has nobody else).
  EXPECT_TRUE(wait_process_gone(replacement, 30s));
  EXPECT_FALSE(tc::exists(first)) << "registered before the guardian was killed";
  EXPECT_FALSE(tc::exists(second));
}

TYPED_TEST_P(ResourceTrackerSuite, SharedByChildren) {
  cpython_id("rtracker.reused_by_children");
  mp::SharedMemory held({.create = true, .size = 64});
  const pid_t guardian = mp::internal::shm_guardian_pid();
  ASSERT_GT(guardian, 0);
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&tc::report_guardian, writer);
  p.start();
  EXPECT_EQ(reader.template recv<int>(), guardian) << "the child started a guardian of its own";
  EXPECT_TRUE(reader.template recv<bool>()) << "the child's guardian does not answer";
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  held.unlink();
}

TYPED_TEST_P(ResourceTrackerSuite, ExitCodeSaysWhetherAnythingLeaked) {
  cpython_id("rtracker.exit_code");
  for (const char* how : {"clean", "leak"}) {
    Ran ran = run_program({"conformance/shm_peer_main", "exit-code", how, TypeParam::name()},
                          {.unset = {"MP_SHM_GUARDIAN_SESSION"}});
    ASSERT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << how << ": " << ran.err;
    EXPECT_EQ(ran.out, std::string("guardian ") + (how[0] == 'c' ? "0" : "1") + "\n") << how;
  }
}

TYPED_TEST_P(ResourceTrackerSuite, StartingItKeepsTheSignalMask) {
  cpython_id("rtracker.preserves_sigmask");
  // A session of this test's own, so that a guardian starts here and now.
  const std::string session = mp::internal::shm_guardian_session();
  mp::internal::set_shm_guardian_session(tc::fresh_session());
  sigset_t blocked, before, after;
  sigemptyset(&blocked);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&blocked, sig);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &blocked, &before), 0);
  std::optional<mp::SharedMemory> shm;
  try {
    shm.emplace(mp::SharedMemoryOptions{.create = true, .size = 64});
  } catch (...) {
  }
  ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ASSERT_TRUE(shm.has_value());
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
    EXPECT_EQ(sigismember(&after, sig), 1) << "signal " << sig << " was unblocked";
  }
  const pid_t guardian = mp::internal::shm_guardian_pid();
  ASSERT_GT(guardian, 0);
  EXPECT_EQ(signal_dispositions(guardian).blocked, 0u) << "the guardian inherited a mask";
  shm->unlink();
  EXPECT_TRUE(wait_process_gone(guardian, 30s)) << "the guardian stays with nothing to guard";
  mp::internal::set_shm_guardian_session(session);
}

TYPED_TEST_P(ResourceTrackerSuite, GuardsTheLongestNames) {
  cpython_id("rtracker.name_too_long");
  deviation(
      "no length limit of its own: CPython's tracker refuses a name whose message would exceed "
      "PIPE_BUF with ValueError, since its pipe writes must be atomic; mp's guardian reads "
      "length-prefixed frames from a socket per process, so it guards every name the system "
      "accepts (NAME_MAX, 255 bytes), and a longer one fails in shm_open with ENAMETOOLONG "
      "before anything exists");
  const std::string longest = tc::tagged_name(NAME_MAX);
  auto [reader, writer] = TypeParam::Pipe(false);
  auto p = TypeParam::Process(&tc::create_and_die, longest, writer);
  p.start();
  EXPECT_GT(reader.template recv<int>(), 0);
  p.join();
  EXPECT_TRUE(wait_removed({longest}, 30s)) << "a 255-byte name outlived its creator";
  try {
    mp::SharedMemory too_long({.name = tc::tagged_name(NAME_MAX + 1), .create = true, .size = 64});
    ADD_FAILURE() << "a 256-byte name was created";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENAMETOOLONG);
  }
}

REGISTER_TYPED_TEST_SUITE_P(ResourceTrackerSuite, KilledCreatorsNamesAreRemoved, IgnoresSigint,
                            IgnoresSigterm, ReplacedAfterSigkill, SharedByChildren,
                            ExitCodeSaysWhetherAnythingLeaked, StartingItKeepsTheSignalMask,
                            GuardsTheLongestNames);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_RESOURCE_TRACKER_SUITE_H_
