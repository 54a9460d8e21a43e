// db::PgSweepStore and scheduler::SweepService against a real PostgreSQL 15:
// what a submission stores (checked with direct SQL), idempotency (sequential
// and racing), extension (new seeds, reused pretrains in every state, racing
// extensions), cancellation, refused specs and baselines, the append-only
// tables, paging, and an unreachable database.
//
// Every test has its own database (CreateTestDatabase) with the embedded
// migrations applied.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
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
#include "db/connection_pool.h"
#include "db/migrations.h"
#include "db/pg_sweep_store.h"
#include "scheduler/expansion/expansion.h"
#include "scheduler/spec/spec_parser.h"
#include "scheduler/sweep_service.h"
#include "tests/pg/migrated_database.h"
#include "tests/support/pg_harness.h"
#include "tests/support/example_specs.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;
using scheduler::JobRecord;
using scheduler::JobState;
using scheduler::RunRecord;
using scheduler::RunState;
using scheduler::SweepState;
using scheduler::WriteContext;

// docs/examples/pick_dual_bottles.yaml (embedded at build time).
constexpr const char* kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

// `text` with the one occurrence of `from` replaced by `to` (fails the test
// if `from` is not there exactly once).
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the spec";
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "'" << from << "' twice";
  return text.replace(at, from.size(), to);
}

constexpr char kSeeds[] = "seeds: [0, 1, 2]";
constexpr char kNTele[] = "n_tele: [50, 100, 200]";
constexpr char kNNt[] = "n_nt: [0, 1000]";

std::string WithFourthSeed(const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, kSeeds, "seeds: [0, 1, 2, 3]");
}
// N_tele 150 <= the teleop dataset's 200 episodes: new finetunes of the
// existing (sim, 1000, seed) pretrains and new train jobs; no new pretrain.
std::string WithNTele150(const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, kNTele, "n_tele: [50, 100, 150, 200]");
}
// Mixed runs only, baseline taken from sweep `id`.
std::string WithBaselineFrom(int64_t id, const std::string& yaml = kPickDualBottles) {
  return Replace(yaml, kNNt, "n_nt: [1000]") + absl::StrCat("baseline_from_sweep: ", id, "\n");
}

scheduler::SweepFilter Filter(std::string owner, std::string task,
                              std::vector<SweepState> states, int page_size = 50,
                              int64_t before_id = 0) {
  scheduler::SweepFilter f;
  f.owner = std::move(owner);
  f.task = std::move(task);
  f.states = std::move(states);
  f.page_size = page_size;
  f.before_id = before_id;
  return f;
}

const std::vector<std::string>& AllTables() {
  static const auto* tables = new std::vector<std::string>{
      "sweeps", "sweep_revisions", "jobs", "runs", "events", "idempotency_keys"};
  return *tables;
}

class SweepStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = testing::CreateTestDatabase();
    ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
    pool_ = std::make_unique<db::ConnectionPool>(dsn_, 4);
    store_ = std::make_unique<db::PgSweepStore>(*pool_);
    service_ = std::make_unique<scheduler::SweepService>(
        *store_, scheduler::SweepService::Options{});
  }

  int64_t Count(const std::string& sql) { return testing::SqlCount(dsn_, sql); }
  std::string Text(const std::string& sql) { return testing::SqlText(dsn_, sql); }
  void Exec(const std::string& sql) { testing::SqlExec(dsn_, sql); }
  std::map<std::string, int64_t> TableCounts() {
    std::map<std::string, int64_t> counts;
    for (const std::string& table : AllTables()) {
      counts[table] = Count("SELECT count(*) FROM " + table);
    }
    return counts;
  }
  int64_t Events(const std::string& kind) {
    return Count("SELECT count(*) FROM events WHERE kind = '" + kind + "'");
  }

  int64_t MustSubmit(const std::string& yaml, const WriteContext& ctx = {"alice", ""}) {
    auto submitted = service_->Submit(yaml, /*validate_only=*/false, ctx);
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : 0;
  }

  // What extending stored sweep `id` to `yaml` adds, planned as the service
  // does, for calling the store directly.
  struct Addition {
    spec::SweepSpec spec;
    plan::SweepPlan plan;
    std::string yaml;
    scheduler::NewSweep AsNewSweep() const {
      return {.spec = &spec, .spec_yaml = yaml, .plan = &plan};
    }
  };
  std::unique_ptr<Addition> PlanAddition(int64_t id, const std::string& yaml) {
    auto revision = store_->GetRevision(id);
    EXPECT_TRUE(revision.ok()) << revision.status();
    auto stored = spec::ParseSweepSpec(revision->spec_yaml);
    EXPECT_TRUE(stored.ok()) << stored.status();
    auto updated = spec::ParseSweepSpec(yaml);
    EXPECT_TRUE(updated.ok()) << updated.status();
    auto added = plan::PlanExtension(stored->spec, updated->spec);
    EXPECT_TRUE(added.ok()) << added.status();
    auto out = std::make_unique<Addition>();
    out->spec = updated->spec;
    out->plan = *added;
    out->yaml = yaml;
    return out;
  }

  std::map<int64_t, std::string> RunKeysById(int64_t sweep_id) {
    auto runs = store_->ListRuns(sweep_id);
    EXPECT_TRUE(runs.ok()) << runs.status();
    std::map<int64_t, std::string> out;
    if (runs.ok()) {
      for (const RunRecord& r : *runs) out[r.id] = r.key;
    }
    return out;
  }
  std::map<int64_t, std::string> JobKeysById(int64_t sweep_id) {
    auto jobs = store_->ListJobs(sweep_id);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    std::map<int64_t, std::string> out;
    if (jobs.ok()) {
      for (const JobRecord& j : *jobs) out[j.id] = j.key;
    }
    return out;
  }

  std::string dsn_;
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<db::PgSweepStore> store_;
  std::unique_ptr<scheduler::SweepService> service_;
};

// ---- 1. What a submission stores ---------------------------------------------

TEST_F(SweepStoreTest, SubmitStoresTheWholeSweepInOneTransaction) {
  auto submitted =
      service_->Submit(kPickDualBottles, false, {.principal = "alice", .idempotency_key = "k1"});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_GT(submitted->sweep_id, 0);
  EXPECT_EQ(submitted->runs, 18);
  EXPECT_EQ(submitted->jobs, 21);
  EXPECT_FALSE(submitted->replayed);
  const int64_t id = submitted->sweep_id;

  EXPECT_EQ(TableCounts(), (std::map<std::string, int64_t>{{"sweeps", 1},
                                                           {"sweep_revisions", 1},
                                                           {"jobs", 21},
                                                           {"runs", 18},
                                                           {"events", 1},
                                                           {"idempotency_keys", 1}}));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM events WHERE kind = 'sweep.submitted' "
                               "AND sweep_id = ", id, " AND principal = 'alice'")),
            1);
  EXPECT_EQ(Text("SELECT owner || '/' || state || '/' || revision || '/' || task || '/' || "
                 "policy || '/' || coalesce(baseline_from_sweep::text, 'null') FROM sweeps"),
            "alice/active/1/pick_dual_bottles/diffusion_policy/null");
  EXPECT_EQ(Text("SELECT spec_yaml FROM sweep_revisions"), kPickDualBottles);

  // One transaction: every row carries the same creating transaction id
  // (rows updated later in that transaction, the linked finetunes, too).
  EXPECT_EQ(Count("SELECT count(DISTINCT x) FROM ("
                  " SELECT xmin::text AS x FROM sweeps UNION ALL"
                  " SELECT xmin::text FROM sweep_revisions UNION ALL"
                  " SELECT xmin::text FROM jobs UNION ALL"
                  " SELECT xmin::text FROM runs UNION ALL"
                  " SELECT xmin::text FROM events UNION ALL"
                  " SELECT xmin::text FROM idempotency_keys) t"),
            1);

  // Jobs: 9 train + 3 pretrain queued, 9 finetunes blocked.
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'queued' AND kind = 'train'"), 9);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'queued' AND kind = 'pretrain'"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'blocked' AND kind = 'finetune'"), 9);
  // Every finetune depends on a pretrain of its own seed; nothing else depends.
  EXPECT_EQ(Count("SELECT count(*) FROM jobs f JOIN jobs p ON p.id = f.depends_on_job_id"
                  " WHERE f.kind = 'finetune' AND p.kind = 'pretrain' AND p.seed = f.seed"
                  " AND p.sweep_id = f.sweep_id AND p.source = 'sim' AND p.n_demos = 1000"),
            9);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE kind <> 'finetune' AND "
                  "depends_on_job_id IS NOT NULL"),
            0);
  // Every pretrain is shared by 3 runs (N_tele 50, 100, 200 of its seed), and
  // each run's finetune depends on the run's pretrain.
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT pretrain_job_id FROM runs WHERE "
                  "pretrain_job_id IS NOT NULL GROUP BY 1 HAVING count(*) = 3) t"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM runs r JOIN jobs f ON f.id = r.finetune_job_id"
                  " WHERE f.depends_on_job_id = r.pretrain_job_id AND f.n_demos = r.n_tele"),
            9);
  EXPECT_EQ(Count("SELECT count(*) FROM runs r JOIN jobs t ON t.id = r.train_job_id"
                  " WHERE t.kind = 'train' AND t.n_demos = r.n_tele AND t.seed = r.seed"
                  " AND r.source = '' AND r.source_kind = 'teleop'"),
            9);

  // Subsets: n_demos sorted, distinct episode indices inside the dataset.
  auto jobs = store_->ListJobs(id);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 21u);
  std::map<plan::JobKind, int> kinds;
  for (const JobRecord& listed : *jobs) {
    ++kinds[listed.kind];
    auto job = store_->GetJob(listed.id);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->key, listed.key);
    EXPECT_EQ(job->sweep_id, id);
    EXPECT_EQ(job->max_attempts, 3);
    EXPECT_EQ(static_cast<int64_t>(job->subset_episodes.size()), job->n_demos) << job->key;
    EXPECT_TRUE(std::is_sorted(job->subset_episodes.begin(), job->subset_episodes.end()))
        << job->key;
    EXPECT_EQ(std::adjacent_find(job->subset_episodes.begin(), job->subset_episodes.end()),
              job->subset_episodes.end())
        << job->key << ": repeated episode";
    for (int64_t e : job->subset_episodes) {
      ASSERT_GE(e, 0) << job->key;
      ASSERT_LT(e, job->dataset.episodes) << job->key;
    }
    EXPECT_EQ(job->run_ids, listed.run_ids) << job->key;
    EXPECT_EQ(job->run_ids.size(), job->kind == plan::JobKind::kPretrain ? 3u : 1u) << job->key;
    EXPECT_TRUE(std::is_sorted(job->run_ids.begin(), job->run_ids.end()));
    switch (job->kind) {
      case plan::JobKind::kTrain:
        EXPECT_EQ(job->steps, 13000);
        EXPECT_EQ(job->dataset.episodes, 200);
        EXPECT_EQ(job->state, JobState::kQueued);
        break;
      case plan::JobKind::kPretrain:
        EXPECT_EQ(job->steps, 10000);
        EXPECT_EQ(job->n_demos, 1000);
        EXPECT_EQ(job->dataset.episodes, 1000);
        EXPECT_EQ(job->state, JobState::kQueued);
        break;
      case plan::JobKind::kFinetune:
        EXPECT_EQ(job->steps, 3000);
        EXPECT_EQ(job->state, JobState::kBlocked);
        EXPECT_NE(job->depends_on_job_id, 0);
        break;
      case plan::JobKind::kGenerate:
      case plan::JobKind::kEvaluate:
        ADD_FAILURE() << job->key << ": the example generates nothing and evaluates by robot";
        break;
    }
  }
  EXPECT_EQ(kinds, (std::map<plan::JobKind, int>{{plan::JobKind::kTrain, 9},
                                                 {plan::JobKind::kPretrain, 3},
                                                 {plan::JobKind::kFinetune, 9}}));

  auto runs = store_->ListRuns(id);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 18u);
  std::set<std::string> run_keys;
  for (const RunRecord& run : *runs) {
    run_keys.insert(run.key);
    EXPECT_EQ(run.state, RunState::kPending) << run.key;
    EXPECT_EQ(run.revision_added, 1);
    if (run.run.source.empty()) {
      EXPECT_NE(run.train_job_id, 0);
      EXPECT_EQ(run.pretrain_job_id, 0);
      EXPECT_EQ(run.source_kind, "teleop");
    } else {
      EXPECT_EQ(run.train_job_id, 0);
      EXPECT_NE(run.pretrain_job_id, 0);
      EXPECT_NE(run.finetune_job_id, 0);
      EXPECT_EQ(run.source_kind, "simulation");
      EXPECT_EQ(run.run.n_nt, 1000);
    }
  }
  EXPECT_EQ(run_keys.size(), 18u);
  EXPECT_TRUE(run_keys.contains("t50/baseline/s0")) << "run key format changed?";
  EXPECT_TRUE(run_keys.contains("t200/sim/n1000/s2"));

  auto sweep = store_->GetSweep(id);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->id, id);
  EXPECT_EQ(sweep->name, "pick-dual-bottles-sim");
  EXPECT_EQ(sweep->owner, "alice");
  EXPECT_EQ(sweep->state, SweepState::kActive);
  EXPECT_EQ(sweep->revision, 1);
  EXPECT_EQ(sweep->spec_yaml, kPickDualBottles);
  EXPECT_EQ(sweep->counts.runs_total, 18);
  EXPECT_EQ(sweep->counts.runs_by_state, (std::map<RunState, int>{{RunState::kPending, 18}}));
  EXPECT_EQ(sweep->counts.jobs_total, 21);
  EXPECT_EQ(sweep->counts.jobs_by_state,
            (std::map<JobState, int>{{JobState::kQueued, 12}, {JobState::kBlocked, 9}}));
  EXPECT_EQ(sweep->counts.jobs_by_kind, kinds);
  EXPECT_LE(sweep->created_at, sweep->updated_at);
  EXPECT_GT(sweep->created_at, absl::Now() - absl::Minutes(5));

  auto latest = store_->LatestEventId(id);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, Count("SELECT max(id) FROM events"));
  auto none = store_->LatestEventId(id + 1000);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);

  EXPECT_EQ(store_->GetSweep(id + 1000).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob(987654321).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRevision(id + 1000).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SweepStoreTest, ValidateOnlyStoresNothing) {
  auto checked = service_->Submit(kPickDualBottles, /*validate_only=*/true, {"alice", "v1"});
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->sweep_id, 0);
  EXPECT_EQ(checked->runs, 18);
  EXPECT_EQ(checked->jobs, 21);
  for (const auto& [table, n] : TableCounts()) EXPECT_EQ(n, 0) << table;
}

// ---- 2. Idempotency ---------------------------------------------------------

TEST_F(SweepStoreTest, SameKeyReplaysAndDifferentRequestIsRefused) {
  const WriteContext alice{.principal = "alice", .idempotency_key = "k1"};
  auto first = service_->Submit(kPickDualBottles, false, alice);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed);
  const auto after_first = TableCounts();

  auto again = service_->Submit(kPickDualBottles, false, alice);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sweep_id, first->sweep_id);
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(TableCounts(), after_first);

  // The key is per principal: bob's k1 is a new sweep, owned by bob.
  auto bob = service_->Submit(kPickDualBottles, false, {.principal = "bob", .idempotency_key = "k1"});
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_NE(bob->sweep_id, first->sweep_id);
  EXPECT_FALSE(bob->replayed);
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), 2);
  EXPECT_EQ(Text(absl::StrCat("SELECT owner FROM sweeps WHERE id = ", bob->sweep_id)), "bob");
  const auto after_bob = TableCounts();

  // Same key, another spec: refused, naming the field; nothing stored.
  auto other = service_->Submit(WithFourthSeed(), false, alice);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument) << other.status();
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("idempotency_key"));
  EXPECT_EQ(TableCounts(), after_bob);

  // No key: every call is a new sweep.
  const int64_t a = MustSubmit(kPickDualBottles);
  const int64_t b = MustSubmit(kPickDualBottles);
  EXPECT_NE(a, b);
  EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys"), 2);
}

TEST_F(SweepStoreTest, ConcurrentSubmissionsWithOneKeyStoreOneSweep) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const WriteContext ctx{.principal = "alice", .idempotency_key = absl::StrCat("race-", round)};
    std::vector<absl::StatusOr<scheduler::SubmitResult>> results(
        kThreads, absl::UnknownError("not run"));
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = service_->Submit(kPickDualBottles, false, ctx);
      });
    }
    for (auto& t : threads) t.join();
    int fresh = 0;
    std::set<int64_t> ids;
    for (const auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status();
      ids.insert(r->sweep_id);
      if (!r->replayed) ++fresh;
    }
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(fresh, 1);
    EXPECT_EQ(Count("SELECT count(*) FROM sweeps"), round + 1);
    EXPECT_EQ(Count("SELECT count(*) FROM jobs"), 21 * (round + 1));
    EXPECT_EQ(Count("SELECT count(*) FROM runs"), 18 * (round + 1));
    EXPECT_EQ(Count("SELECT count(*) FROM events"), round + 1);
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM sweeps WHERE id = ", *ids.begin())), 1);
  }
}

// ---- 3. Extension -------------------------------------------------------------

TEST_F(SweepStoreTest, ExtendWithAFourthSeedAddsOnlyTheNewRunsAndJobs) {
  const int64_t id = MustSubmit(kPickDualBottles);
  const auto runs_before = RunKeysById(id);
  const auto jobs_before = JobKeysById(id);
  ASSERT_EQ(runs_before.size(), 18u);
  ASSERT_EQ(jobs_before.size(), 21u);

  const std::string extended = WithFourthSeed();
  // bob, an admin, extends alice's sweep: the revision says who.
  auto result = service_->Extend(
      id, extended, false, {.principal = "bob", .idempotency_key = "e1", .acts_for_anyone = true});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sweep_id, id);
  EXPECT_EQ(result->runs_added, 6);
  EXPECT_EQ(result->jobs_added, 7);
  EXPECT_FALSE(result->replayed);

  EXPECT_EQ(Count("SELECT count(*) FROM sweep_revisions"), 2);
  EXPECT_EQ(Text("SELECT created_by FROM sweep_revisions WHERE revision = 2"), "bob");
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 24);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs"), 28);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE revision_added = 2 AND seed = 3"), 6);
  EXPECT_EQ(Events("sweep.extended"), 1);

  // Existing ids keep their keys.
  const auto runs_after = RunKeysById(id);
  const auto jobs_after = JobKeysById(id);
  for (const auto& [rid, key] : runs_before) EXPECT_EQ(runs_after.at(rid), key);
  for (const auto& [jid, key] : jobs_before) EXPECT_EQ(jobs_after.at(jid), key);
  EXPECT_EQ(runs_after.size(), 24u);
  EXPECT_EQ(jobs_after.size(), 28u);
  // The seed-3 finetunes depend on the new seed-3 pretrain.
  EXPECT_EQ(Count("SELECT count(*) FROM jobs f JOIN jobs p ON p.id = f.depends_on_job_id"
                  " WHERE f.seed = 3 AND p.seed = 3 AND p.kind = 'pretrain' AND f.state = 'blocked'"),
            3);

  auto sweep = store_->GetSweep(id);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->revision, 2);
  EXPECT_EQ(sweep->spec_yaml, extended);
  EXPECT_EQ(sweep->counts.runs_total, 24);
  EXPECT_EQ(sweep->counts.jobs_total, 28);

  // Nothing to add: refused as a request, nothing stored.
  const auto counts = TableCounts();
  auto noop = service_->Extend(id, extended, false, {"alice", ""});
  EXPECT_EQ(noop.status().code(), absl::StatusCode::kInvalidArgument) << noop.status();
  EXPECT_EQ(TableCounts(), counts);

  // Removing a value is refused, nothing stored.
  auto removed = service_->Extend(id, kPickDualBottles, false, {"alice", ""});
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kInvalidArgument) << removed.status();
  EXPECT_EQ(TableCounts(), counts);
  EXPECT_EQ(service_->Extend(id + 1000, extended, false, {"alice", ""}).status().code(),
            absl::StatusCode::kNotFound);
}

// A client whose Extend call timed out (or came back UNAVAILABLE: the commit's
// outcome unknown) retries with the same idempotency key, as the error
// contract tells it to. The retry must replay the first answer, not be judged
// against the revision that the first call already stored.
TEST_F(SweepStoreTest, RetriedExtensionWithTheSameKeyIsReplayed) {
  const int64_t id = MustSubmit(kPickDualBottles);
  const std::string extended = WithFourthSeed();
  const WriteContext ctx{.principal = "alice", .idempotency_key = "e1"};
  auto first = service_->Extend(id, extended, false, ctx);
  ASSERT_TRUE(first.ok()) << first.status();
  const auto counts = TableCounts();

  auto replay = service_->Extend(id, extended, false, ctx);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->runs_added, 6);
  EXPECT_EQ(replay->jobs_added, 7);
  EXPECT_EQ(TableCounts(), counts);
}

// The store alone replays it (the service's planning is what refuses it).
TEST_F(SweepStoreTest, StoreReplaysAnExtensionWithTheSameKey) {
  const int64_t id = MustSubmit(kPickDualBottles);
  auto seed3 = PlanAddition(id, WithFourthSeed());
  auto first = store_->ExtendSweep(id, 1, seed3->AsNewSweep(), {"bob", "e1"});
  ASSERT_TRUE(first.ok()) << first.status();
  const auto counts = TableCounts();
  auto replay = store_->ExtendSweep(id, 1, seed3->AsNewSweep(), {"bob", "e1"});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->runs_added, 6);
  EXPECT_EQ(replay->jobs_added, 7);
  EXPECT_EQ(TableCounts(), counts);
}

TEST_F(SweepStoreTest, ExtensionReusesAPendingPretrain) {
  const int64_t id = MustSubmit(kPickDualBottles);
  const std::set<std::string> pretrains_before = [&] {
    std::set<std::string> s;
    for (const auto& [jid, key] : JobKeysById(id)) {
      if (key.starts_with("pretrain/")) s.insert(std::to_string(jid));
    }
    return s;
  }();
  ASSERT_EQ(pretrains_before.size(), 3u);

  auto result = service_->Extend(id, WithNTele150(), false, {"alice", ""});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->runs_added, 6);  // 150 x (baseline + sim 1000) x 3 seeds
  EXPECT_EQ(result->jobs_added, 6);  // 3 train + 3 finetune; no new pretrain
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE kind = 'pretrain'"), 3);

  // The new finetunes hang off the stored pretrains of their seed.
  EXPECT_EQ(Count("SELECT count(*) FROM jobs f JOIN jobs p ON p.id = f.depends_on_job_id"
                  " JOIN runs r ON r.finetune_job_id = f.id"
                  " WHERE f.n_demos = 150 AND f.kind = 'finetune' AND p.kind = 'pretrain'"
                  " AND p.seed = f.seed AND r.pretrain_job_id = p.id AND f.state = 'blocked'"
                  " AND r.revision_added = 2"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE n_demos = 150 AND kind = 'finetune' AND "
                  "depends_on_job_id IS NULL"),
            0);
  // Each pretrain is now shared by 4 runs.
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT pretrain_job_id FROM runs WHERE "
                  "pretrain_job_id IS NOT NULL GROUP BY 1 HAVING count(*) = 4) t"),
            3);
  auto jobs = store_->ListJobs(id);
  ASSERT_TRUE(jobs.ok());
  for (const JobRecord& job : *jobs) {
    if (job.kind == plan::JobKind::kPretrain) {
      EXPECT_EQ(job.run_ids.size(), 4u) << job.key;
      EXPECT_TRUE(pretrains_before.contains(std::to_string(job.id)));
    }
  }
}

TEST_F(SweepStoreTest, ExtensionOnASucceededPretrainQueuesTheNewFinetunes) {
  const int64_t id = MustSubmit(kPickDualBottles);
  Exec("UPDATE jobs SET state = 'succeeded', checkpoint_uri = 'file:///ckpt/' || id, "
       "finished_at = now() WHERE kind = 'pretrain'");
  auto result = service_->Extend(id, WithNTele150(), false, {"alice", ""});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE n_demos = 150 AND kind = 'finetune' "
                  "AND state = 'queued'"),
            3);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE n_demos = 150 AND kind = 'finetune'"), 3);
  // The old finetunes are not touched by the extension.
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE n_demos <> 150 AND kind = 'finetune' "
                  "AND state = 'blocked'"),
            9);
}

TEST_F(SweepStoreTest, ExtensionOnAFailedPretrainFailsTheNewFinetunes) {
  const int64_t id = MustSubmit(kPickDualBottles);
  Exec("UPDATE jobs SET state = 'failed', finished_at = now(), "
       "failure = '{\"kind\": \"exit\", \"message\": \"CUDA out of memory\"}' "
       "WHERE kind = 'pretrain' AND seed = 1");
  const int64_t failed_pretrain =
      Count("SELECT id FROM jobs WHERE kind = 'pretrain' AND seed = 1");
  auto result = service_->Extend(id, WithNTele150(), false, {"alice", ""});
  ASSERT_TRUE(result.ok()) << result.status();

  auto jobs = store_->ListJobs(id);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  int new_finetunes = 0;
  for (const JobRecord& job : *jobs) {
    if (job.kind != plan::JobKind::kFinetune || job.n_demos != 150) continue;
    ++new_finetunes;
    if (job.seed == 1) {
      EXPECT_EQ(job.state, JobState::kFailed) << job.key;
      EXPECT_EQ(job.depends_on_job_id, failed_pretrain);
      EXPECT_THAT(job.failure_message,
                  HasSubstr(absl::StrCat("pretrain job ", failed_pretrain)));
      EXPECT_THAT(job.failure_message, HasSubstr("CUDA out of memory"));
      EXPECT_TRUE(job.finished_at.has_value());
    } else {
      EXPECT_EQ(job.state, JobState::kBlocked) << job.key;
      EXPECT_EQ(job.failure_message, "");
    }
  }
  EXPECT_EQ(new_finetunes, 3);
  auto runs = store_->ListRuns(id);
  ASSERT_TRUE(runs.ok());
  int failed_runs = 0;
  for (const RunRecord& run : *runs) failed_runs += run.state == RunState::kFailed;
  // Seed 1's four mixed runs (N_tele 50, 100, 150, 200) share the failed pretrain.
  EXPECT_EQ(failed_runs, 4);
}

// Two extensions planned from the same stored revision, one after the other:
// the second is ABORTED (the revision moved) and leaves no trace.
TEST_F(SweepStoreTest, SecondExtensionFromAStaleRevisionIsAborted) {
  const int64_t id = MustSubmit(kPickDualBottles);
  auto seed3 = PlanAddition(id, WithFourthSeed());
  auto tele150 = PlanAddition(id, WithNTele150());

  auto first = store_->ExtendSweep(id, 1, seed3->AsNewSweep(), {"alice", "x1"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->runs_added, 6);
  const auto counts = TableCounts();

  auto second = store_->ExtendSweep(id, 1, tele150->AsNewSweep(), {"alice", "x2"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted) << second.status();
  EXPECT_EQ(TableCounts(), counts);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE n_tele = 150"), 0);
  EXPECT_EQ(Count("SELECT revision FROM sweeps"), 2);
  EXPECT_EQ(Events("sweep.extended"), 1);
}

// The same race, but truly concurrent: the second extension is waiting on the
// sweep's row lock while the first commits. It must come back ABORTED (re-read
// and retry), not NOT_FOUND (which the service passes on as "no such sweep").
TEST_F(SweepStoreTest, ExtensionBlockedBehindAConcurrentOneIsAborted) {
  const int64_t id = MustSubmit(kPickDualBottles);
  auto seed3 = PlanAddition(id, WithFourthSeed());
  auto tele150 = PlanAddition(id, WithNTele150());

  // Another replica's extension, in flight: it holds the sweep row.
  pqxx::connection other(dsn_);
  pqxx::work tx(other);
  tx.exec_params("SELECT 1 FROM sweeps WHERE id = $1 FOR UPDATE", id);
  tx.exec_params("INSERT INTO sweep_revisions (sweep_id, revision, spec_yaml, created_by) "
                 "VALUES ($1, 2, $2, 'carol')",
                 id, seed3->yaml);
  tx.exec_params("UPDATE sweeps SET revision = 2, updated_at = now() WHERE id = $1", id);

  absl::StatusOr<scheduler::ExtendSweepResult> second = absl::UnknownError("not run");
  std::thread racer([&] {
    second = store_->ExtendSweep(id, 1, tele150->AsNewSweep(), {"alice", ""});
  });
  // Wait until the racer is blocked on the row lock.
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    waiting = Count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'") > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(waiting) << "the second extension never waited for the row lock";
  tx.commit();
  racer.join();

  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted) << second.status();
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE n_tele = 150"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM sweep_revisions"), 2);
}

// Two users extend one sweep at once through the service: A adds seed 3, B
// adds seed 3 and N_tele 150. Whatever the interleaving, each gets OK or a
// clear INVALID_ARGUMENT (its spec would remove what the other added), at least
// one succeeds, and the stored runs and jobs are exactly the expansion of the
// latest revision.
TEST_F(SweepStoreTest, ConcurrentExtensionsThroughTheServiceStayConsistent) {
  const std::string a_yaml = WithFourthSeed();
  const std::string b_yaml = WithNTele150(WithFourthSeed());
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const int64_t id = MustSubmit(kPickDualBottles);
    absl::StatusOr<scheduler::ExtendResult> a = absl::UnknownError("not run");
    absl::StatusOr<scheduler::ExtendResult> b = absl::UnknownError("not run");
    std::latch start(2);
    std::thread ta([&] {
      start.arrive_and_wait();
      a = service_->Extend(id, a_yaml, false, {"alice", ""});
    });
    std::thread tb([&] {
      start.arrive_and_wait();
      b = service_->Extend(id, b_yaml, false, {"alice", ""});
    });
    ta.join();
    tb.join();
    int ok = 0;
    for (const auto* r : {&a, &b}) {
      if (r->ok()) {
        ++ok;
      } else {
        EXPECT_EQ(r->status().code(), absl::StatusCode::kInvalidArgument) << r->status();
      }
    }
    EXPECT_GE(ok, 1);
    const std::string where = absl::StrCat(" WHERE sweep_id = ", id);
    EXPECT_EQ(Count("SELECT count(*) FROM sweep_revisions" + where), ok + 1);
    EXPECT_EQ(Count(absl::StrCat("SELECT revision FROM sweeps WHERE id = ", id)), ok + 1);
    EXPECT_EQ(Count("SELECT count(*) - count(DISTINCT key) FROM runs" + where), 0);

    auto sweep = store_->GetSweep(id);
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    auto latest = spec::ParseSweepSpec(sweep->spec_yaml);
    ASSERT_TRUE(latest.ok()) << latest.status();
    const plan::SweepPlan want = plan::ExpandSweep(latest->spec);
    std::set<std::string> want_runs, got_runs, want_jobs, got_jobs;
    for (const auto& r : want.runs) want_runs.insert(r.key);
    for (const auto& j : want.jobs) want_jobs.insert(j.key);
    for (const auto& [rid, key] : RunKeysById(id)) got_runs.insert(key);
    for (const auto& [jid, key] : JobKeysById(id)) got_jobs.insert(key);
    EXPECT_EQ(got_runs, want_runs);
    EXPECT_EQ(got_jobs, want_jobs);
    EXPECT_EQ(sweep->counts.runs_total, static_cast<int>(want.runs.size()));
  }
}

// ---- 4. Cancellation --------------------------------------------------------

TEST_F(SweepStoreTest, CancelStopsWaitingJobs) {
  const int64_t id = MustSubmit(kPickDualBottles);
  auto cancelled = service_->Cancel(id, "wrong dataset", {"alice", "c1"});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->jobs_cancelled, 21);
  EXPECT_EQ(cancelled->jobs_stopping, 0);
  EXPECT_FALSE(cancelled->replayed);

  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'cancelled' AND finished_at IS NOT NULL"),
            21);
  EXPECT_EQ(Events("sweep.cancelled"), 1);
  auto sweep = store_->GetSweep(id);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->state, SweepState::kCancelled);
  EXPECT_EQ(sweep->cancel_reason, "wrong dataset");
  EXPECT_EQ(sweep->counts.runs_by_state, (std::map<RunState, int>{{RunState::kCancelled, 18}}));
  EXPECT_EQ(sweep->counts.jobs_by_state, (std::map<JobState, int>{{JobState::kCancelled, 21}}));

  // The same request again with its key: the first answer, replayed.
  auto replay = service_->Cancel(id, "wrong dataset", {"alice", "c1"});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->jobs_cancelled, 21);
  EXPECT_EQ(Events("sweep.cancelled"), 1);
}

TEST_F(SweepStoreTest, CancelAsksRunningJobsToStop) {
  const int64_t id = MustSubmit(kPickDualBottles);
  Exec("UPDATE jobs SET state = 'running', started_at = now() WHERE id IN "
       "(SELECT id FROM jobs WHERE kind = 'train' ORDER BY id LIMIT 2)");
  auto cancelled = service_->Cancel(id, "budget", {"alice", ""});
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->jobs_cancelled, 19);
  EXPECT_EQ(cancelled->jobs_stopping, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'running' AND cancel_requested"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE cancel_requested"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 'cancelled'"), 19);

  // Again, without a key: a no-op, no second event.
  const auto counts = TableCounts();
  auto again = service_->Cancel(id, "budget", {"alice", ""});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->jobs_cancelled, 0);
  EXPECT_EQ(again->jobs_stopping, 0);
  EXPECT_EQ(Events("sweep.cancelled"), 1);
  EXPECT_EQ(TableCounts(), counts);
  EXPECT_EQ(Text(absl::StrCat("SELECT cancel_reason FROM sweeps WHERE id = ", id)), "budget");
}

TEST_F(SweepStoreTest, CancelUnknownSweepIsNotFound) {
  auto cancelled = service_->Cancel(4242, "nope", {"alice", "c"});
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kNotFound) << cancelled.status();
  for (const auto& [table, n] : TableCounts()) EXPECT_EQ(n, 0) << table;
}

TEST_F(SweepStoreTest, ExtendingACancelledSweepIsAFailedPrecondition) {
  const int64_t id = MustSubmit(kPickDualBottles);
  ASSERT_TRUE(service_->Cancel(id, "stop", {"alice", ""}).ok());
  const auto counts = TableCounts();

  auto extended = service_->Extend(id, WithFourthSeed(), false, {"alice", ""});
  EXPECT_EQ(extended.status().code(), absl::StatusCode::kFailedPrecondition) << extended.status();
  EXPECT_EQ(TableCounts(), counts);

  // The store refuses it too, when asked directly.
  auto seed3 = PlanAddition(id, WithFourthSeed());
  auto direct = store_->ExtendSweep(id, 1, seed3->AsNewSweep(), {"alice", "d"});
  EXPECT_EQ(direct.status().code(), absl::StatusCode::kFailedPrecondition) << direct.status();
  EXPECT_EQ(TableCounts(), counts);
}

// ---- 5. Refused specs and baselines -----------------------------------------

TEST_F(SweepStoreTest, BadSpecStoresNothing) {
  const std::string bad = Replace(kPickDualBottles, "pretrain_steps: 10000", "pretrain_steps: 9000");
  auto submitted = service_->Submit(bad, false, {"alice", "bad"});
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument) << submitted.status();
  EXPECT_THAT(std::string(submitted.status().message()), HasSubstr("pretrain_steps"));
  auto garbage = service_->Submit("version: 1\nname: [unterminated\n", false, {"alice", "g"});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument) << garbage.status();
  for (const auto& [table, n] : TableCounts()) EXPECT_EQ(n, 0) << table;
}

TEST_F(SweepStoreTest, BaselineFromAnIncompatibleSweepIsRefused) {
  const int64_t other_task = MustSubmit(
      Replace(kPickDualBottles, "  name: pick_dual_bottles\n", "  name: stack_cups\n"));
  const int64_t other_policy =
      MustSubmit(Replace(kPickDualBottles, "policy: diffusion_policy", "policy: act"));
  const int64_t other_protocol = MustSubmit(
      Replace(Replace(kPickDualBottles, "total_steps: 13000", "total_steps: 14000"),
              "pretrain_steps: 10000", "pretrain_steps: 11000"));
  const int64_t no_baseline_of_its_own = [&] {
    const int64_t base = MustSubmit(kPickDualBottles);
    return MustSubmit(WithBaselineFrom(base));
  }();
  const auto counts = TableCounts();

  for (int64_t bad : {other_task, other_policy, other_protocol, no_baseline_of_its_own,
                      int64_t{999999}}) {
    SCOPED_TRACE(absl::StrCat("baseline_from_sweep: ", bad));
    auto submitted = service_->Submit(WithBaselineFrom(bad), false, {"alice", ""});
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument)
        << submitted.status();
    EXPECT_THAT(std::string(submitted.status().message()), HasSubstr("baseline_from_sweep"));
  }
  EXPECT_EQ(TableCounts(), counts);
}

TEST_F(SweepStoreTest, BaselineFromACompatibleSweepIsAccepted) {
  const int64_t base = MustSubmit(kPickDualBottles);
  auto submitted = service_->Submit(WithBaselineFrom(base), false, {"alice", ""});
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->runs, 9);   // 3 N_tele x sim 1000 x 3 seeds; no baseline
  EXPECT_EQ(submitted->jobs, 12);  // 3 pretrain + 9 finetune
  const int64_t id = submitted->sweep_id;
  EXPECT_EQ(Text(absl::StrCat("SELECT coalesce(baseline_from_sweep::text, 'null') FROM sweeps "
                              "WHERE id = ", id)),
            std::to_string(base));
  EXPECT_EQ(Text(absl::StrCat("SELECT coalesce(baseline_from_sweep::text, 'null') FROM sweeps "
                              "WHERE id = ", base)),
            "null");

  auto runs = store_->ListRuns(id);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 9u);
  for (const RunRecord& run : *runs) {
    EXPECT_EQ(run.run.source, "sim") << run.key;
    EXPECT_EQ(run.train_job_id, 0) << run.key;
  }
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM jobs WHERE kind = 'train' AND sweep_id = ",
                               id)),
            0);
}

// ---- 6. Append-only history ---------------------------------------------------

TEST_F(SweepStoreTest, EventsAndTrialsAreAppendOnly) {
  const int64_t id = MustSubmit(kPickDualBottles);
  EXPECT_THROW(Exec("UPDATE events SET kind = 'sweep.forged'"), pqxx::sql_error);
  EXPECT_THROW(Exec("DELETE FROM events"), pqxx::sql_error);
  try {
    Exec("DELETE FROM events");
    ADD_FAILURE() << "DELETE FROM events succeeded";
  } catch (const pqxx::sql_error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("append-only"));
  }
  EXPECT_EQ(Events("sweep.submitted"), 1);
  EXPECT_EQ(Events("sweep.forged"), 0);

  // A trial (through its evaluation request) refuses the same.
  const int64_t run_id = Count(absl::StrCat("SELECT min(id) FROM runs WHERE sweep_id = ", id));
  Exec(absl::StrCat("INSERT INTO evaluation_requests (sweep_id, run_id, scenario, "
                    "checkpoint_uri, trials_wanted, blind_label) VALUES (",
                    id, ", ", run_id, ", 'in_domain', 'file:///c', 10, 'blind-1')"));
  Exec(absl::StrCat("INSERT INTO trials (request_id, sweep_id, run_id, scenario, "
                    "checkpoint_uri, trial_index, score, success, recorded_by) "
                    "SELECT id, sweep_id, run_id, scenario, checkpoint_uri, 0, 0.5, false, 'op' "
                    "FROM evaluation_requests"));
  EXPECT_THROW(Exec("UPDATE trials SET score = 1, success = true"), pqxx::sql_error);
  EXPECT_THROW(Exec("DELETE FROM trials"), pqxx::sql_error);
  EXPECT_EQ(Text("SELECT score::text || '/' || success::text FROM trials"), "0.5/false");
}

// ---- 7. Listing ---------------------------------------------------------------

TEST_F(SweepStoreTest, ListSweepsPagesNewestFirstAndFilters) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(MustSubmit(kPickDualBottles, {i < 3 ? "alice" : "bob", ""}));
  }
  std::vector<int64_t> newest_first(ids.rbegin(), ids.rend());

  std::vector<int64_t> seen;
  std::vector<size_t> page_sizes;
  int64_t before = 0;
  for (int page = 0; page < 10; ++page) {
    auto listed = service_->List(Filter("", "", {}, 2, before));
    ASSERT_TRUE(listed.ok()) << listed.status();
    page_sizes.push_back(listed->sweeps.size());
    for (const auto& s : listed->sweeps) {
      seen.push_back(s.id);
      EXPECT_EQ(s.counts.runs_total, 18);
      EXPECT_EQ(s.counts.jobs_total, 21);
    }
    before = listed->next_before_id;
    if (before == 0) break;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(seen, newest_first);

  // Exactly a page's worth left: no empty extra page promised.
  auto four = service_->List(Filter("", "", {}, 4, ids[4]));
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_EQ(four->sweeps.size(), 4u);
  EXPECT_EQ(four->next_before_id, 0);

  auto alice = service_->List(Filter("alice", "", {}));
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_EQ(alice->sweeps.size(), 3u);
  for (const auto& s : alice->sweeps) EXPECT_EQ(s.owner, "alice");
  EXPECT_EQ(alice->next_before_id, 0);
  auto by_task = service_->List(Filter("", "pick_dual_bottles", {}));
  ASSERT_TRUE(by_task.ok());
  EXPECT_EQ(by_task->sweeps.size(), 5u);
  auto other_task = service_->List(Filter("", "stack_cups", {}));
  ASSERT_TRUE(other_task.ok());
  EXPECT_TRUE(other_task->sweeps.empty());

  ASSERT_TRUE(service_->Cancel(ids[1], "x", {"alice", ""}).ok());
  auto cancelled = service_->List(Filter("", "", {SweepState::kCancelled}));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  ASSERT_EQ(cancelled->sweeps.size(), 1u);
  EXPECT_EQ(cancelled->sweeps[0].id, ids[1]);
  EXPECT_EQ(cancelled->sweeps[0].state, SweepState::kCancelled);
  auto active = service_->List(Filter("", "", {SweepState::kActive}));
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->sweeps.size(), 4u);
  auto both = service_->List(Filter("", "", {SweepState::kActive, SweepState::kCancelled}));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->sweeps.size(), 5u);
  auto alice_active =
      service_->List(Filter("alice", "", {SweepState::kActive}, 1));
  ASSERT_TRUE(alice_active.ok());
  ASSERT_EQ(alice_active->sweeps.size(), 1u);
  EXPECT_EQ(alice_active->sweeps[0].id, ids[2]);
  EXPECT_EQ(alice_active->next_before_id, ids[2]);
}

// ---- 8. An unreachable database --------------------------------------------

TEST_F(SweepStoreTest, UnreachableDatabaseIsUnavailable) {
  db::ConnectionPool pool("host=/nonexistent dbname=mixsweep connect_timeout=2", 4);
  db::PgSweepStore store(pool);
  scheduler::SweepService service(store, {});
  const auto unavailable = [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kUnavailable;
  };
  auto submitted = service.Submit(kPickDualBottles, false, {"alice", "k"});
  EXPECT_TRUE(unavailable(submitted.status())) << submitted.status();
  EXPECT_TRUE(unavailable(service.Extend(1, WithFourthSeed(), false, {"alice", ""}).status()));
  EXPECT_TRUE(unavailable(service.Cancel(1, "x", {"alice", ""}).status()));
  EXPECT_TRUE(unavailable(service.Get(1, true, true).status()));
  EXPECT_TRUE(unavailable(service.List({}).status()));
  EXPECT_TRUE(unavailable(service.GetJob(1).status()));
  EXPECT_TRUE(unavailable(store.GetRevision(1).status()));
  EXPECT_TRUE(unavailable(store.ListRuns(1).status()));
  EXPECT_TRUE(unavailable(store.ListJobs(1).status()));
  EXPECT_TRUE(unavailable(store.LatestEventId(1).status()));
  // A submission naming a baseline sweep must not turn the outage into a
  // verdict on the spec.
  auto with_baseline = service.Submit(WithBaselineFrom(1), false, {"alice", ""});
  EXPECT_TRUE(unavailable(with_baseline.status())) << with_baseline.status();
  // The pool gave every slot back: more calls than slots still answer.
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(unavailable(store.GetSweep(1).status()));
}

// The server drops the pool's connections (a restart, an administrator):
// a call fails as UNAVAILABLE at worst, and the pool heals by itself.
TEST_F(SweepStoreTest, DroppedConnectionsAreUnavailableThenHeal) {
  const int64_t id = MustSubmit(kPickDualBottles);
  ASSERT_TRUE(store_->GetSweep(id).ok());
  Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
       "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto first = store_->GetSweep(id);
  EXPECT_TRUE(first.ok() || first.status().code() == absl::StatusCode::kUnavailable)
      << first.status();
  auto second = store_->GetSweep(id);
  EXPECT_TRUE(second.ok()) << second.status();
}

}  // namespace
}  // namespace mixsweep
