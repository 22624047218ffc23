// mp/internal/ipc/auth.h — the challenge/response of multiprocessing.connection.
//
// Byte for byte CPython's: a server sends "#CHALLENGE#" and a payload; 3.12+
// sends "{sha256}" + 40 random bytes, 3.11 and earlier 20 random bytes. The
// reply is an HMAC of the whole payload under the shared key: a raw 16-byte
// HMAC-MD5 for a 20-byte payload (legacy), else "{digest}" + HMAC-digest. The
// server answers "#WELCOME#" or "#FAILURE#". The public entry points are
// mp::deliver_challenge and mp::answer_challenge (mp/connection.h).

#ifndef MP_INTERNAL_IPC_AUTH_H_
#define MP_INTERNAL_IPC_AUTH_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "mp/internal/base/fd.h"

namespace mp::internal::auth {

inline constexpr std::string_view kChallenge = "#CHALLENGE#";
inline constexpr std::string_view kWelcome = "#WELCOME#";
inline constexpr std::string_view kFailure = "#FAILURE#";
// Random bytes in a challenge: 3.12+ and legacy (<= 3.11).
inline constexpr size_t kMessageLength = 40;
inline constexpr size_t kLegacyMessageLength = 20;
inline constexpr size_t kMd5DigestLength = 16;
// Every handshake message is read with this maxlength, as CPython does.
inline constexpr size_t kMaxHandshakeMessage = 256;

// HMAC of `message` under `key` with the digest Python names `digest` (md5,
// sha256, sha384, sha3_256, sha3_384); nullopt for any other name.
std::optional<std::string> hmac(std::string_view digest, std::string_view key,
                                std::string_view message);

// `count` bytes from the kernel's random source (fd.h's).
using internal::random_bytes;

// A 3.12+ challenge payload: "{digest}" + 40 random bytes.
std::string new_challenge(std::string_view digest = "sha256");

// Python's _get_digest_name_and_payload: splits "{name}payload"; a 16- or
// 20-byte message is legacy (name ""). Throws mp::AuthenticationError for a
// missing or unsupported prefix.
struct DigestAndPayload {
  std::string_view digest;
  std::string_view payload;
};
DigestAndPayload split_digest(std::string_view message);

// Python's _create_response: the reply to challenge payload `message`.
// Throws mp::AuthenticationError for a malformed payload.
std::string create_response(std::string_view key, std::string_view message);

// Python's _verify_challenge: throws mp::AuthenticationError unless
// `response` is a valid reply to `message` under `key` (constant-time compare).
void verify_challenge(std::string_view key, std::string_view message, std::string_view response);

}  // namespace mp::internal::auth

#endif  // MP_INTERNAL_IPC_AUTH_H_
