// mp/internal/ipc/wire.h — the frame header of multiprocessing.connection.
//
// A message is a 4-byte big-endian signed length and the payload; a payload
// longer than 0x7fffffff bytes is announced by a length of -1 followed by an
// 8-byte big-endian unsigned length (CPython 3.8+). These helpers are pure
// (no I/O), so a fuzzer can drive the decoder directly.

#ifndef MP_INTERNAL_IPC_WIRE_H_
#define MP_INTERNAL_IPC_WIRE_H_

#include <cstddef>
#include <cstdint>

namespace mp::internal::wire {

inline constexpr size_t kMaxHeaderSize = 12;
inline constexpr uint64_t kMaxShortLength = 0x7fffffff;

// Writes the header announcing `length` payload bytes to `out`; returns how
// many bytes it took (4 or 12).
inline size_t encode_header(uint64_t length, unsigned char out[kMaxHeaderSize]) noexcept {
  auto put = [](unsigned char* p, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      p[i] = static_cast<unsigned char>(v & 0xff);
      v >>= 8;
    }
  };
  if (length <= kMaxShortLength) {
    put(out, length, 4);
    return 4;
  }
  put(out, 0xffffffffu, 4);
  put(out + 4, length, 8);
  return kMaxHeaderSize;
}

struct Header {
  enum Status {
    kIncomplete,  // more bytes are needed to tell
    kComplete,    // `length` payload bytes follow the `size` header bytes
    kBad,         // a negative length other than -1: not a frame CPython sends
  };
  Status status = kIncomplete;
  uint64_t length = 0;
  size_t size = 0;
};

// Decodes the header at the start of `data` (of which `available` bytes are
// there). Never reads past `available`.
inline Header decode_header(const unsigned char* data, size_t available) noexcept {
  auto get = [](const unsigned char* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    return v;
  };
  Header h;
  if (available < 4) return h;
  auto length = static_cast<int32_t>(static_cast<uint32_t>(get(data, 4)));
  if (length >= 0) {
    h.status = Header::kComplete;
    h.length = static_cast<uint64_t>(length);
    h.size = 4;
    return h;
  }
  if (length != -1) {
    h.status = Header::kBad;
    return h;
  }
  if (available < kMaxHeaderSize) return h;
  h.status = Header::kComplete;
  h.length = get(data + 4, 8);
  h.size = kMaxHeaderSize;
  return h;
}

}  // namespace mp::internal::wire

#endif  // MP_INTERNAL_IPC_WIRE_H_
