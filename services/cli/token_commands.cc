// mixsweep token ... and whoami: bearer tokens (admin) and who a token is.
//
//   mixsweep token create --principal alice --role researcher --out alice.token
//   mixsweep token list [--all]
//   mixsweep token revoke 7
//   mixsweep whoami
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/cli/client.h"

namespace mixsweep::cli {
namespace {
namespace v1 = mixsweep::v1;
using AuthStub = v1::AuthService::Stub;

struct TokenOptions {
  std::string principal;
  std::string role;
  std::string note;
  std::string out;
  int64_t token_id = 0;
  bool all = false;
};

TokenOptions& Options() {
  static TokenOptions options;
  return options;
}

v1::Role RoleOf(const std::string& name) {
  if (name == "admin") return v1::ROLE_ADMIN;
  if (name == "researcher") return v1::ROLE_RESEARCHER;
  if (name == "worker") return v1::ROLE_WORKER;
  if (name == "operator") return v1::ROLE_OPERATOR;
  if (name == "viewer") return v1::ROLE_VIEWER;
  return v1::ROLE_UNSPECIFIED;
}

std::string RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_ADMIN: return "admin";
    case v1::ROLE_RESEARCHER: return "researcher";
    case v1::ROLE_WORKER: return "worker";
    case v1::ROLE_OPERATOR: return "operator";
    case v1::ROLE_VIEWER: return "viewer";
    default: return "?";
  }
}

std::string Date(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixSeconds(t.seconds()),
                          absl::LocalTimeZone());
}

std::string RenderTokens(const v1::ListTokensResponse& response) {
  std::string out = absl::StrCat("  ID  ROLE        PRINCIPAL             CREATED           ",
                                 "REVOKED           NOTE\n");
  for (const v1::Token& t : response.tokens()) {
    char line[512];
    std::snprintf(line, sizeof line, "%4lld  %-10s  %-20s  %-16s  %-16s  %s\n",
                  static_cast<long long>(t.id()), RoleName(t.role()).c_str(),
                  t.principal().c_str(), Date(t.created_at()).c_str(),
                  t.has_revoked_at() ? Date(t.revoked_at()).c_str() : "-", t.note().c_str());
    out += line;
  }
  return out;
}

// A new file only this user can read; never replaces one.
bool WriteSecret(const std::string& path, const std::string& secret) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::cerr << "error: cannot create " << path << ": " << std::strerror(errno) << "\n";
    return false;
  }
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  return ok;
}

int Create(const Globals& g) {
  const TokenOptions& o = Options();
  v1::CreateTokenRequest request;
  request.set_principal(o.principal);
  request.set_role(RoleOf(o.role));
  request.set_note(o.note);
  Client client(g);
  v1::CreateTokenResponse response;
  if (auto status = client.Call(&AuthStub::CreateToken, request, &response); !status.ok()) {
    return Fail(status);
  }
  if (g.json) {
    PrintJson(response);
    return kOk;
  }
  if (!o.out.empty()) {
    if (!WriteSecret(o.out, response.secret())) {
      // Nobody holds the secret now: revoke the token rather than leave it.
      v1::RevokeTokenRequest revoke;
      revoke.set_token_id(response.token().id());
      v1::RevokeTokenResponse revoked;
      (void)client.Call(&AuthStub::RevokeToken, revoke, &revoked);
      return kError;
    }
    std::cout << "token " << response.token().id() << " (" << RoleName(response.token().role())
              << ", " << response.token().principal() << ") written to " << o.out
              << " (mode 0600)\n";
    return kOk;
  }
  std::cerr << "token " << response.token().id() << " (" << RoleName(response.token().role())
            << ", " << response.token().principal()
            << "); the secret below is shown once and stored nowhere:\n";
  std::cout << response.secret() << "\n";
  return kOk;
}

}  // namespace

void AddTokenCommands(CLI::App& app, Globals& globals, Action& action) {
  TokenOptions& o = Options();
  CLI::App* token = app.add_subcommand("token", "bearer tokens (admin)");
  token->require_subcommand(1);

  CLI::App* create = token->add_subcommand("create", "make a token; its secret is shown once");
  create->add_option("--principal", o.principal, "who it stands for (owner of sweeps, workers)")
      ->required();
  create->add_option("--role", o.role, "admin, researcher, worker, operator or viewer")
      ->required()
      ->check(CLI::IsMember({"admin", "researcher", "worker", "operator", "viewer"}));
  create->add_option("--note", o.note, "what it is for (e.g. the machine it goes to)");
  create->add_option("--out", o.out, "write the secret to this new file (mode 0600)");
  OnRun(create, globals, action, Create);

  CLI::App* list = token->add_subcommand("list", "tokens (never their secrets)");
  list->add_flag("--all", o.all, "include revoked tokens");
  OnRun(list, globals, action, [](const Globals& g) {
    v1::ListTokensRequest request;
    request.set_include_revoked(Options().all);
    return CallAndPrint(g, &AuthStub::ListTokens, request, RenderTokens);
  });

  CLI::App* revoke = token->add_subcommand("revoke", "stop a token from working");
  revoke->add_option("token_id", o.token_id, "token id (mixsweep token list)")->required();
  OnRun(revoke, globals, action, [](const Globals& g) {
    v1::RevokeTokenRequest request;
    request.set_token_id(Options().token_id);
    return CallAndPrint(g, &AuthStub::RevokeToken, request,
                        [](const v1::RevokeTokenResponse& r) {
                          return absl::StrCat("token ", r.token().id(), " (",
                                              r.token().principal(), ") ",
                                              r.already_revoked() ? "was already revoked"
                                                                  : "revoked",
                                              "\n");
                        });
  });

  CLI::App* whoami = app.add_subcommand("whoami", "the principal and role of your token");
  OnRun(whoami, globals, action, [](const Globals& g) {
    return CallAndPrint(g, &AuthStub::WhoAmI, v1::WhoAmIRequest{},
                        [](const v1::WhoAmIResponse& r) {
                          return absl::StrCat(r.principal(), " (", RoleName(r.role()),
                                              ", token ", r.token_id(), ")\n");
                        });
  });
}

}  // namespace mixsweep::cli
