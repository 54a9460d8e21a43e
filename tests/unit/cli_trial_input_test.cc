// services/cli/trial_input.h: trial files, the rubric's score, and the
// interactive prompts of `mixsweep eval record`, over string streams.
#include "services/cli/trial_input.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mixsweep/v1/common.pb.h"
#include "mixsweep/v1/evaluation.pb.h"

namespace mixsweep::cli {
namespace {

namespace v1 = mixsweep::v1;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kHeader[] =
    "trial_index,achieved,success,duration_s,intervention,safety_stop,notes,video_uris\n";

// Pick Dual Bottles: 0.5 when the first bottle is grasped, 1 when both are lifted.
v1::Rubric Milestones() {
  v1::Rubric rubric;
  rubric.set_kind(v1::RUBRIC_KIND_MILESTONES);
  auto* a = rubric.add_entries();
  a->set_name("first_bottle_grasped");
  a->set_value(0.5);
  auto* b = rubric.add_entries();
  b->set_name("both_lifted");
  b->set_value(1.0);
  return rubric;
}

// Rank RGB Blocks: three blocks, a third each.
v1::Rubric Items() {
  v1::Rubric rubric;
  rubric.set_kind(v1::RUBRIC_KIND_ITEMS);
  for (const char* name : {"red", "green", "blue"}) {
    auto* e = rubric.add_entries();
    e->set_name(name);
    e->set_value(1.0 / 3);
  }
  return rubric;
}

double Seconds(const google::protobuf::Duration& d) { return d.seconds() + d.nanos() * 1e-9; }

// ---------------------------------------------------------------------------
// Values

TEST(CliParseBoolTest, TakesTheDocumentedWordsInAnyCase) {
  for (const char* yes : {"true", "TRUE", "1", "yes", "Yes", " yes "}) {
    EXPECT_EQ(ParseBool(yes), true) << yes;
  }
  for (const char* no : {"false", "0", "no", "NO"}) EXPECT_EQ(ParseBool(no), false) << no;
  for (const char* bad : {"", "y2", "2", "maybe", "t"}) {
    EXPECT_EQ(ParseBool(bad), std::nullopt) << bad;
  }
}

TEST(CliParseSecondsTest, FiniteNonNegativeDecimalsOnly) {
  EXPECT_EQ(*ParseSeconds("42"), 42.0);
  EXPECT_THAT(*ParseSeconds(" 12.5 "), DoubleNear(12.5, 0));
  EXPECT_THAT(*ParseSeconds("0"), DoubleNear(0, 0));
  EXPECT_THAT(ParseSeconds("nan").status().message(), HasSubstr("not a finite duration"));
  EXPECT_THAT(ParseSeconds("inf").status().message(), HasSubstr("not a finite duration"));
  EXPECT_THAT(ParseSeconds("-1").status().message(), HasSubstr("cannot be negative"));
  EXPECT_THAT(ParseSeconds("12s").status().message(), HasSubstr("not a number"));
  EXPECT_THAT(ParseSeconds("").status().message(), HasSubstr("not a number"));
  EXPECT_THAT(ParseSeconds("90000").status().message(), HasSubstr("more than a day"));
}

TEST(CliSetDurationTest, SplitsSecondsAndNanosAndCarries) {
  google::protobuf::Duration d;
  SetDuration(12.25, &d);
  EXPECT_EQ(d.seconds(), 12);
  EXPECT_EQ(d.nanos(), 250000000);
  SetDuration(0.9999999999, &d);  // rounds to a whole second
  EXPECT_EQ(d.seconds(), 1);
  EXPECT_EQ(d.nanos(), 0);
}

TEST(CliSplitListTest, TrimsAndDropsEmptyNames) {
  EXPECT_THAT(SplitList("a; b ;;c;", ';'), ElementsAre("a", "b", "c"));
  EXPECT_THAT(SplitList("", ';'), IsEmpty());
  EXPECT_THAT(SplitList("x,y", ','), ElementsAre("x", "y"));
}

// ---------------------------------------------------------------------------
// RubricScore

TEST(CliRubricScoreTest, MilestonesScoreTheLastStageReached) {
  EXPECT_EQ(RubricScore(Milestones(), {}), 0.0);
  EXPECT_EQ(RubricScore(Milestones(), {"first_bottle_grasped"}), 0.5);
  EXPECT_EQ(RubricScore(Milestones(), {"both_lifted"}), 1.0);
  // Stages given as a prefix, in order: the last one counts.
  EXPECT_EQ(RubricScore(Milestones(), {"first_bottle_grasped", "both_lifted"}), 1.0);
  EXPECT_EQ(RubricScore(Milestones(), {"unknown"}), 0.0);
}

TEST(CliRubricScoreTest, ItemsAddTheirWeightsUpToOne) {
  EXPECT_THAT(RubricScore(Items(), {"red"}), DoubleNear(1.0 / 3, 1e-12));
  EXPECT_THAT(RubricScore(Items(), {"blue", "red"}), DoubleNear(2.0 / 3, 1e-12));
  EXPECT_LE(RubricScore(Items(), {"red", "green", "blue"}), 1.0);
  EXPECT_THAT(RubricScore(Items(), {"red", "green", "blue"}), DoubleNear(1.0, 1e-12));
}

// ---------------------------------------------------------------------------
// CorrectedInput

TEST(CliCorrectionTest, ChangesWhatIsGivenAndKeepsTheRestAndTheIndex) {
  v1::TrialInput stored;
  stored.set_trial_index(6);
  stored.add_achieved("first_bottle_grasped");
  stored.set_success(false);
  stored.mutable_duration()->set_seconds(41);
  stored.set_operator_("ana");
  stored.set_robot_id("aloha-1");
  stored.set_notes("slipped");
  stored.add_video_uris("file:///v/6.mp4");

  TrialCorrection change;
  change.achieved = {"both_lifted"};
  change.success = true;
  const v1::TrialInput corrected = CorrectedInput(stored, change);
  EXPECT_EQ(corrected.trial_index(), 6);  // the server requires the same index
  EXPECT_THAT(corrected.achieved(), ElementsAre("both_lifted"));
  EXPECT_TRUE(corrected.success());
  EXPECT_EQ(corrected.duration().seconds(), 41);
  EXPECT_EQ(corrected.operator_(), "ana");
  EXPECT_EQ(corrected.robot_id(), "aloha-1");
  EXPECT_EQ(corrected.notes(), "slipped");
  EXPECT_THAT(corrected.video_uris(), ElementsAre("file:///v/6.mp4"));

  TrialCorrection more;  // achieved none; every other field changed
  more.intervention = true;
  more.safety_stop = true;
  more.duration_s = 12.5;
  more.notes = "";
  more.operator_name = "ben";
  more.robot_id = "aloha-2";
  const v1::TrialInput all = CorrectedInput(stored, more);
  EXPECT_THAT(all.achieved(), IsEmpty());
  EXPECT_FALSE(all.success());  // not given: kept
  EXPECT_TRUE(all.intervention());
  EXPECT_TRUE(all.safety_stop());
  EXPECT_EQ(all.duration().seconds(), 12);
  EXPECT_EQ(all.duration().nanos(), 500000000);
  EXPECT_EQ(all.notes(), "");
  EXPECT_EQ(all.operator_(), "ben");
  EXPECT_EQ(all.robot_id(), "aloha-2");
}

// ---------------------------------------------------------------------------
// ParseTrialFile

TEST(CliTrialFileTest, ReadsAGoodFile) {
  const std::string text = absl::StrCat(
      kHeader, "0,first_bottle_grasped,false,41.5,no,no,slipped,file:///v/0.mp4\n",
      "1,both_lifted,TRUE,30,0,1,\"fast, clean \"\"run\"\"\",file:///v/1a.mp4; file:///v/1b.mp4\n",
      "2,,no,,,,,\n");
  auto file = ParseTrialFile(text);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->trials.size(), 3u);
  EXPECT_THAT(file->lines, ElementsAre(2, 3, 4));

  const v1::TrialInput& t0 = file->trials[0];
  EXPECT_EQ(t0.trial_index(), 0);
  EXPECT_THAT(t0.achieved(), ElementsAre("first_bottle_grasped"));
  EXPECT_FALSE(t0.success());
  EXPECT_TRUE(t0.has_duration());
  EXPECT_DOUBLE_EQ(Seconds(t0.duration()), 41.5);
  EXPECT_FALSE(t0.intervention());
  EXPECT_EQ(t0.notes(), "slipped");
  EXPECT_THAT(t0.video_uris(), ElementsAre("file:///v/0.mp4"));

  const v1::TrialInput& t1 = file->trials[1];
  EXPECT_TRUE(t1.success());
  EXPECT_FALSE(t1.intervention());
  EXPECT_TRUE(t1.safety_stop());
  EXPECT_EQ(t1.notes(), "fast, clean \"run\"");
  EXPECT_THAT(t1.video_uris(), ElementsAre("file:///v/1a.mp4", "file:///v/1b.mp4"));

  const v1::TrialInput& t2 = file->trials[2];
  EXPECT_EQ(t2.trial_index(), 2);
  EXPECT_THAT(t2.achieved(), IsEmpty());
  EXPECT_FALSE(t2.has_duration());  // empty: not recorded
  EXPECT_FALSE(t2.intervention());  // empty: false
  EXPECT_FALSE(t2.safety_stop());
}

TEST(CliTrialFileTest, ColumnsMayComeInAnyOrderWithCrlfAndABom) {
  const std::string text =
      "\xEF\xBB\xBFsuccess,trial_index,notes,video_uris,achieved,duration_s,intervention,"
      "safety_stop\r\n"
      "yes,4,,,red;blue,10,no,no\r\n";
  auto file = ParseTrialFile(text);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->trials.size(), 1u);
  EXPECT_EQ(file->trials[0].trial_index(), 4);
  EXPECT_TRUE(file->trials[0].success());
  EXPECT_THAT(file->trials[0].achieved(), ElementsAre("red", "blue"));
}

// Each kind of bad line is refused with its line and column named.
struct BadFile {
  std::string name;
  std::string text;
  std::string where;    // "line L, column C (name)" or "line L"
  std::string message;  // part of the explanation
};

class CliTrialFileBadTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(CliTrialFileBadTest, RefusedNamingLineAndColumn) {
  auto file = ParseTrialFile(GetParam().text);
  ASSERT_FALSE(file.ok()) << GetParam().name;
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr(GetParam().where));
  EXPECT_THAT(file.status().message(), HasSubstr(GetParam().message));
}

const std::string kGood = "0,both_lifted,yes,30,no,no,,\n";

INSTANTIATE_TEST_SUITE_P(
    EveryKind, CliTrialFileBadTest,
    ::testing::Values(
        BadFile{"empty", "", "empty", "trial_index,achieved"},
        BadFile{"header_only", kHeader, "line 1", "no trials"},
        BadFile{"unknown_column",
                "trial_index,achieved,success,duration_s,intervention,safety_stop,notes,"
                "video_uris,score\n" +
                    kGood,
                "line 1, column 9", "unknown column \"score\""},
        BadFile{"missing_column",
                "trial_index,achieved,success,duration_s,intervention,safety_stop,notes\n",
                "line 1", "no column video_uris"},
        BadFile{"repeated_column",
                "trial_index,achieved,success,duration_s,intervention,safety_stop,notes,"
                "video_uris,success\n",
                "line 1, column 9", "also column 3"},
        BadFile{"too_few_fields", absl::StrCat(kHeader, kGood, "1,both_lifted,yes\n"), "line 3",
                "3 fields, the header has 8"},
        BadFile{"too_many_fields", absl::StrCat(kHeader, "0,,yes,1,no,no,,,extra\n"), "line 2",
                "9 fields"},
        BadFile{"negative_index", absl::StrCat(kHeader, "-1,,yes,1,no,no,,\n"),
                "line 2, column 1 (trial_index)", "not a trial index"},
        BadFile{"fractional_index", absl::StrCat(kHeader, kGood, "1.5,,yes,1,no,no,,\n"),
                "line 3, column 1 (trial_index)", "\"1.5\""},
        BadFile{"empty_index", absl::StrCat(kHeader, ",,yes,1,no,no,,\n"),
                "line 2, column 1 (trial_index)", "not a trial index"},
        BadFile{"index_twice", absl::StrCat(kHeader, kGood, "1,,no,1,no,no,,\n", kGood),
                "line 4, column 1 (trial_index)", "trial 0 is also on line 2"},
        BadFile{"bad_success", absl::StrCat(kHeader, "0,,maybe,1,no,no,,\n"),
                "line 2, column 3 (success)", "\"maybe\""},
        BadFile{"empty_success", absl::StrCat(kHeader, "0,,,1,no,no,,\n"),
                "line 2, column 3 (success)", "empty"},
        BadFile{"bad_intervention", absl::StrCat(kHeader, "0,,yes,1,sometimes,no,,\n"),
                "line 2, column 5 (intervention)", "true/false"},
        BadFile{"bad_safety_stop", absl::StrCat(kHeader, "0,,yes,1,no,2,,\n"),
                "line 2, column 6 (safety_stop)", "\"2\""},
        BadFile{"duration_text", absl::StrCat(kHeader, "0,,yes,12s,no,no,,\n"),
                "line 2, column 4 (duration_s)", "not a number"},
        BadFile{"duration_nan", absl::StrCat(kHeader, "0,,yes,nan,no,no,,\n"),
                "line 2, column 4 (duration_s)", "not a finite duration"},
        BadFile{"duration_inf", absl::StrCat(kHeader, "0,,yes,inf,no,no,,\n"),
                "line 2, column 4 (duration_s)", "not a finite duration"},
        BadFile{"duration_negative", absl::StrCat(kHeader, "0,,yes,-3,no,no,,\n"),
                "line 2, column 4 (duration_s)", "cannot be negative"},
        BadFile{"achieved_twice", absl::StrCat(kHeader, "0,red;red,yes,3,no,no,,\n"),
                "line 2, column 2 (achieved)", "\"red\" is named twice"},
        BadFile{"stray_quote", absl::StrCat(kHeader, kGood, "1,,yes,1,no,no,say \"hi\",\n"),
                "line 3, column 7", "quote inside an unquoted field"},
        BadFile{"unclosed_quote", absl::StrCat(kHeader, kGood, "1,,yes,1,no,no,\"open,\n"),
                "line 3, column 7", "never closed"}),
    [](const ::testing::TestParamInfo<BadFile>& info) { return info.param.name; });

TEST(CliTrialFileTest, ColumnsAreTheDocumentedOnes) {
  EXPECT_THAT(TrialFileColumns(),
              ElementsAre("trial_index", "achieved", "success", "duration_s", "intervention",
                          "safety_stop", "notes", "video_uris"));
}

// ---------------------------------------------------------------------------
// PromptTrial

struct Session {
  PromptedTrial result;
  std::string shown;
};

Session Prompt(const v1::Rubric& rubric, const std::string& answers, int index = 3) {
  std::istringstream in(answers);
  std::ostringstream out;
  Session s;
  s.result = PromptTrial(rubric, {"P-7K2Q", index, 10}, in, out);
  s.shown = out.str();
  return s;
}

TEST(CliPromptTest, MilestonesAskForTheLastStageFromANumberedList) {
  // Stage 2, success default (score 1: yes), 42 s, intervention default,
  // safety stop default, notes, send default.
  Session s = Prompt(Milestones(), "2\n\n42\n\n\nclean run\n\n");
  ASSERT_EQ(s.result.outcome, PromptedTrial::Outcome::kTrial) << s.shown;
  EXPECT_THAT(s.shown, HasSubstr("Trial 4 of 10 · P-7K2Q"));
  EXPECT_THAT(s.shown, HasSubstr("0) none (score 0)"));
  EXPECT_THAT(s.shown, HasSubstr("1) first_bottle_grasped (score 0.5)"));
  EXPECT_THAT(s.shown, HasSubstr("2) both_lifted (score 1)"));
  EXPECT_THAT(s.shown, HasSubstr("Success? [Y/n]"));  // default from score == 1
  const v1::TrialInput& t = s.result.input;
  EXPECT_EQ(t.trial_index(), 3);
  EXPECT_THAT(t.achieved(), ElementsAre("both_lifted"));
  EXPECT_EQ(s.result.score, 1.0);
  EXPECT_TRUE(t.success());
  EXPECT_DOUBLE_EQ(Seconds(t.duration()), 42.0);
  EXPECT_FALSE(t.intervention());
  EXPECT_FALSE(t.safety_stop());
  EXPECT_EQ(t.notes(), "clean run");
  // The computed score is shown before sending.
  EXPECT_THAT(s.shown, HasSubstr("-> trial 3: reached both_lifted · score 1 · success yes · 42s"));
}

TEST(CliPromptTest, StageZeroIsNoneAndSuccessDefaultsToNo) {
  Session s = Prompt(Milestones(), "0\n\n\ny\nn\n\ny\n");
  ASSERT_EQ(s.result.outcome, PromptedTrial::Outcome::kTrial) << s.shown;
  EXPECT_THAT(s.result.input.achieved(), IsEmpty());
  EXPECT_EQ(s.result.score, 0.0);
  EXPECT_THAT(s.shown, HasSubstr("Success? [y/N]"));
  EXPECT_FALSE(s.result.input.success());
  EXPECT_FALSE(s.result.input.has_duration());  // empty: not recorded
  EXPECT_TRUE(s.result.input.intervention());
  EXPECT_FALSE(s.result.input.safety_stop());
}

TEST(CliPromptTest, ItemsAskYesOrNoPerItemAndAddWeights) {
  Session s = Prompt(Items(), "y\nn\nyes\n\n15\nn\ny\n\n\n");
  ASSERT_EQ(s.result.outcome, PromptedTrial::Outcome::kTrial) << s.shown;
  EXPECT_THAT(s.shown, HasSubstr("red (weight 0.3333)? [y/n]"));
  EXPECT_THAT(s.shown, HasSubstr("blue (weight 0.3333)? [y/n]"));
  EXPECT_THAT(s.result.input.achieved(), ElementsAre("red", "blue"));
  EXPECT_THAT(s.result.score, DoubleNear(2.0 / 3, 1e-12));
  EXPECT_THAT(s.shown, HasSubstr("Score: 0.6667"));
  EXPECT_FALSE(s.result.input.success());  // default: score < 1
  EXPECT_TRUE(s.result.input.safety_stop());
}

TEST(CliPromptTest, BadAnswersAreExplainedAndAskedAgain) {
  // Stage "7" and "x" are refused; "maybe" is not y/n; "-5" and "nan" are
  // not durations.
  Session s = Prompt(Milestones(), "7\nx\n1\nmaybe\ny\n-5\nnan\n20\n\n\n\n\n");
  ASSERT_EQ(s.result.outcome, PromptedTrial::Outcome::kTrial) << s.shown;
  EXPECT_THAT(s.shown, HasSubstr("please type a number from 0 to 2"));
  EXPECT_THAT(s.shown, HasSubstr("please answer y or n"));
  EXPECT_THAT(s.shown, HasSubstr("cannot be negative"));
  EXPECT_THAT(s.shown, HasSubstr("not a finite duration"));
  EXPECT_THAT(s.result.input.achieved(), ElementsAre("first_bottle_grasped"));
  EXPECT_TRUE(s.result.input.success());
  EXPECT_DOUBLE_EQ(Seconds(s.result.input.duration()), 20.0);
}

TEST(CliPromptTest, AnsweringNoToSendAsksTheTrialAgain) {
  // First pass: stage 1; not sent; second pass: stage 2.
  Session s = Prompt(Milestones(), "1\n\n\n\n\n\nn\n2\n\n\n\n\n\n\n");
  ASSERT_EQ(s.result.outcome, PromptedTrial::Outcome::kTrial) << s.shown;
  EXPECT_THAT(s.result.input.achieved(), ElementsAre("both_lifted"));
  EXPECT_EQ(s.result.score, 1.0);
}

TEST(CliPromptTest, QQuitsAtAnyQuestion) {
  EXPECT_EQ(Prompt(Milestones(), "q\n").result.outcome, PromptedTrial::Outcome::kQuit);
  EXPECT_EQ(Prompt(Milestones(), "2\n\nQuit\n").result.outcome, PromptedTrial::Outcome::kQuit);
  EXPECT_EQ(Prompt(Items(), "y\nq\n").result.outcome, PromptedTrial::Outcome::kQuit);
}

TEST(CliPromptTest, InputEndingBeforeATrialQuitsButMidTrialIsReported) {
  EXPECT_EQ(Prompt(Milestones(), "").result.outcome, PromptedTrial::Outcome::kQuit);
  EXPECT_EQ(Prompt(Milestones(), "2\n\n42\n").result.outcome, PromptedTrial::Outcome::kInputEnded);
}

TEST(CliDescribeTrialTest, SaysWhatWasAchievedAndTheFlags) {
  v1::TrialInput t;
  t.set_trial_index(5);
  t.add_achieved("red");
  t.add_achieved("green");
  t.set_intervention(true);
  t.set_safety_stop(true);
  EXPECT_EQ(DescribeTrial(Items(), t, 2.0 / 3),
            "trial 5: achieved red, green · score 0.6667 · success no · no duration · "
            "intervention · SAFETY STOP");
}

}  // namespace
}  // namespace mixsweep::cli
