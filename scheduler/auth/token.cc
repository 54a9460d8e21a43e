#include "scheduler/auth/token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::auth {

std::string NewTokenSecret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // No entropy is not something to carry on from.
    throw std::runtime_error("RAND_bytes failed: no secure random source");
  }
  std::string encoded;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), &encoded);
  return absl::StrCat(absl::string_view(kTokenPrefix.data(), kTokenPrefix.size()), encoded);
}

std::string TokenHash(std::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
      1) {
    throw std::runtime_error("EVP_Digest(SHA-256) failed");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

absl::StatusOr<std::string> SecretFromAuthorization(std::string_view header) {
  constexpr std::string_view kScheme = "Bearer ";
  if (header.empty()) {
    return absl::UnauthenticatedError(
        "no bearer token: send `authorization: Bearer msw_...` (mixsweep --token-file, or "
        "MIXSWEEP_TOKEN_FILE)");
  }
  if (!absl::StartsWithIgnoreCase(absl::string_view(header.data(), header.size()), "bearer ")) {
    return absl::UnauthenticatedError(
        "authorization: not a bearer token (expected `Bearer msw_...`)");
  }
  std::string_view secret = header.substr(kScheme.size());
  const bool well_formed =
      secret.size() == kTokenSecretLength &&
      absl::StartsWith(absl::string_view(secret.data(), secret.size()),
                       absl::string_view(kTokenPrefix.data(), kTokenPrefix.size())) &&
      std::all_of(secret.begin() + kTokenPrefix.size(), secret.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      });
  if (!well_formed) {
    return absl::UnauthenticatedError(
        absl::StrCat("authorization: not a mixsweep token (expected `Bearer msw_` and 43 "
                     "base64url characters, got ",
                     secret.size(), " characters)"));
  }
  return std::string(secret);
}

}  // namespace mixsweep::auth
