#include "scheduler/auth/access_policy.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::auth {
namespace {

// Role sets, named by who they are for.
enum RoleSet : unsigned {
  kAdminOnly = 1u << static_cast<int>(Role::kAdmin),
  kResearchers = kAdminOnly | 1u << static_cast<int>(Role::kResearcher),
  kWorkers = kAdminOnly | 1u << static_cast<int>(Role::kWorker),
  kOperators = kAdminOnly | 1u << static_cast<int>(Role::kOperator),
  // Reads of sweeps, jobs, estimates: everyone who looks at results. Workers
  // and operators do their job without them.
  kReaders = kResearchers | 1u << static_cast<int>(Role::kViewer),
  // Reads an operator needs too (the plan of what to evaluate next).
  kEvaluationReaders = kReaders | kOperators,
  kEveryone = kReaders | kWorkers | kOperators,
};

struct Rule {
  std::string_view path;
  unsigned roles;
};

constexpr Rule kRules[] = {
    // SweepService
    {"/mixsweep.v1.SweepService/SubmitSweep", kResearchers},
    {"/mixsweep.v1.SweepService/ExtendSweep", kResearchers},   // own sweeps
    {"/mixsweep.v1.SweepService/CancelSweep", kResearchers},   // own sweeps
    {"/mixsweep.v1.SweepService/GetSweep", kReaders},
    {"/mixsweep.v1.SweepService/ListSweeps", kReaders},
    {"/mixsweep.v1.SweepService/WatchSweep", kReaders},
    {"/mixsweep.v1.SweepService/GetJob", kReaders},
    {"/mixsweep.v1.SweepService/ReadJobLog", kReaders},
    // WorkerService: row-checked, a worker token acts only for its workers.
    {"/mixsweep.v1.WorkerService/RegisterWorker", kWorkers},
    {"/mixsweep.v1.WorkerService/Heartbeat", kWorkers},
    {"/mixsweep.v1.WorkerService/LeaseJob", kWorkers},
    {"/mixsweep.v1.WorkerService/ReportProgress", kWorkers},
    {"/mixsweep.v1.WorkerService/AppendLog", kWorkers},
    {"/mixsweep.v1.WorkerService/CompleteJob", kWorkers},
    {"/mixsweep.v1.WorkerService/FailJob", kWorkers},
    {"/mixsweep.v1.WorkerService/HandBackJob", kWorkers},
    {"/mixsweep.v1.WorkerService/ListWorkers", kReaders},
    // EvaluationService
    {"/mixsweep.v1.EvaluationService/RegisterRobot", kOperators},
    {"/mixsweep.v1.EvaluationService/ListRobots", kEvaluationReaders},
    {"/mixsweep.v1.EvaluationService/NextEvaluationBatch", kOperators},
    {"/mixsweep.v1.EvaluationService/RecordTrials", kOperators},
    {"/mixsweep.v1.EvaluationService/CorrectTrial", kOperators},
    // Results carry each policy's mixture: not for operators, who evaluate blind.
    {"/mixsweep.v1.EvaluationService/ListResults", kReaders},
    {"/mixsweep.v1.EvaluationService/PlanEvaluations", kEvaluationReaders},
    // UtilizationService
    {"/mixsweep.v1.UtilizationService/GetEstimates", kReaders},
    {"/mixsweep.v1.UtilizationService/WatchEstimates", kReaders},
    {"/mixsweep.v1.UtilizationService/RecommendMix", kReaders},
    // AuthService
    {"/mixsweep.v1.AuthService/CreateToken", kAdminOnly},
    {"/mixsweep.v1.AuthService/RevokeToken", kAdminOnly},
    {"/mixsweep.v1.AuthService/ListTokens", kAdminOnly},
    {"/mixsweep.v1.AuthService/WhoAmI", kEveryone},
    // Server reflection (grpcurl): the schema, to anyone with a valid token.
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", kEveryone},
};

bool Allows(unsigned roles, Role role) { return (roles >> static_cast<int>(role)) & 1u; }

const Rule* FindRule(std::string_view path) {
  for (const Rule& rule : kRules) {
    if (rule.path == path) return &rule;
  }
  return nullptr;
}

// "SweepService/SubmitSweep" from "/mixsweep.v1.SweepService/SubmitSweep".
std::string_view ShortName(std::string_view path) {
  const size_t dot = path.rfind('.', path.rfind('/'));
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

}  // namespace

bool IsOpenMethod(std::string_view path) {
  return absl::StartsWith(absl::string_view(path.data(), path.size()), "/grpc.health.v1.Health/");
}

std::vector<Role> RolesAllowed(std::string_view path) {
  std::vector<Role> roles;
  if (const Rule* rule = FindRule(path)) {
    for (Role role : kAllRoles) {
      if (Allows(rule->roles, role)) roles.push_back(role);
    }
  }
  return roles;
}

absl::Status Authorize(Role role, std::string_view path) {
  const Rule* rule = FindRule(path);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(std::string(path), ": no role may call this method on this server"));
  }
  if (Allows(rule->roles, role)) return absl::OkStatus();
  std::vector<std::string> names;
  for (Role allowed : RolesAllowed(path)) names.emplace_back(RoleName(allowed));
  return absl::PermissionDeniedError(absl::StrCat(
      std::string(ShortName(path)), " needs role ", absl::StrJoin(names, " or "),
      "; this token's role is ", std::string(RoleName(role))));
}

std::vector<std::string_view> KnownMethods() {
  std::vector<std::string_view> paths;
  for (const Rule& rule : kRules) paths.push_back(rule.path);
  return paths;
}

}  // namespace mixsweep::auth
