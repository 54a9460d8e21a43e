// Sweep expansion, extension and sharing savings (docs/expansion.md).
#include "scheduler/expansion/expansion.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/expansion/subset.h"
#include "tests/unit/plan_keys.h"

namespace mixsweep::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// Spec builders: SweepSpec structs made directly, no YAML.

spec::CommandTemplate Command(const std::string& stage) {
  spec::CommandTemplate command;
  command.argv = {"python",
                  "train.py",
                  "--stage=" + stage,
                  "--data={dataset}",
                  "--subset={subset_manifest}",
                  "--steps={steps}",
                  "--seed={seed}",
                  "--out={output_dir}"};
  if (stage == "finetune") command.argv.push_back("--init={init_checkpoint}");
  command.env = {{"WANDB_MODE", "offline"}};
  command.checkpoint = "{output_dir}/checkpoints/last.ckpt";
  command.no_retry_exit_codes = {2};
  return command;
}

spec::Source Source(const std::string& name, std::vector<int64_t> n_nt,
                    spec::SourceKind kind = spec::SourceKind::kSimulation) {
  spec::Source source;
  source.name = name;
  source.kind = kind;
  source.dataset = {.uri = "s3://lab/pick_dual_bottles/" + name,
                    .content_hash = "sha256:" + name,
                    .episodes = 5000};
  source.cost_per_demo_hours = 0.01;
  source.n_nt = std::move(n_nt);
  return source;
}

// SPEC.md's example: Pick Dual Bottles, N_tele {50, 100, 200}, one
// simulation source with N_nt {0, 1000}, seeds {0, 1, 2}; steps 100k =
// 60k pretrain + 40k finetune.
spec::SweepSpec PickDualBottles() {
  spec::SweepSpec spec;
  spec.name = "pick-dual-bottles-sim";
  spec.task.name = "pick_dual_bottles";
  spec.task.rubric = {
      .kind = spec::RubricKind::kMilestones,
      .entries = {{"first_bottle_grasped", 0.5}, {"both_lifted", 1.0}}};
  spec.policy = "diffusion_policy";
  spec.code_version = "git:4f1c2e9";
  spec.teleop = {.dataset = {.uri = "s3://lab/pick_dual_bottles/teleop",
                             .content_hash = "sha256:teleop",
                             .episodes = 500},
                 .cost_per_demo_hours = 0.05,
                 .n_tele = {50, 100, 200}};
  spec.sources = {Source("sim", {0, 1000})};
  spec.seeds = {0, 1, 2};
  spec.protocol = {
      .total_steps = 100000, .pretrain_steps = 60000, .finetune_steps = 40000};
  spec.evaluation.scenarios = {{"in_domain", 10, ""},
                               {"unseen_background", 10, ""}};
  spec.templates = {.train = Command("train"),
                    .pretrain = Command("pretrain"),
                    .finetune = Command("finetune")};
  return spec;
}

// ---------------------------------------------------------------------------
// Plan helpers.

int CountKind(const SweepPlan& plan, JobKind kind) {
  return static_cast<int>(
      std::count_if(plan.jobs.begin(), plan.jobs.end(),
                    [&](const PlannedJob& job) { return job.kind == kind; }));
}

using testing::JobKeys;
using testing::RunKeys;

std::vector<std::string> JobsOf(const PlannedRun& run) {
  if (run.run.source.empty()) return {run.train_job};
  return {run.pretrain_job, run.finetune_job};
}

// Invariants every plan keeps: unique keys, every pretrain listed before
// the finetunes that need it, every run's job keys present.
void ExpectWellFormed(const SweepPlan& plan) {
  std::set<std::string> seen;
  for (const PlannedJob& job : plan.jobs) {
    EXPECT_TRUE(seen.insert(job.key).second) << "duplicate job " << job.key;
    if (job.kind == JobKind::kFinetune) {
      EXPECT_TRUE(seen.contains(job.depends_on))
          << job.key << " listed before its pretrain " << job.depends_on;
    } else {
      EXPECT_EQ(job.depends_on, "") << job.key;
    }
  }
  std::set<std::string> runs;
  for (const PlannedRun& run : plan.runs) {
    EXPECT_TRUE(runs.insert(run.key).second) << "duplicate run " << run.key;
    for (const std::string& key : JobsOf(run)) {
      EXPECT_TRUE(seen.contains(key)) << run.key << " names missing " << key;
    }
  }
}

// ---------------------------------------------------------------------------
// ExpandSweep

TEST(ExpandSweepTest, PickDualBottlesHas18RunsAnd21Jobs) {
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  EXPECT_THAT(plan.runs, SizeIs(18));
  EXPECT_THAT(plan.jobs, SizeIs(21));
  EXPECT_EQ(CountKind(plan, JobKind::kTrain), 9);
  EXPECT_EQ(CountKind(plan, JobKind::kPretrain), 3);
  EXPECT_EQ(CountKind(plan, JobKind::kFinetune), 9);
  ExpectWellFormed(plan);
}

TEST(ExpandSweepTest, RunsAreOrderedByNTeleThenBaselineThenSourcesThenSeeds) {
  spec::SweepSpec spec = PickDualBottles();
  spec.teleop.n_tele = {100, 50};  // spec order, not numeric order
  spec.sources = {Source("sim", {1000, 0, 500}),
                  Source("human", {200}, spec::SourceKind::kHumanVideo)};
  spec.seeds = {2, 0};
  // clang-format off
  EXPECT_THAT(RunKeys(ExpandSweep(spec)),
              ElementsAre("t100/baseline/s2", "t100/baseline/s0",
                          "t100/sim/n1000/s2", "t100/sim/n1000/s0",
                          "t100/sim/n500/s2", "t100/sim/n500/s0",
                          "t100/human/n200/s2", "t100/human/n200/s0",
                          "t50/baseline/s2", "t50/baseline/s0",
                          "t50/sim/n1000/s2", "t50/sim/n1000/s0",
                          "t50/sim/n500/s2", "t50/sim/n500/s0",
                          "t50/human/n200/s2", "t50/human/n200/s0"));
  // clang-format on
}

TEST(ExpandSweepTest, JobsFollowRunsWithSharedPretrainAtFirstUse) {
  spec::SweepSpec spec = PickDualBottles();
  spec.teleop.n_tele = {50, 100};
  spec.seeds = {0};
  const SweepPlan plan = ExpandSweep(spec);
  std::vector<std::string> keys;
  for (const PlannedJob& job : plan.jobs) keys.push_back(job.key);
  ASSERT_THAT(keys, SizeIs(5));
  EXPECT_EQ(keys[0], "train/t50/s0");
  EXPECT_THAT(keys[1], MatchesRegex("pretrain/sim/n1000/s0/[0-9a-f]{8}"));
  EXPECT_EQ(keys[2], "finetune/t50/sim/n1000/s0");
  EXPECT_EQ(keys[3], "train/t100/s0");
  EXPECT_EQ(keys[4], "finetune/t100/sim/n1000/s0");
}

TEST(ExpandSweepTest, BaselineRunIsOneTrainJobOnTeleopData) {
  const spec::SweepSpec spec = PickDualBottles();
  const SweepPlan plan = ExpandSweep(spec);
  const PlannedRun& run = plan.runs.front();
  EXPECT_EQ(run.key, "t50/baseline/s0");
  EXPECT_EQ(run.run.n_tele, 50);
  EXPECT_EQ(run.run.source, "");
  EXPECT_EQ(run.run.n_nt, 0);
  EXPECT_EQ(run.train_job, "train/t50/s0");
  EXPECT_EQ(run.pretrain_job, "");
  EXPECT_EQ(run.finetune_job, "");

  const PlannedJob* train = plan.FindJob(run.train_job);
  ASSERT_NE(train, nullptr);
  EXPECT_EQ(train->kind, JobKind::kTrain);
  EXPECT_EQ(train->source, "teleop");
  EXPECT_EQ(train->dataset.uri, spec.teleop.dataset.uri);
  EXPECT_EQ(train->n_demos, 50);
  EXPECT_EQ(train->seed, 0);
  EXPECT_EQ(train->steps, 100000);
  EXPECT_EQ(train->command.argv, spec.templates.train->argv);
  EXPECT_EQ(train->depends_on, "");
  EXPECT_EQ(train->subset.dataset_uri, spec.teleop.dataset.uri);
  EXPECT_THAT(train->subset.episodes, SizeIs(50));
}

TEST(ExpandSweepTest, MixedRunIsPretrainOnSourceThenFinetuneOnTeleop) {
  const spec::SweepSpec spec = PickDualBottles();
  const SweepPlan plan = ExpandSweep(spec);
  const PlannedRun& run = plan.runs[4];  // after 3 baselines: t50, seed 1
  EXPECT_EQ(run.key, "t50/sim/n1000/s1");
  EXPECT_EQ(run.train_job, "");

  const PlannedJob* pretrain = plan.FindJob(run.pretrain_job);
  ASSERT_NE(pretrain, nullptr);
  EXPECT_EQ(pretrain->kind, JobKind::kPretrain);
  EXPECT_EQ(pretrain->source, "sim");
  EXPECT_EQ(pretrain->dataset.uri, "s3://lab/pick_dual_bottles/sim");
  EXPECT_EQ(pretrain->n_demos, 1000);
  EXPECT_EQ(pretrain->seed, 1);
  EXPECT_EQ(pretrain->steps, 60000);
  EXPECT_EQ(pretrain->command.argv, spec.templates.pretrain->argv);
  EXPECT_THAT(pretrain->subset.episodes, SizeIs(1000));

  const PlannedJob* finetune = plan.FindJob(run.finetune_job);
  ASSERT_NE(finetune, nullptr);
  EXPECT_EQ(finetune->key, "finetune/t50/sim/n1000/s1");
  EXPECT_EQ(finetune->kind, JobKind::kFinetune);
  EXPECT_EQ(finetune->source, "teleop");
  EXPECT_EQ(finetune->dataset.uri, spec.teleop.dataset.uri);
  EXPECT_EQ(finetune->n_demos, 50);
  EXPECT_EQ(finetune->seed, 1);
  EXPECT_EQ(finetune->steps, 40000);
  EXPECT_EQ(finetune->command.argv, spec.templates.finetune->argv);
  EXPECT_EQ(finetune->depends_on, run.pretrain_job);
}

TEST(ExpandSweepTest, OnePretrainPerSeedSharedAcrossNTele) {
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  std::map<std::string, int> uses;
  for (const PlannedRun& run : plan.runs) {
    if (!run.pretrain_job.empty()) ++uses[run.pretrain_job];
  }
  ASSERT_THAT(uses, SizeIs(3));
  for (const auto& [key, count] : uses) {
    EXPECT_EQ(count, 3) << key;
  }
}

TEST(ExpandSweepTest, PretrainKeyIsPinnedAcrossPlatformsAndBuilds) {
  // The digest is FNV-1a over canonical bytes, never std::hash: this value
  // must never change, or stored sweeps would stop matching their plans.
  // 8096ccb3 was computed by the Python reference in docs/expansion.md.
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  EXPECT_THAT(JobKeys(plan, JobKind::kPretrain),
              ElementsAre("pretrain/sim/n1000/s0/8096ccb3",
                          "pretrain/sim/n1000/s1/8096ccb3",
                          "pretrain/sim/n1000/s2/8096ccb3"));
}

TEST(ExpandSweepTest, PretrainDigestChangesWithItsIdentity) {
  const std::string base =
      JobKeys(ExpandSweep(PickDualBottles()), JobKind::kPretrain)[0];
  const std::vector<std::function<void(spec::SweepSpec&)>> changes = {
      [](spec::SweepSpec& s) { s.sources[0].dataset.uri += "-v2"; },
      [](spec::SweepSpec& s) { s.sources[0].dataset.content_hash = "x"; },
      [](spec::SweepSpec& s) { s.sources[0].dataset.episodes = 4000; },
      [](spec::SweepSpec& s) {
        s.protocol.pretrain_steps = 50000;
        s.protocol.finetune_steps = 50000;
      },
      [](spec::SweepSpec& s) { s.templates.pretrain->argv.push_back("--x"); },
      [](spec::SweepSpec& s) { s.templates.pretrain->env["A"] = "1"; },
      [](spec::SweepSpec& s) { s.templates.pretrain->checkpoint = "a.ckpt"; },
      [](spec::SweepSpec& s) {
        s.templates.pretrain->no_retry_exit_codes.push_back(3);
      },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    spec::SweepSpec spec = PickDualBottles();
    changes[i](spec);
    EXPECT_NE(JobKeys(ExpandSweep(spec), JobKind::kPretrain)[0], base)
        << "change " << i;
  }
}

TEST(ExpandSweepTest, PretrainDigestIgnoresWhatDoesNotChangeTheJob) {
  spec::SweepSpec spec = PickDualBottles();
  spec.templates.pretrain->no_retry_exit_codes = {2, 3};
  const std::string base = JobKeys(ExpandSweep(spec), JobKind::kPretrain)[0];
  spec.templates.pretrain->no_retry_exit_codes = {3, 2};  // a set
  spec.templates.finetune->argv.push_back("--lr=1e-5");
  spec.teleop.n_tele = {400};
  spec.sources[0].cost_per_demo_hours = 9;
  EXPECT_EQ(JobKeys(ExpandSweep(spec), JobKind::kPretrain)[0], base);
}

TEST(ExpandSweepTest, SourcesWithSameDatasetAndCommandSharePretrains) {
  spec::SweepSpec spec = PickDualBottles();
  spec::Source twin = Source("sim_b", {1000});
  twin.dataset = spec.sources[0].dataset;
  spec.sources.push_back(twin);
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_THAT(plan.runs, SizeIs(27));
  EXPECT_EQ(CountKind(plan, JobKind::kTrain), 9);
  EXPECT_EQ(CountKind(plan, JobKind::kPretrain), 3);
  EXPECT_EQ(CountKind(plan, JobKind::kFinetune), 18);
  for (const std::string& key : JobKeys(plan, JobKind::kPretrain)) {
    EXPECT_THAT(key, MatchesRegex("pretrain/sim/n1000/s[0-2]/[0-9a-f]{8}"));
  }
  const PlannedJob* finetune = plan.FindJob("finetune/t50/sim_b/n1000/s0");
  ASSERT_NE(finetune, nullptr);
  EXPECT_EQ(finetune->depends_on,
            plan.FindJob("finetune/t50/sim/n1000/s0")->depends_on);
  ExpectWellFormed(plan);
}

TEST(ExpandSweepTest, SharedPretrainIsNamedAfterFirstSourceThatUsesIt) {
  spec::SweepSpec spec = PickDualBottles();
  spec.sources = {Source("sim_a", {500}), Source("sim_b", {1000, 500})};
  spec.sources[1].dataset = spec.sources[0].dataset;
  spec.seeds = {0};
  EXPECT_THAT(JobKeys(ExpandSweep(spec), JobKind::kPretrain),
              ElementsAre(MatchesRegex("pretrain/sim_a/n500/s0/.{8}"),
                          MatchesRegex("pretrain/sim_b/n1000/s0/.{8}")));
}

TEST(ExpandSweepTest, DifferentPretrainTemplatesAreNotShared) {
  spec::SweepSpec spec = PickDualBottles();
  spec::Source twin = Source("sim_b", {1000});
  twin.dataset = spec.sources[0].dataset;
  twin.templates.pretrain = Command("pretrain");
  twin.templates.pretrain->argv.push_back("--augment=strong");
  spec.sources.push_back(twin);
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_EQ(CountKind(plan, JobKind::kPretrain), 6);
  const PlannedJob* pretrain =
      plan.FindJob(plan.FindJob("finetune/t50/sim_b/n1000/s0")->depends_on);
  ASSERT_NE(pretrain, nullptr);
  EXPECT_EQ(pretrain->source, "sim_b");
  EXPECT_EQ(pretrain->command.argv.back(), "--augment=strong");
  ExpectWellFormed(plan);
}

TEST(ExpandSweepTest, SameUriWithDifferentContentHashIsNotShared) {
  spec::SweepSpec spec = PickDualBottles();
  spec::Source twin = Source("sim_b", {1000});
  twin.dataset = spec.sources[0].dataset;
  twin.dataset.content_hash = "sha256:regenerated";
  spec.sources.push_back(twin);
  EXPECT_EQ(CountKind(ExpandSweep(spec), JobKind::kPretrain), 6);
}

TEST(ExpandSweepTest, SourceOverridesReplaceSweepTemplates) {
  spec::SweepSpec spec = PickDualBottles();
  spec.sources.push_back(Source("human", {500}, spec::SourceKind::kHumanVideo));
  spec::CommandTemplate finetune = Command("finetune");
  finetune.argv.push_back("--skip-action-head");
  spec.sources[1].templates.finetune = finetune;
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_EQ(plan.FindJob("finetune/t50/human/n500/s0")->command.argv.back(),
            "--skip-action-head");
  EXPECT_EQ(plan.FindJob("finetune/t50/sim/n1000/s0")->command.argv,
            spec.templates.finetune->argv);
}

TEST(ExpandSweepTest, BaselineAppearsOnceWhenSeveralSourcesListZero) {
  spec::SweepSpec spec = PickDualBottles();
  spec.sources.push_back(
      Source("human", {0, 500}, spec::SourceKind::kHumanVideo));
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_THAT(plan.runs, SizeIs(27));  // 3 x (1 + 2) x 3
  EXPECT_EQ(CountKind(plan, JobKind::kTrain), 9);
  ExpectWellFormed(plan);
}

TEST(ExpandSweepTest, BaselineFromAnotherSweepIsNotPlanned) {
  spec::SweepSpec spec = PickDualBottles();
  spec.sources[0].n_nt = {1000};
  spec.baseline_from_sweep = 7;
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_THAT(plan.runs, SizeIs(9));
  EXPECT_EQ(CountKind(plan, JobKind::kTrain), 0);
  EXPECT_EQ(CountKind(plan, JobKind::kPretrain), 3);
  EXPECT_EQ(CountKind(plan, JobKind::kFinetune), 9);
}

TEST(ExpandSweepTest, SeedsMayBeAnyNonNegativeInt64) {
  spec::SweepSpec spec = PickDualBottles();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  spec.seeds = {kMax};
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_EQ(plan.runs[0].key, "t50/baseline/s9223372036854775807");
  EXPECT_EQ(plan.jobs[0].key, "train/t50/s9223372036854775807");
  EXPECT_EQ(plan.jobs[0].subset.seed, kMax);
}

TEST(ExpandSweepTest, ListedTwiceValuesExpandOnce) {
  spec::SweepSpec spec = PickDualBottles();  // the validator refuses these
  spec.teleop.n_tele = {50, 50};
  spec.seeds = {0, 0};
  spec.sources[0].n_nt = {0, 1000, 1000};
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_THAT(plan.runs, SizeIs(2));
  EXPECT_THAT(plan.jobs, SizeIs(3));
}

TEST(ExpandSweepTest, TrainAndFinetuneOfOneNTeleAndSeedUseSameDemos) {
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  EXPECT_EQ(plan.FindJob("train/t100/s2")->subset.episodes,
            plan.FindJob("finetune/t100/sim/n1000/s2")->subset.episodes);
}

TEST(ExpandSweepTest, TeleopSubsetsOfOneSeedAreNested) {
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  const auto& small = plan.FindJob("train/t50/s1")->subset.episodes;
  const auto& large = plan.FindJob("train/t200/s1")->subset.episodes;
  EXPECT_TRUE(
      std::includes(large.begin(), large.end(), small.begin(), small.end()));
  EXPECT_NE(plan.FindJob("train/t50/s0")->subset.episodes, small);
}

TEST(ExpandSweepTest, IsDeterministic) {
  const SweepPlan a = ExpandSweep(PickDualBottles());
  const SweepPlan b = ExpandSweep(PickDualBottles());
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  for (size_t i = 0; i < a.jobs.size(); ++i) {
    EXPECT_EQ(a.jobs[i].key, b.jobs[i].key);
    EXPECT_EQ(a.jobs[i].subset.episodes, b.jobs[i].subset.episodes);
  }
  EXPECT_EQ(RunKeys(a), RunKeys(b));
}

TEST(ExpandSweepTest, EmptyListsGiveAnEmptyPlan) {
  spec::SweepSpec spec = PickDualBottles();
  spec.seeds.clear();
  EXPECT_TRUE(ExpandSweep(spec).runs.empty());
  EXPECT_TRUE(ExpandSweep(spec).jobs.empty());
}

TEST(SweepPlanTest, FindJobReturnsNullForUnknownKey) {
  const SweepPlan plan = ExpandSweep(PickDualBottles());
  EXPECT_EQ(plan.FindJob("train/t999/s0"), nullptr);
  EXPECT_EQ(SweepPlan{}.FindJob(""), nullptr);
}

TEST(SweepPlanTest, JobKindNames) {
  EXPECT_STREQ(JobKindName(JobKind::kTrain), "train");
  EXPECT_STREQ(JobKindName(JobKind::kPretrain), "pretrain");
  EXPECT_STREQ(JobKindName(JobKind::kFinetune), "finetune");
}

// ---------------------------------------------------------------------------
// PlanExtension

// The extension plus the stored plan must be the updated spec's plan, with
// reused pretrains keeping their stored keys.
void ExpectExtensionCompletes(const spec::SweepSpec& stored,
                              const spec::SweepSpec& updated,
                              const SweepPlan& added) {
  const SweepPlan before = ExpandSweep(stored);
  const SweepPlan after = ExpandSweep(updated);
  std::set<std::string> runs;
  for (const PlannedRun& run : before.runs) runs.insert(run.key);
  for (const PlannedRun& run : added.runs) {
    EXPECT_TRUE(runs.insert(run.key).second) << run.key << " not new";
  }
  EXPECT_EQ(runs.size(), after.runs.size());
  SweepPlan combined = before;
  combined.jobs.insert(combined.jobs.end(), added.jobs.begin(),
                       added.jobs.end());
  combined.runs.insert(combined.runs.end(), added.runs.begin(),
                       added.runs.end());
  ExpectWellFormed(combined);
}

TEST(PlanExtensionTest, AddingASeedAddsSixRunsAndSevenJobs) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.seeds.push_back(3);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(RunKeys(*added),
              ElementsAre("t50/baseline/s3", "t50/sim/n1000/s3",
                          "t100/baseline/s3", "t100/sim/n1000/s3",
                          "t200/baseline/s3", "t200/sim/n1000/s3"));
  EXPECT_THAT(added->jobs, SizeIs(7));
  EXPECT_EQ(CountKind(*added, JobKind::kTrain), 3);
  EXPECT_EQ(CountKind(*added, JobKind::kPretrain), 1);
  EXPECT_EQ(CountKind(*added, JobKind::kFinetune), 3);
  ExpectExtensionCompletes(stored, updated, *added);
}

TEST(PlanExtensionTest, AddingNTeleReusesStoredPretrains) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.teleop.n_tele.push_back(400);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(6));
  EXPECT_THAT(added->jobs, SizeIs(6));
  EXPECT_EQ(CountKind(*added, JobKind::kTrain), 3);
  EXPECT_EQ(CountKind(*added, JobKind::kPretrain), 0);
  EXPECT_EQ(CountKind(*added, JobKind::kFinetune), 3);
  const SweepPlan before = ExpandSweep(stored);
  for (const PlannedJob& job : added->jobs) {
    if (job.kind != JobKind::kFinetune) continue;
    ASSERT_NE(before.FindJob(job.depends_on), nullptr) << job.depends_on;
    EXPECT_EQ(before.FindJob(job.depends_on)->seed, job.seed);
  }
  ExpectExtensionCompletes(stored, updated, *added);
}

TEST(PlanExtensionTest, AddingNntAddsItsPretrainsAndFinetunes) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.sources[0].n_nt.push_back(2000);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(9));
  EXPECT_EQ(CountKind(*added, JobKind::kTrain), 0);
  EXPECT_EQ(CountKind(*added, JobKind::kPretrain), 3);
  EXPECT_EQ(CountKind(*added, JobKind::kFinetune), 9);
  ExpectWellFormed(*added);
  ExpectExtensionCompletes(stored, updated, *added);
}

TEST(PlanExtensionTest, NewSourceSharingAStoredPretrainReusesIt) {
  // The new source comes first in the list, so the updated spec alone would
  // name the shared pretrains after it; the stored keys must win.
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  spec::Source twin = Source("sim_mirror", {1000});
  twin.dataset = stored.sources[0].dataset;
  updated.sources.insert(updated.sources.begin(), twin);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(9));
  EXPECT_THAT(added->jobs, SizeIs(9));
  EXPECT_EQ(CountKind(*added, JobKind::kPretrain), 0);
  const SweepPlan before = ExpandSweep(stored);
  for (const PlannedRun& run : added->runs) {
    EXPECT_NE(before.FindJob(run.pretrain_job), nullptr) << run.pretrain_job;
    EXPECT_THAT(run.pretrain_job, MatchesRegex("pretrain/sim/.*"));
  }
  ExpectExtensionCompletes(stored, updated, *added);
}

TEST(PlanExtensionTest, NewSourceWithItsOwnDataAddsPretrains) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.sources.push_back(
      Source("human", {500}, spec::SourceKind::kHumanVideo));
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(9));
  EXPECT_EQ(CountKind(*added, JobKind::kPretrain), 3);
  EXPECT_EQ(CountKind(*added, JobKind::kFinetune), 9);
}

TEST(PlanExtensionTest, AddingTheBaselineToABorrowedBaselineSweep) {
  spec::SweepSpec stored = PickDualBottles();
  stored.sources[0].n_nt = {1000};
  stored.baseline_from_sweep = 7;
  spec::SweepSpec updated = stored;
  updated.sources[0].n_nt.push_back(0);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(9));
  EXPECT_EQ(CountKind(*added, JobKind::kTrain), 9);
}

TEST(PlanExtensionTest, NothingNewIsRefused) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.sources.push_back(Source("human", {0}));  // only the baseline again
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  EXPECT_EQ(added.status(),
            absl::InvalidArgumentError("extension adds no runs"));
  EXPECT_EQ(PlanExtension(stored, stored).status(),
            absl::InvalidArgumentError("extension adds no runs"));
}

TEST(PlanExtensionTest, ChangedStepsAreRefusedNamingTheField) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.protocol.total_steps = 90000;
  EXPECT_EQ(PlanExtension(stored, updated).status(),
            absl::InvalidArgumentError(
                "protocol.total_steps: changed from 100000 to 90000; extend "
                "only adds N values, sources and seeds"));
}

TEST(PlanExtensionTest, RemovedValuesAreRefusedNamingTheField) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.teleop.n_tele = {50, 200, 400};
  EXPECT_EQ(PlanExtension(stored, updated).status(),
            absl::InvalidArgumentError(
                "teleop.n_tele: 100 was removed; extend only adds N values, "
                "sources and seeds"));
}

TEST(PlanExtensionTest, EveryProblemIsOneLine) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.seeds = {0};
  updated.sources[0].n_nt = {0};
  updated.costs.gpu_hour_price = 2.5;
  EXPECT_EQ(PlanExtension(stored, updated).status().message(),
            "sources[sim].n_nt: 1000 was removed; extend only adds N values, "
            "sources and seeds\n"
            "seeds: 1 was removed; extend only adds N values, sources and "
            "seeds\n"
            "seeds: 2 was removed; extend only adds N values, sources and "
            "seeds\n"
            "costs.gpu_hour_price: changed from unset to 2.5; extend only "
            "adds N values, sources and seeds");
}

struct ForbiddenChange {
  std::string field;  // the field the message must name
  std::function<void(spec::SweepSpec&)> apply;

  friend void PrintTo(const ForbiddenChange& change, std::ostream* os) {
    *os << change.field;
  }
};

class ForbiddenChangeTest : public ::testing::TestWithParam<ForbiddenChange> {};

TEST_P(ForbiddenChangeTest, IsRefusedNamingTheField) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.seeds.push_back(3);  // a legal addition alongside
  GetParam().apply(updated);
  const absl::Status status = PlanExtension(stored, updated).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  EXPECT_THAT(message, StartsWith(GetParam().field + ": "));
  EXPECT_THAT(message,
              HasSubstr("extend only adds N values, sources and seeds"));
}

using Spec = spec::SweepSpec;
INSTANTIATE_TEST_SUITE_P(
    EverythingButNValuesSourcesAndSeeds, ForbiddenChangeTest,
    ::testing::Values(
        ForbiddenChange{"version", [](Spec& s) { s.version = 2; }},
        ForbiddenChange{"name", [](Spec& s) { s.name = "other"; }},
        ForbiddenChange{"task.name", [](Spec& s) { s.task.name = "x"; }},
        ForbiddenChange{"task.rubric",
                        [](Spec& s) { s.task.rubric.entries[0].value = 0.4; }},
        ForbiddenChange{"policy", [](Spec& s) { s.policy = "pi0"; }},
        ForbiddenChange{"code_version", [](Spec& s) { s.code_version = "b"; }},
        ForbiddenChange{"teleop.dataset.uri",
                        [](Spec& s) { s.teleop.dataset.uri = "s3://other"; }},
        ForbiddenChange{"teleop.dataset.content_hash",
                        [](Spec& s) { s.teleop.dataset.content_hash = "h"; }},
        ForbiddenChange{"teleop.dataset.episodes",
                        [](Spec& s) { s.teleop.dataset.episodes = 600; }},
        ForbiddenChange{"teleop.cost_per_demo_hours",
                        [](Spec& s) { s.teleop.cost_per_demo_hours = 0.1; }},
        ForbiddenChange{"sources[sim]",
                        [](Spec& s) { s.sources[0].name = "sim2"; }},
        ForbiddenChange{
            "sources[sim].kind",
            [](Spec& s) { s.sources[0].kind = spec::SourceKind::kHumanVideo; }},
        ForbiddenChange{"sources[sim].dataset.uri",
                        [](Spec& s) { s.sources[0].dataset.uri = "s3://x"; }},
        ForbiddenChange{"sources[sim].cost_per_demo_hours",
                        [](Spec& s) { s.sources[0].cost_per_demo_hours = 1; }},
        ForbiddenChange{
            "sources[sim].templates.pretrain",
            [](Spec& s) { s.sources[0].templates.pretrain = Command("p"); }},
        ForbiddenChange{"protocol.pretrain_steps",
                        [](Spec& s) { s.protocol.pretrain_steps = 1; }},
        ForbiddenChange{"protocol.finetune_steps",
                        [](Spec& s) { s.protocol.finetune_steps = 1; }},
        ForbiddenChange{"evaluation.trials_per_scenario",
                        [](Spec& s) { s.evaluation.trials_per_scenario = 5; }},
        ForbiddenChange{"evaluation.scenarios",
                        [](Spec& s) { s.evaluation.scenarios.pop_back(); }},
        ForbiddenChange{"templates.train",
                        [](Spec& s) { s.templates.train->shell = "run.sh"; }},
        ForbiddenChange{"templates.pretrain",
                        [](Spec& s) { s.templates.pretrain->env["X"] = "1"; }},
        ForbiddenChange{"templates.finetune",
                        [](Spec& s) { s.templates.finetune.reset(); }},
        ForbiddenChange{"resources.gpus",
                        [](Spec& s) { s.resources.gpus = 8; }},
        ForbiddenChange{"resources.min_gpu_memory_gib",
                        [](Spec& s) { s.resources.min_gpu_memory_gib = 40; }},
        ForbiddenChange{"resources.labels",
                        [](Spec& s) { s.resources.labels["site"] = "a"; }},
        ForbiddenChange{"costs.collection_hour_price",
                        [](Spec& s) { s.costs.collection_hour_price = 30; }},
        ForbiddenChange{"costs.currency",
                        [](Spec& s) { s.costs.currency = "EUR"; }},
        ForbiddenChange{"priority", [](Spec& s) { s.priority = 5; }},
        ForbiddenChange{"max_attempts", [](Spec& s) { s.max_attempts = 1; }},
        ForbiddenChange{"baseline_from_sweep",
                        [](Spec& s) { s.baseline_from_sweep = 3; }}));

// ---------------------------------------------------------------------------
// ComputeSharingSavings

TEST(SharingSavingsTest, PickDualBottlesExample) {
  // 9 train x 100k + 3 pretrain x 60k + 9 finetune x 40k = 1.44M GPU-steps;
  // without sharing each of the 9 finetunes has its own 60k pretrain: 1.8M.
  const spec::SweepSpec spec = PickDualBottles();
  const SharingSavings savings = ComputeSharingSavings(spec, ExpandSweep(spec));
  EXPECT_EQ(savings.gpu_steps_shared, 1'440'000);
  EXPECT_EQ(savings.gpu_steps_unshared, 1'800'000);  // saves 360k, 20%
}

TEST(SharingSavingsTest, ScalesWithGpusPerJobAndCountsAtLeastOne) {
  spec::SweepSpec spec = PickDualBottles();
  spec.resources.gpus = 4;
  SharingSavings savings = ComputeSharingSavings(spec, ExpandSweep(spec));
  EXPECT_EQ(savings.gpu_steps_shared, 4 * 1'440'000);
  EXPECT_EQ(savings.gpu_steps_unshared, 4 * 1'800'000);
  spec.resources.gpus = 0;
  savings = ComputeSharingSavings(spec, ExpandSweep(spec));
  EXPECT_EQ(savings.gpu_steps_shared, 1'440'000);
}

TEST(SharingSavingsTest, ExtensionCountsReusedPretrainsAsSaved) {
  const spec::SweepSpec stored = PickDualBottles();
  spec::SweepSpec updated = stored;
  updated.teleop.n_tele.push_back(400);
  const SharingSavings savings =
      ComputeSharingSavings(updated, *PlanExtension(stored, updated));
  EXPECT_EQ(savings.gpu_steps_shared, 3 * 100'000 + 3 * 40'000);
  EXPECT_EQ(savings.gpu_steps_unshared, 3 * 100'000 + 3 * 100'000);
}

// Seed 000's full matrix (section 4.1, Tables 1-2): each task's N_tele, one
// simulation source at N_nt 1000 and one human-video source at N_nt 500,
// plus the shared baseline; 3 seeds (seed 001's protocol). Steps from seed
// 000's Table 6.
spec::SweepSpec Seed000Task(const std::string& task,
                            std::vector<int64_t> n_tele,
                            const spec::Protocol& protocol) {
  spec::SweepSpec spec = PickDualBottles();
  spec.name = task;
  spec.task.name = task;
  spec.teleop.n_tele = std::move(n_tele);
  spec.sources = {Source("sim", {0, 1000}),
                  Source("human", {500}, spec::SourceKind::kHumanVideo)};
  spec.protocol = protocol;
  return spec;
}

struct Seed000Row {
  std::string task;
  std::vector<int64_t> n_tele;
  size_t runs, jobs;
  int64_t shared, unshared;
};

void ExpectSeed000(const spec::Protocol& protocol,
                   const std::vector<Seed000Row>& rows) {
  for (const Seed000Row& row : rows) {
    const spec::SweepSpec spec = Seed000Task(row.task, row.n_tele, protocol);
    const SweepPlan plan = ExpandSweep(spec);
    EXPECT_THAT(plan.runs, SizeIs(row.runs)) << row.task;
    EXPECT_THAT(plan.jobs, SizeIs(row.jobs)) << row.task;
    const SharingSavings savings = ComputeSharingSavings(spec, plan);
    EXPECT_EQ(savings.gpu_steps_shared, row.shared) << row.task;
    EXPECT_EQ(savings.gpu_steps_unshared, row.unshared) << row.task;
  }
}

TEST(SharingSavingsTest, Seed000MatrixDiffusionPolicySteps) {
  // T_total 13k = T_pre 10k + T_ft 3k.
  // Pick Dual Bottles: 9 x 13k + 6 x 10k + 18 x 3k = 231k; unshared
  // 9 x 13k + 18 x 13k = 351k (saves 120k, 34.2%).
  ExpectSeed000(
      {13000, 10000, 3000},
      {{"pick_dual_bottles", {50, 100, 200}, 27, 33, 231'000, 351'000},
       {"hand_over_block", {50, 100, 200, 300}, 36, 42, 288'000, 468'000},
       {"rank_rgb_blocks", {100, 300, 500}, 27, 33, 231'000, 351'000}});
}

TEST(SharingSavingsTest, Seed000MatrixPi0Steps) {
  // T_total 40k = T_pre 30k + T_ft 10k.
  ExpectSeed000(
      {40000, 30000, 10000},
      {{"pick_dual_bottles", {50, 100, 200}, 27, 33, 720'000, 1'080'000},
       {"hand_over_block", {50, 100, 200, 300}, 36, 42, 900'000, 1'440'000},
       {"rank_rgb_blocks", {100, 300, 500}, 27, 33, 720'000, 1'080'000}});
}

}  // namespace
}  // namespace mixsweep::plan
