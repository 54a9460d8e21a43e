// End to end, seed 001's protocol with the real binaries: a scaling sweep
// (one generated source, N in {50, 100, 200, 400}, two seeds, no teleop)
// whose demos a MimicGen-style generator makes first
// (tests/e2e/data/fake_mimicgen.py: progress lines and important_stats.json),
// trained by tests/e2e/data/fake_train.sh with an intermediate checkpoint,
// each checkpoint evaluated in simulation by a lerobot-style evaluator
// (tests/e2e/data/fake_lerobot_eval.py writing eval_info.json), all run by a
// real mixsweep-worker against a real mixsweepd on a real PostgreSQL.
//
// The figures read back over gRPC (the measured generation cost, the
// scaling fit and the marginal gains) are compared with a computation made
// here from the files the scripts wrote, not from the database.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace v1 = mixsweep::v1;
using namespace std::chrono_literals;

const std::string kData = std::string(MIXSWEEP_SOURCE_DIR) + "/tests/e2e/data/";
constexpr int kEpisodes = 20;

struct TestServer {
  std::string dsn;
  std::string artifacts;
  Daemon daemon;
};

TestServer StartServer() {
  TestServer s;
  s.dsn = CreateTestDatabase();
  s.artifacts = MakeTempDir("artifacts");
  s.daemon = Daemon::Start(
      {.database = s.dsn, .extra_args = {"--artifact-root", "file://" + s.artifacts}});
  return s;
}

std::string JobStates(const std::string& dsn) {
  std::ostringstream out;
  for (const auto& row : Query(dsn,
                               "SELECT id, kind, key, state, attempts, "
                               "coalesce(failure::text, '') FROM jobs ORDER BY id")) {
    out << "job " << row[0].as<int64_t>() << " " << row[1].as<std::string>() << " "
        << row[2].as<std::string>() << " " << row[3].as<std::string>() << " attempts "
        << row[4].as<int>() << " " << row[5].as<std::string>() << "\n";
  }
  return out.str();
}

bool WaitForAllJobsToEnd(const std::string& dsn) {
  return WaitUntil(
      [&] {
        return QueryInt(dsn, "SELECT count(*) FROM jobs WHERE state NOT IN "
                             "('succeeded', 'failed', 'cancelled')") == 0 &&
               QueryInt(dsn, "SELECT count(*) FROM jobs") > 0;
      },
      180s);
}

// The training command: fake_train.sh keeping the checkpoint of every 1000
// steps as checkpoint_at_step asks.
std::string TrainTemplate() {
  return "templates:\n"
         "  train:\n"
         "    argv: [/bin/bash, \"" + kData + "fake_train.sh\", \"--dataset={dataset}\",\n"
         "           \"--steps={steps}\", \"--out={output_dir}\", \"--manifest={subset_manifest}\",\n"
         "           \"--every=1000\"]\n"
         "    checkpoint: \"{output_dir}/checkpoints/last.ckpt\"\n"
         "    checkpoint_at_step: \"{output_dir}/checkpoints/step_{step}.ckpt\"\n"
         "    no_retry_exit_codes: [2]\n"
         "resources:\n"
         "  gpus: 0\n";
}

// A simulation scenario running fake_lerobot_eval.py with `extra` arguments.
std::string SimulationScenario(const std::string& name, const std::string& extra) {
  return "    - name: " + name + "\n"
         "      evaluator: simulation\n"
         "      seed: 1000\n"
         "      command:\n"
         "        argv: [python3, \"" + kData + "fake_lerobot_eval.py\",\n"
         "               \"--checkpoint={checkpoint}\", \"--n={n_episodes}\", \"--seed={seed}\",\n"
         "               \"--out={output_dir}\"" + extra + "]\n"
         "        result_format: lerobot\n";
}

// The start of a scaling sweep's spec on a one-milestone task.
std::string ScalingHeader(const std::string& name, int max_attempts) {
  return "version: 1\n"
         "name: " + name + "\n"
         "design: scaling\n"
         "task:\n"
         "  name: can_sort\n"
         "  rubric:\n"
         "    milestones:\n"
         "      - {name: success, score: 1}\n"
         "policy: diffusion_policy\n"
         "max_attempts: " + std::to_string(max_attempts) + "\n";
}

std::string ScalingSpec(int max_attempts = 3, int64_t baseline_from_sweep = 0) {
  return ScalingHeader("generated-scaling", max_attempts) +
         (baseline_from_sweep > 0
              ? "baseline_from_sweep: " + std::to_string(baseline_from_sweep) + "\n"
              : std::string()) +
         "sources:\n"
         "  - name: mimicgen\n"
         "    kind: simulation\n"
         "    generate:\n"
         "      from: {uri: \"file:///data/source/can_sort_human10.hdf5\", episodes: 10}\n"
         "      demos: 400\n"
         "      command:\n"
         "        argv: [python3, \"" + kData + "fake_mimicgen.py\", \"--source={dataset}\",\n"
         "               \"--n={n_demos}\", \"--out={output_dir}\"]\n"
         "        checkpoint: \"{output_dir}/demo.hdf5\"\n"
         "    n_nt: [50, 100, 200, 400]\n"
         "seeds: [0, 1]\n"
         "protocol:\n"
         "  total_steps: 2000\n"
         "evaluation:\n"
         "  trials_per_scenario: " + std::to_string(kEpisodes) + "\n"
         "  aggregation: max_over_checkpoints\n"
         "  checkpoints:\n"
         "    every_steps: 1000\n"
         "  scenarios:\n" +
         SimulationScenario("sim_d0", "") + TrainTemplate();
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

std::string PathOf(const std::string& uri) {
  return uri.starts_with("file://") ? uri.substr(7) : uri;
}

// OLS of log S on log N, as seed 000's fit (the test's own arithmetic).
std::pair<double, double> FitPowerLaw(const std::map<int64_t, double>& points) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [n, s] : points) {
    const double x = std::log(static_cast<double>(n)), y = std::log(s);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double k = static_cast<double>(points.size());
  const double beta = (k * sxy - sx * sy) / (k * sxx - sx * sx);
  return {std::exp((sy - beta * sx) / k), beta};
}

// Each point's S over seeds, computed from the evaluate jobs' result files
// of `sweep_id` (not from the database's trials): per (N, seed) the best
// checkpoint's success rate, then the mean over seeds. N is N_nt, or
// N_tele for teleop-only runs.
struct HandCurve {
  std::map<int64_t, std::vector<double>> seeds_by_n;
  std::map<int64_t, double> mean_by_n;
};
HandCurve CurveFromResultFiles(const std::string& dsn, int64_t sweep_id) {
  std::map<std::pair<int64_t, int64_t>, double> best;  // (n, seed)
  for (const auto& job : Query(dsn,
                               "SELECT j.checkpoint_uri, CASE WHEN r.n_nt > 0 THEN r.n_nt "
                               "ELSE r.n_tele END, r.seed FROM jobs j JOIN evaluation_requests q "
                               "ON q.id = j.evaluation_request_id JOIN runs r ON r.id = q.run_id "
                               "WHERE j.kind = 'evaluate' AND j.sweep_id = " +
                                   std::to_string(sweep_id))) {
    const json info = ReadJson(PathOf(job[0].as<std::string>()));
    int successes = 0;
    for (const json& episode : info["per_episode"]) successes += episode["success"].get<bool>();
    double& s = best[{job[1].as<int64_t>(), job[2].as<int64_t>()}];
    s = std::max(s, static_cast<double>(successes) / info["per_episode"].size());
  }
  HandCurve curve;
  for (const auto& [point, s] : best) curve.seeds_by_n[point.first].push_back(s);
  for (const auto& [n, values] : curve.seeds_by_n) {
    double sum = 0;
    for (double v : values) sum += v;
    curve.mean_by_n[n] = sum / values.size();
  }
  return curve;
}

// The sweep's one estimate, once it counts `trials` trials.
v1::Estimate WaitForEstimate(const Daemon& daemon, int64_t sweep_id, int trials) {
  auto utilization = v1::UtilizationService::NewStub(daemon.Channel());
  v1::GetEstimatesResponse estimates;
  EXPECT_TRUE(WaitUntil(
      [&] {
        grpc::ClientContext context;
        v1::GetEstimatesRequest request;
        request.set_sweep_id(sweep_id);
        estimates.Clear();
        return utilization->GetEstimates(&context, request, &estimates).ok() &&
               estimates.estimates_size() == 1 &&
               estimates.estimates(0).trial_count() == trials;
      },
      60s))
      << estimates.DebugString();
  return estimates.estimates_size() == 1 ? estimates.estimates(0) : v1::Estimate();
}

TEST(SimulationE2E, GeneratedScalingSweepEvaluatedInSimulationMatchesAHandComputation) {
  TestServer s = StartServer();
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(ScalingSpec())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << s.daemon.LogTail();
  const int64_t sweep_id = QueryInt(s.dsn, "SELECT max(id) FROM sweeps");

  WorkerProcess worker =
      WorkerProcess::Start(s.daemon, "sim-worker", {"--gpus", "none", "--cpu-slots", "2"});
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn)) << JobStates(s.dsn) << worker.LogTail();

  // 1 generate, 8 trains (4 N x 2 seeds), 2 checkpoints x 8 runs evaluated.
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM jobs WHERE state = 'succeeded'"), 25)
      << JobStates(s.dsn) << worker.LogTail();
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM jobs WHERE kind = 'generate'"), 1);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM jobs WHERE kind = 'evaluate'"), 16);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM evaluation_requests "
                            "WHERE state = 'complete' AND evaluator = 'simulation'"),
            16);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM sweeps WHERE state = 'completed'"), 1);

  // Every train job read the generated dataset, not the human source demos.
  const std::string generated =
      Query(s.dsn, "SELECT checkpoint_uri FROM jobs WHERE kind = 'generate'")[0][0]
          .as<std::string>();
  for (const auto& row :
       Query(s.dsn, "SELECT checkpoint_uri FROM jobs WHERE kind = 'train'")) {
    const json ckpt = ReadJson(PathOf(row[0].as<std::string>()));
    EXPECT_EQ(ckpt["dataset"], generated) << ckpt.dump();
  }

  // Every episode of every result file is one trial, exactly once, with its
  // success and seed; nothing else is stored.
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM trials"), 16 * kEpisodes);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM trials WHERE NOT simulated"), 0);
  std::map<std::pair<int64_t, int64_t>, std::map<int64_t, double>> s_by_point;  // (n, seed)
  for (const auto& job : Query(s.dsn,
                               "SELECT j.checkpoint_uri, q.id, r.n_nt, r.seed, q.checkpoint_step "
                               "FROM jobs j JOIN evaluation_requests q "
                               "ON q.id = j.evaluation_request_id "
                               "JOIN runs r ON r.id = q.run_id WHERE j.kind = 'evaluate'")) {
    const json info = ReadJson(PathOf(job[0].as<std::string>()));
    const int64_t request = job[1].as<int64_t>();
    const pqxx::result trials =
        Query(s.dsn, "SELECT trial_index, success, score, (episode->>'seed')::bigint "
                     "FROM trials WHERE request_id = " + std::to_string(request) +
                         " ORDER BY trial_index");
    ASSERT_EQ(trials.size(), info["per_episode"].size());
    int successes = 0;
    for (size_t i = 0; i < trials.size(); ++i) {
      const json& episode = info["per_episode"][i];
      EXPECT_EQ(trials[i][0].as<int>(), episode["episode_ix"].get<int>());
      EXPECT_EQ(trials[i][1].as<bool>(), episode["success"].get<bool>());
      EXPECT_EQ(trials[i][2].as<double>(), episode["success"].get<bool>() ? 1.0 : 0.0);
      EXPECT_EQ(trials[i][3].as<int64_t>(), episode["seed"].get<int64_t>());
      successes += episode["success"].get<bool>();
    }
    const double rate = static_cast<double>(successes) / kEpisodes;
    s_by_point[{job[2].as<int64_t>(), job[3].as<int64_t>()}][job[4].as<int64_t>()] = rate;
  }

  // The measured generation cost, over gRPC, against the generator's summary.
  auto sweeps = v1::SweepService::NewStub(s.daemon.Channel());
  v1::GetSweepRequest get;
  get.set_sweep_id(sweep_id);
  v1::GetSweepResponse sweep;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(sweeps->GetSweep(&context, get, &sweep).ok());
  }
  ASSERT_EQ(sweep.sweep().sources_size(), 1);
  const v1::SourceSummary& source = sweep.sweep().sources(0);
  EXPECT_TRUE(source.generated());
  EXPECT_EQ(source.generate_demos(), 400);
  EXPECT_EQ(sweep.sweep().design(), "scaling");
  EXPECT_EQ(sweep.sweep().aggregation(), "max_over_checkpoints");
  const json stats = ReadJson(
      (std::filesystem::path(PathOf(generated)).parent_path() / "important_stats.json").string());
  const v1::GenerationResult& g = source.generation();
  EXPECT_EQ(g.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(g.dataset_uri(), generated);
  EXPECT_EQ(g.num_success(), stats["num_success"].get<int64_t>());
  EXPECT_EQ(g.num_attempts(), stats["num_attempts"].get<int64_t>());
  EXPECT_EQ(g.num_success(), 400);
  EXPECT_EQ(g.num_attempts(), 499);  // every fifth attempt fails: 400 + 99
  EXPECT_DOUBLE_EQ(g.success_rate(), 400.0 / 499);
  EXPECT_GT(g.seconds(), 0.0);
  EXPECT_DOUBLE_EQ(g.measured_cost_per_demo_hours(), g.seconds() / 3600.0 / 400);

  // The CLI shows the generated source and the simulation scenario as such.
  CommandResult show = s.daemon.Cli({"sweep", "show", std::to_string(sweep_id)});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("generated (400 demos"));
  EXPECT_THAT(show.out, HasSubstr("simulation (lerobot, seed 1000)"));
  CommandResult results = s.daemon.Cli({"eval", "results", std::to_string(sweep_id), "--csv"});
  ASSERT_EQ(results.exit_code, 0) << results.err;
  EXPECT_THAT(results.out, HasSubstr("checkpoint_step"));

  // The scaling estimate: S per (N, seed) is the best checkpoint's success
  // rate; mean and population std over seeds; the fit and gains from those.
  for (const auto& [point, by_step] : s_by_point) {
    EXPECT_EQ(by_step.size(), 2u) << "checkpoints 1000 and 2000";
  }
  const HandCurve hand = CurveFromResultFiles(s.dsn, sweep_id);
  const std::map<int64_t, std::vector<double>>& seeds_by_n = hand.seeds_by_n;
  const std::map<int64_t, double>& mean_by_n = hand.mean_by_n;
  const v1::Estimate e = WaitForEstimate(s.daemon, sweep_id, 16 * kEpisodes);
  EXPECT_TRUE(e.scaling());
  EXPECT_TRUE(e.simulated());
  EXPECT_EQ(e.aggregation(), "max_over_checkpoints");
  ASSERT_EQ(e.mixed_curve_size(), 4);
  for (const v1::CurvePoint& p : e.mixed_curve()) {
    SCOPED_TRACE("N = " + std::to_string(p.n_nt()));
    EXPECT_EQ(p.n_tele(), 0);
    EXPECT_EQ(p.n_seeds(), 2);
    EXPECT_NEAR(p.mean_s(), mean_by_n.at(p.n_nt()), 1e-12);
    const std::vector<double>& v = seeds_by_n.at(p.n_nt());
    EXPECT_NEAR(p.std_s(), std::abs(v[0] - v[1]) / 2, 1e-12);
    // The collection cost of a point is its demos at the measured rate.
    EXPECT_NEAR(p.cost_collection_hours(), p.n_nt() * g.measured_cost_per_demo_hours(), 1e-12);
  }
  const auto [alpha, beta] = FitPowerLaw(mean_by_n);
  ASSERT_TRUE(e.source_fit().defined());
  EXPECT_NEAR(e.source_fit().alpha(), alpha, 1e-9);
  EXPECT_NEAR(e.source_fit().beta(), beta, 1e-9);
  ASSERT_EQ(e.marginal_gains_size(), 3);
  auto it = mean_by_n.begin();
  for (const v1::MarginalGain& gain : e.marginal_gains()) {
    const auto [n_from, s_from] = *it++;
    const auto [n_to, s_to] = *it;
    EXPECT_EQ(gain.n_from(), n_from);
    EXPECT_EQ(gain.n_to(), n_to);
    EXPECT_NEAR(gain.gain_per_demo(), (s_to - s_from) / (n_to - n_from), 1e-12);
  }
}

// Seed 000's teleop-only curve of the same task, policy, protocol and
// simulation scenario: N_tele in {50, 100, 200, 400}, two seeds.
std::string TeleopCurveSpec() {
  return "version: 1\n"
         "name: teleop-curve\n"
         "task:\n"
         "  name: can_sort\n"
         "  rubric:\n"
         "    milestones:\n"
         "      - {name: success, score: 1}\n"
         "policy: diffusion_policy\n"
         "teleop:\n"
         "  dataset: {uri: \"file:///data/teleop/can_sort.hdf5\", episodes: 400}\n"
         "  n_tele: [50, 100, 200, 400]\n"
         "sources:\n"
         "  - name: sim\n"
         "    kind: simulation\n"
         "    dataset: {uri: \"file:///data/sim/can_sort.hdf5\", episodes: 1000}\n"
         "    n_nt: [0]\n"
         "seeds: [0, 1]\n"
         "protocol:\n"
         "  total_steps: 2000\n"
         "  pretrain_steps: 1000\n"
         "  finetune_steps: 1000\n"
         "evaluation:\n"
         "  trials_per_scenario: " + std::to_string(kEpisodes) + "\n"
         "  aggregation: max_over_checkpoints\n"
         "  checkpoints:\n"
         "    every_steps: 1000\n"
         "  scenarios:\n" +
         SimulationScenario("sim_d0", "") + TrainTemplate();
}

// Where another sweep of the same task, policy and protocol has a teleop
// curve, each scaling point becomes an exchange rate against it: eta =
// N / N_eq, N_eq the teleop demos that reach the point's S on the teleop
// power law.
TEST(SimulationE2E, ScalingPointsBecomeExchangeRatesAgainstAnotherSweepsTeleopCurve) {
  TestServer s = StartServer();
  WorkerProcess worker =
      WorkerProcess::Start(s.daemon, "sim-worker", {"--gpus", "none", "--cpu-slots", "2"});
  CommandResult teleop = s.daemon.Cli({"sweep", "submit", WriteSpec(TeleopCurveSpec())});
  ASSERT_EQ(teleop.exit_code, 0) << teleop.err << s.daemon.LogTail();
  const int64_t teleop_id = QueryInt(s.dsn, "SELECT max(id) FROM sweeps");
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn)) << JobStates(s.dsn) << worker.LogTail();
  CommandResult scaling =
      s.daemon.Cli({"sweep", "submit", WriteSpec(ScalingSpec(3, teleop_id))});
  ASSERT_EQ(scaling.exit_code, 0) << scaling.err << s.daemon.LogTail();
  const int64_t scaling_id = QueryInt(s.dsn, "SELECT max(id) FROM sweeps");
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn)) << JobStates(s.dsn) << worker.LogTail();
  ASSERT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM jobs WHERE state <> 'succeeded'"), 0)
      << JobStates(s.dsn);

  const HandCurve teleop_curve = CurveFromResultFiles(s.dsn, teleop_id);
  const HandCurve source_curve = CurveFromResultFiles(s.dsn, scaling_id);
  const auto [alpha, beta] = FitPowerLaw(teleop_curve.mean_by_n);
  ASSERT_GT(beta, 0);
  const v1::Estimate e = WaitForEstimate(s.daemon, scaling_id, 2 * 16 * kEpisodes);
  EXPECT_TRUE(e.scaling());
  ASSERT_EQ(e.teleop_curve_size(), 4);
  ASSERT_TRUE(e.fit().defined());
  EXPECT_NEAR(e.fit().alpha(), alpha, 1e-9);
  EXPECT_NEAR(e.fit().beta(), beta, 1e-9);
  ASSERT_EQ(e.global_size(), 4);
  for (const v1::GlobalEta& g : e.global()) {
    SCOPED_TRACE("N = " + std::to_string(g.n_nt()));
    EXPECT_EQ(g.n_tele(), 0);
    const double s_mix = source_curve.mean_by_n.at(g.n_nt());
    EXPECT_NEAR(g.s_mix(), s_mix, 1e-12);
    const double n_eq = std::pow(s_mix / alpha, 1 / beta);
    EXPECT_NEAR(g.n_eq(), n_eq, 1e-6 * n_eq);
    ASSERT_EQ(g.eta().status(), v1::Eta::STATUS_DEFINED);
    EXPECT_NEAR(g.eta().value(), g.n_nt() / n_eq, 1e-6 * g.n_nt() / n_eq);
    EXPECT_TRUE(g.has_interval()) << "a bootstrap interval for each exchange rate";
  }
}

// A bad result or summary file fails its job with a clear reason and
// records nothing: too many episodes, not JSON, a NaN reward, no file, and
// a generator that exits 0 with no summary.
TEST(SimulationE2E, BadResultAndSummaryFilesFailTheirJobsAndRecordNothing) {
  TestServer s = StartServer();
  const std::string spec =
      ScalingHeader("bad-results", /*max_attempts=*/1) +
      "sources:\n"
      "  - name: collected\n"
      "    kind: simulation\n"
      "    dataset: {uri: \"file:///data/sim/can_sort.hdf5\", episodes: 100}\n"
      "    n_nt: [50]\n"
      "seeds: [0]\n"
      "protocol:\n"
      "  total_steps: 1000\n"
      "evaluation:\n"
      "  trials_per_scenario: 10\n"
      "  scenarios:\n" +
      SimulationScenario("ok_new_layout", ", \"--layout=new\"") +
      SimulationScenario("too_many", ", \"--mode=extra\"") +
      SimulationScenario("malformed", ", \"--mode=malformed\"") +
      SimulationScenario("nan_reward", ", \"--mode=nan\"") +
      SimulationScenario("missing", ", \"--mode=missing\"") + TrainTemplate();
  std::string generator_spec = ScalingSpec(/*max_attempts=*/1);
  generator_spec.replace(generator_spec.find("\"--out={output_dir}\"]"),
                         std::string("\"--out={output_dir}\"]").size(),
                         "\"--out={output_dir}\", \"--mode=no_summary\"]");
  for (const std::string& yaml : {spec, generator_spec}) {
    CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(yaml)});
    ASSERT_EQ(submit.exit_code, 0) << submit.err << s.daemon.LogTail();
  }
  WorkerProcess worker =
      WorkerProcess::Start(s.daemon, "sim-worker", {"--gpus", "none", "--cpu-slots", "2"});
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn)) << JobStates(s.dsn) << worker.LogTail();

  // The good scenario, in lerobot's newer layout: its 10 episodes stored.
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM trials WHERE scenario = 'ok_new_layout'"), 10)
      << JobStates(s.dsn);
  const std::map<std::string, std::string> reasons = {
      {"too_many", "episodes beyond the requested count"},
      {"malformed", "not valid JSON"},
      {"nan_reward", "not a finite number"},
      {"missing", "does not exist"},
  };
  for (const auto& [scenario, reason] : reasons) {
    SCOPED_TRACE(scenario);
    EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM trials WHERE scenario = '" + scenario + "'"),
              0);
    const pqxx::result job =
        Query(s.dsn, "SELECT j.state, j.failure->>'kind', j.failure->>'message', q.state "
                     "FROM jobs j JOIN evaluation_requests q ON q.id = j.evaluation_request_id "
                     "WHERE q.scenario = '" + scenario + "'");
    ASSERT_EQ(job.size(), 1u) << JobStates(s.dsn);
    EXPECT_EQ(job[0][0].as<std::string>(), "failed");
    EXPECT_EQ(job[0][1].as<std::string>(), "bad_result");
    EXPECT_THAT(job[0][2].as<std::string>(), HasSubstr(reason));
    EXPECT_THAT(job[0][2].as<std::string>(), HasSubstr("eval_info.json"));
    // Its request will get no trials: it stops holding the sweep open.
    EXPECT_EQ(job[0][3].as<std::string>(), "cancelled");
  }

  // The generator that exited 0 without its summary: failed, no
  // generation stored, and every train job that needed its demos failed.
  const pqxx::result generate =
      Query(s.dsn, "SELECT state, failure->>'kind', failure->>'message' FROM jobs "
                   "WHERE kind = 'generate'");
  ASSERT_EQ(generate.size(), 1u);
  EXPECT_EQ(generate[0][0].as<std::string>(), "failed");
  EXPECT_EQ(generate[0][1].as<std::string>(), "bad_result");
  EXPECT_THAT(generate[0][2].as<std::string>(), HasSubstr("important_stats.json"));
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM generations"), 0);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM jobs j JOIN jobs g ON g.id = "
                            "j.depends_on_job_id WHERE g.kind = 'generate' AND "
                            "j.state = 'failed' AND j.failure->>'kind' = 'dependency_failed'"),
            8);
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(*) FROM sweeps WHERE state = 'completed'"), 2);
}

}  // namespace
}  // namespace mixsweep::testing
