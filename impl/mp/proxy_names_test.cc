// A manager's proxies speak their primitives' names (docs/API.md: a proxy
// has the same methods as the primitive it stands for): the concepts below
// hold for mp::Value / mp::Array / mp::Semaphore and for their proxies alike,
// checked at compile time, and the proxies' calls behave as the primitives'.

#include <gtest/gtest.h>

#include <concepts>
#include <cstdint>
#include <vector>

#include "mp/managers.h"
#include "mp/mp.h"

namespace {

// What code written for a Value may call.
template <class V>
concept ValueLike = requires(V v, const typename V::value_type& x) {
  typename V::value_type;
  { v.value() } -> std::convertible_to<typename V::value_type>;
  v.set_value(x);
};

// What code written for an Array may call and get a copy from.
template <class A>
concept ArrayLike =
    requires(A a, const typename A::value_type& x, const std::vector<typename A::value_type>& xs) {
      typename A::value_type;
      { a.size() } -> std::convertible_to<size_t>;
      { a.empty() } -> std::convertible_to<bool>;
      { a.get(0) } -> std::convertible_to<typename A::value_type>;
      a.set(0, x);
      { a.slice(0, 1) } -> std::convertible_to<std::vector<typename A::value_type>>;
      a.set_slice(0, 1, xs);
      a.assign(xs);
      { a.to_vector() } -> std::convertible_to<std::vector<typename A::value_type>>;
    };

template <class S>
concept SemaphoreLike = requires(S s) {
  { s.acquire() } -> std::convertible_to<bool>;
  s.release();
  { s.get_value() } -> std::convertible_to<int>;
  { s.locked() } -> std::convertible_to<bool>;
};

static_assert(ValueLike<mp::Value<int>>);
static_assert(ValueLike<mp::ValueProxy<int>>);
static_assert(ArrayLike<mp::Array<double>>);
static_assert(ArrayLike<mp::ArrayProxy<double>>);
static_assert(SemaphoreLike<mp::Semaphore>);
static_assert(SemaphoreLike<mp::SemaphoreProxy>);
static_assert(SemaphoreLike<mp::BoundedSemaphoreProxy>);

// Written once for the primitive and the proxy.
template <ValueLike V>
int bump(V& v) {
  v.set_value(v.value() + 1);
  return v.value();
}

TEST(ProxyNames, ValueProxyTakesValueCode) {
  mp::Manager m;
  auto proxy = m.Value<int>(5);
  mp::Value<int> local(5);
  EXPECT_EQ(bump(proxy), 6);
  EXPECT_EQ(bump(local), 6);
  EXPECT_EQ(proxy.get(), 6);
}

TEST(ProxyNames, ArrayProxySlicesAsArrayDoes) {
  mp::Manager m;
  auto a = m.Array<int>(std::vector<int>{0, 1, 2, 3, 4});
  mp::Array<int> local({0, 1, 2, 3, 4});
  EXPECT_EQ(a.slice(1, 3), local.slice(1, 3));
  EXPECT_EQ(a.slice(3, 100), local.slice(3, 100));  // clamped
  EXPECT_EQ(a.slice(-2, 5), (std::vector<int>{3, 4}));
  EXPECT_TRUE(a.slice(4, 2).empty());
  a.set_slice(1, 3, std::vector<int>{7, 8});
  local.set_slice(1, 3, std::vector<int>{7, 8});
  EXPECT_EQ(a.to_vector(), local.to_vector());
  EXPECT_THROW(a.set_slice(0, 2, {1, 2, 3}), mp::ValueError);
  EXPECT_EQ(a.to_vector(), (std::vector<int>{0, 7, 8, 3, 4})) << "a refused write wrote nothing";
  a.assign({9, 9, 9, 9, 9});
  EXPECT_EQ(a.get(-1), 9);
  EXPECT_THROW(a.assign({1}), mp::ValueError);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a.size(), 5u);
}

TEST(ProxyNames, SemaphoreProxyLocked) {
  mp::Manager m;
  auto s = m.Semaphore(1);
  EXPECT_FALSE(s.locked());
  ASSERT_TRUE(s.acquire());
  EXPECT_TRUE(s.locked());
  s.release();
  EXPECT_FALSE(s.locked());
}

}  // namespace

int main(int argc, char** argv) {
  mp::init(argc, argv);  // the manager's server is this program again under spawn
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
