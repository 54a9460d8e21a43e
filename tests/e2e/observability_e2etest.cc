// The dashboard's HTTP gateway and /metrics of a real mixsweepd, over real
// HTTP on loopback: who may read what, hostile requests, and that the RPC
// counters count each call once (the browser test and the Prometheus test
// cover the page and the queries).
#include <map>
#include <regex>
#include <string>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/http_client.h"
#include "tests/support/pg_harness.h"
#include "tests/support/process.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
using ::testing::HasSubstr;

std::string Bearer(const std::string& token_file) {
  std::string secret = ReadFile(token_file);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return "Bearer " + secret;
}

// The value of one sample line of the text format ("" if absent).
std::string Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) return std::string(line.substr(series.size() + 1));
  }
  return "";
}

class DashboardGatewayE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = CreateTestDatabase();
    daemon_ = Daemon::Start({.database = dsn_, .dashboard = true, .metrics = true});
    ASSERT_GT(daemon_.dashboard_port(), 0);
    ASSERT_GT(daemon_.metrics_port(), 0);
  }
  HttpReply Get(const std::string& target, const std::string& token_file = "") {
    std::map<std::string, std::string> headers;
    if (!token_file.empty()) headers["Authorization"] = Bearer(token_file);
    auto reply = HttpRequest(daemon_.dashboard_port(), target, headers);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : HttpReply{};
  }
  std::string dsn_;
  Daemon daemon_;
};

TEST_F(DashboardGatewayE2E, ReadersReadOthersAreRefusedAndTheSessionSaysATokenIsNeeded) {
  ASSERT_EQ(daemon_.Cli({"sweep", "submit", std::string(MIXSWEEP_SOURCE_DIR) +
                                               "/docs/examples/pick_dual_bottles.yaml"})
                .exit_code,
            0);
  EXPECT_EQ(nlohmann::json::parse(Get("/api/v1/session").body)["open"], false);

  HttpReply anonymous = Get("/api/v1/sweeps");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(nlohmann::json::parse(anonymous.body)["code"], "UNAUTHENTICATED");
  EXPECT_EQ(anonymous.body.find("pick-dual-bottles"), std::string::npos);

  const std::string viewer = daemon_.CreateToken("lead", "viewer");
  HttpReply sweeps = Get("/api/v1/sweeps", viewer);
  ASSERT_EQ(sweeps.status, 200) << sweeps.body;
  auto list = nlohmann::json::parse(sweeps.body);
  ASSERT_EQ(list["sweeps"].size(), 1u);
  EXPECT_EQ(list["sweeps"][0]["id"], "1") << "int64 in protobuf's JSON mapping is a string";
  EXPECT_EQ(list["sweeps"][0]["counts"]["jobsTotal"], 21);

  HttpReply sweep = Get("/api/v1/sweeps/1", viewer);
  ASSERT_EQ(sweep.status, 200);
  auto detail = nlohmann::json::parse(sweep.body);
  EXPECT_EQ(detail["runs"].size(), 18u);
  EXPECT_EQ(detail["jobs"].size(), 21u);
  EXPECT_EQ(nlohmann::json::parse(Get("/api/v1/whoami", viewer).body)["principal"], "lead");
  EXPECT_EQ(Get("/api/v1/sweeps/1/estimates", viewer).status, 200);
  EXPECT_EQ(Get("/api/v1/sweeps/1/results", viewer).status, 200);
  EXPECT_EQ(Get("/api/v1/workers", viewer).status, 200);

  // Roles that may not read sweeps: a worker; an operator, who evaluates
  // blind and must never see a mixture.
  for (const char* role : {"worker", "operator"}) {
    HttpReply refused = Get("/api/v1/sweeps/1", daemon_.CreateToken(role, role));
    EXPECT_EQ(refused.status, 403) << role;
    EXPECT_EQ(nlohmann::json::parse(refused.body)["code"], "PERMISSION_DENIED") << role;
    EXPECT_EQ(refused.body.find("nNt"), std::string::npos) << role;
  }
  EXPECT_EQ(Get("/api/v1/sweeps", "/dev/null").status, 401) << "an empty bearer token";

  // A revoked token stops working at once.
  const int64_t id = SqlCount(dsn_, "SELECT id FROM api_tokens WHERE principal = 'lead'");
  ASSERT_EQ(daemon_.Cli({"token", "revoke", std::to_string(id)}).exit_code, 0);
  EXPECT_EQ(Get("/api/v1/sweeps", viewer).status, 401);
}

TEST_F(DashboardGatewayE2E, BadRequestsGetClearErrorsAndThePageOnlyItsOwnFiles) {
  const std::string viewer = daemon_.CreateToken("lead", "viewer");
  HttpReply missing = Get("/api/v1/sweeps/42", viewer);
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(nlohmann::json::parse(missing.body)["message"].get<std::string>(),
              HasSubstr("42"));
  HttpReply bad = Get("/api/v1/sweeps/1/recommendation?budget_hours=-3", viewer);
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(nlohmann::json::parse(bad.body)["message"].get<std::string>(),
              HasSubstr("budget_hours"));
  EXPECT_EQ(Get("/api/v1/sweeps/x", viewer).status, 400);
  for (const char* target : {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/index.html/.."}) {
    EXPECT_EQ(Get(target).status, 404) << target;
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    auto reply = HttpRequest(daemon_.dashboard_port(), "/api/v1/sweeps", {}, method);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 405) << method;
  }
  // An oversized header ends the connection; the server stays up.
  auto huge = HttpRequest(daemon_.dashboard_port(), "/", {{"X-Pad", std::string(64 * 1024, 'a')}});
  EXPECT_TRUE(!huge.ok() || huge->status >= 400);

  HttpReply page = Get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["Content-Type"], HasSubstr("text/html"));
  EXPECT_THAT(page.headers["Content-Security-Policy"], HasSubstr("script-src 'self'"));
  EXPECT_EQ(page.headers["X-Content-Type-Options"], "nosniff");
  EXPECT_THAT(page.body, HasSubstr("/app.js"));
  for (const char* asset : {"/app.js", "/plot.js", "/style.css"}) {
    HttpReply file = Get(asset);
    EXPECT_EQ(file.status, 200) << asset;
    EXPECT_FALSE(file.body.empty()) << asset;
  }
}

TEST_F(DashboardGatewayE2E, MetricsCountEachRpcOnceRefusalsIncludedAndEveryNameIsPrefixed) {
  auto refused = v1::SweepService::NewStub(
      grpc::CreateChannel(daemon_.address(), grpc::InsecureChannelCredentials()));
  auto admin = v1::SweepService::NewStub(daemon_.Channel());
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    v1::ListSweepsResponse response;
    ASSERT_EQ(refused->ListSweeps(&context, v1::ListSweepsRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    v1::GetSweepRequest request;
    request.set_sweep_id(77);
    v1::GetSweepResponse response;
    ASSERT_EQ(admin->GetSweep(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  auto scrape = HttpRequest(daemon_.metrics_port(), "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  ASSERT_EQ(scrape->status, 200);
  EXPECT_THAT(scrape->headers["Content-Type"], HasSubstr("text/plain; version=0.0.4"));
  const std::string& text = scrape->body;
  EXPECT_EQ(Sample(text, "mixsweep_grpc_requests_total{code=\"UNAUTHENTICATED\",method=\""
                         "ListSweeps\",service=\"SweepService\"}"),
            "3");
  EXPECT_EQ(Sample(text, "mixsweep_grpc_requests_total{code=\"NOT_FOUND\",method=\"GetSweep\","
                         "service=\"SweepService\"}"),
            "2");
  EXPECT_EQ(Sample(text, "mixsweep_grpc_request_duration_seconds_count{code=\"NOT_FOUND\","
                         "method=\"GetSweep\",service=\"SweepService\"}"),
            "2");
  EXPECT_EQ(Sample(text, "mixsweep_database_up"), "1");
  EXPECT_EQ(Sample(text, "mixsweep_sweeps{state=\"active\"}"), "0");
  EXPECT_NE(Sample(text, "mixsweep_db_transaction_duration_seconds_count{outcome=\"committed\"}"),
            "0");
  // Every series is named mixsweep_*, and has a HELP and a TYPE.
  const std::regex sample_line(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? \S+$)");
  int samples = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      EXPECT_TRUE(absl::StartsWith(line.substr(7), "mixsweep_")) << line;
      continue;
    }
    std::cmatch match;
    ASSERT_TRUE(std::regex_match(line.begin(), line.end(), match, sample_line)) << line;
    EXPECT_TRUE(absl::StartsWith(match[1].str(), "mixsweep_")) << line;
    ++samples;
  }
  EXPECT_GT(samples, 100);
  EXPECT_EQ(HttpRequest(daemon_.metrics_port(), "/other")->status, 404);
}

TEST(DashboardOpenE2E, AnOpenDashboardServesReadsWithoutAToken) {
  Daemon daemon = Daemon::Start(
      {.database = CreateTestDatabase(), .dashboard = true, .dashboard_open = true});
  auto session = HttpRequest(daemon.dashboard_port(), "/api/v1/session");
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(nlohmann::json::parse(session->body)["open"], true);
  auto sweeps = HttpRequest(daemon.dashboard_port(), "/api/v1/sweeps");
  ASSERT_TRUE(sweeps.ok());
  EXPECT_EQ(sweeps->status, 200) << sweeps->body;
  // Open is read-only all the same: the gateway has no write route at all.
  EXPECT_EQ(HttpRequest(daemon.dashboard_port(), "/api/v1/sweeps", {}, "POST")->status, 405);
}

TEST(DashboardListenE2E, ATokenDashboardOffLoopbackIsRefusedAtStart) {
  CommandResult refused = RunCommand(
      {MIXSWEEPD_BIN, "--database", "host=/nonexistent", "--dashboard-listen", "0.0.0.0:0"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("--dashboard-listen 0.0.0.0:0"));
  EXPECT_THAT(refused.err, HasSubstr("--dashboard-open"));
}

}  // namespace
}  // namespace mixsweep::testing
