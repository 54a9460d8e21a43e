// db::PgJobStore and scheduler::DispatchService against a real PostgreSQL 15:
// registering workers, leasing (idempotency, fencing tokens, output dirs,
// matching GPUs, memory and labels, priority and round-robin), reports
// fenced by token, completion unblocking finetunes, lease expiry, retries
// with backoff, hand-back, cancellation, deadlines, logs, and many workers
// leasing at once.
//
// Time is a scheduler::FakeClock: no test sleeps. Every test has its own
// database (CreateTestDatabase) with the embedded migrations applied.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "db/connection_pool.h"
#include "db/migrations.h"
#include "db/pg_job_store.h"
#include "db/pg_sweep_store.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/dispatch/job_store.h"
#include "scheduler/sweep_service.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"
#include "tests/support/example_specs.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;
using scheduler::Completion;
using scheduler::DispatchOptions;
using scheduler::DispatchService;
using scheduler::Failure;
using scheduler::HandBack;
using scheduler::JobState;
using scheduler::LeasedJob;
using scheduler::LeaseRef;
using scheduler::ProgressReport;
using scheduler::WorkerRecord;
using scheduler::WorkerState;

// docs/examples/pick_dual_bottles.yaml, verbatim (as in sweep_store_pgtest.cc).
// 21 jobs in this order (docs/expansion.md "Order"): train t50 s0..s2 (1-3),
// pretrain s0 (4), finetune t50 s0 (5), pretrain s1 (6), finetune (7),
// pretrain s2 (8), finetune (9), then t100 and t200 alike; 12 queued, the 9
// finetunes blocked.
constexpr const char* kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

constexpr char kArtifactRoot[] = "file:///nfs/artifacts";
constexpr char kResources[] = "resources:\n  gpus: 1\n";
constexpr int64_t kGpu80GiB = 81559;
constexpr int64_t kGpu24GiB = 24576;

// `text` with the one occurrence of `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the spec";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' twice";
  return text.replace(at, from.size(), to);
}

// One run, one train job (t50, baseline, seed 0).
std::string OneJob(const std::string& yaml = kPickDualBottles) {
  std::string out = Replace(yaml, "n_tele: [50, 100, 200]", "n_tele: [50]");
  out = Replace(out, "n_nt: [0, 1000]", "n_nt: [0]");
  return Replace(out, "seeds: [0, 1, 2]", "seeds: [0]");
}
std::string WithResources(const std::string& resources, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, kResources, resources);
}
std::string WithName(const std::string& name, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, "name: pick-dual-bottles-sim", "name: " + name);
}
std::string WithPriority(int priority, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, "priority: 0", absl::StrCat("priority: ", priority));
}
std::string WithMaxAttempts(int n, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, "max_attempts: 3", absl::StrCat("max_attempts: ", n));
}

WorkerRecord Worker(const std::string& name, std::vector<int64_t> gpu_mib = {kGpu80GiB},
                    std::map<std::string, std::string> labels = {}) {
  WorkerRecord w;
  w.name = name;
  w.host = name + ".lab";
  for (size_t i = 0; i < gpu_mib.size(); ++i) {
    w.gpus.push_back({.index = static_cast<int>(i),
                      .name = "NVIDIA H100 80GB HBM3",
                      .memory_total_mib = gpu_mib[i],
                      .uuid = absl::StrCat("GPU-", name, "-", i)});
  }
  w.labels = std::move(labels);
  w.version = "test";
  return w;
}

class JobStoreTest : public ::testing::Test {
 protected:
  const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 12);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    sweeps_ = std::make_unique<scheduler::SweepService>(*sweep_store_,
                                                        scheduler::SweepService::Options{});
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    clock_ = std::make_unique<scheduler::FakeClock>(kT0);
    SetOptions(DefaultOptions());
  }

  static DispatchOptions DefaultOptions() {
    DispatchOptions o;
    o.lease_ttl = absl::Seconds(60);
    o.artifact_root = kArtifactRoot;
    o.retry = {.base = absl::Seconds(10), .cap = absl::Seconds(40)};
    return o;
  }
  void SetOptions(DispatchOptions options) {
    dispatch_ = std::make_unique<DispatchService>(*jobs_, *clock_, std::move(options));
  }

  // ---- SQL -----------------------------------------------------------------
  int64_t Count(const std::string& sql) { return testing::SqlCount(dsn_, sql); }
  std::string Text(const std::string& sql) { return testing::SqlText(dsn_, sql); }
  void Exec(const std::string& sql) { testing::SqlExec(dsn_, sql); }
  std::string JobText(int64_t id, const std::string& expr) {
    return Text(absl::StrCat("SELECT (", expr, ")::text FROM jobs WHERE id = ", id));
  }
  std::string State(int64_t id) { return JobText(id, "state"); }
  int Attempts(int64_t id) { return static_cast<int>(Count(absl::StrCat(
      "SELECT attempts FROM jobs WHERE id = ", id))); }
  // The whole row, to show that a refused report changed nothing.
  std::string Row(int64_t id) {
    return Text(absl::StrCat("SELECT row_to_json(j)::text FROM jobs j WHERE id = ", id));
  }
  int64_t Micros(int64_t id, const std::string& column) {
    return Count(absl::StrCat("SELECT (extract(epoch FROM ", column,
                              ") * 1000000)::bigint FROM jobs WHERE id = ", id));
  }
  int64_t Events(const std::string& kind) {
    return Count("SELECT count(*) FROM events WHERE kind = '" + kind + "'");
  }
  std::vector<int64_t> Ids(const std::string& sql) {
    pqxx::connection conn(dsn_);
    pqxx::nontransaction tx(conn);
    std::vector<int64_t> ids;
    for (const auto& row : tx.exec(sql)) ids.push_back(row[0].as<int64_t>());
    return ids;
  }

  // ---- Service calls ---------------------------------------------------------
  int64_t Submit(const std::string& yaml) {
    auto submitted = sweeps_->Submit(yaml, /*validate_only=*/false, {"alice", ""});
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : 0;
  }
  int64_t Register(const WorkerRecord& worker, const std::string& key = "") {
    auto r = dispatch_->Register(worker, key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->worker_id : 0;
  }
  absl::StatusOr<std::optional<LeasedJob>> TryLease(int64_t worker, std::vector<int> gpus = {0},
                                                   const std::string& key = "") {
    return dispatch_->Lease({.worker_id = worker, .free_gpu_indices = std::move(gpus),
                             .idempotency_key = key},
                            absl::ZeroDuration(), nullptr);
  }
  std::optional<LeasedJob> Lease(int64_t worker, std::vector<int> gpus = {0},
                                 const std::string& key = "") {
    auto r = TryLease(worker, std::move(gpus), key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::nullopt;
  }
  // Leases job `job_id` and no other: every other queued job is held back
  // (not_before = infinity) for the call.
  std::optional<LeasedJob> LeaseOnly(int64_t worker, int64_t job_id, const std::string& key = "") {
    Exec(absl::StrCat("UPDATE jobs SET not_before = 'infinity' WHERE state = 'queued' AND id <> ",
                      job_id, " AND not_before IS NULL"));
    auto leased = Lease(worker, {0}, key);
    Exec("UPDATE jobs SET not_before = NULL WHERE not_before = 'infinity'");
    EXPECT_TRUE(leased.has_value()) << "job " << job_id << " was not leased";
    if (leased) {
      EXPECT_EQ(leased->lease.job_id, job_id);
    }
    return leased;
  }
  scheduler::ExpiryResult Expire() {
    auto r = dispatch_->ExpireLeases();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : scheduler::ExpiryResult{};
  }
  scheduler::LeaseState Beat(int64_t worker, const LeaseRef& lease) {
    auto r = dispatch_->Heartbeat(worker, {lease}, false);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->size() != 1) return {};
    return (*r)[0];
  }
  std::string ReadAll(int64_t job_id, int64_t offset = 0) {
    auto chunks = dispatch_->ReadLog(job_id, offset);
    EXPECT_TRUE(chunks.ok()) << chunks.status();
    std::string out;
    if (chunks.ok()) {
      for (const auto& c : *chunks) out += c.data;
    }
    return out;
  }
  WorkerState StateOfWorker(int64_t id) {
    auto workers = dispatch_->ListWorkers(/*include_gone=*/true);
    EXPECT_TRUE(workers.ok()) << workers.status();
    if (workers.ok()) {
      for (const auto& w : *workers) {
        if (w.id == id) return w.state;
      }
    }
    ADD_FAILURE() << "no worker " << id;
    return WorkerState::kGone;
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<scheduler::SweepService> sweeps_;
  std::unique_ptr<db::PgJobStore> jobs_;
  std::unique_ptr<scheduler::FakeClock> clock_;
  std::unique_ptr<DispatchService> dispatch_;
};

// ---- 1. Registering and leasing --------------------------------------------

TEST_F(JobStoreTest, RegisterIsIdempotentAndLeaseGrantsAReadyJob) {
  const int64_t sweep = Submit(kPickDualBottles);
  ASSERT_GT(sweep, 0);
  ASSERT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'queued'"), 12);

  const int64_t worker = Register(Worker("gpu-node-1"), "reg-1");
  ASSERT_GT(worker, 0);
  EXPECT_EQ(Register(Worker("gpu-node-1"), "reg-1"), worker);  // retried: same worker
  const int64_t other = Register(Worker("gpu-node-2"), "reg-2");
  EXPECT_NE(other, worker);
  EXPECT_EQ(Count("SELECT count(*) FROM workers"), 2);
  {
    auto workers = dispatch_->ListWorkers(false);
    ASSERT_TRUE(workers.ok()) << workers.status();
    ASSERT_EQ(workers->size(), 2u);
    EXPECT_EQ((*workers)[0].id, worker);
    EXPECT_EQ((*workers)[0].name, "gpu-node-1");
    ASSERT_EQ((*workers)[0].gpus.size(), 1u);
    EXPECT_EQ((*workers)[0].gpus[0].memory_total_mib, kGpu80GiB);
    EXPECT_EQ((*workers)[0].state, WorkerState::kAlive);
    EXPECT_EQ((*workers)[0].registered_at, kT0);
  }

  auto first = Lease(worker, {0}, "lease-1");
  ASSERT_TRUE(first.has_value());
  const auto& job = first->job;
  EXPECT_NE(job.kind, plan::JobKind::kFinetune);
  EXPECT_EQ(job.sweep_id, sweep);
  EXPECT_EQ(job.state, JobState::kLeased);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.max_attempts, 3);
  EXPECT_EQ(job.lease_worker_id, worker);
  EXPECT_GT(first->lease.fencing_token, 0);
  EXPECT_EQ(job.fencing_token, first->lease.fencing_token);
  EXPECT_EQ(first->lease.job_id, job.id);
  EXPECT_EQ(job.output_uri,
            absl::StrCat(kArtifactRoot, "/sweep-", sweep, "/job-", job.id, "/attempt-1"));
  EXPECT_EQ(first->expires_at, kT0 + absl::Seconds(60));
  EXPECT_EQ(first->code_version, "git:4f1c2e9");
  EXPECT_EQ(first->policy, "diffusion_policy");
  EXPECT_EQ(first->task, "pick_dual_bottles");
  EXPECT_EQ(first->gpus, 1);
  EXPECT_EQ(first->min_gpu_memory_gib, 0);
  EXPECT_FALSE(first->deadline.has_value());
  EXPECT_EQ(first->init_checkpoint_uri, "");
  EXPECT_EQ(first->resume_checkpoint_uri, "");
  ASSERT_FALSE(first->command.argv.empty());
  EXPECT_EQ(first->command.argv[0], "python");
  EXPECT_EQ(first->command.checkpoint, "{output_dir}/checkpoints/latest.ckpt");
  EXPECT_EQ(first->command.env.at("WANDB_MODE"), "offline");
  EXPECT_EQ(first->command.no_retry_exit_codes, std::vector<int>{2});
  EXPECT_GT(job.n_demos, 0);
  EXPECT_EQ(static_cast<int64_t>(job.subset_episodes.size()), job.n_demos);
  // The first job in order: train t50 s0, 50 teleop demos.
  EXPECT_EQ(job.kind, plan::JobKind::kTrain);
  EXPECT_EQ(job.n_demos, 50);

  EXPECT_EQ(State(job.id), "leased");
  EXPECT_EQ(Attempts(job.id), 1);
  EXPECT_EQ(JobText(job.id, "lease_worker_id"), std::to_string(worker));
  EXPECT_EQ(JobText(job.id, "fencing_token"), std::to_string(first->lease.fencing_token));
  EXPECT_EQ(Micros(job.id, "lease_expires_at"), absl::ToUnixMicros(kT0 + absl::Seconds(60)));
  EXPECT_EQ(Micros(job.id, "started_at"), absl::ToUnixMicros(kT0));
  EXPECT_EQ(Events("job.leased"), 1);

  // The retried call (same key): the same lease, nothing new.
  clock_->Advance(absl::Seconds(1));
  auto again = Lease(worker, {0}, "lease-1");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->lease.job_id, job.id);
  EXPECT_EQ(again->lease.fencing_token, first->lease.fencing_token);
  EXPECT_EQ(again->job.attempts, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'leased'"), 1);
  EXPECT_EQ(Events("job.leased"), 1);

  // A new key: another job, a larger token.
  auto second = Lease(worker, {0}, "lease-2");
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->lease.job_id, job.id);
  EXPECT_GT(second->lease.fencing_token, first->lease.fencing_token);
  EXPECT_NE(second->job.kind, plan::JobKind::kFinetune);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'leased'"), 2);

  // The other worker's lease with the first worker's key is not a replay.
  auto theirs = Lease(other, {0}, "lease-1");
  ASSERT_TRUE(theirs.has_value());
  EXPECT_NE(theirs->lease.job_id, job.id);
  EXPECT_NE(theirs->lease.job_id, second->lease.job_id);

  // Every queued job leased: the finetunes stay blocked, nothing more.
  int leased = 3;
  while (auto next = Lease(worker)) {
    EXPECT_NE(next->job.kind, plan::JobKind::kFinetune);
    ++leased;
  }
  EXPECT_EQ(leased, 12);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'blocked'"), 9);
  auto workers = dispatch_->ListWorkers(false);
  ASSERT_TRUE(workers.ok());
  EXPECT_EQ((*workers)[0].running_job_ids.size(), 11u);
  EXPECT_EQ((*workers)[1].running_job_ids.size(), 1u);
}

TEST_F(JobStoreTest, UnknownWorkerIsNotFound) {
  Submit(kPickDualBottles);
  auto leased = TryLease(12345);
  EXPECT_EQ(leased.status().code(), absl::StatusCode::kNotFound) << leased.status();
  auto beat = dispatch_->Heartbeat(12345, {}, false);
  EXPECT_EQ(beat.status().code(), absl::StatusCode::kNotFound) << beat.status();
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'leased'"), 0);
}

// A retried LeaseJob racing the call it retries (a client deadline during
// the long poll; both woken by one notification) must still get one lease.
// Deterministic: the test holds the sweep row, so both calls have picked
// their job and wait on kMarkSweepServed when it lets go.
TEST_F(JobStoreTest, ConcurrentLeasesWithOneIdempotencyKeyGrantOneLease) {
  const int64_t sweep = Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1"));
  pqxx::connection blocker(dsn_);
  pqxx::work hold(blocker);
  hold.exec(absl::StrCat("SELECT 1 FROM sweeps WHERE id = ", sweep, " FOR UPDATE"));

  const scheduler::LeaseRequest request{.worker_id = worker,
                                        .free_gpu_indices = {0},
                                        .idempotency_key = "lease-7",
                                        .ttl = absl::Seconds(60),
                                        .artifact_root = kArtifactRoot};
  std::optional<absl::StatusOr<std::optional<LeasedJob>>> results[2];
  std::vector<std::thread> calls;
  for (auto& result : results) {
    calls.emplace_back([&] { result = jobs_->Lease(request, clock_->Now()); });
  }
  // Wait (real time, bounded) until both calls wait for the sweep row.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND datname = current_database()") < 2 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  hold.commit();
  for (auto& t : calls) t.join();

  std::set<int64_t> jobs;
  for (auto& result : results) {
    ASSERT_TRUE(result.has_value());
    ASSERT_TRUE(result->ok()) << result->status();
    ASSERT_TRUE(result->value().has_value());
    jobs.insert(result->value()->lease.job_id);
  }
  EXPECT_EQ(jobs.size(), 1u) << "one key, two leases: jobs " << *jobs.begin() << " and "
                             << *jobs.rbegin();
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'leased'"), 1);
}

// ---- 2. Fencing --------------------------------------------------------------

TEST_F(JobStoreTest, ReportsWithAWrongTokenChangeNothing) {
  Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1"));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  const LeaseRef wrong{.job_id = id, .fencing_token = leased->lease.fencing_token + 1000};
  const std::string before = Row(id);
  const int64_t events = Count("SELECT count(*) FROM events");
  clock_->Advance(absl::Seconds(5));

  auto progress = dispatch_->ReportProgress(
      {.lease = wrong, .started = true, .progress_json = R"({"step": 10})"});
  EXPECT_EQ(progress.status().code(), absl::StatusCode::kFailedPrecondition) << progress.status();
  auto log = dispatch_->AppendLog(wrong, 0, "hello\n");
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition) << log.status();
  auto completed = dispatch_->Complete({.lease = wrong, .checkpoint_uri = "file:///x.ckpt"});
  EXPECT_EQ(completed.status().code(), absl::StatusCode::kFailedPrecondition)
      << completed.status();
  auto failed = dispatch_->Fail({.lease = wrong, .kind = "exit_code", .exit_code = 1});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition) << failed.status();
  auto failed_for_good =
      dispatch_->Fail({.lease = wrong, .kind = "exit_code", .exit_code = 2, .retryable = false});
  EXPECT_EQ(failed_for_good.status().code(), absl::StatusCode::kFailedPrecondition)
      << failed_for_good.status();
  auto handed = dispatch_->HandBackJob({.lease = wrong, .resume_checkpoint_uri = "file:///r"});
  EXPECT_EQ(handed.code(), absl::StatusCode::kFailedPrecondition) << handed;
  auto beat = dispatch_->Heartbeat(worker, {wrong}, false);
  ASSERT_TRUE(beat.ok()) << beat.status();
  ASSERT_EQ(beat->size(), 1u);
  EXPECT_FALSE((*beat)[0].valid);

  // The right token from another worker does not extend the lease either.
  const int64_t intruder = Register(Worker("w2"));
  EXPECT_FALSE(Beat(intruder, leased->lease).valid);

  EXPECT_EQ(Row(id), before);
  EXPECT_EQ(Count("SELECT count(*) FROM job_log_chunks"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), events);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'blocked'"), 9);

  // The right token: valid, extended, started.
  const auto state = Beat(worker, leased->lease);
  EXPECT_TRUE(state.valid);
  EXPECT_FALSE(state.cancel_requested);
  EXPECT_EQ(state.expires_at, kT0 + absl::Seconds(65));
  EXPECT_EQ(State(id), "leased");
  clock_->Advance(absl::Seconds(5));
  auto started = dispatch_->ReportProgress(
      {.lease = leased->lease, .started = true,
       .progress_json = R"({"step": 10, "total_steps": 13000})",
       .provenance_json = R"({"host": "w1"})"});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(started->valid);
  EXPECT_EQ(started->expires_at, kT0 + absl::Seconds(70));
  EXPECT_EQ(State(id), "running");
  EXPECT_EQ(JobText(id, "progress->>'step'"), "10");
  EXPECT_EQ(JobText(id, "provenance->>'host'"), "w1");
  EXPECT_EQ(Events("job.running"), 1);
  // Progress without `started` keeps it running and keeps the provenance.
  auto more = dispatch_->ReportProgress(
      {.lease = leased->lease, .progress_json = R"({"step": 20, "total_steps": 13000})"});
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(State(id), "running");
  EXPECT_EQ(JobText(id, "progress->>'step'"), "20");
  EXPECT_EQ(JobText(id, "provenance->>'host'"), "w1");

  // Running, a wrong token is still refused.
  const std::string running = Row(id);
  auto late = dispatch_->ReportProgress({.lease = wrong, .progress_json = R"({"step": 99})"});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Row(id), running);

  // A malformed token never reaches the store.
  auto zero = dispatch_->Complete({.lease = {.job_id = id, .fencing_token = 0},
                                   .checkpoint_uri = "file:///x.ckpt"});
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- 3. Completion -------------------------------------------------------------

TEST_F(JobStoreTest, CompletingAPretrainUnblocksItsFinetunes) {
  const int64_t sweep = Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1"));
  const int64_t pretrain =
      Count("SELECT min(id) FROM jobs WHERE kind = 'pretrain'");
  const std::vector<int64_t> finetunes = Ids(absl::StrCat(
      "SELECT id FROM jobs WHERE depends_on_job_id = ", pretrain, " ORDER BY id"));
  ASSERT_EQ(finetunes.size(), 3u);

  auto leased = LeaseOnly(worker, pretrain);
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->job.kind, plan::JobKind::kPretrain);
  EXPECT_EQ(leased->job.n_demos, 1000);
  EXPECT_EQ(leased->job.subset_episodes.size(), 1000u);
  clock_->Advance(absl::Seconds(59));
  ASSERT_TRUE(dispatch_->ReportProgress({.lease = leased->lease, .started = true}).ok());
  clock_->Advance(absl::Seconds(30));  // the report extended the lease
  EXPECT_EQ(Expire().requeued, 0);
  const std::string ckpt = "file:///nfs/artifacts/pretrain/latest.ckpt";
  auto done = dispatch_->Complete({.lease = leased->lease,
                                   .checkpoint_uri = ckpt,
                                   .gpu_seconds = 3600,
                                   .final_metrics_json = R"({"loss": 0.01})"});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->replayed);
  EXPECT_THAT(done->unblocked_job_ids, UnorderedElementsAreArray(finetunes));
  EXPECT_EQ(State(pretrain), "succeeded");
  EXPECT_EQ(JobText(pretrain, "checkpoint_uri"), ckpt);
  EXPECT_EQ(JobText(pretrain, "gpu_seconds"), "3600");
  EXPECT_EQ(JobText(pretrain, "progress->'final_metrics'->>'loss'"), "0.01");
  EXPECT_EQ(Micros(pretrain, "finished_at"), absl::ToUnixMicros(clock_->Now()));
  EXPECT_EQ(JobText(pretrain, "lease_expires_at"), "<null>");
  for (int64_t f : finetunes) EXPECT_EQ(State(f), "queued") << f;
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'blocked'"), 6);
  // A pretrain is no run's final checkpoint.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM runs WHERE pretrain_job_id = ", pretrain,
                               " AND checkpoint_uri IS NOT NULL")),
            0);
  EXPECT_EQ(Events("job.succeeded"), 1);

  // The same completion again (lost answer): replayed, nothing changes.
  const std::string after = Row(pretrain);
  auto replay = dispatch_->Complete({.lease = leased->lease,
                                     .checkpoint_uri = "file:///other.ckpt",
                                     .gpu_seconds = 99});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_TRUE(replay->unblocked_job_ids.empty());
  EXPECT_EQ(Row(pretrain), after);
  EXPECT_EQ(Events("job.succeeded"), 1);
  // Any other report for it is stale now.
  auto late = dispatch_->ReportProgress({.lease = leased->lease, .progress_json = "{}"});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);

  // A finetune gets the pretrain's checkpoint; its completion is the run's.
  auto finetune = LeaseOnly(worker, finetunes[0]);
  ASSERT_TRUE(finetune.has_value());
  EXPECT_EQ(finetune->job.kind, plan::JobKind::kFinetune);
  EXPECT_EQ(finetune->job.depends_on_job_id, pretrain);
  EXPECT_EQ(finetune->init_checkpoint_uri, ckpt);
  EXPECT_EQ(static_cast<int64_t>(finetune->job.subset_episodes.size()), finetune->job.n_demos);
  EXPECT_EQ(finetune->job.output_uri,
            absl::StrCat(kArtifactRoot, "/sweep-", sweep, "/job-", finetunes[0], "/attempt-1"));
  auto ft_done = dispatch_->Complete({.lease = finetune->lease, .checkpoint_uri = "file:///ft.ckpt"});
  ASSERT_TRUE(ft_done.ok()) << ft_done.status();
  EXPECT_TRUE(ft_done->unblocked_job_ids.empty());
  EXPECT_EQ(Text(absl::StrCat("SELECT checkpoint_uri FROM runs WHERE finetune_job_id = ",
                              finetunes[0])),
            "file:///ft.ckpt");

  // A train job's completion is its run's checkpoint too.
  const int64_t train = Count("SELECT min(id) FROM jobs WHERE kind = 'train'");
  auto trained = LeaseOnly(worker, train);
  ASSERT_TRUE(trained.has_value());
  EXPECT_EQ(trained->init_checkpoint_uri, "");
  ASSERT_TRUE(dispatch_->Complete({.lease = trained->lease, .checkpoint_uri = "file:///t.ckpt"})
                  .ok());
  EXPECT_EQ(Text(absl::StrCat("SELECT checkpoint_uri FROM runs WHERE train_job_id = ", train)),
            "file:///t.ckpt");
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE checkpoint_uri IS NOT NULL"), 2);

  // No checkpoint: refused before the store.
  auto no_ckpt = dispatch_->Complete({.lease = trained->lease});
  EXPECT_EQ(no_ckpt.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, StaleCompletionAfterReLeaseIsRefused) {
  Submit(OneJob());
  const int64_t w1 = Register(Worker("w1"));
  const int64_t w2 = Register(Worker("w2"));
  auto first = Lease(w1);
  ASSERT_TRUE(first.has_value());
  const int64_t id = first->lease.job_id;
  clock_->Advance(absl::Seconds(61));
  EXPECT_EQ(Expire().requeued, 1);
  clock_->Advance(absl::Seconds(10));  // the backoff
  auto second = Lease(w2);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->lease.job_id, id);
  EXPECT_GT(second->lease.fencing_token, first->lease.fencing_token);

  const std::string before = Row(id);
  auto stale = dispatch_->Complete({.lease = first->lease, .checkpoint_uri = "file:///old.ckpt"});
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  EXPECT_EQ(Row(id), before);
  EXPECT_EQ(State(id), "leased");

  auto done = dispatch_->Complete({.lease = second->lease, .checkpoint_uri = "file:///new.ckpt"});
  ASSERT_TRUE(done.ok()) << done.status();
  // The old holder's completion stays refused after the job succeeded.
  stale = dispatch_->Complete({.lease = first->lease, .checkpoint_uri = "file:///old.ckpt"});
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  EXPECT_EQ(JobText(id, "checkpoint_uri"), "file:///new.ckpt");
}

// ---- 4. Lease expiry ---------------------------------------------------------

TEST_F(JobStoreTest, ExpiredLeaseIsRequeuedWithBackoffAndFenced) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  const LeaseRef old = leased->lease;

  // Heartbeats keep it.
  clock_->Advance(absl::Seconds(30));
  const auto beat = Beat(worker, old);
  EXPECT_TRUE(beat.valid);
  EXPECT_EQ(beat.expires_at, kT0 + absl::Seconds(90));
  EXPECT_EQ(Expire().requeued, 0);
  clock_->Advance(absl::Seconds(60));  // exactly at expiry: not yet expired
  auto at_edge = Expire();
  EXPECT_EQ(at_edge.requeued, 0);
  EXPECT_EQ(State(id), "leased");

  // Silent past the TTL: requeued after a backoff, the attempt counted.
  clock_->Advance(absl::Seconds(1));  // kT0 + 91
  const absl::Time expired_at = clock_->Now();
  auto expiry = Expire();
  EXPECT_EQ(expiry.requeued, 1);
  EXPECT_EQ(expiry.failed, 0);
  EXPECT_EQ(expiry.cancelled, 0);
  EXPECT_EQ(expiry.workers_lost, 1);  // its last heartbeat was 61 s ago
  EXPECT_EQ(StateOfWorker(worker), WorkerState::kLost);
  EXPECT_EQ(State(id), "queued");
  EXPECT_EQ(Attempts(id), 1);
  EXPECT_EQ(Micros(id, "not_before"), absl::ToUnixMicros(expired_at + absl::Seconds(10)));
  EXPECT_EQ(JobText(id, "failure->>'kind'"), "lease_expired");
  EXPECT_EQ(JobText(id, "lease_expires_at"), "<null>");
  EXPECT_EQ(Events("job.lease_expired"), 1);
  EXPECT_EQ(Expire().requeued, 0);  // once

  // The old holder is fenced off.
  const std::string queued = Row(id);
  EXPECT_FALSE(Beat(worker, old).valid);
  EXPECT_EQ(dispatch_->ReportProgress({.lease = old, .started = true}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dispatch_->AppendLog(old, 0, "late\n").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dispatch_->Complete({.lease = old, .checkpoint_uri = "file:///x"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Row(id), queued);

  // Not before the backoff; then attempt 2 with a new token.
  clock_->Advance(absl::Seconds(9));
  EXPECT_FALSE(Lease(worker).has_value());
  clock_->Advance(absl::Seconds(1));
  auto again = Lease(worker);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->lease.job_id, id);
  EXPECT_EQ(again->job.attempts, 2);
  EXPECT_GT(again->lease.fencing_token, old.fencing_token);
  EXPECT_EQ(again->job.output_uri,
            absl::StrCat(kArtifactRoot, "/sweep-1/job-", id, "/attempt-2"));
  EXPECT_EQ(JobText(id, "not_before"), "<null>");
  EXPECT_TRUE(Beat(worker, again->lease).valid);
  EXPECT_EQ(StateOfWorker(worker), WorkerState::kAlive);  // heartbeating again
}

// The contract (job_store.h): a job no longer leased or running answers
// FAILED_PRECONDITION to every report of the old lease.
TEST_F(JobStoreTest, FailOrHandBackOfAnExpiredLeaseIsRefused) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  clock_->Advance(absl::Seconds(61));
  ASSERT_EQ(Expire().requeued, 1);
  const std::string queued = Row(id);

  auto failed = dispatch_->Fail({.lease = leased->lease, .kind = "exit_code", .exit_code = 1});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition)
      << "Fail after the lease expired answered " << failed.status()
      << (failed.ok() ? absl::StrCat(" replayed=", failed->replayed) : "");
  auto handed = dispatch_->HandBackJob({.lease = leased->lease});
  EXPECT_EQ(handed.code(), absl::StatusCode::kFailedPrecondition)
      << "HandBackJob after the lease expired answered " << handed;
  EXPECT_EQ(Row(id), queued);
}

TEST_F(JobStoreTest, LeaseExpiringOnTheLastAttemptFailsTheJobAndItsFinetunes) {
  Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1"));
  const int64_t pretrain = Count("SELECT min(id) FROM jobs WHERE kind = 'pretrain'");
  const std::vector<int64_t> finetunes = Ids(absl::StrCat(
      "SELECT id FROM jobs WHERE depends_on_job_id = ", pretrain, " ORDER BY id"));
  ASSERT_EQ(finetunes.size(), 3u);
  const absl::Duration backoff[] = {absl::Seconds(10), absl::Seconds(20)};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto leased = LeaseOnly(worker, pretrain);
    ASSERT_TRUE(leased.has_value()) << "attempt " << attempt;
    EXPECT_EQ(leased->job.attempts, attempt);
    clock_->Advance(absl::Seconds(61));
    const auto expiry = Expire();
    if (attempt < 3) {
      EXPECT_EQ(expiry.requeued, 1);
      EXPECT_EQ(expiry.failed, 0);
      EXPECT_EQ(State(pretrain), "queued");
      EXPECT_EQ(Micros(pretrain, "not_before"),
                absl::ToUnixMicros(clock_->Now() + backoff[attempt - 1]));
      clock_->Advance(backoff[attempt - 1]);
    } else {
      EXPECT_EQ(expiry.requeued, 0);
      EXPECT_EQ(expiry.failed, 1);
    }
  }
  EXPECT_EQ(State(pretrain), "failed");
  EXPECT_EQ(Attempts(pretrain), 3);
  EXPECT_EQ(JobText(pretrain, "failure->>'kind'"), "lease_expired");
  EXPECT_EQ(Micros(pretrain, "finished_at"), absl::ToUnixMicros(clock_->Now()));
  for (int64_t f : finetunes) {
    EXPECT_EQ(State(f), "failed") << f;
    EXPECT_EQ(JobText(f, "failure->>'kind'"), "dependency_failed");
    EXPECT_THAT(JobText(f, "failure->>'message'"),
                HasSubstr(absl::StrCat("pretrain job ", pretrain)));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'failed'"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'blocked'"), 6);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM events WHERE kind = 'job.failed' AND "
                               "detail->>'kind' = 'dependency_failed'")),
            3);
  // A finetune never becomes leasable.
  int leased = 0;
  while (auto next = Lease(worker)) {
    EXPECT_NE(next->job.kind, plan::JobKind::kFinetune);
    EXPECT_NE(next->job.id, pretrain);
    ++leased;
  }
  EXPECT_EQ(leased, 11);
}

TEST_F(JobStoreTest, SilentWorkersAreMarkedLost) {
  const int64_t w1 = Register(Worker("w1"));
  const int64_t w2 = Register(Worker("w2"));
  clock_->Advance(absl::Seconds(40));
  ASSERT_TRUE(dispatch_->Heartbeat(w1, {}, false).ok());
  clock_->Advance(absl::Seconds(20));  // w2 silent exactly 60 s: still alive
  EXPECT_EQ(Expire().workers_lost, 0);
  clock_->Advance(absl::Seconds(10));  // w2 silent 70 s, w1 30 s
  EXPECT_EQ(Expire().workers_lost, 1);
  EXPECT_EQ(StateOfWorker(w1), WorkerState::kAlive);
  EXPECT_EQ(StateOfWorker(w2), WorkerState::kLost);
  EXPECT_EQ(Expire().workers_lost, 0);  // once
  // Draining is reported by the heartbeat.
  ASSERT_TRUE(dispatch_->Heartbeat(w1, {}, /*draining=*/true).ok());
  EXPECT_EQ(StateOfWorker(w1), WorkerState::kDraining);
  ASSERT_TRUE(dispatch_->Heartbeat(w2, {}, false).ok());
  EXPECT_EQ(StateOfWorker(w2), WorkerState::kAlive);
}

// ---- 5. Retries ----------------------------------------------------------------

TEST_F(JobStoreTest, RetryableFailureWaitsTheBackoffUntilAttemptsRunOut) {
  auto options = DefaultOptions();
  options.retry = {.base = absl::Seconds(10), .cap = absl::Seconds(25)};
  SetOptions(options);
  Submit(WithMaxAttempts(5, OneJob()));
  const int64_t worker = Register(Worker("w1"));
  // base * 2^(n-1), capped at 25 s.
  const absl::Duration expected[] = {absl::Seconds(10), absl::Seconds(20), absl::Seconds(25),
                                     absl::Seconds(25)};
  int64_t id = 0;
  int64_t last_token = 0;
  for (int attempt = 1; attempt <= 5; ++attempt) {
    auto leased = Lease(worker);
    ASSERT_TRUE(leased.has_value()) << "attempt " << attempt;
    id = leased->lease.job_id;
    EXPECT_EQ(leased->job.attempts, attempt);
    EXPECT_GT(leased->lease.fencing_token, last_token);
    last_token = leased->lease.fencing_token;
    clock_->Advance(absl::Seconds(5));
    auto failed = dispatch_->Fail({.lease = leased->lease,
                                   .kind = "exit_code",
                                   .exit_code = 1,
                                   .message = absl::StrCat("crash ", attempt),
                                   .gpu_seconds = 5});
    ASSERT_TRUE(failed.ok()) << failed.status();
    EXPECT_FALSE(failed->replayed);
    EXPECT_EQ(Attempts(id), attempt);
    if (attempt == 5) {
      EXPECT_FALSE(failed->will_retry);
      break;
    }
    const absl::Duration delay = expected[attempt - 1];
    EXPECT_TRUE(failed->will_retry);
    EXPECT_EQ(failed->retry_at, clock_->Now() + delay);
    EXPECT_EQ(State(id), "queued");
    EXPECT_EQ(Micros(id, "not_before"), absl::ToUnixMicros(clock_->Now() + delay));
    EXPECT_EQ(JobText(id, "failure->>'message'"), absl::StrCat("crash ", attempt));
    // Not before not_before.
    clock_->Advance(delay - absl::Seconds(1));
    EXPECT_FALSE(Lease(worker).has_value()) << "leased 1 s before its backoff ended";
    clock_->Advance(absl::Seconds(1));
  }
  EXPECT_EQ(State(id), "failed");
  EXPECT_EQ(Attempts(id), 5);
  EXPECT_EQ(JobText(id, "failure->>'kind'"), "exit_code");
  EXPECT_EQ(JobText(id, "gpu_seconds"), "25");
  EXPECT_EQ(Events("job.retrying"), 4);
  EXPECT_EQ(Events("job.failed"), 1);
  clock_->Advance(absl::Hours(1));
  EXPECT_FALSE(Lease(worker).has_value());
}

TEST_F(JobStoreTest, NonRetryableFailureFailsAtOnceAndReplaysAreAnsweredAgain) {
  Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1"));

  // Retryable, replayed with the same token: the same answer, no new attempt.
  auto train = Lease(worker);
  ASSERT_TRUE(train.has_value());
  const int64_t train_id = train->lease.job_id;
  const Failure crash{.lease = train->lease, .kind = "signal", .signal = 9, .message = "OOM"};
  auto first = dispatch_->Fail(crash);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->will_retry);
  const std::string after = Row(train_id);
  clock_->Advance(absl::Seconds(3));
  auto replay = dispatch_->Fail(crash);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_TRUE(replay->will_retry);
  EXPECT_EQ(Row(train_id), after);
  EXPECT_EQ(Attempts(train_id), 1);
  EXPECT_EQ(Events("job.retrying"), 1);

  // Not retryable: failed on attempt 1, its finetunes with it.
  const int64_t pretrain = Count("SELECT min(id) FROM jobs WHERE kind = 'pretrain'");
  auto leased = LeaseOnly(worker, pretrain);
  ASSERT_TRUE(leased.has_value());
  const Failure bad{.lease = leased->lease,
                    .kind = "exit_code",
                    .exit_code = 2,
                    .message = "bad config",
                    .retryable = false};
  auto failed = dispatch_->Fail(bad);
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_FALSE(failed->will_retry);
  EXPECT_FALSE(failed->replayed);
  EXPECT_EQ(State(pretrain), "failed");
  EXPECT_EQ(Attempts(pretrain), 1);
  EXPECT_EQ(JobText(pretrain, "failure->>'exit_code'"), "2");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM jobs WHERE depends_on_job_id = ", pretrain,
                               " AND state = 'failed' AND failure->>'kind' = 'dependency_failed'"
                               " AND failure->>'message' LIKE '%bad config%'")),
            3);
  const std::string failed_row = Row(pretrain);
  auto failed_replay = dispatch_->Fail(bad);
  ASSERT_TRUE(failed_replay.ok()) << failed_replay.status();
  EXPECT_TRUE(failed_replay->replayed);
  EXPECT_FALSE(failed_replay->will_retry);
  EXPECT_EQ(Row(pretrain), failed_row);
  // A completion for it now is stale.
  EXPECT_EQ(dispatch_->Complete({.lease = leased->lease, .checkpoint_uri = "file:///x"})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// "The same report repeated after it succeeded is answered as the first
// time": a replayed retryable failure says when the job runs again.
TEST_F(JobStoreTest, ReplayedFailureAnswersTheSameRetryTime) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const Failure crash{.lease = leased->lease, .kind = "exit_code", .exit_code = 1};
  auto first = dispatch_->Fail(crash);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->will_retry);
  EXPECT_EQ(first->retry_at, kT0 + absl::Seconds(10));
  auto replay = dispatch_->Fail(crash);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_TRUE(replay->will_retry);
  EXPECT_EQ(replay->retry_at, first->retry_at) << "replayed retry_at: " << replay->retry_at;
}

// ---- 6. Hand-back and cancellation -----------------------------------------

TEST_F(JobStoreTest, HandBackGivesTheAttemptBackAndKeepsTheResumeCheckpoint) {
  Submit(OneJob());
  const int64_t w1 = Register(Worker("w1"));
  const int64_t w2 = Register(Worker("w2"));
  auto leased = Lease(w1);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  ASSERT_TRUE(dispatch_->ReportProgress({.lease = leased->lease, .started = true}).ok());
  ASSERT_EQ(State(id), "running");
  const HandBack hand_back{.lease = leased->lease,
                           .reason = scheduler::HandBackReason::kPreempted,
                           .resume_checkpoint_uri = "file:///nfs/resume/step-5000.ckpt",
                           .gpu_seconds = 120};
  ASSERT_TRUE(dispatch_->HandBackJob(hand_back).ok());
  EXPECT_EQ(State(id), "queued");
  EXPECT_EQ(Attempts(id), 0);
  EXPECT_EQ(JobText(id, "resume_checkpoint_uri"), "file:///nfs/resume/step-5000.ckpt");
  EXPECT_EQ(JobText(id, "not_before"), "<null>");
  EXPECT_EQ(JobText(id, "gpu_seconds"), "120");
  EXPECT_EQ(Events("job.handed_back"), 1);
  // Replayed: nothing changes.
  const std::string after = Row(id);
  EXPECT_TRUE(dispatch_->HandBackJob(hand_back).ok());
  EXPECT_EQ(Row(id), after);
  EXPECT_EQ(Events("job.handed_back"), 1);
  // The old lease is dead.
  EXPECT_FALSE(Beat(w1, leased->lease).valid);
  EXPECT_EQ(dispatch_->Complete({.lease = leased->lease, .checkpoint_uri = "file:///x"})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);

  // Leasable at once; the next holder resumes.
  auto next = Lease(w2);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->lease.job_id, id);
  EXPECT_EQ(next->job.attempts, 1);
  EXPECT_GT(next->lease.fencing_token, leased->lease.fencing_token);
  EXPECT_EQ(next->resume_checkpoint_uri, "file:///nfs/resume/step-5000.ckpt");

  // Many hand-backs never exhaust the attempts.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(dispatch_->HandBackJob({.lease = next->lease}).ok());
    next = Lease(w2);
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->job.attempts, 1);
    // Without a new checkpoint, the last one is kept.
    EXPECT_EQ(next->resume_checkpoint_uri, "file:///nfs/resume/step-5000.ckpt");
  }
}

// After a hand-back the next lease runs the same attempt number again, so its
// log chunks (offsets from 0) collide with the handed-back attempt's.
TEST_F(JobStoreTest, LogOfTheLeaseAfterAHandBackIsStored) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto first = Lease(worker);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(dispatch_->AppendLog(first->lease, 0, "first holder: epoch 1\n").ok());
  ASSERT_TRUE(dispatch_->HandBackJob({.lease = first->lease}).ok());
  auto second = Lease(worker);
  ASSERT_TRUE(second.has_value());
  auto end = dispatch_->AppendLog(second->lease, 0, "second holder\n");
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(*end, 14);
  EXPECT_EQ(ReadAll(second->lease.job_id), "second holder\n")
      << "the log of the lease after a hand-back was dropped: both leases are attempt "
      << second->job.attempts << " and the chunk at offset 0 already existed";
}

TEST_F(JobStoreTest, CancelledSweepEndsItsLeasedJobs) {
  const int64_t sweep = Submit(kPickDualBottles);
  const int64_t worker = Register(Worker("w1", {kGpu80GiB, kGpu80GiB, kGpu80GiB}));
  auto a = Lease(worker, {0});
  auto b = Lease(worker, {1});
  auto c = Lease(worker, {2});
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(dispatch_->ReportProgress({.lease = a->lease, .started = true}).ok());
  EXPECT_FALSE(Beat(worker, a->lease).cancel_requested);

  auto cancelled = sweeps_->Cancel(sweep, "budget", {"alice", ""});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->jobs_stopping, 3);
  EXPECT_EQ(cancelled->jobs_cancelled, 18);

  // Told by heartbeat and by progress reports.
  auto beats = dispatch_->Heartbeat(worker, {a->lease, b->lease, c->lease}, false);
  ASSERT_TRUE(beats.ok()) << beats.status();
  ASSERT_EQ(beats->size(), 3u);
  for (const auto& s : *beats) {
    EXPECT_TRUE(s.valid);
    EXPECT_TRUE(s.cancel_requested);
  }
  auto progress = dispatch_->ReportProgress({.lease = a->lease, .progress_json = "{}"});
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_TRUE(progress->cancel_requested);
  // Nothing more is leased from a cancelled sweep.
  EXPECT_FALSE(Lease(worker, {0}).has_value());

  // Handed back: cancelled, not queued.
  ASSERT_TRUE(dispatch_->HandBackJob({.lease = a->lease,
                                      .reason = scheduler::HandBackReason::kCancelled})
                  .ok());
  EXPECT_EQ(State(a->lease.job_id), "cancelled");
  EXPECT_EQ(Attempts(a->lease.job_id), 1);
  EXPECT_NE(JobText(a->lease.job_id, "finished_at"), "<null>");
  EXPECT_TRUE(dispatch_->HandBackJob({.lease = a->lease}).ok());  // replayed
  EXPECT_EQ(State(a->lease.job_id), "cancelled");
  // Failed (the worker killed it): cancelled, not retried.
  auto failed = dispatch_->Fail({.lease = b->lease, .kind = "signal", .signal = 15});
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_FALSE(failed->will_retry);
  EXPECT_EQ(State(b->lease.job_id), "cancelled");
  // Silent: the expiry pass cancels it.
  clock_->Advance(absl::Seconds(61));
  const auto expiry = Expire();
  EXPECT_EQ(expiry.cancelled, 1);
  EXPECT_EQ(expiry.requeued, 0);
  EXPECT_EQ(State(c->lease.job_id), "cancelled");
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'cancelled'"), 21);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state IN ('queued', 'leased', 'running')"), 0);
}

// ---- 7. Matching ---------------------------------------------------------------

TEST_F(JobStoreTest, JobNeedingTwoGpusGoesToAWorkerWithTwoFree) {
  Submit(WithResources("resources:\n  gpus: 2\n", OneJob()));
  const int64_t one = Register(Worker("one-gpu", {kGpu80GiB}));
  const int64_t two = Register(Worker("two-gpus", {kGpu80GiB, kGpu80GiB}));
  EXPECT_FALSE(Lease(one, {0}).has_value());
  EXPECT_FALSE(Lease(two, {1}).has_value());  // one of its two is busy
  EXPECT_FALSE(Lease(two, {}).has_value());
  auto leased = Lease(two, {0, 1});
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->gpus, 2);
  EXPECT_EQ(leased->job.lease_worker_id, two);
}

TEST_F(JobStoreTest, LabelsMustAllBeCarried) {
  Submit(WithResources("resources:\n  gpus: 1\n  labels: {robot-lab: a}\n", OneJob()));
  const int64_t plain = Register(Worker("plain"));
  const int64_t lab_b = Register(Worker("lab-b", {kGpu80GiB}, {{"robot-lab", "b"}}));
  const int64_t other = Register(Worker("other", {kGpu80GiB}, {{"zone", "a"}}));
  const int64_t lab_a =
      Register(Worker("lab-a", {kGpu80GiB}, {{"robot-lab", "a"}, {"zone", "eu"}}));
  EXPECT_FALSE(Lease(plain).has_value());
  EXPECT_FALSE(Lease(lab_b).has_value());
  EXPECT_FALSE(Lease(other).has_value());
  auto leased = Lease(lab_a);
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->job.lease_worker_id, lab_a);
}

TEST_F(JobStoreTest, GpuMemoryMinimumIsCheckedAgainstTheRegisteredGpus) {
  Submit(WithResources("resources:\n  gpus: 1\n  min_gpu_memory_gib: 40\n", OneJob()));
  const int64_t small = Register(Worker("rtx4090", {kGpu24GiB}));
  const int64_t mixed = Register(Worker("mixed", {kGpu80GiB, kGpu24GiB}));
  const int64_t big = Register(Worker("h100", {kGpu80GiB}));
  EXPECT_FALSE(Lease(small, {0}).has_value());
  EXPECT_FALSE(Lease(mixed, {1}).has_value());     // only the 24 GiB one is free
  EXPECT_FALSE(Lease(mixed, {0, 1}).has_value());  // the smallest free one counts
  // A GPU the worker never registered is the worker's bug.
  auto unknown = TryLease(big, {0, 3});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument) << unknown.status();
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("free_gpu_indices"));
  auto negative = TryLease(big, {-1});
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'leased'"), 0);

  auto leased = Lease(big, {0});
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->min_gpu_memory_gib, 40);
  EXPECT_EQ(leased->job.lease_worker_id, big);
}

// ---- 8. Priority and round-robin -------------------------------------------

TEST_F(JobStoreTest, SweepsOfEqualPriorityTakeTurns) {
  const int64_t a = Submit(WithName("sweep-a"));
  const int64_t b = Submit(WithName("sweep-b"));
  const int64_t worker = Register(Worker("w1"));
  std::vector<int64_t> order;
  for (int i = 0; i < 8; ++i) {
    clock_->Advance(absl::Seconds(1));
    auto leased = Lease(worker);
    ASSERT_TRUE(leased.has_value());
    order.push_back(leased->job.sweep_id);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{a, b, a, b, a, b, a, b}));
  EXPECT_EQ(Count(absl::StrCat("SELECT (extract(epoch FROM last_leased_at) * 1000000)::bigint "
                               "FROM sweeps WHERE id = ", b)),
            absl::ToUnixMicros(clock_->Now()));
}

// Leases in the same microsecond (a burst, or replicas) tie on
// last_leased_at; the tie must not always favour the lower sweep id.
TEST_F(JobStoreTest, SweepsOfEqualPriorityTakeTurnsWithinOneInstant) {
  const int64_t a = Submit(WithName("sweep-a"));
  const int64_t b = Submit(WithName("sweep-b"));
  const int64_t worker = Register(Worker("w1"));
  std::map<int64_t, int> per_sweep;
  for (int i = 0; i < 8; ++i) {
    auto leased = Lease(worker);
    ASSERT_TRUE(leased.has_value());
    ++per_sweep[leased->job.sweep_id];
  }
  EXPECT_EQ(per_sweep[a], 4);
  EXPECT_EQ(per_sweep[b], 4);
}

TEST_F(JobStoreTest, HigherPrioritySweepIsServedFirst) {
  const int64_t low = Submit(WithName("low"));
  const int64_t high = Submit(WithPriority(5, WithName("high")));
  const int64_t worker = Register(Worker("w1"));
  for (int i = 0; i < 12; ++i) {
    clock_->Advance(absl::Seconds(1));
    auto leased = Lease(worker);
    ASSERT_TRUE(leased.has_value());
    EXPECT_EQ(leased->job.sweep_id, high) << "lease " << i;
  }
  // The high-priority sweep has only blocked finetunes left: the low one's turn.
  clock_->Advance(absl::Seconds(1));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->job.sweep_id, low);
}

// ---- 9. Concurrency ------------------------------------------------------------

TEST_F(JobStoreTest, EightWorkersLeaseEveryJobExactlyOnce) {
  Submit(kPickDualBottles);
  constexpr int kWorkers = 8;
  std::vector<int64_t> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(Register(Worker(absl::StrCat("w", i))));

  std::mutex mu;
  std::map<int64_t, int> leases_per_job;
  std::set<int64_t> live;  // jobs with a lease not yet completed
  std::set<int64_t> tokens;
  std::vector<std::string> errors;
  std::atomic<int> succeeded{0};
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);

  auto run = [&](int64_t worker) {
    while (succeeded.load() < 21 && std::chrono::steady_clock::now() < give_up) {
      auto leased = TryLease(worker);
      if (!leased.ok()) {
        std::lock_guard lock(mu);
        errors.push_back(absl::StrCat("lease: ", leased.status().ToString()));
        continue;
      }
      if (!leased->has_value()) {
        std::this_thread::yield();
        continue;
      }
      const LeaseRef lease = (*leased)->lease;
      {
        std::lock_guard lock(mu);
        ++leases_per_job[lease.job_id];
        if (!live.insert(lease.job_id).second) {
          errors.push_back(absl::StrCat("job ", lease.job_id, " leased twice at once"));
        }
        if (!tokens.insert(lease.fencing_token).second) {
          errors.push_back(absl::StrCat("token ", lease.fencing_token, " granted twice"));
        }
        if ((*leased)->job.kind == plan::JobKind::kFinetune &&
            (*leased)->init_checkpoint_uri.empty()) {
          errors.push_back(absl::StrCat("finetune ", lease.job_id, " without a checkpoint"));
        }
      }
      auto done = dispatch_->Complete(
          {.lease = lease, .checkpoint_uri = absl::StrCat("file:///ckpt/", lease.job_id)});
      {
        std::lock_guard lock(mu);
        live.erase(lease.job_id);
      }
      if (!done.ok() || done->replayed) {
        std::lock_guard lock(mu);
        errors.push_back(absl::StrCat("complete ", lease.job_id, ": ",
                                      done.ok() ? "replayed" : done.status().ToString()));
        continue;
      }
      succeeded.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int64_t w : workers) threads.emplace_back(run, w);
  for (auto& t : threads) t.join();

  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(succeeded.load(), 21);
  EXPECT_EQ(leases_per_job.size(), 21u);
  for (const auto& [job, n] : leases_per_job) EXPECT_EQ(n, 1) << "job " << job;
  EXPECT_EQ(tokens.size(), 21u);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'succeeded'"), 21);
  EXPECT_EQ(Count("SELECT count(DISTINCT fencing_token) FROM jobs"), 21);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE attempts <> 1"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE checkpoint_uri IS NULL"), 0);
  EXPECT_EQ(Events("job.leased"), 21);
}

// ---- 10. Deadline --------------------------------------------------------------

TEST_F(JobStoreTest, JobPastItsDeadlineFailsWithoutRetry) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  Exec("UPDATE jobs SET deadline_seconds = 100");
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  ASSERT_TRUE(leased->deadline.has_value());
  EXPECT_EQ(*leased->deadline, absl::Seconds(100));
  EXPECT_EQ(Micros(id, "deadline_at"), absl::ToUnixMicros(kT0 + absl::Seconds(100)));
  ASSERT_TRUE(dispatch_->ReportProgress({.lease = leased->lease, .started = true}).ok());
  // Heartbeating, it keeps its lease but not past the deadline.
  for (int i = 0; i < 2; ++i) {
    clock_->Advance(absl::Seconds(50));
    EXPECT_TRUE(Beat(worker, leased->lease).valid);
    EXPECT_EQ(Expire().failed, 0);
  }
  clock_->Advance(absl::Seconds(1));
  ASSERT_TRUE(Beat(worker, leased->lease).valid);
  const auto expiry = Expire();
  EXPECT_EQ(expiry.failed, 1);
  EXPECT_EQ(expiry.requeued, 0);
  EXPECT_EQ(State(id), "failed");
  EXPECT_EQ(Attempts(id), 1);  // attempts were left: no retry all the same
  EXPECT_EQ(JobText(id, "failure->>'kind'"), "deadline_exceeded");
  EXPECT_THAT(JobText(id, "failure->>'message'"), HasSubstr("100 s"));
  EXPECT_FALSE(Beat(worker, leased->lease).valid);
  EXPECT_EQ(dispatch_->Complete({.lease = leased->lease, .checkpoint_uri = "file:///x"})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  clock_->Advance(absl::Hours(1));
  EXPECT_FALSE(Lease(worker).has_value());
}

TEST_F(JobStoreTest, DeadlineComesFromTheSpec) {
  Submit(Replace(OneJob(), "max_attempts: 3\n", "max_attempts: 3\njob_deadline_hours: 0.5\n"));
  const int64_t worker = Register(Worker("w1"));
  EXPECT_EQ(Count("SELECT deadline_seconds FROM jobs"), 1800);
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  ASSERT_TRUE(leased->deadline.has_value());
  EXPECT_EQ(*leased->deadline, absl::Minutes(30));
}

// ---- 11. Logs --------------------------------------------------------------------

TEST_F(JobStoreTest, LogChunksAreStoredOnceInOrderAndTrimmed) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto leased = Lease(worker);
  ASSERT_TRUE(leased.has_value());
  const int64_t id = leased->lease.job_id;
  const LeaseRef lease = leased->lease;

  int64_t offset = 0;
  for (const std::string chunk : {"step 1\n", "step 2\n", "step 3\n"}) {
    auto end = dispatch_->AppendLog(lease, offset, chunk);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_EQ(*end, offset + static_cast<int64_t>(chunk.size()));
    offset = *end;
  }
  EXPECT_EQ(ReadAll(id), "step 1\nstep 2\nstep 3\n");
  auto chunks = dispatch_->ReadLog(id, 0);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 3u);
  EXPECT_EQ((*chunks)[0].offset, 0);
  EXPECT_EQ((*chunks)[1].offset, 7);
  EXPECT_EQ((*chunks)[2].offset, 14);
  EXPECT_EQ((*chunks)[2].attempt, 1);

  // Re-sent: stored once.
  auto resent = dispatch_->AppendLog(lease, 7, "step 2\n");
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(*resent, 14);
  EXPECT_EQ(Count("SELECT count(*) FROM job_log_chunks"), 3);
  EXPECT_EQ(ReadAll(id), "step 1\nstep 2\nstep 3\n");

  // From an offset, and the tail.
  EXPECT_EQ(ReadAll(id, 10), "p 2\nstep 3\n");
  EXPECT_EQ(ReadAll(id, -9), "2\nstep 3\n");
  EXPECT_EQ(ReadAll(id, -1000), "step 1\nstep 2\nstep 3\n");
  EXPECT_EQ(ReadAll(id, 21), "");
  auto tail = dispatch_->ReadLog(id, -3);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].offset, 18);
  EXPECT_EQ((*tail)[0].data, " 3\n");
  // Bytes, not text.
  const std::string binary("\x00\xff\x1b[31mred\n", 10);
  ASSERT_TRUE(dispatch_->AppendLog(lease, 21, binary).ok());
  EXPECT_EQ(ReadAll(id, 21), binary);

  // Keep about the last 10 bytes: chunks ending at or before end - 10 go.
  auto end = jobs_->AppendLog(lease, 31, "0123456789", /*keep_bytes=*/10, clock_->Now());
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(*end, 41);
  EXPECT_EQ(Count("SELECT count(*) FROM job_log_chunks"), 1);
  EXPECT_EQ(ReadAll(id), "0123456789");
  chunks = dispatch_->ReadLog(id, 0);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 1u);
  EXPECT_EQ((*chunks)[0].offset, 31);

  // Through the service: its log_keep_bytes.
  auto options = DefaultOptions();
  options.log_keep_bytes = 16;
  SetOptions(options);
  ASSERT_TRUE(dispatch_->AppendLog(lease, 41, "abcdefgh").ok());  // 31..49: all kept
  EXPECT_EQ(ReadAll(id), "0123456789abcdefgh");
  ASSERT_TRUE(dispatch_->AppendLog(lease, 49, "ijklmnop").ok());  // ends 57: drop the 31..41 one
  EXPECT_EQ(ReadAll(id), "abcdefghijklmnop");

  // Too big a chunk is refused before the store.
  options.max_log_chunk_bytes = 4;
  SetOptions(options);
  EXPECT_EQ(dispatch_->AppendLog(lease, 57, "12345").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dispatch_->AppendLog(lease, -1, "1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, ReadLogShowsTheLatestAttemptAndDropsOlderOnes) {
  Submit(OneJob());
  const int64_t worker = Register(Worker("w1"));
  auto first = Lease(worker);
  ASSERT_TRUE(first.has_value());
  const int64_t id = first->lease.job_id;
  ASSERT_TRUE(jobs_->AppendLog(first->lease, 0, "attempt one\n", 16, clock_->Now()).ok());
  ASSERT_TRUE(dispatch_->Fail({.lease = first->lease, .kind = "exit_code", .exit_code = 1}).ok());
  clock_->Advance(absl::Seconds(10));
  auto second = Lease(worker);
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->job.attempts, 2);
  EXPECT_EQ(ReadAll(id), "attempt one\n");  // nothing of attempt 2 yet
  ASSERT_TRUE(jobs_->AppendLog(second->lease, 0, "two\n", 16, clock_->Now()).ok());
  EXPECT_EQ(ReadAll(id), "two\n");
  EXPECT_EQ(Count("SELECT count(*) FROM job_log_chunks WHERE attempt = 1"), 1);
  // Once attempt 2 has keep_bytes, attempt 1 goes.
  ASSERT_TRUE(jobs_->AppendLog(second->lease, 4, "0123456789ABCDEF", 16, clock_->Now()).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM job_log_chunks WHERE attempt = 1"), 0);
  auto chunks = dispatch_->ReadLog(id, 0);
  ASSERT_TRUE(chunks.ok());
  ASSERT_FALSE(chunks->empty());
  EXPECT_EQ(chunks->back().attempt, 2);
}

}  // namespace
}  // namespace mixsweep
