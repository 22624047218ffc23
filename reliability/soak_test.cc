// The throughput soak: 4 producers and 4 consumers pass 4 x 250,000
// checksummed items through one queue, under every process start method and
// on threads. Every item is accounted for in a shared bitmap: none lost, none
// twice, none damaged, each producer's items in order at each consumer.

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>

#include "mp/dummy/dummy.h"
#include "mp/mp.h"
#include "testing/conformance.h"
#include "trials.h"

namespace mp::reliability {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kProducers = 4, kConsumers = 4, kPerProducer = 250'000;
constexpr uint32_t kStopMark = UINT32_MAX;
constexpr size_t kItems = size_t{kProducers} * kPerProducer;
// The board: a bit per item, then the findings.
constexpr size_t kBitmapWords = (kItems + 63) / 64;
constexpr size_t kTwice = kBitmapWords, kDamaged = kTwice + 1, kDisorder = kTwice + 2,
                 kWords = kTwice + 3;

struct Item {
  uint32_t producer;
  uint32_t seq;
  uint64_t check;
};
uint64_t check_of(uint32_t producer, uint32_t seq) {
  uint64_t x = (uint64_t{producer} << 32 | seq) * 0x9e3779b97f4a7c15ull;
  return x ^ (x >> 29);
}

template <class Q>
void produce(Q q, uint32_t me) {
  for (uint32_t seq = 0; seq < kPerProducer; ++seq) q.put(Item{me, seq, check_of(me, seq)});
}

template <class Q>
void consume(Q q, Board b) {
  int64_t last[kProducers];
  for (auto& l : last) l = -1;
  for (;;) {
    Item item = q.get();
    if (item.producer == kStopMark) return;
    if (item.producer >= kProducers || item.seq >= kPerProducer ||
        item.check != check_of(item.producer, item.seq)) {
      b.add(kDamaged, 1);
      continue;
    }
    if (static_cast<int64_t>(item.seq) <= last[item.producer]) b.add(kDisorder, 1);
    last[item.producer] = item.seq;
    const size_t bit = size_t{item.producer} * kPerProducer + item.seq;
    const uint64_t mask = uint64_t{1} << (bit % 64);
    if (b[bit / 64].fetch_or(mask) & mask) b.add(kTwice, 1);
  }
}

template <class Q, class MakeProcess>
void soak(MakeProcess make) {
  Q q;
  Board b(kWords);
  std::vector<decltype(make(&consume<Q>, q, b))> parties;
  for (uint32_t c = 0; c < kConsumers; ++c) parties.push_back(make(&consume<Q>, q, b));
  for (uint32_t p = 0; p < kProducers; ++p) parties.push_back(make(&produce<Q>, q, p));
  for (auto& p : parties) p.start();
  for (uint32_t p = 0; p < kProducers; ++p) parties[kConsumers + p].join();
  for (uint32_t c = 0; c < kConsumers; ++c) q.put(Item{kStopMark, 0, 0});
  for (uint32_t c = 0; c < kConsumers; ++c) parties[c].join();
  size_t delivered = 0;
  for (size_t w = 0; w < kBitmapWords; ++w) delivered += std::popcount(b.load(w));
  EXPECT_EQ(delivered, kItems) << "items lost";
  EXPECT_EQ(b.load(kTwice), 0u) << "items delivered twice";
  EXPECT_EQ(b.load(kDamaged), 0u) << "items damaged";
  EXPECT_EQ(b.load(kDisorder), 0u) << "a producer's items out of order at a consumer";
  ::testing::Test::RecordProperty("items", std::to_string(kItems));
  ::testing::Test::RecordProperty("delivered", std::to_string(delivered));
}

class Soak : public conformance::ConformanceTest,
             public ::testing::WithParamInterface<std::string> {};

TEST_P(Soak, FourProducersFourConsumersAMillionItems) {
  conformance::mp_id("reliability.soak.queue");
  mp::Context& ctx = mp::get_context(GetParam());
  soak<mp::Queue<Item>>([&ctx](auto f, auto... args) { return mp::Process(ctx, f, args...); });
}

TEST_F(Soak, ThreadsFourProducersFourConsumersAMillionItems) {
  conformance::mp_id("reliability.soak.queue");
  soak<mp::dummy::Queue<Item>>([](auto f, auto... args) { return mp::dummy::Process(f, args...); });
}

INSTANTIATE_TEST_SUITE_P(Methods, Soak,
#if defined(__SANITIZE_THREAD__)
                         ::testing::Values("spawn", "forkserver"),
#else
                         ::testing::Values("fork", "spawn", "forkserver"),
#endif
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mp::reliability
