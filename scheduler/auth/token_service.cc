#include "scheduler/auth/token_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "scheduler/auth/token.h"

namespace mixsweep::auth {
namespace {

bool IsPrincipalChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
         c == '@' || c == '-';
}

absl::Status ValidateNote(const std::string& note) {
  if (note.size() > kMaxTokenNoteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("note: ", note.size(), " bytes; at most ", kMaxTokenNoteBytes));
  }
  for (unsigned char c : note) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("note: control characters are not allowed");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePrincipal(const std::string& principal) {
  if (principal.empty()) return absl::InvalidArgumentError("principal: required");
  if (principal.size() > kMaxPrincipalLength) {
    return absl::InvalidArgumentError(absl::StrCat("principal: ", principal.size(),
                                                   " characters; at most ", kMaxPrincipalLength));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(principal[0])) ||
      !std::all_of(principal.begin(), principal.end(), IsPrincipalChar)) {
    return absl::InvalidArgumentError(
        "principal: letters, digits and . _ @ - only, starting with a letter or digit");
  }
  return absl::OkStatus();
}

TokenService::TokenService(TokenStore& store, const scheduler::Clock& clock,
                           Authenticator* authenticator)
    : store_(store), clock_(clock), authenticator_(authenticator) {}

absl::StatusOr<IssuedToken> TokenService::Create(const TokenRequest& request, const Caller& by) {
  if (auto s = ValidatePrincipal(request.principal); !s.ok()) return s;
  if (auto s = ValidateNote(request.note); !s.ok()) return s;
  IssuedToken issued;
  issued.secret = NewTokenSecret();
  auto record = store_.Create({.principal = request.principal,
                               .role = request.role,
                               .note = request.note,
                               .created_by = by.principal,
                               .hash = TokenHash(issued.secret)},
                              clock_.Now());
  if (!record.ok()) return record.status();
  issued.record = *std::move(record);
  return issued;
}

absl::StatusOr<Revocation> TokenService::Revoke(int64_t token_id) {
  if (token_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("token_id: ", token_id, " is not positive"));
  }
  const absl::Time now = clock_.Now();
  auto record = store_.Revoke(token_id, now);
  if (!record.ok()) return record.status();
  if (authenticator_ != nullptr) authenticator_->Forget(token_id);
  Revocation revocation;
  revocation.already_revoked = record->revoked_at.has_value() && *record->revoked_at != now;
  revocation.record = *std::move(record);
  return revocation;
}

absl::StatusOr<std::vector<TokenRecord>> TokenService::List(bool include_revoked) {
  return store_.List(include_revoked);
}

absl::StatusOr<IssuedToken> TokenService::Bootstrap(const std::string& principal) {
  if (auto s = ValidatePrincipal(principal); !s.ok()) return s;
  IssuedToken issued;
  issued.secret = NewTokenSecret();
  auto record = store_.CreateFirstAdmin({.principal = principal,
                                         .role = Role::kAdmin,
                                         .note = "bootstrap",
                                         .created_by = "mixsweepd token bootstrap",
                                         .hash = TokenHash(issued.secret)},
                                        clock_.Now());
  if (!record.ok()) return record.status();
  issued.record = *std::move(record);
  return issued;
}

}  // namespace mixsweep::auth
