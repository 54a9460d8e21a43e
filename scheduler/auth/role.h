// Roles: what a bearer token may do. One role per token; a principal may
// hold several tokens (e.g. a researcher token and a viewer token).
//
//   auto role = ParseRole("researcher");   // Role::kResearcher
//   RoleName(Role::kWorker);               // "worker"
#pragma once

#include <optional>
#include <string_view>

namespace mixsweep::auth {

enum class Role {
  // Everything, including token management.
  kAdmin,
  // Submits, extends and cancels their own sweeps; reads everything.
  kResearcher,
  // A GPU worker agent: registers workers, leases jobs, reports only on the
  // leases that workers it registered hold.
  kWorker,
  // A robot operator: the evaluation calls only.
  kOperator,
  // Reads only.
  kViewer,
};

inline constexpr Role kAllRoles[] = {Role::kAdmin, Role::kResearcher, Role::kWorker,
                                     Role::kOperator, Role::kViewer};

std::string_view RoleName(Role role);
// nullopt for anything but the five names above.
std::optional<Role> ParseRole(std::string_view name);

}  // namespace mixsweep::auth
