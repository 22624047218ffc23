// A libFuzzer target over a queue ring whose shared memory another process
// wrote: the input's bytes overwrite the ring's positions, caches, lock
// words and futex words, and the start of both lanes, as a peer with the
// mapping could (a buggy one, or one killed half-way through a write).
// Then the ring is used: qsize, get, put, task_done, join, all without
// waiting. A record that does not fit what was published must give
// mp::PicklingError; nothing may read or write outside the ring's mapping
// (AddressSanitizer watches), nor wait.

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "mp/errors.h"
#include "mp/internal/ipc/ring.h"

namespace {

using mp::internal::Clock;
using mp::internal::Ring;
using mp::internal::RingControl;
using mp::internal::RingPosition;

constexpr uint64_t kCapacity = 64 * 1024;

// The part of the control block a peer writes at run time (the lane layout
// before it was checked when the ring was mapped).
size_t dynamic_offset() {
  RingControl c;
  return static_cast<size_t>(reinterpret_cast<char*>(&c.producers) - reinterpret_cast<char*>(&c));
}

void exercise(Ring& ring, uint8_t ops) {
  const auto now = Clock::now();
  for (int i = 0; i < 4; ++i) {
    switch ((ops >> (2 * i)) & 3) {
      case 0:
        (void)ring.qsize();
        (void)ring.records_published();
        (void)ring.records_consumed();
        break;
      case 1:
        try {
          std::string out;
          ring.get_into(out, now);
        } catch (const mp::PicklingError&) {
        }
        break;
      case 2: {
        std::string item(static_cast<size_t>(ops) * 37 % 5000, 'x');
        (void)ring.put(mp::internal::bytes_of(item), now);
        break;
      }
      case 3:
        (void)ring.task_done();
        (void)ring.join(now);
        break;
    }
  }
}

// Input: [ops][maxsize][dynamic control bytes...][hot lane bytes...][overflow lane bytes...]
std::string input_of(uint8_t ops, uint8_t maxsize, const std::string& control,
                     const std::string& hot, const std::string& overflow) {
  std::string control_part(sizeof(RingControl) - dynamic_offset(), '\0');
  std::memcpy(control_part.data(), control.data(), std::min(control.size(), control_part.size()));
  std::string s;
  s += static_cast<char>(ops);
  s += static_cast<char>(maxsize);
  s += control_part;
  uint32_t hot_size = static_cast<uint32_t>(hot.size());
  s.append(reinterpret_cast<const char*>(&hot_size), 4);
  s += hot;
  s += overflow;
  return s;
}

}  // namespace

namespace mp::fuzz {

std::vector<std::string> seeds() {
  // Real states: made by using a ring, then photographed.
  std::vector<std::string> out;
  for (int filled : {0, 1, 3}) {
    auto ring = Ring::create(0, kCapacity, mp::internal::Sharing::kThreads);
    for (int i = 0; i < filled; ++i) {
      std::string item(static_cast<size_t>(10 + 100 * i), static_cast<char>('a' + i));
      ring->put(mp::internal::bytes_of(item), std::nullopt);
    }
    if (filled == 3) {
      std::string got;
      ring->get_into(got, std::nullopt);
    }
    std::string control(reinterpret_cast<const char*>(&ring->control()) + dynamic_offset(),
                        sizeof(RingControl) - dynamic_offset());
    std::string hot(512, '\0');
    ::pread(ring->fd(), hot.data(), hot.size(),
            static_cast<off_t>(ring->control().lanes[0].offset));
    for (uint8_t ops : {0x00, 0x55, 0xaa, 0xe4, 0x1b}) {
      out.push_back(input_of(ops, static_cast<uint8_t>(filled), control, hot, ""));
    }
  }
  return out;
}

}  // namespace mp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t ops = data[0];
  auto ring = Ring::create(data[1] % 4, kCapacity, mp::internal::Sharing::kThreads);
  RingControl& c = ring->control();
  size_t at = 2;
  const size_t dynamic = sizeof(RingControl) - dynamic_offset();
  const size_t n = std::min(dynamic, size - at);
  std::memcpy(reinterpret_cast<char*>(&c) + dynamic_offset(), data + at, n);
  at += n;
  if (size - at >= 4) {
    uint32_t hot = 0;
    std::memcpy(&hot, data + at, 4);
    at += 4;
    hot = std::min<uint32_t>(hot, static_cast<uint32_t>(size - at));
    (void)::pwrite(ring->fd(), data + at, hot, static_cast<off_t>(c.lanes[0].offset));
    at += hot;
    (void)::pwrite(ring->fd(), data + at, size - at, static_cast<off_t>(c.lanes[1].offset));
  }
  exercise(*ring, ops);
  return 0;
}
