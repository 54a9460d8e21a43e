// The dashboard's HTTP surface, as pure functions: which route a request
// target names, with its parameters checked, and which HTTP status an
// absl::Status becomes. No sockets, no gRPC: tested on strings.
//
// Every API route reads through one gRPC method of mixsweep.v1, and its
// answer is that method's response in protobuf's JSON mapping (field names
// in lowerCamelCase, 64-bit integers as strings, enums by name):
//
//   GET /api/v1/session                      {"open": true|false}, no token
//   GET /api/v1/whoami                       AuthService/WhoAmI
//   GET /api/v1/sweeps                       SweepService/ListSweeps
//   GET /api/v1/sweeps/{id}                  SweepService/GetSweep, runs + jobs
//   GET /api/v1/sweeps/{id}/results          EvaluationService/ListResults
//   GET /api/v1/sweeps/{id}/estimates        UtilizationService/GetEstimates
//   GET /api/v1/sweeps/{id}/recommendation?scenario=S&source=X&budget_hours=B
//       [&cost_tele_hours=C&cost_nt_hours=D&teleop_core=N]
//                                            UtilizationService/RecommendMix
//   GET /api/v1/workers                      WorkerService/ListWorkers
//   GET /, /app.js, /plot.js, /style.css     the page itself
//
//   auto route = ParseRoute("/api/v1/sweeps/3/estimates");
//   // route->kind == RouteKind::kEstimates, route->sweep_id == 3
//   auto bad = ParseRoute("/api/v1/sweeps/x");
//   // INVALID_ARGUMENT "sweep_id: 'x' is not a sweep id (a positive integer)"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mixsweep::dashboard {

enum class RouteKind {
  // A file of the page (index.html, scripts, style), by `asset`.
  kAsset,
  // Whether the dashboard asks for a token: answered without one.
  kSession,
  // The caller's principal and role: how the page checks a typed token.
  kWhoAmI,
  // Every sweep, newest first.
  kListSweeps,
  // One sweep with its runs and jobs.
  kGetSweep,
  // S per (run, scenario) of one sweep, with each run's mixture.
  kResults,
  // The stored estimates of one sweep.
  kEstimates,
  // The mix to buy for a budget (scenario, source, budget_hours).
  kRecommendation,
  // Workers that are not gone.
  kWorkers,
};

struct Route {
  RouteKind kind = RouteKind::kAsset;
  std::string asset;      // kAsset: "index.html", "app.js", ...
  int64_t sweep_id = 0;   // routes under /api/v1/sweeps/{id}
  std::string scenario;   // kRecommendation
  std::string source;     // kRecommendation
  double budget_hours = 0;  // kRecommendation
  double cost_tele_hours = 0;  // kRecommendation; 0: the spec's (or measured) costs
  double cost_nt_hours = 0;    // kRecommendation
  int64_t teleop_core = 0;     // kRecommendation; 0: the sweep's smallest N_tele
};

// The route of a GET request target (path and query). NOT_FOUND for a path
// the dashboard does not serve; INVALID_ARGUMENT naming the parameter for a
// malformed id or query value.
absl::StatusOr<Route> ParseRoute(std::string_view target);

// The full gRPC method path a route reads through
// ("/mixsweep.v1.SweepService/GetSweep"); empty for assets and the session.
std::string_view MethodOf(RouteKind kind);

// The HTTP status that tells a browser what the gRPC code tells a client.
int HttpStatusOf(absl::StatusCode code);

// A JSON error body: {"code": "NOT_FOUND", "message": "..."}.
std::string ErrorBody(const absl::Status& status);

}  // namespace mixsweep::dashboard
