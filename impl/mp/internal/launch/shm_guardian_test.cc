// The guardian from the inside: names registered with guard_shm_name() by
// plain fork children of this test, each test in a session of its own, and
// the promises of shm_guardian.h checked one by one: a killed creator's names
// are unlinked, a name someone else made anew is left alone, a forgotten name
// is not the guardian's any more, a killed guardian is replaced and handed
// every name still held, and the guardian leaves once nobody is connected.

#include "mp/internal/launch/shm_guardian.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mp/internal/base/fd.h"
#include "mp/mp.h"

namespace mp::internal {
namespace {

using namespace std::chrono_literals;

std::string random_hex() {
  uint64_t bits = 0;
  fill_random(&bits, sizeof(bits));
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(bits));
  return text;
}

// A /dev/shm name no other test run can have.
std::string fresh_name() { return "mpgt_" + std::to_string(::getpid()) + "_" + random_hex(); }

bool exists(const std::string& name) { return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0; }

// Creates the name; returns its inode (0 on failure).
ino_t create(const std::string& name) {
  int fd = ::shm_open(("/" + name).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  struct stat st {};
  ino_t inode = ::fstat(fd, &st) == 0 ? st.st_ino : 0;
  ::close(fd);
  return inode;
}

// Polls `done` every 10 ms for up to 30 s.
bool eventually(const std::function<bool()>& done) {
  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

bool gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// A plain fork child that runs `body` (which reports on `out`, a pipe's
// write end) and then waits to be killed; never returns into the test.
class Creator {
 public:
  explicit Creator(const std::function<void(int out, int in)>& body) {
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(up[0]);
      ::close(down[1]);
      try {
        body(up[1], down[0]);
      } catch (...) {
        ::_exit(3);
      }
      for (;;) ::pause();
    }
    ::close(up[1]);
    ::close(down[0]);
    from_ = up[0];
    to_ = down[1];
  }
  ~Creator() {
    kill();
    if (from_ >= 0) ::close(from_);
    if (to_ >= 0) ::close(to_);
  }
  pid_t pid() const { return pid_; }
  // The next int the child reported (-1 if it ended first).
  int read_int() {
    int value = -1;
    return ::read(from_, &value, sizeof(value)) == sizeof(value) ? value : -1;
  }
  void go_on() {
    char c = 1;
    EXPECT_EQ(::write(to_, &c, 1), 1);
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int from_ = -1;
  int to_ = -1;
};

void report(int out, int value) {
  if (::write(out, &value, sizeof(value)) != sizeof(value)) ::_exit(4);
}

void wait_for(int in) {
  char c;
  if (::read(in, &c, 1) != 1) ::_exit(5);
}

// Creates and registers `name` in the calling (child) process.
void create_and_guard(const std::string& name) {
  ino_t inode = create(name);
  if (inode == 0) ::_exit(6);
  guard_shm_name(name, inode);
}

class ShmGuardian : public ::testing::Test {
 protected:
  // Children inherit the session through fork; this process holds no names.
  void SetUp() override { set_shm_guardian_session("gt" + random_hex()); }
  void TearDown() override {
    for (const auto& name : made_) ::shm_unlink(("/" + name).c_str());
  }
  std::string name() { return made_.emplace_back(fresh_name()); }
  // The guardian leaves once its last client is gone.
  void expect_guardian_leaves(pid_t guardian) {
    ASSERT_GT(guardian, 0);
    EXPECT_TRUE(eventually([&] { return gone(guardian); }))
        << "guardian " << guardian << " outlived its last client";
  }

  std::vector<std::string> made_;
};

TEST_F(ShmGuardian, AKilledCreatorsNamesAreUnlinked) {
  std::string a = name(), b = name();
  Creator child([&](int out, int) {
    create_and_guard(a);
    create_and_guard(b);
    report(out, shm_guardian_pid());
  });
  pid_t guardian = child.read_int();
  ASSERT_GT(guardian, 0);
  EXPECT_NE(guardian, child.pid());
  EXPECT_TRUE(exists(a) && exists(b));
  child.kill();
  EXPECT_TRUE(eventually([&] { return !exists(a) && !exists(b); }))
      << "the guardian did not unlink a killed creator's names";
  expect_guardian_leaves(guardian);
}

TEST_F(ShmGuardian, ANameMadeAnewBySomeoneElseIsLeftAlone) {
  std::string a = name();
  Creator child([&](int out, int) {
    create_and_guard(a);
    report(out, shm_guardian_pid());
  });
  pid_t guardian = child.read_int();
  ASSERT_GT(guardian, 0);
  // This process unlinks the child's name and makes it anew: another inode.
  ASSERT_EQ(::shm_unlink(("/" + a).c_str()), 0);
  ASSERT_NE(create(a), 0u);
  child.kill();
  expect_guardian_leaves(guardian);  // it has handled the death by then
  EXPECT_TRUE(exists(a)) << "the guardian unlinked a name it did not guard";
}

TEST_F(ShmGuardian, AForgottenNameIsNotTheGuardiansAnyMore) {
  std::string kept = name(), forgotten = name();
  Creator child([&](int out, int) {
    create_and_guard(kept);
    create_and_guard(forgotten);
    forget_shm_name(forgotten);
    report(out, shm_guardian_pid());
  });
  pid_t guardian = child.read_int();
  ASSERT_GT(guardian, 0);
  child.kill();
  EXPECT_TRUE(eventually([&] { return !exists(kept); }));
  expect_guardian_leaves(guardian);
  EXPECT_TRUE(exists(forgotten)) << "the guardian unlinked a name its creator forgot";
}

TEST_F(ShmGuardian, AKilledGuardianIsReplacedAndHandedTheNamesStillHeld) {
  std::string first = name(), second = name();
  Creator child([&](int out, int in) {
    create_and_guard(first);
    report(out, shm_guardian_pid());
    wait_for(in);  // the test kills that guardian meanwhile
    create_and_guard(second);
    report(out, shm_guardian_pid());
  });
  pid_t old_guardian = child.read_int();
  ASSERT_GT(old_guardian, 0);
  ASSERT_EQ(::kill(old_guardian, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return gone(old_guardian); }));
  child.go_on();
  pid_t new_guardian = child.read_int();
  ASSERT_GT(new_guardian, 0);
  EXPECT_NE(new_guardian, old_guardian);
  EXPECT_TRUE(exists(first)) << "the killed guardian removed nothing";
  child.kill();
  EXPECT_TRUE(eventually([&] { return !exists(first) && !exists(second); }))
      << "the new guardian was not handed the name registered before it started";
  expect_guardian_leaves(new_guardian);
}

TEST_F(ShmGuardian, AGuardianStaysWhileAnyClientIsConnected) {
  std::string a = name(), b = name();
  Creator first([&](int out, int) {
    create_and_guard(a);
    report(out, shm_guardian_pid());
  });
  pid_t guardian = first.read_int();
  Creator second([&](int out, int) {
    create_and_guard(b);
    report(out, shm_guardian_pid());
  });
  EXPECT_EQ(second.read_int(), guardian) << "one guardian serves the session";
  first.kill();
  EXPECT_TRUE(eventually([&] { return !exists(a); }));
  EXPECT_FALSE(gone(guardian)) << "the guardian left while a client was connected";
  EXPECT_TRUE(exists(b));
  second.kill();
  EXPECT_TRUE(eventually([&] { return !exists(b); }));
  expect_guardian_leaves(guardian);
}

}  // namespace
}  // namespace mp::internal

int main(int argc, char** argv) {
  mp::init(argc, argv);  // the guardian is this program again
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
