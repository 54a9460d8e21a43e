#include "scheduler/auth/role.h"

namespace mixsweep::auth {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kResearcher: return "researcher";
    case Role::kWorker: return "worker";
    case Role::kOperator: return "operator";
    case Role::kViewer: return "viewer";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : kAllRoles) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

}  // namespace mixsweep::auth
