// services/cli/render_eval.h: robots, the operator's batch, the plan,
// results, eta estimates and the recommended mix, as tables and CSV.
#include "services/cli/render_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/render_lines.h"
#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/utilization.pb.h"
#include "services/cli/csv.h"

namespace mixsweep::cli {
namespace {

using ::mixsweep::cli::render_test::ExpectNoTrailingBlanks;
using ::mixsweep::cli::render_test::Lines;

namespace v1 = mixsweep::v1;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The CSV text parsed back, header first.
std::vector<std::vector<std::string>> Csv(const std::string& text) {
  auto records = ParseCsv(text);
  EXPECT_TRUE(records.ok()) << records.status();
  std::vector<std::vector<std::string>> rows;
  if (records.ok()) {
    for (const CsvRecord& r : *records) rows.push_back(r.fields);
  }
  return rows;
}

// The cell of `row` under `column` of the CSV's header.
std::string Cell(const std::vector<std::vector<std::string>>& csv, size_t row,
                 const std::string& column) {
  const auto& header = csv.at(0);
  auto it = std::find(header.begin(), header.end(), column);
  if (it == header.end()) return "<no column " + column + ">";
  return csv.at(row).at(static_cast<size_t>(it - header.begin()));
}

// ---------------------------------------------------------------------------
// Numbers

TEST(RenderEvalFormatValueTest, FourSignificantDigitsIntegersInFull) {
  EXPECT_EQ(FormatValue(12.500000000000004), "12.5");  // Table 1's 12.5 in double
  EXPECT_EQ(FormatValue(0.63333333), "0.6333");
  EXPECT_EQ(FormatValue(-3.25), "-3.25");
  EXPECT_EQ(FormatValue(200), "200");
  EXPECT_EQ(FormatValue(123456.7), "123457");
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(kInf), "inf");
  EXPECT_EQ(FormatValue(-kInf), "-inf");
  EXPECT_EQ(FormatValue(std::nan("")), "nan");
}

TEST(RenderEvalExactValueTest, ShortestTextThatReadsBackTheSameDouble) {
  EXPECT_EQ(ExactValue(0.5), "0.5");
  EXPECT_EQ(ExactValue(12.500000000000004), "12.500000000000004");
  EXPECT_EQ(ExactValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(std::stod(ExactValue(0.1 + 0.2)), 0.1 + 0.2);
  EXPECT_EQ(ExactValue(kInf), "inf");
}

// ---------------------------------------------------------------------------
// Eta and its interval

v1::Eta Defined(double value) {
  v1::Eta eta;
  eta.set_status(v1::Eta::STATUS_DEFINED);
  eta.set_value(value);
  return eta;
}

v1::Eta Undefined(v1::Eta::Status status) {
  v1::Eta eta;
  eta.set_status(status);
  eta.set_value(12345);  // never shown for an undefined eta
  return eta;
}

TEST(RenderEvalEtaStatusTest, EveryStatusHasAShortName) {
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_NO_MEASURABLE_EFFECT), "no effect");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_S_MIX_ZERO), "S_mix=0");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_N_EQ_EQUALS_N_TELE), "N_eq=N_t");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_NO_POSITIVE_SCALING), "no scaling");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_TOO_FEW_POINTS), "too few points");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_ZERO_BASELINE), "S_t=0");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_NO_DATA), "no data");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_N_EQ_OUT_OF_RANGE), "N_eq overflow");
  EXPECT_EQ(EtaStatusShortName(v1::Eta::STATUS_UNSPECIFIED), "unknown");
  // A status from a newer server.
  EXPECT_EQ(EtaStatusShortName(static_cast<v1::Eta::Status>(99)), "unknown");
  // Every known status has its own name.
  std::set<std::string> names;
  for (int s = v1::Eta::Status_MIN; s <= v1::Eta::Status_MAX; ++s) {
    names.insert(EtaStatusShortName(static_cast<v1::Eta::Status>(s)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(v1::Eta::Status_MAX - v1::Eta::Status_MIN + 1));
}

TEST(RenderEvalEtaTest, DefinedShowsTheValueUndefinedItsStatus) {
  EXPECT_EQ(FormatEta(Defined(12.500000000000004)), "12.5");
  EXPECT_EQ(FormatEta(Defined(-4.2)), "-4.2");
  EXPECT_EQ(FormatEta(Undefined(v1::Eta::STATUS_NO_MEASURABLE_EFFECT)), "no effect");
  EXPECT_EQ(FormatEta(Undefined(v1::Eta::STATUS_S_MIX_ZERO)), "S_mix=0");
}

v1::EtaInterval Interval(v1::EtaInterval::Shape shape, double a, double b) {
  v1::EtaInterval in;
  in.set_level(0.95);
  in.set_resamples(2000);
  in.set_shape(shape);
  switch (shape) {
    case v1::EtaInterval::SHAPE_BOUNDED:
      in.set_sign_established(true);
      in.mutable_eta()->set_lower(a);
      in.mutable_eta()->set_upper(b);
      in.mutable_inverse()->set_lower(1 / b);
      in.mutable_inverse()->set_upper(1 / a);
      break;
    case v1::EtaInterval::SHAPE_SPLIT:
      in.set_split(true);
      in.set_split_at_or_below(a);
      in.set_split_at_or_above(b);
      in.mutable_inverse()->set_lower(1 / a);
      in.mutable_inverse()->set_upper(1 / b);
      break;
    case v1::EtaInterval::SHAPE_AT_OR_ABOVE:
      in.set_split_at_or_above(b);
      in.mutable_inverse()->set_upper(1 / b);
      break;
    case v1::EtaInterval::SHAPE_AT_OR_BELOW:
      in.set_split_at_or_below(a);
      in.mutable_inverse()->set_lower(1 / a);
      break;
    default: break;
  }
  return in;
}

TEST(RenderEvalEtaIntervalTest, EveryShapeIsShownByItsForm) {
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_BOUNDED, 8.125, 20.5)),
            "[8.125, 20.5]");
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_BOUNDED, -9, -2.5)), "[-9, -2.5]");
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_SPLIT, -40, 6.5)),
            "<= -40 or >= 6.5");
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_AT_OR_ABOVE, 0, 7)), ">= 7");
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_AT_OR_BELOW, -3, 0)), "<= -3");
  EXPECT_EQ(FormatEtaInterval(Interval(v1::EtaInterval::SHAPE_INFINITE_ONLY, 0, 0)), "inf only");
  // No interval at all (no resamples, no shape).
  EXPECT_EQ(FormatEtaInterval(v1::EtaInterval()), "-");
  EXPECT_EQ(FormatSign(v1::EtaInterval()), "-");
}

TEST(RenderEvalEtaIntervalTest, WithoutAShapeTheBooleansSayIt) {
  // A server that sets sign_established and split but not the shape.
  v1::EtaInterval bounded = Interval(v1::EtaInterval::SHAPE_BOUNDED, 1, 2);
  bounded.clear_shape();
  EXPECT_EQ(FormatEtaInterval(bounded), "[1, 2]");
  EXPECT_EQ(EtaIntervalShapeName(bounded), "bounded");
  v1::EtaInterval split = Interval(v1::EtaInterval::SHAPE_SPLIT, -5, 5);
  split.clear_shape();
  EXPECT_EQ(FormatEtaInterval(split), "<= -5 or >= 5");
  // A shape from a newer server, with the booleans: they decide.
  split.set_shape(static_cast<v1::EtaInterval::Shape>(42));
  EXPECT_EQ(FormatEtaInterval(split), "<= -5 or >= 5");
}

TEST(RenderEvalEtaIntervalTest, SignAndShapeNames) {
  EXPECT_EQ(FormatSign(Interval(v1::EtaInterval::SHAPE_BOUNDED, 1, 2)), "yes");
  EXPECT_EQ(FormatSign(Interval(v1::EtaInterval::SHAPE_SPLIT, -1, 2)), "no");
  EXPECT_EQ(EtaIntervalShapeName(Interval(v1::EtaInterval::SHAPE_AT_OR_ABOVE, 0, 2)),
            "at_or_above");
  EXPECT_EQ(EtaIntervalShapeName(Interval(v1::EtaInterval::SHAPE_AT_OR_BELOW, -2, 0)),
            "at_or_below");
  EXPECT_EQ(EtaIntervalShapeName(Interval(v1::EtaInterval::SHAPE_INFINITE_ONLY, 0, 0)),
            "infinite_only");
  EXPECT_EQ(EtaIntervalShapeName(v1::EtaInterval()), "");
}

// ---------------------------------------------------------------------------
// Robots

TEST(RenderEvalRobotsTest, TableAndCsv) {
  v1::ListRobotsResponse robots;
  auto* a = robots.add_robots();
  a->set_id("aloha-1");
  a->set_platform("aloha-agilex-2.0");
  a->set_location("bay 3, left");
  a->mutable_registered_at()->set_seconds(1741082400);
  auto* b = robots.add_robots();
  b->set_id("arx-2");
  b->set_platform("dual-arx-r5");
  EXPECT_EQ(RenderRobots(robots),
            "ID       PLATFORM          LOCATION     REGISTERED\n"
            "aloha-1  aloha-agilex-2.0  bay 3, left  2025-03-04 10:00:00Z\n"
            "arx-2    dual-arx-r5       -            -\n"
            "2 robots\n");
  EXPECT_EQ(RenderRobotsCsv(robots),
            "id,platform,location,registered_at\r\n"
            "aloha-1,aloha-agilex-2.0,\"bay 3, left\",2025-03-04 10:00:00Z\r\n"
            "arx-2,dual-arx-r5,,-\r\n");
}

// ---------------------------------------------------------------------------
// The operator's batch

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

v1::EvaluationBatch Batch() {
  v1::EvaluationBatch batch;
  batch.set_batch_id("b-41");
  batch.set_robot_id("aloha-1");
  batch.set_sweep_id(3);
  batch.set_scenario("unseen_background");
  batch.set_task("pick_dual_bottles");
  *batch.mutable_rubric() = Milestones();
  auto* p1 = batch.add_policies();
  p1->set_label("P-7K2Q");
  p1->set_request_id(812);
  p1->set_checkpoint_uri("artifacts/ckpt/9f3a2c");
  p1->set_trials_wanted(10);
  p1->set_trials_recorded(10);
  auto* p2 = batch.add_policies();
  p2->set_label("P-3MZD");
  p2->set_request_id(807);
  p2->set_checkpoint_uri("artifacts/ckpt/71c2e0");
  p2->set_trials_wanted(10);
  p2->set_trials_recorded(4);
  batch.set_reason("shrinks the widest 1/eta interval (width 0.31)");
  return batch;
}

TEST(RenderEvalBatchTest, ShowsScenarioTaskRubricPoliciesInOrderAndReason) {
  EXPECT_EQ(RenderBatch(Batch()),
            "Batch b-41 · robot aloha-1 · sweep 3\n"
            "scenario unseen_background · task pick_dual_bottles\n"
            "rubric: milestones (the score is the value of the last stage reached)\n"
            "      STAGE                 SCORE\n"
            "  0)  none                  0\n"
            "  1)  first_bottle_grasped  0.5\n"
            "  2)  both_lifted           1\n"
            "policies, in this order (2, 6 trials to go):\n"
            "  #  LABEL   TRIALS      CHECKPOINT\n"
            "  1  P-7K2Q  10/10 done  artifacts/ckpt/9f3a2c\n"
            "  2  P-3MZD  4/10        artifacts/ckpt/71c2e0\n"
            "why this scenario: shrinks the widest 1/eta interval (width 0.31)\n"
            "next: mixsweep eval record P-3MZD --robot aloha-1\n");
}

TEST(RenderEvalBatchTest, NeverShowsAMixtureNorRequestIds) {
  const std::string text = absl::AsciiStrToLower(RenderBatch(Batch()));
  for (const char* word :
       {"n_tele", "n_nt", "source", "mixture", "teleop", "sim", "seed", "812", "807"}) {
    EXPECT_THAT(text, Not(HasSubstr(word))) << word;
  }
  ExpectNoTrailingBlanks(RenderBatch(Batch()));
}

TEST(RenderEvalBatchTest, ItemsShowTheirWeights) {
  v1::EvaluationBatch batch = Batch();
  v1::Rubric& rubric = *batch.mutable_rubric();
  rubric.Clear();
  rubric.set_kind(v1::RUBRIC_KIND_ITEMS);
  for (const char* name : {"red", "green", "blue"}) {
    auto* e = rubric.add_entries();
    e->set_name(name);
    e->set_value(1.0 / 3);
  }
  const std::string text = RenderBatch(batch);
  EXPECT_THAT(text, HasSubstr("rubric: items (the score is the sum of the weights achieved)\n"
                              "     ITEM   WEIGHT\n"
                              "  -  red    0.3333\n"
                              "  -  green  0.3333\n"
                              "  -  blue   0.3333\n"));
}

TEST(RenderEvalBatchTest, AnEmptyBatchSaysThereIsNothingToDo) {
  v1::EvaluationBatch batch;
  batch.set_robot_id("aloha-1");
  batch.set_reason("no open requests for platform aloha-agilex-2.0");
  EXPECT_EQ(RenderBatch(batch),
            "Nothing to evaluate now on robot aloha-1.\n"
            "why: no open requests for platform aloha-agilex-2.0\n");
}

// ---------------------------------------------------------------------------
// The plan

v1::PlanEvaluationsResponse Plan() {
  v1::PlanEvaluationsResponse plan;
  auto* a = plan.add_batches();
  a->set_sweep_id(3);
  a->set_scenario("in_domain");
  a->set_open_requests(6);
  a->set_widest_inverse_width(kInf);
  a->set_widest_estimate("global eta, sim, N_tele=200 N_nt=1000");
  a->set_reason("an estimate has no interval yet");
  auto* b = plan.add_batches();
  b->set_sweep_id(3);
  b->set_scenario("unseen_position");
  b->set_open_requests(2);
  b->set_widest_inverse_width(0.3125);
  b->set_widest_estimate("local eta, human_video, N_nt=500");
  b->set_reason("widest 1/eta interval, width 0.3125");
  b->set_platform("aloha-agilex-2.0");
  return plan;
}

TEST(RenderEvalPlanTest, RankedWithWidestIntervalAndReason) {
  const std::string text = RenderPlan(Plan());
  EXPECT_EQ(text,
            "#  SWEEP  SCENARIO         OPEN  PLATFORM          WIDEST 1/ETA     ESTIMATE        "
            "                       REASON\n"
            "1  3      in_domain        6     any               no interval yet  global eta, "
            "sim, N_tele=200 N_nt=1000  an estimate has no interval yet\n"
            "2  3      unseen_position  2     aloha-agilex-2.0  0.3125           local eta, "
            "human_video, N_nt=500       widest 1/eta interval, width 0.3125\n");
  EXPECT_EQ(RenderPlan(v1::PlanEvaluationsResponse()),
            "Nothing to evaluate: no open requests outside a batch.\n");
}

TEST(RenderEvalPlanTest, CsvQuotesTheCommasOfTheEstimate) {
  const std::string csv = RenderPlanCsv(Plan());
  EXPECT_THAT(csv, HasSubstr("1,3,in_domain,6,,inf,\"global eta, sim, N_tele=200 N_nt=1000\","
                             "an estimate has no interval yet\r\n"));
  const auto rows = Csv(csv);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(Cell(rows, 2, "widest_inverse_width"), "0.3125");
  EXPECT_EQ(Cell(rows, 2, "platform"), "aloha-agilex-2.0");
}

// ---------------------------------------------------------------------------
// Results

std::vector<v1::ScenarioResult> Results() {
  v1::ScenarioResult teleop;
  teleop.set_run_id(7);
  teleop.set_request_id(70);
  teleop.set_scenario("in_domain");
  teleop.set_n_tele(200);
  teleop.set_seed(1);
  teleop.set_trials_wanted(10);
  teleop.set_trials_recorded(10);
  teleop.set_s(0.63333333333333333);
  teleop.set_state("complete");
  teleop.set_blind_label("P-7K2Q");
  teleop.set_checkpoint_uri("artifacts/ckpt/7");
  auto* t = teleop.add_trials();
  t->set_id(900);
  t->set_run_id(7);
  t->set_scenario("in_domain");
  t->set_score(0.5);
  t->mutable_input()->set_trial_index(0);
  t->mutable_input()->add_achieved("first_bottle_grasped");
  t->mutable_input()->mutable_duration()->set_seconds(41);
  t->mutable_input()->set_operator_("ana");
  t->mutable_input()->set_robot_id("aloha-1");
  t->mutable_input()->set_notes("slipped, then \"recovered\"\nsecond line");
  t->mutable_input()->add_video_uris("file:///v/a.mp4");
  t->mutable_input()->add_video_uris("file:///v/b.mp4");
  auto* c = teleop.add_trials();
  c->set_id(905);
  c->set_run_id(7);
  c->set_scenario("in_domain");
  c->set_score(1);
  c->set_supersedes_trial_id(901);
  c->set_correction_reason("misclicked");
  c->mutable_input()->set_trial_index(1);
  c->mutable_input()->add_achieved("both_lifted");
  c->mutable_input()->set_success(true);
  c->mutable_input()->set_intervention(true);

  v1::ScenarioResult mixed;
  mixed.set_run_id(12);
  mixed.set_request_id(120);
  mixed.set_scenario("in_domain");
  mixed.set_n_tele(200);
  mixed.set_source("sim");
  mixed.set_n_nt(1000);
  mixed.set_seed(2);
  mixed.set_trials_wanted(10);
  mixed.set_state("open");
  mixed.set_blind_label("P-3MZD");
  return {teleop, mixed};
}

TEST(RenderEvalResultsTest, OneRowPerRunAndScenarioWithTheMixture) {
  EXPECT_EQ(RenderResults(Results(), /*trials=*/false),
            "RUN  N_TELE  SOURCE  N_NT  SEED  SCENARIO   EVALUATOR  LABEL   TRIALS  S       STATE\n"
            "7    200     -       0     1     in_domain  robot      P-7K2Q  10/10   0.6333  complete\n"
            "12   200     sim     1000  2     in_domain  robot      P-3MZD  0/10    -       open\n");
  EXPECT_EQ(RenderResults({}, false), "No results.\n");
}

TEST(RenderEvalResultsTest, TrialsFollowWithCorrectionsAndFlags) {
  const std::string text = RenderResults(Results(), /*trials=*/true);
  ExpectNoTrailingBlanks(text);
  const auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 7u) << text;
  EXPECT_THAT(lines[4], StartsWith("TRIAL  RUN  SCENARIO   EVALUATOR  INDEX  ACHIEVED"));
  EXPECT_THAT(lines[5],
              AllOf(StartsWith("#900"), HasSubstr("first_bottle_grasped"), HasSubstr("0.5"),
                    HasSubstr("41s"), HasSubstr("ana"), HasSubstr("aloha-1"),
                    HasSubstr("slipped, then \"recovered\" / second line")));
  EXPECT_THAT(lines[6], AllOf(StartsWith("#905"), HasSubstr("both_lifted"),
                              HasSubstr("intervention"), HasSubstr("corrects #901: misclicked")));
}

TEST(RenderEvalResultsTest, CsvPerResultAndPerTrialWithQuoting) {
  const auto per_result = Csv(RenderResultsCsv(Results(), false));
  ASSERT_EQ(per_result.size(), 3u);
  EXPECT_EQ(Cell(per_result, 1, "s"), "0.6333333333333333");
  EXPECT_EQ(Cell(per_result, 1, "source"), "");
  EXPECT_EQ(Cell(per_result, 2, "s"), "");  // no trials: no S
  EXPECT_EQ(Cell(per_result, 2, "n_nt"), "1000");
  EXPECT_EQ(Cell(per_result, 2, "blind_label"), "P-3MZD");

  const std::string text = RenderResultsCsv(Results(), true);
  // The note with a comma, quotes and a line break is one quoted field.
  EXPECT_THAT(text, HasSubstr(",\"slipped, then \"\"recovered\"\"\nsecond line\","));
  const auto per_trial = Csv(text);
  ASSERT_EQ(per_trial.size(), 3u);  // header + 2 trials; the run without trials has none
  EXPECT_EQ(Cell(per_trial, 1, "trial_id"), "900");
  EXPECT_EQ(Cell(per_trial, 1, "notes"), "slipped, then \"recovered\"\nsecond line");
  EXPECT_EQ(Cell(per_trial, 1, "video_uris"), "file:///v/a.mp4;file:///v/b.mp4");
  EXPECT_EQ(Cell(per_trial, 1, "duration_s"), "41");
  EXPECT_EQ(Cell(per_trial, 1, "success"), "false");
  EXPECT_EQ(Cell(per_trial, 2, "supersedes_trial_id"), "901");
  EXPECT_EQ(Cell(per_trial, 2, "duration_s"), "");
  EXPECT_EQ(Cell(per_trial, 2, "intervention"), "true");
  EXPECT_EQ(Cell(per_trial, 2, "run_id"), "7");
}

// Simulation scenarios (seed 001): results of evaluate jobs, per checkpoint,
// with one simulated trial per episode.
std::vector<v1::ScenarioResult> SimulatedResults() {
  std::vector<v1::ScenarioResult> results = Results();
  for (int64_t step : {20000, 0}) {
    v1::ScenarioResult r;
    r.set_run_id(12);
    r.set_request_id(step == 0 ? 131 : 130);
    r.set_scenario("sim_eval");
    r.set_n_tele(200);
    r.set_source("sim");
    r.set_n_nt(1000);
    r.set_seed(2);
    r.set_trials_wanted(2);
    r.set_trials_recorded(2);
    r.set_s(step == 0 ? 0.5 : 1);
    r.set_state("complete");
    r.set_checkpoint_uri(step == 0 ? "artifacts/ckpt/12" : "artifacts/ckpt/12/20000");
    r.set_checkpoint_step(step);
    r.set_simulated(true);
    for (int i = 0; i < 2; ++i) {
      v1::Trial* t = r.add_trials();
      t->set_id(step == 0 ? 1000 + i : 990 + i);
      t->set_run_id(12);
      t->set_scenario("sim_eval");
      t->set_simulated(true);
      t->set_score(step == 0 ? i : 1);
      t->mutable_input()->set_trial_index(i);
      t->mutable_input()->set_success(t->score() == 1);
      t->mutable_episode()->set_seed(42 + i);
      if (i == 0) {
        t->mutable_episode()->set_has_rewards(true);
        t->mutable_episode()->set_sum_reward(12.5);
        t->mutable_episode()->set_max_reward(0.75);
      }
    }
    results.push_back(r);
  }
  return results;
}

TEST(RenderEvalResultsTest, SimulatedResultsAreMarkedWithTheirCheckpointStep) {
  const std::string text = RenderResults(SimulatedResults(), /*trials=*/false);
  ExpectNoTrailingBlanks(text);
  EXPECT_EQ(text,
            "RUN  N_TELE  SOURCE  N_NT  SEED  SCENARIO   EVALUATOR  CHECKPOINT  LABEL   TRIALS  S  "
            "     STATE\n"
            "7    200     -       0     1     in_domain  robot      last        P-7K2Q  10/10   "
            "0.6333  complete\n"
            "12   200     sim     1000  2     in_domain  robot      last        P-3MZD  0/10    -  "
            "     open\n"
            "12   200     sim     1000  2     sim_eval   sim        step 20000  -       2/2     1  "
            "     complete\n"
            "12   200     sim     1000  2     sim_eval   sim        last        -       2/2     0.5"
            "     complete\n");
}

TEST(RenderEvalResultsTest, SimulatedTrialsShowTheirEpisode) {
  const std::string text = RenderResults(SimulatedResults(), /*trials=*/true);
  ExpectNoTrailingBlanks(text);
  const auto lines = Lines(text);
  std::vector<std::string> sim;
  for (const std::string& line : lines) {
    if (line.find("sim_eval") != std::string::npos && line[0] == '#') sim.push_back(line);
  }
  ASSERT_EQ(sim.size(), 4u) << text;
  EXPECT_THAT(sim[0], AllOf(StartsWith("#990   12   sim_eval   sim "),
                            EndsWith("simulated episode seed 42, reward sum 12.5 max 0.75")));
  EXPECT_THAT(sim[1], EndsWith("simulated episode seed 43"));
  // The operator's trials say robot.
  EXPECT_THAT(lines, testing::Contains(StartsWith("#900   7    in_domain  robot ")));
}

TEST(RenderEvalResultsTest, CsvAppendsCheckpointStepSimulatedAndEpisodeColumns) {
  const auto per_result = Csv(RenderResultsCsv(SimulatedResults(), false));
  ASSERT_EQ(per_result.size(), 5u);
  // The older columns keep their positions; the new ones come last.
  EXPECT_THAT(per_result[0],
              ElementsAre("run_id", "request_id", "n_tele", "source", "n_nt", "seed", "scenario",
                          "blind_label", "state", "trials_recorded", "trials_wanted", "s",
                          "checkpoint_uri", "checkpoint_step", "simulated"));
  EXPECT_EQ(Cell(per_result, 1, "simulated"), "false");
  EXPECT_EQ(Cell(per_result, 1, "checkpoint_step"), "0");
  EXPECT_EQ(Cell(per_result, 3, "simulated"), "true");
  EXPECT_EQ(Cell(per_result, 3, "checkpoint_step"), "20000");
  EXPECT_EQ(Cell(per_result, 3, "checkpoint_uri"), "artifacts/ckpt/12/20000");

  const auto per_trial = Csv(RenderResultsCsv(SimulatedResults(), true));
  ASSERT_EQ(per_trial.size(), 7u);  // header + 2 robot trials + 4 simulated
  const std::vector<std::string>& header = per_trial[0];
  ASSERT_EQ(header.size(), 13u + 17u + 4u);
  EXPECT_EQ(header[12], "checkpoint_uri");
  EXPECT_EQ(header[13], "trial_id");
  EXPECT_EQ(header[29], "simulated");
  EXPECT_THAT(std::vector<std::string>(header.begin() + 30, header.end()),
              ElementsAre("checkpoint_step", "episode_seed", "sum_reward", "max_reward"));
  // A robot trial: no episode.
  EXPECT_EQ(Cell(per_trial, 1, "episode_seed"), "");
  EXPECT_EQ(Cell(per_trial, 1, "sum_reward"), "");
  EXPECT_EQ(Cell(per_trial, 1, "simulated"), "false");
  // The first simulated trial, of the step-20000 checkpoint, with rewards.
  EXPECT_EQ(Cell(per_trial, 3, "trial_id"), "990");
  EXPECT_EQ(Cell(per_trial, 3, "simulated"), "true");
  EXPECT_EQ(Cell(per_trial, 3, "checkpoint_step"), "20000");
  EXPECT_EQ(Cell(per_trial, 3, "episode_seed"), "42");
  EXPECT_EQ(Cell(per_trial, 3, "sum_reward"), "12.5");
  EXPECT_EQ(Cell(per_trial, 3, "max_reward"), "0.75");
  // Without rewards in the result file: empty, not 0.
  EXPECT_EQ(Cell(per_trial, 4, "episode_seed"), "43");
  EXPECT_EQ(Cell(per_trial, 4, "sum_reward"), "");
  EXPECT_EQ(Cell(per_trial, 6, "checkpoint_step"), "0");
}

// ---------------------------------------------------------------------------
// Estimates

v1::CurvePoint Point(int64_t n_tele, int64_t n_nt, double s, double collection = 0,
                     double gpu = 0) {
  v1::CurvePoint p;
  p.set_n_tele(n_tele);
  p.set_n_nt(n_nt);
  p.set_mean_s(s);
  p.set_std_s(0.05);
  p.set_n_seeds(3);
  p.set_trials(30);
  p.set_cost_collection_hours(collection);
  p.set_cost_gpu_hours(gpu);
  return p;
}

v1::Estimate EstimateWithEveryCase() {
  v1::Estimate e;
  e.set_sweep_id(3);
  e.set_task("pick_dual_bottles");
  e.set_scenario("in_domain");
  e.set_source("sim");
  e.set_source_kind(v1::SOURCE_KIND_SIMULATION);
  e.set_aggregation("last");
  e.set_version(7);
  e.set_trial_count(240);
  e.set_last_trial_id(812);
  e.set_n_t_star(200);
  *e.add_teleop_curve() = Point(50, 0, 0.2);
  *e.add_teleop_curve() = Point(100, 0, 0.3);
  *e.add_teleop_curve() = Point(200, 0, 0.45);
  *e.add_mixed_curve() = Point(200, 1000, 0.6);
  v1::PowerLawFit& fit = *e.mutable_fit();
  fit.set_defined(true);
  fit.set_alpha(0.0297);
  fit.set_beta(0.5123);
  fit.set_r_squared(0.9871);
  fit.add_n_used(50);
  fit.add_n_used(100);
  fit.add_n_used(200);
  fit.set_points_excluded_zero(1);

  // Local etas: one per status a local eta can have, and every shape.
  auto local = [&](int64_t n_nt, v1::Eta eta, v1::EtaInterval interval) {
    v1::LocalEta* l = e.add_local();
    l->set_n_t_star(200);
    l->set_n_nt(n_nt);
    l->set_s_t(0.45);
    l->set_s_mix(0.6);
    *l->mutable_eta() = eta;
    *l->mutable_interval() = interval;
  };
  local(1000, Defined(10.0), Interval(v1::EtaInterval::SHAPE_BOUNDED, 6.25, 19.5));
  local(2000, Undefined(v1::Eta::STATUS_NO_MEASURABLE_EFFECT),
        Interval(v1::EtaInterval::SHAPE_INFINITE_ONLY, 0, 0));
  local(3000, Undefined(v1::Eta::STATUS_ZERO_BASELINE), v1::EtaInterval());
  local(4000, Undefined(v1::Eta::STATUS_NO_DATA), v1::EtaInterval());

  auto global = [&](int64_t n_tele, int64_t n_nt, double n_eq, v1::Eta eta,
                    v1::EtaInterval interval) {
    v1::GlobalEta* g = e.add_global();
    g->set_n_tele(n_tele);
    g->set_n_nt(n_nt);
    g->set_s_mix(0.6);
    g->set_n_eq(n_eq);
    *g->mutable_eta() = eta;
    *g->mutable_interval() = interval;
  };
  global(200, 1000, 280, Defined(12.500000000000004),
         Interval(v1::EtaInterval::SHAPE_BOUNDED, 8.125, 20.5));
  global(100, 1000, 60, Defined(-25), Interval(v1::EtaInterval::SHAPE_SPLIT, -4, 30));
  global(50, 1000, 2000, Defined(0.5), Interval(v1::EtaInterval::SHAPE_AT_OR_ABOVE, 0, 0.25));
  global(50, 500, 0, Defined(-7), Interval(v1::EtaInterval::SHAPE_AT_OR_BELOW, -3, 0));
  global(50, 2000, 0, Undefined(v1::Eta::STATUS_S_MIX_ZERO), v1::EtaInterval());
  global(100, 2000, 100, Undefined(v1::Eta::STATUS_N_EQ_EQUALS_N_TELE), v1::EtaInterval());
  global(200, 2000, 0, Undefined(v1::Eta::STATUS_N_EQ_OUT_OF_RANGE), v1::EtaInterval());
  return e;
}

TEST(RenderEvalEstimatesTest, HeaderFitAndCurve) {
  const std::string text = RenderEstimates({EstimateWithEveryCase()});
  ExpectNoTrailingBlanks(text);
  EXPECT_THAT(text, StartsWith("in_domain · sim (simulation) · task pick_dual_bottles · sweep 3\n"
                               "  version 7 · 240 trials (last #812) · checkpoints: last\n"));
  EXPECT_THAT(text, HasSubstr("  fit: S = alpha N^beta · alpha 0.0297 · beta 0.5123 · R^2 0.987 "
                              "(log space)\n"
                              "       N used 50,100,200 · 1 point with S = 0 left out\n"));
  EXPECT_THAT(text, HasSubstr("  intervals: 95% bootstrap percentile of 1/eta, 2000 resamples\n"));
  // No point has a cost: no cost columns.
  EXPECT_THAT(text, HasSubstr("    N_TELE  N_NT  S     STD   SEEDS  TRIALS\n"
                              "    50      0     0.2   0.05  3      30\n"));
  EXPECT_THAT(text, Not(HasSubstr("GPU H")));
  EXPECT_THAT(text, Not(HasSubstr("COLLECT H")));
}

TEST(RenderEvalEstimatesTest, LocalEtaRowsWithStatusesAndShapes) {
  const std::string text = RenderEstimates({EstimateWithEveryCase()});
  EXPECT_THAT(text, HasSubstr("  local eta at N_t* = 200:\n"
                              "    N_NT  S_T   S_MIX  ETA        INTERVAL      SIGN\n"
                              "    1000  0.45  0.6    10         [6.25, 19.5]  yes\n"
                              "    2000  0.45  0.6    no effect  inf only      no\n"
                              "    3000  0.45  0.6    S_t=0      -             -\n"
                              "    4000  0.45  0.6    no data    -             -\n"));
}

TEST(RenderEvalEstimatesTest, GlobalEtaRowsWithStatusesAndShapes) {
  const std::string text = RenderEstimates({EstimateWithEveryCase()});
  EXPECT_THAT(text, HasSubstr("  global eta per mixed point:\n"
                              "    N_TELE  N_NT  S_MIX  N_EQ  ETA            INTERVAL        SIGN\n"
                              "    200     1000  0.6    280   12.5           [8.125, 20.5]   yes\n"
                              "    100     1000  0.6    60    -25            <= -4 or >= 30  no\n"
                              "    50      1000  0.6    2000  0.5            >= 0.25         no\n"
                              "    50      500   0.6    0     -7             <= -3           no\n"
                              "    50      2000  0.6    -     S_mix=0        -               -\n"
                              "    100     2000  0.6    100   N_eq=N_t       -               -\n"
                              "    200     2000  0.6    -     N_eq overflow  -               -\n"));
  // An undefined eta never shows its (meaningless) value.
  EXPECT_THAT(text, Not(HasSubstr("12345")));
}

TEST(RenderEvalEstimatesTest, UndefinedFitSaysWhyAndCostColumnsAppearWhenNonzero) {
  v1::Estimate e = EstimateWithEveryCase();
  e.mutable_fit()->Clear();
  e.mutable_fit()->set_defined(false);
  e.mutable_fit()->set_undefined_reason(v1::Eta::STATUS_NO_POSITIVE_SCALING);
  e.mutable_fit()->set_beta(-0.1);
  e.mutable_fit()->set_alpha(0.9);
  e.clear_global();
  *e.mutable_teleop_curve(0) = Point(50, 0, 0.2, /*collection=*/25, /*gpu=*/3.5);
  const std::string text = RenderEstimates({e});
  EXPECT_THAT(text, HasSubstr("  fit: undefined (no scaling) · alpha 0.9 · beta -0.1\n"));
  EXPECT_THAT(text, HasSubstr("N_TELE  N_NT  S     STD   SEEDS  TRIALS  COLLECT H  GPU H\n"
                              "    50      0     0.2   0.05  3      30      25         3.5\n"
                              "    100     0     0.3   0.05  3      30      0          0\n"));
  EXPECT_THAT(text, Not(HasSubstr("COST")));
  EXPECT_THAT(text, HasSubstr("  global eta: none yet\n"));
}

TEST(RenderEvalEstimatesTest, TooFewPointsAndNoOperatingPointYet) {
  v1::Estimate e;
  e.set_scenario("in_domain");
  e.set_source("sim");
  e.set_version(1);
  e.set_trial_count(2);
  e.mutable_fit()->set_undefined_reason(v1::Eta::STATUS_TOO_FEW_POINTS);
  e.mutable_fit()->add_n_used(50);
  const std::string text = RenderEstimates({e});
  EXPECT_THAT(text, HasSubstr("  fit: undefined (too few points) · N used 50\n"));
  EXPECT_THAT(text, Not(HasSubstr("alpha")));
  EXPECT_THAT(text, HasSubstr("  local eta: none yet (no operating point"));
  EXPECT_THAT(text, Not(HasSubstr("computed")));  // no computed_at
}

TEST(RenderEvalEstimatesTest, TruthColumnsBesideTheEstimates) {
  EstimateTruth truth;
  truth.global_eta = [](const std::string& scenario,
                        const std::string& source) -> std::optional<double> {
    if (scenario == "in_domain" && source == "sim") return 16.0;
    return std::nullopt;
  };
  truth.expected_local_eta = [](const std::string&, const std::string&, int64_t n_t_star,
                                int64_t n_nt) -> std::optional<double> {
    if (n_t_star == 200 && n_nt == 1000) return 9.5;
    return std::nullopt;
  };
  const std::string text = RenderEstimates({EstimateWithEveryCase()}, &truth);
  EXPECT_THAT(text, HasSubstr("ETA        INTERVAL      SIGN  EXPECTED LOCAL\n"));
  EXPECT_THAT(text, HasSubstr("    1000  0.45  0.6    10         [6.25, 19.5]  yes   9.5\n"));
  EXPECT_THAT(text, HasSubstr("    2000  0.45  0.6    no effect  inf only      no    -\n"));
  EXPECT_THAT(text, HasSubstr("SIGN  TRUE ETA\n"));
  EXPECT_THAT(text, HasSubstr("[8.125, 20.5]   yes   16\n"));

  const auto csv = Csv(RenderEstimatesCsv({EstimateWithEveryCase()}, &truth));
  EXPECT_EQ(Cell(csv, 1, "truth"), "9.5");
  EXPECT_EQ(Cell(csv, 2, "truth"), "");
  EXPECT_EQ(Cell(csv, 5, "truth"), "16");
}

TEST(RenderEvalEstimatesTest, CsvOneRowPerEtaWithExactValuesAndShapes) {
  const auto csv = Csv(RenderEstimatesCsv({EstimateWithEveryCase()}));
  ASSERT_EQ(csv.size(), 1u + 4 + 7);
  EXPECT_EQ(Cell(csv, 1, "kind"), "local");
  EXPECT_EQ(Cell(csv, 1, "eta_status"), "defined");
  EXPECT_EQ(Cell(csv, 1, "interval_shape"), "bounded");
  EXPECT_EQ(Cell(csv, 1, "eta_lower"), "6.25");
  EXPECT_EQ(Cell(csv, 1, "sign_established"), "true");
  EXPECT_EQ(Cell(csv, 2, "eta_status"), "no_measurable_effect");
  EXPECT_EQ(Cell(csv, 2, "eta"), "");
  EXPECT_EQ(Cell(csv, 2, "interval_shape"), "infinite_only");
  EXPECT_EQ(Cell(csv, 3, "interval_shape"), "");
  EXPECT_EQ(Cell(csv, 3, "level"), "");
  EXPECT_EQ(Cell(csv, 5, "kind"), "global");
  EXPECT_EQ(Cell(csv, 5, "eta"), "12.500000000000004");
  EXPECT_EQ(Cell(csv, 5, "n_eq"), "280");
  EXPECT_EQ(Cell(csv, 5, "alpha"), "0.0297");
  EXPECT_EQ(Cell(csv, 6, "interval_shape"), "split");
  EXPECT_EQ(Cell(csv, 6, "split_at_or_below"), "-4");
  EXPECT_EQ(Cell(csv, 6, "split_at_or_above"), "30");
  EXPECT_EQ(Cell(csv, 6, "eta_lower"), "");
  EXPECT_EQ(Cell(csv, 7, "interval_shape"), "at_or_above");
  EXPECT_EQ(Cell(csv, 7, "split_at_or_above"), "0.25");
  EXPECT_EQ(Cell(csv, 7, "split_at_or_below"), "");
  EXPECT_EQ(Cell(csv, 8, "interval_shape"), "at_or_below");
  EXPECT_EQ(Cell(csv, 9, "eta_status"), "s_mix_zero");
  EXPECT_EQ(Cell(csv, 9, "n_eq"), "");
  EXPECT_EQ(Cell(csv, 11, "eta_status"), "n_eq_out_of_range");
  for (size_t row = 1; row < csv.size(); ++row) {
    EXPECT_EQ(csv[row].size(), csv[0].size()) << "row " << row;
  }
}

// --- Scaling estimates (seed 001, Fig. 5) ----------------------------------------------

v1::CurvePoint SourcePoint(int64_t n, std::vector<double> seeds) {
  double sum = 0;
  for (double v : seeds) sum += v;
  const double mean = sum / seeds.size();
  double var = 0;
  for (double v : seeds) var += (v - mean) * (v - mean);
  v1::CurvePoint p;
  p.set_n_nt(n);
  p.set_mean_s(mean);
  p.set_std_s(std::sqrt(var / seeds.size()));
  p.set_n_seeds(static_cast<int>(seeds.size()));
  for (double v : seeds) p.add_seed_s(v);
  p.set_trials(150);
  return p;
}

v1::Estimate ScalingEstimate() {
  v1::Estimate e;
  e.set_sweep_id(5);
  e.set_task("threading");
  e.set_scenario("sim_eval");
  e.set_source("mimicgen");
  e.set_source_kind(v1::SOURCE_KIND_SIMULATION);
  e.set_aggregation("max_over_checkpoints");
  e.set_scaling(true);
  e.set_simulated(true);
  e.set_version(4);
  e.set_trial_count(450);
  e.set_last_trial_id(4500);
  *e.add_mixed_curve() = SourcePoint(100, {0.2, 0.4, 0.4});
  *e.add_mixed_curve() = SourcePoint(500, {0.6, 0.6, 0.6});
  *e.add_mixed_curve() = SourcePoint(1000, {0.7, 0.7, 0.76});
  v1::PowerLawFit& sf = *e.mutable_source_fit();
  sf.set_defined(true);
  sf.set_alpha(0.0541);
  sf.set_beta(0.3712);
  sf.set_r_squared(0.9734);
  for (int64_t n : {100, 500, 1000}) sf.add_n_used(n);
  auto gain = [&](int64_t from, int64_t to, double s_from, double s_to) {
    v1::MarginalGain* g = e.add_marginal_gains();
    g->set_n_from(from);
    g->set_n_to(to);
    g->set_s_from(s_from);
    g->set_s_to(s_to);
    g->set_gain_per_demo((s_to - s_from) / (to - from));
  };
  gain(100, 500, 1.0 / 3, 0.6);
  gain(500, 1000, 0.6, 0.72);
  return e;
}

// With the teleop curve of the baseline sweep: each point's exchange rate.
v1::Estimate ScalingEstimateWithBaseline() {
  v1::Estimate e = ScalingEstimate();
  *e.add_teleop_curve() = Point(50, 0, 0.2);
  *e.add_teleop_curve() = Point(100, 0, 0.3);
  *e.add_teleop_curve() = Point(200, 0, 0.45);
  v1::PowerLawFit& fit = *e.mutable_fit();
  fit.set_defined(true);
  fit.set_alpha(0.0297);
  fit.set_beta(0.5123);
  fit.set_r_squared(0.9871);
  for (int64_t n : {50, 100, 200}) fit.add_n_used(n);
  auto global = [&](int64_t n, double s, double n_eq, v1::Eta eta, v1::EtaInterval interval) {
    v1::GlobalEta* g = e.add_global();
    g->set_n_nt(n);
    g->set_s_mix(s);
    g->set_n_eq(n_eq);
    *g->mutable_eta() = eta;
    *g->mutable_interval() = interval;
  };
  global(100, 1.0 / 3, 100, Defined(1), Interval(v1::EtaInterval::SHAPE_SPLIT, -40, 0.8));
  global(500, 0.6, 400, Defined(1.25), Interval(v1::EtaInterval::SHAPE_BOUNDED, 1.1, 1.5));
  global(1000, 0.72, 500, Defined(2), Interval(v1::EtaInterval::SHAPE_BOUNDED, 1.6, 2.6));
  return e;
}

TEST(RenderEvalScalingTest, SourceCurveFitAndMarginalGains) {
  const std::string text = RenderEstimates({ScalingEstimate()});
  ExpectNoTrailingBlanks(text);
  EXPECT_THAT(text, StartsWith("sim_eval · mimicgen (simulation) · task threading · sweep 5\n"
                               "  version 4 · 450 trials (last #4500) · evaluated in simulation · "
                               "checkpoints: max_over_checkpoints\n"
                               "  scaling: S against the number of mimicgen demos N, no teleop "
                               "(seed 001, Fig. 5)\n"
                               "  source fit: S = alpha N^beta · alpha 0.0541 · beta 0.3712 · R^2 "
                               "0.973 (log space)\n"
                               "              N used 100,500,1000 · 0 points with S = 0 left "
                               "out\n"));
  EXPECT_THAT(text, HasSubstr("  curve of mimicgen alone (seed means ± population std over "
                              "seeds):\n"
                              "    N     S       ± STD    SEEDS  PER SEED      TRIALS\n"
                              "    100   0.3333  0.09428  3      0.2,0.4,0.4   150\n"
                              "    500   0.6     0        3      0.6,0.6,0.6   150\n"
                              "    1000  0.72    0.02828  3      0.7,0.7,0.76  150\n"));
  EXPECT_THAT(text, HasSubstr("  marginal gain per demo ((S_to - S_from) / (N_to - N_from), seed "
                              "means):\n"
                              "    N            S              GAIN PER DEMO  PER 100 DEMOS\n"
                              "    100 -> 500   0.3333 -> 0.6  0.0006667      0.06667\n"
                              "    500 -> 1000  0.6 -> 0.72    0.00024        0.024\n"));
  // No baseline sweep: no exchange rates, and no local eta either.
  EXPECT_THAT(text, HasSubstr("  exchange rate: none (no teleop curve to compare with: the sweep "
                              "names no baseline sweep)\n"));
  EXPECT_THAT(text, Not(HasSubstr("local eta")));
  EXPECT_THAT(text, Not(HasSubstr("N_TELE")));
}

TEST(RenderEvalScalingTest, ExchangeRateOfEachPointAgainstTheTeleopCurve) {
  const std::string text = RenderEstimates({ScalingEstimateWithBaseline()});
  ExpectNoTrailingBlanks(text);
  EXPECT_THAT(text, HasSubstr("  teleop fit: S = alpha N^beta · alpha 0.0297 · beta 0.5123 · R^2 "
                              "0.987 (log space)\n"
                              "              N used 50,100,200 · 0 points with S = 0 left out\n"
                              "  exchange rate against the teleop curve (eta = N / N_eq; N_eq: the "
                              "teleop demos the fit needs for S):\n"
                              "    N     S       N_EQ  ETA   INTERVAL          SIGN\n"
                              "    100   0.3333  100   1     <= -40 or >= 0.8  no\n"
                              "    500   0.6     400   1.25  [1.1, 1.5]        yes\n"
                              "    1000  0.72    500   2     [1.6, 2.6]        yes\n"));
  EXPECT_THAT(text, HasSubstr("  intervals: 95% bootstrap percentile of 1/eta, 2000 resamples\n"));
}

TEST(RenderEvalScalingTest, PlotIsTheSourceCurveAgainstNWithTheSourceFit) {
  const LogLogPlotInput in = PlotInputOf(ScalingEstimateWithBaseline());
  ASSERT_EQ(in.teleop.size(), 3u);
  EXPECT_EQ(in.teleop[0].n, 100);
  EXPECT_EQ(in.teleop[2].n, 1000);
  EXPECT_DOUBLE_EQ(in.teleop[2].s, 0.72);
  EXPECT_TRUE(in.mixed.empty());
  EXPECT_TRUE(in.fit.drawable);
  EXPECT_EQ(in.fit.alpha, 0.0541);  // the source's fit, not the teleop one
  EXPECT_EQ(in.fit.beta, 0.3712);
  EXPECT_EQ(in.x_title, "N mimicgen demos (log)");

  PlotOptions options;
  options.width = 80;
  const std::string text = RenderEstimatePlot(ScalingEstimateWithBaseline(), options);
  ExpectNoTrailingBlanks(text);
  EXPECT_THAT(text, StartsWith("plot: S against N mimicgen demos, log-log (seed 001, Fig. 5)\n"));
  EXPECT_THAT(text, HasSubstr("N mimicgen demos (log)"));
  EXPECT_THAT(text, HasSubstr("o mimicgen only (seed mean)"));
  EXPECT_THAT(text, HasSubstr("fit S = 0.0541 N^0.371"));
  // Nothing about mixed points or arrows.
  EXPECT_THAT(text, Not(HasSubstr("eta > 0")));
  EXPECT_THAT(text, Not(HasSubstr("arrows")));
  EXPECT_THAT(text, Not(HasSubstr("N_tele")));
  for (const std::string& line : Lines(text)) EXPECT_LE(line.size(), 80u) << line;

  // RenderEstimates with plots ends the scaling block with it.
  PlotOptions whole;
  whole.width = 82;
  EXPECT_THAT(RenderEstimates({ScalingEstimate()}, nullptr, &whole),
              HasSubstr("  plot: S against N mimicgen demos, log-log (seed 001, Fig. 5)\n"));
}

TEST(RenderEvalScalingTest, CsvAppendsTheNewColumnsAndMarginalGainRows) {
  const auto csv = Csv(RenderEstimatesCsv({ScalingEstimateWithBaseline()}));
  ASSERT_EQ(csv.size(), 1u + 3 + 2);  // 3 global etas, 2 marginal gains
  const std::vector<std::string>& header = csv[0];
  ASSERT_EQ(header.size(), 32u + 9);
  EXPECT_EQ(header[31], "resamples_undefined");  // the last of the older columns
  EXPECT_THAT(std::vector<std::string>(header.begin() + 32, header.end()),
              ElementsAre("aggregation", "simulated", "scaling", "source_fit_defined",
                          "source_alpha", "source_beta", "source_r_squared", "n_from",
                          "gain_per_demo"));
  EXPECT_EQ(Cell(csv, 1, "kind"), "global");
  EXPECT_EQ(Cell(csv, 1, "n_nt"), "100");
  EXPECT_EQ(Cell(csv, 1, "aggregation"), "max_over_checkpoints");
  EXPECT_EQ(Cell(csv, 1, "simulated"), "true");
  EXPECT_EQ(Cell(csv, 1, "scaling"), "true");
  EXPECT_EQ(Cell(csv, 1, "source_alpha"), "0.0541");
  EXPECT_EQ(Cell(csv, 1, "alpha"), "0.0297");  // the teleop fit
  EXPECT_EQ(Cell(csv, 4, "kind"), "marginal_gain");
  EXPECT_EQ(Cell(csv, 4, "n_from"), "100");
  EXPECT_EQ(Cell(csv, 4, "n_nt"), "500");
  EXPECT_EQ(Cell(csv, 4, "s_mix"), "0.6");
  EXPECT_EQ(Cell(csv, 4, "eta_status"), "");
  EXPECT_EQ(Cell(csv, 5, "gain_per_demo"), ExactValue(0.12 / 500));
  for (size_t row = 1; row < csv.size(); ++row) {
    EXPECT_EQ(csv[row].size(), header.size()) << "row " << row;
  }
  // A mixture estimate: the new columns say so, and its fit columns stay.
  const auto mixture = Csv(RenderEstimatesCsv({EstimateWithEveryCase()}));
  EXPECT_EQ(Cell(mixture, 1, "aggregation"), "last");
  EXPECT_EQ(Cell(mixture, 1, "scaling"), "false");
  EXPECT_EQ(Cell(mixture, 1, "source_alpha"), "");
  // With the truth column, the new ones still come after it.
  EstimateTruth truth;
  const auto with_truth = Csv(RenderEstimatesCsv({ScalingEstimateWithBaseline()}, &truth));
  EXPECT_EQ(with_truth[0][32], "truth");
  EXPECT_EQ(with_truth[0].size(), 33u + 9);
  for (size_t row = 1; row < with_truth.size(); ++row) {
    EXPECT_EQ(with_truth[row].size(), with_truth[0].size()) << "row " << row;
  }
}

TEST(RenderEvalScalingTest, UpdateLineGivesTheGainsAndExchangeRates) {
  v1::EstimateUpdate update;
  *update.mutable_estimate() = ScalingEstimateWithBaseline();
  EXPECT_EQ(RenderEstimateUpdateLine(update),
            "sim_eval/mimicgen v4 · 450 trials · simulation · source fit beta 0.3712 · "
            "100->500: 0.06667 per 100 demos · 500->1000: 0.024 per 100 demos · eta N=100: 1 · "
            "eta N=500: 1.25 · eta N=1000: 2");
}

TEST(RenderEvalEstimatesTest, NoEstimates) {
  EXPECT_EQ(RenderEstimates({}), "No estimates yet.\n");
  EXPECT_EQ(Csv(RenderEstimatesCsv({})).size(), 1u);  // the header only
}

// --- The estimate as a log-log plot (render_plot.h) ------------------------------------

TEST(RenderEvalEstimatePlotTest, EveryMixedPointWithItsEtaAndNeq) {
  const LogLogPlotInput in = PlotInputOf(EstimateWithEveryCase());
  EXPECT_EQ(in.source, "sim");
  ASSERT_EQ(in.teleop.size(), 3u);
  EXPECT_EQ(in.teleop[2].n, 200);
  EXPECT_EQ(in.teleop[2].s, 0.45);
  EXPECT_TRUE(in.fit.drawable);
  EXPECT_EQ(in.fit.alpha, 0.0297);
  EXPECT_EQ(in.fit.beta, 0.5123);
  // The curve's mixed point first (its S the curve's), then the global etas
  // that have no curve point, in their order.
  ASSERT_EQ(in.mixed.size(), 7u);
  auto expect = [&](size_t i, double n_tele, int64_t n_nt, std::optional<double> eta,
                    std::optional<double> n_eq, const std::string& reason) {
    SCOPED_TRACE(i);
    EXPECT_EQ(in.mixed[i].n_tele, n_tele);
    EXPECT_EQ(in.mixed[i].n_nt, n_nt);
    EXPECT_EQ(in.mixed[i].s, 0.6);
    EXPECT_EQ(in.mixed[i].eta, eta);
    EXPECT_EQ(in.mixed[i].n_eq, n_eq);
    EXPECT_EQ(in.mixed[i].undefined_reason, reason);
  };
  expect(0, 200, 1000, 12.500000000000004, 280, "");
  expect(1, 100, 1000, -25, 60, "");
  expect(2, 50, 1000, 0.5, 2000, "");
  expect(3, 50, 500, -7, std::nullopt, "");  // an N_eq of 0 has no place on the plot
  expect(4, 50, 2000, std::nullopt, std::nullopt, "S_mix=0");
  expect(5, 100, 2000, std::nullopt, 100, "N_eq=N_t");
  expect(6, 200, 2000, std::nullopt, std::nullopt, "N_eq overflow");
}

TEST(RenderEvalEstimatePlotTest, FitsWithoutPositiveScalingAreDrawnUndefinedOnesSayWhy) {
  v1::Estimate e = EstimateWithEveryCase();
  e.mutable_fit()->Clear();
  e.mutable_fit()->set_undefined_reason(v1::Eta::STATUS_NO_POSITIVE_SCALING);
  e.mutable_fit()->set_alpha(0.9);
  e.mutable_fit()->set_beta(-0.1);
  EXPECT_TRUE(PlotInputOf(e).fit.drawable);

  e.mutable_fit()->Clear();
  e.mutable_fit()->set_undefined_reason(v1::Eta::STATUS_TOO_FEW_POINTS);
  e.clear_global();
  const LogLogPlotInput in = PlotInputOf(e);
  EXPECT_FALSE(in.fit.drawable);
  EXPECT_EQ(in.fit.undefined_reason, "too few points");
  ASSERT_EQ(in.mixed.size(), 1u);  // the curve's mixed point, without an eta
  EXPECT_EQ(in.mixed[0].eta, std::nullopt);
  EXPECT_EQ(in.mixed[0].undefined_reason, "no global eta");
}

TEST(RenderEvalEstimatePlotTest, RenderEstimatesEndsEachEstimateWithItsPlotWhenAsked) {
  v1::Estimate e = EstimateWithEveryCase();
  e.mutable_global(4)->set_s_mix(0);  // the S_mix=0 point, as a server sends it
  EXPECT_THAT(RenderEstimates({e}), Not(HasSubstr("S (log)")));
  PlotOptions plot;
  plot.width = 90;
  const std::string text = RenderEstimates({e, e}, nullptr, &plot);
  ExpectNoTrailingBlanks(text);
  size_t plots = 0;
  for (size_t at = text.find("  plot: S against N_tele, log-log"); at != std::string::npos;
       at = text.find("  plot: S against N_tele, log-log", at + 1)) {
    ++plots;
  }
  EXPECT_EQ(plots, 2u);
  EXPECT_THAT(text, HasSubstr("\n  S (log)\n"));
  EXPECT_THAT(text, HasSubstr("N_tele (log)"));
  // After the global eta table of its estimate, before the next estimate.
  EXPECT_LT(text.find("global eta per mixed point"), text.find("  plot: "));
  EXPECT_LT(text.find("  plot: "), text.find("\nin_domain", 1));
  // The plot fits the width, indentation included.
  const std::string first = text.substr(text.find("  plot: "));
  for (const std::string& line : Lines(first.substr(0, first.find("\n\n")))) {
    EXPECT_LE(line.size(), 90u) << line;
  }
  // S = 0 of a mixed point is counted under its plot.
  EXPECT_THAT(text, HasSubstr("not drawn, S = 0 has no place on a log axis: 1 point (sim N=50+2000)"));
}

TEST(RenderEvalEstimateUpdateTest, OneLineWithEachGlobalEta) {
  v1::EstimateUpdate update;
  *update.mutable_estimate() = EstimateWithEveryCase();
  update.set_trigger_trial_id(812);
  const std::string line = RenderEstimateUpdateLine(update);
  EXPECT_THAT(line, StartsWith("in_domain/sim v7 · 240 trials (after #812) · "
                               "200+1000: 12.5 [8.125, 20.5] · 100+1000: -25 <= -4 or >= 30 · "));
  EXPECT_THAT(line, HasSubstr("50+2000: S_mix=0 · "));
  EXPECT_THAT(line, EndsWith("200+2000: N_eq overflow"));
  EXPECT_EQ(line.find('\n'), std::string::npos);

  v1::EstimateUpdate early;
  early.mutable_estimate()->set_scenario("in_domain");
  early.mutable_estimate()->set_source("video");
  early.mutable_estimate()->set_version(1);
  early.mutable_estimate()->mutable_fit()->set_undefined_reason(v1::Eta::STATUS_TOO_FEW_POINTS);
  EXPECT_EQ(RenderEstimateUpdateLine(early),
            "in_domain/video v1 · 0 trials · global eta: too few points");
}

// ---------------------------------------------------------------------------
// Recommendation

TEST(RenderEvalRecommendationTest, TheMixPredictionBudgetAndRuleOfThumb) {
  v1::RecommendMixRequest request;
  request.set_sweep_id(3);
  request.set_scenario("in_domain");
  request.set_source("sim");
  request.set_budget_hours(100);
  v1::Recommendation r;
  r.set_n_tele(120);
  r.set_n_nt(3000);
  r.set_predicted_s(0.7213);
  r.mutable_predicted_s_interval()->set_lower(0.65);
  r.mutable_predicted_s_interval()->set_upper(0.78);
  r.set_spent_hours(99);
  r.set_budget_hours(100);
  r.set_buy_non_teleop(true);
  r.set_eta_used(16);
  r.set_cost_tele_hours(0.5);
  r.set_cost_nt_hours(0.013);
  r.set_teleop_core(50);
  r.add_warnings("N_nt 3000 is beyond twice the largest measured N_nt (1000)");
  r.set_explanation("Simulation demos are 38x cheaper and worth 1/16 of a teleop demo.");
  EXPECT_EQ(RenderRecommendation(request, r),
            "Recommended mix for sweep 3 · in_domain · sim\n"
            "  N_tele 120 · N_nt 3000\n"
            "  predicted S 0.7213 [0.65, 0.78]\n"
            "  spent 99 h of 100 h (teleop 120 × 0.5 h = 60 h, sim 3000 × 0.013 h = 39 h)\n"
            "  teleop core 50 demos at least\n"
            "  rule of thumb (buy when C_tele/C_nt > eta > 0): C_tele/C_nt = 38.46, eta = 16: "
            "38.46 > 16 > 0\n"
            "  buy non-teleop data: YES\n"
            "  warning: N_nt 3000 is beyond twice the largest measured N_nt (1000)\n"
            "\n"
            "Simulation demos are 38x cheaper and worth 1/16 of a teleop demo.\n");
}

TEST(RenderEvalRecommendationTest, RuleOfThumbSaysWhichSideFails) {
  v1::RecommendMixRequest request;
  request.set_budget_hours(10);
  v1::Recommendation r;
  r.set_cost_tele_hours(1);
  r.set_cost_nt_hours(0.125);  // ratio 8
  r.set_eta_used(16);
  EXPECT_THAT(RenderRecommendation(request, r),
              AllOf(HasSubstr("C_tele/C_nt = 8, eta = 16: 8 <= 16\n"),
                    HasSubstr("buy non-teleop data: no\n"), HasSubstr("spent 0 h of 10 h")));
  r.set_eta_used(-2);
  EXPECT_THAT(RenderRecommendation(request, r), HasSubstr("eta -2 <= 0\n"));
}

}  // namespace
}  // namespace mixsweep::cli
