// The sweep-spec keys of seed 001 (docs/sweep-spec.md): design: scaling,
// generated sources, simulation scenarios, aggregation and intermediate
// checkpoints, and the command template keys they bring.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "scheduler/spec/spec_parser.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// Fig. 5 of seed 001 in the smallest form: one generated source, N {100,
// 500, 1000, 5000}, 3 seeds.
constexpr char kScaling[] = R"yaml(version: 1
design: scaling
task:
  name: piece_assembly
  rubric:
    milestones:
      - {name: success, score: 1}
policy: diffusion_policy
sources:
  - name: dexmimicgen
    kind: simulation
    generate:
      command: {argv: [python, generate.py, "--source={dataset}", "--n={n_demos}", "--out={output_dir}"]}
      from: {uri: "file:///data/source.hdf5", episodes: 10}
      demos: 5000
    n_nt: [100, 500, 1000, 5000]
seeds: [0, 1, 2]
protocol: {total_steps: 400000}
evaluation:
  aggregation: max_over_checkpoints
  checkpoints: {every_steps: 50000}
  scenarios:
    - name: in_domain
      evaluator: simulation
      command: {argv: [python, eval.py, "--ckpt={checkpoint}", "--n={n_episodes}", "--seed={seed}"]}
templates:
  train:
    argv: [python, train.py, "data={dataset}", "subset={subset_manifest}", "steps={steps}"]
    checkpoint_at_step: "{output_dir}/ckpt/{step}.pt"
)yaml";

// A mixture sweep evaluated by an operator in one scenario and by a
// simulation in another.
constexpr char kMixed[] = R"yaml(version: 1
task:
  name: can_sorting
  rubric:
    milestones:
      - {name: sorted, score: 1}
policy: diffusion_policy
teleop:
  dataset: {uri: "file:///data/teleop", episodes: 200}
  n_tele: [50, 100]
sources:
  - name: sim
    kind: simulation
    dataset: {uri: "file:///data/sim", episodes: 1000}
    n_nt: [0, 1000]
seeds: [0, 1, 2]
protocol: {total_steps: 13000, pretrain_steps: 10000, finetune_steps: 3000}
evaluation:
  scenarios:
    - in_domain
    - name: sim_in_domain
      evaluator: simulation
      trials: 50
      seed: 1000
      command:
        argv: [python, eval.py, "--ckpt={checkpoint}", "--n={n_episodes}", "--seed={seed}",
               "--out={output_dir}", "--run={run_id}"]
        result_format: diffusion_policy
templates:
  train:
    argv: [python, train.py, "data={dataset}", "steps={steps}"]
    checkpoint_at_step: "{output_dir}/{step}.ckpt"
  pretrain: {argv: [python, train.py, "data={dataset}", "steps={steps}"]}
  finetune:
    argv: [python, train.py, "data={dataset}", "init={init_checkpoint}"]
    checkpoint_at_step: "{output_dir}/{step}.ckpt"
)yaml";

// `text` with the first `from` replaced by `to` (which must be there).
std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t at = out.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the base spec";
  if (at == std::string::npos) return out;
  out.replace(at, from.size(), to);
  return out;
}

std::vector<std::string> Lines(std::string_view text) {
  return absl::StrSplit(absl::string_view(text.data(), text.size()), '\n', absl::SkipEmpty());
}

// Refused, INVALID_ARGUMENT, every line `line L: path: what`, and one line
// holds `expected`.
void ExpectRefused(const std::string& yaml, const std::string& expected) {
  auto parsed = ParseSweepSpec(yaml);
  ASSERT_FALSE(parsed.ok()) << "accepted; expected: " << expected << "\n" << yaml;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(parsed.status().message());
  EXPECT_THAT(message, HasSubstr(expected));
  for (const std::string& line : Lines(message)) {
    EXPECT_THAT(line, MatchesRegex("line [0-9]+: [^ ]+: .+")) << message;
  }
}

SweepSpec Accepted(const std::string& yaml) {
  auto parsed = ParseSweepSpec(yaml);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << yaml;
  return parsed.ok() ? parsed->spec : SweepSpec{};
}

std::string ReadExample(const std::string& name) {
  // The checkout, from this file's path; else from the working directory
  // (build/tests, as the tests are run, or the checkout itself).
  std::filesystem::path root =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  for (const char* other : {"../..", "."}) {
    if (std::filesystem::exists(root / "docs" / "examples" / name)) break;
    root = other;
  }
  std::ifstream in(root / "docs" / "examples" / name);
  EXPECT_TRUE(in.good()) << "cannot read docs/examples/" << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------------------
// Accepted specs and their values.

TEST(SpecScalingTest, Fig5ParsesToExpectedValues) {
  const SweepSpec s = Accepted(kScaling);
  EXPECT_EQ(s.design, Design::kScaling);
  EXPECT_STREQ(DesignName(s.design), "scaling");
  EXPECT_TRUE(s.teleop.n_tele.empty());
  ASSERT_EQ(s.sources.size(), 1u);
  const Source& source = s.sources[0];
  ASSERT_TRUE(source.generate.has_value());
  EXPECT_EQ(source.generate->demos, 5000);
  EXPECT_EQ(source.generate->from.uri, "file:///data/source.hdf5");
  EXPECT_EQ(source.generate->from.episodes, 10);
  EXPECT_THAT(source.generate->command.argv,
              ElementsAre("python", "generate.py", "--source={dataset}", "--n={n_demos}",
                          "--out={output_dir}"));
  // Defaults of a generate command.
  EXPECT_EQ(source.generate->command.checkpoint, "{output_dir}");
  EXPECT_EQ(source.generate->command.result_file, "{output_dir}/important_stats.json");
  EXPECT_EQ(source.generate->command.result_format, "mimicgen");
  // The dataset is what the generate job makes.
  EXPECT_EQ(source.dataset.uri, "");
  EXPECT_EQ(source.dataset.content_hash, "");
  EXPECT_EQ(source.dataset.episodes, 5000);
  EXPECT_THAT(source.n_nt, ElementsAre(100, 500, 1000, 5000));
  EXPECT_EQ(s.protocol.total_steps, 400000);
  EXPECT_EQ(s.protocol.pretrain_steps, 0);
  EXPECT_EQ(s.protocol.finetune_steps, 0);
  EXPECT_EQ(s.evaluation.aggregation, Aggregation::kMaxOverCheckpoints);
  EXPECT_STREQ(AggregationName(s.evaluation.aggregation), "max_over_checkpoints");
  EXPECT_EQ(s.evaluation.checkpoints.every_steps, 50000);
  EXPECT_EQ(s.evaluation.checkpoints.last, 0);
  ASSERT_EQ(s.evaluation.scenarios.size(), 1u);
  const Scenario& scenario = s.evaluation.scenarios[0];
  EXPECT_EQ(scenario.evaluator, Evaluator::kSimulation);
  ASSERT_TRUE(scenario.simulation.has_value());
  EXPECT_EQ(scenario.simulation->seed, 0);
  EXPECT_EQ(scenario.simulation->command.result_format, "mixsweep");
  EXPECT_EQ(scenario.simulation->command.result_file, "{output_dir}/mixsweep_eval.json");
  EXPECT_EQ(scenario.simulation->command.checkpoint, "");
  ASSERT_TRUE(s.templates.train.has_value());
  EXPECT_EQ(s.templates.train->checkpoint_at_step, "{output_dir}/ckpt/{step}.pt");
  EXPECT_EQ(CountRuns(s), 4 * 3);
  EXPECT_EQ(CountSubsetEpisodes(s), 3 * (100 + 500 + 1000 + 5000));
  EXPECT_FALSE(s.has_own_baseline());
}

TEST(SpecScalingTest, DocumentedExampleParses) {
  const std::string text = ReadExample("scaling-mimicgen.yaml");
  const SweepSpec s = Accepted(text);
  EXPECT_EQ(s.name, "piece-assembly-scaling");
  EXPECT_EQ(s.design, Design::kScaling);
  ASSERT_EQ(s.sources.size(), 1u);
  ASSERT_TRUE(s.sources[0].generate.has_value());
  EXPECT_EQ(s.sources[0].generate->demos, 5000);
  EXPECT_EQ(s.sources[0].generate->from.episodes, 10);
  EXPECT_EQ(s.sources[0].generate->command.checkpoint, "{output_dir}/demo.hdf5");
  EXPECT_EQ(s.sources[0].generate->command.result_format, "mimicgen");
  EXPECT_THAT(s.sources[0].n_nt, ElementsAre(100, 500, 1000, 5000));
  EXPECT_THAT(s.seeds, ElementsAre(0, 1, 2));
  EXPECT_EQ(s.evaluation.aggregation, Aggregation::kMaxOverCheckpoints);
  EXPECT_EQ(s.evaluation.checkpoints.every_steps, 50000);
  EXPECT_EQ(s.evaluation.checkpoints.last, 4);
  ASSERT_EQ(s.evaluation.scenarios.size(), 1u);
  const Scenario& scenario = s.evaluation.scenarios[0];
  EXPECT_EQ(scenario.trials, 50);
  EXPECT_EQ(scenario.evaluator, Evaluator::kSimulation);
  ASSERT_TRUE(scenario.simulation.has_value());
  EXPECT_EQ(scenario.simulation->seed, 1000);
  EXPECT_EQ(scenario.simulation->command.result_format, "lerobot");
  EXPECT_EQ(scenario.simulation->command.result_file, "{output_dir}/eval_info.json");
  ASSERT_TRUE(s.templates.train.has_value());
  EXPECT_EQ(s.templates.train->checkpoint_at_step, "{output_dir}/checkpoints/step_{step}.ckpt");
  EXPECT_EQ(CountRuns(s), 12);
}

TEST(SpecScalingTest, DesignDefaultsToMixture) {
  const SweepSpec s = Accepted(kMixed);
  EXPECT_EQ(s.design, Design::kMixture);
  EXPECT_STREQ(DesignName(Design::kMixture), "mixture");
  EXPECT_EQ(s.evaluation.aggregation, Aggregation::kLast);
  EXPECT_STREQ(AggregationName(Aggregation::kLast), "last");
  EXPECT_EQ(s.evaluation.checkpoints.every_steps, 0);
  EXPECT_EQ(Accepted(Replace(kMixed, "version: 1\n", "version: 1\ndesign: mixture\n")).design,
            Design::kMixture);
}

TEST(SpecScalingTest, OptionalKeysOfAScalingSweep) {
  // baseline_from_sweep: the teleop curve the points are converted against.
  EXPECT_EQ(Accepted(absl::StrCat(kScaling, "baseline_from_sweep: 7\n")).baseline_from_sweep, 7);
  // pretrain/finetune steps may be given (unused), by the usual rules.
  const SweepSpec s = Accepted(Replace(
      kScaling, "{total_steps: 400000}",
      "{total_steps: 400000, pretrain_steps: 300000, finetune_steps: 100000}"));
  EXPECT_EQ(s.protocol.pretrain_steps, 300000);
  // The source's own train template, and none of the sweep's.
  const std::string yaml(kScaling);
  const SweepSpec own = Accepted(Replace(
      yaml.substr(0, yaml.find("templates:\n  train:")), "    n_nt: [100, 500, 1000, 5000]\n",
      "    n_nt: [100, 500, 1000, 5000]\n    templates:\n      train:\n        argv: [own.py, "
      "\"{dataset}\"]\n        checkpoint_at_step: \"{output_dir}/{step}\"\n"));
  ASSERT_TRUE(own.sources[0].templates.train.has_value());
  EXPECT_EQ(own.sources[0].templates.train->argv[0], "own.py");
  EXPECT_FALSE(own.templates.train.has_value());
}

TEST(SpecScalingTest, CollectedSourceInAScalingSweep) {
  const SweepSpec s = Accepted(Replace(
      kScaling,
      "    generate:\n      command: {argv: [python, generate.py, \"--source={dataset}\", "
      "\"--n={n_demos}\", \"--out={output_dir}\"]}\n      from: {uri: \"file:///data/source.hdf5\", "
      "episodes: 10}\n      demos: 5000\n",
      "    dataset: {uri: \"file:///data/sim\", episodes: 6000}\n"));
  EXPECT_FALSE(s.sources[0].generate.has_value());
  EXPECT_EQ(s.sources[0].dataset.episodes, 6000);
}

TEST(SpecSimulationTest, MixedSweepWithARobotAndASimulationScenario) {
  const SweepSpec s = Accepted(kMixed);
  ASSERT_EQ(s.evaluation.scenarios.size(), 2u);
  const Scenario& robot = s.evaluation.scenarios[0];
  EXPECT_EQ(robot.name, "in_domain");
  EXPECT_EQ(robot.evaluator, Evaluator::kRobot);
  EXPECT_FALSE(robot.simulation.has_value());
  EXPECT_EQ(robot.trials, 10);
  const Scenario& sim = s.evaluation.scenarios[1];
  EXPECT_EQ(sim.name, "sim_in_domain");
  EXPECT_EQ(sim.evaluator, Evaluator::kSimulation);
  EXPECT_EQ(sim.trials, 50);
  EXPECT_EQ(sim.platform, "");
  ASSERT_TRUE(sim.simulation.has_value());
  EXPECT_EQ(sim.simulation->seed, 1000);
  EXPECT_EQ(sim.simulation->command.result_format, "diffusion_policy");
  EXPECT_EQ(sim.simulation->command.result_file, "{output_dir}/eval_log.json");
  EXPECT_EQ(CountRuns(s), 2 * 2 * 3);
  // Explicit robot evaluator with a platform.
  const SweepSpec robot2 = Accepted(Replace(
      kMixed, "    - in_domain\n",
      "    - {name: in_domain, evaluator: robot, platform: aloha-agilex-2.0}\n"));
  EXPECT_EQ(robot2.evaluation.scenarios[0].platform, "aloha-agilex-2.0");
  EXPECT_EQ(robot2.evaluation.scenarios[0].evaluator, Evaluator::kRobot);
}

TEST(SpecSimulationTest, ResultFileDefaultsByFormat) {
  const auto file_of = [](const std::string& format) {
    return Accepted(Replace(kMixed, "result_format: diffusion_policy",
                            absl::StrCat("result_format: ", format)))
        .evaluation.scenarios[1]
        .simulation->command.result_file;
  };
  EXPECT_EQ(file_of("lerobot"), "{output_dir}/eval_info.json");
  EXPECT_EQ(file_of("diffusion_policy"), "{output_dir}/eval_log.json");
  EXPECT_EQ(file_of("mixsweep"), "{output_dir}/mixsweep_eval.json");
  const SweepSpec own = Accepted(
      Replace(kMixed, "result_format: diffusion_policy",
              "result_format: lerobot\n        result_file: \"{output_dir}/eval/{job_id}.json\""));
  EXPECT_EQ(own.evaluation.scenarios[1].simulation->command.result_file,
            "{output_dir}/eval/{job_id}.json");
}

TEST(SpecSimulationTest, GenerateCommandKeysAreRead) {
  const SweepSpec s = Accepted(Replace(
      kScaling, "\"--out={output_dir}\"]}",
      "\"--out={output_dir}\", \"--task={task}\", \"--seed={seed}\", \"--gpu={gpu}\", "
      "\"--job={job_id}\", \"--sweep={sweep_id}\", \"--hash={dataset_hash}\"], "
      "checkpoint: \"{output_dir}/demo.hdf5\", result_file: \"{output_dir}/stats.json\", "
      "result_format: mimicgen, no_retry_exit_codes: [2]}"));
  const CommandTemplate& command = s.sources[0].generate->command;
  EXPECT_EQ(command.checkpoint, "{output_dir}/demo.hdf5");
  EXPECT_EQ(command.result_file, "{output_dir}/stats.json");
  EXPECT_EQ(command.result_format, "mimicgen");
  EXPECT_THAT(command.no_retry_exit_codes, ElementsAre(2));
}

TEST(SpecSimulationTest, PlaceholdersByStage) {
  for (const char* name : {"dataset", "dataset_hash", "n_demos", "seed", "output_dir", "gpu",
                           "job_id", "sweep_id", "code_version", "policy", "task"}) {
    EXPECT_TRUE(IsKnownPlaceholder(name, "generate")) << name;
  }
  for (const char* name : {"init_checkpoint", "subset_manifest", "steps", "run_id", "checkpoint",
                           "n_episodes", "step", "resume_checkpoint"}) {
    EXPECT_FALSE(IsKnownPlaceholder(name, "generate")) << name;
  }
  for (const char* name : {"checkpoint", "n_episodes", "seed", "output_dir", "gpu", "job_id",
                           "run_id", "sweep_id", "code_version", "policy", "task"}) {
    EXPECT_TRUE(IsKnownPlaceholder(name, "evaluate")) << name;
  }
  for (const char* name : {"dataset", "n_demos", "steps", "subset_manifest", "init_checkpoint",
                           "step", "dataset_hash", "resume_checkpoint"}) {
    EXPECT_FALSE(IsKnownPlaceholder(name, "evaluate")) << name;
  }
  for (const char* stage : {"train", "pretrain", "finetune"}) {
    EXPECT_TRUE(IsKnownPlaceholder("step", stage)) << stage;  // in checkpoint_at_step
    EXPECT_FALSE(IsKnownPlaceholder("checkpoint", stage)) << stage;
    EXPECT_FALSE(IsKnownPlaceholder("n_episodes", stage)) << stage;
  }
  EXPECT_FALSE(IsKnownPlaceholder("step", "generate"));
  EXPECT_FALSE(IsKnownPlaceholder("dataset", "nonsense"));
}

// ---------------------------------------------------------------------------
// Refusals, each naming its field.

TEST(SpecScalingTest, RefusesUnknownDesign) {
  ExpectRefused(Replace(kScaling, "design: scaling", "design: sweep"),
                "line 2: design: unknown design 'sweep' (expected mixture or scaling)");
}

TEST(SpecScalingTest, RefusesTeleopInAScalingSweep) {
  ExpectRefused(Replace(kScaling, "sources:\n",
                        "teleop:\n  dataset: {uri: \"file:///t\", episodes: 9}\n  n_tele: [5]\n"
                        "sources:\n"),
                "line 9: teleop: a scaling sweep has no teleop data");
}

TEST(SpecScalingTest, MixtureStillNeedsTeleop) {
  ExpectRefused(Replace(kScaling, "design: scaling\n", ""),
                "teleop: missing required field");
}

TEST(SpecScalingTest, RefusesMoreThanOneSource) {
  ExpectRefused(Replace(kScaling, "seeds:",
                        "  - name: other\n    kind: simulation\n    dataset: {uri: "
                        "\"file:///o\", episodes: 100}\n    n_nt: [10]\nseeds:"),
                "line 9: sources: a scaling sweep has exactly one source, got 2");
}

TEST(SpecScalingTest, RefusesNZero) {
  ExpectRefused(Replace(kScaling, "n_nt: [100,", "n_nt: [0, 100,"),
                "line 16: sources[0].n_nt[0]: 0 is not allowed in a scaling sweep");
}

TEST(SpecScalingTest, NeedsATrainTemplate) {
  const std::string yaml(kScaling);
  ExpectRefused(yaml.substr(0, yaml.find("templates:")),
                "templates.train: missing: every run of a scaling sweep is a train job on "
                "sources[0]");
}

TEST(SpecScalingTest, RefusesPretrainAndFinetuneTemplates) {
  ExpectRefused(absl::StrCat(kScaling, "  pretrain: {argv: [p, \"{dataset}\"]}\n"),
                "templates.pretrain: a scaling sweep has no pretrain jobs");
  ExpectRefused(Replace(kScaling, "    n_nt: [100, 500, 1000, 5000]\n",
                        "    n_nt: [100, 500, 1000, 5000]\n    templates:\n      finetune: "
                        "{argv: [p, \"{init_checkpoint}\"]}\n"),
                "sources[0].templates.finetune: a scaling sweep has no finetune jobs");
}

TEST(SpecScalingTest, ProtocolStepsFollowTheUsualRules) {
  ExpectRefused(Replace(kScaling, "{total_steps: 400000}",
                        "{total_steps: 400000, pretrain_steps: 1}"),
                "protocol.finetune_steps: missing: give both pretrain_steps and finetune_steps");
  ExpectRefused(Replace(kScaling, "{total_steps: 400000}",
                        "{total_steps: 400000, pretrain_steps: 1, finetune_steps: 1}"),
                "must equal total_steps (400000)");
}

TEST(SpecGenerateTest, RefusesADatasetBesidesGenerate) {
  ExpectRefused(Replace(kScaling, "    n_nt:",
                        "    dataset: {uri: \"file:///d\", episodes: 5000}\n    n_nt:"),
                "sources[0].dataset: a generated source has no dataset: its generate job makes "
                "it");
}

TEST(SpecGenerateTest, NMustNotExceedTheGeneratedDemos) {
  ExpectRefused(Replace(kScaling, "5000]", "6000]"),
                "line 16: sources[0].n_nt[3]: 6000 demos are more than the generate job's 5000 "
                "episodes (sources[0].generate.demos)");
}

TEST(SpecGenerateTest, RefusesBadBlocks) {
  ExpectRefused(Replace(kScaling, "demos: 5000", "demos: 0"),
                "sources[0].generate.demos: must be between 1 and 1000000, got 0");
  ExpectRefused(Replace(kScaling, "demos: 5000", "demos: 2000000"),
                "sources[0].generate.demos: must be between 1 and 1000000, got 2000000");
  ExpectRefused(Replace(kScaling, "      demos: 5000\n", ""),
                "sources[0].generate.demos: missing required field");
  ExpectRefused(Replace(kScaling, "      from: {uri: \"file:///data/source.hdf5\", episodes: 10}\n",
                        ""),
                "sources[0].generate.from: missing required field");
  ExpectRefused(Replace(kScaling, "episodes: 10}", "episodes: 10, hash: x}"),
                "sources[0].generate.from.hash: unknown key 'hash'");
  ExpectRefused(Replace(kScaling, "      demos: 5000\n", "      demos: 5000\n      seed: 3\n"),
                "sources[0].generate.seed: unknown key 'seed'");
  ExpectRefused(Replace(kScaling, "\"--out={output_dir}\"]}",
                        "\"--out={output_dir}\"], result_format: lerobot}"),
                "sources[0].generate.command.result_format: unknown result_format 'lerobot' "
                "(expected mimicgen)");
  ExpectRefused(Replace(kScaling, "\"--out={output_dir}\"]}",
                        "\"--out={output_dir}\"], checkpoint_at_step: \"{output_dir}/{step}\"}"),
                "sources[0].generate.command.checkpoint_at_step: checkpoint_at_step is only for "
                "training templates (train, pretrain, finetune), not generate commands");
}

TEST(SpecGenerateTest, RefusesPlaceholdersAGenerateJobHasNot) {
  for (const char* name : {"subset_manifest", "steps", "run_id", "checkpoint", "resume_checkpoint"}) {
    ExpectRefused(Replace(kScaling, "\"--out={output_dir}\"]}",
                          absl::StrCat("\"--out={output_dir}\", \"{", name, "}\"]}")),
                  absl::StrCat("sources[0].generate.command.argv[5]: {", name,
                               "} is not available in generate commands (known: {dataset} "));
  }
  ExpectRefused(Replace(kScaling, "\"--out={output_dir}\"]}",
                        "\"--out={output_dir}\", \"{init_checkpoint}\"]}"),
                "sources[0].generate.command.argv[5]: {init_checkpoint} is only available in "
                "finetune templates, not in generate");
  ExpectRefused(Replace(kScaling, "\"--out={output_dir}\"]}", "\"--out={output_dir}\", \"{step}\"]}"),
                "sources[0].generate.command.argv[5]: {step} is only available in "
                "checkpoint_at_step");
}

TEST(SpecTemplateTest, CheckpointAtStepMustUseStep) {
  ExpectRefused(Replace(kScaling, "\"{output_dir}/ckpt/{step}.pt\"", "\"{output_dir}/ckpt.pt\""),
                "templates.train.checkpoint_at_step: must use {step}");
  ExpectRefused(Replace(kScaling, "\"{output_dir}/ckpt/{step}.pt\"", "\"{output_dir}/{stpe}.pt\""),
                "templates.train.checkpoint_at_step: unknown placeholder {stpe}");
}

TEST(SpecTemplateTest, StepOnlyInCheckpointAtStep) {
  ExpectRefused(Replace(kScaling, "\"steps={steps}\"]", "\"steps={steps}\", \"{step}\"]"),
                "templates.train.argv[5]: {step} is only available in checkpoint_at_step");
}

TEST(SpecTemplateTest, ResultKeysAreRefusedInTrainingTemplates) {
  ExpectRefused(Replace(kScaling, "    checkpoint_at_step:",
                        "    result_file: \"{output_dir}/x.json\"\n    checkpoint_at_step:"),
                "templates.train.result_file: result_file is only for generate commands "
                "(sources[i].generate.command) and simulation scenarios' commands");
  ExpectRefused(Replace(kScaling, "    checkpoint_at_step:",
                        "    result_format: mixsweep\n    checkpoint_at_step:"),
                "templates.train.result_format: result_format is only for generate commands");
}

TEST(SpecTemplateTest, EvaluatePlaceholdersAreRefusedInTrainingTemplates) {
  ExpectRefused(Replace(kScaling, "\"steps={steps}\"]", "\"{checkpoint}\"]"),
                "templates.train.argv[4]: {checkpoint} is not available in train templates "
                "(known: {dataset}");
}

TEST(SpecSimulationTest, RefusesUnknownEvaluator) {
  ExpectRefused(Replace(kMixed, "evaluator: simulation", "evaluator: simulator"),
                "evaluation.scenarios[1].evaluator: unknown evaluator 'simulator' (expected "
                "robot or simulation)");
}

TEST(SpecSimulationTest, SimulationNeedsACommandThatUsesTheCheckpoint) {
  const std::string yaml(kMixed);
  const size_t command = yaml.find("      command:");
  const size_t end = yaml.find("templates:");
  ExpectRefused(yaml.substr(0, command) + yaml.substr(end),
                "evaluation.scenarios[1].command: missing required field");
  ExpectRefused(Replace(kMixed, "\"--ckpt={checkpoint}\", ", ""),
                "evaluation.scenarios[1].command: a simulation scenario's command must use "
                "{checkpoint}");
}

TEST(SpecSimulationTest, RefusesWhatASimulationScenarioHasNot) {
  ExpectRefused(Replace(kMixed, "      seed: 1000\n", "      seed: 1000\n      platform: aloha\n"),
                "evaluation.scenarios[1].platform: platform is for robot scenarios");
  ExpectRefused(Replace(kMixed, "seed: 1000", "seed: -1"),
                "evaluation.scenarios[1].seed: must be between 0 and 4294967295, got -1");
  ExpectRefused(Replace(kMixed, "\"--run={run_id}\"]", "\"--data={dataset}\"]"),
                "evaluation.scenarios[1].command.argv[6]: {dataset} is not available in "
                "simulation scenarios' commands (known: {checkpoint} {n_episodes}");
  for (const char* name : {"n_demos", "steps", "subset_manifest", "init_checkpoint", "step"}) {
    auto parsed = ParseSweepSpec(
        Replace(kMixed, "\"--run={run_id}\"]", absl::StrCat("\"{", name, "}\"]")));
    EXPECT_FALSE(parsed.ok()) << name;
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr("evaluation.scenarios[1].command.argv[6]"))
        << name;
  }
  ExpectRefused(Replace(kMixed, "result_format: diffusion_policy", "result_format: mimicgen"),
                "evaluation.scenarios[1].command.result_format: unknown result_format "
                "'mimicgen' (expected lerobot, diffusion_policy or mixsweep)");
  ExpectRefused(Replace(kMixed, "result_format: diffusion_policy",
                        "checkpoint: \"{output_dir}/x\""),
                "evaluation.scenarios[1].command.checkpoint: an evaluation makes no "
                "checkpoint");
  ExpectRefused(Replace(kMixed, "result_format: diffusion_policy",
                        "checkpoint_at_step: \"{output_dir}/{step}\""),
                "evaluation.scenarios[1].command.checkpoint_at_step: checkpoint_at_step is only "
                "for training templates (train, pretrain, finetune), not simulation scenarios' "
                "commands");
}

TEST(SpecSimulationTest, RobotScenarioRefusesCommandAndSeed) {
  ExpectRefused(Replace(kMixed, "    - in_domain\n", "    - {name: in_domain, seed: 3}\n"),
                "evaluation.scenarios[0].seed: only simulation scenarios (evaluator: simulation) "
                "run a command with a seed");
  ExpectRefused(Replace(kMixed, "    - in_domain\n",
                        "    - {name: in_domain, evaluator: robot, command: {argv: [x]}}\n"),
                "evaluation.scenarios[0].command: only simulation scenarios");
}

TEST(SpecEvaluationTest, RefusesUnknownAggregation) {
  ExpectRefused(Replace(kScaling, "aggregation: max_over_checkpoints", "aggregation: best"),
                "evaluation.aggregation: unknown aggregation 'best' (expected last or "
                "max_over_checkpoints)");
}

// kMixed without its simulation scenario.
std::string RobotOnly() {
  const std::string yaml(kMixed);
  return yaml.substr(0, yaml.find("    - name: sim_in_domain")) +
         yaml.substr(yaml.find("templates:"));
}

TEST(SpecEvaluationTest, MaxOverCheckpointsNeedsASimulationScenario) {
  ExpectRefused(Replace(RobotOnly(), "evaluation:\n",
                        "evaluation:\n  aggregation: max_over_checkpoints\n"),
                "evaluation.aggregation: max_over_checkpoints needs a simulation scenario");
  EXPECT_TRUE(ParseSweepSpec(Replace(RobotOnly(), "evaluation:\n",
                                     "evaluation:\n  aggregation: last\n"))
                  .ok());
}

TEST(SpecEvaluationTest, CheckpointsNeedASimulationScenario) {
  ExpectRefused(Replace(RobotOnly(), "evaluation:\n",
                        "evaluation:\n  checkpoints: {every_steps: 1000}\n"),
                "evaluation.checkpoints: only simulation scenarios evaluate intermediate "
                "checkpoints");
}

TEST(SpecEvaluationTest, CheckpointsNeedCheckpointAtStepInEveryFinalStageTemplate) {
  const std::string with = Replace(kMixed, "evaluation:\n",
                                   "evaluation:\n  checkpoints: {every_steps: 1000, last: 2}\n");
  const SweepSpec s = Accepted(with);
  EXPECT_EQ(s.evaluation.checkpoints.every_steps, 1000);
  EXPECT_EQ(s.evaluation.checkpoints.last, 2);
  // The finetune is a mixed run's final stage; the pretrain needs none.
  ExpectRefused(Replace(with, "    argv: [python, train.py, \"data={dataset}\", "
                              "\"init={init_checkpoint}\"]\n    checkpoint_at_step: "
                              "\"{output_dir}/{step}.ckpt\"\n",
                        "    argv: [python, train.py, \"data={dataset}\", "
                        "\"init={init_checkpoint}\"]\n"),
                "templates.finetune.checkpoint_at_step: missing: evaluation.checkpoints "
                "evaluates intermediate checkpoints of this template's jobs");
  ExpectRefused(Replace(with, "    argv: [python, train.py, \"data={dataset}\", \"steps={steps}\"]\n"
                              "    checkpoint_at_step: \"{output_dir}/{step}.ckpt\"\n",
                        "    argv: [python, train.py, \"data={dataset}\", \"steps={steps}\"]\n"),
                "templates.train.checkpoint_at_step: missing");
  ExpectRefused(Replace(kScaling, "    checkpoint_at_step: \"{output_dir}/ckpt/{step}.pt\"\n", ""),
                "templates.train.checkpoint_at_step: missing");
  // A source's own finetune template is named by its own path.
  ExpectRefused(Replace(with, "    n_nt: [0, 1000]\n",
                        "    n_nt: [0, 1000]\n    templates:\n      finetune: {argv: [ft, "
                        "\"{init_checkpoint}\"]}\n"),
                "sources[0].templates.finetune.checkpoint_at_step: missing");
}

TEST(SpecEvaluationTest, RefusesBadCheckpointSelections) {
  ExpectRefused(Replace(kScaling, "{every_steps: 50000}", "{every_steps: 0}"),
                "evaluation.checkpoints.every_steps: must be at least 1, got 0");
  ExpectRefused(Replace(kScaling, "{every_steps: 50000}", "{last: 3}"),
                "evaluation.checkpoints.every_steps: missing required field");
  ExpectRefused(Replace(kScaling, "{every_steps: 50000}", "{every_steps: 50000, last: 0}"),
                "evaluation.checkpoints.last: must be between 1 and 100, got 0");
  ExpectRefused(Replace(kScaling, "{every_steps: 50000}", "{every_steps: 50000, every: 2}"),
                "evaluation.checkpoints.every: unknown key 'every'");
  ExpectRefused(Replace(kScaling, "{every_steps: 50000}", "{every_steps: 1000}"),
                "evaluation.checkpoints.every_steps: every 1000 steps gives 399 intermediate "
                "checkpoints per job of 400000 steps (templates.train); at most 100");
  // ... unless only the last ones are kept.
  EXPECT_TRUE(
      ParseSweepSpec(Replace(kScaling, "{every_steps: 50000}", "{every_steps: 1000, last: 100}"))
          .ok());
}

TEST(SpecScalingTest, RunQuotaOfAScalingSweep) {
  auto parsed = ParseSweepSpec(kScaling, SpecLimits{.max_runs = 10});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("the sweep expands to 12 runs (4 N values x 3 seeds), more than the "
                        "limit of 10"));
}

TEST(SpecScalingTest, AcceptedSpecsHaveNoProblemLinesLeft) {
  for (const std::string& yaml : {std::string(kScaling), std::string(kMixed)}) {
    auto parsed = ParseSweepSpec(yaml);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_THAT(parsed.ok() ? "" : std::string(parsed.status().message()), Not(HasSubstr("line")));
  }
}

}  // namespace
}  // namespace mixsweep::spec
