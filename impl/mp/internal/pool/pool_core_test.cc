// The pool arena's free-space bookkeeping.

#include "mp/internal/pool/pool_core.h"

#include <gtest/gtest.h>

namespace mp::internal {
namespace {

TEST(ArenaSpace, FirstFitFromTheLowestOffset) {
  ArenaSpace space(1000);
  EXPECT_EQ(space.allocate(100), 0u);
  EXPECT_EQ(space.allocate(200), 100u);
  EXPECT_EQ(space.allocate(300), 300u);
  space.release(100, 200);
  EXPECT_EQ(space.allocate(50), 100u) << "the hole comes before the tail";
  EXPECT_EQ(space.allocate(400), 600u);
  EXPECT_EQ(space.allocate(200), std::nullopt) << "150 and 0 bytes free: no run of 200";
  EXPECT_EQ(space.allocate(150), 150u);
  EXPECT_EQ(space.take_high_water(), 1000u);
  EXPECT_EQ(space.take_high_water(), 0u);
}

TEST(ArenaSpace, ReleasesCoalesceInAnyOrder) {
  ArenaSpace space(300);
  ASSERT_EQ(space.allocate(100), 0u);
  ASSERT_EQ(space.allocate(100), 100u);
  ASSERT_EQ(space.allocate(100), 200u);
  EXPECT_EQ(space.allocate(1), std::nullopt);
  space.release(200, 100);
  space.release(0, 100);
  EXPECT_FALSE(space.empty());
  EXPECT_EQ(space.allocate(150), std::nullopt) << "two runs of 100, not yet joined";
  space.release(100, 100);
  EXPECT_TRUE(space.empty()) << "the middle joins both neighbours";
  EXPECT_EQ(space.allocate(300), 0u);
}

TEST(ArenaSpace, TooLargeIsRefusedNotClamped) {
  ArenaSpace space(64);
  EXPECT_EQ(space.allocate(65), std::nullopt);
  EXPECT_TRUE(space.empty());
  EXPECT_EQ(space.allocate(64), 0u);
}

}  // namespace
}  // namespace mp::internal
