// The evaluation layer against a real PostgreSQL 15: evaluation requests
// queued by job completions, robots, blind batches (NextBatch), trials
// (RecordTrials, CorrectTrial, ListResults), stale marks and the estimate
// recomputer, and the utilization service's computed-not-stored estimates.
//
// Services under test: evaluation::EvaluationService over db::PgEvaluationStore
// and db::PgEstimateStore, evaluation::EstimateRecomputer and
// evaluation::UtilizationService; sweeps come from scheduler::SweepService over
// db::PgSweepStore, checkpoints from db::PgJobStore's Lease and Complete.
// After each call the database itself is checked with plain SQL.
//
// Time is a scheduler::FakeClock: no test sleeps. Every test has its own
// database (CreateTestDatabase) with the embedded migrations applied.
//
// Tests marked "Regression:" failed against an earlier version and name the
// defect they caught.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "db/connection_pool.h"
#include "db/migrations.h"
#include "db/pg_estimate_store.h"
#include "db/pg_evaluation_store.h"
#include "db/pg_job_store.h"
#include "db/pg_sweep_store.h"
#include "scheduler/change_signal.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/job_store.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/evaluation/evaluation_service.h"
#include "scheduler/evaluation/evaluation_store.h"
#include "scheduler/evaluation/recomputer.h"
#include "scheduler/evaluation/spec_cache.h"
#include "scheduler/evaluation/utilization_service.h"
#include "scheduler/sweep_service.h"
#include "scheduler/utilization/estimate_json.h"
#include "tests/support/example_specs.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;
using evaluation::BatchRecord;
using evaluation::OperatorBatch;
using evaluation::RecordTrialsResult;
using evaluation::RequestRecord;
using evaluation::RequestState;
using evaluation::ResultRecord;
using evaluation::RobotRecord;
using evaluation::StaleMark;
using evaluation::StoredEstimate;
using evaluation::TrialRecord;
using evaluation::TrialValues;
using scheduler::LeasedJob;
using scheduler::WriteContext;

// docs/examples/pick_dual_bottles.yaml (embedded at build time): 18 runs
// (9 train, 3 shared pretrains, 9 finetunes: 21 jobs), scenarios in_domain,
// unseen_background, unseen_position, 10 trials each, milestones
// first_bottle_grasped 0.5, both_bottles_lifted 1.0.
constexpr const char* kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;
constexpr int kRuns = 18;
constexpr int kScenarios = 3;
constexpr char kArtifactRoot[] = "file:///nfs/artifacts";
constexpr char kAloha[] = "aloha-agilex-2.0";
constexpr char kArx[] = "dual-arx-r5";
constexpr char kGrasped[] = "first_bottle_grasped";
constexpr char kLifted[] = "both_bottles_lifted";

// `text` with the one occurrence of `from` replaced by `to` (fails the test
// if `from` is not there exactly once).
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the spec";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' twice";
  return text.replace(at, from.size(), to);
}

constexpr char kScenarioList[] = "scenarios: [in_domain, unseen_background, unseen_position]";

// One run (t50, baseline, seed 0): one train job, three requests.
std::string OneRun(const std::string& yaml = kPickDualBottles) {
  std::string out = Replace(yaml, "n_tele: [50, 100, 200]", "n_tele: [50]");
  out = Replace(out, "n_nt: [0, 1000]", "n_nt: [0]");
  return Replace(out, "seeds: [0, 1, 2]", "seeds: [0]");
}
std::string WithName(const std::string& name, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, "name: pick-dual-bottles-sim", "name: " + name);
}

const std::regex& LabelPattern() {
  static const std::regex pattern("^P-[0-9A-F]{12}$");
  return pattern;
}

// A trial by its index and what was achieved.
TrialValues Trial(int index, std::vector<std::string> achieved = {}) {
  return TrialValues{.trial_index = index,
                     .achieved = std::move(achieved),
                     .success = false,
                     .duration_ms = 42'000,
                     .operator_name = "ana",
                     .robot_id = "aloha-1"};
}

std::vector<int64_t> IdsOf(const std::vector<RequestRecord>& requests) {
  std::vector<int64_t> ids;
  for (const RequestRecord& r : requests) ids.push_back(r.id);
  return ids;
}
std::vector<int64_t> Sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

class EvaluationPgTest : public ::testing::Test {
 protected:
  const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
  // Few resamples: the tests check storage, not the bootstrap.
  const utilization::EstimateParams kParams{.n_t_star = 0, .resamples = 200, .level = 0.95};

  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 12);
    sweep_store_ = std::make_unique<db::PgSweepStore>(*pool_);
    sweeps_ = std::make_unique<scheduler::SweepService>(*sweep_store_,
                                                        scheduler::SweepService::Options{});
    jobs_ = std::make_unique<db::PgJobStore>(*pool_);
    clock_ = std::make_unique<scheduler::FakeClock>(kT0);
    store_ = std::make_unique<db::PgEvaluationStore>(*pool_);
    estimates_ = std::make_unique<db::PgEstimateStore>(*pool_);
    specs_ = std::make_unique<evaluation::SpecCache>(*sweep_store_);
    service_ = std::make_unique<evaluation::EvaluationService>(*store_, *estimates_, *specs_,
                                                               trials_changed_);
    utilization_ =
        std::make_unique<evaluation::UtilizationService>(*estimates_, *sweep_store_, *specs_,
                                                          kParams);
  }

  // ---- SQL -----------------------------------------------------------------
  int64_t Count(const std::string& sql) { return testing::SqlCount(dsn_, sql); }
  std::string Text(const std::string& sql) { return testing::SqlText(dsn_, sql); }
  void Exec(const std::string& sql) { testing::SqlExec(dsn_, sql); }
  std::vector<int64_t> Ids(const std::string& sql) {
    pqxx::connection conn(dsn_);
    pqxx::nontransaction tx(conn);
    std::vector<int64_t> ids;
    for (const auto& row : tx.exec(sql)) ids.push_back(row[0].as<int64_t>());
    return ids;
  }
  std::vector<std::string> Texts(const std::string& sql) {
    pqxx::connection conn(dsn_);
    pqxx::nontransaction tx(conn);
    std::vector<std::string> out;
    for (const auto& row : tx.exec(sql)) out.push_back(row[0].as<std::string>());
    return out;
  }
  int64_t Requests(const std::string& where = "true") {
    return Count("SELECT count(*) FROM evaluation_requests WHERE " + where);
  }
  int64_t Trials(const std::string& where = "true") {
    return Count("SELECT count(*) FROM trials WHERE " + where);
  }
  int64_t StaleRows() { return Count("SELECT count(*) FROM stale_estimates"); }
  int64_t EstimateRows() { return Count("SELECT count(*) FROM utilization_estimates"); }
  int64_t Events(const std::string& kind) {
    return Count("SELECT count(*) FROM events WHERE kind = '" + kind + "'");
  }
  // Every row of a table as JSON text, to show that a refused call changed
  // nothing.
  std::string Snapshot(const std::string& table) {
    return Text("SELECT coalesce(json_agg(t ORDER BY t::text)::text, '[]') FROM " + table + " t");
  }
  std::string Everything() {
    return absl::StrCat(Snapshot("trials"), "\n", Snapshot("evaluation_requests"), "\n",
                        Snapshot("stale_estimates"), "\n", Snapshot("idempotency_keys"), "\n",
                        Snapshot("events"));
  }

  // ---- Sweeps and checkpoints ------------------------------------------------
  int64_t Submit(const std::string& yaml) {
    auto submitted = sweeps_->Submit(yaml, /*validate_only=*/false, {"alice", ""});
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : 0;
  }
  int64_t Worker() {
    if (worker_ != 0) return worker_;
    scheduler::WorkerRecord w;
    w.name = "gpu-node-1";
    w.host = "gpu-node-1.lab";
    w.gpus.push_back({.index = 0,
                      .name = "NVIDIA H100 80GB HBM3",
                      .memory_total_mib = 81559,
                      .uuid = "GPU-gpu-node-1-0"});
    w.version = "test";
    auto id = jobs_->RegisterWorker(w, "", clock_->Now());
    EXPECT_TRUE(id.ok()) << id.status();
    worker_ = id.ok() ? *id : 0;
    return worker_;
  }
  std::optional<LeasedJob> LeaseAny() {
    auto leased = jobs_->Lease({.worker_id = Worker(),
                                .free_gpu_indices = {0},
                                .ttl = absl::Seconds(60),
                                .artifact_root = kArtifactRoot},
                               clock_->Now());
    EXPECT_TRUE(leased.ok()) << leased.status();
    return leased.ok() ? *leased : std::nullopt;
  }
  // Leases job `job_id` and no other (every other queued job is held back
  // for the call, as job_store_pgtest does).
  std::optional<LeasedJob> LeaseOnly(int64_t job_id) {
    Exec(absl::StrCat("UPDATE jobs SET not_before = 'infinity' WHERE state = 'queued' AND id <> ",
                      job_id, " AND not_before IS NULL"));
    auto leased = LeaseAny();
    Exec("UPDATE jobs SET not_before = NULL WHERE not_before = 'infinity'");
    EXPECT_TRUE(leased.has_value()) << "job " << job_id << " was not leased";
    if (leased) {
      EXPECT_EQ(leased->lease.job_id, job_id);
    }
    return leased;
  }
  static std::string CheckpointOf(int64_t job_id) {
    return absl::StrCat(kArtifactRoot, "/job-", job_id, "/latest.ckpt");
  }
  scheduler::CompletionResult Complete(const LeasedJob& leased) {
    auto done = jobs_->Complete({.lease = leased.lease,
                                 .checkpoint_uri = CheckpointOf(leased.lease.job_id),
                                 .gpu_seconds = 60},
                                clock_->Now());
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : scheduler::CompletionResult{};
  }
  // Leases and completes every job there is (pretrains unblock finetunes).
  int CompleteAll() {
    int completed = 0;
    while (std::optional<LeasedJob> leased = LeaseAny()) {
      Complete(*leased);
      ++completed;
      if (completed > 1000) break;
    }
    return completed;
  }
  // Submits a sweep and completes all of its jobs: its requests are open.
  int64_t SweepWithCheckpoints(const std::string& yaml = kPickDualBottles) {
    const int64_t sweep = Submit(yaml);
    CompleteAll();
    return sweep;
  }
  std::vector<int64_t> RequestIds(int64_t sweep, const std::string& scenario) {
    return Ids(absl::StrCat("SELECT id FROM evaluation_requests WHERE sweep_id = ", sweep,
                            " AND scenario = '", scenario, "' ORDER BY id"));
  }

  // ---- Evaluation calls ------------------------------------------------------
  RobotRecord Robot(const std::string& id, const std::string& platform = kAloha) {
    auto robot = service_->RegisterRobot({.id = id, .platform = platform, .location = "lab A"},
                                         {"ops", ""});
    EXPECT_TRUE(robot.ok()) << robot.status();
    return robot.ok() ? *robot : RobotRecord{};
  }
  OperatorBatch Next(const std::string& robot, int max_policies = 0) {
    auto batch = service_->NextBatch(
        {.robot_id = robot, .operator_name = "ana", .max_policies = max_policies});
    EXPECT_TRUE(batch.ok()) << batch.status();
    return batch.ok() ? *batch : OperatorBatch{};
  }
  absl::StatusOr<RecordTrialsResult> TryRecord(int64_t request_id,
                                               std::vector<TrialValues> trials,
                                               const std::string& key = "") {
    return service_->RecordTrials({.request_id = request_id, .trials = std::move(trials)},
                                  {"ana", key});
  }
  RecordTrialsResult Record(int64_t request_id, std::vector<TrialValues> trials,
                            const std::string& key = "") {
    auto r = TryRecord(request_id, std::move(trials), key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RecordTrialsResult{};
  }
  RequestRecord Request(int64_t id) {
    auto r = store_->GetRequest(id);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RequestRecord{};
  }

  // How many of a request's 10 trials lift both bottles: grows with N_tele,
  // more with simulation data, and varies a little with the seed, so that
  // the estimates have a curve to fit.
  static int Successes(const RequestRecord& r) {
    const int base = r.n_tele <= 50 ? 3 : r.n_tele <= 100 ? 5 : 6;
    return base + (r.source.empty() ? 0 : 2) + static_cast<int>(r.seed % 2);
  }
  // Trials [from, to) of the request: successes lift both bottles, the
  // next grasps one, the rest reach nothing.
  std::vector<TrialValues> PatternTrials(const RequestRecord& r, int from, int to) {
    const int k = Successes(r);
    std::vector<TrialValues> out;
    for (int i = from; i < to; ++i) {
      if (i < k) {
        out.push_back(Trial(i, {kLifted}));
      } else if (i == k) {
        out.push_back(Trial(i, {kGrasped}));
      } else {
        out.push_back(Trial(i));
      }
    }
    return out;
  }
  // Records every trial of every request of the scenario (but only the
  // first `partial` trials of the request `partial_request`, if given).
  void RecordScenario(int64_t sweep, const std::string& scenario, int64_t partial_request = 0,
                      int partial = 0) {
    for (int64_t id : RequestIds(sweep, scenario)) {
      const RequestRecord r = Request(id);
      const int to = id == partial_request ? partial : r.trials_wanted;
      Record(id, PatternTrials(r, 0, to));
    }
  }

  std::vector<StoredEstimate> Latest(int64_t sweep, const std::string& scenario = "") {
    auto latest = estimates_->LatestEstimates({.sweep_id = sweep, .scenario = scenario});
    EXPECT_TRUE(latest.ok()) << latest.status();
    return latest.ok() ? *latest : std::vector<StoredEstimate>{};
  }
  std::vector<StoredEstimate> ComputedNow(int64_t sweep, const std::string& scenario) {
    auto inputs = estimates_->LoadScenarioInputs(sweep, scenario);
    EXPECT_TRUE(inputs.ok()) << inputs.status();
    if (!inputs.ok()) return {};
    return evaluation::ComputeScenarioEstimates(*inputs, kParams);
  }
  int64_t MaxTrialId(int64_t sweep, const std::string& scenario) {
    return Count(absl::StrCat("SELECT coalesce(max(id), 0) FROM trials WHERE sweep_id = ", sweep,
                              " AND scenario = '", scenario, "'"));
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> sweep_store_;
  std::unique_ptr<scheduler::SweepService> sweeps_;
  std::unique_ptr<db::PgJobStore> jobs_;
  std::unique_ptr<scheduler::FakeClock> clock_;
  std::unique_ptr<db::PgEvaluationStore> store_;
  std::unique_ptr<db::PgEstimateStore> estimates_;
  std::unique_ptr<evaluation::SpecCache> specs_;
  scheduler::ChangeSignal trials_changed_;
  std::unique_ptr<evaluation::EvaluationService> service_;
  std::unique_ptr<evaluation::UtilizationService> utilization_;
  int64_t worker_ = 0;
};

// ---- 1. Requests ---------------------------------------------------------------

class EvaluationRequestsPgTest : public EvaluationPgTest {};

// A train or finetune completion queues one request per scenario of the
// sweep, with that scenario's trial count; a pretrain none; a replayed
// completion none.
TEST_F(EvaluationRequestsPgTest, OneRequestPerScenarioForEachRunCheckpoint) {
  std::string yaml = Replace(kPickDualBottles, "trials_per_scenario: 10", "trials_per_scenario: 7");
  yaml = Replace(yaml, kScenarioList,
                 "scenarios: [in_domain, {name: unseen_background, trials: 3}, unseen_position]");
  const int64_t sweep = Submit(yaml);
  ASSERT_GT(sweep, 0);
  EXPECT_EQ(Requests(), 0);
  const std::map<std::string, int> wanted = {
      {"in_domain", 7}, {"unseen_background", 3}, {"unseen_position", 7}};

  // A pretrain's checkpoint is no run's: no request.
  const int64_t pretrain = Count("SELECT min(id) FROM jobs WHERE kind = 'pretrain'");
  auto pre = LeaseOnly(pretrain);
  ASSERT_TRUE(pre.has_value());
  Complete(*pre);
  EXPECT_EQ(Requests(), 0);
  EXPECT_EQ(Text(absl::StrCat("SELECT detail->>'evaluations_queued' FROM events WHERE kind = "
                              "'job.succeeded' AND job_id = ", pretrain)),
            "0");

  // A train job's checkpoint: one request per scenario, for its run.
  const int64_t train = Count("SELECT min(id) FROM jobs WHERE kind = 'train'");
  const int64_t train_run = Count(absl::StrCat("SELECT id FROM runs WHERE train_job_id = ", train));
  auto trained = LeaseOnly(train);
  ASSERT_TRUE(trained.has_value());
  Complete(*trained);
  EXPECT_EQ(Requests(), 3);
  EXPECT_EQ(Requests(absl::StrCat("run_id = ", train_run)), 3);
  auto results = service_->ListResults({.sweep_id = sweep});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  std::set<std::string> labels;
  for (const ResultRecord& result : *results) {
    const RequestRecord& r = result.request;
    EXPECT_EQ(r.run_id, train_run);
    EXPECT_EQ(r.sweep_id, sweep);
    ASSERT_TRUE(wanted.contains(r.scenario)) << r.scenario;
    EXPECT_EQ(r.trials_wanted, wanted.at(r.scenario)) << r.scenario;
    EXPECT_EQ(r.trials_recorded, 0);
    EXPECT_EQ(r.state, RequestState::kOpen);
    EXPECT_EQ(r.checkpoint_uri, CheckpointOf(train));
    EXPECT_EQ(r.batch_id, "");
    EXPECT_EQ(r.platform, "");
    EXPECT_TRUE(std::regex_match(r.blind_label, LabelPattern())) << r.blind_label;
    labels.insert(r.blind_label);
    auto by_label = store_->FindRequestByLabel(r.blind_label);
    ASSERT_TRUE(by_label.ok()) << by_label.status();
    EXPECT_EQ(by_label->id, r.id);
  }
  EXPECT_EQ(labels.size(), 3u);
  EXPECT_EQ(Text(absl::StrCat("SELECT detail->>'evaluations_queued' FROM events WHERE kind = "
                              "'job.succeeded' AND job_id = ", train)),
            "3");

  // The same completion again (its answer was lost): replayed, no request.
  auto replay = jobs_->Complete({.lease = trained->lease, .checkpoint_uri = CheckpointOf(train)},
                                clock_->Now());
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(Requests(), 3);

  // A finetune's checkpoint is its run's.
  const int64_t finetune = Count(absl::StrCat(
      "SELECT min(id) FROM jobs WHERE kind = 'finetune' AND depends_on_job_id = ", pretrain));
  const int64_t finetune_run =
      Count(absl::StrCat("SELECT id FROM runs WHERE finetune_job_id = ", finetune));
  auto tuned = LeaseOnly(finetune);
  ASSERT_TRUE(tuned.has_value());
  Complete(*tuned);
  EXPECT_EQ(Requests(), 6);
  EXPECT_EQ(Requests(absl::StrCat("run_id = ", finetune_run, " AND checkpoint_uri = '",
                                  CheckpointOf(finetune), "'")),
            3);
  auto again = jobs_->Complete({.lease = tuned->lease, .checkpoint_uri = CheckpointOf(finetune)},
                               clock_->Now());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(Requests(), 6);

  // Everything else: 18 runs x 3 scenarios, none for the 3 pretrains.
  EXPECT_EQ(CompleteAll(), 21 - 3);
  EXPECT_EQ(Requests(), kRuns * kScenarios);
  EXPECT_EQ(Count("SELECT count(DISTINCT blind_label) FROM evaluation_requests"),
            kRuns * kScenarios);
  EXPECT_EQ(Requests("blind_label !~ '^P-[0-9A-F]{12}$'"), 0);
  for (const std::string& label : Texts("SELECT blind_label FROM evaluation_requests")) {
    EXPECT_TRUE(std::regex_match(label, LabelPattern())) << label;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT run_id FROM evaluation_requests GROUP BY run_id "
                  "HAVING count(*) = 3 AND count(DISTINCT scenario) = 3) x"),
            kRuns);
  for (const auto& [scenario, n] : wanted) {
    EXPECT_EQ(Requests(absl::StrCat("scenario = '", scenario, "' AND trials_wanted = ", n)), kRuns)
        << scenario;
  }
  // Each request carries its run's own checkpoint, never a pretrain's.
  EXPECT_EQ(Count("SELECT count(*) FROM evaluation_requests q JOIN runs r ON r.id = q.run_id "
                  "WHERE q.checkpoint_uri IS DISTINCT FROM r.checkpoint_uri"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM evaluation_requests q JOIN jobs j "
                  "ON j.checkpoint_uri = q.checkpoint_uri WHERE j.kind = 'pretrain'"),
            0);
  EXPECT_EQ(Requests("state = 'open' AND batch_id IS NULL"), kRuns * kScenarios);
  EXPECT_EQ(Count("SELECT sum((detail->>'evaluations_queued')::int) FROM events "
                  "WHERE kind = 'job.succeeded'"),
            kRuns * kScenarios);
}

// ---- 2. Robots -------------------------------------------------------------------

class EvaluationRobotsPgTest : public EvaluationPgTest {};

TEST_F(EvaluationRobotsPgTest, RegisterValidatesAndIsIdempotentByValue) {
  struct Bad {
    RobotRecord robot;
    std::string field;
  };
  const std::vector<Bad> bad = {
      {{.id = "", .platform = kAloha}, "robot.id"},
      {{.id = "aloha 1", .platform = kAloha}, "robot.id"},
      {{.id = "aloha/1", .platform = kAloha}, "robot.id"},
      {{.id = "r\xc3\xa9mi", .platform = kAloha}, "robot.id"},
      {{.id = std::string(65, 'a'), .platform = kAloha}, "robot.id"},
      {{.id = "aloha-1", .platform = ""}, "robot.platform"},
      {{.id = "aloha-1", .platform = "aloha agilex"}, "robot.platform"},
      {{.id = "aloha-1", .platform = std::string(65, 'p')}, "robot.platform"},
      {{.id = "aloha-1", .platform = kAloha, .location = "bench\n3"}, "robot.location"},
  };
  for (const Bad& b : bad) {
    auto r = service_->RegisterRobot(b.robot, {"ops", ""});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << b.robot.id << "': " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(b.field)) << r.status();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM robots"), 0);
  EXPECT_EQ(Events("robot.registered"), 0);

  // 64 characters is the limit, not beyond it.
  const RobotRecord longest = Robot(std::string(64, 'z'), kArx);
  EXPECT_EQ(longest.id, std::string(64, 'z'));

  const RobotRecord first = Robot("aloha-1");
  EXPECT_EQ(first.id, "aloha-1");
  EXPECT_EQ(first.platform, kAloha);
  EXPECT_EQ(first.location, "lab A");
  const RobotRecord second = Robot("aloha-1");  // the same robot again
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.platform, first.platform);
  EXPECT_EQ(second.registered_at, first.registered_at);
  EXPECT_EQ(Count("SELECT count(*) FROM robots"), 2);
  EXPECT_EQ(Events("robot.registered"), 2);
  auto listed = service_->ListRobots();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(std::count_if(listed->begin(), listed->end(),
                          [](const RobotRecord& r) { return r.id == "aloha-1"; }),
            1);

  // The same id as another robot: refused, the first one kept as it was.
  const std::string before = Snapshot("robots");
  auto other_platform = service_->RegisterRobot(
      {.id = "aloha-1", .platform = kArx, .location = "lab A"}, {"ops", ""});
  EXPECT_EQ(other_platform.status().code(), absl::StatusCode::kAlreadyExists)
      << other_platform.status();
  EXPECT_THAT(other_platform.status().message(), HasSubstr("aloha-1"));
  auto other_location = service_->RegisterRobot(
      {.id = "aloha-1", .platform = kAloha, .location = "lab B"}, {"ops", ""});
  EXPECT_EQ(other_location.status().code(), absl::StatusCode::kAlreadyExists)
      << other_location.status();
  EXPECT_EQ(Snapshot("robots"), before);
  EXPECT_EQ(Text("SELECT platform FROM robots WHERE id = 'aloha-1'"), kAloha);
  EXPECT_EQ(Events("robot.registered"), 2);
}

// ---- 3. NextBatch ------------------------------------------------------------------

class EvaluationBatchPgTest : public EvaluationPgTest {};

TEST_F(EvaluationBatchPgTest, RefusesUnknownRobotsAndBadArguments) {
  SweepWithCheckpoints();
  ASSERT_EQ(Requests(), kRuns * kScenarios);
  auto ghost = service_->NextBatch({.robot_id = "ghost-1"});
  EXPECT_EQ(ghost.status().code(), absl::StatusCode::kNotFound) << ghost.status();
  EXPECT_THAT(ghost.status().message(), HasSubstr("robot_id"));

  Robot("aloha-1");
  auto bad_id = service_->NextBatch({.robot_id = "aloha 1"});
  EXPECT_EQ(bad_id.status().code(), absl::StatusCode::kInvalidArgument) << bad_id.status();
  EXPECT_THAT(bad_id.status().message(), HasSubstr("robot_id"));
  for (int max : {-1, 101}) {
    auto r = service_->NextBatch({.robot_id = "aloha-1", .max_policies = max});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << max << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("max_policies"));
  }
  EXPECT_EQ(Requests("batch_id IS NOT NULL OR robot_id IS NOT NULL"), 0);
  EXPECT_EQ(Events("evaluation.batch_assigned"), 0);
}

// One (sweep, scenario) per batch, at most max_policies, oldest requests of
// the group, stored in blind order; the robot gets the same batch back until
// every request of it is complete.
TEST_F(EvaluationBatchPgTest, ABatchIsOneScenarioHeldUntilItsRequestsComplete) {
  const int64_t sweep = SweepWithCheckpoints();
  Robot("aloha-1");
  const OperatorBatch first = Next("aloha-1", 5);
  const BatchRecord& batch = first.batch;
  ASSERT_FALSE(batch.batch_id.empty());
  EXPECT_TRUE(std::regex_match(batch.batch_id, std::regex("^B-[0-9A-F]{10}$"))) << batch.batch_id;
  EXPECT_EQ(batch.robot_id, "aloha-1");
  EXPECT_EQ(batch.sweep_id, sweep);
  EXPECT_FALSE(batch.reason.empty());
  ASSERT_EQ(batch.requests.size(), 5u);
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    const RequestRecord& r = batch.requests[i];
    EXPECT_EQ(r.sweep_id, sweep);
    EXPECT_EQ(r.scenario, batch.scenario);
    EXPECT_EQ(r.batch_id, batch.batch_id);
    EXPECT_EQ(r.robot_id, "aloha-1");
    EXPECT_EQ(r.batch_position, static_cast<int>(i) + 1) << "requests in batch_position order";
    EXPECT_EQ(r.state, RequestState::kOpen);
    EXPECT_TRUE(std::regex_match(r.blind_label, LabelPattern())) << r.blind_label;
  }
  // The rubric the operator scores with.
  EXPECT_EQ(first.task, "pick_dual_bottles");
  EXPECT_EQ(first.rubric.kind, spec::RubricKind::kMilestones);
  ASSERT_EQ(first.rubric.entries.size(), 2u);
  EXPECT_EQ(first.rubric.entries[0].name, kGrasped);
  EXPECT_DOUBLE_EQ(first.rubric.entries[0].value, 0.5);
  EXPECT_EQ(first.rubric.entries[1].name, kLifted);
  EXPECT_DOUBLE_EQ(first.rubric.entries[1].value, 1.0);

  // In the database: the same five, one scenario, positions 1..5 in the
  // order returned; the oldest requests of the scenario.
  const std::string in_batch = absl::StrCat("batch_id = '", batch.batch_id, "'");
  EXPECT_EQ(Requests(in_batch), 5);
  EXPECT_EQ(Requests("batch_id IS NOT NULL"), 5);
  EXPECT_EQ(Ids(absl::StrCat("SELECT id FROM evaluation_requests WHERE ", in_batch,
                             " ORDER BY batch_position")),
            IdsOf(batch.requests));
  EXPECT_EQ(Ids(absl::StrCat("SELECT batch_position FROM evaluation_requests WHERE ", in_batch,
                             " ORDER BY batch_position")),
            (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(DISTINCT (sweep_id, scenario)) FROM "
                               "evaluation_requests WHERE ", in_batch)),
            1);
  EXPECT_EQ(Requests(in_batch + " AND robot_id = 'aloha-1' AND batch_operator = 'ana'"), 5);
  std::vector<int64_t> oldest = RequestIds(sweep, batch.scenario);
  oldest.resize(5);
  EXPECT_EQ(Sorted(IdsOf(batch.requests)), oldest);
  EXPECT_EQ(Events("evaluation.batch_assigned"), 1);
  EXPECT_EQ(Ids("SELECT jsonb_array_elements_text(detail->'requests')::bigint FROM events "
                "WHERE kind = 'evaluation.batch_assigned'"),
            IdsOf(batch.requests));

  // Asked again (even for another size): the same batch, the same order.
  const OperatorBatch again = Next("aloha-1", 2);
  EXPECT_EQ(again.batch.batch_id, batch.batch_id);
  EXPECT_EQ(IdsOf(again.batch.requests), IdsOf(batch.requests));
  EXPECT_EQ(again.rubric.entries.size(), 2u);
  auto held = store_->OpenBatchOf("aloha-1");
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->batch_id, batch.batch_id);
  EXPECT_EQ((*held)->scenario, batch.scenario);
  EXPECT_EQ(IdsOf((*held)->requests), IdsOf(batch.requests));
  EXPECT_EQ(Events("evaluation.batch_assigned"), 1);
  EXPECT_EQ(Requests("batch_id IS NOT NULL"), 5);

  // Four of five complete: still the same batch.
  for (size_t i = 0; i + 1 < batch.requests.size(); ++i) {
    const RequestRecord& r = batch.requests[i];
    EXPECT_TRUE(Record(r.id, PatternTrials(r, 0, r.trials_wanted)).request_complete);
    auto still = store_->OpenBatchOf("aloha-1");
    ASSERT_TRUE(still.ok()) << still.status();
    ASSERT_TRUE(still->has_value()) << "after " << i + 1 << " complete";
    EXPECT_EQ((*still)->batch_id, batch.batch_id);
    EXPECT_EQ(IdsOf((*still)->requests), IdsOf(batch.requests));
  }
  EXPECT_EQ(Next("aloha-1").batch.batch_id, batch.batch_id);

  // The last one: the batch is done, the next call makes a new one.
  const RequestRecord& last = batch.requests.back();
  EXPECT_TRUE(Record(last.id, PatternTrials(last, 0, last.trials_wanted)).request_complete);
  auto done = store_->OpenBatchOf("aloha-1");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->has_value());
  EXPECT_EQ(Requests(in_batch + " AND state = 'complete'"), 5);
  const OperatorBatch next = Next("aloha-1");
  ASSERT_FALSE(next.batch.batch_id.empty());
  EXPECT_NE(next.batch.batch_id, batch.batch_id);
  const std::vector<int64_t> old_ids = IdsOf(batch.requests);
  for (const RequestRecord& r : next.batch.requests) {
    EXPECT_EQ(std::count(old_ids.begin(), old_ids.end(), r.id), 0) << r.id;
    EXPECT_EQ(r.state, RequestState::kOpen);
    EXPECT_EQ(r.scenario, next.batch.scenario);
  }
  EXPECT_EQ(Events("evaluation.batch_assigned"), 2);
}

// Regression: the operator's batch carried the mixture of every policy
// (EvaluationService::WithRubric passed the store's records through; only the
// gRPC conversion dropped the fields). The service now clears them.
TEST_F(EvaluationBatchPgTest, OperatorBatchCarriesTheRubricAndNoMixture) {
  SweepWithCheckpoints();
  Robot("aloha-1");
  const OperatorBatch batch = Next("aloha-1", 18);
  ASSERT_EQ(batch.batch.requests.size(), 18u);
  EXPECT_EQ(batch.rubric.entries.size(), 2u);
  // The mixture is in the database (for the lab lead), just not here.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM evaluation_requests q JOIN runs r ON "
                               "r.id = q.run_id WHERE q.batch_id = '", batch.batch.batch_id,
                               "' AND r.source = 'sim'")),
            9);
  int with_mixture = 0;
  for (const RequestRecord& r : batch.batch.requests) {
    if (r.n_tele != 0 || !r.source.empty() || r.n_nt != 0 || r.seed != 0) ++with_mixture;
  }
  EXPECT_EQ(with_mixture, 0) << "policies of the operator's batch that show their mixture "
                                "(n_tele, source, n_nt, seed), e.g. the first: n_tele="
                             << batch.batch.requests[0].n_tele << " source='"
                             << batch.batch.requests[0].source
                             << "' n_nt=" << batch.batch.requests[0].n_nt;
  // Also when the held batch is handed back again.
  const OperatorBatch again = Next("aloha-1");
  ASSERT_EQ(again.batch.batch_id, batch.batch.batch_id);
  int again_with_mixture = 0;
  for (const RequestRecord& r : again.batch.requests) {
    if (r.n_tele != 0 || !r.source.empty() || r.n_nt != 0 || r.seed != 0) ++again_with_mixture;
  }
  EXPECT_EQ(again_with_mixture, 0);
}

TEST_F(EvaluationBatchPgTest, TwoRobotsGetDisjointBatches) {
  SweepWithCheckpoints();
  Robot("aloha-1");
  Robot("aloha-2");
  const OperatorBatch a = Next("aloha-1");
  const OperatorBatch b = Next("aloha-2");
  ASSERT_EQ(a.batch.requests.size(), 12u);  // the default size
  ASSERT_EQ(b.batch.requests.size(), 12u);
  EXPECT_NE(a.batch.batch_id, b.batch.batch_id);
  std::set<int64_t> ids;
  for (int64_t id : IdsOf(a.batch.requests)) ids.insert(id);
  for (int64_t id : IdsOf(b.batch.requests)) {
    EXPECT_TRUE(ids.insert(id).second) << "request " << id << " is in both batches";
  }
  EXPECT_EQ(Requests("robot_id = 'aloha-1'"), 12);
  EXPECT_EQ(Requests("robot_id = 'aloha-2'"), 12);
  EXPECT_EQ(Count("SELECT count(DISTINCT batch_id) FROM evaluation_requests"), 2);
  // Each keeps its own.
  EXPECT_EQ(Next("aloha-1").batch.batch_id, a.batch.batch_id);
  EXPECT_EQ(Next("aloha-2").batch.batch_id, b.batch.batch_id);
}

// Stations asking at once (real threads, no sleeps), two sweeps with the
// same scenario names: whatever the interleaving, each batch is one (sweep,
// scenario), no request is in two batches, and every station gets one. (Five
// stations: a station loses a race only to another's commit, so it needs at
// most five tries, which is what NextBatch allows.)
TEST_F(EvaluationBatchPgTest, ConcurrentStationsGetDisjointBatches) {
  const int64_t first = SweepWithCheckpoints();
  const int64_t second = SweepWithCheckpoints(WithName("pick-dual-bottles-again"));
  ASSERT_EQ(Requests(), 2 * kRuns * kScenarios);
  constexpr int kStations = 5;
  for (int i = 0; i < kStations; ++i) Robot(absl::StrCat("aloha-", i));
  std::vector<absl::StatusOr<OperatorBatch>> results(kStations,
                                                     absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStations; ++i) {
    threads.emplace_back([&, i] {
      results[i] = service_->NextBatch(
          {.robot_id = absl::StrCat("aloha-", i), .operator_name = "ana", .max_policies = 100});
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<int64_t> seen;
  std::set<std::pair<int64_t, std::string>> groups;
  for (int i = 0; i < kStations; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    const BatchRecord& batch = results[i]->batch;
    ASSERT_FALSE(batch.batch_id.empty()) << "station " << i << " got nothing";
    EXPECT_TRUE(batch.sweep_id == first || batch.sweep_id == second) << batch.sweep_id;
    EXPECT_TRUE(groups.insert({batch.sweep_id, batch.scenario}).second)
        << batch.scenario << " of sweep " << batch.sweep_id << " twice";
    EXPECT_EQ(batch.requests.size(), static_cast<size_t>(kRuns));
    for (const RequestRecord& r : batch.requests) {
      EXPECT_TRUE(seen.insert(r.id).second) << "request " << r.id << " in two batches";
      EXPECT_EQ(r.robot_id, absl::StrCat("aloha-", i));
      EXPECT_EQ(r.sweep_id, batch.sweep_id);
      EXPECT_EQ(r.scenario, batch.scenario);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kStations * kRuns));
  EXPECT_EQ(Requests("batch_id IS NOT NULL"), kStations * kRuns);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT batch_id FROM evaluation_requests WHERE "
                  "batch_id IS NOT NULL GROUP BY batch_id HAVING count(DISTINCT (sweep_id, "
                  "scenario)) = 1 AND count(DISTINCT robot_id) = 1) x"),
            kStations);
  EXPECT_EQ(Events("evaluation.batch_assigned"), kStations);
}

// A scenario that needs a platform never goes to a robot of another; one
// without goes to any.
TEST_F(EvaluationBatchPgTest, AScenarioWithAPlatformGoesOnlyToThatPlatform) {
  std::string yaml = Replace(kPickDualBottles, "trials_per_scenario: 10", "trials_per_scenario: 1");
  yaml = Replace(yaml, kScenarioList,
                 absl::StrCat("scenarios: [in_domain, {name: arx_only, platform: ", kArx, "}]"));
  const int64_t sweep = SweepWithCheckpoints(yaml);
  ASSERT_GT(sweep, 0);
  ASSERT_EQ(Requests(), kRuns * 2);
  EXPECT_EQ(Requests(absl::StrCat("scenario = 'arx_only' AND platform = '", kArx, "'")), kRuns);
  EXPECT_EQ(Requests("scenario = 'in_domain' AND platform = ''"), kRuns);
  Robot("aloha-1", kAloha);
  Robot("arx-1", kArx);

  auto plan = service_->Plan(sweep, "aloha-1");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].scenario, "in_domain");

  // The aloha robot works through everything it may have: in_domain only.
  int batches = 0;
  for (;;) {
    const OperatorBatch batch = Next("aloha-1", 7);
    if (batch.batch.batch_id.empty()) break;
    ASSERT_LT(++batches, 10) << "the aloha robot keeps getting batches";
    EXPECT_EQ(batch.batch.scenario, "in_domain");
    for (const RequestRecord& r : batch.batch.requests) {
      EXPECT_EQ(r.scenario, "in_domain");
      EXPECT_EQ(r.platform, "");
      Record(r.id, {Trial(0, {kLifted})});
    }
  }
  EXPECT_EQ(batches, 3);  // 18 requests, 7 at a time
  EXPECT_EQ(Requests("scenario = 'arx_only' AND robot_id IS NOT NULL"), 0);
  EXPECT_EQ(Requests("robot_id = 'aloha-1' AND scenario <> 'in_domain'"), 0);

  // The ARX robot gets the ARX scenario.
  const OperatorBatch arx = Next("arx-1", 100);
  ASSERT_FALSE(arx.batch.batch_id.empty());
  EXPECT_EQ(arx.batch.scenario, "arx_only");
  EXPECT_EQ(arx.batch.requests.size(), static_cast<size_t>(kRuns));
  for (const RequestRecord& r : arx.batch.requests) EXPECT_EQ(r.platform, kArx);
  EXPECT_EQ(Next("aloha-1").batch.batch_id, "");
}

// The operator sees the policies in a random order: each batch is a
// permutation of its requests, and three batches of 18 are not all in
// ascending id order (which a fixed order would give; by chance: (1/18!)^3).
TEST_F(EvaluationBatchPgTest, BlindOrderIsAPermutation) {
  const int64_t sweep = SweepWithCheckpoints();
  std::set<std::string> scenarios;
  int ascending = 0;
  for (int i = 0; i < kScenarios; ++i) {
    const std::string robot = absl::StrCat("aloha-", i);
    Robot(robot);
    const OperatorBatch batch = Next(robot, 18);
    ASSERT_EQ(batch.batch.requests.size(), 18u);
    EXPECT_TRUE(scenarios.insert(batch.batch.scenario).second);
    const std::vector<int64_t> order = IdsOf(batch.batch.requests);
    EXPECT_EQ(Sorted(order), RequestIds(sweep, batch.batch.scenario));
    if (std::is_sorted(order.begin(), order.end())) ++ascending;
    // Stored in the order shown.
    EXPECT_EQ(Ids(absl::StrCat("SELECT id FROM evaluation_requests WHERE batch_id = '",
                               batch.batch.batch_id, "' ORDER BY batch_position")),
              order);
    std::set<int> positions;
    for (const RequestRecord& r : batch.batch.requests) positions.insert(r.batch_position);
    EXPECT_EQ(positions.size(), 18u);
    EXPECT_EQ(*positions.begin(), 1);
    EXPECT_EQ(*positions.rbegin(), 18);
  }
  EXPECT_LT(ascending, kScenarios) << "every batch is in ascending request order";
}

// ---- 4. RecordTrials ---------------------------------------------------------------

class EvaluationTrialsPgTest : public EvaluationPgTest {
 protected:
  // One run's checkpoint: three requests (in_domain, unseen_background,
  // unseen_position) of 10 trials. Returns the in_domain one.
  int64_t OneRequest() {
    sweep_ = SweepWithCheckpoints(OneRun());
    EXPECT_EQ(Requests(), 3);
    const std::vector<int64_t> ids = RequestIds(sweep_, "in_domain");
    EXPECT_EQ(ids.size(), 1u);
    return ids.empty() ? 0 : ids[0];
  }
  int64_t sweep_ = 0;
};

TEST_F(EvaluationTrialsPgTest, GoodTrialsAreStoredWithTheRubricsScore) {
  const int64_t request = OneRequest();
  const uint64_t generation = trials_changed_.generation();
  TrialValues full = Trial(3, {kGrasped, kLifted});
  full.success = true;
  full.notes = "clean lift\nsecond try";
  full.video_uris = {"file:///videos/3.mp4"};
  const RecordTrialsResult result =
      Record(request, {Trial(0), Trial(1, {kGrasped}), Trial(2, {kLifted}), full});
  EXPECT_FALSE(result.replayed);
  EXPECT_FALSE(result.request_complete);
  ASSERT_EQ(result.trials.size(), 4u);
  const std::vector<double> scores = {0.0, 0.5, 1.0, 1.0};
  for (size_t i = 0; i < 4; ++i) {
    const TrialRecord& t = result.trials[i];
    EXPECT_EQ(t.values.trial_index, static_cast<int>(i));
    EXPECT_DOUBLE_EQ(t.score, scores[i]) << i;
    EXPECT_EQ(t.request_id, request);
    EXPECT_EQ(t.sweep_id, sweep_);
    EXPECT_EQ(t.scenario, "in_domain");
    EXPECT_EQ(t.supersedes_trial_id, 0);
    EXPECT_EQ(t.superseded_by_trial_id, 0);
    EXPECT_FALSE(t.simulated);
  }
  EXPECT_GT(trials_changed_.generation(), generation) << "the recomputer was not woken";

  // In the database: the score the rubric gives, whatever `success` says.
  EXPECT_EQ(Trials(), 4);
  EXPECT_EQ(Ids("SELECT (score * 10)::bigint FROM trials ORDER BY trial_index"),
            (std::vector<int64_t>{0, 5, 10, 10}));
  EXPECT_EQ(Text("SELECT achieved::text FROM trials WHERE trial_index = 3"),
            R"(["first_bottle_grasped", "both_bottles_lifted"])");
  EXPECT_EQ(Text("SELECT success::text FROM trials WHERE trial_index = 2"), "false");
  EXPECT_EQ(Text("SELECT notes FROM trials WHERE trial_index = 3"), "clean lift\nsecond try");
  EXPECT_EQ(Text("SELECT duration_ms::text FROM trials WHERE trial_index = 0"), "42000");
  EXPECT_EQ(Text("SELECT recorded_by FROM trials WHERE trial_index = 0"), "ana");
  EXPECT_EQ(Trials(absl::StrCat("request_id = ", request, " AND run_id = (SELECT run_id FROM "
                                "evaluation_requests WHERE id = ", request,
                                ") AND checkpoint_uri = (SELECT checkpoint_uri FROM "
                                "evaluation_requests WHERE id = ", request, ")")),
            4);
  EXPECT_EQ(Requests(absl::StrCat("id = ", request, " AND state = 'open'")), 1);
  EXPECT_EQ(Request(request).trials_recorded, 4);
  // Marked stale in the same transaction, by the newest trial.
  EXPECT_EQ(StaleRows(), 1);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM stale_estimates WHERE sweep_id = ", sweep_,
                               " AND scenario = 'in_domain' AND trigger_trial_id = ",
                               result.trials.back().id)),
            1);
  EXPECT_EQ(Events("trials.recorded"), 1);

  // By blind label too.
  auto by_label = service_->RecordTrials(
      {.label = Request(request).blind_label, .trials = {Trial(4, {kLifted})}}, {"ana", ""});
  ASSERT_TRUE(by_label.ok()) << by_label.status();
  ASSERT_EQ(by_label->trials.size(), 1u);
  EXPECT_EQ(by_label->trials[0].request_id, request);
  EXPECT_EQ(Trials(), 5);
}

// One bad trial refuses the whole call: nothing stored, nothing marked.
TEST_F(EvaluationTrialsPgTest, BadTrialsAreRefusedWhole) {
  const int64_t request = OneRequest();
  TrialValues negative = Trial(1);
  negative.duration_ms = -1;
  struct Bad {
    std::string what;
    std::vector<TrialValues> trials;
    std::string field;
  };
  const std::vector<Bad> bad = {
      {"unknown stage", {Trial(0, {kLifted}), Trial(1, {"lifted"})}, "trials[1].achieved[0]"},
      {"stages out of order",
       {Trial(0), Trial(1, {kLifted, kGrasped})},
       "trials[1].achieved[0]"},
      {"stage twice", {Trial(0), Trial(1, {kGrasped, kGrasped})}, "trials[1].achieved[1]"},
      {"index >= trials_wanted", {Trial(0), Trial(10)}, "trials[1].trial_index"},
      {"negative index", {Trial(0), Trial(-1)}, "trials[1].trial_index"},
      {"index twice in the call", {Trial(2, {kLifted}), Trial(2)}, "trials[1].trial_index"},
      {"negative duration", {Trial(0), negative}, "trials[1].duration_ms"},
  };
  const std::string before = Everything();
  for (const Bad& b : bad) {
    auto r = TryRecord(request, b.trials);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << b.what << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(b.field)) << b.what;
  }
  auto none = TryRecord(request, {});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument) << none.status();
  EXPECT_EQ(Trials(), 0);
  EXPECT_EQ(StaleRows(), 0);
  EXPECT_EQ(Events("trials.recorded"), 0);
  EXPECT_EQ(Everything(), before);
}

TEST_F(EvaluationTrialsPgTest, AnIndexAlreadyRecordedIsFailedPrecondition) {
  const int64_t request = OneRequest();
  Record(request, {Trial(0), Trial(1, {kGrasped})});
  const std::string before = Everything();
  auto again = TryRecord(request, {Trial(2), Trial(1, {kLifted})});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_THAT(again.status().message(), HasSubstr("trials[1].trial_index"));
  EXPECT_THAT(again.status().message(), HasSubstr("correction"));
  EXPECT_EQ(Trials(), 2);
  EXPECT_EQ(Trials("trial_index = 2"), 0);
  EXPECT_EQ(Everything(), before);  // the stale mark not renewed either
}

TEST_F(EvaluationTrialsPgTest, ARetriedCallIsReplayedAndAReusedKeyIsRefused) {
  const int64_t request = OneRequest();
  const RecordTrialsResult first = Record(request, {Trial(0, {kLifted}), Trial(1)}, "rec-1");
  ASSERT_EQ(first.trials.size(), 2u);
  EXPECT_FALSE(first.replayed);
  const int64_t mark = Count("SELECT mark FROM stale_estimates");
  const uint64_t generation = trials_changed_.generation();

  const RecordTrialsResult replay = Record(request, {Trial(0, {kLifted}), Trial(1)}, "rec-1");
  EXPECT_TRUE(replay.replayed);
  ASSERT_EQ(replay.trials.size(), 2u);
  EXPECT_EQ(replay.trials[0].id, first.trials[0].id);
  EXPECT_EQ(replay.trials[1].id, first.trials[1].id);
  EXPECT_DOUBLE_EQ(replay.trials[0].score, 1.0);
  EXPECT_EQ(Trials(), 2);
  EXPECT_EQ(Events("trials.recorded"), 1);
  EXPECT_EQ(Count("SELECT mark FROM stale_estimates"), mark);
  EXPECT_EQ(trials_changed_.generation(), generation);

  // The same key for other trials: refused, nothing stored.
  const std::string before = Everything();
  auto reused = TryRecord(request, {Trial(2)}, "rec-1");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument) << reused.status();
  EXPECT_THAT(reused.status().message(), HasSubstr("idempotency_key"));
  auto other_score = TryRecord(request, {Trial(0, {kGrasped}), Trial(1)}, "rec-1");
  EXPECT_EQ(other_score.status().code(), absl::StatusCode::kInvalidArgument)
      << other_score.status();
  EXPECT_EQ(Trials(), 2);
  EXPECT_EQ(Everything(), before);
}

TEST_F(EvaluationTrialsPgTest, TheLastTrialCompletesTheRequest) {
  const int64_t request = OneRequest();
  const RequestRecord r = Request(request);
  ASSERT_EQ(r.trials_wanted, 10);
  EXPECT_FALSE(Record(request, PatternTrials(r, 0, 9)).request_complete);
  EXPECT_EQ(Requests(absl::StrCat("id = ", request, " AND state = 'open'")), 1);
  const RecordTrialsResult last = Record(request, PatternTrials(r, 9, 10), "last");
  EXPECT_TRUE(last.request_complete);
  EXPECT_EQ(Requests(absl::StrCat("id = ", request,
                                  " AND state = 'complete' AND completed_at IS NOT NULL")),
            1);
  EXPECT_EQ(Request(request).state, RequestState::kComplete);
  EXPECT_EQ(Request(request).trials_recorded, 10);
  EXPECT_EQ(Text("SELECT (detail->>'request_complete') FROM events WHERE kind = "
                 "'trials.recorded' ORDER BY id DESC LIMIT 1"),
            "true");
  // The other scenarios' requests of the run are untouched.
  EXPECT_EQ(Requests("state = 'open'"), 2);

  // Retried after it completed: replayed, still complete.
  const RecordTrialsResult replay = Record(request, PatternTrials(r, 9, 10), "last");
  EXPECT_TRUE(replay.replayed);
  EXPECT_TRUE(replay.request_complete);

  // New trials for a complete request: refused, nothing stored.
  const std::string before = Everything();
  auto more = TryRecord(request, {Trial(0, {kLifted})});
  EXPECT_EQ(more.status().code(), absl::StatusCode::kFailedPrecondition) << more.status();
  EXPECT_THAT(more.status().message(), HasSubstr("complete"));
  EXPECT_EQ(Trials(), 10);
  EXPECT_EQ(Everything(), before);
}

// Stations writing at once (real threads, no sleeps). Whatever the
// interleaving: every index stored once, the request completed by exactly
// one call, a retried call stored once, and the stale mark names the newest
// trial (trials of a scenario commit in id order).
TEST_F(EvaluationTrialsPgTest, ConcurrentWritesKeepEveryRule) {
  const int64_t request = OneRequest();
  const RequestRecord r = Request(request);
  constexpr int kThreads = 10;
  std::vector<absl::StatusOr<RecordTrialsResult>> results(kThreads,
                                                          absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] { results[i] = TryRecord(request, PatternTrials(r, i, i + 1)); });
    }
    for (std::thread& t : threads) t.join();
  }
  int completed_by = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    if (results[i]->request_complete) ++completed_by;
  }
  EXPECT_EQ(completed_by, 1);
  EXPECT_EQ(Trials(), 10);
  EXPECT_EQ(Count("SELECT count(DISTINCT trial_index) FROM trials"), 10);
  EXPECT_EQ(Request(request).state, RequestState::kComplete);
  EXPECT_EQ(Count("SELECT trigger_trial_id FROM stale_estimates"),
            Count("SELECT max(id) FROM trials"));
  EXPECT_EQ(Events("trials.recorded"), 10);

  // The same index from several stations without a key: one wins.
  const int64_t other = RequestIds(sweep_, "unseen_background")[0];
  std::vector<absl::StatusOr<RecordTrialsResult>> same(4, absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] { same[i] = TryRecord(other, {Trial(0, {kLifted})}); });
    }
    for (std::thread& t : threads) t.join();
  }
  int won = 0;
  for (const auto& result : same) {
    if (result.ok()) {
      ++won;
    } else {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
    }
  }
  EXPECT_EQ(won, 1);
  EXPECT_EQ(Trials(absl::StrCat("request_id = ", other)), 1);

  // One retried call from several threads with its key: stored once.
  std::vector<absl::StatusOr<RecordTrialsResult>> keyed(4, absl::UnknownError("not run"));
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back(
          [&, i] { keyed[i] = TryRecord(other, {Trial(1), Trial(2, {kGrasped})}, "retry-me"); });
    }
    for (std::thread& t : threads) t.join();
  }
  int fresh = 0;
  std::set<int64_t> ids;
  for (const auto& result : keyed) {
    ASSERT_TRUE(result.ok()) << result.status();
    if (!result->replayed) ++fresh;
    for (const TrialRecord& t : result->trials) ids.insert(t.id);
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(Trials(absl::StrCat("request_id = ", other)), 3);
}

// Once every job is done and every request complete, the sweep is complete.
TEST_F(EvaluationTrialsPgTest, TheLastRequestCompletesTheSweep) {
  sweep_ = SweepWithCheckpoints(
      Replace(OneRun(), "trials_per_scenario: 10", "trials_per_scenario: 1"));
  const std::vector<int64_t> ids =
      Ids(absl::StrCat("SELECT id FROM evaluation_requests WHERE sweep_id = ", sweep_,
                       " ORDER BY id"));
  ASSERT_EQ(ids.size(), 3u);
  const std::string state = absl::StrCat("SELECT state FROM sweeps WHERE id = ", sweep_);
  Record(ids[0], {Trial(0, {kLifted})});
  Record(ids[1], {Trial(0)});
  EXPECT_EQ(Text(state), "active");
  EXPECT_EQ(Events("sweep.completed"), 0);
  Record(ids[2], {Trial(0, {kGrasped})});
  EXPECT_EQ(Text(state), "completed");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM events WHERE kind = 'sweep.completed' AND "
                               "sweep_id = ", sweep_)),
            1);
}

TEST_F(EvaluationTrialsPgTest, TrialsAreAppendOnly) {
  const int64_t request = OneRequest();
  Record(request, {Trial(0, {kGrasped})});
  const std::string before = Snapshot("trials");
  pqxx::connection conn(dsn_);
  for (const std::string sql : {"UPDATE trials SET score = 1.0", "DELETE FROM trials",
                                "UPDATE trials SET notes = 'edited' WHERE trial_index = 0"}) {
    pqxx::work tx(conn);
    try {
      tx.exec(sql);
      ADD_FAILURE() << sql << ": accepted";
    } catch (const std::exception& e) {
      EXPECT_THAT(std::string(e.what()), HasSubstr("append-only")) << sql;
    }
  }
  EXPECT_EQ(Snapshot("trials"), before);
  EXPECT_EQ(Trials(), 1);
}

// ---- 5. CorrectTrial ------------------------------------------------------------------

class EvaluationCorrectionPgTest : public EvaluationTrialsPgTest {};

TEST_F(EvaluationCorrectionPgTest, ACorrectionSupersedesAndKeepsTheOriginal) {
  const int64_t request = OneRequest();
  const RecordTrialsResult recorded =
      Record(request, {Trial(0), Trial(1, {kGrasped}), Trial(2, {kLifted})});
  ASSERT_EQ(recorded.trials.size(), 3u);
  const int64_t original = recorded.trials[1].id;
  const std::string original_row =
      Text(absl::StrCat("SELECT row_to_json(t)::text FROM trials t WHERE id = ", original));
  const int64_t mark = Count("SELECT mark FROM stale_estimates");

  auto corrected = service_->CorrectTrial(
      {.trial_id = original, .corrected = Trial(1, {kLifted}), .reason = "both were lifted"},
      {"lead", "fix-1"});
  ASSERT_TRUE(corrected.ok()) << corrected.status();
  EXPECT_GT(corrected->id, recorded.trials.back().id);
  EXPECT_EQ(corrected->supersedes_trial_id, original);
  EXPECT_EQ(corrected->superseded_by_trial_id, 0);
  EXPECT_EQ(corrected->request_id, request);
  EXPECT_EQ(corrected->values.trial_index, 1);
  EXPECT_DOUBLE_EQ(corrected->score, 1.0);
  EXPECT_EQ(corrected->correction_reason, "both were lifted");

  // The original row is as it was; it is now superseded.
  EXPECT_EQ(Text(absl::StrCat("SELECT row_to_json(t)::text FROM trials t WHERE id = ", original)),
            original_row);
  auto old = store_->GetTrial(original);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->superseded_by_trial_id, corrected->id);
  EXPECT_DOUBLE_EQ(old->score, 0.5);
  EXPECT_EQ(Trials(), 4);
  EXPECT_EQ(Trials(absl::StrCat("supersedes_trial_id = ", original,
                                " AND recorded_by = 'lead' AND correction_reason IS NOT NULL")),
            1);
  EXPECT_EQ(Request(request).trials_recorded, 3) << "a correction is no new trial";
  EXPECT_GT(Count("SELECT mark FROM stale_estimates"), mark);
  EXPECT_EQ(Count("SELECT trigger_trial_id FROM stale_estimates"), corrected->id);
  EXPECT_EQ(Events("trial.corrected"), 1);

  // Retried: the same trial, stored once.
  auto replay = service_->CorrectTrial(
      {.trial_id = original, .corrected = Trial(1, {kLifted}), .reason = "both were lifted"},
      {"lead", "fix-1"});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->id, corrected->id);
  EXPECT_EQ(Trials(), 4);
  EXPECT_EQ(Events("trial.corrected"), 1);

  // Correcting the superseded trial again: refused, naming the newer one.
  const std::string before = Everything();
  auto stale = service_->CorrectTrial(
      {.trial_id = original, .corrected = Trial(1), .reason = "no, nothing"}, {"lead", "fix-2"});
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  EXPECT_THAT(stale.status().message(), HasSubstr(absl::StrCat("trial ", corrected->id)));
  EXPECT_EQ(Everything(), before);

  // The current one can be corrected: a chain.
  auto chained = service_->CorrectTrial(
      {.trial_id = corrected->id, .corrected = Trial(1), .reason = "no, nothing"},
      {"lead", "fix-3"});
  ASSERT_TRUE(chained.ok()) << chained.status();
  EXPECT_EQ(chained->supersedes_trial_id, corrected->id);
  EXPECT_DOUBLE_EQ(chained->score, 0.0);
  EXPECT_EQ(Trials(), 5);
}

TEST_F(EvaluationCorrectionPgTest, RefusedCorrectionsStoreNothing) {
  const int64_t request = OneRequest();
  const RecordTrialsResult recorded = Record(request, {Trial(0), Trial(1, {kGrasped})});
  ASSERT_EQ(recorded.trials.size(), 2u);
  const int64_t trial = recorded.trials[1].id;
  const std::string before = Everything();

  auto no_reason = service_->CorrectTrial(
      {.trial_id = trial, .corrected = Trial(1, {kLifted}), .reason = ""}, {"lead", ""});
  EXPECT_EQ(no_reason.status().code(), absl::StatusCode::kInvalidArgument) << no_reason.status();
  EXPECT_THAT(no_reason.status().message(), HasSubstr("reason"));

  auto other_index = service_->CorrectTrial(
      {.trial_id = trial, .corrected = Trial(0, {kLifted}), .reason = "typo"}, {"lead", ""});
  EXPECT_EQ(other_index.status().code(), absl::StatusCode::kInvalidArgument)
      << other_index.status();
  EXPECT_THAT(other_index.status().message(), HasSubstr("trial_index"));

  auto bad_stage = service_->CorrectTrial(
      {.trial_id = trial, .corrected = Trial(1, {"lifted"}), .reason = "typo"}, {"lead", ""});
  EXPECT_EQ(bad_stage.status().code(), absl::StatusCode::kInvalidArgument) << bad_stage.status();
  EXPECT_THAT(bad_stage.status().message(), HasSubstr("corrected.achieved[0]"));

  auto unknown = service_->CorrectTrial(
      {.trial_id = trial + 1000, .corrected = Trial(1), .reason = "typo"}, {"lead", ""});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();

  EXPECT_EQ(Trials(), 2);
  EXPECT_EQ(Everything(), before);
}

// Corrections are allowed once the request is complete: they change a
// trial, they add none.
TEST_F(EvaluationCorrectionPgTest, ACompleteRequestCanStillBeCorrected) {
  const int64_t request = OneRequest();
  const RequestRecord r = Request(request);
  const RecordTrialsResult all = Record(request, PatternTrials(r, 0, 10));
  ASSERT_TRUE(all.request_complete);
  auto corrected = service_->CorrectTrial(
      {.trial_id = all.trials[9].id, .corrected = Trial(9, {kGrasped}), .reason = "video shows"},
      {"lead", ""});
  ASSERT_TRUE(corrected.ok()) << corrected.status();
  EXPECT_EQ(Request(request).state, RequestState::kComplete);
  EXPECT_EQ(Request(request).trials_recorded, 10);
  EXPECT_EQ(Trials(), 11);
}

TEST_F(EvaluationCorrectionPgTest, ListResultsShowsCurrentTrialsUnlessAskedForAll) {
  const int64_t request = OneRequest();
  const RecordTrialsResult recorded =
      Record(request, {Trial(0), Trial(1, {kGrasped}), Trial(2, {kLifted})});
  auto corrected = service_->CorrectTrial(
      {.trial_id = recorded.trials[0].id, .corrected = Trial(0, {kLifted}), .reason = "missed"},
      {"lead", ""});
  ASSERT_TRUE(corrected.ok()) << corrected.status();
  // Current: 1.0 (corrected), 0.5, 1.0.
  const double s = (1.0 + 0.5 + 1.0) / 3;

  auto current = service_->ListResults(
      {.sweep_id = sweep_, .scenario = "in_domain", .include_trials = true});
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_EQ(current->size(), 1u);
  const ResultRecord& c = (*current)[0];
  EXPECT_EQ(c.request.id, request);
  EXPECT_EQ(c.request.trials_recorded, 3);
  EXPECT_DOUBLE_EQ(c.s, s);
  ASSERT_EQ(c.trials.size(), 3u);
  std::set<int64_t> current_ids;
  for (const TrialRecord& t : c.trials) {
    EXPECT_EQ(t.superseded_by_trial_id, 0) << t.id;
    current_ids.insert(t.id);
  }
  EXPECT_EQ(current_ids, (std::set<int64_t>{corrected->id, recorded.trials[1].id,
                                            recorded.trials[2].id}));

  auto all = service_->ListResults({.sweep_id = sweep_,
                                    .scenario = "in_domain",
                                    .include_trials = true,
                                    .include_superseded = true});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_DOUBLE_EQ((*all)[0].s, s) << "S is of the current trials only";
  ASSERT_EQ((*all)[0].trials.size(), 4u);
  int superseded = 0;
  for (const TrialRecord& t : (*all)[0].trials) {
    if (t.superseded_by_trial_id != 0) {
      ++superseded;
      EXPECT_EQ(t.id, recorded.trials[0].id);
      EXPECT_EQ(t.superseded_by_trial_id, corrected->id);
    }
  }
  EXPECT_EQ(superseded, 1);

  // Every scenario of the sweep, with S 0 where nothing is recorded.
  auto sweep_results = service_->ListResults({.sweep_id = sweep_});
  ASSERT_TRUE(sweep_results.ok()) << sweep_results.status();
  EXPECT_EQ(sweep_results->size(), 3u);
  for (const ResultRecord& result : *sweep_results) {
    EXPECT_TRUE(result.trials.empty()) << "trials only when asked";
    if (result.request.scenario != "in_domain") {
      EXPECT_EQ(result.s, 0.0);
    }
  }
  EXPECT_EQ(service_->ListResults({}).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- 6. Estimates ------------------------------------------------------------------------

class EvaluationEstimatesPgTest : public EvaluationPgTest {};

TEST_F(EvaluationEstimatesPgTest, RecomputeStoresOneEstimatePerSourceAndClearsTheMark) {
  const int64_t sweep = SweepWithCheckpoints();
  const std::vector<int64_t> in_domain = RequestIds(sweep, "in_domain");
  ASSERT_EQ(in_domain.size(), static_cast<size_t>(kRuns));
  const int64_t partial = in_domain.back();
  RecordScenario(sweep, "in_domain", partial, 5);
  ASSERT_EQ(Trials(), (kRuns - 1) * 10 + 5);
  EXPECT_EQ(StaleRows(), 1);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM stale_estimates WHERE sweep_id = ", sweep,
                               " AND scenario = 'in_domain' AND trigger_trial_id = ",
                               MaxTrialId(sweep, "in_domain"))),
            1);

  std::vector<std::vector<StoredEstimate>> published;
  evaluation::EstimateRecomputer recomputer(
      *estimates_, kParams,
      [&](const std::vector<StoredEstimate>& saved) { published.push_back(saved); });
  auto stored = recomputer.RunOnce();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1);  // one source: sim
  EXPECT_EQ(StaleRows(), 0);
  EXPECT_EQ(EstimateRows(), 1);
  EXPECT_EQ(Count(absl::StrCat(
                "SELECT count(*) FROM utilization_estimates WHERE sweep_id = ", sweep,
                " AND scenario = 'in_domain' AND source = 'sim' AND version = 1 AND "
                "trial_count = ", Trials(), " AND last_trial_id = ",
                MaxTrialId(sweep, "in_domain"), " AND task = 'pick_dual_bottles'")),
            1);
  ASSERT_EQ(published.size(), 1u);
  ASSERT_EQ(published[0].size(), 1u);

  // What is stored is what the engine computes from the stored trials.
  const std::vector<StoredEstimate> latest = Latest(sweep);
  ASSERT_EQ(latest.size(), 1u);
  const std::vector<StoredEstimate> expected = ComputedNow(sweep, "in_domain");
  ASSERT_EQ(expected.size(), 1u);
  const StoredEstimate& v1 = latest[0];
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.estimate.key.source, "sim");
  EXPECT_EQ(v1.task, "pick_dual_bottles");
  EXPECT_EQ(v1.trials_digest, expected[0].trials_digest);
  EXPECT_EQ(v1.trigger_trial_id, MaxTrialId(sweep, "in_domain"));
  EXPECT_EQ(v1.params.resamples, kParams.resamples);
  EXPECT_EQ(v1.row_id, published[0][0].row_id);
  EXPECT_EQ(utilization::EstimateToJson(v1.estimate),
            utilization::EstimateToJson(expected[0].estimate));
  EXPECT_EQ(utilization::EstimateToJson(published[0][0].estimate),
            utilization::EstimateToJson(expected[0].estimate));
  EXPECT_EQ(v1.estimate.trial_count, Trials());
  EXPECT_FALSE(v1.estimate.teleop_curve.empty());

  // Nothing stale: nothing stored.
  auto idle = recomputer.RunOnce();
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(*idle, 0);
  EXPECT_EQ(EstimateRows(), 1);
  EXPECT_EQ(published.size(), 1u);

  // More trials: version 2, from a later trial set.
  const RequestRecord r = Request(partial);
  Record(partial, PatternTrials(r, 5, 10));
  EXPECT_EQ(StaleRows(), 1);
  auto again = recomputer.RunOnce();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 1);
  EXPECT_EQ(StaleRows(), 0);
  const std::vector<StoredEstimate> latest2 = Latest(sweep, "in_domain");
  ASSERT_EQ(latest2.size(), 1u);
  const StoredEstimate& v2 = latest2[0];
  EXPECT_EQ(v2.version, 2);
  EXPECT_GT(v2.estimate.last_trial_id, v1.estimate.last_trial_id);
  EXPECT_EQ(v2.estimate.last_trial_id, MaxTrialId(sweep, "in_domain"));
  EXPECT_EQ(v2.estimate.trial_count, kRuns * 10);
  EXPECT_NE(v2.trials_digest, v1.trials_digest);
  EXPECT_EQ(utilization::EstimateToJson(v2.estimate),
            utilization::EstimateToJson(ComputedNow(sweep, "in_domain")[0].estimate));
  EXPECT_EQ(EstimateRows(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM utilization_estimates WHERE version = 1"), 1);

  // The watch stream's reads: newer rows in id order.
  auto after_v1 = estimates_->EstimatesAfter(sweep, v1.row_id);
  ASSERT_TRUE(after_v1.ok()) << after_v1.status();
  ASSERT_EQ(after_v1->size(), 1u);
  EXPECT_EQ((*after_v1)[0].row_id, v2.row_id);
  EXPECT_EQ((*after_v1)[0].version, 2);
  auto from_start = estimates_->EstimatesAfter(sweep, 0);
  ASSERT_TRUE(from_start.ok()) << from_start.status();
  ASSERT_EQ(from_start->size(), 2u);
  EXPECT_EQ((*from_start)[0].row_id, v1.row_id);
  EXPECT_EQ((*from_start)[1].row_id, v2.row_id);
  EXPECT_LT((*from_start)[0].row_id, (*from_start)[1].row_id);
  auto after_v2 = estimates_->EstimatesAfter(sweep, v2.row_id);
  ASSERT_TRUE(after_v2.ok()) << after_v2.status();
  EXPECT_TRUE(after_v2->empty());

  // A trial of another scenario marks only that one.
  const int64_t background = RequestIds(sweep, "unseen_background").front();
  Record(background, {Trial(0, {kLifted})});
  EXPECT_EQ(Texts("SELECT scenario FROM stale_estimates"),
            (std::vector<std::string>{"unseen_background"}));
  auto third = recomputer.RunOnce();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, 1);
  EXPECT_EQ(Count("SELECT max(version) FROM utilization_estimates WHERE scenario = 'in_domain'"),
            2);
  EXPECT_EQ(Count("SELECT count(*) FROM utilization_estimates WHERE scenario = "
                  "'unseen_background' AND version = 1"),
            1);
  auto after_all = estimates_->EstimatesAfter(sweep, v1.row_id);
  ASSERT_TRUE(after_all.ok()) << after_all.status();
  ASSERT_EQ(after_all->size(), 2u);
  EXPECT_EQ((*after_all)[0].estimate.key.scenario, "in_domain");
  EXPECT_EQ((*after_all)[1].estimate.key.scenario, "unseen_background");
}

// Trials committed, then the process died before recomputing: the mark is in
// the database, so a new recomputer (a restarted process, with its own pool)
// brings the estimate up to date.
TEST_F(EvaluationEstimatesPgTest, ARestartedRecomputerRepairsACrashBeforeRecompute) {
  const int64_t sweep = SweepWithCheckpoints();
  RecordScenario(sweep, "in_domain");
  ASSERT_EQ(StaleRows(), 1);
  EXPECT_EQ(EstimateRows(), 0);
  {
    // The first process got as far as reading the mark and the inputs.
    evaluation::EstimateRecomputer dying(*estimates_, kParams);
    auto marks = estimates_->ListStale(10);
    ASSERT_TRUE(marks.ok()) << marks.status();
    ASSERT_EQ(marks->size(), 1u);
    ASSERT_TRUE(estimates_->LoadScenarioInputs(sweep, "in_domain").ok());
  }
  EXPECT_EQ(StaleRows(), 1);

  db::ConnectionPool restarted_pool(dsn_, 2);
  db::PgEstimateStore restarted_store(restarted_pool);
  evaluation::EstimateRecomputer restarted(restarted_store, kParams);
  auto stored = restarted.RunOnce();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1);
  EXPECT_EQ(StaleRows(), 0);
  const std::vector<StoredEstimate> latest = Latest(sweep, "in_domain");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].version, 1);
  EXPECT_EQ(latest[0].estimate.last_trial_id, MaxTrialId(sweep, "in_domain"));
  EXPECT_EQ(latest[0].estimate.trial_count, kRuns * 10);
  EXPECT_EQ(utilization::EstimateToJson(latest[0].estimate),
            utilization::EstimateToJson(ComputedNow(sweep, "in_domain")[0].estimate));
}

// A trial that lands while an estimate is being computed marks the scenario
// again; saving the older computation must not clear the newer mark.
TEST_F(EvaluationEstimatesPgTest, AMarkSetAgainDuringARecomputeStaysStale) {
  const int64_t sweep = SweepWithCheckpoints();
  const int64_t partial = RequestIds(sweep, "in_domain").back();
  RecordScenario(sweep, "in_domain", partial, 9);

  auto marks = estimates_->ListStale(10);
  ASSERT_TRUE(marks.ok()) << marks.status();
  ASSERT_EQ(marks->size(), 1u);
  const StaleMark old_mark = (*marks)[0];
  EXPECT_EQ(old_mark.sweep_id, sweep);
  EXPECT_EQ(old_mark.scenario, "in_domain");
  auto inputs = estimates_->LoadScenarioInputs(sweep, "in_domain");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  const std::vector<StoredEstimate> old_estimates =
      evaluation::ComputeScenarioEstimates(*inputs, kParams);

  // Meanwhile, the last trial.
  const RecordTrialsResult late = Record(partial, PatternTrials(Request(partial), 9, 10));
  ASSERT_EQ(late.trials.size(), 1u);
  const int64_t new_mark = Count("SELECT mark FROM stale_estimates");
  EXPECT_GT(new_mark, old_mark.mark);

  auto saved = estimates_->SaveEstimates(old_mark, old_estimates);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->size(), 1u);  // the older set is still news
  EXPECT_EQ(EstimateRows(), 1);
  EXPECT_EQ(StaleRows(), 1) << "the save cleared a mark set after its inputs were read";
  EXPECT_EQ(Count("SELECT mark FROM stale_estimates"), new_mark);
  EXPECT_EQ(Count("SELECT trigger_trial_id FROM stale_estimates"), late.trials[0].id);

  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  auto stored = recomputer.RunOnce();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1);
  EXPECT_EQ(StaleRows(), 0);
  const std::vector<StoredEstimate> latest = Latest(sweep, "in_domain");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].version, 2);
  EXPECT_EQ(latest[0].estimate.last_trial_id, late.trials[0].id);

  // The old computation saved again (a slow replica): stores nothing.
  auto slow = estimates_->SaveEstimates(old_mark, old_estimates);
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_TRUE(slow->empty());
  EXPECT_EQ(EstimateRows(), 2);
  EXPECT_EQ(Latest(sweep, "in_domain")[0].version, 2);
}

// A correction is a new trial: the estimate is recomputed without the
// superseded one.
TEST_F(EvaluationEstimatesPgTest, ACorrectionRecomputesFromTheCurrentTrials) {
  const int64_t sweep = SweepWithCheckpoints();
  RecordScenario(sweep, "in_domain");
  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  ASSERT_TRUE(recomputer.RunOnce().ok());
  const int64_t first_trial = Count("SELECT min(id) FROM trials");
  auto corrected = service_->CorrectTrial(
      {.trial_id = first_trial, .corrected = Trial(0), .reason = "dropped it"}, {"lead", ""});
  ASSERT_TRUE(corrected.ok()) << corrected.status();
  EXPECT_EQ(StaleRows(), 1);
  auto stored = recomputer.RunOnce();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 1);
  const std::vector<StoredEstimate> latest = Latest(sweep, "in_domain");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].version, 2);
  EXPECT_EQ(latest[0].estimate.last_trial_id, corrected->id);
  EXPECT_EQ(latest[0].estimate.trial_count, kRuns * 10) << "the superseded trial is left out";
  auto inputs = estimates_->LoadScenarioInputs(sweep, "in_domain");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ(std::count_if(inputs->trials.begin(), inputs->trials.end(),
                          [&](const auto& t) { return t.trial_id == first_trial; }),
            0);
  EXPECT_EQ(utilization::EstimateToJson(latest[0].estimate),
            utilization::EstimateToJson(ComputedNow(sweep, "in_domain")[0].estimate));
}

// Trials arriving while the recomputer runs (real threads, no sleeps):
// whatever the interleaving, once the writes stop one more pass leaves
// nothing stale and the stored estimate is that of every trial.
TEST_F(EvaluationEstimatesPgTest, ConcurrentTrialsAndRecomputesEndUpToDate) {
  const int64_t sweep = SweepWithCheckpoints();
  const std::vector<int64_t> ids = RequestIds(sweep, "in_domain");
  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  std::atomic<bool> writing{true};
  std::vector<absl::Status> recompute_errors;
  std::thread recomputing([&] {
    while (writing.load()) {
      auto stored = recomputer.RunOnce();
      if (!stored.ok()) recompute_errors.push_back(stored.status());
    }
  });
  for (int64_t id : ids) {
    const RequestRecord r = Request(id);
    Record(id, PatternTrials(r, 0, 5));
    Record(id, PatternTrials(r, 5, 10));
  }
  writing = false;
  recomputing.join();
  for (const absl::Status& s : recompute_errors) ADD_FAILURE() << s;

  auto last = recomputer.RunOnce();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(StaleRows(), 0);
  const std::vector<StoredEstimate> latest = Latest(sweep, "in_domain");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].estimate.last_trial_id, MaxTrialId(sweep, "in_domain"));
  EXPECT_EQ(latest[0].estimate.trial_count, kRuns * 10);
  EXPECT_EQ(utilization::EstimateToJson(latest[0].estimate),
            utilization::EstimateToJson(ComputedNow(sweep, "in_domain")[0].estimate));
  // Versions are 1..n without gaps, and grow with the trial set.
  EXPECT_EQ(Count("SELECT max(version) FROM utilization_estimates"), EstimateRows());
  EXPECT_EQ(Count("SELECT count(*) FROM utilization_estimates a JOIN utilization_estimates b "
                  "ON (b.sweep_id, b.scenario, b.source) = (a.sweep_id, a.scenario, a.source) "
                  "AND b.version = a.version + 1 WHERE b.last_trial_id <= a.last_trial_id"),
            0);
}

// A sweep that takes its baseline from another: a trial of the baseline
// sweep marks both, and the dependent sweep's estimate reads the baseline's
// teleop-only trials (and none of its mixed ones).
TEST_F(EvaluationEstimatesPgTest, ABaselineSweepsTrialsMarkItsDependents) {
  const int64_t base = SweepWithCheckpoints();
  const int64_t dependent = SweepWithCheckpoints(
      WithName("pick-dual-bottles-more-sim",
               Replace(kPickDualBottles, "n_nt: [0, 1000]", "n_nt: [1000]") +
                   absl::StrCat("baseline_from_sweep: ", base, "\n")));
  ASSERT_GT(dependent, 0);
  ASSERT_EQ(Count(absl::StrCat("SELECT count(*) FROM runs WHERE sweep_id = ", dependent)), 9);
  const int64_t teleop_request = Count(absl::StrCat(
      "SELECT min(q.id) FROM evaluation_requests q JOIN runs r ON r.id = q.run_id WHERE "
      "q.sweep_id = ", base, " AND q.scenario = 'in_domain' AND r.source = ''"));
  const int64_t mixed_request = Count(absl::StrCat(
      "SELECT min(q.id) FROM evaluation_requests q JOIN runs r ON r.id = q.run_id WHERE "
      "q.sweep_id = ", base, " AND q.scenario = 'in_domain' AND r.source = 'sim'"));
  const int64_t own_request = Count(absl::StrCat(
      "SELECT min(id) FROM evaluation_requests WHERE sweep_id = ", dependent,
      " AND scenario = 'in_domain'"));

  Record(teleop_request, PatternTrials(Request(teleop_request), 0, 10));
  EXPECT_EQ(StaleRows(), 2);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM stale_estimates WHERE scenario = "
                               "'in_domain' AND sweep_id IN (", base, ", ", dependent, ")")),
            2);
  Record(mixed_request, PatternTrials(Request(mixed_request), 0, 10));
  Record(own_request, PatternTrials(Request(own_request), 0, 10));

  auto inputs = estimates_->LoadScenarioInputs(dependent, "in_domain");
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ(inputs->runs.size(), 9u + 9u) << "its own 9 and the baseline's 9 teleop-only runs";
  EXPECT_EQ(inputs->sources, (std::vector<std::string>{"sim"}));
  ASSERT_EQ(inputs->trials.size(), 20u);
  const std::set<int64_t> wanted = {teleop_request, own_request};
  for (const auto& t : inputs->trials) EXPECT_TRUE(wanted.contains(t.request_id)) << t.request_id;

  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  auto stored = recomputer.RunOnce();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 2);
  EXPECT_EQ(StaleRows(), 0);
  const std::vector<StoredEstimate> latest = Latest(dependent, "in_domain");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].estimate.trial_count, 20);
  EXPECT_EQ(utilization::EstimateToJson(latest[0].estimate),
            utilization::EstimateToJson(ComputedNow(dependent, "in_domain")[0].estimate));
  EXPECT_EQ(Latest(base, "in_domain")[0].estimate.trial_count, 20);
}

// Regression: an estimate whose trial set did not change got a new version
// when trials of another source moved the scenario's last trial id
// (SaveEstimates compared only last_trial_id); it now also compares the
// trials digest.
TEST_F(EvaluationEstimatesPgTest, AnEstimateWhoseTrialsDidNotChangeGetsNoNewVersion) {
  const std::string two_sources = Replace(kPickDualBottles, "seeds: [0, 1, 2]",
                                          "  - name: video\n"
                                          "    kind: human_video\n"
                                          "    dataset:\n"
                                          "      uri: file:///data/human_video/pick_dual_bottles\n"
                                          "      episodes: 500\n"
                                          "    cost_per_demo_hours: 0.001\n"
                                          "    n_nt: [500]\n"
                                          "seeds: [0, 1, 2]");
  const int64_t sweep = SweepWithCheckpoints(two_sources);
  ASSERT_GT(sweep, 0);
  ASSERT_EQ(Requests(), 27 * kScenarios);
  const int64_t video_request = Count(absl::StrCat(
      "SELECT min(q.id) FROM evaluation_requests q JOIN runs r ON r.id = q.run_id WHERE "
      "q.sweep_id = ", sweep, " AND q.scenario = 'in_domain' AND r.source = 'video'"));
  RecordScenario(sweep, "in_domain", video_request, 5);
  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  auto first = recomputer.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 2);  // sim and video
  const std::vector<StoredEstimate> v1 = Latest(sweep, "in_domain");
  ASSERT_EQ(v1.size(), 2u);

  // More trials of the video run only.
  Record(video_request, PatternTrials(Request(video_request), 5, 10));
  std::map<std::string, std::string> digest_now;
  for (const StoredEstimate& e : ComputedNow(sweep, "in_domain")) {
    digest_now[e.estimate.key.source] = e.trials_digest;
  }
  for (const StoredEstimate& e : v1) {
    if (e.estimate.key.source == "sim") {
      EXPECT_EQ(digest_now["sim"], e.trials_digest) << "sim's trials did not change";
    } else {
      EXPECT_NE(digest_now["video"], e.trials_digest);
    }
  }
  auto second = recomputer.RunOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(StaleRows(), 0);
  EXPECT_EQ(Count("SELECT max(version) FROM utilization_estimates WHERE source = 'video'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM utilization_estimates WHERE source = 'sim'"), 1)
      << "sim stored again with the same trials: digests "
      << absl::StrJoin(Texts("SELECT trials_digest FROM utilization_estimates WHERE source = "
                             "'sim' ORDER BY version"),
                       ", ");
  EXPECT_EQ(*second, 1);
}

// ---- 7. UtilizationService -------------------------------------------------------------

class EvaluationUtilizationPgTest : public EvaluationPgTest {};

TEST_F(EvaluationUtilizationPgTest, GetEstimatesWithParamsComputesWithoutStoring) {
  const int64_t sweep = SweepWithCheckpoints();
  RecordScenario(sweep, "in_domain");
  evaluation::EstimateRecomputer recomputer(*estimates_, kParams);
  ASSERT_TRUE(recomputer.RunOnce().ok());
  ASSERT_EQ(EstimateRows(), 1);
  const std::string before = Snapshot("utilization_estimates") + Snapshot("stale_estimates");

  // Without parameters: the stored ones.
  auto stored = utilization_->GetEstimates({.sweep_id = sweep}, std::nullopt);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].version, 1);

  // With: computed now, one per (scenario, source), none stored.
  auto computed = utilization_->GetEstimates({.sweep_id = sweep},
                                             utilization::EstimateParams{.n_t_star = 0, .resamples = 50, .level = 0});
  ASSERT_TRUE(computed.ok()) << computed.status();
  EXPECT_EQ(computed->size(), static_cast<size_t>(kScenarios));
  for (const StoredEstimate& e : *computed) {
    EXPECT_EQ(e.row_id, 0);
    EXPECT_EQ(e.params.resamples, 50);
    EXPECT_EQ(e.params.level, kParams.level) << "a zero level takes the default";
    EXPECT_EQ(e.estimate.key.source, "sim");
  }
  EXPECT_EQ(Snapshot("utilization_estimates") + Snapshot("stale_estimates"), before);
  EXPECT_EQ(EstimateRows(), 1);

  // With the recomputer's parameters: the very numbers it stored.
  auto same = utilization_->GetEstimates({.sweep_id = sweep, .scenario = "in_domain"}, kParams);
  ASSERT_TRUE(same.ok()) << same.status();
  ASSERT_EQ(same->size(), 1u);
  EXPECT_EQ(utilization::EstimateToJson((*same)[0].estimate),
            utilization::EstimateToJson((*stored)[0].estimate));
  EXPECT_EQ((*same)[0].trials_digest, (*stored)[0].trials_digest);

  auto bad_level = utilization_->GetEstimates({.sweep_id = sweep},
                                              utilization::EstimateParams{.level = 1.5});
  EXPECT_EQ(bad_level.status().code(), absl::StatusCode::kInvalidArgument) << bad_level.status();
  EXPECT_THAT(bad_level.status().message(), HasSubstr("level"));
  auto no_sweep = utilization_->GetEstimates({.sweep_id = 999}, std::nullopt);
  EXPECT_EQ(no_sweep.status().code(), absl::StatusCode::kNotFound) << no_sweep.status();
  EXPECT_EQ(Snapshot("utilization_estimates") + Snapshot("stale_estimates"), before);
}

TEST_F(EvaluationUtilizationPgTest, RecommendRefusesABadBudget) {
  const int64_t sweep = SweepWithCheckpoints();
  RecordScenario(sweep, "in_domain");
  const std::string before = Snapshot("utilization_estimates");
  for (double budget : {0.0, -4.0, std::numeric_limits<double>::quiet_NaN(),
                        std::numeric_limits<double>::infinity()}) {
    auto r = utilization_->Recommend(
        {.sweep_id = sweep, .scenario = "in_domain", .source = "sim", .budget_hours = budget});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << budget << ": "
                                                                     << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("budget_hours")) << budget;
  }
  auto no_scenario = utilization_->Recommend(
      {.sweep_id = sweep, .scenario = "on_the_moon", .source = "sim", .budget_hours = 4});
  EXPECT_EQ(no_scenario.status().code(), absl::StatusCode::kNotFound) << no_scenario.status();
  auto no_source = utilization_->Recommend(
      {.sweep_id = sweep, .scenario = "in_domain", .source = "video", .budget_hours = 4});
  EXPECT_EQ(no_source.status().code(), absl::StatusCode::kNotFound) << no_source.status();
  EXPECT_EQ(Snapshot("utilization_estimates"), before);
}

// ---- Cancellation -------------------------------------------------------------------------

class EvaluationCancelPgTest : public EvaluationPgTest {};

// evaluation_store.h: RequestState::kCancelled means "its sweep was
// cancelled". A robot that holds a batch of the sweep is not handed it again,
// and no trial is stored for it. (At commit aa64778 nothing wrote 'cancelled';
// the working tree's PgSweepStore cancel now does.)
TEST_F(EvaluationCancelPgTest, CancellingASweepCancelsItsOpenRequests) {
  const int64_t sweep = SweepWithCheckpoints();
  Robot("aloha-1");
  const OperatorBatch batch = Next("aloha-1", 5);
  ASSERT_EQ(batch.batch.requests.size(), 5u);
  auto cancelled = sweeps_->Cancel(sweep, "wrong dataset", {"alice", ""});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(Text(absl::StrCat("SELECT state FROM sweeps WHERE id = ", sweep)), "cancelled");

  EXPECT_EQ(Requests("state = 'open'"), 0) << "requests of a cancelled sweep are still open";
  EXPECT_EQ(Requests("state = 'cancelled'"), kRuns * kScenarios);
  EXPECT_EQ(Next("aloha-1").batch.batch_id, "")
      << "the robot is still handed its batch of the cancelled sweep";
  const std::string before = Snapshot("trials");
  auto late = TryRecord(batch.batch.requests[0].id, {Trial(0, {kLifted})});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  EXPECT_EQ(Snapshot("trials"), before);
}

}  // namespace
}  // namespace mixsweep
