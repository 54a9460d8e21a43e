// services/cli/render.h: workers table, shell quoting, durations and ages,
// the sweep's time-left estimate and its progress line.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/render_lines.h"
#include "mixsweep/v1/sweep.pb.h"
#include "mixsweep/v1/worker.pb.h"
#include "services/cli/render.h"

namespace mixsweep::cli {
namespace {

using ::mixsweep::cli::render_test::ExpectNoTrailingBlanks;
using ::mixsweep::cli::render_test::Lines;

namespace v1 = mixsweep::v1;
using ::testing::AllOf;
using ::testing::DoubleNear;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;

// 2025-03-04 10:00:00Z.
constexpr int64_t kNow = 1741082400;
const TimePoint kNowPoint = TimePoint(std::chrono::seconds(kNow));

google::protobuf::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

// ---------------------------------------------------------------------------
// FormatDuration, FormatTimestamp, FormatAge

TEST(RenderFormatDurationTest, PicksTwoUnits) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(0.4), "0s");
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(59.6), "1m00s");
  EXPECT_EQ(FormatDuration(245), "4m05s");
  EXPECT_EQ(FormatDuration(3600), "1h00m");
  EXPECT_EQ(FormatDuration(2 * 3600 + 3 * 60 + 59), "2h03m");
  EXPECT_EQ(FormatDuration(3 * 86400 + 4 * 3600 + 5), "3d04h");
}

TEST(RenderFormatTimestampTest, UtcOrDashWhenUnset) {
  EXPECT_EQ(FormatTimestamp(At(kNow)), "2025-03-04 10:00:00Z");
  EXPECT_EQ(FormatTimestamp(At(kNow + 65, 999999999)), "2025-03-04 10:01:05Z");
  EXPECT_EQ(FormatTimestamp(google::protobuf::Timestamp()), "-");
}

TEST(RenderFormatAgeTest, PastFutureAndNever) {
  EXPECT_EQ(FormatAge(At(kNow - 3), kNowPoint), "3s ago");
  EXPECT_EQ(FormatAge(At(kNow - 125), kNowPoint), "2m05s ago");
  EXPECT_EQ(FormatAge(At(kNow), kNowPoint), "0s ago");
  EXPECT_EQ(FormatAge(At(kNow + 25), kNowPoint), "in 25s");
  EXPECT_EQ(FormatAge(google::protobuf::Timestamp(), kNowPoint), "never");
}

// ---------------------------------------------------------------------------
// ShellQuote, ShellJoin

TEST(RenderShellQuoteTest, SafeWordsStayAsTheyAre) {
  EXPECT_EQ(ShellQuote("python"), "python");
  EXPECT_EQ(ShellQuote("--config-name=train_diffusion_unet_real_image_workspace"),
            "--config-name=train_diffusion_unet_real_image_workspace");
  EXPECT_EQ(ShellQuote("task.dataset_path=file:///data/a,b/c@1%2+3"),
            "task.dataset_path=file:///data/a,b/c@1%2+3");
}

TEST(RenderShellQuoteTest, OtherWordsAreSingleQuoted) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("two words"), "'two words'");
  EXPECT_EQ(ShellQuote("$HOME"), "'$HOME'");
  EXPECT_EQ(ShellQuote("a;rm -rf /"), "'a;rm -rf /'");
  EXPECT_EQ(ShellQuote("*.ckpt"), "'*.ckpt'");
  EXPECT_EQ(ShellQuote("~/x"), "'~/x'");
  EXPECT_EQ(ShellQuote("line\nbreak"), "'line\nbreak'");
  EXPECT_EQ(ShellQuote("+task.x={a: 1}"), "'+task.x={a: 1}'");
  // A quote ends the quoting, is escaped, and quoting starts again.
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("'"), "''\\'''");
}

TEST(RenderShellJoinTest, QuotesEachWord) {
  EXPECT_EQ(ShellJoin({}), "");
  EXPECT_EQ(ShellJoin({"python", "train.py", "hydra.run.dir=/out/job 4", "", "x"}),
            "python train.py 'hydra.run.dir=/out/job 4' '' x");
  // A shell-mode command is recorded as sh -c SCRIPT.
  EXPECT_EQ(ShellJoin({"/bin/sh", "-c", "cd /w && python train.py > log.txt"}),
            "/bin/sh -c 'cd /w && python train.py > log.txt'");
}

// ---------------------------------------------------------------------------
// RenderStepBar

TEST(RenderStepBarTest, BarStepsAndPercent) {
  EXPECT_EQ(RenderStepBar(1200, 4000, 10), "[###-------] 1200/4000 30%");
  EXPECT_EQ(RenderStepBar(0, 4000, 10), "[----------] 0/4000 0%");
  EXPECT_EQ(RenderStepBar(4000, 4000, 10), "[##########] 4000/4000 100%");
  EXPECT_EQ(RenderStepBar(5000, 4000, 4), "[####] 5000/4000 100%");  // clamped
  EXPECT_EQ(RenderStepBar(17, 0), "17/?");
}

// ---------------------------------------------------------------------------
// RenderWorkers

v1::Worker H100Worker() {
  v1::Worker w;
  w.set_id(3);
  w.set_name("gpu-node-a");
  w.set_host("node-a.lab");
  for (int i = 0; i < 2; ++i) {
    v1::Gpu* gpu = w.add_gpus();
    gpu->set_index(i);
    gpu->set_name("NVIDIA H100 80GB HBM3");
  }
  (*w.mutable_labels())["slurm-job"] = "123";
  (*w.mutable_labels())["robot-lab"] = "a";
  w.set_state(v1::Worker::STATE_ALIVE);
  *w.mutable_last_heartbeat_at() = At(kNow - 3);
  w.add_running_job_ids(4);
  return w;
}

v1::Worker SyntheticWorker() {
  v1::Worker w;
  w.set_id(7);
  w.set_name("synth-1");
  w.set_host("ci");
  w.set_synthetic(true);
  w.add_gpus()->set_name("synthetic");
  w.set_state(v1::Worker::STATE_DRAINING);
  *w.mutable_last_heartbeat_at() = At(kNow - 125);
  w.add_running_job_ids(9);
  return w;
}

TEST(RenderDescribeGpusTest, GroupsByModel) {
  EXPECT_EQ(DescribeGpus(H100Worker()), "2× NVIDIA H100 80GB HBM3");
  EXPECT_EQ(DescribeGpus(SyntheticWorker()), "1× synthetic");
  v1::Worker mixed = H100Worker();
  mixed.add_gpus()->set_name("NVIDIA A100-SXM4-40GB");
  mixed.add_gpus()->set_name("NVIDIA H100 80GB HBM3");
  mixed.add_gpus();  // no name
  EXPECT_EQ(DescribeGpus(mixed),
            "3× NVIDIA H100 80GB HBM3, 1× NVIDIA A100-SXM4-40GB, 1× unknown GPU");
  EXPECT_EQ(DescribeGpus(v1::Worker()), "none");
}

TEST(RenderWorkersTest, OneRowPerWorkerThenASummary) {
  v1::ListWorkersResponse response;
  *response.add_workers() = H100Worker();
  *response.add_workers() = SyntheticWorker();
  v1::Worker* gone = response.add_workers();
  gone->set_id(9);
  gone->set_name("old");
  gone->set_host("node-z");
  gone->set_state(v1::Worker::STATE_GONE);
  gone->add_gpus()->set_name("NVIDIA A100-SXM4-40GB");

  const std::string out = RenderWorkers(response, kNowPoint);
  ExpectNoTrailingBlanks(out);
  const auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 5u) << out;
  EXPECT_EQ(lines[0],
            "ID  NAME                 HOST        STATE     GPUS                      BUSY  "
            "LABELS                     HEARTBEAT  JOBS");
  EXPECT_EQ(lines[1],
            "3   gpu-node-a           node-a.lab  alive     2× NVIDIA H100 80GB HBM3  1/2   "
            "robot-lab=a,slurm-job=123  3s ago     #4");
  EXPECT_THAT(lines[2], AllOf(StartsWith("7   synth-1 (synthetic)  ci "), HasSubstr(" draining "),
                              HasSubstr(" 1× synthetic "), HasSubstr(" 1/1 "),
                              HasSubstr(" 2m05s ago "), EndsWith("#9")));
  EXPECT_THAT(lines[3], AllOf(StartsWith("9   old "), HasSubstr(" gone "), HasSubstr(" 0/1 "),
                              HasSubstr(" never "), EndsWith(" -")));
  // Busy/idle counts only live (alive, draining) workers' GPUs.
  EXPECT_EQ(lines[4],
            "3 workers (1 alive, 1 draining, 1 gone) · GPUs of live workers: 2 busy, 1 idle");
  // "×" is two bytes but one character: the columns after it line up on
  // screen, one byte later in the row.
  EXPECT_EQ(lines[0].find("HEARTBEAT") + 1, lines[1].find("3s ago"));
}

TEST(RenderWorkersTest, NoWorkers) {
  EXPECT_EQ(RenderWorkers(v1::ListWorkersResponse(), kNowPoint),
            "ID  NAME  HOST  STATE  GPUS  BUSY  LABELS  HEARTBEAT  JOBS\n"
            "0 workers · GPUs of live workers: 0 busy, 0 idle\n");
}

TEST(RenderWorkersTest, MoreJobsThanGpusShowsAllGpusBusy) {
  v1::ListWorkersResponse response;
  v1::Worker* w = response.add_workers();
  *w = H100Worker();
  w->add_running_job_ids(5);
  w->add_running_job_ids(6);
  const auto lines = Lines(RenderWorkers(response, kNowPoint));
  EXPECT_THAT(lines[1], AllOf(HasSubstr(" 2/2 "), EndsWith("#4,#5,#6")));
  EXPECT_THAT(lines[2], EndsWith("2 busy, 0 idle"));
}

// ---------------------------------------------------------------------------
// EstimateSecondsLeft

v1::Job* AddJob(v1::GetSweepResponse* sweep, v1::JobState state, int64_t steps) {
  v1::Job* j = sweep->add_jobs();
  j->set_id(sweep->jobs_size());
  j->set_state(state);
  j->set_steps(steps);
  return j;
}

// A succeeded job of `steps` that took `seconds`.
void AddFinished(v1::GetSweepResponse* sweep, int64_t steps, int64_t seconds) {
  v1::Job* j = AddJob(sweep, v1::JOB_STATE_SUCCEEDED, steps);
  *j->mutable_started_at() = At(kNow - 1000 - seconds);
  *j->mutable_finished_at() = At(kNow - 1000);
}

TEST(RenderEstimateSecondsLeftTest, NoJobsLeftIsZero) {
  v1::GetSweepResponse sweep;
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(0.0));
  AddFinished(&sweep, 1000, 10);
  AddJob(&sweep, v1::JOB_STATE_FAILED, 1000);
  AddJob(&sweep, v1::JOB_STATE_CANCELLED, 1000);
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(0.0));
}

TEST(RenderEstimateSecondsLeftTest, NoMeasuredRateIsUnknown) {
  v1::GetSweepResponse sweep;
  AddJob(&sweep, v1::JOB_STATE_QUEUED, 1000);
  AddJob(&sweep, v1::JOB_STATE_BLOCKED, 1000);
  EXPECT_EQ(EstimateSecondsLeft(sweep, kNowPoint), std::nullopt);
  // A leased job that has not reported yet does not help.
  AddJob(&sweep, v1::JOB_STATE_LEASED, 1000);
  EXPECT_EQ(EstimateSecondsLeft(sweep, kNowPoint), std::nullopt);
  // Nor a succeeded job without times.
  AddJob(&sweep, v1::JOB_STATE_SUCCEEDED, 1000);
  EXPECT_EQ(EstimateSecondsLeft(sweep, kNowPoint), std::nullopt);
}

TEST(RenderEstimateSecondsLeftTest, OneRunningJobAtAKnownRateIsRemainingOverRate) {
  v1::GetSweepResponse sweep;
  v1::Job* j = AddJob(&sweep, v1::JOB_STATE_RUNNING, 13000);
  j->mutable_progress()->set_step(1000);
  j->mutable_progress()->set_total_steps(13000);
  j->mutable_progress()->set_steps_per_second(200);
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(60.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, WithoutAReportedRateStepsOverElapsedTime) {
  v1::GetSweepResponse sweep;
  v1::Job* j = AddJob(&sweep, v1::JOB_STATE_RUNNING, 3000);
  j->mutable_progress()->set_step(1000);  // in 100 s: 10 steps/s, 2000 left
  *j->mutable_started_at() = At(kNow - 100);
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(200.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, QueuedJobsUseTheMeanFinishedRate) {
  v1::GetSweepResponse sweep;
  AddFinished(&sweep, 1000, 10);  // 100 steps/s
  AddFinished(&sweep, 3000, 10);  // 300 steps/s: mean 200
  AddJob(&sweep, v1::JOB_STATE_QUEUED, 2000);
  AddJob(&sweep, v1::JOB_STATE_BLOCKED, 4000);
  // Nothing running: parallelism 1; 6000 steps at 200/s.
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(30.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, RunningJobsAreTheParallelism) {
  v1::GetSweepResponse sweep;
  AddFinished(&sweep, 1000, 10);  // 100 steps/s
  for (int i = 0; i < 2; ++i) {
    v1::Job* j = AddJob(&sweep, v1::JOB_STATE_RUNNING, 2000);
    j->mutable_progress()->set_step(1000);
    j->mutable_progress()->set_steps_per_second(100);  // 10 s left each
  }
  AddJob(&sweep, v1::JOB_STATE_QUEUED, 3000);  // 30 s of work
  // (10 + 10 + 30) worker-seconds over 2 workers.
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(25.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, NeverLessThanTheLongestRunningJob) {
  v1::GetSweepResponse sweep;
  v1::Job* slow = AddJob(&sweep, v1::JOB_STATE_RUNNING, 10000);
  slow->mutable_progress()->set_steps_per_second(100);  // 100 s
  v1::Job* fast = AddJob(&sweep, v1::JOB_STATE_RUNNING, 1000);
  fast->mutable_progress()->set_steps_per_second(1000);  // 1 s
  // (100 + 1) / 2 would be 50.5; the slow job alone needs 100.
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(100.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, RunningRatesStandInWhenNothingFinished) {
  v1::GetSweepResponse sweep;
  v1::Job* j = AddJob(&sweep, v1::JOB_STATE_RUNNING, 1000);
  j->mutable_progress()->set_step(500);
  j->mutable_progress()->set_steps_per_second(50);  // 10 s
  AddJob(&sweep, v1::JOB_STATE_LEASED, 1000);      // no rate: 50/s, 20 s
  AddJob(&sweep, v1::JOB_STATE_QUEUED, 1500);      // 30 s
  // (10 + 20 + 30) / 2 running.
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(30.0, 1e-9)));
}

TEST(RenderEstimateSecondsLeftTest, ARunningJobWithoutReportsRanAtTheFinishedRateSinceItStarted) {
  v1::GetSweepResponse sweep;
  AddFinished(&sweep, 1000, 10);  // 100 steps/s
  v1::Job* j = AddJob(&sweep, v1::JOB_STATE_RUNNING, 3000);
  *j->mutable_started_at() = At(kNow - 5);  // about 500 steps done
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(DoubleNear(25.0, 1e-9)));
  *j->mutable_started_at() = At(kNow - 60);  // overdue: about done
  EXPECT_THAT(EstimateSecondsLeft(sweep, kNowPoint), Optional(0.0));
}

// ---------------------------------------------------------------------------
// RenderSweepProgressLine

v1::Sweep SweepWithCounts() {
  v1::Sweep s;
  s.set_state(v1::SWEEP_STATE_ACTIVE);
  v1::SweepCounts* c = s.mutable_counts();
  c->set_jobs_total(20);
  (*c->mutable_jobs_by_state())["JOB_STATE_SUCCEEDED"] = 7;
  (*c->mutable_jobs_by_state())["JOB_STATE_FAILED"] = 1;
  (*c->mutable_jobs_by_state())["JOB_STATE_RUNNING"] = 1;
  (*c->mutable_jobs_by_state())["JOB_STATE_LEASED"] = 1;
  (*c->mutable_jobs_by_state())["JOB_STATE_QUEUED"] = 5;
  (*c->mutable_jobs_by_state())["JOB_STATE_BLOCKED"] = 5;
  return s;
}

TEST(RenderSweepProgressLineTest, CountsBarAndEta) {
  EXPECT_EQ(RenderSweepProgressLine(SweepWithCounts(), 250.0, 10),
            "[####------] 40% (8/20 jobs done) · succeeded 7 · running 2 · queued 5 · "
            "blocked 5 · failed 1 · eta 4m10s");
}

TEST(RenderSweepProgressLineTest, UnknownEtaAndZeroCountsOfTheMainStates) {
  v1::Sweep s;
  s.set_state(v1::SWEEP_STATE_ACTIVE);
  s.mutable_counts()->set_jobs_total(3);
  (*s.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_QUEUED"] = 3;
  EXPECT_EQ(RenderSweepProgressLine(s, std::nullopt, 10),
            "[----------] 0% (0/3 jobs done) · succeeded 0 · running 0 · queued 3 · failed 0 · "
            "eta unknown");
}

TEST(RenderSweepProgressLineTest, AnEndedSweepShowsItsStateNotAnEta) {
  v1::Sweep s = SweepWithCounts();
  s.set_state(v1::SWEEP_STATE_CANCELLED);
  (*s.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_CANCELLED"] = 2;
  const std::string line = RenderSweepProgressLine(s, 10.0);
  EXPECT_THAT(line, AllOf(HasSubstr(" · cancelled 2 · "), EndsWith(" · cancelled"),
                          Not(HasSubstr("eta"))));
  // Jobs still stopping are shown.
  EXPECT_THAT(line, AllOf(HasSubstr(" · running 2 · "), HasSubstr(" · queued 5 · ")));
}

TEST(RenderSweepProgressLineTest, AnEndedSweepLeavesOutRunningAndQueuedAtZero) {
  v1::Sweep s;
  s.set_state(v1::SWEEP_STATE_COMPLETED);
  s.mutable_counts()->set_jobs_total(21);
  (*s.mutable_counts()->mutable_jobs_by_state())["JOB_STATE_SUCCEEDED"] = 21;
  EXPECT_EQ(RenderSweepProgressLine(s, std::nullopt, 20),
            "[####################] 100% (21/21 jobs done) · succeeded 21 · failed 0 · completed");
}

}  // namespace
}  // namespace mixsweep::cli
