// db::PgSystemStatsStore against a real PostgreSQL 15: the whole-system
// counts behind /metrics, after real submissions, leases, completions,
// failures and expiries made through the services.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "db/connection_pool.h"
#include "db/migrations.h"
#include "db/pg_job_store.h"
#include "db/pg_sweep_store.h"
#include "db/pg_system_stats_store.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/sweep_service.h"
#include "tests/support/example_specs.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

using metrics::SystemSnapshot;
using scheduler::WorkerRecord;

class SystemStatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 4);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    sweeps_ = std::make_unique<scheduler::SweepService>(*sweep_store_,
                                                        scheduler::SweepService::Options{});
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    clock_ = std::make_unique<scheduler::FakeClock>(absl::Now());
    scheduler::DispatchOptions options;
    options.artifact_root = "file:///nfs/artifacts";
    options.retry = {.base = absl::Seconds(10), .cap = absl::Seconds(40)};
    dispatch_ = std::make_unique<scheduler::DispatchService>(*jobs_, *clock_, options);
    stats_ = std::make_unique<db::PgSystemStatsStore>(*pool_);
  }

  SystemSnapshot Read() {
    auto snapshot = stats_->ReadSnapshot({.estimate_days = 7});
    EXPECT_TRUE(snapshot.ok()) << snapshot.status();
    return snapshot.ok() ? *snapshot : SystemSnapshot{};
  }
  int64_t Submit() {
    auto submitted = sweeps_->Submit(testing::kPickDualBottlesYaml, false, {"alice", ""});
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : 0;
  }
  int64_t RegisterWorker(int gpus) {
    WorkerRecord w;
    w.name = "node";
    w.host = "node.lab";
    for (int i = 0; i < gpus; ++i) w.gpus.push_back({.index = i, .memory_total_mib = 81559});
    auto r = dispatch_->Register(w, "");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->worker_id : 0;
  }
  scheduler::LeasedJob Lease(int64_t worker, int gpu) {
    auto r = dispatch_->Lease({.worker_id = worker, .free_gpu_indices = {gpu}},
                              absl::ZeroDuration(), nullptr);
    EXPECT_TRUE(r.ok() && r->has_value()) << r.status();
    return r.ok() && r->has_value() ? **r : scheduler::LeasedJob{};
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<scheduler::SweepService> sweeps_;
  std::unique_ptr<db::PgJobStore> jobs_;
  std::unique_ptr<scheduler::FakeClock> clock_;
  std::unique_ptr<scheduler::DispatchService> dispatch_;
  std::unique_ptr<db::PgSystemStatsStore> stats_;
};

TEST_F(SystemStatsTest, AnEmptyDatabaseHasNothingAndNoError) {
  SystemSnapshot s = Read();
  EXPECT_TRUE(s.jobs_by_kind_state.empty());
  EXPECT_TRUE(s.active_sweeps.empty());
  EXPECT_EQ(s.gpus_total, 0);
  EXPECT_EQ(s.trials_recorded, 0);
}

TEST_F(SystemStatsTest, CountsFollowSubmissionLeasesAndCompletions) {
  const int64_t sweep = Submit();
  SystemSnapshot s = Read();
  EXPECT_EQ((s.jobs_by_kind_state[{"train", "queued"}]), 9);
  EXPECT_EQ((s.jobs_by_kind_state[{"pretrain", "queued"}]), 3);
  EXPECT_EQ((s.jobs_by_kind_state[{"finetune", "blocked"}]), 9);
  EXPECT_EQ(s.sweeps_by_state["active"], 1);
  ASSERT_EQ(s.active_sweeps.size(), 1u);
  EXPECT_EQ(s.active_sweeps[0].sweep_id, sweep);
  EXPECT_EQ(s.active_sweeps[0].jobs_by_state["queued"], 12);
  ASSERT_TRUE(s.active_sweeps[0].last_progress.has_value()) << "the submission is progress";
  EXPECT_EQ(s.estimate_sweep_ids, std::vector<int64_t>({sweep}));

  const int64_t worker = RegisterWorker(4);
  auto first = Lease(worker, 0);
  auto second = Lease(worker, 1);
  s = Read();
  EXPECT_EQ(s.workers_by_state["alive"], 1);
  EXPECT_EQ(s.gpus_total, 4);
  EXPECT_EQ(s.gpus_busy, 2);
  EXPECT_EQ(s.events_by_kind["job.leased"], 2);
  EXPECT_EQ(s.active_sweeps[0].jobs_by_state["leased"], 2);

  ASSERT_TRUE(dispatch_->Complete({.lease = first.lease,
                                   .checkpoint_uri = "file:///nfs/artifacts/ckpt",
                                   .gpu_seconds = 60})
                  .ok());
  s = Read();
  EXPECT_EQ(s.gpus_busy, 1);
  EXPECT_EQ(s.active_sweeps[0].jobs_by_state["succeeded"], 1);
  // A completed train job queues one evaluation request per scenario (3).
  EXPECT_EQ(s.active_sweeps[0].requests, 3);
  EXPECT_EQ(s.active_sweeps[0].requests_complete, 0);
  EXPECT_EQ(s.requests_by_state["open"], 3);
  // GPU-seconds 60 lands in the bucket whose bound is 60 (Prometheus's le).
  const auto& gpu =
      s.job_gpu_seconds[first.job.kind == plan::JobKind::kTrain ? "train" : "pretrain"];
  ASSERT_EQ(gpu.counts.size(), metrics::kJobGpuSecondsBounds.size() + 1);
  EXPECT_EQ(gpu.counts[2], 1) << "bounds 1, 10, 60: index 2 is le=60";
  EXPECT_EQ(gpu.total(), 1);
  EXPECT_DOUBLE_EQ(gpu.sum, 60);
}

TEST_F(SystemStatsTest, DurationsAreBucketedByPrometheusLeIncludingTheBoundItself) {
  Submit();
  const int64_t worker = RegisterWorker(3);
  std::vector<scheduler::LeasedJob> leased;
  for (int gpu = 0; gpu < 3; ++gpu) leased.push_back(Lease(worker, gpu));
  for (const auto& job : leased) {
    ASSERT_TRUE(dispatch_->Complete({.lease = job.lease, .checkpoint_uri = "file:///x/c"}).ok());
  }
  // Exactly 60 s, 60.5 s and 5 days: le=60, le=300, +Inf (above 4 days).
  const double seconds[] = {60, 60.5, 432000};
  for (size_t i = 0; i < leased.size(); ++i) {
    testing::SqlExec(dsn_, absl::StrCat("UPDATE jobs SET started_at = finished_at - "
                                        "make_interval(secs => ", seconds[i], ") WHERE id = ",
                                        leased[i].job.id));
  }
  SystemSnapshot s = Read();
  metrics::BucketCounts all;
  all.counts.assign(metrics::kJobDurationBoundsSeconds.size() + 1, 0);
  for (const auto& [kind, buckets] : s.job_duration_seconds) {
    for (size_t i = 0; i < buckets.counts.size(); ++i) all.counts[i] += buckets.counts[i];
    all.sum += buckets.sum;
  }
  EXPECT_EQ(all.counts[2], 1) << "bounds 1, 10, 60: 60 s is in le=60";
  EXPECT_EQ(all.counts[3], 1) << "60.5 s is in le=300";
  EXPECT_EQ(all.counts.back(), 1) << "above every bound";
  EXPECT_EQ(all.total(), 3);
  EXPECT_NEAR(all.sum, 60 + 60.5 + 432000, 1e-6);
}

TEST_F(SystemStatsTest, RetriesExpiriesAndFailuresAreCountedFromTheEventLog) {
  Submit();
  const int64_t worker = RegisterWorker(1);
  auto job = Lease(worker, 0);
  ASSERT_TRUE(dispatch_->Fail({.lease = job.lease, .kind = "exit_code", .exit_code = 1}).ok());
  clock_->Advance(absl::Minutes(1));
  auto again = Lease(worker, 0);
  clock_->Advance(absl::Hours(1));  // the lease outlives its TTL
  ASSERT_TRUE(dispatch_->ExpireLeases().ok());
  SystemSnapshot s = Read();
  EXPECT_EQ(s.events_by_kind["job.retrying"], 1);
  EXPECT_EQ(s.events_by_kind["job.lease_expired"], 1);
  EXPECT_EQ(s.events_by_kind["job.leased"], 2);
  EXPECT_EQ(s.workers_by_state["lost"], 1);
  EXPECT_EQ(s.gpus_total, 0) << "a lost worker's GPUs are not offered";
}

TEST_F(SystemStatsTest, CompletedSweepsKeepTheirEstimatesForTheConfiguredDaysOnly) {
  const int64_t old_sweep = Submit();
  const int64_t recent = Submit();
  testing::SqlExec(dsn_, absl::StrCat("UPDATE sweeps SET state = 'completed', updated_at = now() "
                                      "- interval '8 days' WHERE id = ", old_sweep,
                                      "; UPDATE sweeps SET state = 'completed' WHERE id = ",
                                      recent));
  SystemSnapshot s = Read();
  EXPECT_EQ(s.estimate_sweep_ids, std::vector<int64_t>({recent}));
  EXPECT_TRUE(s.active_sweeps.empty());
  EXPECT_EQ(s.sweeps_by_state["completed"], 2);
}

}  // namespace
}  // namespace mixsweep
