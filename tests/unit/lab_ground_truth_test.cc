// The synthetic lab's pure part: the ground-truth model, the trial draws
// through a rubric, and what a synthetic checkpoint says about its policy.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/spec/spec_parser.h"
#include "scheduler/utilization/local_eta.h"
#include "scheduler/utilization/power_law.h"
#include "services/lab/checkpoint.h"
#include "services/lab/ground_truth.h"
#include "tests/support/example_specs.h"

namespace mixsweep::lab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTruth[] = R"(
version: 1
task: pick_dual_bottles
scenarios:
  - name: in_domain
    alpha: 0.05
    beta: 0.5
    eta: {sim: 8, human: -20}
  - name: unseen_background
    alpha: 0.001
    beta: 1
    eta: {sim: 16}
)";

GroundTruth MustParse(const std::string& yaml) {
  absl::StatusOr<GroundTruth> truth = ParseGroundTruth(yaml);
  EXPECT_TRUE(truth.ok()) << truth.status();
  return truth.ok() ? *truth : GroundTruth{};
}

spec::Rubric Milestones(std::vector<std::pair<std::string, double>> stages) {
  spec::Rubric rubric{.kind = spec::RubricKind::kMilestones, .entries = {}};
  for (auto& [name, value] : stages) rubric.entries.push_back({.name = name, .value = value});
  return rubric;
}

spec::Rubric Items(std::vector<std::pair<std::string, double>> items) {
  spec::Rubric rubric = Milestones(std::move(items));
  rubric.kind = spec::RubricKind::kItems;
  return rubric;
}

// The two example sweeps' rubrics, as their specs define them.
spec::Rubric PickDualBottlesRubric() {
  return Milestones({{"first_bottle_grasped", 0.5}, {"both_bottles_lifted", 1.0}});
}
spec::Rubric RankRgbBlocksRubric() {
  return Items({{"red", 1.0 / 3}, {"green", 1.0 / 3}, {"blue", 1.0 / 3}});
}

// Every score a rubric can give, computed here independently of the lab:
// milestones 0 and each stage's value; items every subset sum (at most 1).
std::vector<double> Attainable(const spec::Rubric& rubric) {
  std::vector<double> scores = {0.0};
  if (rubric.kind == spec::RubricKind::kMilestones) {
    for (const auto& stage : rubric.entries) scores.push_back(stage.value);
    return scores;
  }
  const size_t n = rubric.entries.size();
  for (uint32_t mask = 1; mask < (1u << n); ++mask) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      if (mask & (1u << i)) sum += rubric.entries[i].value;
    }
    scores.push_back(std::min(1.0, sum));
  }
  return scores;
}

bool IsAttainable(const spec::Rubric& rubric, double score) {
  for (double attainable : Attainable(rubric)) {
    if (std::abs(attainable - score) < 1e-12) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Parsing.

TEST(LabGroundTruthParse, ReadsEveryField) {
  GroundTruth truth = MustParse(kTruth);
  EXPECT_EQ(truth.version, 1);
  EXPECT_EQ(truth.task, "pick_dual_bottles");
  ASSERT_EQ(truth.scenarios.size(), 2u);
  const TruthScenario* in_domain = truth.Find("in_domain");
  ASSERT_NE(in_domain, nullptr);
  EXPECT_DOUBLE_EQ(in_domain->alpha, 0.05);
  EXPECT_DOUBLE_EQ(in_domain->beta, 0.5);
  EXPECT_EQ(in_domain->eta, (std::map<std::string, double>{{"human", -20}, {"sim", 8}}));
  EXPECT_EQ(truth.Find("unseen_position"), nullptr);
}

TEST(LabGroundTruthParse, TaskAndEtaAreOptional) {
  GroundTruth truth = MustParse("version: 1\nscenarios: [{name: a, alpha: 0.1, beta: 0.3}]\n");
  EXPECT_EQ(truth.task, "");
  ASSERT_EQ(truth.scenarios.size(), 1u);
  EXPECT_TRUE(truth.scenarios[0].eta.empty());
}

struct ParseErrorCase {
  std::string name;
  std::string yaml;
  std::string message;  // a substring of the error, naming the field
};

class LabGroundTruthParseErrors : public ::testing::TestWithParam<ParseErrorCase> {};

TEST_P(LabGroundTruthParseErrors, NamesTheField) {
  absl::StatusOr<GroundTruth> truth = ParseGroundTruth(GetParam().yaml);
  ASSERT_FALSE(truth.ok());
  EXPECT_EQ(truth.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(truth.status().message()), HasSubstr(GetParam().message));
}

constexpr char kOne[] = "  - {name: a, alpha: 0.1, beta: 0.5, eta: {sim: 4}}\n";

INSTANTIATE_TEST_SUITE_P(
    LabCases, LabGroundTruthParseErrors,
    ::testing::Values(
        ParseErrorCase{"NoVersion", std::string("scenarios:\n") + kOne, "version: required"},
        ParseErrorCase{"Version2", std::string("version: 2\nscenarios:\n") + kOne, "version: must be 1"},
        ParseErrorCase{"NoScenarios", "version: 1\n", "scenarios: required"},
        ParseErrorCase{"EmptyScenarios", "version: 1\nscenarios: []\n",
                       "scenarios: must be a non-empty list"},
        ParseErrorCase{"BetaZero",
                       std::string("version: 1\nscenarios:\n") + kOne +
                           "  - {name: b, alpha: 0.1, beta: 0}\n",
                       "scenarios[1].beta: must be > 0 (line 4)"},
        ParseErrorCase{"AlphaNegative", "version: 1\nscenarios:\n  - {name: a, alpha: -1, beta: 1}\n",
                       "scenarios[0].alpha: must be > 0"},
        ParseErrorCase{"AlphaMissing", "version: 1\nscenarios:\n  - {name: a, beta: 1}\n",
                       "scenarios[0].alpha: required"},
        ParseErrorCase{"AlphaText", "version: 1\nscenarios:\n  - {name: a, alpha: lots, beta: 1}\n",
                       "scenarios[0].alpha: must be a number"},
        ParseErrorCase{"BetaInfinite", "version: 1\nscenarios:\n  - {name: a, alpha: 1, beta: .inf}\n",
                       "scenarios[0].beta: must be finite"},
        ParseErrorCase{"NameMissing", "version: 1\nscenarios:\n  - {alpha: 1, beta: 1}\n",
                       "scenarios[0].name: required"},
        ParseErrorCase{"DuplicateName", std::string("version: 1\nscenarios:\n") + kOne + kOne,
                       "scenarios[1].name: duplicate scenario \"a\""},
        ParseErrorCase{"EtaZero",
                       "version: 1\nscenarios:\n  - {name: a, alpha: 1, beta: 1, eta: {sim: 0}}\n",
                       "scenarios[0].eta.sim: must not be 0"},
        ParseErrorCase{"EtaText",
                       "version: 1\nscenarios:\n  - {name: a, alpha: 1, beta: 1, eta: {sim: x}}\n",
                       "scenarios[0].eta.sim: must be a number"},
        ParseErrorCase{"EtaList",
                       "version: 1\nscenarios:\n  - {name: a, alpha: 1, beta: 1, eta: [8]}\n",
                       "scenarios[0].eta: must be a map"},
        ParseErrorCase{"UnknownScenarioKey",
                       "version: 1\nscenarios:\n  - {name: a, alpha: 1, beta: 1, etas: {sim: 8}}\n",
                       "scenarios[0].etas: unknown key"},
        ParseErrorCase{"UnknownTopKey", std::string("version: 1\ntasks: x\nscenarios:\n") + kOne,
                       "tasks: unknown key"},
        ParseErrorCase{"ScenarioNotMap", "version: 1\nscenarios: [in_domain]\n",
                       "scenarios[0]: must be a map"},
        ParseErrorCase{"NotYaml", "version: 1\nscenarios: [\n", "not valid YAML"},
        ParseErrorCase{"NotMap", "- 1\n", "must be a YAML map"}),
    [](const ::testing::TestParamInfo<ParseErrorCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// The truth.

TEST(LabTrueS, IsThePowerLawInTheEffectiveData) {
  GroundTruth truth = MustParse(kTruth);
  const TruthScenario& s = *truth.Find("in_domain");
  EXPECT_DOUBLE_EQ(TrueS(s, "", 100, 0), 0.5);  // 0.05 * sqrt(100)
  EXPECT_DOUBLE_EQ(EffectiveData(s, "sim", 100, 800), 200.0);
  EXPECT_DOUBLE_EQ(TrueS(s, "sim", 100, 800), 0.05 * std::sqrt(200.0));
  // A source's eta is ignored when it contributes no demos.
  EXPECT_DOUBLE_EQ(TrueS(s, "sim", 100, 0), TrueS(s, "", 100, 0));
}

TEST(LabTrueS, NegativeEtaCanUndoAllTheTeleopData) {
  GroundTruth truth = MustParse(kTruth);
  const TruthScenario& s = *truth.Find("in_domain");
  EXPECT_DOUBLE_EQ(TrueS(s, "human", 100, 1000), 0.05 * std::sqrt(50.0));  // D = 100 - 50
  EXPECT_EQ(TrueS(s, "human", 50, 1000), 0.0);                            // D = 0
  EXPECT_EQ(TrueS(s, "human", 40, 1000), 0.0);                            // D < 0
}

TEST(LabTrueS, SaturatesAtOne) {
  GroundTruth truth = MustParse(kTruth);
  EXPECT_EQ(TrueS(*truth.Find("in_domain"), "", 1'000'000, 0), 1.0);
}

TEST(LabTrueS, UnknownSourceIsNaN) {
  GroundTruth truth = MustParse(kTruth);
  EXPECT_TRUE(std::isnan(TrueS(*truth.Find("unseen_background"), "human", 100, 500)));
}

TEST(LabEta, GlobalIsTheTrueEta) {
  GroundTruth truth = MustParse(kTruth);
  EXPECT_EQ(TrueGlobalEta(*truth.Find("in_domain"), "human"), -20.0);
  EXPECT_EQ(TrueGlobalEta(*truth.Find("unseen_background"), "human"), std::nullopt);
}

// SPEC.md: "On a true power law in the effective data N_t + N_nt / eta,
// global eta recovers eta exactly": so the truth and the engine agree.
TEST(LabEta, TheEnginesGlobalEtaRecoversTheTrueEta) {
  GroundTruth truth = MustParse(kTruth);
  for (const TruthScenario& scenario : truth.scenarios) {
    std::vector<utilization::FitPoint> points;
    for (int64_t n : {50, 100, 200}) points.push_back({.n = n, .s = TrueS(scenario, "", n, 0)});
    utilization::PowerLawFit fit = utilization::FitPowerLaw(points);
    for (const auto& [source, eta] : scenario.eta) {
      for (int64_t n_tele : {100, 200}) {
        utilization::GlobalEta global =
            utilization::ComputeGlobalEta(fit, n_tele, 1000, TrueS(scenario, source, n_tele, 1000));
        ASSERT_TRUE(global.eta.defined()) << scenario.name << " " << source;
        EXPECT_NEAR(global.eta.value, eta, 1e-6 * std::abs(eta)) << scenario.name << " " << source;
      }
    }
  }
}

TEST(LabEta, ExpectedLocalIsThePapersFormulaOnTheTrueS) {
  GroundTruth truth = MustParse(kTruth);
  const TruthScenario& s = *truth.Find("in_domain");
  const double s_t = 0.05 * std::sqrt(200.0);
  const double s_mix = 0.05 * std::sqrt(200.0 + 1000.0 / 8.0);
  std::optional<double> local = ExpectedLocalEta(s, "sim", 200, 1000);
  ASSERT_TRUE(local.has_value());
  EXPECT_NEAR(*local, (s_t / 200.0) / ((s_mix - s_t) / 1000.0), 1e-9);
  // On a concave power law the local eta is not the true one (about eta / beta).
  EXPECT_GT(*local, 8.0 * 1.5);
  // The engine's formula gives the same number.
  utilization::LocalEta engine = utilization::ComputeLocalEta(s_t, s_mix, 200, 1000);
  ASSERT_TRUE(engine.eta.defined());
  EXPECT_NEAR(engine.eta.value, *local, 1e-9);
}

TEST(LabEta, ExpectedLocalIsTheTrueEtaOnALinearLaw) {
  GroundTruth truth = MustParse(kTruth);
  // beta = 1: teleop's average contribution is its marginal one.
  std::optional<double> local = ExpectedLocalEta(*truth.Find("unseen_background"), "sim", 20, 100);
  ASSERT_TRUE(local.has_value());
  EXPECT_NEAR(*local, 16.0, 1e-9);
}

TEST(LabEta, ExpectedLocalIsUndefinedWithoutAnEffect) {
  GroundTruth truth = MustParse(
      "version: 1\nscenarios: [{name: easy, alpha: 1, beta: 1, eta: {sim: 4}}]\n");
  // S saturates at 1 with and without the sim demos: S_mix == S_t.
  EXPECT_EQ(ExpectedLocalEta(truth.scenarios[0], "sim", 200, 1000), std::nullopt);
  EXPECT_EQ(ExpectedLocalEta(truth.scenarios[0], "human", 200, 1000), std::nullopt);
  EXPECT_EQ(ExpectedLocalEta(truth.scenarios[0], "sim", 200, 0), std::nullopt);
}

TEST(LabCheckCovers, NamesWhatTheTruthLacks) {
  GroundTruth truth = MustParse(kTruth);
  TrainedOn teleop{.source = "", .n_tele = 100, .n_nt = 0, .seed = 0};
  TrainedOn human{.source = "human", .n_tele = 100, .n_nt = 500, .seed = 0};
  EXPECT_TRUE(CheckCovers(truth, "pick_dual_bottles", "in_domain", human).ok());
  EXPECT_TRUE(CheckCovers(truth, "pick_dual_bottles", "unseen_background", teleop).ok());

  absl::Status task = CheckCovers(truth, "rank_rgb_blocks", "in_domain", teleop);
  EXPECT_EQ(task.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(task.message()), HasSubstr("\"pick_dual_bottles\""));

  absl::Status scenario = CheckCovers(truth, "pick_dual_bottles", "unseen_position", teleop);
  EXPECT_EQ(scenario.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(scenario.message()), HasSubstr("no scenario \"unseen_position\""));

  absl::Status source = CheckCovers(truth, "pick_dual_bottles", "unseen_background", human);
  EXPECT_EQ(source.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(source.message()), HasSubstr("no eta for source \"human\""));

  TrainedOn nameless{.source = "", .n_tele = 100, .n_nt = 500, .seed = 0};
  EXPECT_EQ(CheckCovers(truth, "pick_dual_bottles", "in_domain", nameless).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LabCheckCovers, ATruthWithoutTaskTakesAnyTask) {
  GroundTruth truth = MustParse("version: 1\nscenarios: [{name: a, alpha: 0.1, beta: 0.3}]\n");
  EXPECT_TRUE(CheckCovers(truth, "anything", "a", TrainedOn{.n_tele = 10}).ok());
}

// ---------------------------------------------------------------------------
// The rubric's expectation.

TEST(LabRubric, RefusesWhatCannotBeDrawn) {
  EXPECT_TRUE(CheckRubric(PickDualBottlesRubric()).ok());
  EXPECT_TRUE(CheckRubric(RankRgbBlocksRubric()).ok());
  for (const spec::Rubric& bad :
       {Milestones({}), Milestones({{"a", 0.5}, {"b", 0.5}}), Milestones({{"a", 0.5}, {"b", 0.9}}),
        Milestones({{"a", 0.5}, {"a", 1.0}}), Items({{"a", 0.5}, {"b", 0.4}}),
        Items({{"a", 1.0}, {"b", 0.0}}), Items({{"", 1.0}})}) {
    EXPECT_EQ(CheckRubric(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(LabMilestoneRate, MatchesTheClosedFormForTwoStages) {
  // 0.5 r + 0.5 r^2 = S  =>  r = (sqrt(1 + 8 S) - 1) / 2.
  for (double s : {0.05, 0.3, 0.5, 0.77, 0.999}) {
    EXPECT_NEAR(MilestoneRate(PickDualBottlesRubric(), s), (std::sqrt(1 + 8 * s) - 1) / 2, 1e-12)
        << s;
  }
}

TEST(LabMilestoneRate, EndsAreExact) {
  EXPECT_EQ(MilestoneRate(PickDualBottlesRubric(), 0.0), 0.0);
  EXPECT_EQ(MilestoneRate(PickDualBottlesRubric(), 1.0), 1.0);
}

TEST(LabExpectedScore, EqualsSForEveryRubric) {
  const std::vector<spec::Rubric> rubrics = {
      PickDualBottlesRubric(), RankRgbBlocksRubric(),
      Milestones({{"reach", 0.1}, {"grasp", 0.3}, {"lift", 0.6}, {"place", 1.0}}),
      Milestones({{"done", 1.0}}), Items({{"a", 0.5}, {"b", 0.25}, {"c", 0.25}})};
  for (const spec::Rubric& rubric : rubrics) {
    for (double s : {0.0, 1e-6, 0.05, 0.2, 0.333, 0.5, 0.77, 0.95, 1.0}) {
      EXPECT_NEAR(ExpectedScore(rubric, s), s, 1e-12) << rubric.entries.front().name << " " << s;
    }
  }
}

// ---------------------------------------------------------------------------
// Draws.

// mt19937_64's 10000th output from the default seed is fixed by the C++
// standard ([rand.predef]); the lab's doubles are its top 53 bits, so a seed
// draws the same trials with any standard library.
TEST(LabTrialRng, IsTheStandardsEngine) {
  TrialRng rng(5489u);
  double value = 0.0;
  for (int i = 0; i < 10000; ++i) value = rng.Uniform();
  EXPECT_EQ(value, static_cast<double>(9981545732273789042ULL >> 11) * 0x1.0p-53);
}

TEST(LabTrialSeed, DependsOnEveryPart) {
  const uint64_t seed = TrialSeed(1, 42, 3);
  EXPECT_EQ(seed, TrialSeed(1, 42, 3));
  EXPECT_NE(seed, TrialSeed(2, 42, 3));
  EXPECT_NE(seed, TrialSeed(1, 43, 3));
  EXPECT_NE(seed, TrialSeed(1, 42, 4));
}

// Mean score over many draws, with the standard error of the mean.
struct Sample {
  double mean = 0.0;
  double standard_error = 0.0;
};

Sample DrawMany(const spec::Rubric& rubric, double s, int n, uint64_t seed) {
  TrialRng rng(seed);
  double sum = 0.0;
  double sum_squares = 0.0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<std::vector<std::string>> achieved = DrawTrial(rubric, s, rng);
    EXPECT_TRUE(achieved.ok()) << achieved.status();
    absl::StatusOr<double> score = ScoreAchieved(rubric, achieved.value_or(std::vector<std::string>{}));
    EXPECT_TRUE(score.ok()) << score.status();
    sum += score.value_or(0.0);
    sum_squares += score.value_or(0.0) * score.value_or(0.0);
  }
  const double mean = sum / n;
  const double variance = sum_squares / n - mean * mean;
  return {.mean = mean, .standard_error = std::sqrt(std::max(variance, 0.0) / n)};
}

TEST(LabDrawTrial, MeanScoreIsS) {
  for (const spec::Rubric& rubric : {PickDualBottlesRubric(), RankRgbBlocksRubric()}) {
    for (double s : {0.1, 0.35, 0.5, 0.8}) {
      Sample sample = DrawMany(rubric, s, 20000, /*seed=*/7);
      ASSERT_GT(sample.standard_error, 0.0);
      EXPECT_LT(std::abs(sample.mean - s), 4.0 * sample.standard_error)
          << rubric.entries.front().name << " S=" << s << " mean " << sample.mean;
    }
  }
}

// Milestones: reaching stage 2 needs stage 1; each is reached with r^i.
TEST(LabDrawTrial, MilestoneStagesFollowTheRate) {
  const spec::Rubric rubric = PickDualBottlesRubric();
  const double s = 0.4;
  const double r = MilestoneRate(rubric, s);
  TrialRng rng(11);
  const int n = 20000;
  int both = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> achieved = DrawTrial(rubric, s, rng).value();
    if (achieved == std::vector<std::string>{"both_bottles_lifted"}) ++both;
  }
  const double p = r * r;
  EXPECT_LT(std::abs(both / static_cast<double>(n) - p), 4.0 * std::sqrt(p * (1 - p) / n));
}

TEST(LabDrawTrial, EveryOutcomeScoresAnAttainableValue) {
  for (const spec::Rubric& rubric :
       {PickDualBottlesRubric(), RankRgbBlocksRubric(),
        Milestones({{"reach", 0.1}, {"grasp", 0.3}, {"place", 1.0}})}) {
    TrialRng rng(3);
    std::set<double> seen;
    for (int i = 0; i < 2000; ++i) {
      std::vector<std::string> achieved = DrawTrial(rubric, 0.5, rng).value();
      double score = ScoreAchieved(rubric, achieved).value();
      EXPECT_TRUE(IsAttainable(rubric, score)) << score;
      seen.insert(score);
    }
    // At S = 0.5 every attainable score turns up in 2000 draws.
    const std::vector<double> attainable = Attainable(rubric);
    EXPECT_EQ(seen, std::set<double>(attainable.begin(), attainable.end()))
        << rubric.entries.front().name;
  }
}

TEST(LabDrawTrial, MilestonesReportTheLastStageOnly) {
  TrialRng rng(5);
  EXPECT_THAT(DrawTrial(PickDualBottlesRubric(), 1.0, rng).value(),
              ElementsAre("both_bottles_lifted"));
  EXPECT_TRUE(DrawTrial(PickDualBottlesRubric(), 0.0, rng).value().empty());
}

TEST(LabDrawTrial, ItemsInRubricOrder) {
  TrialRng rng(5);
  EXPECT_THAT(DrawTrial(RankRgbBlocksRubric(), 1.0, rng).value(), ElementsAre("red", "green", "blue"));
  EXPECT_TRUE(DrawTrial(RankRgbBlocksRubric(), 0.0, rng).value().empty());
}

TEST(LabDrawTrial, RefusesSOutsideTheUnitInterval) {
  TrialRng rng(5);
  EXPECT_EQ(DrawTrial(RankRgbBlocksRubric(), 1.5, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DrawTrial(RankRgbBlocksRubric(), std::nan(""), rng).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DrawTrial(Items({{"a", 0.5}}), 0.5, rng).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LabScoreAchieved, ScoresAsTheServerDoes) {
  EXPECT_EQ(ScoreAchieved(PickDualBottlesRubric(), {}).value(), 0.0);
  EXPECT_EQ(ScoreAchieved(PickDualBottlesRubric(), {"first_bottle_grasped"}).value(), 0.5);
  EXPECT_EQ(ScoreAchieved(PickDualBottlesRubric(), {"first_bottle_grasped", "both_bottles_lifted"})
                .value(),
            1.0);
  EXPECT_FALSE(ScoreAchieved(PickDualBottlesRubric(), {"both_bottles_lifted", "first_bottle_grasped"})
                   .ok());
  EXPECT_NEAR(ScoreAchieved(RankRgbBlocksRubric(), {"blue", "red"}).value(), 2.0 / 3, 1e-15);
  EXPECT_FALSE(ScoreAchieved(RankRgbBlocksRubric(), {"red", "red"}).ok());
  EXPECT_FALSE(ScoreAchieved(RankRgbBlocksRubric(), {"purple"}).ok());
}

TEST(LabDrawTrials, ARestartedLabDrawsTheSameTrials) {
  const spec::Rubric rubric = RankRgbBlocksRubric();
  std::vector<DrawnTrial> all = DrawTrials(rubric, 0.5, /*lab_seed=*/9, /*request_id=*/17, 0, 10).value();
  std::vector<DrawnTrial> rest = DrawTrials(rubric, 0.5, 9, 17, 4, 10).value();
  ASSERT_EQ(all.size(), 10u);
  ASSERT_EQ(rest.size(), 6u);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].trial_index, all[i + 4].trial_index);
    EXPECT_EQ(rest[i].achieved, all[i + 4].achieved);
    EXPECT_EQ(rest[i].score, all[i + 4].score);
    EXPECT_EQ(rest[i].duration_ms, all[i + 4].duration_ms);
  }
}

TEST(LabDrawTrials, AnotherSeedDrawsOtherTrials) {
  const spec::Rubric rubric = RankRgbBlocksRubric();
  std::vector<DrawnTrial> a = DrawTrials(rubric, 0.5, 1, 17, 0, 10).value();
  std::vector<DrawnTrial> b = DrawTrials(rubric, 0.5, 2, 17, 0, 10).value();
  bool differ = false;
  for (size_t i = 0; i < a.size(); ++i) differ = differ || a[i].achieved != b[i].achieved;
  EXPECT_TRUE(differ);
}

TEST(LabDrawTrials, ScoresAndDurationsArePlausible) {
  const std::vector<DrawnTrial> trials = DrawTrials(PickDualBottlesRubric(), 0.6, 3, 5, 0, 200).value();
  ASSERT_EQ(trials.size(), 200u);
  for (const DrawnTrial& trial : trials) {
    EXPECT_EQ(trial.score, ScoreAchieved(PickDualBottlesRubric(), trial.achieved).value());
    EXPECT_GE(trial.duration_ms, 20000);
    EXPECT_LE(trial.duration_ms, 90000);
  }
}

TEST(LabRecordTrialsKey, IsDeterministicPerRequestAndFirstTrial) {
  EXPECT_EQ(RecordTrialsKey(17, 0), RecordTrialsKey(17, 0));
  EXPECT_NE(RecordTrialsKey(17, 0), RecordTrialsKey(17, 3));
  EXPECT_NE(RecordTrialsKey(17, 0), RecordTrialsKey(18, 0));
  // Within the 128 bytes a server may allow an idempotency key.
  EXPECT_LE(RecordTrialsKey(INT64_MAX, 999).size(), 128u);
}

// ---------------------------------------------------------------------------
// Synthetic checkpoints (the JSON workers/agent/synthetic_runner.cc writes).

constexpr char kFinetune[] =
    R"({"synthetic": true, "job_id": 12, "steps": 3000, "init_checkpoint": "file:///art/p/latest.ckpt",
        "kind": "JOB_KIND_FINETUNE", "source": "teleop", "n_demos": 200, "seed": 2})";
constexpr char kPretrain[] =
    R"({"synthetic": true, "job_id": 4, "steps": 10000, "init_checkpoint": "",
        "kind": "JOB_KIND_PRETRAIN", "source": "sim", "n_demos": 1000, "seed": 2})";
constexpr char kTrain[] =
    R"({"synthetic": true, "job_id": 3, "steps": 13000, "init_checkpoint": "",
        "kind": "JOB_KIND_TRAIN", "source": "teleop", "n_demos": 50, "seed": 1})";

CheckpointLoader LoaderOf(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& uri) -> absl::StatusOr<SyntheticCheckpoint> {
    auto it = files.find(uri);
    if (it == files.end()) return absl::NotFoundError("no " + uri);
    return ParseSyntheticCheckpoint(it->second, uri);
  };
}

TEST(LabCheckpoint, ParsesTheWorkersFields) {
  SyntheticCheckpoint checkpoint = ParseSyntheticCheckpoint(kFinetune, "f").value();
  EXPECT_EQ(checkpoint.job_id, 12);
  EXPECT_EQ(checkpoint.kind, "JOB_KIND_FINETUNE");
  EXPECT_EQ(checkpoint.source, "teleop");
  EXPECT_EQ(checkpoint.n_demos, 200);
  EXPECT_EQ(checkpoint.seed, 2);
  EXPECT_EQ(checkpoint.init_checkpoint, "file:///art/p/latest.ckpt");
}

TEST(LabCheckpoint, ATrainJobIsTeleopOnly) {
  TrainedOn trained =
      ResolveTrainedOn(ParseSyntheticCheckpoint(kTrain, "t").value(), LoaderOf({})).value();
  EXPECT_EQ(trained.source, "");
  EXPECT_EQ(trained.n_tele, 50);
  EXPECT_EQ(trained.n_nt, 0);
  EXPECT_EQ(trained.seed, 1);
}

TEST(LabCheckpoint, AFinetuneFollowsItsPretrain) {
  TrainedOn trained = ResolveTrainedOn(ParseSyntheticCheckpoint(kFinetune, "f").value(),
                                       LoaderOf({{"file:///art/p/latest.ckpt", kPretrain}}))
                          .value();
  EXPECT_EQ(trained.source, "sim");
  EXPECT_EQ(trained.n_tele, 200);
  EXPECT_EQ(trained.n_nt, 1000);
  EXPECT_EQ(trained.seed, 2);
}

TEST(LabCheckpoint, AFinetuneNeedsAReadablePretrain) {
  const SyntheticCheckpoint finetune = ParseSyntheticCheckpoint(kFinetune, "f").value();
  EXPECT_EQ(ResolveTrainedOn(finetune, LoaderOf({})).status().code(), absl::StatusCode::kNotFound);
  absl::Status not_pretrain =
      ResolveTrainedOn(finetune, LoaderOf({{"file:///art/p/latest.ckpt", kTrain}})).status();
  EXPECT_THAT(std::string(not_pretrain.message()), HasSubstr("not a pretrain"));
}

TEST(LabCheckpoint, APretrainIsNotAPolicyToEvaluate) {
  absl::Status status =
      ResolveTrainedOn(ParseSyntheticCheckpoint(kPretrain, "p").value(), LoaderOf({})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("JOB_KIND_PRETRAIN"));
}

TEST(LabCheckpoint, ANonSyntheticCheckpointIsAClearError) {
  for (const char* text : {"\x89PNG binary", R"({"synthetic": false})", R"([1, 2])"}) {
    absl::Status status = ParseSyntheticCheckpoint(text, "file:///art/x.ckpt").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("file:///art/x.ckpt is not a synthetic checkpoint"));
  }
}

TEST(LabCheckpoint, AnOlderWorkersCheckpointNamesTheMissingField) {
  absl::Status status =
      ParseSyntheticCheckpoint(R"({"synthetic": true, "job_id": 7, "steps": 1, "init_checkpoint": ""})",
                               "c")
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("has no \"kind\""));
}

TEST(LabCheckpoint, LocalPathOfUri) {
  EXPECT_EQ(LocalPathOfUri("file:///art/x.ckpt"), "/art/x.ckpt");
  EXPECT_EQ(LocalPathOfUri("/art/x.ckpt"), "/art/x.ckpt");
  EXPECT_EQ(LocalPathOfUri("s3://bucket/x.ckpt"), "");
  EXPECT_EQ(LocalPathOfUri("relative/x.ckpt"), "");
}

// ---------------------------------------------------------------------------
// The example truths against the example sweeps they are written for.

std::string ReadExample(const std::string& name) {
  const std::filesystem::path root =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  std::ifstream in(root / "docs" / "examples" / name);
  EXPECT_TRUE(in.good()) << "cannot read docs/examples/" << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct ExamplePair {
  const char* spec_yaml;
  const char* truth_file;
};

class LabExampleTruths : public ::testing::TestWithParam<ExamplePair> {};

TEST_P(LabExampleTruths, CoverTheirSweepWithSWellInsideTheUnitInterval) {
  const spec::SweepSpec sweep = spec::ParseSweepSpec(GetParam().spec_yaml).value().spec;
  const GroundTruth truth = MustParse(ReadExample(GetParam().truth_file));
  EXPECT_EQ(truth.task, sweep.task.name);
  EXPECT_TRUE(CheckRubric(sweep.task.rubric).ok());
  for (const spec::Scenario& scenario : sweep.evaluation.scenarios) {
    for (const spec::Source& source : sweep.sources) {
      for (int64_t n_nt : source.n_nt) {
        for (int64_t n_tele : sweep.teleop.n_tele) {
          TrainedOn policy{.source = n_nt > 0 ? source.name : "", .n_tele = n_tele, .n_nt = n_nt};
          ASSERT_TRUE(CheckCovers(truth, sweep.task.name, scenario.name, policy).ok())
              << scenario.name << " " << source.name;
          const double s = TrueS(*truth.Find(scenario.name), policy.source, n_tele, n_nt);
          EXPECT_GE(s, 0.05) << scenario.name << " " << source.name << " " << n_tele << " " << n_nt;
          EXPECT_LE(s, 0.95) << scenario.name << " " << source.name << " " << n_tele << " " << n_nt;
          EXPECT_NEAR(ExpectedScore(sweep.task.rubric, s), s, 1e-12);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    LabExamples, LabExampleTruths,
    ::testing::Values(ExamplePair{mixsweep::testing::kPickDualBottlesYaml,
                                  "pick_dual_bottles.truth.yaml"},
                      ExamplePair{mixsweep::testing::kRankRgbBlocksYaml,
                                  "rank_rgb_blocks.truth.yaml"}));

}  // namespace
}  // namespace mixsweep::lab
