// The whole loop with the real binaries as separate processes: mixsweepd on
// the test's PostgreSQL, two synthetic workers train the Pick Dual Bottles
// sweep, the synthetic lab evaluates every checkpoint through the
// EvaluationService, and the estimates served over gRPC are checked against
// the engine's computation from scratch on the stored trials. A watch stream
// opened before the first trial must deliver every stored version.
#include <signal.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "scheduler/evaluation/recomputer.h"
#include "services/api/evaluation_convert.h"
#include "tests/support/daemon.h"
#include "tests/support/estimate_watch.h"
#include "tests/support/pg_harness.h"
#include "tests/support/results_inputs.h"
#include "tests/support/spec_files.h"
#include "tests/support/synthetic_lab.h"
#include "tests/support/worker_process.h"

#ifndef MIXSWEEP_LAB_BIN
#error "MIXSWEEP_LAB_BIN must name the mixsweep-lab binary"
#endif

namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
using namespace std::chrono_literals;




TEST(EvaluationE2E, SyntheticLabEvaluatesAndServedEstimatesEqualARecomputationFromScratch) {
  const std::string dsn = CreateTestDatabase();
  const std::string artifacts = MakeTempDir("artifacts");
  Daemon daemon = Daemon::Start(
      {.database = dsn,
       .extra_args = {"--artifact-root", "file://" + artifacts, "--estimate-resamples", "300",
                      "--recompute-interval-seconds", "0.5"}});
  CommandResult submitted = daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  const int64_t sweep_id = 1;

  // Subscribed before any trial exists: it must see every version.
  EstimateWatch watch(daemon.Channel(), sweep_id);

  std::vector<WorkerProcess> workers;
  for (const char* name : {"w1", "w2"}) {
    workers.push_back(WorkerProcess::Start(daemon, name,
        {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000"}));
  }
  const std::string lab_log = MakeTempDir("lab") + "/lab.log";
  Process lab = StartSyntheticLab(daemon, {.log = lab_log});

  // 18 runs x 3 scenarios x 10 trials, every request complete; the
  // recomputer caught up (no stale mark left).
  ASSERT_TRUE(WaitForEvaluations(daemon, dsn, 54, lab_log));
  EXPECT_EQ(lab.Wait(), 0) << FileTail(lab_log);
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM trials"), 540);
  // Trained and evaluated: nothing is left to do, so the sweep completed.
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM sweeps WHERE state = 'completed'"), 1);
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM events WHERE kind = 'sweep.completed'"), 1);

  auto channel = daemon.Channel();
  auto evaluation = v1::EvaluationService::NewStub(channel);
  auto utilization = v1::UtilizationService::NewStub(channel);

  // Every run says it was evaluated, not merely trained.
  {
    grpc::ClientContext context;
    v1::GetSweepRequest request;
    request.set_sweep_id(sweep_id);
    request.set_include_runs(true);
    v1::GetSweepResponse sweep;
    ASSERT_TRUE(v1::SweepService::NewStub(channel)->GetSweep(&context, request, &sweep).ok());
    ASSERT_EQ(sweep.runs_size(), 18);
    for (const auto& run : sweep.runs()) {
      EXPECT_EQ(run.state(), v1::RUN_STATE_EVALUATED);
      // The spec's collection costs (0.02 h per teleop demo, 0.000625 per
      // sim demo), and the GPU-hours the synthetic workers measured.
      EXPECT_NEAR(run.cost_collection_hours(), run.n_tele() * 0.02 + run.n_nt() * 0.000625, 1e-12)
          << run.key();
      EXPECT_GT(run.cost_gpu_hours(), 0) << run.key();
    }
    EXPECT_EQ(sweep.sweep().counts().runs_by_state().at("RUN_STATE_EVALUATED"), 18);
  }

  v1::ListResultsResponse results;
  {
    grpc::ClientContext context;
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep_id);
    request.set_include_trials(true);
    grpc::Status status = evaluation->ListResults(&context, request, &results);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(results.results_size(), 54);

  v1::GetEstimatesResponse served;
  {
    grpc::ClientContext context;
    v1::GetEstimatesRequest request;
    request.set_sweep_id(sweep_id);
    grpc::Status status = utilization->GetEstimates(&context, request, &served);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(served.estimates_size(), 3) << "one per scenario of the one source";

  for (const v1::Estimate& estimate : served.estimates()) {
    SCOPED_TRACE(estimate.scenario());
    EXPECT_EQ(estimate.trial_count(), 180) << "18 runs x 10 trials, teleop-only and sim";
    const utilization::EstimateParams params{.n_t_star = 0,
                                             .resamples = estimate.parameters().resamples(),
                                             .level = estimate.parameters().level()};
    EXPECT_EQ(params.resamples, 300);
    std::vector<evaluation::StoredEstimate> scratch = evaluation::ComputeScenarioEstimates(
        InputsFromResults(results, sweep_id, estimate.scenario()), params);
    ASSERT_EQ(scratch.size(), 1u);
    v1::Estimate expected;
    api::ToProto(scratch.front().estimate, &expected);
    expected.set_trials_digest(scratch.front().trials_digest);

    // Costs come from the sweep's jobs as they are now, not from trials:
    // collection hours by the spec (0.02 h per teleop demo, 0.000625 per
    // sim demo), GPU-hours as the synthetic workers measured them.
    v1::Estimate actual = estimate;
    EXPECT_EQ(actual.source_kind(), v1::SOURCE_KIND_SIMULATION);
    actual.clear_source_kind();
    for (v1::CurvePoint& p : *actual.mutable_teleop_curve()) {
      EXPECT_DOUBLE_EQ(p.cost_collection_hours(), 0.02 * p.n_tele());
      EXPECT_GT(p.cost_gpu_hours(), 0.0);
      EXPECT_GT(p.cost_money(), 0.0) << "prices are given: 40 per collection hour, 2.5 per GPU-hour";
      p.clear_cost_collection_hours(), p.clear_cost_gpu_hours(), p.clear_cost_money();
    }
    for (v1::CurvePoint& p : *actual.mutable_mixed_curve()) {
      EXPECT_DOUBLE_EQ(p.cost_collection_hours(), 0.02 * p.n_tele() + 0.000625 * p.n_nt());
      EXPECT_GT(p.cost_gpu_hours(), 0.0);
      p.clear_cost_collection_hours(), p.clear_cost_gpu_hours(), p.clear_cost_money();
    }
    // Storage adds its own metadata; everything computed must be equal, to
    // the last bit of every double.
    for (v1::Estimate* e : {&actual, &expected}) {
      e->clear_computed_at();
      e->clear_version();
      e->clear_task();
      e->clear_parameters();
    }
    std::string differences;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differ.Compare(expected, actual)) << differences;
    EXPECT_TRUE(estimate.fit().defined());
    ASSERT_EQ(estimate.global_size(), 3) << "one per mixed point (3 N_tele x N_nt 1000)";
    ASSERT_EQ(estimate.local_size(), 1);
    EXPECT_TRUE(estimate.local(0).has_interval());
  }

  // The watch stream delivered every stored version of every estimate, in
  // order, once.
  std::map<std::string, int64_t> latest_version;
  for (const v1::Estimate& e : served.estimates()) latest_version[e.scenario()] = e.version();
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::map<std::string, int64_t> seen;
        for (const auto& u : watch.updates()) seen[u.estimate().scenario()] = u.estimate().version();
        return seen == latest_version;
      },
      30s));
  std::map<std::string, int64_t> next_version;
  for (const v1::EstimateUpdate& update : watch.updates()) {
    int64_t& next = next_version[update.estimate().scenario()];
    EXPECT_EQ(update.estimate().version(), ++next) << update.estimate().scenario();
    EXPECT_GT(update.trigger_trial_id(), 0);
  }
  EXPECT_EQ(static_cast<int64_t>(watch.updates().size()),
            QueryInt(dsn, "SELECT count(*) FROM utilization_estimates"));

  // The recommendation for seed 000's section 5.2 budget (4 hours) stays
  // within it and predicts from the fitted law.
  {
    grpc::ClientContext context;
    v1::RecommendMixRequest request;
    request.set_sweep_id(sweep_id);
    request.set_scenario("in_domain");
    request.set_source("sim");
    request.set_budget_hours(4);
    v1::Recommendation recommendation;
    grpc::Status status = utilization->RecommendMix(&context, request, &recommendation);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(recommendation.spent_hours(), 4.0 * (1 + 1e-9));
    EXPECT_GT(recommendation.predicted_s(), 0.0);
    EXPECT_GE(recommendation.n_tele(), 50) << "the teleop core: the sweep's smallest N_tele";
  }
  for (WorkerProcess& w : workers) w.Kill(SIGKILL);
}

}  // namespace
}  // namespace mixsweep::testing
