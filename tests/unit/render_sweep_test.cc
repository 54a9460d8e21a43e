// services/cli/render_sweep.h: `sweep list` and `sweep show`: the overall
// progress bar, the evaluation counts, and the grid of runs by state and by
// score.
#include "services/cli/render_sweep.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/render_lines.h"
#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/sweep.pb.h"

namespace mixsweep::cli {
namespace {

using ::mixsweep::cli::render_test::ExpectNoTrailingBlanks;
using ::mixsweep::cli::render_test::Lines;

namespace v1 = mixsweep::v1;
using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string StripColor(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      while (i < text.size() && text[i] != 'm') ++i;
      continue;
    }
    out += text[i];
  }
  return out;
}

// Pick Dual Bottles, smaller: N_tele {50, 100} x (baseline, sim 1000) x
// seeds {0, 1, 2}, scenarios in_domain and unseen_background (10 trials).
v1::Sweep BaseSweep() {
  v1::Sweep s;
  s.set_id(1);
  s.set_name("pick-dual-bottles-sim");
  s.set_owner("alice");
  s.set_state(v1::SWEEP_STATE_ACTIVE);
  s.add_n_tele(100);
  s.add_n_tele(50);
  v1::SourceSummary* sim = s.add_sources();
  sim->set_name("sim");
  sim->add_n_nt(0);
  sim->add_n_nt(1000);
  for (int seed : {0, 1, 2}) s.add_seeds(seed);
  for (const char* name : {"in_domain", "unseen_background"}) {
    v1::Scenario* sc = s.add_scenarios();
    sc->set_name(name);
    sc->set_trials(10);
  }
  return s;
}

v1::ScenarioResult Result(int64_t run, const std::string& scenario, int recorded, double s,
                          const std::string& state = "") {
  v1::ScenarioResult r;
  r.set_run_id(run);
  r.set_scenario(scenario);
  r.set_trials_wanted(10);
  r.set_trials_recorded(recorded);
  r.set_s(s);
  r.set_state(state.empty() ? (recorded >= 10 ? "complete" : "open") : state);
  r.set_request_id(run * 10 + static_cast<int64_t>(scenario.size()));
  return r;
}

// A sweep part way: every state a run can show.
struct Example {
  v1::GetSweepResponse sweep;
  std::vector<v1::ScenarioResult> results;
};

Example PartWay() {
  Example ex;
  *ex.sweep.mutable_sweep() = BaseSweep();
  int64_t next_job = 1;
  auto job = [&](v1::JobKind kind, v1::JobState state) {
    v1::Job* j = ex.sweep.add_jobs();
    j->set_id(next_job++);
    j->set_kind(kind);
    j->set_state(state);
    return j->id();
  };
  int64_t next_run = 1;
  auto baseline = [&](int64_t n_tele, int64_t seed, v1::JobState state) {
    v1::Run* r = ex.sweep.add_runs();
    r->set_id(next_run++);
    r->set_key(absl::StrCat("t", n_tele, "/baseline/s", seed));
    r->set_n_tele(n_tele);
    r->set_seed(seed);
    r->set_train_job_id(job(v1::JOB_KIND_TRAIN, state));
    return r->id();
  };
  auto mixed = [&](int64_t n_tele, int64_t seed, v1::JobState pretrain, v1::JobState finetune) {
    v1::Run* r = ex.sweep.add_runs();
    r->set_id(next_run++);
    r->set_key(absl::StrCat("t", n_tele, "/sim/n1000/s", seed));
    r->set_n_tele(n_tele);
    r->set_source("sim");
    r->set_n_nt(1000);
    r->set_seed(seed);
    r->set_pretrain_job_id(job(v1::JOB_KIND_PRETRAIN, pretrain));
    r->set_finetune_job_id(job(v1::JOB_KIND_FINETUNE, finetune));
    return r->id();
  };
  using S = v1::JobState;
  const S ok = v1::JOB_STATE_SUCCEEDED;
  // N_tele 50, baseline: evaluated; evaluating; trained, no trial yet.
  const int64_t a = baseline(50, 0, ok);
  const int64_t b = baseline(50, 1, ok);
  const int64_t c = baseline(50, 2, ok);
  // N_tele 100, baseline: running, queued, failed.
  baseline(100, 0, v1::JOB_STATE_RUNNING);
  baseline(100, 1, v1::JOB_STATE_QUEUED);
  const int64_t failed = baseline(100, 2, v1::JOB_STATE_FAILED);
  ex.sweep.mutable_runs(failed - 1)->set_state(v1::RUN_STATE_FAILED);
  // N_tele 50, sim 1000: finetune leased; finetune queued after its
  // pretrain; cancelled.
  mixed(50, 0, ok, v1::JOB_STATE_LEASED);
  mixed(50, 1, ok, v1::JOB_STATE_QUEUED);
  mixed(50, 2, v1::JOB_STATE_CANCELLED, v1::JOB_STATE_CANCELLED);
  // N_tele 100, sim 1000: waiting for the pretrain.
  for (int seed : {0, 1, 2}) mixed(100, seed, v1::JOB_STATE_QUEUED, v1::JOB_STATE_BLOCKED);

  ex.results = {Result(a, "in_domain", 10, 0.4),         Result(a, "unseen_background", 10, 0.2),
                Result(b, "in_domain", 10, 1.0),         Result(b, "unseen_background", 3, 0.5),
                Result(c, "in_domain", 0, 0),            Result(c, "unseen_background", 0, 0)};
  return ex;
}

// ---------------------------------------------------------------------------
// Counts and bars

TEST(RenderSweepEvaluationsTest, CompleteOpenAndWaitingForTraining) {
  v1::Sweep sweep = BaseSweep();
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_PENDING"] = 2;
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_TRAINING"] = 1;
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_TRAINED"] = 3;
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_FAILED"] = 1;
  const std::vector<v1::ScenarioResult> results = {
      Result(1, "in_domain", 10, 0.5), Result(1, "unseen_background", 10, 0.4),
      Result(2, "in_domain", 5, 0.3),  Result(3, "in_domain", 0, 0, "cancelled")};
  const EvaluationProgress e = CountEvaluations(sweep, results);
  EXPECT_EQ(e.complete, 2);
  EXPECT_EQ(e.open, 1);
  EXPECT_EQ(e.waiting, 6);  // 3 runs still training x 2 scenarios
  EXPECT_EQ(e.total(), 9);
  EXPECT_EQ(e.trials_recorded, 25);  // the cancelled request counts nowhere
  EXPECT_EQ(e.trials_wanted, 30 + 60);  // and 10 for each waiting evaluation

  sweep.set_state(v1::SWEEP_STATE_CANCELLED);
  EXPECT_EQ(CountEvaluations(sweep, results).waiting, 0);  // they will never be asked for
}

TEST(RenderSweepEvaluationsTest, ACompletedSweepEvaluatedEveryRunThatTrained) {
  v1::Sweep sweep = BaseSweep();
  sweep.set_state(v1::SWEEP_STATE_COMPLETED);
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_TRAINED"] = 10;
  (*sweep.mutable_counts()->mutable_runs_by_state())["RUN_STATE_FAILED"] = 2;
  const EvaluationProgress e = CompletedEvaluations(sweep);
  EXPECT_EQ(e.complete, 20);
  EXPECT_EQ(e.total(), 20);
}

TEST(RenderSweepProgressTest, OverallFractionCountsJobsAndEvaluations) {
  v1::Sweep sweep = BaseSweep();
  sweep.mutable_counts()->set_jobs_total(21);
  (*sweep.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_SUCCEEDED"] = 10;
  (*sweep.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_FAILED"] = 1;
  (*sweep.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_CANCELLED"] = 1;
  (*sweep.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_RUNNING"] = 2;
  EXPECT_DOUBLE_EQ(OverallFraction(sweep, std::nullopt), 12.0 / 21);
  EvaluationProgress e;
  e.complete = 30;
  e.open = 6;
  e.waiting = 18;
  EXPECT_DOUBLE_EQ(OverallFraction(sweep, e), 42.0 / 75);
  EXPECT_EQ(OverallFraction(v1::Sweep(), std::nullopt), 0.0);  // nothing at all
}

TEST(RenderSweepProgressTest, BarRoundsDownAndIsFullOnlyWhenDone) {
  EXPECT_EQ(RenderBar(42.0 / 75, 16), "[########--------]  56%");
  EXPECT_EQ(RenderBar(0.999, 10), "[#########-]  99%");
  EXPECT_EQ(RenderBar(1, 10), "[##########] 100%");
  EXPECT_EQ(RenderBar(0, 4), "[----]   0%");
  EXPECT_EQ(RenderBar(std::numeric_limits<double>::quiet_NaN(), 4), "[----]   0%");
  EXPECT_EQ(RenderBar(7, 4), "[####] 100%");
}

TEST(RenderSweepProgressTest, EvaluationLine) {
  EvaluationProgress e;
  e.complete = 30;
  e.open = 6;
  e.waiting = 18;
  e.trials_recorded = 312;
  e.trials_wanted = 360;
  EXPECT_EQ(RenderEvaluationLine(e, 18),
            "evaluations [##########--------] 30/54 complete · 6 open · 18 waiting for "
            "training · 312/360 trials");
  EXPECT_EQ(RenderEvaluationLine(EvaluationProgress(), 4), "evaluations [----] 0/0 complete");
}

TEST(RenderSweepListTest, OneRowPerSweepWithTheOverallBarJobsAndEvaluations) {
  v1::Sweep a = BaseSweep();
  a.set_id(17);
  a.mutable_counts()->set_runs_total(18);
  a.mutable_counts()->set_jobs_total(21);
  (*a.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_SUCCEEDED"] = 12;
  v1::Sweep b = a;
  b.set_id(18);
  b.set_state(v1::SWEEP_STATE_COMPLETED);
  EvaluationProgress e;
  e.complete = 30;
  e.waiting = 24;
  const std::string out = RenderSweepList({a, b}, {e});
  ExpectNoTrailingBlanks(out);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0],
            "ID  NAME                   STATE      PROGRESS             JOBS   EVALS  RUNS  OWNER");
  EXPECT_EQ(lines[1],
            "17  pick-dual-bottles-sim  active     [######------]  56%  12/21  30/54  18    "
            "alice");
  // Unknown evaluations: jobs only, and "-".
  EXPECT_EQ(lines[2],
            "18  pick-dual-bottles-sim  completed  [######------]  57%  12/21  -      18    "
            "alice");
}

// ---------------------------------------------------------------------------
// The grid

TEST(RenderSweepGridTest, StatesOneCharacterPerSeed) {
  const Example ex = PartWay();
  const std::string out = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 100});
  ExpectNoTrailingBlanks(out);
  EXPECT_THAT(out, StartsWith("runs (a character per seed: 0 1 2)\n"
                              "  N_TELE  baseline  sim 1000\n"
                              "  50      *~#       >.-\n"
                              "  100     >.x       ...\n"
                              "  . waiting   > training   # trained   ~ evaluating   * evaluated   "
                              "x failed   - cancelled\n"));
  EXPECT_THAT(out, Not(HasSubstr("\x1b")));
}

TEST(RenderSweepGridTest, ScoresPerScenarioSideBySideWithTheSeedMean) {
  const Example ex = PartWay();
  const std::string out = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 100});
  // in_domain: seed 0 scored 0.4 (4), seed 1 1.0 (9, the top digit), seed 2
  // not yet; the mean of the seeds with trials, 0.70. unseen_background:
  // seed 1 partly evaluated (3 of 10), in the mean. A failed run is x, a
  // cancelled one -.
  EXPECT_THAT(out, HasSubstr(
                       "\nS per scenario, 10 trials per run: a digit per seed (tenths of S: 7 is "
                       "0.70-0.79), then the mean\n"
                       "          in_domain           unseen_background\n"
                       "  N_TELE  baseline  sim 1000  baseline  sim 1000\n"
                       "  50      49. 0.70  ..-       2~. 0.35  ..-\n"
                       "  100     ..x       ...       ..x       ...\n"
                       "  ~ partly evaluated (in the mean)   . no trial yet   x failed   - "
                       "cancelled\n"));
}

TEST(RenderSweepGridTest, ScenariosThatDoNotFitSideBySideGoBelow) {
  const Example ex = PartWay();
  const std::string out = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 40});
  EXPECT_THAT(out, HasSubstr("          in_domain\n"
                             "  N_TELE  baseline  sim 1000\n"
                             "  50      49. 0.70  ..-\n"
                             "  100     ..x       ...\n"
                             "\n"
                             "          unseen_background\n"
                             "  N_TELE  baseline  sim 1000\n"
                             "  50      2~. 0.35  ..-\n"));
  // A scenario name longer than its columns is cut, never run into the next.
  const std::string narrow = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 24});
  EXPECT_THAT(narrow, HasSubstr("          unseen_ba\n  N_TELE  baseline\n"));
}

TEST(RenderSweepGridTest, RowsAscendBaselineFirstThenEachSourcesNnt) {
  Example ex = PartWay();
  v1::SourceSummary* video = ex.sweep.mutable_sweep()->add_sources();
  video->set_name("video");
  video->add_n_nt(500);
  v1::Run* r = ex.sweep.add_runs();
  r->set_id(99);
  r->set_n_tele(50);
  r->set_source("video");
  r->set_n_nt(500);
  r->set_seed(1);
  r->set_state(v1::RUN_STATE_PENDING);
  const auto lines = Lines(RenderSweepGrid(ex.sweep, {}, {.color = false, .width = 100}));
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[1], "  N_TELE  baseline  sim 1000  video 500");
  // Seeds 0 and 2 have no run there: blank.
  EXPECT_EQ(lines[2], "  50      ###       >.-        .");
  EXPECT_EQ(lines[3], "  100     >.x       ...");
}

TEST(RenderSweepGridTest, WithoutJobsTheRunStateDecides) {
  Example ex = PartWay();
  ex.sweep.clear_jobs();
  for (v1::Run& r : *ex.sweep.mutable_runs()) r.set_state(v1::RUN_STATE_TRAINING);
  ex.sweep.mutable_runs(0)->set_state(v1::RUN_STATE_TRAINED);
  ex.sweep.mutable_runs(1)->set_state(v1::RUN_STATE_CANCELLED);
  ex.sweep.mutable_runs(2)->set_state(v1::RUN_STATE_PENDING);
  const auto lines = Lines(RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 100}));
  EXPECT_EQ(lines[2], "  50      *-.       >>>");
}

TEST(RenderSweepGridTest, ColoursByStateAndScoreOnlyWhenAsked) {
  const Example ex = PartWay();
  const std::string plain = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 100});
  const std::string color = RenderSweepGrid(ex.sweep, ex.results, {.color = true, .width = 100});
  EXPECT_THAT(color, HasSubstr("\x1b[32m*\x1b[0m"));  // evaluated: green
  EXPECT_THAT(color, HasSubstr("\x1b[31mx\x1b[0m"));  // failed: red
  EXPECT_THAT(color, HasSubstr("\x1b[33m>\x1b[0m"));  // training: yellow
  EXPECT_THAT(color, HasSubstr("\x1b[32m9\x1b[0m"));  // S 1.0: green
  EXPECT_THAT(color, HasSubstr("\x1b[33m4\x1b[0m"));  // S 0.4: yellow
  EXPECT_THAT(color, HasSubstr("\x1b[31m2\x1b[0m"));  // S 0.2: red
  EXPECT_EQ(StripColor(color), plain);
}

TEST(RenderSweepGridTest, ManyColumnsWrapIntoBlocksThatFitTheWidth) {
  Example ex = PartWay();
  v1::SourceSummary* sim = ex.sweep.mutable_sweep()->mutable_sources(0);
  for (int64_t n : {2000, 4000, 8000, 16000, 32000}) {
    sim->add_n_nt(n);
    for (int64_t n_tele : {50, 100}) {
      for (int seed : {0, 1, 2}) {
        v1::Run* r = ex.sweep.add_runs();
        r->set_id(1000 + n + n_tele * 10 + seed);
        r->set_n_tele(n_tele);
        r->set_source("sim");
        r->set_n_nt(n);
        r->set_seed(seed);
        r->set_state(v1::RUN_STATE_PENDING);
      }
    }
  }
  const std::string out = RenderSweepGrid(ex.sweep, ex.results, {.color = false, .width = 40});
  for (const std::string& line : Lines(out)) {
    if (line.rfind("  N_TELE", 0) == 0 || line.rfind("  50 ", 0) == 0 || line.rfind("  100", 0) == 0) {
      EXPECT_LE(line.size(), 40u) << line;
    }
  }
  // The state grid alone: 7 columns in blocks, every block with its labels.
  const std::string states = out.substr(0, out.find("  . waiting"));
  int headers = 0;
  for (const std::string& line : Lines(states)) headers += line.rfind("  N_TELE", 0) == 0;
  EXPECT_GE(headers, 2);
  EXPECT_THAT(states, HasSubstr("sim 32000"));
}

TEST(RenderSweepGridTest, ABaselineFromAnotherSweepIsNamed) {
  Example ex = PartWay();
  ex.sweep.mutable_sweep()->set_baseline_from_sweep(7);
  v1::GetSweepResponse mixed_only = ex.sweep;
  mixed_only.clear_runs();
  for (const v1::Run& r : ex.sweep.runs()) {
    if (r.n_nt() > 0) *mixed_only.add_runs() = r;
  }
  const std::string out = RenderSweepGrid(mixed_only, {}, {.color = false, .width = 100});
  EXPECT_THAT(out, HasSubstr("  N_TELE  sim 1000\n  50      >.-\n"));
  EXPECT_THAT(out, HasSubstr("  the teleop-only baseline comes from sweep 7\n"));
  EXPECT_THAT(out, Not(HasSubstr("N_TELE  baseline")));
}

TEST(RenderSweepGridTest, NoRunsAndNoTrialsYet) {
  v1::GetSweepResponse empty;
  *empty.mutable_sweep() = BaseSweep();
  EXPECT_EQ(RenderSweepGrid(empty, {}, {}), "No runs.\n");
  const Example ex = PartWay();
  const std::string out = RenderSweepGrid(ex.sweep, {}, {.color = false, .width = 100});
  EXPECT_THAT(out, HasSubstr("  50      ###       >.-\n"));  // trained, nothing recorded
  EXPECT_THAT(out, HasSubstr("  50      ...       ..-       ...       ..-\n"));
}

// ---------------------------------------------------------------------------
// What the sweep is made of (seed 001: generated sources, simulation
// scenarios, checkpoint aggregation, the scaling design)

v1::Sweep DesignSweep() {
  v1::Sweep sweep;
  sweep.set_design("mixture");
  sweep.set_aggregation("max_over_checkpoints");
  sweep.add_n_tele(10);
  sweep.add_n_tele(50);
  sweep.set_teleop_cost_per_demo_hours(0.05);
  sweep.mutable_teleop_dataset()->set_uri("file:///data/teleop");
  v1::SourceSummary* collected = sweep.add_sources();
  collected->set_name("video");
  collected->set_kind(v1::SOURCE_KIND_HUMAN_VIDEO);
  collected->mutable_dataset()->set_uri("file:///data/video");
  collected->set_cost_per_demo_hours(0.002);
  collected->add_n_nt(500);
  v1::SourceSummary* generated = sweep.add_sources();
  generated->set_name("mimicgen");
  generated->set_kind(v1::SOURCE_KIND_SIMULATION);
  generated->set_generated(true);
  generated->set_generate_demos(1000);
  generated->mutable_generate_from()->set_uri("file:///data/human10");
  generated->set_cost_per_demo_hours(0.01);
  generated->add_n_nt(100);
  generated->add_n_nt(1000);
  v1::GenerationResult* g = generated->mutable_generation();
  g->set_job_id(4);
  g->set_state(v1::JOB_STATE_SUCCEEDED);
  g->set_dataset_uri("file:///artifacts/sweep-1/generate/mimicgen");
  g->set_num_success(1000);
  g->set_num_attempts(1350);
  g->set_success_rate(1000.0 / 1350);
  g->set_seconds(7380);
  g->set_measured_cost_per_demo_hours(7380.0 / 3600 / 1000);
  v1::Scenario* robot = sweep.add_scenarios();
  robot->set_name("in_domain");
  robot->set_trials(10);
  robot->set_platform("aloha");
  robot->set_evaluator(v1::Scenario::EVALUATOR_ROBOT);
  v1::Scenario* sim = sweep.add_scenarios();
  sim->set_name("sim_eval");
  sim->set_trials(50);
  sim->set_evaluator(v1::Scenario::EVALUATOR_SIMULATION);
  sim->set_result_format("lerobot");
  sim->set_seed(42);
  return sweep;
}

TEST(RenderSweepDesignTest, DesignAggregationSourcesAndScenarios) {
  const std::string text = RenderSweepDesign(DesignSweep());
  ExpectNoTrailingBlanks(text);
  EXPECT_EQ(text,
            "design mixture (teleop x sources; seed 000) · checkpoints: max_over_checkpoints (per "
            "seed, the best checkpoint's S; robot scenarios use the last)\n"
            "teleop: N_tele 10,50 · 0.05 h per demo · dataset file:///data/teleop\n"
            "sources:\n"
            "  video     human video · collected · N_nt 500 · dataset file:///data/video · 0.002 h "
            "per demo\n"
            "  mimicgen  simulation · generated (1000 demos from file:///data/human10; generate "
            "job #4: succeeded, 1000/1350 successes = 74.1%, 2h03m, 0.00205 h per demo measured "
            "vs 0.01 h in the spec) · N_nt 100,1000 · dataset "
            "file:///artifacts/sweep-1/generate/mimicgen\n"
            "scenarios:\n"
            "  in_domain  robot (platform aloha) · 10 trials\n"
            "  sim_eval   simulation (lerobot, seed 42) · 50 trials\n");
}

TEST(RenderSweepDesignTest, AGeneratedSourceBeforeItsJobRanSaysSo) {
  v1::SourceSummary s = DesignSweep().sources(1);
  s.clear_generation();
  EXPECT_EQ(DescribeSource(s),
            "simulation · generated (1000 demos from file:///data/human10; no generate job yet) "
            "· N_nt 100,1000 · 0.01 h per demo");
  // Queued: the job exists, no figures yet; the spec's cost still counts.
  s.mutable_generation()->set_job_id(4);
  s.mutable_generation()->set_state(v1::JOB_STATE_QUEUED);
  EXPECT_EQ(DescribeSource(s),
            "simulation · generated (1000 demos from file:///data/human10; generate job #4: "
            "queued) · N_nt 100,1000 · 0.01 h per demo");
}

TEST(RenderSweepDesignTest, ScalingDesignHasNoTeleopAndNamesTheBaselineSweep) {
  v1::Sweep sweep = DesignSweep();
  sweep.set_design("scaling");
  sweep.set_aggregation("last");
  sweep.clear_n_tele();
  sweep.set_baseline_from_sweep(3);
  sweep.mutable_sources()->DeleteSubrange(0, 1);
  const std::string text = RenderSweepDesign(sweep);
  EXPECT_THAT(text, StartsWith("design scaling (one source, S against its N, no teleop; seed 001 "
                               "Fig. 5) · checkpoints: last (the last checkpoint's S)\n"
                               "teleop: none; exchange rates against the teleop curve of sweep "
                               "3\n"));
  EXPECT_THAT(text, HasSubstr("  mimicgen  simulation · generated ("));
}

TEST(RenderSweepDesignTest, AnOlderServerWithoutTheNewFieldsShowsWhatItHas) {
  v1::Sweep sweep;
  v1::Scenario* s = sweep.add_scenarios();
  s->set_name("in_domain");
  s->set_trials(10);  // evaluator unspecified: a robot
  EXPECT_EQ(RenderSweepDesign(sweep), "scenarios:\n  in_domain  robot · 10 trials\n");
}

}  // namespace
}  // namespace mixsweep::cli
