// The dashboard's routes (services/dashboard/routes.h): what each target
// names, and the clear refusals of malformed ids, queries and paths.
#include "services/dashboard/routes.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mixsweep::dashboard {
namespace {

using ::testing::HasSubstr;

TEST(DashboardRoutes, ThePageAndItsFiles) {
  for (const char* target : {"/", "/index.html"}) {
    auto route = ParseRoute(target);
    ASSERT_TRUE(route.ok()) << target;
    EXPECT_EQ(route->kind, RouteKind::kAsset);
    EXPECT_EQ(route->asset, "index.html");
  }
  EXPECT_EQ(ParseRoute("/app.js")->asset, "app.js");
  EXPECT_EQ(ParseRoute("/plot.js")->asset, "plot.js");
  EXPECT_EQ(ParseRoute("/style.css")->asset, "style.css");
  // Nothing is read from disk: any other path is simply not there.
  for (const char* target : {"/../etc/passwd", "/app.js/", "/web/app.js", "/%2e%2e/x", "//app.js"}) {
    EXPECT_EQ(ParseRoute(target).status().code(), absl::StatusCode::kNotFound) << target;
  }
}

TEST(DashboardRoutes, ApiRoutesNameTheirMethod) {
  const struct {
    const char* target;
    RouteKind kind;
    const char* method;
    int64_t sweep_id;
  } cases[] = {
      {"/api/v1/session", RouteKind::kSession, "", 0},
      {"/api/v1/whoami", RouteKind::kWhoAmI, "/mixsweep.v1.AuthService/WhoAmI", 0},
      {"/api/v1/sweeps", RouteKind::kListSweeps, "/mixsweep.v1.SweepService/ListSweeps", 0},
      {"/api/v1/sweeps/12", RouteKind::kGetSweep, "/mixsweep.v1.SweepService/GetSweep", 12},
      {"/api/v1/sweeps/12/results", RouteKind::kResults,
       "/mixsweep.v1.EvaluationService/ListResults", 12},
      {"/api/v1/sweeps/3/estimates", RouteKind::kEstimates,
       "/mixsweep.v1.UtilizationService/GetEstimates", 3},
      {"/api/v1/workers", RouteKind::kWorkers, "/mixsweep.v1.WorkerService/ListWorkers", 0},
  };
  for (const auto& c : cases) {
    auto route = ParseRoute(c.target);
    ASSERT_TRUE(route.ok()) << c.target << ": " << route.status();
    EXPECT_EQ(route->kind, c.kind) << c.target;
    EXPECT_EQ(route->sweep_id, c.sweep_id) << c.target;
    EXPECT_EQ(MethodOf(route->kind), c.method) << c.target;
  }
}

TEST(DashboardRoutes, RecommendationReadsItsDecodedQuery) {
  auto route = ParseRoute(
      "/api/v1/sweeps/2/recommendation?scenario=unseen%20background&source=sim+1&budget_hours=4.5");
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->kind, RouteKind::kRecommendation);
  EXPECT_EQ(route->sweep_id, 2);
  EXPECT_EQ(route->scenario, "unseen background");
  EXPECT_EQ(route->source, "sim 1");
  EXPECT_DOUBLE_EQ(route->budget_hours, 4.5);
  EXPECT_EQ(MethodOf(route->kind), "/mixsweep.v1.UtilizationService/RecommendMix");
  EXPECT_EQ(route->cost_tele_hours, 0) << "0: the spec's costs";
  EXPECT_EQ(route->teleop_core, 0);

  auto costs = ParseRoute(
      "/api/v1/sweeps/2/recommendation?budget_hours=10&cost_tele_hours=0.05&cost_nt_hours=0.001"
      "&teleop_core=100");
  ASSERT_TRUE(costs.ok()) << costs.status();
  EXPECT_DOUBLE_EQ(costs->cost_tele_hours, 0.05);
  EXPECT_DOUBLE_EQ(costs->cost_nt_hours, 0.001);
  EXPECT_EQ(costs->teleop_core, 100);
}

TEST(DashboardRoutes, BadInputIsRefusedNamingTheField) {
  const struct {
    const char* target;
    const char* names;
  } cases[] = {
      {"/api/v1/sweeps/abc", "sweep_id"},
      {"/api/v1/sweeps/0", "sweep_id"},
      {"/api/v1/sweeps/-4/estimates", "sweep_id"},
      {"/api/v1/sweeps/99999999999999999999999", "sweep_id"},
      {"/api/v1/sweeps/1/recommendation", "budget_hours: missing"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=-1", "budget_hours"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=nan", "budget_hours"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=inf", "budget_hours"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=1&scenario=%zz", "scenario"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=1&scenario=%0a", "scenario"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=1&x=1", "'x'"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=1&cost_nt_hours=0", "cost_nt_hours"},
      {"/api/v1/sweeps/1/recommendation?budget_hours=1&teleop_core=1.5", "teleop_core"},
      {"/api/v1/sweeps?page=2", "no query parameters"},
  };
  for (const auto& c : cases) {
    auto route = ParseRoute(c.target);
    EXPECT_EQ(route.status().code(), absl::StatusCode::kInvalidArgument) << c.target;
    EXPECT_THAT(std::string(route.status().message()), HasSubstr(c.names)) << c.target;
  }
  EXPECT_EQ(ParseRoute(std::string(5000, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRoute("/api/v1/sweeps/1/trials").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ParseRoute("/api/v2/sweeps").status().code(), absl::StatusCode::kNotFound);
}

TEST(DashboardRoutes, StatusCodesMapToWhatABrowserShouldDo) {
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(absl::StatusCode::kInternal), 500);
}

TEST(DashboardRoutes, ErrorBodiesAreJsonEvenForHostileMessages) {
  auto body = nlohmann::json::parse(
      ErrorBody(absl::NotFoundError("no sweep \"<script>\" \xff\xfe")));
  EXPECT_EQ(body["code"], "NOT_FOUND");
  EXPECT_THAT(body["message"].get<std::string>(), HasSubstr("<script>"));
}

}  // namespace
}  // namespace mixsweep::dashboard
