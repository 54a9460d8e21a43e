// services/cli/render.h: the CLI's plain-text tables and summaries.
#include "services/cli/render.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/render_lines.h"
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

// ---------------------------------------------------------------------------
// RenderTable

TEST(RenderTableTest, ColumnsAreAsWideAsTheirWidestCellPlusTwo) {
  const std::string table = RenderTable({"ID", "NAME", "STATE"},
                                        {{"1", "pick-dual-bottles", "active"},
                                         {"1234", "x", "cancelled"}});
  EXPECT_EQ(table,
            "ID    NAME               STATE\n"
            "1     pick-dual-bottles  active\n"
            "1234  x                  cancelled\n");
}

TEST(RenderTableTest, NoTrailingBlanksEvenWithEmptyLastCells) {
  const std::string table =
      RenderTable({"A", "B", "C"}, {{"x", "", ""}, {"", "y", ""}, {"long cell", "", "z"}});
  ExpectNoTrailingBlanks(table);
  const auto lines = Lines(table);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[1], "x");
  EXPECT_EQ(lines[2], "           y");
  EXPECT_EQ(lines[3], "long cell     z");  // 9 + 2, then B (width 1) + 2
}

TEST(RenderTableTest, ShortRowsAreFilledAndHeaderOnlyWorks) {
  EXPECT_EQ(RenderTable({"A", "B"}, {{"abc"}}), "A    B\nabc\n");
  EXPECT_EQ(RenderTable({"RUN", "KEY"}, {}), "RUN  KEY\n");
}

TEST(RenderTableTest, WidthsCountCharactersNotBytes) {
  // "×" and "→" are two and three bytes in UTF-8, one character each.
  EXPECT_EQ(RenderTable({"GPUS", "X"}, {{"2× H100", "a"}, {"a → b", "c"}}),
            "GPUS     X\n"
            "2× H100  a\n"
            "a → b    c\n");
}

TEST(RenderTableTest, CellsStartAtTheSameColumnOnEveryLine) {
  const std::string table =
      RenderTable({"X", "Y", "Z"}, {{"a", "bb", "c"}, {"dddd", "e", "ffffff"}, {"g", "hhh", "i"}});
  const auto lines = Lines(table);
  ASSERT_EQ(lines.size(), 4u);
  // Column Y starts after "dddd" + 2, column Z after "hhh" + 2 more.
  for (const std::string& line : lines) {
    ASSERT_GE(line.size(), 12u) << line;
    EXPECT_EQ(line[5], ' ') << line;
    EXPECT_NE(line[6], ' ') << line;
    EXPECT_EQ(line[10], ' ') << line;
    EXPECT_NE(line[11], ' ') << line;
  }
}

// ---------------------------------------------------------------------------
// ShortEnumName

TEST(RenderShortEnumNameTest, StripsKnownPrefixesAndLowercases) {
  EXPECT_EQ(ShortEnumName("JOB_STATE_QUEUED"), "queued");
  EXPECT_EQ(ShortEnumName("RUN_STATE_PENDING"), "pending");
  EXPECT_EQ(ShortEnumName("SWEEP_STATE_ACTIVE"), "active");
  EXPECT_EQ(ShortEnumName("JOB_KIND_PRETRAIN"), "pretrain");
  EXPECT_EQ(ShortEnumName("SOURCE_KIND_HUMAN_VIDEO"), "human_video");
  EXPECT_EQ(ShortEnumName(v1::JobState_Name(v1::JOB_STATE_SUCCEEDED)), "succeeded");
}

TEST(RenderShortEnumNameTest, OtherNamesAreOnlyLowercased) {
  EXPECT_EQ(ShortEnumName("RUBRIC_KIND_ITEMS"), "rubric_kind_items");
  EXPECT_EQ(ShortEnumName("Queued"), "queued");
  EXPECT_EQ(ShortEnumName(""), "");
  // A prefix only counts at the start.
  EXPECT_EQ(ShortEnumName("X_JOB_STATE_QUEUED"), "x_job_state_queued");
}

// ---------------------------------------------------------------------------
// RenderProgressBar

v1::SweepCounts Counts(int total, int succeeded, int failed = 0, int cancelled = 0,
                       int running = 0) {
  v1::SweepCounts c;
  c.set_jobs_total(total);
  auto& m = *c.mutable_jobs_by_state();
  if (succeeded) m["JOB_STATE_SUCCEEDED"] = succeeded;
  if (failed) m["JOB_STATE_FAILED"] = failed;
  if (cancelled) m["JOB_STATE_CANCELLED"] = cancelled;
  if (running) m["JOB_STATE_RUNNING"] = running;
  return c;
}

TEST(RenderProgressBarTest, Empty) {
  EXPECT_EQ(RenderProgressBar(Counts(10, 0, 0, 0, 4), 10), "[----------] 0% (0/10 jobs done)");
}

TEST(RenderProgressBarTest, HalfCountsSucceededFailedAndCancelledAsDone) {
  // 3 succeeded + 1 failed + 1 cancelled of 10; running jobs are not done.
  EXPECT_EQ(RenderProgressBar(Counts(10, 3, 1, 1, 2), 10), "[#####-----] 50% (5/10 jobs done)");
  EXPECT_EQ(RenderProgressBar(Counts(10, 3, 1, 1, 2)),
            "[###############---------------] 50% (5/10 jobs done)");
}

TEST(RenderProgressBarTest, Full) {
  EXPECT_EQ(RenderProgressBar(Counts(21, 21)),
            "[##############################] 100% (21/21 jobs done)");
}

TEST(RenderProgressBarTest, TotalZeroIsAnEmptyBarAtZeroPercent) {
  EXPECT_EQ(RenderProgressBar(v1::SweepCounts()),
            "[------------------------------] 0% (0/0 jobs done)");
}

TEST(RenderProgressBarTest, TheHeaderExample) {
  EXPECT_EQ(RenderProgressBar(Counts(20, 9), 20), "[#########-----------] 45% (9/20 jobs done)");
}

// ---------------------------------------------------------------------------
// RenderSweepSummary

v1::Sweep ExampleSweep() {
  v1::Sweep s;
  s.set_id(17);
  s.set_name("pick-dual-bottles-sim");
  s.set_owner("alice");
  s.set_state(v1::SWEEP_STATE_ACTIVE);
  s.set_revision(2);
  s.set_task("pick_dual_bottles");
  s.set_policy("diffusion_policy");
  s.set_code_version("git:4f1c2e9");
  v1::SweepCounts* c = s.mutable_counts();
  c->set_runs_total(18);
  (*c->mutable_runs_by_state())["RUN_STATE_PENDING"] = 15;
  (*c->mutable_runs_by_state())["RUN_STATE_TRAINING"] = 3;
  (*c->mutable_runs_by_state())["RUN_STATE_FAILED"] = 0;  // zero counts are not shown
  c->set_jobs_total(21);
  (*c->mutable_jobs_by_state())["JOB_STATE_QUEUED"] = 6;
  (*c->mutable_jobs_by_state())["JOB_STATE_BLOCKED"] = 9;
  (*c->mutable_jobs_by_state())["JOB_STATE_RUNNING"] = 3;
  (*c->mutable_jobs_by_state())["JOB_STATE_SUCCEEDED"] = 3;
  (*c->mutable_jobs_by_kind())["JOB_KIND_TRAIN"] = 9;
  (*c->mutable_jobs_by_kind())["JOB_KIND_PRETRAIN"] = 3;
  (*c->mutable_jobs_by_kind())["JOB_KIND_FINETUNE"] = 9;
  return s;
}

TEST(RenderSweepSummaryTest, ShowsWhoWhatAndCountsInAFixedOrder) {
  const std::string out = RenderSweepSummary(ExampleSweep());
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 5u) << out;
  EXPECT_EQ(lines[0], "Sweep 17  pick-dual-bottles-sim  [active]  owner alice  revision 2");
  EXPECT_EQ(lines[1], "task pick_dual_bottles · policy diffusion_policy · code git:4f1c2e9");
  EXPECT_EQ(lines[2], "runs 18 (training 3, pending 15)");
  EXPECT_EQ(lines[3],
            "jobs 21 (succeeded 3, running 3, queued 6, blocked 9): train 9, pretrain 3, "
            "finetune 9");
  EXPECT_EQ(lines[4], RenderProgressBar(ExampleSweep().counts()));
  EXPECT_THAT(lines[4], StartsWith("[####-"));  // 3/21 of 30 is 4.3
  EXPECT_THAT(lines[4], HasSubstr("14% (3/21 jobs done)"));
  EXPECT_THAT(out, Not(HasSubstr("failed")));
  EXPECT_THAT(out, Not(HasSubstr("cancelled:")));
}

TEST(RenderSweepSummaryTest, WithJobsTheLastLineIsTheProgressLine) {
  v1::GetSweepResponse response;
  *response.mutable_sweep() = ExampleSweep();
  const auto lines = Lines(RenderSweepSummary(response, std::chrono::system_clock::now()));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[3], Lines(RenderSweepSummary(ExampleSweep()))[3]);
  // No jobs in the response: nothing left to time (an example, not a sweep).
  EXPECT_EQ(lines[4], RenderSweepProgressLine(ExampleSweep(), 0.0));
  EXPECT_THAT(lines[4], AllOf(StartsWith("[####-"), HasSubstr(" · running 3 · queued 6 · "),
                              EndsWith(" · eta 0s")));
}

TEST(RenderSweepSummaryTest, CancelledSweepShowsItsReason) {
  v1::Sweep s = ExampleSweep();
  s.set_state(v1::SWEEP_STATE_CANCELLED);
  s.set_cancel_reason("wrong teleop dataset");
  const std::string out = RenderSweepSummary(s);
  EXPECT_THAT(out, HasSubstr("[cancelled]"));
  EXPECT_THAT(out, EndsWith("cancelled: wrong teleop dataset\n"));
}

// RenderSweepList: tests/unit/render_sweep_test.cc.

// ---------------------------------------------------------------------------
// RenderRuns, RenderJobs, RenderJob

TEST(RenderRunsTest, MixedRunsShowBothJobsAndBaselinesTheirTrainJob) {
  v1::GetSweepResponse response;
  v1::Run* baseline = response.add_runs();
  baseline->set_id(1);
  baseline->set_key("t50/baseline/s0");
  baseline->set_n_tele(50);
  baseline->set_seed(0);
  baseline->set_state(v1::RUN_STATE_TRAINED);
  baseline->set_train_job_id(1);
  v1::Run* mixed = response.add_runs();
  mixed->set_id(2);
  mixed->set_key("t50/sim/n1000/s0");
  mixed->set_n_tele(50);
  mixed->set_source("sim");
  mixed->set_n_nt(1000);
  mixed->set_state(v1::RUN_STATE_TRAINING);
  mixed->set_pretrain_job_id(4);
  mixed->set_finetune_job_id(5);

  const std::string out = RenderRuns(response);
  ExpectNoTrailingBlanks(out);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_THAT(lines[0], StartsWith("RUN  KEY"));
  EXPECT_THAT(lines[0], EndsWith("JOBS"));
  EXPECT_THAT(lines[1], AllOf(StartsWith("1    t50/baseline/s0"), HasSubstr(" - "),
                              HasSubstr("trained"), EndsWith("train #1")));
  EXPECT_THAT(lines[2], AllOf(StartsWith("2    t50/sim/n1000/s0"), HasSubstr(" sim "),
                              HasSubstr(" 1000 "), HasSubstr("training"),
                              EndsWith("pretrain #4 → finetune #5")));
  // Every column starts where its header does: the JOBS column.
  const size_t jobs_col = lines[0].find("JOBS");
  EXPECT_EQ(lines[1].find("train #1"), jobs_col);
  EXPECT_EQ(lines[2].find("pretrain #4"), jobs_col);
}

TEST(RenderJobsTest, ProgressColumnWhileAJobRuns) {
  v1::GetSweepResponse response;
  v1::Job* running = response.add_jobs();
  running->set_id(4);
  running->set_state(v1::JOB_STATE_RUNNING);
  running->set_steps(13000);
  running->mutable_progress()->set_step(1200);
  running->mutable_progress()->set_total_steps(13000);
  v1::Job* leased = response.add_jobs();
  leased->set_id(5);
  leased->set_state(v1::JOB_STATE_LEASED);
  leased->set_steps(3000);
  v1::Job* done = response.add_jobs();
  done->set_id(6);
  done->set_state(v1::JOB_STATE_SUCCEEDED);
  done->set_steps(3000);
  done->mutable_progress()->set_step(3000);
  const std::string out = RenderJobs(response);
  ExpectNoTrailingBlanks(out);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 4u);
  const size_t column = lines[0].find("PROGRESS");
  ASSERT_NE(column, std::string::npos);
  EXPECT_EQ(lines[1].find("1200/13000"), column) << out;
  EXPECT_EQ(lines[2].find("?/3000"), column) << out;  // no report yet
  EXPECT_EQ(lines[3].substr(column, 8), "        ") << out;  // not running: empty
}

TEST(RenderJobsTest, OneRowPerJob) {
  v1::GetSweepResponse response;
  v1::Job* j = response.add_jobs();
  j->set_id(5);
  j->set_kind(v1::JOB_KIND_FINETUNE);
  j->set_state(v1::JOB_STATE_BLOCKED);
  j->set_source("teleop");
  j->set_n_demos(50);
  j->set_seed(2);
  j->set_steps(3000);
  j->set_depends_on_job_id(4);
  j->set_attempts(0);
  j->set_max_attempts(3);
  j->add_run_ids(2);
  j->add_run_ids(3);
  const auto lines = Lines(RenderJobs(response));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[1], AllOf(StartsWith("#5 "), HasSubstr("finetune"), HasSubstr("blocked"),
                              HasSubstr("teleop"), HasSubstr(" 3000 "), HasSubstr(" #4 "),
                              HasSubstr(" 0/3 "), EndsWith("2,3")));
}

v1::Job ExampleJob() {
  v1::Job j;
  j.set_id(4);
  j.set_key("pretrain/sim/n1000/s0/3f2a9c1d");
  j.set_kind(v1::JOB_KIND_PRETRAIN);
  j.set_state(v1::JOB_STATE_RUNNING);
  j.set_sweep_id(17);
  j.add_run_ids(2);
  j.add_run_ids(8);
  j.mutable_dataset()->set_uri("file:///data/robotwin2/pick_dual_bottles/sim");
  j.mutable_dataset()->set_content_hash("sha256:2d7c");
  j.mutable_dataset()->set_episodes(1000);
  j.set_n_demos(1000);
  j.set_seed(0);
  j.set_steps(10000);
  j.set_attempts(1);
  j.set_max_attempts(3);
  j.set_priority(5);
  return j;
}

TEST(RenderJobTest, ShowsWhatTheJobIs) {
  const std::string out = RenderJob(ExampleJob());
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 4u) << out;
  EXPECT_EQ(lines[0], "Job #4  pretrain/sim/n1000/s0/3f2a9c1d");
  EXPECT_EQ(lines[1], "kind pretrain · state running · sweep 17 · runs 2,8");
  EXPECT_EQ(lines[2],
            "dataset file:///data/robotwin2/pick_dual_bottles/sim (sha256:2d7c) · 1000 of 1000 "
            "episodes · seed 0 · 10000 steps");
  EXPECT_EQ(lines[3], "attempts 1/3 · priority 5");
}

TEST(RenderJobTest, OptionalLinesAppearOnlyWhenSet) {
  v1::Job j = ExampleJob();
  j.set_depends_on_job_id(3);
  j.set_checkpoint_uri("file:///ckpt/4/latest.ckpt");
  j.mutable_failure()->set_message("exit code 1");
  j.mutable_dataset()->clear_content_hash();
  const std::string out = RenderJob(j);
  EXPECT_THAT(out, HasSubstr("after job #3\n"));
  EXPECT_THAT(out, HasSubstr("checkpoint file:///ckpt/4/latest.ckpt\n"));
  EXPECT_THAT(out, HasSubstr("failure: exit code 1\n"));
  EXPECT_THAT(out, HasSubstr("dataset file:///data/robotwin2/pick_dual_bottles/sim · 1000 of"));

  const std::string plain = RenderJob(ExampleJob());
  EXPECT_THAT(plain, Not(HasSubstr("after job")));
  EXPECT_THAT(plain, Not(HasSubstr("checkpoint ")));
  EXPECT_THAT(plain, Not(HasSubstr("failure")));
  EXPECT_THAT(plain, Not(HasSubstr("subset")));
}

TEST(RenderJobTest, SubsetIsTruncatedAfterTwentyEntries) {
  v1::Job j = ExampleJob();
  for (int64_t e = 100; e < 125; ++e) j.add_subset_episodes(e);  // 25 entries
  const std::string out = RenderJob(j);
  EXPECT_THAT(out, EndsWith(
                       "subset 100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,"
                       "116,117,118,119,…\n"));
  EXPECT_THAT(out, Not(HasSubstr("120")));
}

TEST(RenderJobTest, SubsetOfExactlyTwentyHasNoEllipsis) {
  v1::Job j = ExampleJob();
  for (int64_t e = 0; e < 20; ++e) j.add_subset_episodes(e * 10);
  const std::string out = RenderJob(j);
  EXPECT_THAT(out, EndsWith("subset 0,10,20,30,40,50,60,70,80,90,100,110,120,130,140,150,160,"
                            "170,180,190\n"));
  EXPECT_THAT(out, Not(HasSubstr("…")));
}

// 2025-03-04 10:00:00Z.
constexpr int64_t kNow = 1741082400;
const TimePoint kNowPoint = TimePoint(std::chrono::seconds(kNow));

google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

// ExampleJob as it runs on a worker: lease, progress, provenance, times.
v1::Job RunningJob() {
  v1::Job j = ExampleJob();
  j.mutable_lease()->set_worker_id(3);
  j.mutable_lease()->set_fencing_token(57);
  *j.mutable_lease()->mutable_expires_at() = At(kNow + 25);
  v1::JobProgress* p = j.mutable_progress();
  p->set_step(4200);
  p->set_total_steps(10000);
  p->set_steps_per_second(1987.5);
  (*p->mutable_metrics())["lr"] = 0.0001;
  (*p->mutable_metrics())["loss"] = 0.03125;
  (*p->mutable_metrics())["grad_norm"] = 1.5;
  *p->mutable_updated_at() = At(kNow - 1);
  j.set_output_uri("file:///artifacts/17/4");
  *j.mutable_created_at() = At(kNow - 3600);
  *j.mutable_started_at() = At(kNow - 80);
  v1::Provenance* prov = j.mutable_provenance();
  for (const char* arg : {"python", "train.py", "task.dataset_path=file:///data/sim",
                          "hydra.run.dir=/artifacts/17/4 (try 1)", "logging.name=it's"}) {
    prov->add_argv(arg);
  }
  (*prov->mutable_env())["WANDB_MODE"] = "offline";
  (*prov->mutable_env())["HYDRA_FULL_ERROR"] = "1";
  (*prov->mutable_env())["NOTE"] = "a b";
  prov->set_subset_manifest_uri("file:///artifacts/17/4/subset.json");
  prov->set_code_version("git:4f1c2e9");
  prov->set_worker_host("node-a.lab");
  prov->add_gpu_indices(0);
  prov->add_gpu_indices(1);
  prov->add_gpu_uuids("GPU-aaaa");
  prov->add_gpu_uuids("GPU-bbbb");
  return j;
}

TEST(RenderJobTest, RunningJobWithLeaseProgressAndProvenance) {
  const std::string out = RenderJob(RunningJob(), kNowPoint);
  ExpectNoTrailingBlanks(out);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 15u) << out;
  EXPECT_EQ(lines[3], "attempts 1/3 · priority 5");
  EXPECT_EQ(lines[4], "lease worker 3 · token 57 · expires 2025-03-04 10:00:25Z (in 25s)");
  EXPECT_EQ(lines[5],
            "progress [########------------] 4200/10000 42% · 1988 steps/s · loss 0.03125 · "
            "grad_norm 1.5 · lr 0.0001 · updated 1s ago");
  EXPECT_EQ(lines[6],
            "created 2025-03-04 09:00:00Z · started 2025-03-04 09:58:40Z · running for 1m20s");
  EXPECT_EQ(lines[7], "output file:///artifacts/17/4");
  EXPECT_EQ(lines[8], "provenance");
  EXPECT_EQ(lines[9],
            "  command  python train.py task.dataset_path=file:///data/sim "
            "'hydra.run.dir=/artifacts/17/4 (try 1)' 'logging.name=it'\\''s'");
  EXPECT_EQ(lines[10], "  env      HYDRA_FULL_ERROR=1 'NOTE=a b' WANDB_MODE=offline");
  EXPECT_EQ(lines[11], "  subset   file:///artifacts/17/4/subset.json");
  EXPECT_EQ(lines[12], "  code     git:4f1c2e9");
  EXPECT_EQ(lines[13], "  host     node-a.lab");
  EXPECT_EQ(lines[14], "  gpus     0,1 (GPU-aaaa, GPU-bbbb)");
  EXPECT_THAT(out, Not(HasSubstr("SYNTHETIC")));
  EXPECT_THAT(out, Not(HasSubstr("failure")));
  EXPECT_THAT(out, Not(HasSubstr("GPU-seconds")));
}

TEST(RenderJobTest, SyntheticProvenanceIsMarked) {
  v1::Job j = RunningJob();
  j.mutable_provenance()->set_synthetic(true);
  const std::string out = RenderJob(j, kNowPoint);
  EXPECT_THAT(out, HasSubstr("\nprovenance  SYNTHETIC: run by the synthetic executor, not a real "
                             "command; no checkpoint was trained\n"));
}

TEST(RenderJobTest, FinishedJobShowsDurationCheckpointAndGpuSeconds) {
  v1::Job j = ExampleJob();
  j.set_state(v1::JOB_STATE_SUCCEEDED);
  *j.mutable_created_at() = At(kNow - 3600);
  *j.mutable_started_at() = At(kNow - 300);
  *j.mutable_finished_at() = At(kNow - 5);
  j.set_checkpoint_uri("file:///artifacts/17/4/checkpoints/latest.ckpt");
  j.set_gpu_seconds(590.04);
  j.mutable_lease()->set_worker_id(2);
  j.mutable_lease()->set_fencing_token(9);
  *j.mutable_lease()->mutable_expires_at() = At(kNow - 10);
  const std::string out = RenderJob(j, kNowPoint);
  ExpectNoTrailingBlanks(out);
  EXPECT_THAT(out, HasSubstr("\ncreated 2025-03-04 09:00:00Z · started 2025-03-04 09:55:00Z · "
                             "finished 2025-03-04 09:59:55Z · took 4m55s\n"));
  EXPECT_THAT(out, HasSubstr("\ncheckpoint file:///artifacts/17/4/checkpoints/latest.ckpt\n"));
  EXPECT_THAT(out, HasSubstr("\nGPU-seconds 590.0 (0.164 GPU-hours)\n"));
  EXPECT_THAT(out, Not(HasSubstr("running for")));
  // Where it ran; its lease's expiry no longer matters.
  EXPECT_THAT(out, HasSubstr("\nlast lease worker 2 · token 9\n"));
  EXPECT_THAT(out, Not(HasSubstr("progress")));
  EXPECT_THAT(out, Not(HasSubstr("provenance")));
}

TEST(RenderJobTest, FailureShowsKindExitCodeAndRetryable) {
  v1::Job j = ExampleJob();
  j.set_state(v1::JOB_STATE_QUEUED);
  *j.mutable_not_before() = At(kNow + 40);
  v1::JobFailure* f = j.mutable_failure();
  f->set_kind(v1::JobFailure::KIND_EXIT_CODE);
  f->set_exit_code(137);
  f->set_message("CUDA out of memory");
  f->set_retryable(true);
  std::string out = RenderJob(j, kNowPoint);
  EXPECT_THAT(out, HasSubstr("attempts 1/3 · priority 5 · retry not before "
                             "2025-03-04 10:00:40Z (in 40s)\n"));
  EXPECT_THAT(out, HasSubstr("\nfailure: CUDA out of memory (exit code, exit code 137, "
                             "retryable)\n"));

  f->set_kind(v1::JobFailure::KIND_SIGNAL);
  f->set_exit_code(0);
  f->set_signal(9);
  f->set_retryable(false);
  f->set_message("");
  out = RenderJob(j, kNowPoint);
  EXPECT_THAT(out, HasSubstr("\nfailure: (no message) (signal, signal 9)\n"));

  f->Clear();
  f->set_kind(v1::JobFailure::KIND_DEPENDENCY_FAILED);
  f->set_message("pretrain #3 failed");
  j.set_cancel_requested(true);
  out = RenderJob(j, kNowPoint);
  EXPECT_THAT(out, HasSubstr("\nfailure: pretrain #3 failed (dependency failed)\n"));
  EXPECT_THAT(out, HasSubstr("attempts 1/3 · priority 5 · cancel requested"));
}

TEST(RenderJobTest, ProgressWithoutTotalOrRate) {
  v1::Job j = ExampleJob();
  j.set_steps(0);
  j.mutable_progress()->set_step(17);
  EXPECT_THAT(RenderJob(j, kNowPoint), HasSubstr("\nprogress 17/?\n"));
}

}  // namespace
}  // namespace mixsweep::cli
