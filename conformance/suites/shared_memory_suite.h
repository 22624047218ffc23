// conformance/suites/shared_memory_suite.h — SharedMemory (CPython:
// _TestSharedMemory; rows `shm.*`).
//
// Names made here carry the test binary's tag (shm_tag()), so the hygiene
// check sees any that a test leaves in /dev/shm.

#ifndef MP_CONFORMANCE_SUITES_SHARED_MEMORY_SUITE_H_
#define MP_CONFORMANCE_SUITES_SHARED_MEMORY_SUITE_H_

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "mp/mp.h"
#include "testing/conformance.h"
#include "testing/hygiene.h"

namespace mp::conformance {

template <class Impl>
class SharedMemorySuite : public ConformanceTest {};
TYPED_TEST_SUITE_P(SharedMemorySuite);

namespace shm_children {

using namespace std::chrono_literals;

// A name of this test binary's own: "mpt_<tag>_<what>_<pid>_<n>".
inline std::string test_name(const std::string& what) {
  static std::atomic<int> counter{0};
  return "mpt_" + shm_tag() + "_" + what + "_" + std::to_string(::getpid()) + "_" +
         std::to_string(counter++);
}

inline bool exists(const std::string& name) {
  return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0;
}

// The errno of the std::system_error that `f` throws; 0 if it throws none.
template <class F>
int errno_of(F f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  return 0;
}

inline void write_at(std::span<std::byte> buf, size_t at, std::string_view text) {
  std::memcpy(buf.data() + at, text.data(), text.size());
}
inline std::string read_at(std::span<const std::byte> buf, size_t at, size_t n) {
  return std::string(reinterpret_cast<const char*>(buf.data()) + at, n);
}

// CPython's _attach_existing_shmem_then_write, by name and by handle.
inline void attach_by_name_then_write(std::string name, std::string text) {
  mp::SharedMemory shm({.name = name});
  write_at(shm.buf(), 0, text);
  shm.close();
}
inline void write_through_handle(mp::SharedMemory shm, std::string text) {
  write_at(shm.buf(), 0, text);
}

// Creates `name`, reports, then waits for the test to end it.
inline void create_and_wait(std::string name, mp::Connection out, mp::Connection gate) {
  mp::SharedMemory shm({.name = name, .create = true, .size = 4096});
  write_at(shm.buf(), 0, "alive");
  out.send(true);
  Gate::wait(gate);
}

// Attaches `name`, then leaves the way `how` says: 0 returns, 1 throws, 2
// kills itself. Before that it creates `marker` (tracked) so that the test
// knows when the guardian has acted on its end.
inline void attach_then_leave(std::string name, std::string marker, int how) {
  mp::SharedMemory shm({.name = name});
  mp::SharedMemory mark({.name = marker, .create = true, .size = 64});
  write_at(shm.buf(), 0, "seen");
  if (how == 1) throw std::runtime_error("leaving by exception");
  if (how == 2) ::raise(SIGKILL);
}

// Creates the names it is given and leaves without unlinking them: `how` 0
// returns, 1 throws, 2 kills itself, 3 std::exit(3). `untracked` is created
// with track = false, and must survive.
inline void create_then_leave(std::vector<std::string> names, std::string untracked, int how,
                              mp::Connection out, mp::Connection gate) {
  std::vector<mp::SharedMemory> made;
  for (const std::string& name : names) {
    made.emplace_back(mp::SharedMemoryOptions{.name = name, .create = true, .size = 8192});
    write_at(made.back().buf(), 0, "left");
  }
  if (!untracked.empty()) {
    mp::SharedMemory keep({.name = untracked, .create = true, .size = 64, .track = false});
    write_at(keep.buf(), 0, "kept");
  }
  out.send(true);
  Gate::wait(gate);  // while the test attaches
  if (how == 1) throw std::runtime_error("leaving by exception");
  if (how == 2) ::raise(SIGKILL);
  if (how == 3) std::exit(3);
}

// Doubles item 2 of the list it receives.
inline void append_to_list(mp::ShareableList sl) { sl.set(2, sl.get<double>(2) * 2); }

// Starts a SharedMemoryManager, makes a list and a segment in it, reports
// their names, and waits to be killed.
template <class Impl>
void own_a_manager(mp::Connection out, mp::Connection gate) {
  mp::SharedMemoryManager smm(Impl::context());
  smm.start();
  auto sl = smm.ShareableList({1, 2});
  auto block = smm.SharedMemory(4096);
  out.send(std::vector<std::string>{sl.shm().name(), block.name()});
  Gate::wait(gate);
}

inline std::vector<std::string>* g_scripted_names = nullptr;
inline size_t g_scripted_next = 0;
inline std::string scripted_name() {
  return (*g_scripted_names)[g_scripted_next++ % g_scripted_names->size()];
}

}  // namespace shm_children

namespace smc = shm_children;
using namespace std::chrono_literals;

TYPED_TEST_P(SharedMemorySuite, NameWithEmbeddedNul) {
  cpython_id("shm.name_embedded_nul");
  std::string name = smc::test_name("nul");
  typename TypeParam::SharedMemory shm({.name = name, .create = true, .size = 64});
  EXPECT_THROW(typename TypeParam::SharedMemory({.name = name + std::string("\0a", 2)}),
               mp::ValueError);
  EXPECT_THROW(typename TypeParam::SharedMemory(
                   {.name = name + std::string("\0b", 2), .create = true, .size = 64}),
               mp::ValueError);
  shm.close();
  shm.unlink();
}

TYPED_TEST_P(SharedMemorySuite, Basics) {
  cpython_id("shm.basics");
  deviation(
      "attaching with a size larger than the segment raises mp::ValueError: CPython ignores the "
      "size asked for and hands out the smaller segment, whose buffer is then shorter than the "
      "caller expects");
  using S = typename TypeParam::SharedMemory;
  std::string name = smc::test_name("basics");
  S sms({.name = name, .create = true, .size = 512});
  EXPECT_EQ(sms.name(), name);
  EXPECT_GE(sms.size(), 512u);
  EXPECT_GE(sms.buf().size(), sms.size());
  EXPECT_EQ(sms.repr(), "SharedMemory('" + name + "', size=512)");
  // What one attachment writes, another reads.
  sms.buf()[0] = std::byte{42};
  EXPECT_EQ(sms.buf()[0], std::byte{42});
  S also({.name = name});
  EXPECT_EQ(also.buf()[0], std::byte{42});
  also.buf()[1] = std::byte{7};
  EXPECT_EQ(sms.buf()[1], std::byte{7});
  S by_slash("/" + name);
  EXPECT_EQ(by_slash.name(), name) << "a leading slash is accepted and dropped";
  // Attaching with a size: CPython ignores it; mp takes up to the segment's
  // size and refuses more (see shared_memory.h).
  S smaller({.name = name, .size = 100});
  EXPECT_EQ(smaller.size(), sms.size());
  EXPECT_THROW(S({.name = name, .size = 512 * 20}), mp::ValueError);
  EXPECT_THROW(S({.name = name, .create = true, .size = -2}), mp::ValueError);
  EXPECT_THROW(S(mp::SharedMemoryOptions{}), mp::ValueError) << "attach needs a name";
  EXPECT_EQ(smc::errno_of([&] { S again({.name = name, .create = true, .size = 512}); }), EEXIST);
  by_slash.close();
  smaller.close();
  also.close();
  EXPECT_TRUE(also.closed());
  EXPECT_THROW(also.buf(), mp::ValueError);
  EXPECT_EQ(sms.buf()[1], std::byte{7}) << "closing one attachment leaves the others";
  sms.close();
  sms.close();
  sms.unlink();
  EXPECT_EQ(smc::errno_of([&] { sms.unlink(); }), ENOENT) << "unlink twice";
  EXPECT_EQ(smc::errno_of([&] { S gone({.name = name}); }), ENOENT) << "attach a missing name";
  EXPECT_FALSE(smc::exists(name));
}

TYPED_TEST_P(SharedMemorySuite, DrawsAnotherNameWhenTaken) {
  cpython_id("shm.random_name_retry");
  using S = typename TypeParam::SharedMemory;
  S first({.create = true, .size = 64});
  std::vector<std::string> names = {first.name(), smc::test_name("retry")};
  smc::g_scripted_names = &names;
  smc::g_scripted_next = 0;
  auto previous = mp::internal::set_shm_name_source(&smc::scripted_name);
  std::optional<S> second;
  try {
    second.emplace(mp::SharedMemoryOptions{.create = true, .size = 64});
  } catch (...) {
  }
  mp::internal::set_shm_name_source(previous);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->name(), names[1]);
  EXPECT_EQ(smc::g_scripted_next, 2u) << "the taken name, then the next";
  second->close();
  second->unlink();
  first.close();
  first.unlink();
}

TYPED_TEST_P(SharedMemorySuite, InvalidSize) {
  cpython_id("shm.invalid_size");
  using S = typename TypeParam::SharedMemory;
  EXPECT_THROW(S({.create = true, .size = -1}), mp::ValueError);
  EXPECT_THROW(S({.create = true, .size = 0}), mp::ValueError);
  EXPECT_THROW(S({.create = true}), mp::ValueError);
}

TYPED_TEST_P(SharedMemorySuite, EncodedHandleAttachesTheSameSegment) {
  cpython_id("shm.pickle_attaches_same_segment");
  using S = typename TypeParam::SharedMemory;
  S sms({.create = true, .size = 512});
  mp::Writer w = mp::dumps(sms);
  mp::Reader r(w.bytes());
  S decoded = mp::decode<S>(r);
  EXPECT_EQ(decoded.name(), sms.name());
  smc::write_at(sms.buf(), 0, "pickle");
  EXPECT_EQ(smc::read_at(decoded.buf(), 0, 6), "pickle");
  smc::write_at(decoded.buf(), 0, "newval");
  EXPECT_EQ(smc::read_at(sms.buf(), 0, 6), "newval");
  decoded.close();
  sms.close();
  sms.unlink();
}

TYPED_TEST_P(SharedMemorySuite, DecodingAfterUnlinkFails) {
  cpython_id("shm.unpickle_after_unlink");
  using S = typename TypeParam::SharedMemory;
  S sms({.create = true, .size = 512});
  mp::Writer w = mp::dumps(sms);
  sms.close();
  sms.unlink();
  mp::Reader r(w.bytes());
  EXPECT_EQ(smc::errno_of([&] { mp::decode<S>(r); }), ENOENT);
}

TYPED_TEST_P(SharedMemorySuite, ChildrenWriteByNameAndByHandle) {
  cpython_id("shm.cross_process_write");
  using S = typename TypeParam::SharedMemory;
  S sms({.create = true, .size = 512});
  auto p = TypeParam::Process(&smc::attach_by_name_then_write, sms.name(), std::string("howdy"));
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(smc::read_at(sms.buf(), 0, 5), "howdy");
  auto q = TypeParam::Process(&smc::write_through_handle, sms, std::string("HELLO"));
  q.start();
  q.join();
  EXPECT_EQ(q.exitcode(), 0);
  EXPECT_EQ(smc::read_at(sms.buf(), 0, 5), "HELLO");
  sms.close();
  sms.unlink();
}

// A SharedMemoryManager under the implementation's start method (threads:
// the default one).
template <class Impl>
mp::SharedMemoryManager make_shared_memory_manager() {
  // A generous wait for the server's exit: under ThreadSanitizer every
  // process sleeps 1 s on its way out (atexit_sleep_ms), as long as
  // shutdown() waits by default before it terminates the server.
  const mp::ManagerOptions options{.shutdown_timeout = std::chrono::seconds(30)};
  if constexpr (requires { Impl::context(); }) {
    return mp::SharedMemoryManager(Impl::context(), options);
  } else {
    return mp::SharedMemoryManager(options);
  }
}

TYPED_TEST_P(SharedMemorySuite, SharedMemoryManagerLifecycle) {
  cpython_id("shm.manager_lifecycle");
  std::vector<std::string> names;
  {
    auto smm = make_shared_memory_manager<TypeParam>();
    EXPECT_THROW(smm.SharedMemory(32), mp::ValueError) << "before start()";
    EXPECT_THROW(smm.ShareableList({1}), mp::ValueError) << "before start()";
    smm.start();
    mp::ShareableList sl = smm.ShareableList({"x", "y", "z", 1, 2.0});
    mp::SharedMemory block = smm.SharedMemory(32);
    EXPECT_THROW(smm.SharedMemory(0), mp::ValueError);
    names = {sl.shm().name(), block.name()};
    // Attachable by name, here and in a child.
    EXPECT_EQ(mp::ShareableList(names[0]).size(), 5u);
    EXPECT_GE(mp::SharedMemory(names[1]).size(), 32u);
    auto p = TypeParam::Process(&smc::attach_by_name_then_write, names[1], std::string("smm"));
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(smc::read_at(block.buf(), 0, 3), "smm");
    smm.shutdown();
    for (const std::string& name : names) {
      EXPECT_EQ(smc::errno_of([&] { mp::SharedMemory gone(name); }), ENOENT)
          << name << " outlived shutdown()";
    }
    EXPECT_EQ(sl.get<std::string>(0), "x") << "an attachment keeps its memory";
    smm.shutdown();  // twice: nothing
    EXPECT_THROW(smm.SharedMemory(32), mp::ValueError) << "after shutdown()";
    // The end of a started manager's scope shuts it down the same way.
    auto scoped = make_shared_memory_manager<TypeParam>();
    scoped.start();
    names = {scoped.ShareableList({1, 2}).shm().name(), scoped.SharedMemory(64).name()};
  }
  for (const std::string& name : names) EXPECT_FALSE(smc::exists(name)) << name;
}

TYPED_TEST_P(SharedMemorySuite, SharedMemoryManagerIgnoresSigint) {
  cpython_id("shm.manager_ignores_sigint");
  auto smm = make_shared_memory_manager<TypeParam>();
  smm.start();
  const pid_t server = *smm.process().pid();
  EXPECT_TRUE(signal_dispositions(server).ignored & (uint64_t{1} << (SIGINT - 1)));
  ASSERT_EQ(::kill(server, SIGINT), 0);
  // Had SIGINT killed it, it would be gone before it could answer.
  mp::ShareableList sl = smm.ShareableList({"after", 1});
  EXPECT_EQ(sl.get<std::string>(0), "after");
  EXPECT_TRUE(smm.process().is_alive());
  smm.shutdown();
  EXPECT_EQ(smm.process().exitcode(), 0);
}

TYPED_TEST_P(SharedMemorySuite, SharedMemoryManagerLeavesNoWarning) {
  cpython_id("shm.manager_shares_resource_tracker");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "threads have no start method to run the program under";
  } else {
    // A program of its own, whose standard error the guardian writes to: a
    // clean shutdown leaves nothing for it to remove or report.
    Ran ran = run_program({"conformance/shm_peer_main", "manager", TypeParam::name()},
                          {.unset = {"MP_SHM_GUARDIAN_SESSION"}});
    EXPECT_TRUE(WIFEXITED(ran.status) && WEXITSTATUS(ran.status) == 0) << ran.err;
    EXPECT_EQ(ran.out, "done\n");
    EXPECT_EQ(ran.err, "") << "a warning about shared memory";
  }
}

TYPED_TEST_P(SharedMemorySuite, SharedMemoryManagerDiesWithItsOwner) {
  mp_id("mp.shm.manager_owner_death");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "a thread cannot be killed alone";
  } else {
    auto [reader, writer] = TypeParam::Pipe(false);
    Gate gate;
    auto p = TypeParam::Process(&smc::own_a_manager<TypeParam>, writer, gate.child_end);
    p.start();
    auto names = reader.template recv<std::vector<std::string>>();
    ASSERT_EQ(names.size(), 2u);
    for (const std::string& name : names) EXPECT_TRUE(smc::exists(name));
    p.kill();
    p.join();
    EXPECT_TRUE(wait_removed(names, 30s)) << "a SIGKILLed owner's segments outlived it";
  }
}

TYPED_TEST_P(SharedMemorySuite, ShareableListBasics) {
  cpython_id("shm.shareable_list_basics");
  using Item = mp::ShareableList::Item;
  using mp::Bytes;
  mp::ShareableList sl({"howdy", Bytes("HoWdY"), -273.154, 100, nullptr, true, 42});
  EXPECT_NE(sl.repr().find(sl.shm().name()), std::string::npos) << sl.repr();
  EXPECT_EQ(sl.repr(), "ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42], name='" +
                           sl.shm().name() + "')");
  EXPECT_THROW(sl[7], mp::IndexError);
  EXPECT_THROW(sl.set(7, 2), mp::IndexError);
  EXPECT_THROW(sl[-8], mp::IndexError);
  const std::string first = sl.format().substr(0, 2);
  sl.set(0, "howdy");
  EXPECT_EQ(sl.format().substr(0, 2), first) << "str over str keeps the format";
  EXPECT_EQ(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
  EXPECT_EQ(sl.size(), 7u);
  EXPECT_THROW(sl.index("100"), mp::ValueError);
  EXPECT_EQ(sl.index(100), 3u);
  EXPECT_EQ(sl.get<std::string>(0), "howdy");
  EXPECT_EQ(sl[-2], Item(true));
  EXPECT_EQ(sl.items(),
            (std::vector<Item>{"howdy", Bytes("HoWdY"), -273.154, 100, nullptr, true, 42}));
  sl.set(3, 42);
  EXPECT_EQ(sl.get<int64_t>(3), 42);
  sl.set(4, "some");  // another type in a slot
  EXPECT_EQ(sl.get<std::string>(4), "some");
  EXPECT_EQ(sl.format(), "8s8sdq8sxxxxxxx?q");
  EXPECT_THROW(sl.set(4, "far too many"), mp::ValueError);
  EXPECT_EQ(sl.get<std::string>(4), "some") << "a failed set() changes nothing";
  sl.set(0, "encod\xc3\xa9s");  // exactly 8 bytes of UTF-8
  EXPECT_EQ(sl.get<std::string>(0), "encod\xc3\xa9s");
  EXPECT_EQ(sl.get<Bytes>(1), Bytes("HoWdY")) << "no spillage";
  EXPECT_THROW(sl.set(0,
                      "encod\xc3\xa9"
                      "es"),
               mp::ValueError)
      << "9 bytes of UTF-8";
  EXPECT_EQ(sl.get<Bytes>(1), Bytes("HoWdY"));
  EXPECT_THROW(sl.set(1, Bytes("123456789")), mp::ValueError);
  EXPECT_EQ(sl.get<Bytes>(1), Bytes("HoWdY"));
  EXPECT_THROW(sl.get<double>(1), mp::TypeError) << "read as another type";
  // count() with Python's ==: 42 and 42, True is 1 but not 42.
  EXPECT_EQ(sl.count(42), 2u);
  EXPECT_EQ(sl.count(42.0), 2u);
  EXPECT_EQ(sl.count(Bytes("HoWdY")), 1u);
  EXPECT_EQ(sl.count("HoWdY"), 0u) << "a str is never a bytes";
  EXPECT_EQ(sl.count(Bytes("adios")), 0u);
  EXPECT_EQ(sl.count(1), 1u) << "True == 1";
  // A copy under a name of its own.
  const std::string copy_name = smc::test_name("copy");
  mp::ShareableList copy(sl.items(), {.name = copy_name});
  EXPECT_EQ(copy.shm().name(), copy_name);
  EXPECT_EQ(copy.items(), sl.items());
  EXPECT_EQ(copy.format(), sl.format());
  copy.set(-1, 77);
  EXPECT_EQ(copy.get<int64_t>(-1), 77);
  EXPECT_NE(sl.get<int64_t>(-1), 77);
  copy.shm().close();
  copy.shm().unlink();
  // A second handle on the same list.
  mp::ShareableList tethered(sl.shm().name());
  tethered.set(-1, 880);
  EXPECT_EQ(sl.get<int64_t>(-1), 880);
  tethered.shm().close();
  // An empty list.
  mp::ShareableList empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.format(), "");
  EXPECT_EQ(empty.count("any"), 0u);
  EXPECT_THROW(empty.index(nullptr), mp::ValueError);
  empty.shm().unlink();
  // A segment that holds no list.
  mp::SharedMemory garbage({.create = true, .size = 64});
  std::memset(garbage.buf().data(), 0xff, 64);
  EXPECT_THROW(mp::ShareableList(garbage.name()), mp::ValueError);
  garbage.unlink();
  sl.shm().close();
  sl.shm().unlink();
}

TYPED_TEST_P(SharedMemorySuite, ShareableListTravelsByName) {
  cpython_id("shm.shareable_list_pickle");
  mp::ShareableList sl({"a", 1, 2.5});
  mp::Writer w = mp::dumps(sl);
  mp::Reader r(w.bytes());
  auto decoded = mp::decode<mp::ShareableList>(r);
  EXPECT_EQ(decoded.shm().name(), sl.shm().name());
  decoded.set(0, "b");
  EXPECT_EQ(sl.get<std::string>(0), "b") << "the same segment";
  sl.set(1, 7);
  EXPECT_EQ(decoded.get<int64_t>(1), 7);
  // The encoding is a name: its size does not grow with the list.
  mp::ShareableList small(std::vector<mp::ShareableList::Item>(10, int64_t{0}));
  mp::ShareableList large(std::vector<mp::ShareableList::Item>(400, int64_t{0}));
  EXPECT_EQ(mp::dumps(small).bytes().size(), mp::dumps(large).bytes().size());
  small.shm().unlink();
  large.shm().unlink();
  // A child (any start method) receives the same list.
  auto p = TypeParam::Process(&smc::append_to_list, sl);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(sl.get<double>(2), 5.0) << "the child's write";
  decoded.shm().close();
  sl.shm().unlink();
}

TYPED_TEST_P(SharedMemorySuite, ShareableListDecodedAfterUnlinkFails) {
  cpython_id("shm.shareable_list_unpickle_after_unlink");
  mp::ShareableList sl({1, 2, 3});
  mp::Writer w = mp::dumps(sl);
  sl.shm().close();
  sl.shm().unlink();
  mp::Reader r(w.bytes());
  EXPECT_EQ(smc::errno_of([&] { mp::decode<mp::ShareableList>(r); }), ENOENT);
}

TYPED_TEST_P(SharedMemorySuite, TerminatedCreatorLeavesNothing) {
  cpython_id("shm.cleanup_after_terminate");
  if constexpr (!TypeParam::kSignals) {
    GTEST_SKIP() << "a thread cannot be terminated";
  } else {
    std::string name = smc::test_name("terminated");
    auto [reader, writer] = TypeParam::Pipe(false);
    Gate gate;
    auto p = TypeParam::Process(&smc::create_and_wait, name, writer, gate.child_end);
    p.start();
    ASSERT_TRUE(reader.template recv<bool>());
    EXPECT_TRUE(smc::exists(name));
    p.terminate();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGTERM);
    EXPECT_TRUE(wait_removed({name}, 30s)) << "the terminated creator's name is still in /dev/shm";
    EXPECT_EQ(smc::errno_of([&] { typename TypeParam::SharedMemory gone({.name = name}); }),
              ENOENT);
  }
}

TYPED_TEST_P(SharedMemorySuite, AttachedWithoutTrackingAndClosedStays) {
  cpython_id("shm.track_false");
  using S = typename TypeParam::SharedMemory;
  S sms({.create = true, .size = 512, .track = false});
  // Another party attaches (track = false) and closes: the name stays.
  auto p = TypeParam::Process(&smc::attach_by_name_then_write, sms.name(), std::string("other"));
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  S again({.name = sms.name(), .track = false});
  EXPECT_EQ(smc::read_at(again.buf(), 0, 5), "other");
  again.close();
  sms.close();
  sms.unlink();
}

// CPython: an attaching process with track=True makes its resource tracker
// unlink the segment when it exits. That is the behaviour mp fixes: a
// process that merely attached never removes the name, however it ends.
template <class Impl>
void check_attachers_leave_the_name(int how) {
  using S = typename Impl::SharedMemory;
  S sms({.create = true, .size = 512});
  std::string marker = smc::test_name("marker");
  auto p = Impl::Process(&smc::attach_then_leave, sms.name(), marker, how);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), how == 0 ? 0 : how == 1 ? 1 : -SIGKILL);
  if (how != 0 || Impl::kProcesses) {
    // The marker the child created goes once the child's guardian acted on
    // its end: by then any removal of the attached name would have happened.
    EXPECT_TRUE(wait_removed({marker}, 30s));
  } else {
    S(marker).unlink();  // threads: the "child" is this process, which lives on
  }
  EXPECT_TRUE(smc::exists(sms.name())) << "an attacher's end removed the name";
  S again({.name = sms.name()});
  EXPECT_EQ(smc::read_at(again.buf(), 0, 4), "seen");
  again.close();
  sms.close();
  sms.unlink();
}

TYPED_TEST_P(SharedMemorySuite, AttacherThatExitsLeavesTheName) {
  cpython_id("shm.track_true");
  deviation(
      "the name stays: in CPython a process that attaches with track=True registers the "
      "segment with its resource tracker, which unlinks it when that process exits, pulling the "
      "name from under its creator and every other user; in mp only the creator's end (or "
      "unlink()) removes a name, and attaching never does");
  check_attachers_leave_the_name<TypeParam>(0);
}

TYPED_TEST_P(SharedMemorySuite, AttachAndExitDoesNotUnlink) {
  mp_id("mp.shm.attach_and_exit_does_not_unlink");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread cannot exit or die alone";
  } else {
    check_attachers_leave_the_name<TypeParam>(1);
    check_attachers_leave_the_name<TypeParam>(2);
  }
}

template <class Impl>
void check_creator_leaves_nothing(int how) {
  std::vector<std::string> names = {smc::test_name("left"), smc::test_name("left")};
  std::string untracked = smc::test_name("untracked");
  auto [reader, writer] = Impl::Pipe(false);
  Gate gate;
  auto p = Impl::Process(&smc::create_then_leave, names, untracked, how, writer, gate.child_end);
  p.start();
  ASSERT_TRUE(reader.template recv<bool>());
  // This process attaches to one of them while its creator is still there.
  typename Impl::SharedMemory held(names[0]);
  gate.open();
  p.join();
  EXPECT_EQ(p.exitcode(), how == 0 ? 0 : how == 1 ? 1 : how == 2 ? -SIGKILL : 3);
  for (const std::string& name : names) {
    EXPECT_TRUE(wait_removed({name}, 30s)) << name << " outlived its creator (way " << how << ")";
  }
  EXPECT_EQ(smc::read_at(held.buf(), 0, 4), "left") << "an attached mapping outlives the name";
  held.close();
  EXPECT_TRUE(smc::exists(untracked)) << "track = false keeps the name";
  typename Impl::SharedMemory(untracked).unlink();
}

TYPED_TEST_P(SharedMemorySuite, NoNameSurvivesItsCreator) {
  mp_id("mp.shm.no_dev_shm_entry_survives");
  if constexpr (!TypeParam::kProcesses) {
    GTEST_SKIP() << "a thread's segments belong to the process, which outlives the test";
  } else {
    for (int how : {0, 1, 2, 3}) check_creator_leaves_nothing<TypeParam>(how);
  }
}

TYPED_TEST_P(SharedMemorySuite, BadNamesAndSizes) {
  mp_id("mp.shm.bad_input");
  using S = typename TypeParam::SharedMemory;
  std::string long_name(300, 'x');
  EXPECT_EQ(smc::errno_of([&] { S s({.name = long_name}); }), ENAMETOOLONG);
  EXPECT_EQ(smc::errno_of([&] { S s({.name = long_name, .create = true, .size = 64}); }),
            ENAMETOOLONG);
  EXPECT_EQ(smc::errno_of([&] { S s({.name = "a/b", .create = true, .size = 64}); }), EINVAL);
  S sms({.create = true, .size = 100});
  EXPECT_THROW(S({.name = sms.name(), .size = 101}), mp::ValueError) << "a wrong size on attach";
  EXPECT_THROW(S({.name = sms.name(), .size = -1}), mp::ValueError);
  EXPECT_EQ(S({.name = sms.name(), .size = 100}).size(), 100u);
  sms.close();
  sms.unlink();
}

TYPED_TEST_P(SharedMemorySuite, GeneratedNamesCarryTheTag) {
  mp_id("mp.shm.tagged_names");
  using S = typename TypeParam::SharedMemory;
  S a({.create = true, .size = 64});
  S b({.create = true, .size = 64});
  EXPECT_EQ(a.name().rfind("mp_", 0), 0u) << a.name();
  if (!shm_tag().empty()) {
    EXPECT_NE(a.name().find(shm_tag()), std::string::npos) << a.name();
  }
  EXPECT_NE(a.name(), b.name());
  EXPECT_TRUE(smc::exists(a.name()));
  a.unlink();
  b.unlink();
}

TYPED_TEST_P(SharedMemorySuite, UnlinkKeepsMappings) {
  mp_id("mp.shm.unlink_keeps_mappings");
  using S = typename TypeParam::SharedMemory;
  S sms({.create = true, .size = 4096});
  S other(sms.name());
  sms.unlink();
  EXPECT_FALSE(smc::exists(sms.name()));
  smc::write_at(sms.buf(), 100, "still");
  EXPECT_EQ(smc::read_at(other.buf(), 100, 5), "still");
  EXPECT_EQ(smc::errno_of([&] { S late(sms.name()); }), ENOENT);
  S copy = other;
  copy.close();
  EXPECT_TRUE(other.closed()) << "copies of a handle share one mapping";
  sms.close();
}

REGISTER_TYPED_TEST_SUITE_P(SharedMemorySuite, NameWithEmbeddedNul, Basics,
                            DrawsAnotherNameWhenTaken, InvalidSize,
                            EncodedHandleAttachesTheSameSegment, DecodingAfterUnlinkFails,
                            ChildrenWriteByNameAndByHandle, SharedMemoryManagerLifecycle,
                            SharedMemoryManagerIgnoresSigint, SharedMemoryManagerLeavesNoWarning,
                            SharedMemoryManagerDiesWithItsOwner, ShareableListBasics,
                            ShareableListTravelsByName, ShareableListDecodedAfterUnlinkFails,
                            TerminatedCreatorLeavesNothing, AttachedWithoutTrackingAndClosedStays,
                            AttacherThatExitsLeavesTheName, AttachAndExitDoesNotUnlink,
                            NoNameSurvivesItsCreator, BadNamesAndSizes, GeneratedNamesCarryTheTag,
                            UnlinkKeepsMappings);

}  // namespace mp::conformance

#endif  // MP_CONFORMANCE_SUITES_SHARED_MEMORY_SUITE_H_
