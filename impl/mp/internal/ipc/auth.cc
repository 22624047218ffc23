#include "mp/internal/ipc/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>

#include "mp/connection.h"
#include "mp/errors.h"
#include "mp/internal/base/fd.h"

namespace mp {
namespace internal::auth {

namespace {

const EVP_MD* digest_by_name(std::string_view name) {
  if (name == "md5") return EVP_md5();
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha3_256") return EVP_sha3_256();
  if (name == "sha3_384") return EVP_sha3_384();
  return nullptr;
}

constexpr size_t kMaxDigestNameLength = 8;  // "sha3_256"

std::string printable(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (bytes.size() > 64) out += "...";
  return out;
}

}  // namespace

std::optional<std::string> hmac(std::string_view digest, std::string_view key,
                                std::string_view message) {
  const EVP_MD* md = digest_by_name(digest);
  if (!md) return std::nullopt;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  static const unsigned char kEmpty = 0;  // OpenSSL wants a pointer even for an empty key
  const void* key_data = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  const auto* data =
      message.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(message.data());
  if (!HMAC(md, key_data, static_cast<int>(key.size()), data, message.size(), out, &length)) {
    return std::nullopt;  // e.g. MD5 refused by a FIPS configuration
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string new_challenge(std::string_view digest) {
  return "{" + std::string(digest) + "}" + random_bytes(kMessageLength);
}

DigestAndPayload split_digest(std::string_view message) {
  if (message.size() == kLegacyMessageLength || message.size() == kMd5DigestLength) {
    return {"", message};
  }
  if (!message.empty() && message[0] == '{') {
    size_t curly = message.substr(0, kMaxDigestNameLength + 2).find('}', 1);
    if (curly != std::string_view::npos) {
      std::string_view name = message.substr(1, curly - 1);
      if (digest_by_name(name)) return {name, message.substr(curly + 1)};
    }
  }
  throw AuthenticationError(
      "unsupported message length, missing digest prefix, or unsupported digest: " +
      printable(message));
}

std::string create_response(std::string_view key, std::string_view message) {
  std::string_view digest = split_digest(message).digest;
  if (digest.empty()) {
    // A legacy (<= 3.11) server: a raw HMAC-MD5, no prefix.
    if (auto mac = hmac("md5", key, message)) return *mac;
    digest = "sha256";  // no MD5 here (FIPS): answer the modern way, as CPython does
  }
  auto mac = hmac(digest, key, message);
  if (!mac) throw AuthenticationError("digest " + std::string(digest) + " unavailable");
  return "{" + std::string(digest) + "}" + *mac;
}

void verify_challenge(std::string_view key, std::string_view message, std::string_view response) {
  auto [digest, mac] = split_digest(response);
  if (digest.empty()) digest = "md5";
  auto expected = hmac(digest, key, message);
  if (!expected) throw AuthenticationError("digest " + std::string(digest) + " unsupported");
  if (expected->size() != mac.size()) {
    throw AuthenticationError("expected " + std::string(digest) + " of length " +
                              std::to_string(expected->size()) + " got " +
                              std::to_string(mac.size()));
  }
  if (CRYPTO_memcmp(expected->data(), mac.data(), mac.size()) != 0) {
    throw AuthenticationError("digest received was wrong");
  }
}

}  // namespace internal::auth

void deliver_challenge(Connection& connection, std::string_view authkey,
                       std::string_view digest_name) {
  using namespace internal::auth;
  if (!hmac(digest_name, "", "")) {
    throw ValueError("unsupported digest: " + std::string(digest_name));
  }
  std::string message = new_challenge(digest_name);
  connection.send_bytes(std::string(kChallenge) + message);
  std::string response = connection.recv_bytes(kMaxHandshakeMessage);
  try {
    verify_challenge(authkey, message, response);
  } catch (const AuthenticationError&) {
    try {
      connection.send_bytes(kFailure);
    } catch (const std::system_error&) {
      // The peer is gone already; the authentication failure is the news.
    }
    throw;
  }
  connection.send_bytes(kWelcome);
}

void answer_challenge(Connection& connection, std::string_view authkey) {
  using namespace internal::auth;
  std::string message = connection.recv_bytes(kMaxHandshakeMessage);
  if (message.rfind(kChallenge, 0) != 0) {
    throw AuthenticationError("Protocol error, expected challenge: " + printable(message));
  }
  std::string_view payload = std::string_view(message).substr(kChallenge.size());
  if (payload.size() < kLegacyMessageLength) {
    throw AuthenticationError("challenge too short: " + std::to_string(payload.size()) + " bytes");
  }
  connection.send_bytes(create_response(authkey, payload));
  std::string response = connection.recv_bytes(kMaxHandshakeMessage);
  if (response != kWelcome) throw AuthenticationError("digest sent was rejected");
}

}  // namespace mp
