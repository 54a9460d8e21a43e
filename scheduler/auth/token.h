// Bearer token secrets: made from 256 random bits, sent as
// "authorization: Bearer msw_...", stored only as their SHA-256 (hex).
// A stolen database therefore holds no usable token, and the hash is a
// unique key: lookup needs no secret comparison of our own.
//
//   std::string secret = NewTokenSecret();       // "msw_3q2-..." (47 chars)
//   std::string hash = TokenHash(secret);        // 64 hex digits
//   auto s = SecretFromAuthorization("Bearer " + secret);   // == secret
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mixsweep::auth {

inline constexpr std::string_view kTokenPrefix = "msw_";
// kTokenPrefix + 43 base64url characters.
inline constexpr size_t kTokenSecretLength = 47;

// A fresh secret from the operating system's CSPRNG (OpenSSL RAND_bytes).
std::string NewTokenSecret();

// Lowercase hex SHA-256 of the secret.
std::string TokenHash(std::string_view secret);

// The secret in an `authorization` metadata value, checked for shape only
// (it says nothing about whether the token exists). UNAUTHENTICATED with
// what is wrong, never echoing the value.
absl::StatusOr<std::string> SecretFromAuthorization(std::string_view header);

}  // namespace mixsweep::auth
