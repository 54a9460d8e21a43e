// Which roles may call which RPC: the one table every call is checked
// against, before its handler runs (services/api/auth_processor). Methods
// are the full gRPC paths ("/mixsweep.v1.SweepService/SubmitSweep"). A path
// not in the table is refused for every role: a new RPC is closed until
// someone decides who may call it (a test walks the proto to make sure every
// RPC has an entry).
//
// Row-level rules (a researcher cancels only their own sweeps; a worker
// reports only on leases its own workers hold) are checked by the services,
// which know the rows.
//
//   Authorize(Role::kViewer, "/mixsweep.v1.SweepService/SubmitSweep")
//     -> PERMISSION_DENIED "SweepService/SubmitSweep needs role admin or
//        researcher; this token's role is viewer"
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/auth/role.h"

namespace mixsweep::auth {

// gRPC health checks: open to anyone, with or without a token (load
// balancers and probes carry none); they say nothing but "serving". Server
// reflection is not open: it needs a valid token of any role.
bool IsOpenMethod(std::string_view path);

// The roles that may call `path`; empty for an unknown path.
std::vector<Role> RolesAllowed(std::string_view path);

// OK, or PERMISSION_DENIED naming the method, the roles it needs and `role`.
absl::Status Authorize(Role role, std::string_view path);

// Every path the table knows, for tests and docs/SECURITY.md.
std::vector<std::string_view> KnownMethods();

}  // namespace mixsweep::auth
