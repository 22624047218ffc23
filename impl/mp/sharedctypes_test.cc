// White-box tests of sharedctypes.h and shared_memory.h: docs/API.md's
// "Shared values" lines as written, the encodings Values and Arrays travel
// in, and the guardian's bookkeeping. (Behaviour across processes is the
// conformance suites' business.)

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <span>
#include <vector>

#include "mp/internal/launch/runtime.h"
#include "mp/mp.h"

namespace {

TEST(SharedValues, ApiPageCompilesAndBehaves) {
  mp::Value<int> v(0);
  int x = v.value();
  v.set_value(5);
  {
    std::scoped_lock g(v.get_lock());
    v.raw() += 1;
  }
  EXPECT_EQ(x, 0);
  EXPECT_EQ(v.value(), 6);
  mp::Value<double> u(0.0, {.lock = false});
  EXPECT_THROW(u.get_lock(), mp::ValueError);
  mp::RawValue<long> rv(7);
  rv.raw() = 8;
  EXPECT_EQ(rv.value(), 8);
  mp::Array<double> arr(10);
  mp::Array<int> ai({1, 2, 3});
  mp::RawArray<char> ra(64);
  arr[3] = 1.5;
  EXPECT_EQ(arr.size(), 10u);
  std::span<double> sp = arr.span();
  EXPECT_EQ(sp[3], 1.5);
  arr.get_lock();
  EXPECT_EQ(ai.to_vector(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ra.size(), 64u);
  mp::SharedMemory shm({.create = true, .size = 4096, .track = false});
  EXPECT_EQ(shm.size(), 4096u);
  EXPECT_EQ(shm.buf().size(), 4096u);
  mp::SharedMemory other({.name = shm.name()});
  shm.buf()[9] = std::byte{9};
  EXPECT_EQ(other.buf()[9], std::byte{9});
  other.close();
  shm.close();
  shm.unlink();
}

TEST(SharedValues, ContextConstructors) {
  mp::Context& ctx = mp::get_context("spawn");
  mp::Value<int> v(ctx, 3);
  mp::Array<int> a(ctx, 4);
  mp::Array<int> b(ctx, {1, 2});
  mp::RawArray<int> c(ctx, std::vector<int>{5, 6, 7});
  EXPECT_EQ(v.value(), 3);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(c.to_vector(), (std::vector<int>{5, 6, 7}));
}

TEST(SharedValues, EncodingCarriesTheSegmentAndTheLock) {
  mp::Array<int64_t> a({1, 2, 3});
  mp::Writer w = mp::dumps(a);
  EXPECT_EQ(w.fds().size(), 2u) << "the array's segment and its lock's";
  std::vector<mp::internal::UniqueFd> fds;
  for (int fd : w.fds()) fds.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  mp::Reader r(w.bytes(), std::move(fds));
  auto b = mp::decode<mp::Array<int64_t>>(r);
  EXPECT_FALSE(a == b) << "a second mapping";
  b[1] = 20;
  EXPECT_EQ(a.get(1), 20) << "of the same memory";
  EXPECT_TRUE(b.get_lock() == b.get_lock());
  b.get_lock().acquire();
  EXPECT_TRUE(a.get_lock().locked()) << "and the same lock";
  b.get_lock().release();

  mp::Value<int> unlocked(1, {.lock = false});
  mp::Writer w2 = mp::dumps(unlocked);
  EXPECT_EQ(w2.fds().size(), 1u);
}

TEST(SharedValues, DecodingRefusesASegmentOfTheWrongSize) {
  mp::RawArray<char> small(10);
  mp::Writer w = mp::dumps(small);
  std::string bytes = w.bytes();
  uint64_t huge = 1 << 20;
  std::memcpy(bytes.data() + sizeof(uint32_t), &huge, sizeof(huge));  // the element count
  std::vector<mp::internal::UniqueFd> fds;
  fds.emplace_back(::fcntl(w.fds()[0], F_DUPFD_CLOEXEC, 3));
  mp::Reader r(bytes, std::move(fds));
  EXPECT_THROW(mp::decode<mp::RawArray<char>>(r), mp::PicklingError);
}

TEST(SharedValues, HeapBlocksAreAlignedAndZeroed) {
  struct alignas(256) Wide {
    char c[300];
  };
  mp::dummy::Array<Wide> a(3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 256, 0u);
  for (const Wide& w : a) {
    for (char c : w.c) ASSERT_EQ(c, 0);
  }
}

TEST(SharedMemoryGuardian, StopsWhenNothingIsLeft) {
  // Two names, one guardian; unlinking both closes its socket (the
  // descriptor count returns to where it was).
  auto count_fds = [] {
    int n = 0;
    for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) >= 0;
    return n;
  };
  mp::internal::self_pidfd();  // opened once per process, sent to every guardian
  int before = count_fds();
  mp::SharedMemory a({.create = true, .size = 64});
  mp::SharedMemory b({.create = true, .size = 64});
  EXPECT_EQ(count_fds(), before + 1) << "one socket to one guardian";
  a.unlink();
  EXPECT_EQ(count_fds(), before + 1);
  b.unlink();
  EXPECT_EQ(count_fds(), before);
}

}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);  // the guardian is this program again
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
