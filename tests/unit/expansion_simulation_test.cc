// Expansion of seed 001's additions (docs/expansion.md): generate jobs for
// generated sources, scaling sweeps (one train job per (N, seed), no
// teleop), intermediate checkpoint steps for simulation scenarios, and the
// extension of sweeps with a generated source.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/expansion/expansion.h"
#include "scheduler/expansion/subset.h"
#include "tests/unit/plan_keys.h"

namespace mixsweep::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

spec::CommandTemplate Train(const std::string& stage) {
  spec::CommandTemplate command;
  command.argv = {"python", "train.py", "--stage=" + stage, "--data={dataset}",
                  "--subset={subset_manifest}", "--steps={steps}", "--seed={seed}",
                  "--out={output_dir}"};
  if (stage == "finetune") command.argv.push_back("--init={init_checkpoint}");
  command.checkpoint = "{output_dir}/checkpoints/last.ckpt";
  command.checkpoint_at_step = "{output_dir}/checkpoints/{step}.ckpt";
  return command;
}

spec::Generation MimicGen(int64_t demos) {
  spec::Generation generation;
  generation.command.argv = {"python", "generate_dataset.py", "--source={dataset}",
                             "--num_demos={n_demos}", "--folder={output_dir}"};
  generation.command.checkpoint = "{output_dir}/demo.hdf5";
  generation.command.result_file = "{output_dir}/important_stats.json";
  generation.command.result_format = "mimicgen";
  generation.from = {.uri = "file:///data/dexmimicgen/source/piece_assembly.hdf5",
                     .content_hash = "sha256:source",
                     .episodes = 10};
  generation.demos = demos;
  return generation;
}

// A source whose demos a generate job makes, as the parser builds it.
spec::Source Generated(const std::string& name, std::vector<int64_t> n_nt,
                       int64_t demos = 5000) {
  spec::Source source;
  source.name = name;
  source.kind = spec::SourceKind::kSimulation;
  source.generate = MimicGen(demos);
  source.dataset = {.uri = "", .content_hash = "", .episodes = demos};
  source.n_nt = std::move(n_nt);
  return source;
}

spec::Scenario Simulation(const std::string& name) {
  spec::Scenario scenario{.name = name, .trials = 50};
  scenario.evaluator = spec::Evaluator::kSimulation;
  spec::SimulationEvaluation simulation;
  simulation.command.argv = {"python", "eval.py", "--ckpt={checkpoint}",
                             "--n={n_episodes}", "--seed={seed}", "--out={output_dir}"};
  simulation.command.result_format = "lerobot";
  simulation.command.result_file = "{output_dir}/eval_info.json";
  simulation.seed = 1000;
  scenario.simulation = simulation;
  return scenario;
}

// Seed 001, Fig. 5: 100, 500, 1000 and 5000 generated demos, 3 seeds, the
// best checkpoint of each seed.
spec::SweepSpec Fig5() {
  spec::SweepSpec spec;
  spec.name = "piece-assembly-scaling";
  spec.design = spec::Design::kScaling;
  spec.task.name = "piece_assembly";
  spec.task.rubric = {.kind = spec::RubricKind::kMilestones, .entries = {{"success", 1.0}}};
  spec.policy = "diffusion_policy";
  spec.sources = {Generated("dexmimicgen", {100, 500, 1000, 5000})};
  spec.seeds = {0, 1, 2};
  spec.protocol = {.total_steps = 400000};
  spec.evaluation.scenarios = {Simulation("in_domain")};
  spec.evaluation.aggregation = spec::Aggregation::kMaxOverCheckpoints;
  spec.evaluation.checkpoints = {.every_steps = 50000, .last = 4};
  spec.templates.train = Train("train");
  return spec;
}

// A mixture sweep whose simulation source is generated: N_tele {50, 100},
// N_nt {0, 1000}, seeds {0, 1}; one robot and one simulation scenario.
spec::SweepSpec MixtureWithGeneratedSource() {
  spec::SweepSpec spec;
  spec.task.name = "can_sorting";
  spec.task.rubric = {.kind = spec::RubricKind::kMilestones, .entries = {{"sorted", 1.0}}};
  spec.policy = "diffusion_policy";
  spec.teleop = {.dataset = {.uri = "file:///data/teleop", .episodes = 200},
                 .n_tele = {50, 100}};
  spec.sources = {Generated("mimicgen", {0, 1000}, 1000)};
  spec.seeds = {0, 1};
  spec.protocol = {.total_steps = 13000, .pretrain_steps = 10000, .finetune_steps = 3000};
  spec.evaluation.scenarios = {{.name = "in_domain", .trials = 10}, Simulation("sim")};
  spec.evaluation.checkpoints = {.every_steps = 1000};
  spec.templates = {.train = Train("train"),
                    .pretrain = Train("pretrain"),
                    .finetune = Train("finetune")};
  return spec;
}

using testing::JobKeys;
using testing::RunKeys;

// Every dependency is listed before the job that needs it; keys are unique.
void ExpectDependenciesFirst(const SweepPlan& plan) {
  std::set<std::string> seen;
  for (const PlannedJob& job : plan.jobs) {
    if (!job.depends_on.empty()) {
      EXPECT_TRUE(seen.contains(job.depends_on)) << job.key << " before " << job.depends_on;
    }
    EXPECT_TRUE(seen.insert(job.key).second) << "duplicate " << job.key;
  }
}

// ---------------------------------------------------------------------------
// Scaling sweeps with a generated source.

TEST(ScalingExpansionTest, Fig5Has12RunsOneGenerateAnd12TrainJobs) {
  const SweepPlan plan = ExpandSweep(Fig5());
  EXPECT_THAT(RunKeys(plan),
              ElementsAre("dexmimicgen/n100/s0", "dexmimicgen/n100/s1", "dexmimicgen/n100/s2",
                          "dexmimicgen/n500/s0", "dexmimicgen/n500/s1", "dexmimicgen/n500/s2",
                          "dexmimicgen/n1000/s0", "dexmimicgen/n1000/s1",
                          "dexmimicgen/n1000/s2", "dexmimicgen/n5000/s0",
                          "dexmimicgen/n5000/s1", "dexmimicgen/n5000/s2"));
  ASSERT_THAT(plan.jobs, SizeIs(13));
  EXPECT_EQ(plan.jobs[0].kind, JobKind::kGenerate);  // generate jobs come first
  EXPECT_THAT(JobKeys(plan, JobKind::kPretrain), IsEmpty());
  EXPECT_THAT(JobKeys(plan, JobKind::kFinetune), IsEmpty());
  EXPECT_THAT(JobKeys(plan, JobKind::kTrain), SizeIs(12));
  ExpectDependenciesFirst(plan);
}

TEST(ScalingExpansionTest, GenerateJobMakesTheSourcesDemos) {
  const spec::SweepSpec spec = Fig5();
  const SweepPlan plan = ExpandSweep(spec);
  const PlannedJob& generate = plan.jobs[0];
  EXPECT_THAT(generate.key, MatchesRegex("generate/dexmimicgen/[0-9a-f]{8}"));
  EXPECT_EQ(generate.kind, JobKind::kGenerate);
  EXPECT_EQ(generate.source, "dexmimicgen");
  EXPECT_EQ(generate.dataset.uri, spec.sources[0].generate->from.uri);
  EXPECT_EQ(generate.dataset.content_hash, "sha256:source");
  EXPECT_EQ(generate.dataset.episodes, 10);
  EXPECT_EQ(generate.n_demos, 5000);
  EXPECT_EQ(generate.seed, 0);
  EXPECT_EQ(generate.steps, 0);
  EXPECT_EQ(generate.command.argv, spec.sources[0].generate->command.argv);
  EXPECT_EQ(generate.command.result_format, "mimicgen");
  EXPECT_EQ(generate.depends_on, "");
  EXPECT_THAT(generate.subset.episodes, IsEmpty());
  EXPECT_EQ(generate.subset.n, 0);
  EXPECT_THAT(generate.checkpoint_steps, IsEmpty());
}

TEST(ScalingExpansionTest, GenerateKeyIsPinned) {
  // FNV-1a over canonical bytes: must never change, or stored sweeps would
  // stop matching their plans. 64693613 was computed by the Python
  // reference in docs/expansion.md.
  EXPECT_EQ(ExpandSweep(Fig5()).jobs[0].key, "generate/dexmimicgen/64693613");
}

TEST(ScalingExpansionTest, EachRunIsOneTrainJobOnNSourceDemos) {
  const spec::SweepSpec spec = Fig5();
  const SweepPlan plan = ExpandSweep(spec);
  const std::string generate = plan.jobs[0].key;
  const PlannedRun& run = plan.runs[4];  // N 500, seed 1
  EXPECT_EQ(run.key, "dexmimicgen/n500/s1");
  EXPECT_EQ(run.run.n_tele, 0);
  EXPECT_EQ(run.run.source, "dexmimicgen");
  EXPECT_EQ(run.run.n_nt, 500);
  EXPECT_EQ(run.run.seed, 1);
  EXPECT_EQ(run.train_job, "train/dexmimicgen/n500/s1");
  EXPECT_EQ(run.pretrain_job, "");
  EXPECT_EQ(run.finetune_job, "");
  const PlannedJob* train = plan.FindJob(run.train_job);
  ASSERT_NE(train, nullptr);
  EXPECT_EQ(train->kind, JobKind::kTrain);
  EXPECT_EQ(train->source, "dexmimicgen");
  EXPECT_EQ(train->dataset.uri, "");  // the generate job's output, once it ran
  EXPECT_EQ(train->dataset.episodes, 5000);
  EXPECT_EQ(train->n_demos, 500);
  EXPECT_EQ(train->seed, 1);
  EXPECT_EQ(train->steps, 400000);
  EXPECT_EQ(train->command.argv, spec.templates.train->argv);
  EXPECT_EQ(train->depends_on, generate);
  EXPECT_EQ(train->subset.n, 500);
  ASSERT_THAT(train->subset.episodes, SizeIs(500));
  EXPECT_TRUE(std::is_sorted(train->subset.episodes.begin(), train->subset.episodes.end()));
  EXPECT_LT(train->subset.episodes.back(), 5000);
  EXPECT_EQ(train->subset.episodes, ChooseSubset(spec.sources[0].dataset, 500, 1).episodes);
  // every 50k of 400k, the last 4 of 50k ... 350k.
  EXPECT_THAT(train->checkpoint_steps, ElementsAre(200000, 250000, 300000, 350000));
  for (const PlannedJob& job : plan.jobs) {
    if (job.kind == JobKind::kTrain) {
      EXPECT_EQ(job.depends_on, generate) << job.key;
    }
  }
}

TEST(ScalingExpansionTest, SubsetsOfOneSeedAreNested) {
  const SweepPlan plan = ExpandSweep(Fig5());
  const std::vector<int64_t>& small = plan.FindJob("train/dexmimicgen/n100/s0")->subset.episodes;
  const std::vector<int64_t>& large = plan.FindJob("train/dexmimicgen/n1000/s0")->subset.episodes;
  EXPECT_TRUE(std::includes(large.begin(), large.end(), small.begin(), small.end()));
}

TEST(ScalingExpansionTest, SourceTrainTemplateReplacesTheSweeps) {
  spec::SweepSpec spec = Fig5();
  spec.sources[0].templates.train = Train("own");
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_EQ(plan.FindJob("train/dexmimicgen/n100/s0")->command.argv,
            spec.sources[0].templates.train->argv);
}

TEST(ScalingExpansionTest, CollectedSourceHasNoGenerateJob) {
  spec::SweepSpec spec = Fig5();
  spec.sources[0].generate.reset();
  spec.sources[0].dataset = {.uri = "file:///data/sim", .episodes = 5000};
  const SweepPlan plan = ExpandSweep(spec);
  EXPECT_THAT(plan.jobs, SizeIs(12));
  for (const PlannedJob& job : plan.jobs) {
    EXPECT_EQ(job.kind, JobKind::kTrain);
    EXPECT_EQ(job.depends_on, "");
    EXPECT_EQ(job.dataset.uri, "file:///data/sim");
  }
}

TEST(ScalingExpansionTest, NoSharedPretrainsToSave) {
  const spec::SweepSpec spec = Fig5();
  const SharingSavings savings = ComputeSharingSavings(spec, ExpandSweep(spec));
  EXPECT_EQ(savings.gpu_steps_shared, 12 * 400000);
  EXPECT_EQ(savings.gpu_steps_unshared, 12 * 400000);
}

// ---------------------------------------------------------------------------
// Generate job identity.

TEST(GenerateJobTest, KeyChangesWithCommandFromAndDemos) {
  const std::string base = ExpandSweep(Fig5()).jobs[0].key;
  const std::vector<std::function<void(spec::SweepSpec&)>> changes = {
      [](spec::SweepSpec& s) { s.sources[0].generate->command.argv.push_back("--x"); },
      [](spec::SweepSpec& s) { s.sources[0].generate->command.env["A"] = "1"; },
      [](spec::SweepSpec& s) { s.sources[0].generate->command.checkpoint = "{output_dir}"; },
      [](spec::SweepSpec& s) {
        s.sources[0].generate->command.result_file = "{output_dir}/stats.json";
      },
      [](spec::SweepSpec& s) { s.sources[0].generate->from.uri += "-v2"; },
      [](spec::SweepSpec& s) { s.sources[0].generate->from.content_hash = "x"; },
      [](spec::SweepSpec& s) { s.sources[0].generate->from.episodes = 5; },
      [](spec::SweepSpec& s) {
        s.sources[0].generate->demos = 6000;
        s.sources[0].dataset.episodes = 6000;
      },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    spec::SweepSpec spec = Fig5();
    changes[i](spec);
    const SweepPlan plan = ExpandSweep(spec);
    EXPECT_NE(plan.jobs[0].key, base) << "change " << i;
    EXPECT_EQ(plan.jobs[1].depends_on, plan.jobs[0].key) << "change " << i;
  }
}

TEST(GenerateJobTest, CommandFieldsOfSeed001ChangePretrainKeys) {
  spec::SweepSpec spec = MixtureWithGeneratedSource();
  spec.sources[0].generate.reset();
  spec.sources[0].dataset = {.uri = "file:///data/sim", .episodes = 1000};
  spec.templates.pretrain->checkpoint_at_step.clear();
  const std::string base = JobKeys(ExpandSweep(spec), JobKind::kPretrain)[0];
  spec.templates.pretrain->checkpoint_at_step = "{output_dir}/{step}.ckpt";
  EXPECT_NE(JobKeys(ExpandSweep(spec), JobKind::kPretrain)[0], base);
}

// ---------------------------------------------------------------------------
// A mixture sweep with a generated source.

TEST(GeneratedSourceTest, PretrainsDependOnTheGenerateJob) {
  const SweepPlan plan = ExpandSweep(MixtureWithGeneratedSource());
  // 2 N_tele x (baseline + 1000) x 2 seeds = 8 runs; 1 generate, 4 train,
  // 2 pretrain, 4 finetune jobs.
  EXPECT_THAT(plan.runs, SizeIs(8));
  ASSERT_THAT(plan.jobs, SizeIs(11));
  const PlannedJob& generate = plan.jobs[0];
  EXPECT_EQ(generate.kind, JobKind::kGenerate);
  EXPECT_THAT(generate.key, MatchesRegex("generate/mimicgen/[0-9a-f]{8}"));
  EXPECT_EQ(generate.n_demos, 1000);
  for (const PlannedJob& job : plan.jobs) {
    switch (job.kind) {
      case JobKind::kPretrain:
        EXPECT_EQ(job.depends_on, generate.key) << job.key;
        EXPECT_EQ(job.source, "mimicgen");
        EXPECT_EQ(job.dataset.uri, "");
        EXPECT_EQ(job.dataset.episodes, 1000);
        break;
      case JobKind::kFinetune:
        EXPECT_EQ(plan.FindJob(job.depends_on)->kind, JobKind::kPretrain) << job.key;
        break;
      case JobKind::kTrain:
        EXPECT_EQ(job.depends_on, "") << job.key;
        EXPECT_EQ(job.source, "teleop");
        break;
      default:
        break;
    }
  }
  ExpectDependenciesFirst(plan);
}

TEST(GeneratedSourceTest, OnlyBaselineNeedsNoGenerateJob) {
  spec::SweepSpec spec = MixtureWithGeneratedSource();
  spec.sources[0].n_nt = {0};
  EXPECT_THAT(JobKeys(ExpandSweep(spec), JobKind::kGenerate), IsEmpty());
}

TEST(GeneratedSourceTest, TwoGeneratedSourcesNeverSharePretrains) {
  spec::SweepSpec spec = MixtureWithGeneratedSource();
  spec.sources.push_back(Generated("mimicgen-b", {1000}, 1000));
  const SweepPlan plan = ExpandSweep(spec);
  const std::vector<std::string> generates = JobKeys(plan, JobKind::kGenerate);
  ASSERT_THAT(generates, SizeIs(2));
  EXPECT_EQ(plan.jobs[0].kind, JobKind::kGenerate);
  EXPECT_EQ(plan.jobs[1].kind, JobKind::kGenerate);
  // Same block, other source: each makes its own demos.
  EXPECT_NE(generates[0], generates[1]);
  EXPECT_THAT(JobKeys(plan, JobKind::kPretrain), SizeIs(4));
  for (const PlannedRun& run : plan.runs) {
    if (run.run.source != "mimicgen-b") continue;
    EXPECT_EQ(plan.FindJob(plan.FindJob(run.pretrain_job)->depends_on)->source, "mimicgen-b");
  }
}

// ---------------------------------------------------------------------------
// Checkpoint steps.

std::vector<int64_t> StepsOf(int64_t total, int64_t every, int last) {
  spec::SweepSpec spec = Fig5();
  spec.protocol.total_steps = total;
  spec.evaluation.checkpoints = {.every_steps = every, .last = last};
  return ExpandSweep(spec).jobs[1].checkpoint_steps;
}

TEST(CheckpointStepsTest, EveryStepsStrictlyBelowTheLastStep) {
  EXPECT_THAT(StepsOf(100, 25, 0), ElementsAre(25, 50, 75));  // 100 is the final checkpoint
  EXPECT_THAT(StepsOf(101, 25, 0), ElementsAre(25, 50, 75, 100));
  EXPECT_THAT(StepsOf(400000, 50000, 0),
              ElementsAre(50000, 100000, 150000, 200000, 250000, 300000, 350000));
}

TEST(CheckpointStepsTest, LastKeepsOnlyTheLatest) {
  EXPECT_THAT(StepsOf(100, 25, 2), ElementsAre(50, 75));
  EXPECT_THAT(StepsOf(100, 25, 1), ElementsAre(75));
  EXPECT_THAT(StepsOf(100, 25, 10), ElementsAre(25, 50, 75));
}

TEST(CheckpointStepsTest, NoneWhenUnsetOrNotBelowTheLastStep) {
  EXPECT_THAT(StepsOf(100, 0, 0), IsEmpty());
  EXPECT_THAT(StepsOf(100, 100, 0), IsEmpty());
  EXPECT_THAT(StepsOf(100, 1000, 3), IsEmpty());
}

TEST(CheckpointStepsTest, TrainAndFinetuneJobsGetThemPretrainsAndGenerateDoNot) {
  const SweepPlan plan = ExpandSweep(MixtureWithGeneratedSource());  // every 1000
  for (const PlannedJob& job : plan.jobs) {
    switch (job.kind) {
      case JobKind::kTrain:  // 13000 steps
        EXPECT_THAT(job.checkpoint_steps, SizeIs(12)) << job.key;
        EXPECT_EQ(job.checkpoint_steps.front(), 1000);
        EXPECT_EQ(job.checkpoint_steps.back(), 12000);
        break;
      case JobKind::kFinetune:  // 3000 steps
        EXPECT_THAT(job.checkpoint_steps, ElementsAre(1000, 2000)) << job.key;
        break;
      default:
        EXPECT_THAT(job.checkpoint_steps, IsEmpty()) << job.key;
    }
  }
}

TEST(CheckpointStepsTest, NoneWithoutCheckpointSelection) {
  spec::SweepSpec spec = MixtureWithGeneratedSource();
  spec.evaluation.checkpoints = {};
  for (const PlannedJob& job : ExpandSweep(spec).jobs) {
    EXPECT_THAT(job.checkpoint_steps, IsEmpty()) << job.key;
  }
}

// ---------------------------------------------------------------------------
// Extension.

TEST(SimulationExtensionTest, AddingASeedToAScalingSweepReusesTheGenerateJob) {
  const spec::SweepSpec stored = Fig5();
  spec::SweepSpec updated = stored;
  updated.seeds.push_back(3);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(RunKeys(*added), ElementsAre("dexmimicgen/n100/s3", "dexmimicgen/n500/s3",
                                           "dexmimicgen/n1000/s3", "dexmimicgen/n5000/s3"));
  EXPECT_THAT(JobKeys(*added, JobKind::kGenerate), IsEmpty());
  ASSERT_THAT(added->jobs, SizeIs(4));
  const std::string generate = ExpandSweep(stored).jobs[0].key;
  for (const PlannedJob& job : added->jobs) EXPECT_EQ(job.depends_on, generate);
}

TEST(SimulationExtensionTest, AddingNToAScalingSweep) {
  const spec::SweepSpec stored = Fig5();
  spec::SweepSpec updated = stored;
  updated.sources[0].n_nt.push_back(2000);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(RunKeys(*added), ElementsAre("dexmimicgen/n2000/s0", "dexmimicgen/n2000/s1",
                                           "dexmimicgen/n2000/s2"));
  EXPECT_THAT(added->jobs, SizeIs(3));
}

TEST(SimulationExtensionTest, AddingNTeleReusesGenerateAndPretrains) {
  const spec::SweepSpec stored = MixtureWithGeneratedSource();
  spec::SweepSpec updated = stored;
  updated.teleop.n_tele.push_back(200);
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->runs, SizeIs(4));
  EXPECT_THAT(JobKeys(*added, JobKind::kGenerate), IsEmpty());
  EXPECT_THAT(JobKeys(*added, JobKind::kPretrain), IsEmpty());
  const SweepPlan before = ExpandSweep(stored);
  for (const PlannedJob& job : added->jobs) {
    if (job.kind == JobKind::kFinetune) {
      EXPECT_NE(before.FindJob(job.depends_on), nullptr);
    }
  }
}

TEST(SimulationExtensionTest, FirstMixedPointOfAGeneratedSourceAddsItsGenerateJob) {
  spec::SweepSpec stored = MixtureWithGeneratedSource();
  stored.sources[0].n_nt = {0};
  spec::SweepSpec updated = stored;
  updated.sources[0].n_nt = {0, 1000};
  const absl::StatusOr<SweepPlan> added = PlanExtension(stored, updated);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_THAT(JobKeys(*added, JobKind::kGenerate), SizeIs(1));
  EXPECT_EQ(added->jobs[0].kind, JobKind::kGenerate);
  ExpectDependenciesFirst(*added);
}

TEST(SimulationExtensionTest, ChangesToSeed001FieldsAreRefusedNamingTheField) {
  struct Change {
    std::string field;
    std::function<void(spec::SweepSpec&)> apply;
  };
  const std::vector<Change> changes = {
      {"sources[dexmimicgen].generate: changed",
       [](spec::SweepSpec& s) { s.sources[0].generate->demos = 6000; }},
      {"sources[dexmimicgen].generate: changed",
       [](spec::SweepSpec& s) { s.sources[0].generate->command.argv.push_back("--x"); }},
      {"sources[dexmimicgen].generate: changed",
       [](spec::SweepSpec& s) { s.sources[0].generate->from.uri = "file:///other"; }},
      {"sources[dexmimicgen].generate: changed",
       [](spec::SweepSpec& s) {
         s.sources[0].generate.reset();
         s.sources[0].dataset.uri = "file:///data/sim";
       }},
      {"design: changed from \"scaling\" to \"mixture\"",
       [](spec::SweepSpec& s) { s.design = spec::Design::kMixture; }},
      {"evaluation.aggregation: changed from \"max_over_checkpoints\" to \"last\"",
       [](spec::SweepSpec& s) { s.evaluation.aggregation = spec::Aggregation::kLast; }},
      {"evaluation.checkpoints.every_steps: changed from 50000 to 40000",
       [](spec::SweepSpec& s) { s.evaluation.checkpoints.every_steps = 40000; }},
      {"evaluation.checkpoints.last: changed from 4 to 0",
       [](spec::SweepSpec& s) { s.evaluation.checkpoints.last = 0; }},
      {"evaluation.scenarios: changed",
       [](spec::SweepSpec& s) { s.evaluation.scenarios[0].simulation->seed = 7; }},
      {"evaluation.scenarios: changed",
       [](spec::SweepSpec& s) {
         s.evaluation.scenarios[0].simulation->command.result_format = "mixsweep";
       }},
      {"evaluation.scenarios: changed",
       [](spec::SweepSpec& s) {
         s.evaluation.scenarios[0].evaluator = spec::Evaluator::kRobot;
         s.evaluation.scenarios[0].simulation.reset();
       }},
      {"templates.train: changed",
       [](spec::SweepSpec& s) { s.templates.train->checkpoint_at_step = "{output_dir}/{step}"; }},
  };
  for (const Change& change : changes) {
    spec::SweepSpec updated = Fig5();
    updated.seeds.push_back(3);
    change.apply(updated);
    const absl::StatusOr<SweepPlan> added = PlanExtension(Fig5(), updated);
    ASSERT_FALSE(added.ok()) << change.field;
    EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(added.status().message()), HasSubstr(change.field));
  }
}

}  // namespace
}  // namespace mixsweep::plan
