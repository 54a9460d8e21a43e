// Seed 001's protocol in the stores, against a real PostgreSQL: a generate
// job's summary is stored with its completion and its dataset reaches the
// jobs that need it; a training completion queues one request per
// checkpoint for simulation scenarios (the last only for robot ones) and an
// evaluate job per simulation request; an evaluate job's completion stores
// its episodes as trials in the same transaction, exactly once; and every
// malformed completion is refused with nothing stored.
//
// Time is a scheduler::FakeClock: no test sleeps.
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "db/connection_pool.h"
#include "db/pg_evaluation_store.h"
#include "db/pg_job_store.h"
#include "db/pg_sweep_store.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/sweep_service.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;
using scheduler::Completion;
using scheduler::LeasedJob;
using scheduler::SimulatedEpisode;

// One generated source, one N, one seed; a simulation scenario of 3
// episodes evaluating every 1000 steps of 2000, and a robot scenario.
constexpr char kSpec[] = R"yaml(version: 1
name: sim-store
design: scaling
task:
  name: can_sort
  rubric:
    milestones:
      - {name: success, score: 1}
policy: diffusion_policy
max_attempts: 2
sources:
  - name: mimicgen
    kind: simulation
    generate:
      from: {uri: "file:///data/human10.hdf5", episodes: 10}
      demos: 100
      command:
        argv: [gen, "--source={dataset}", "--n={n_demos}", "--out={output_dir}"]
        checkpoint: "{output_dir}/demo.hdf5"
    n_nt: [100]
seeds: [0]
protocol:
  total_steps: 2000
evaluation:
  trials_per_scenario: 3
  aggregation: max_over_checkpoints
  checkpoints:
    every_steps: 1000
  scenarios:
    - name: sim
      evaluator: simulation
      seed: 7
      command:
        argv: [eval, "--ckpt={checkpoint}", "--n={n_episodes}", "--seed={seed}", "--out={output_dir}"]
        result_format: lerobot
    - name: real
      trials: 2
templates:
  train:
    argv: [train, "--data={dataset}", "--steps={steps}", "--out={output_dir}"]
    checkpoint: "{output_dir}/last.ckpt"
    checkpoint_at_step: "{output_dir}/step_{step}.ckpt"
resources:
  gpus: 0
)yaml";

class SimulationStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 4);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    sweeps_ = std::make_unique<scheduler::SweepService>(*sweep_store_,
                                                        scheduler::SweepService::Options{});
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    evaluations_ = std::make_unique<db::PgEvaluationStore>(*pool_);
    clock_ = std::make_unique<scheduler::FakeClock>(absl::FromUnixSeconds(1'700'000'000));
    scheduler::DispatchOptions options;
    options.artifact_root = "file:///art";
    dispatch_ = std::make_unique<scheduler::DispatchService>(*jobs_, *clock_, options);

    auto submitted = sweeps_->Submit(kSpec, /*validate_only=*/false, {"alice", ""});
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    sweep_id_ = submitted->sweep_id;
    scheduler::WorkerRecord worker{.name = "w", .host = "w.lab", .version = "test"};
    auto registered = dispatch_->Register(worker, "");
    ASSERT_TRUE(registered.ok()) << registered.status();
    worker_id_ = registered->worker_id;
  }

  int64_t Count(const std::string& sql) { return testing::SqlCount(dsn_, sql); }
  std::string Text(const std::string& sql) { return testing::SqlText(dsn_, sql); }
  std::string Snapshot() {
    return Text("SELECT concat((SELECT json_agg(j ORDER BY id) FROM jobs j)::text, "
                "(SELECT json_agg(t ORDER BY id) FROM trials t)::text, "
                "(SELECT json_agg(q ORDER BY id) FROM evaluation_requests q)::text, "
                "(SELECT json_agg(g) FROM generations g)::text)");
  }

  LeasedJob Lease() {
    auto leased = dispatch_->Lease({.worker_id = worker_id_, .free_gpu_indices = {}},
                                   absl::ZeroDuration(), nullptr);
    EXPECT_TRUE(leased.ok()) << leased.status();
    EXPECT_TRUE(leased.ok() && leased->has_value()) << "no job to lease";
    return leased.ok() && leased->has_value() ? **leased : LeasedJob{};
  }

  Completion Completed(const LeasedJob& job, const std::string& uri) {
    return Completion{.lease = job.lease, .checkpoint_uri = uri, .principal = "worker"};
  }

  // Runs the generate job and the train job; returns the train job's id.
  int64_t GenerateAndTrain() {
    const LeasedJob generate = Lease();
    EXPECT_EQ(generate.job.kind, plan::JobKind::kGenerate);
    EXPECT_EQ(generate.job.dataset.uri, "file:///data/human10.hdf5");
    EXPECT_EQ(generate.job.n_demos, 100);
    Completion done = Completed(generate, "file:///art/gen/demo.hdf5");
    done.generation = scheduler::GenerationReport{.num_success = 100, .num_attempts = 125,
                                                  .seconds = 36};
    EXPECT_TRUE(dispatch_->Complete(done).ok());
    const LeasedJob train = Lease();
    EXPECT_EQ(train.job.kind, plan::JobKind::kTrain);
    EXPECT_EQ(train.generated_dataset_uri, "file:///art/gen/demo.hdf5");
    EXPECT_TRUE(train.init_checkpoint_uri.empty());
    EXPECT_THAT(train.checkpoint_steps, ::testing::ElementsAre(1000));
    Completion trained = Completed(train, "file:///art/train/last.ckpt");
    trained.step_checkpoints = {{.step = 1000, .uri = "file:///art/train/step_1000.ckpt"}};
    auto result = dispatch_->Complete(trained);
    EXPECT_TRUE(result.ok()) << result.status();
    // Two simulation checkpoints: two evaluate jobs ready at once.
    EXPECT_EQ(result.ok() ? result->unblocked_job_ids.size() : 0u, 2u);
    return train.job.id;
  }

  std::vector<SimulatedEpisode> Episodes(int n) {
    std::vector<SimulatedEpisode> out;
    for (int i = 0; i < n; ++i) {
      out.push_back({.index = i, .success = i == 0, .score = i == 0 ? 1.0 : 0.0, .seed = 7 + i,
                     .sum_reward = i == 0 ? 2.5 : 0.0, .max_reward = i == 0 ? 1.0 : 0.0,
                     .has_rewards = true});
    }
    return out;
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<scheduler::SweepService> sweeps_;
  std::unique_ptr<db::PgJobStore> jobs_;
  std::unique_ptr<db::PgEvaluationStore> evaluations_;
  std::unique_ptr<scheduler::FakeClock> clock_;
  std::unique_ptr<scheduler::DispatchService> dispatch_;
  int64_t sweep_id_ = 0;
  int64_t worker_id_ = 0;
};

TEST_F(SimulationStoreTest, GenerationIsStoredAndCheckpointsBecomeRequestsAndEvaluateJobs) {
  GenerateAndTrain();
  EXPECT_EQ(Text("SELECT concat_ws(',', source, dataset_uri, num_success, num_attempts, seconds) "
                 "FROM generations"),
            "mimicgen,file:///art/gen/demo.hdf5,100,125,36");
  // Robot scenario: the last checkpoint only; simulation: both.
  EXPECT_EQ(Text("SELECT string_agg(scenario || '@' || checkpoint_step || ':' || evaluator, ' ' "
                 "ORDER BY scenario, checkpoint_step) FROM evaluation_requests"),
            "real@2000:robot sim@1000:simulation sim@2000:simulation");
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE kind = 'evaluate' AND state = 'queued' "
                  "AND seed = 7"),
            2);
  const LeasedJob evaluate = Lease();
  EXPECT_EQ(evaluate.job.kind, plan::JobKind::kEvaluate);
  ASSERT_TRUE(evaluate.evaluation.has_value());
  EXPECT_EQ(evaluate.evaluation->scenario, "sim");
  EXPECT_EQ(evaluate.evaluation->n_episodes, 3);
  EXPECT_EQ(evaluate.command.result_format, "lerobot");
  EXPECT_TRUE(evaluate.init_checkpoint_uri.empty());
  EXPECT_THAT(evaluate.evaluation->checkpoint_uri,
              ::testing::AnyOf("file:///art/train/step_1000.ckpt", "file:///art/train/last.ckpt"));
}

TEST_F(SimulationStoreTest, EvaluateCompletionStoresEachEpisodeOnceAsASimulatedTrial) {
  GenerateAndTrain();
  const LeasedJob evaluate = Lease();
  Completion done = Completed(evaluate, "file:///art/eval/eval_info.json");
  done.episodes = Episodes(3);
  ASSERT_TRUE(dispatch_->Complete(done).ok());
  const std::string request = std::to_string(evaluate.evaluation->request_id);
  EXPECT_EQ(Count("SELECT count(*) FROM trials WHERE simulated AND request_id = " + request), 3);
  EXPECT_EQ(Text("SELECT state FROM evaluation_requests WHERE id = " + request), "complete");
  EXPECT_EQ(Text("SELECT episode->>'seed' FROM trials WHERE trial_index = 2"), "9");
  EXPECT_EQ(Count("SELECT count(*) FROM stale_estimates WHERE scenario = 'sim'"), 1);

  // The same completion again (its answer lost): a replay, nothing twice.
  const std::string before = Snapshot();
  auto again = dispatch_->Complete(done);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(SimulationStoreTest, MalformedCompletionsAreRefusedAndStoreNothing) {
  GenerateAndTrain();
  const LeasedJob evaluate = Lease();
  const std::string before = Snapshot();
  struct Case {
    std::vector<SimulatedEpisode> episodes;
    absl::StatusCode code;
    const char* message;
  } cases[] = {
      {Episodes(2), absl::StatusCode::kInvalidArgument,
       "episodes: 2 reported; the request wants exactly 3"},
      {Episodes(4), absl::StatusCode::kInvalidArgument,
       "episodes: 4 reported; the request wants exactly 3"},
      {{}, absl::StatusCode::kInvalidArgument, "episodes: 0 reported"},
  };
  for (const Case& c : cases) {
    Completion done = Completed(evaluate, "file:///art/eval/eval_info.json");
    done.episodes = c.episodes;
    absl::StatusOr<scheduler::CompletionResult> result = dispatch_->Complete(done);
    EXPECT_EQ(result.status().code(), c.code) << c.message;
    EXPECT_THAT(result.status().message(), HasSubstr(c.message));
  }
  {
    Completion done = Completed(evaluate, "file:///art/eval/eval_info.json");
    done.episodes = Episodes(3);
    done.episodes[1].index = 5;
    EXPECT_THAT(dispatch_->Complete(done).status().message(),
                HasSubstr("episodes.index: 5 is outside [0, 3)"));
    done.episodes[1].index = 1;
    done.episodes[2].score = std::numeric_limits<double>::quiet_NaN();
    EXPECT_THAT(dispatch_->Complete(done).status().message(),
                HasSubstr("episodes[2].score: not a finite number"));
    done.episodes[2].score = 0;
    done.generation = scheduler::GenerationReport{.num_success = 1, .num_attempts = 1};
    EXPECT_THAT(dispatch_->Complete(done).status().message(),
                HasSubstr("generation: only generate jobs report one"));
  }
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(Text("SELECT state FROM jobs WHERE id = " + std::to_string(evaluate.job.id)),
            "leased");
}

TEST_F(SimulationStoreTest, AGenerateJobNeedsItsSummaryAndEnoughDemos) {
  const LeasedJob generate = Lease();
  const std::string before = Snapshot();
  Completion no_summary = Completed(generate, "file:///art/gen/demo.hdf5");
  EXPECT_THAT(dispatch_->Complete(no_summary).status().message(),
              HasSubstr("generation: a generate job completes with its generator's summary"));
  Completion too_few = no_summary;
  too_few.generation = scheduler::GenerationReport{.num_success = 99, .num_attempts = 120};
  EXPECT_THAT(dispatch_->Complete(too_few).status().message(),
              HasSubstr("generation.num_success: 99 demos generated, 100 wanted"));
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(SimulationStoreTest, OperatorsCannotRecordTrialsOfASimulationRequest) {
  GenerateAndTrain();
  const int64_t sim_request =
      Count("SELECT min(id) FROM evaluation_requests WHERE evaluator = 'simulation'");
  const std::string before = Snapshot();
  evaluation::ScoredTrial trial;
  trial.values.trial_index = 0;
  trial.values.success = true;
  trial.score = 1;
  auto recorded = evaluations_->RecordTrials(sim_request, {trial}, /*simulated=*/false,
                                             {.principal = "op", .idempotency_key = ""});
  EXPECT_EQ(recorded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(recorded.status().message(), HasSubstr("evaluated by a simulation job"));
  EXPECT_EQ(Snapshot(), before);
  // And the robot's request is not offered to evaluate jobs' batches: it is
  // the only unbatched request an operator sees.
  auto unbatched = evaluations_->ListUnbatched(sweep_id_, "");
  ASSERT_TRUE(unbatched.ok()) << unbatched.status();
  ASSERT_EQ(unbatched->size(), 1u);
}

TEST_F(SimulationStoreTest, AnEvaluateJobFailedForGoodCancelsItsRequest) {
  GenerateAndTrain();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const LeasedJob evaluate = Lease();
    ASSERT_EQ(evaluate.job.kind, plan::JobKind::kEvaluate);
    auto failed = dispatch_->Fail({.lease = evaluate.lease,
                                   .kind = "bad_result",
                                   .message = "eval_info.json: not valid JSON",
                                   .retryable = false});
    ASSERT_TRUE(failed.ok()) << failed.status();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM evaluation_requests WHERE state = 'cancelled' "
                  "AND evaluator = 'simulation'"),
            2);
  EXPECT_EQ(Count("SELECT count(*) FROM trials"), 0);
}

TEST_F(SimulationStoreTest, AGenerateJobFailedForGoodFailsEveryJobDownstream) {
  const LeasedJob generate = Lease();
  auto failed = dispatch_->Fail({.lease = generate.lease,
                                 .kind = "bad_result",
                                 .message = "important_stats.json does not exist",
                                 .retryable = false});
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(Text("SELECT failure->>'message' FROM jobs WHERE kind = 'train'"),
            absl::StrCat("generate job ", generate.job.id,
                         " failed: important_stats.json does not exist"));
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps WHERE state = 'completed'"), 1);
}

}  // namespace
}  // namespace mixsweep
