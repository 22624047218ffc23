// The queue ring from the inside: lanes, order, bounds, commits and the
// overflow lane's pages, in one process (the fault-injection suite kills
// parties of a ring across processes; reliability/).

#include "mp/internal/ipc/ring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mp/errors.h"

namespace mp::internal {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// An item whose bytes say which it is, so a mixed-up or torn one shows.
std::string item(uint32_t n, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((n * 131 + i * 7) & 0xff);
  if (size >= 4) std::memcpy(s.data(), &n, 4);
  return s;
}

bool put(Ring& ring, const std::string& s) { return ring.put(bytes_of(s), deadline_after(0s)); }

std::optional<std::string> get(Ring& ring) {
  std::string out;
  if (!ring.get_into(out, deadline_after(0s))) return std::nullopt;
  return out;
}

// Blocks of the memfd that hold data (hole punching gives them back).
uint64_t allocated_bytes(const Ring& ring) {
  struct stat st {};
  EXPECT_EQ(::fstat(ring.fd(), &st), 0);
  return uint64_t(st.st_blocks) * 512;
}

TEST(Ring, KeepsOrderAcrossTheHotAndOverflowLanes) {
  auto ring = Ring::create(0, 64 * kMiB, Sharing::kThreads);
  // 1 MiB items: the ninth no longer fits the 8 MiB hot lane, so it and
  // every later one go to the overflow lane until that has drained.
  const int n = 20;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(put(*ring, item(i, kMiB - 64))) << i;
  EXPECT_EQ(ring->qsize(), uint64_t(n));
  EXPECT_GT(ring->control().producers.tail[1].load(), 0u) << "the overflow lane was used";
  // Take half, put more: new records follow the overflow lane's while it
  // holds any, so order holds across the lanes.
  for (int i = 0; i < n / 2; ++i) EXPECT_EQ(get(*ring), item(i, kMiB - 64)) << i;
  for (int i = n; i < n + 5; ++i) ASSERT_TRUE(put(*ring, item(i, 100))) << i;
  for (int i = n / 2; i < n; ++i) EXPECT_EQ(get(*ring), item(i, kMiB - 64)) << i;
  for (int i = n; i < n + 5; ++i) EXPECT_EQ(get(*ring), item(i, 100)) << i;
  EXPECT_EQ(get(*ring), std::nullopt);
  EXPECT_EQ(ring->qsize(), 0u);
}

TEST(Ring, RecordsRunningPastTheEndComeBackWhole) {
  auto ring = Ring::create(0, 64 * kMiB, Sharing::kThreads);
  // Odd sizes walk the records across the hot lane's end many times.
  uint32_t next_get = 0;
  for (uint32_t i = 0; i < 3000; ++i) {
    ASSERT_TRUE(put(*ring, item(i, 4096 + 13 * (i % 97))));
    if (ring->qsize() > 100) {
      auto got = get(*ring);
      ASSERT_EQ(got, item(next_get, 4096 + 13 * (next_get % 97))) << next_get;
      ++next_get;
    }
  }
  while (auto got = get(*ring)) {
    ASSERT_EQ(*got, item(next_get, 4096 + 13 * (next_get % 97))) << next_get;
    ++next_get;
  }
  EXPECT_EQ(next_get, 3000u);
  EXPECT_EQ(ring->records_published(), 3000u);
  EXPECT_EQ(ring->records_consumed(), 3000u);
}

TEST(Ring, MaxsizeBoundsItemsNotBytes) {
  auto ring = Ring::create(3, 64 * kMiB, Sharing::kThreads);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(put(*ring, item(i, 8)));
  EXPECT_FALSE(put(*ring, item(3, 8))) << "full at maxsize";
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(ring->put(bytes_of(item(3, 8)), deadline_after(50ms)));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms) << "waited out its timeout";
  EXPECT_EQ(get(*ring), item(0, 8));
  EXPECT_TRUE(put(*ring, item(3, 8))) << "room again after a get";
  EXPECT_EQ(ring->qsize(), 3u);
}

TEST(Ring, APutWaitingForRoomWakesWhenAGetMakesIt) {
  auto ring = Ring::create(1, 64 * kMiB, Sharing::kThreads);
  ASSERT_TRUE(put(*ring, item(0, 8)));
  std::thread consumer([&] {
    std::string out;
    EXPECT_TRUE(ring->get_into(out, deadline_after(30s)));
  });
  EXPECT_TRUE(ring->put(bytes_of(item(1, 8)), deadline_after(30s)));
  consumer.join();
  EXPECT_EQ(get(*ring), item(1, 8));
}

TEST(Ring, ATakeThatThrowsLeavesTheRecord) {
  auto ring = Ring::create(0, 64 * kMiB, Sharing::kThreads);
  ASSERT_TRUE(put(*ring, item(7, 32)));
  EXPECT_THROW(ring->get([](std::span<const std::byte>) { throw std::runtime_error("no"); },
                         deadline_after(0s)),
               std::runtime_error);
  EXPECT_EQ(ring->qsize(), 1u);
  EXPECT_EQ(get(*ring), item(7, 32)) << "the next get has it, and the lock was released";
}

TEST(Ring, ARecordLargerThanTheOverflowLaneIsRefused) {
  auto ring = Ring::create(0, kMiB, Sharing::kThreads);
  EXPECT_THROW(put(*ring, std::string(2 * kMiB, 'x')), mp::ValueError);
  EXPECT_TRUE(put(*ring, item(1, 16))) << "and the ring is still usable";
  EXPECT_THROW(Ring::create(0, Ring::kMaxCapacity * 2, Sharing::kThreads), mp::ValueError);
}

TEST(Ring, TheDrainedOverflowLaneGivesItsPagesBack) {
  auto ring = Ring::create(0, 256 * kMiB, Sharing::kThreads);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(put(*ring, item(i, kMiB)));
  const uint64_t full = allocated_bytes(*ring);
  EXPECT_GE(full, 30 * kMiB) << "the overflow lane holds ~32 MiB";
  while (get(*ring)) {
  }
  EXPECT_LT(allocated_bytes(*ring), full - 24 * kMiB) << "the drained lane's pages were punched";
}

TEST(Ring, TaskDoneCountsAgainstWhatWasPut) {
  auto ring = Ring::create(0, 64 * kMiB, Sharing::kThreads);
  EXPECT_FALSE(ring->task_done()) << "nothing was put";
  ASSERT_TRUE(put(*ring, item(0, 8)));
  ASSERT_TRUE(put(*ring, item(1, 8)));
  EXPECT_FALSE(ring->join(deadline_after(20ms))) << "two unfinished";
  EXPECT_TRUE(ring->task_done());
  EXPECT_TRUE(ring->task_done());
  EXPECT_TRUE(ring->join(deadline_after(0s)));
  EXPECT_FALSE(ring->task_done()) << "a third is one too many";
}

TEST(Ring, CountsCompareAcrossTheirWrap) {
  EXPECT_TRUE(Ring::reached(5, 5));
  EXPECT_TRUE(Ring::reached(6, 5));
  EXPECT_FALSE(Ring::reached(4, 5));
  EXPECT_TRUE(Ring::reached(2, 0xffffffffu)) << "the count wrapped past the target";
  EXPECT_FALSE(Ring::reached(0xfffffff0u, 3)) << "the target is ahead, past the wrap";
}

TEST(Ring, ARecordNobodyPublishedIsRefusedNotRead) {
  auto ring = Ring::create(0, 64 * kMiB, Sharing::kThreads);
  ASSERT_TRUE(put(*ring, item(0, 16)));
  // Something other than a ring wrote the record's size: it claims more
  // bytes than were published.
  const uint32_t huge = 1u << 30;
  const off_t first_record = static_cast<off_t>(ring->control().lanes[0].offset);
  ASSERT_EQ(::pwrite(ring->fd(), &huge, sizeof(huge), first_record), 4);
  EXPECT_THROW(get(*ring), mp::PicklingError);
  EXPECT_THROW(get(*ring), mp::PicklingError) << "again: the consumer lock was released";
}

}  // namespace
}  // namespace mp::internal
