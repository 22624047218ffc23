// A libFuzzer target over what a hostile peer controls: the bytes a
// Connection reads (frame headers, payloads, mp::Codec encodings, handles)
// and the authentication handshake in both roles.
//
// The first input byte picks the mode (low four bits) and its options (high
// four); the rest is what the peer sends, written into a socketpair whose
// other end then shuts down its writing side. Frame decoding
// is checked against a reference decoder (wire::decode_header over the whole
// input); any disagreement aborts. Built two ways: by tools/fuzz with clang's
// -fsanitize=fuzzer,address for real fuzzing, and into
// //fuzz:connection_fuzzer_regression_test (gcc) that replays the seed corpus
// (fuzz/corpus/connection, made by hand) and a few thousand mutated inputs.

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "fuzz_target.h"
#include "mp/connection.h"
#include "mp/internal/base/fd.h"
#include "mp/internal/ipc/auth.h"
#include "mp/internal/ipc/wire.h"

namespace {

using mp::internal::UniqueFd;
namespace wire = mp::internal::wire;

// What a peer may send in one go: below any socket buffer, so writing it all
// before reading cannot block.
constexpr size_t kMaxPeerBytes = 32 * 1024;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "connection_fuzzer: %s\n", what);
  std::abort();
}

// A connection whose peer sent `bytes` and then shut down its writing side
// (it still takes what we send, up to its buffer, and never reads it).
struct Fed {
  mp::Connection connection;
  UniqueFd peer;
};
Fed connection_fed(std::string_view bytes) {
  auto [mine, peer] = mp::internal::socket_pair(SOCK_STREAM);
  mp::internal::write_all(peer.get(), bytes.data(), bytes.size());
  ::shutdown(peer.get(), SHUT_WR);
  return {mp::Connection(std::move(mine)), std::move(peer)};
}

enum class Outcome { kMessage, kEof, kTruncated, kBad, kTooLong };

// The reference: what the next recv_bytes(maxlength) must do at `pos`.
Outcome expect(std::string_view in, size_t& pos, std::optional<size_t> maxlength,
               std::string* out) {
  if (pos == in.size()) return Outcome::kEof;
  auto h =
      wire::decode_header(reinterpret_cast<const unsigned char*>(in.data()) + pos, in.size() - pos);
  if (h.status == wire::Header::kIncomplete) return Outcome::kTruncated;
  if (h.status == wire::Header::kBad) return Outcome::kBad;
  if (maxlength && h.length > *maxlength) return Outcome::kTooLong;
  if (h.length > in.size() - pos - h.size) return Outcome::kTruncated;
  *out = std::string(in.substr(pos + h.size, h.length));
  pos += h.size + h.length;
  return Outcome::kMessage;
}

void fuzz_frames(std::string_view in, uint8_t flags) {
  std::optional<size_t> maxlength;
  if (flags & 0x10) maxlength = (flags & 0x20) ? 256 : 16;
  Fed fed = connection_fed(in);
  mp::Connection& c = fed.connection;
  size_t pos = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string want;
    Outcome expected = expect(in, pos, maxlength, &want);
    try {
      std::string got = c.recv_bytes(maxlength);
      if (expected != Outcome::kMessage)
        fail("recv_bytes returned a message the reference rejects");
      if (got != want) fail("recv_bytes returned other bytes than the reference");
      continue;
    } catch (const mp::EOFError&) {
      if (expected != Outcome::kEof) fail("EOFError where the reference has no end of file");
    } catch (const std::system_error& e) {
      int err = e.code().value();
      bool ok = (expected == Outcome::kTruncated && err == EPROTO) ||
                (expected == Outcome::kBad && err == EPROTO) ||
                (expected == Outcome::kTooLong && err == EMSGSIZE);
      if (!ok) fail("system_error that the reference does not predict");
    }
    return;
  }
}

// The other readers: recv_bytes_into a small buffer, recv<T> (mp::Codec over
// hostile bytes), recv_handle. Only "no crash, a clear error" is checked.
void fuzz_readers(std::string_view in, uint8_t flags) {
  Fed fed = connection_fed(in);
  mp::Connection& c = fed.connection;
  for (int i = 0; i < 1000; ++i) {
    try {
      switch ((flags + i) % 4) {
        case 0: {
          char small[64];
          c.recv_bytes_into(small);
          break;
        }
        case 1:
          c.recv<std::vector<std::string>>();
          break;
        case 2:
          c.recv<std::pair<int, std::vector<std::optional<std::string>>>>();
          break;
        case 3:
          ::close(mp::recv_handle(c));
          break;
      }
    } catch (const mp::EOFError&) {
      return;
    } catch (const mp::Error&) {
    } catch (const std::system_error&) {
      if (c.closed() || !c.readable()) return;
    }
  }
}

void fuzz_handshake(std::string_view in, bool server) {
  Fed fed = connection_fed(in);
  mp::Connection& c = fed.connection;
  try {
    if (server) {
      mp::deliver_challenge(c, "fuzz key");
    } else {
      mp::answer_challenge(c, "fuzz key");
    }
  } catch (const mp::Error&) {
  } catch (const std::system_error&) {
  }
}

// The pure parts of the handshake: digest prefixes, responses, verification.
void fuzz_auth_pure(std::string_view in) {
  namespace auth = mp::internal::auth;
  size_t split = in.empty() ? 0 : static_cast<uint8_t>(in[0]) % (in.size());
  std::string_view message = in.substr(std::min<size_t>(1, in.size())).substr(0, split);
  std::string_view response = in.substr(std::min(in.size(), split + 1));
  try {
    auth::split_digest(response);
  } catch (const mp::AuthenticationError&) {
  }
  try {
    auth::verify_challenge("k", message, response);
  } catch (const mp::AuthenticationError&) {
  }
  try {
    std::string r = auth::create_response("k", message);
    auth::verify_challenge("k", message, r);  // our own response must verify
  } catch (const mp::AuthenticationError&) {
  }
}

}  // namespace

namespace mp::fuzz {
// The corpus files are the seeds (fuzz/corpus/connection, made by hand).
std::vector<std::string> seeds() { return {}; }
}  // namespace mp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, std::min(size - 1, kMaxPeerBytes));
  switch ((mode & 0x0f) % 5) {
    case 0:
      fuzz_frames(in, mode);
      break;
    case 1:
      fuzz_readers(in, mode);
      break;
    case 2:
      fuzz_handshake(in, /*server=*/true);
      break;
    case 3:
      fuzz_handshake(in, /*server=*/false);
      break;
    case 4:
      fuzz_auth_pure(in);
      break;
  }
  return 0;
}
