// The web dashboard in a real browser: mixsweepd serves it (token mode, then
// open mode on the same database), two synthetic workers and the synthetic
// lab complete the Pick Dual Bottles sweep, and headless Chromium, driven by
// tests/browser/dashboard_check.py (Selenium), checks the page against the
// estimates read over gRPC: the token form without a token, the refusal of a
// wrong token, the token taken from the URL fragment, the plots' points,
// fit lines and N_eq arrows, the eta table's values, intervals and signs,
// the grid of runs, the budget recommendation, and an update that appears by
// itself after a trial is corrected. Screenshots are kept as test artifacts
// in $MIXSWEEP_TEST_ARTIFACTS/dashboard/ (default: ./artifacts/dashboard/,
// i.e. build/tests/artifacts/dashboard/ under ctest).
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/synthetic_lab.h"
#include "tests/support/worker_process.h"


namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kChromedriver[] = "/usr/bin/chromedriver";

std::string CheckScript() {
  return std::string(MIXSWEEP_SOURCE_DIR) + "/tests/browser/dashboard_check.py";
}

// Where the screenshots go: $MIXSWEEP_TEST_ARTIFACTS/dashboard, else
// ./artifacts/dashboard (ctest runs in build/tests).
std::string ArtifactDir() {
  const char* env = std::getenv("MIXSWEEP_TEST_ARTIFACTS");
  fs::path dir = env != nullptr && *env != '\0' ? fs::path(env) : fs::current_path() / "artifacts";
  dir /= "dashboard";
  fs::create_directories(dir);
  return fs::absolute(dir).string();
}

bool HasInterval(const v1::EtaInterval& iv) {
  return iv.resamples() > 0 || iv.shape() != v1::EtaInterval::SHAPE_UNSPECIFIED ||
         iv.sign_established() || iv.split();
}

// One row of the page's eta table, as dashboard_check.py compares it.
json EtaRow(const v1::Estimate& e, const std::string& kind, int64_t n_tele, int64_t n_nt,
            const v1::Eta& eta, bool has_interval_message, const v1::EtaInterval& iv) {
  const bool has = has_interval_message && HasInterval(iv);
  json row = {{"scenario", e.scenario()},
              {"source", e.source()},
              {"kind", kind},
              {"n_tele", n_tele},
              {"n_nt", n_nt},
              {"status", v1::Eta::Status_Name(eta.status())},
              {"value", nullptr},
              {"sign", has ? (iv.sign_established() ? "yes" : "no") : ""},
              {"shape", has ? v1::EtaInterval::Shape_Name(iv.shape()) : ""}};
  if (eta.status() == v1::Eta::STATUS_DEFINED) row["value"] = eta.value();
  if (has && iv.shape() == v1::EtaInterval::SHAPE_BOUNDED) {
    row["lower"] = iv.eta().lower();
    row["upper"] = iv.eta().upper();
  } else if (has) {
    row["split_below"] = iv.split_at_or_below();
    row["split_above"] = iv.split_at_or_above();
  }
  return row;
}

bool Drawable(double s) { return std::isfinite(s) && s > 0; }

// What the page must show for these estimates: per plot the points it can
// draw on log axes (S > 0), its fit line and its N_eq arrows with their
// signs; the eta table's rows.
json Expectations(const v1::GetEstimatesResponse& estimates) {
  json plots = json::array();
  json rows = json::array();
  for (const v1::Estimate& e : estimates.estimates()) {
    int teleop = 0;
    for (const v1::CurvePoint& p : e.teleop_curve()) teleop += Drawable(p.mean_s()) ? 1 : 0;
    int mixed = 0;
    int arrows = 0;
    std::map<std::string, int> signs = {{"positive", 0}, {"negative", 0}, {"undefined", 0}};
    const v1::PowerLawFit& fit = e.fit();
    for (const v1::CurvePoint& p : e.mixed_curve()) {
      if (!Drawable(p.mean_s())) continue;
      ++mixed;
      for (const v1::GlobalEta& g : e.global()) {
        if (g.n_tele() != p.n_tele() || g.n_nt() != p.n_nt()) continue;
        const double n_eq = g.n_eq();
        if (!(fit.defined() && fit.beta() > 0 && std::isfinite(n_eq) && n_eq > 0 &&
              n_eq != static_cast<double>(g.n_tele()))) {
          continue;
        }
        ++arrows;
        const bool defined = g.eta().status() == v1::Eta::STATUS_DEFINED && g.eta().value() != 0;
        ++signs[!defined ? "undefined" : g.eta().value() > 0 ? "positive" : "negative"];
      }
    }
    const bool fit_line =
        fit.defined() && fit.alpha() > 0 && std::isfinite(fit.beta()) && teleop > 0;
    plots.push_back({{"scenario", e.scenario()},
                     {"source", e.source()},
                     {"teleop_points", teleop},
                     {"mixed_points", mixed},
                     {"arrows", arrows},
                     {"arrow_signs", signs},
                     {"fit_lines", fit_line ? 1 : 0},
                     {"left_out", (e.teleop_curve_size() - teleop) + (e.mixed_curve_size() - mixed)}});
    for (const v1::LocalEta& l : e.local()) {
      rows.push_back(EtaRow(e, "local", l.n_t_star(), l.n_nt(), l.eta(), l.has_interval(),
                            l.interval()));
    }
    for (const v1::GlobalEta& g : e.global()) {
      rows.push_back(EtaRow(e, "global", g.n_tele(), g.n_nt(), g.eta(), g.has_interval(),
                            g.interval()));
    }
  }
  return {{"plots", plots}, {"eta_rows", rows}};
}

v1::GetEstimatesResponse GetEstimates(const std::shared_ptr<grpc::Channel>& channel,
                                      int64_t sweep_id) {
  auto stub = v1::UtilizationService::NewStub(channel);
  grpc::ClientContext context;
  v1::GetEstimatesRequest request;
  request.set_sweep_id(sweep_id);
  v1::GetEstimatesResponse response;
  grpc::Status status = stub->GetEstimates(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

int64_t VersionOf(const v1::GetEstimatesResponse& estimates, const std::string& scenario) {
  for (const v1::Estimate& e : estimates.estimates()) {
    if (e.scenario() == scenario) return e.version();
  }
  return 0;
}

void WriteJson(const std::string& path, const json& value) {
  std::ofstream(path) << value.dump(2) << "\n";
}

// A PNG of some substance: the signature, and more than a blank page weighs.
void ExpectScreenshot(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << "no screenshot at " << path;
  std::string head(8, '\0');
  in.read(head.data(), 8);
  EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8)) << path << " is not a PNG";
  EXPECT_GT(fs::file_size(path), 20000u) << path << " is too small to show the dashboard";
  std::cout << "[ artifact ] " << path << " (" << fs::file_size(path) << " bytes)\n";
}

struct CheckRun {
  int exit_code = -1;
  std::string log;
};

std::vector<std::string> CheckArgs(int port, int64_t sweep_id, const std::string& mode,
                                   const std::string& expect, const std::string& screenshot) {
  return {kPython,  CheckScript(), "--url",
          "http://127.0.0.1:" + std::to_string(port) + "/#/sweeps/" + std::to_string(sweep_id),
          "--mode", mode,          "--expect",
          expect,   "--screenshot", screenshot};
}

// Waits for the script; on a hang, SIGTERM (it quits the browser) then SIGKILL.
CheckRun Finish(Process& process, const std::string& log_path) {
  CheckRun run;
  int status = process.Wait(std::chrono::seconds(300));
  if (status == -1) {
    process.Kill(SIGTERM);
    status = process.Wait(std::chrono::seconds(30));
  }
  run.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.log = ReadFile(log_path);
  std::cout << run.log;
  return run;
}

TEST(DashboardE2E, BrowserShowsTheSweepAndItsEtaTableAndUpdatesByItself) {
  for (const char* path : {kPython, kChromium, kChromedriver}) {
    ASSERT_TRUE(fs::exists(path)) << path << " is missing: scripts/install-deps.sh installs "
                                  << "chromium, chromium-driver and python3-selenium";
  }
  const std::string dsn = CreateTestDatabase();
  const std::string artifacts_root = MakeTempDir("artifacts");
  const std::vector<std::string> daemon_args = {
      "--artifact-root", "file://" + artifacts_root, "--estimate-resamples", "200",
      "--recompute-interval-seconds", "0.5"};
  Daemon daemon =
      Daemon::Start({.database = dsn, .extra_args = daemon_args, .dashboard = true});
  ASSERT_GT(daemon.dashboard_port(), 0) << daemon.LogTail();

  CommandResult submitted = daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  const int64_t sweep_id = 1;
  std::vector<WorkerProcess> workers;
  for (const char* name : {"w1", "w2"}) {
    workers.push_back(WorkerProcess::Start(daemon, name,
        {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000"}));
  }
  const std::string lab_log = MakeTempDir("lab") + "/lab.log";
  Process lab = StartSyntheticLab(daemon, {.log = lab_log, .exit_when_idle_seconds = 3});
  // 18 runs x 3 scenarios, every evaluation complete, every estimate fresh.
  ASSERT_TRUE(WaitForEvaluations(daemon, dsn, 54, lab_log));
  EXPECT_EQ(lab.Wait(), 0) << FileTail(lab_log);
  for (WorkerProcess& w : workers) w.Kill(SIGKILL);

  auto channel = daemon.Channel();
  v1::GetEstimatesResponse estimates = GetEstimates(channel, sweep_id);
  ASSERT_EQ(estimates.estimates_size(), 3) << "one per scenario of the one source";
  json expect = Expectations(estimates);
  expect["run_cells"] = 18;
  expect["run_cells_scored"] = 18;
  expect["run_state"] = "evaluated";
  {
    auto utilization = v1::UtilizationService::NewStub(channel);
    grpc::ClientContext context;
    v1::RecommendMixRequest request;
    request.set_sweep_id(sweep_id);
    request.set_scenario("in_domain");
    request.set_source("sim");
    request.set_budget_hours(4);
    v1::Recommendation recommendation;
    grpc::Status status = utilization->RecommendMix(&context, request, &recommendation);
    ASSERT_TRUE(status.ok()) << status.error_message();
    expect["recommendation"] = {{"scenario", "in_domain"},
                                {"source", "sim"},
                                {"budget_hours", 4},
                                {"n_tele", recommendation.n_tele()},
                                {"n_nt", recommendation.n_nt()},
                                {"predicted_s", recommendation.predicted_s()}};
  }
  const std::string work = MakeTempDir("dashboard-check");
  WriteJson(work + "/expect.json", expect);
  const std::string shots = ArtifactDir();
  std::cout << "[ artifacts] screenshots in " << shots << "\n";

  // Token mode, with a viewer's token; the test corrects a trial while the
  // page is open and the page must show the new estimates by itself.
  {
    const std::string viewer = daemon.CreateToken("lab-lead", "viewer");
    const std::string handshake = work + "/handshake";
    fs::create_directories(handshake);
    std::vector<std::string> args = CheckArgs(daemon.dashboard_port(), sweep_id, "token",
                                              work + "/expect.json", shots + "/dashboard.png");
    args.insert(args.end(), {"--token-file", viewer, "--handshake-dir", handshake});
    const std::string log_path = work + "/check-token.log";
    Process check = Process::Start(args, log_path);
    ASSERT_TRUE(WaitUntil([&] { return fs::exists(handshake + "/ready") || !check.running(); },
                          240s));
    if (fs::exists(handshake + "/ready")) {
      // Trial 0 of the 50-demo teleop-only run, seed 0, in_domain: both
      // bottles lifted if it was less, else nothing.
      auto evaluation = v1::EvaluationService::NewStub(channel);
      v1::ListResultsResponse results;
      {
        grpc::ClientContext context;
        v1::ListResultsRequest request;
        request.set_sweep_id(sweep_id);
        request.set_scenario("in_domain");
        request.set_include_trials(true);
        ASSERT_TRUE(evaluation->ListResults(&context, request, &results).ok());
      }
      const v1::Trial* trial = nullptr;
      for (const v1::ScenarioResult& r : results.results()) {
        if (r.n_tele() == 50 && r.n_nt() == 0 && r.seed() == 0 && r.trials_size() > 0) {
          trial = &r.trials(0);
        }
      }
      ASSERT_NE(trial, nullptr);
      const int64_t version_before = VersionOf(GetEstimates(channel, sweep_id), "in_domain");
      {
        grpc::ClientContext context;
        v1::CorrectTrialRequest request;
        request.set_trial_id(trial->id());
        *request.mutable_corrected() = trial->input();
        request.mutable_corrected()->clear_achieved();
        if (trial->score() < 1.0) request.mutable_corrected()->add_achieved("both_bottles_lifted");
        request.set_reason("dashboard test: a misread trial");
        v1::Trial corrected;
        grpc::Status status = evaluation->CorrectTrial(&context, request, &corrected);
        ASSERT_TRUE(status.ok()) << status.error_message();
      }
      v1::GetEstimatesResponse after;
      ASSERT_TRUE(WaitUntil(
          [&] {
            after = GetEstimates(channel, sweep_id);
            return VersionOf(after, "in_domain") > version_before &&
                   QueryInt(dsn, "SELECT count(*) FROM stale_estimates") == 0;
          },
          60s));
      after = GetEstimates(channel, sweep_id);
      WriteJson(handshake + "/expect-after.json", Expectations(after));
      std::ofstream(handshake + "/go") << "go\n";
    }
    CheckRun run = Finish(check, log_path);
    EXPECT_EQ(run.exit_code, 0) << "dashboard_check.py (token mode) failed; its log is above; "
                                << "screenshots in " << shots << "\ndaemon log:\n"
                                << daemon.LogTail();
    ExpectScreenshot(shots + "/dashboard.png");
    ExpectScreenshot(shots + "/dashboard-token-form.png");
  }

  // Open mode: the same database behind a dashboard that asks for no token.
  daemon.Kill(SIGTERM);
  daemon.Wait();
  Daemon open = Daemon::Start({.database = dsn,
                               .extra_args = daemon_args,
                               .token_file = daemon.token_file(),
                               .dashboard = true,
                               .dashboard_open = true});
  ASSERT_GT(open.dashboard_port(), 0) << open.LogTail();
  {
    json open_expect = Expectations(GetEstimates(open.Channel(), sweep_id));
    open_expect["run_cells"] = 18;
    WriteJson(work + "/expect-open.json", open_expect);
    const std::string log_path = work + "/check-open.log";
    Process check = Process::Start(CheckArgs(open.dashboard_port(), sweep_id, "open",
                                             work + "/expect-open.json",
                                             shots + "/dashboard-open.png"),
                                   log_path);
    CheckRun run = Finish(check, log_path);
    EXPECT_EQ(run.exit_code, 0) << "dashboard_check.py (open mode) failed; its log is above\n"
                                << open.LogTail();
    ExpectScreenshot(shots + "/dashboard-open.png");
  }
}

}  // namespace
}  // namespace mixsweep::testing

namespace mixsweep::testing {
namespace {

// Seed 001 on the dashboard: a scaling sweep whose source is generated and
// whose scenario is evaluated in simulation, run by a synthetic worker (it
// writes MimicGen summaries and lerobot result files), shown in a real
// browser by tests/browser/simulation_check.py against the gRPC API.
constexpr char kSyntheticScalingSpec[] = R"yaml(version: 1
name: dashboard-scaling
design: scaling
task:
  name: can_sort
  rubric:
    milestones:
      - {name: success, score: 1}
policy: diffusion_policy
sources:
  - name: mimicgen
    kind: simulation
    generate:
      from: {uri: "file:///data/source/can_sort_human10.hdf5", episodes: 10}
      demos: 400
      command:
        argv: [generate_dataset, "--source={dataset}", "--n={n_demos}", "--out={output_dir}"]
        checkpoint: "{output_dir}/demo.hdf5"
    n_nt: [100, 200, 400]
seeds: [0, 1]
protocol:
  total_steps: 2000
evaluation:
  trials_per_scenario: 10
  aggregation: max_over_checkpoints
  checkpoints:
    every_steps: 1000
  scenarios:
    - name: sim_d0
      evaluator: simulation
      command:
        argv: [lerobot-eval, "--policy.path={checkpoint}", "--eval.n_episodes={n_episodes}",
               "--seed={seed}", "--output_dir={output_dir}"]
        result_format: lerobot
templates:
  train:
    argv: [train, "--data={dataset}", "--steps={steps}", "--out={output_dir}"]
    checkpoint: "{output_dir}/last.ckpt"
    checkpoint_at_step: "{output_dir}/step_{step}.ckpt"
resources:
  gpus: 1
)yaml";

std::string SimulationCheckScript() {
  return std::string(MIXSWEEP_SOURCE_DIR) + "/tests/browser/simulation_check.py";
}

TEST(DashboardE2E, ScalingSweepShowsGeneratedDataSimulationResultsAndMarginalGains) {
  for (const char* path : {kPython, kChromium, kChromedriver}) {
    ASSERT_TRUE(fs::exists(path)) << path << " is missing: scripts/install-deps.sh installs it";
  }
  const std::string dsn = CreateTestDatabase();
  Daemon daemon = Daemon::Start(
      {.database = dsn,
       .extra_args = {"--artifact-root", "file://" + MakeTempDir("artifacts"),
                      "--estimate-resamples", "200", "--recompute-interval-seconds", "0.5"},
       .dashboard = true,
       .dashboard_open = true});
  ASSERT_GT(daemon.dashboard_port(), 0) << daemon.LogTail();
  CommandResult submitted = daemon.Cli({"sweep", "submit", WriteSpec(kSyntheticScalingSpec)});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  WorkerProcess worker = WorkerProcess::Start(
      daemon, "synthetic",
      {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000"});

  // 3 N x 2 seeds x 2 checkpoints x 10 episodes, all in the estimate.
  auto utilization = v1::UtilizationService::NewStub(daemon.Channel());
  v1::GetEstimatesResponse estimates;
  ASSERT_TRUE(WaitUntil(
      [&] {
        grpc::ClientContext context;
        v1::GetEstimatesRequest request;
        request.set_sweep_id(1);
        estimates.Clear();
        return utilization->GetEstimates(&context, request, &estimates).ok() &&
               estimates.estimates_size() == 1 && estimates.estimates(0).trial_count() == 120;
      },
      120s))
      << estimates.DebugString() << daemon.LogTail() << worker.LogTail();
  const v1::Estimate& e = estimates.estimates(0);
  ASSERT_TRUE(e.scaling());
  json expect = {{"sources", {{"mimicgen", true}}},
                 {"scenario_evaluators", {"simulation"}},
                 {"results_by_evaluator", {{"simulation", 12}}},
                 {"gains", json::array()}};
  for (const v1::MarginalGain& g : e.marginal_gains()) {
    expect["gains"].push_back(
        {{"n_from", g.n_from()}, {"n_to", g.n_to()}, {"gain", g.gain_per_demo()}});
  }
  ASSERT_EQ(expect["gains"].size(), 2u);

  const std::string work = MakeTempDir("simulation-check");
  WriteJson(work + "/expect.json", expect);
  const std::string shot = ArtifactDir() + "/dashboard-scaling.png";
  const std::string log_path = work + "/check.log";
  Process check = Process::Start(
      {kPython, SimulationCheckScript(), "--url",
       "http://127.0.0.1:" + std::to_string(daemon.dashboard_port()) + "/#/sweeps/1",
       "--expect", work + "/expect.json", "--screenshot", shot},
      log_path);
  CheckRun run = Finish(check, log_path);
  EXPECT_EQ(run.exit_code, 0) << "simulation_check.py failed; its log is above\n"
                              << daemon.LogTail();
  ExpectScreenshot(shot);
}

}  // namespace
}  // namespace mixsweep::testing
