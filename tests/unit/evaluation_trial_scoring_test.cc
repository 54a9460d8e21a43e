// Trial scoring: scores follow from the rubric (milestones, items), every
// field is checked with its path named, and AttainableScores lists exactly
// what ScoreTrial can return.
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/evaluation/trial_scoring.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::evaluation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Pick Dual Bottles (seed 000): two ordered stages.
spec::Rubric PickDualBottles() {
  return {.kind = spec::RubricKind::kMilestones,
          .entries = {{.name = "first_bottle_grasped", .value = 0.5},
                      {.name = "both_bottles_lifted", .value = 1.0}}};
}

spec::Rubric ThreeStages() {
  return {.kind = spec::RubricKind::kMilestones,
          .entries = {{.name = "reach", .value = 0.25},
                      {.name = "grasp", .value = 0.5},
                      {.name = "place", .value = 1.0}}};
}

// Rank RGB Blocks: three blocks, a third each.
spec::Rubric RankRgbBlocks() {
  return {.kind = spec::RubricKind::kItems,
          .entries = {{.name = "red", .value = 1.0 / 3},
                      {.name = "green", .value = 1.0 / 3},
                      {.name = "blue", .value = 1.0 / 3}}};
}

TrialValues Trial(std::vector<std::string> achieved) {
  return {.trial_index = 0, .achieved = std::move(achieved)};
}

absl::StatusOr<double> Score(const spec::Rubric& rubric, const TrialValues& trial,
                             const TrialLimits& limits = {}) {
  return ScoreTrial(rubric, trial, /*trials_wanted=*/10, "trials[2]", limits);
}

// The error message of a refused trial ("" if it was accepted).
std::string ErrorOf(const absl::StatusOr<double>& score) {
  if (score.ok()) return "";
  EXPECT_EQ(score.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(score.status().message());
}

TEST(EvaluationTrialScoring, MilestonesNothingAchievedScoresZero) {
  absl::StatusOr<double> score = Score(PickDualBottles(), Trial({}));
  ASSERT_TRUE(score.ok()) << score.status();
  EXPECT_EQ(*score, 0.0);
}

TEST(EvaluationTrialScoring, MilestonesOneStageScoresItsValue) {
  EXPECT_EQ(*Score(PickDualBottles(), Trial({"first_bottle_grasped"})), 0.5);
  // The last stage alone means every stage before it was reached too.
  EXPECT_EQ(*Score(PickDualBottles(), Trial({"both_bottles_lifted"})), 1.0);
  EXPECT_EQ(*Score(ThreeStages(), Trial({"grasp"})), 0.5);
}

TEST(EvaluationTrialScoring, MilestonesPrefixScoresItsLastStage) {
  EXPECT_EQ(*Score(PickDualBottles(), Trial({"first_bottle_grasped", "both_bottles_lifted"})),
            1.0);
  EXPECT_EQ(*Score(ThreeStages(), Trial({"reach", "grasp"})), 0.5);
  EXPECT_EQ(*Score(ThreeStages(), Trial({"reach", "grasp", "place"})), 1.0);
}

TEST(EvaluationTrialScoring, MilestonesUnknownStageNamesFieldAndStages) {
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), Trial({"first_bottle_grasped", "lifted"}))),
            "trials[2].achieved[1]: unknown stage \"lifted\"; the stages are "
            "first_bottle_grasped, both_bottles_lifted");
}

TEST(EvaluationTrialScoring, MilestonesDuplicateStageRefused) {
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(),
                          Trial({"first_bottle_grasped", "first_bottle_grasped"}))),
            "trials[2].achieved[1]: stage \"first_bottle_grasped\" is listed twice");
}

TEST(EvaluationTrialScoring, MilestonesOutOfOrderRefused) {
  const std::string error =
      ErrorOf(Score(PickDualBottles(), Trial({"both_bottles_lifted", "first_bottle_grasped"})));
  EXPECT_THAT(error, StartsWith("trials[2].achieved[0]: expected stage \"first_bottle_grasped\""));
}

TEST(EvaluationTrialScoring, MilestonesGapIsNotAPrefix) {
  // Reach then place skips grasp: not what "every stage reached" can be.
  EXPECT_THAT(ErrorOf(Score(ThreeStages(), Trial({"reach", "place"}))),
              StartsWith("trials[2].achieved[1]: expected stage \"grasp\" here, got \"place\""));
  // A run of stages that does not start at the first is not a prefix either.
  EXPECT_THAT(ErrorOf(Score(ThreeStages(), Trial({"grasp", "place"}))),
              StartsWith("trials[2].achieved[0]: expected stage \"reach\""));
}

TEST(EvaluationTrialScoring, ItemsAddUpInAnyOrder) {
  const double one_third = 1.0 / 3;
  EXPECT_EQ(*Score(RankRgbBlocks(), Trial({})), 0.0);
  EXPECT_EQ(*Score(RankRgbBlocks(), Trial({"green"})), one_third);
  const double red_blue = *Score(RankRgbBlocks(), Trial({"red", "blue"}));
  EXPECT_EQ(red_blue, *Score(RankRgbBlocks(), Trial({"blue", "red"})));  // bit for bit
  EXPECT_DOUBLE_EQ(red_blue, 2.0 / 3);
  EXPECT_EQ(*Score(RankRgbBlocks(), Trial({"blue", "red", "green"})), 1.0);
}

TEST(EvaluationTrialScoring, ItemsSumCappedAtOneForRounding) {
  // In rubric order, 0.2 + 0.4 + 0.3 + 0.1 is 1.0000000000000002 in doubles.
  const spec::Rubric rubric{.kind = spec::RubricKind::kItems,
                            .entries = {{.name = "a", .value = 0.2},
                                        {.name = "b", .value = 0.4},
                                        {.name = "c", .value = 0.3},
                                        {.name = "d", .value = 0.1}}};
  double uncapped = 0.0;
  for (const spec::RubricEntry& e : rubric.entries) uncapped += e.value;
  ASSERT_GT(uncapped, 1.0);  // the premise of this test
  EXPECT_EQ(*Score(rubric, Trial({"d", "c", "b", "a"})), 1.0);
}

TEST(EvaluationTrialScoring, ItemsUnknownOrDuplicateRefused) {
  EXPECT_EQ(ErrorOf(Score(RankRgbBlocks(), Trial({"red", "purple"}))),
            "trials[2].achieved[1]: unknown item \"purple\"; the items are red, green, blue");
  EXPECT_EQ(ErrorOf(Score(RankRgbBlocks(), Trial({"red", "blue", "red"}))),
            "trials[2].achieved[2]: item \"red\" is listed twice");
}

TEST(EvaluationTrialScoring, SuccessFlagDoesNotChangeTheScore) {
  TrialValues trial = Trial({"first_bottle_grasped"});
  trial.success = true;
  EXPECT_EQ(*Score(PickDualBottles(), trial), 0.5);
}

TEST(EvaluationTrialScoring, TrialIndexMustBeWithinTheRequest) {
  TrialValues trial = Trial({});
  trial.trial_index = 9;
  EXPECT_TRUE(Score(PickDualBottles(), trial).ok());
  trial.trial_index = 10;
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
              StartsWith("trials[2].trial_index: 10 is outside [0, 10)"));
  trial.trial_index = -1;
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)), StartsWith("trials[2].trial_index: -1"));
  // A request that wants no trials takes none.
  trial.trial_index = 0;
  EXPECT_FALSE(ScoreTrial(PickDualBottles(), trial, /*trials_wanted=*/0, "t").ok());
}

TEST(EvaluationTrialScoring, DurationWithinLimits) {
  TrialValues trial = Trial({});
  const TrialLimits limits;
  trial.duration_ms = 0;
  EXPECT_TRUE(Score(PickDualBottles(), trial).ok());
  trial.duration_ms = limits.max_duration_ms;
  EXPECT_TRUE(Score(PickDualBottles(), trial).ok());
  trial.duration_ms = limits.max_duration_ms + 1;
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)), StartsWith("trials[2].duration_ms: "));
  trial.duration_ms = -1;
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
              StartsWith("trials[2].duration_ms: -1 is outside"));
}

TEST(EvaluationTrialScoring, NameLengthsLimited) {
  const TrialLimits limits{.max_name_bytes = 8};
  TrialValues trial = Trial({});
  trial.operator_name = std::string(8, 'o');
  trial.robot_id = std::string(8, 'r');
  EXPECT_TRUE(Score(PickDualBottles(), trial, limits).ok());

  trial.operator_name = std::string(9, 'o');
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial, limits)),
            "trials[2].operator_name: 9 bytes, at most 8 allowed");
  trial.operator_name = "ok";
  trial.robot_id = std::string(9, 'r');
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial, limits)),
              StartsWith("trials[2].robot_id: 9 bytes"));
  // An over-long achieved name is refused for its length, before lookup.
  trial.robot_id = "ok";
  trial.achieved = {std::string(9, 'x')};
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial, limits)),
              StartsWith("trials[2].achieved[0]: 9 bytes"));
}

TEST(EvaluationTrialScoring, InvalidUtf8Refused) {
  const std::vector<std::string> malformed = {
      "\xC0\xAF",          // overlong '/'
      "\xED\xA0\x80",      // a UTF-16 surrogate
      "ab\xE2\x82",        // truncated euro sign
      "\x80",              // a lone continuation byte
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xFF",
  };
  for (const std::string& bad : malformed) {
    TrialValues trial = Trial({});
    trial.operator_name = bad;
    EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
                StartsWith("trials[2].operator_name: not valid UTF-8 at byte"))
        << "for the bytes of " << testing::PrintToString(bad);
  }
  TrialValues trial = Trial({});
  trial.robot_id = "ab\xE2\x82";
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial)),
            "trials[2].robot_id: not valid UTF-8 at byte 2");
}

TEST(EvaluationTrialScoring, MultiByteUtf8Accepted) {
  TrialValues trial = Trial({});
  trial.operator_name = "Zo\xC3\xAB \xE6\x93\x8D\xE4\xBD\x9C";  // "Zoë 操作"
  trial.notes = "grip slipped \xF0\x9F\xA4\x96";                 // an emoji (4 bytes)
  EXPECT_TRUE(Score(PickDualBottles(), trial).ok());
}

TEST(EvaluationTrialScoring, ControlCharactersOnlyInNotesAsLineBreaksAndTabs) {
  TrialValues trial = Trial({});
  trial.notes = "first line\nsecond\tcolumn\r\nthird";
  EXPECT_TRUE(Score(PickDualBottles(), trial).ok());

  trial.notes = "bell\x07";
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial)),
            "trials[2].notes: control character U+0007 at byte 4");
  trial.notes = "";
  trial.operator_name = "two\nlines";
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial)),
            "trials[2].operator_name: control character U+000A at byte 3");
  trial.operator_name = "nul";
  trial.operator_name.push_back('\0');
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
              StartsWith("trials[2].operator_name: control character U+0000"));
  trial.operator_name = "c1\xC2\x85";  // NEL, a C1 control
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
              StartsWith("trials[2].operator_name: control character U+0085"));
  trial.operator_name = "";
  trial.achieved = {"first\tbottle"};
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial)),
              StartsWith("trials[2].achieved[0]: control character U+0009"));
}

TEST(EvaluationTrialScoring, NotesLengthLimited) {
  const TrialLimits limits{.max_notes_bytes = 10};
  TrialValues trial = Trial({});
  trial.notes = std::string(10, 'n');
  EXPECT_TRUE(Score(PickDualBottles(), trial, limits).ok());
  trial.notes += "n";
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial, limits)),
            "trials[2].notes: 11 bytes, at most 10 allowed");
}

TEST(EvaluationTrialScoring, VideoUrisLimited) {
  const TrialLimits limits{.max_video_uris = 2, .max_uri_bytes = 20};
  TrialValues trial = Trial({});
  trial.video_uris = {"s3://v/1.mp4", "s3://v/2.mp4"};
  EXPECT_TRUE(Score(PickDualBottles(), trial, limits).ok());

  trial.video_uris.push_back("s3://v/3.mp4");
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial, limits)),
            "trials[2].video_uris: 3 URIs, at most 2 allowed");
  trial.video_uris = {"s3://v/1.mp4", "s3://videos/far/too/long.mp4"};
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial, limits)),
              StartsWith("trials[2].video_uris[1]: 28 bytes"));
  trial.video_uris = {""};
  EXPECT_EQ(ErrorOf(Score(PickDualBottles(), trial, limits)),
            "trials[2].video_uris[0]: empty URI");
  trial.video_uris = {"s3://v/\n.mp4"};
  EXPECT_THAT(ErrorOf(Score(PickDualBottles(), trial, limits)),
              StartsWith("trials[2].video_uris[0]: control character"));
}

TEST(EvaluationTrialScoring, EmptyPrefixNamesTheBareField) {
  TrialValues trial = Trial({"lifted"});
  absl::StatusOr<double> score = ScoreTrial(PickDualBottles(), trial, 10, "");
  EXPECT_THAT(ErrorOf(score), StartsWith("achieved[0]: unknown stage"));
}

TEST(EvaluationTrialScoring, AttainableMilestoneScores) {
  EXPECT_THAT(AttainableScores(PickDualBottles()), ElementsAre(0.0, 0.5, 1.0));
  EXPECT_THAT(AttainableScores(ThreeStages()), ElementsAre(0.0, 0.25, 0.5, 1.0));
}

TEST(EvaluationTrialScoring, AttainableItemScoresAreDistinctSubsetSums) {
  // Three thirds: 8 subsets, 4 distinct sums.
  const std::vector<double> thirds = AttainableScores(RankRgbBlocks());
  ASSERT_EQ(thirds.size(), 4u);
  EXPECT_EQ(thirds[0], 0.0);
  EXPECT_DOUBLE_EQ(thirds[1], 1.0 / 3);
  EXPECT_DOUBLE_EQ(thirds[2], 2.0 / 3);
  EXPECT_EQ(thirds[3], 1.0);

  const spec::Rubric halves{.kind = spec::RubricKind::kItems,
                            .entries = {{.name = "a", .value = 0.5},
                                        {.name = "b", .value = 0.25},
                                        {.name = "c", .value = 0.25}}};
  EXPECT_THAT(AttainableScores(halves), ElementsAre(0.0, 0.25, 0.5, 0.75, 1.0));
}

TEST(EvaluationTrialScoring, AttainableScoresMergeRoundingNeighbours) {
  // 0.1 + 0.2 = 0.30000000000000004 and 0.3 are one score, as is every
  // other pair of subsets whose sums differ only by rounding.
  const spec::Rubric tenths{.kind = spec::RubricKind::kItems,
                            .entries = {{.name = "a", .value = 0.1},
                                        {.name = "b", .value = 0.2},
                                        {.name = "c", .value = 0.3},
                                        {.name = "d", .value = 0.4}}};
  const std::vector<double> scores = AttainableScores(tenths);
  ASSERT_EQ(scores.size(), 11u);  // 0, 0.1, ..., 1.0
  for (size_t i = 0; i < scores.size(); ++i) EXPECT_NEAR(scores[i], 0.1 * i, 1e-12);
}

TEST(EvaluationTrialScoring, EveryScoreTrialResultIsAttainable) {
  // Each subset of items, scored by ScoreTrial, is in the list (within the
  // merge tolerance), and the list is strictly ascending.
  const spec::Rubric rubric{.kind = spec::RubricKind::kItems,
                            .entries = {{.name = "a", .value = 0.2},
                                        {.name = "b", .value = 0.4},
                                        {.name = "c", .value = 0.3},
                                        {.name = "d", .value = 0.1}}};
  const std::vector<double> attainable = AttainableScores(rubric);
  for (size_t i = 1; i < attainable.size(); ++i) EXPECT_LT(attainable[i - 1], attainable[i]);
  EXPECT_EQ(attainable.back(), 1.0);
  for (unsigned mask = 0; mask < 16; ++mask) {
    std::vector<std::string> achieved;
    for (unsigned i = 0; i < 4; ++i) {
      if (mask & (1u << i)) achieved.push_back(rubric.entries[i].name);
    }
    const double score = *Score(rubric, Trial(achieved));
    bool found = false;
    for (double a : attainable) found = found || std::abs(a - score) <= 1e-9;
    EXPECT_TRUE(found) << "score " << score << " of subset " << mask;
  }
}

TEST(EvaluationTrialScoring, AttainableScoresEnumerateAtMostSixteenItems) {
  // 20 items of distinct powers-of-two weights: all 2^20 sums would be
  // distinct; only the first 16 items are enumerated.
  spec::Rubric many{.kind = spec::RubricKind::kItems};
  double weight = 1.0;
  for (int i = 0; i < 20; ++i) {
    weight /= 2;
    many.entries.push_back({.name = "item" + std::to_string(i), .value = weight});
  }
  const std::vector<double> scores = AttainableScores(many);
  EXPECT_EQ(scores.size(), 65536u);
  EXPECT_EQ(scores.front(), 0.0);
}

TEST(EvaluationTrialScoring, BatchScoresEveryTrialInOrder) {
  std::vector<TrialValues> trials = {Trial({"first_bottle_grasped"}), Trial({})};
  trials[1].trial_index = 1;
  absl::StatusOr<std::vector<double>> scores =
      ScoreTrials(PickDualBottles(), trials, /*trials_wanted=*/10);
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_THAT(*scores, ElementsAre(0.5, 0.0));
}

TEST(EvaluationTrialScoring, BatchRefusedWholeByItsFirstBadTrial) {
  std::vector<TrialValues> trials = {Trial({}), Trial({"lifted"}), Trial({})};
  trials[1].trial_index = 1;
  trials[2].trial_index = 2;
  absl::StatusOr<std::vector<double>> scores = ScoreTrials(PickDualBottles(), trials, 10);
  ASSERT_FALSE(scores.ok());
  EXPECT_THAT(std::string(scores.status().message()),
              StartsWith("trials[1].achieved[0]: unknown stage"));
}

TEST(EvaluationTrialScoring, BatchRefusesATrialIndexTwice) {
  std::vector<TrialValues> trials = {Trial({}), Trial({"both_bottles_lifted"})};
  absl::StatusOr<std::vector<double>> scores = ScoreTrials(PickDualBottles(), trials, 10);
  ASSERT_FALSE(scores.ok());
  EXPECT_EQ(scores.status().message(), "trials[1].trial_index: 0 appears twice in this request");
}

}  // namespace
}  // namespace mixsweep::evaluation
