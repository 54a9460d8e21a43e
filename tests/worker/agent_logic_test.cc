// The worker agent's pure decisions: slots, terminal reports (by job kind
// too: result files and step checkpoints), lease verdicts, log chunks,
// backoff, flags.
#include "workers/agent/agent_logic.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace mixsweep::workers {
namespace {

using mixsweep::v1::HandBackJobRequest;
using mixsweep::v1::JobFailure;

// ------------------------------------------------------------------ slots

TEST(SlotPool, GivesTheLowestFreeGpusAndTakesThemBack) {
  SlotPool slots({0, 1, 2, 3}, /*cpu_slots=*/0);
  auto a = slots.Take(2);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->gpu_indices, (std::vector<int>{0, 1}));
  auto b = slots.Take(1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->gpu_indices, (std::vector<int>{2}));
  EXPECT_EQ(slots.FreeGpus(), (std::vector<int>{3}));
  EXPECT_FALSE(slots.Take(2).has_value());  // only one left
  slots.Release(*a);
  EXPECT_EQ(slots.FreeGpus(), (std::vector<int>{0, 1, 3}));
  auto c = slots.Take(3);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->gpu_indices, (std::vector<int>{0, 1, 3}));
  EXPECT_FALSE(slots.CanLease());
}

TEST(SlotPool, ZeroGpuJobsTakeCpuSlotsThenBorrowAGpu) {
  SlotPool slots({5}, /*cpu_slots=*/1);
  auto cpu = slots.Take(0);
  ASSERT_TRUE(cpu.has_value());
  EXPECT_TRUE(cpu->cpu_slot);
  EXPECT_TRUE(cpu->gpu_indices.empty());
  EXPECT_TRUE(slots.CanLease());  // GPU 5 is still free

  // The server may grant another 0-GPU job against the free GPU we sent: it
  // holds the GPU without seeing it, so capacity is never exceeded.
  auto borrowed = slots.Take(0);
  ASSERT_TRUE(borrowed.has_value());
  EXPECT_FALSE(borrowed->cpu_slot);
  EXPECT_TRUE(borrowed->gpu_indices.empty());
  EXPECT_EQ(borrowed->borrowed_gpu, 5);
  EXPECT_FALSE(slots.CanLease());
  EXPECT_FALSE(slots.Take(0).has_value());

  slots.Release(*borrowed);
  EXPECT_EQ(slots.FreeGpus(), (std::vector<int>{5}));
  slots.Release(*cpu);
  EXPECT_TRUE(slots.Take(0)->cpu_slot);
}

TEST(SlotPool, WorkerWithoutGpusRunsCpuJobsOnly) {
  SlotPool slots({}, /*cpu_slots=*/2);
  EXPECT_TRUE(slots.CanLease());
  EXPECT_TRUE(slots.FreeGpus().empty());
  EXPECT_FALSE(slots.Take(1).has_value());
  EXPECT_TRUE(slots.Take(0).has_value());
  EXPECT_TRUE(slots.Take(0).has_value());
  EXPECT_FALSE(slots.CanLease());
}

TEST(JoinIndices, CommaSeparated) {
  EXPECT_EQ(JoinIndices({}), "");
  EXPECT_EQ(JoinIndices({2, 3}), "2,3");
}

// --------------------------------------------------------------- terminal

RunResult Exited(int code, bool checkpoint = true) {
  RunResult r;
  r.exit = RunResult::Exit::kExited;
  r.exit_code = code;
  r.checkpoint = "/art/jobs/7/last.ckpt";
  r.checkpoint_exists = checkpoint;
  r.log_tail = "Traceback...\nCUDA out of memory";
  return r;
}

TEST(DecideTerminal, ExitZeroWithCheckpointCompletes) {
  TerminalAction a = DecideTerminal(StopReason::kNone, Exited(0), {});
  EXPECT_EQ(a.kind, TerminalAction::Kind::kComplete);
  EXPECT_EQ(a.checkpoint_uri, "/art/jobs/7/last.ckpt");
}

TEST(DecideTerminal, ExitZeroWithoutCheckpointFails) {
  TerminalAction a = DecideTerminal(StopReason::kNone, Exited(0, false), {});
  EXPECT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_CHECKPOINT_MISSING);
  EXPECT_NE(a.failure.message().find("/art/jobs/7/last.ckpt"), std::string::npos);
}

TEST(DecideTerminal, ExitCodeIsRetryableUnlessListed) {
  TerminalAction retry = DecideTerminal(StopReason::kNone, Exited(3), {2});
  EXPECT_EQ(retry.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(retry.failure.kind(), JobFailure::KIND_EXIT_CODE);
  EXPECT_EQ(retry.failure.exit_code(), 3);
  EXPECT_TRUE(retry.failure.retryable());
  // The message carries the last lines of the log.
  EXPECT_NE(retry.failure.message().find("CUDA out of memory"), std::string::npos);

  TerminalAction no_retry = DecideTerminal(StopReason::kNone, Exited(2), {2});
  EXPECT_EQ(no_retry.failure.exit_code(), 2);
  EXPECT_FALSE(no_retry.failure.retryable());
}

TEST(DecideTerminal, SignalIsRetryable) {
  RunResult r = Exited(0);
  r.exit = RunResult::Exit::kSignaled;
  r.signal = SIGKILL;
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {});
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_SIGNAL);
  EXPECT_EQ(a.failure.signal(), SIGKILL);
  EXPECT_TRUE(a.failure.retryable());
}

TEST(DecideTerminal, StartFailureKeepsItsRetryability) {
  RunResult r;
  r.exit = RunResult::Exit::kStartFailed;
  r.error = "argv[1]: {dataset} value contains ';'";
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {});
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_START_FAILED);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("{dataset}"), std::string::npos);
  r.start_failure_retryable = true;
  EXPECT_TRUE(DecideTerminal(StopReason::kNone, r, {}).failure.retryable());
}

TEST(DecideTerminal, DeadlineFailsForGood) {
  RunResult r = Exited(0);
  r.exit = RunResult::Exit::kSignaled;
  r.signal = SIGTERM;
  r.deadline_exceeded = true;
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {});
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_DEADLINE_EXCEEDED);
  EXPECT_FALSE(a.failure.retryable());
}

TEST(DecideTerminal, StoppedJobsAreHandedBackWithTheirLastCheckpoint) {
  RunResult killed = Exited(0);
  killed.exit = RunResult::Exit::kSignaled;
  killed.signal = SIGTERM;
  TerminalAction shutdown = DecideTerminal(StopReason::kShutdown, killed, {});
  EXPECT_EQ(shutdown.kind, TerminalAction::Kind::kHandBack);
  EXPECT_EQ(shutdown.reason, HandBackJobRequest::REASON_SHUTDOWN);
  EXPECT_EQ(shutdown.checkpoint_uri, "/art/jobs/7/last.ckpt");

  // Under SLURM the same signal is a preemption: the job resumes elsewhere
  // from the checkpoint it wrote when told to stop.
  TerminalAction preempted = DecideTerminal(StopReason::kPreempted, killed, {});
  EXPECT_EQ(preempted.kind, TerminalAction::Kind::kHandBack);
  EXPECT_EQ(preempted.reason, HandBackJobRequest::REASON_PREEMPTED);
  EXPECT_EQ(preempted.checkpoint_uri, "/art/jobs/7/last.ckpt");

  killed.checkpoint_exists = false;
  TerminalAction cancel = DecideTerminal(StopReason::kCancelled, killed, {});
  EXPECT_EQ(cancel.kind, TerminalAction::Kind::kHandBack);
  EXPECT_EQ(cancel.reason, HandBackJobRequest::REASON_CANCELLED);
  EXPECT_EQ(cancel.checkpoint_uri, "");
}

TEST(DecideTerminal, LostLeaseReportsNothing) {
  EXPECT_EQ(DecideTerminal(StopReason::kLeaseLost, Exited(0), {}).kind,
            TerminalAction::Kind::kNothing);
  EXPECT_EQ(DecideTerminal(StopReason::kLeaseLost, Exited(1), {}).kind,
            TerminalAction::Kind::kNothing);
}

// ------------------------------------------- terminal, by job kind (seed 001)

mixsweep::v1::JobSpec GenerateSpec(int64_t n_demos) {
  mixsweep::v1::JobSpec spec;
  spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_GENERATE);
  spec.mutable_job()->set_n_demos(n_demos);
  spec.set_result_format("mimicgen");
  return spec;
}

mixsweep::v1::JobSpec EvaluateSpec(int n_episodes, const std::string& format = "mixsweep") {
  mixsweep::v1::JobSpec spec;
  spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_EVALUATE);
  spec.mutable_evaluation()->set_n_episodes(n_episodes);
  spec.mutable_evaluation()->set_checkpoint_uri("/art/jobs/3/checkpoints/2000.ckpt");
  spec.set_result_format(format);
  return spec;
}

// An exit 0 whose result file (at `path`) holds `text`.
RunResult WithResult(const std::string& path, const std::string& text) {
  RunResult r = Exited(0);
  r.checkpoint = "/art/jobs/9";
  r.wall_seconds = 3600;
  r.result_file.path = path;
  r.result_file.state = ResultFileRead::State::kRead;
  r.result_file.text = text;
  return r;
}

constexpr char kStats[] = "/art/jobs/9/important_stats.json";

TEST(DecideJobTerminal, GenerateCompletesWithTheDatasetAndItsSummary) {
  TerminalAction a = DecideJobTerminal(
      StopReason::kNone,
      WithResult(kStats, R"({"num_success": 1000, "num_attempts": 1250, "success_rate": 80.0})"),
      GenerateSpec(1000));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  EXPECT_EQ(a.checkpoint_uri, "/art/jobs/9");  // the generated dataset
  ASSERT_TRUE(a.generation.has_value());
  EXPECT_EQ(a.generation->num_success(), 1000);
  EXPECT_EQ(a.generation->num_attempts(), 1250);
  EXPECT_DOUBLE_EQ(a.generation->success_rate(), 0.8);  // a fraction, not MimicGen's 80
  EXPECT_EQ(a.generation->seconds(), 3600);
  EXPECT_TRUE(a.episodes.empty());
}

TEST(DecideJobTerminal, GenerateWithTooFewDemosFailsForGood) {
  TerminalAction a = DecideJobTerminal(
      StopReason::kNone,
      WithResult(kStats, R"({"num_success": 950, "num_attempts": 1000, "success_rate": 95.0})"),
      GenerateSpec(1000));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("generated 950 of the 1000 demos wanted"), std::string::npos)
      << a.failure.message();
  EXPECT_FALSE(a.generation.has_value());
}

TEST(DecideJobTerminal, AMissingResultFileIsRetryableAMalformedOneIsNot) {
  RunResult missing = Exited(0);
  missing.result_file.path = kStats;
  missing.result_file.state = ResultFileRead::State::kMissing;
  TerminalAction a = DecideJobTerminal(StopReason::kNone, missing, GenerateSpec(10));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_BAD_RESULT);
  EXPECT_TRUE(a.failure.retryable());  // the attempt may have crashed
  EXPECT_NE(a.failure.message().find(std::string(kStats) + " does not exist"), std::string::npos);
  EXPECT_NE(a.failure.message().find("CUDA out of memory"), std::string::npos);  // the log tail

  TerminalAction malformed =
      DecideJobTerminal(StopReason::kNone, WithResult(kStats, "{\"num_success\": "), GenerateSpec(10));
  EXPECT_EQ(malformed.failure.kind(), JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(malformed.failure.retryable());
  EXPECT_NE(malformed.failure.message().find(std::string(kStats) + ": (root): not valid JSON"),
            std::string::npos);

  RunResult unreadable = missing;
  unreadable.result_file.state = ResultFileRead::State::kUnreadable;
  unreadable.result_file.error = "Input/output error";
  unreadable.result_file.retryable = true;
  a = DecideJobTerminal(StopReason::kNone, unreadable, GenerateSpec(10));
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_BAD_RESULT);
  EXPECT_TRUE(a.failure.retryable());
  unreadable.result_file.retryable = false;
  EXPECT_FALSE(DecideJobTerminal(StopReason::kNone, unreadable, GenerateSpec(10)).failure.retryable());
}

TEST(DecideJobTerminal, GenerateWithoutItsDatasetIsCheckpointMissing) {
  RunResult r = WithResult(kStats, R"({"num_success": 10, "num_attempts": 10, "success_rate": 100})");
  r.checkpoint_exists = false;
  TerminalAction a = DecideJobTerminal(StopReason::kNone, r, GenerateSpec(10));
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_CHECKPOINT_MISSING);
}

TEST(DecideJobTerminal, EvaluateCompletesWithEveryEpisodeAndTheResultFile) {
  const std::string file = "/art/jobs/9/mixsweep_eval.json";
  TerminalAction a = DecideJobTerminal(
      StopReason::kNone,
      WithResult(file, R"({"format": "mixsweep.eval.v1", "episodes": [
          {"index": 1, "success": false, "score": 0.5, "seed": 8},
          {"index": 0, "success": true, "seed": 7, "sum_reward": 3.5, "max_reward": 1.0}]})"),
      EvaluateSpec(2));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  EXPECT_EQ(a.checkpoint_uri, file);  // never empty: the server needs one
  ASSERT_EQ(a.episodes.size(), 2u);
  EXPECT_EQ(a.episodes[0].index(), 0);
  EXPECT_TRUE(a.episodes[0].success());
  EXPECT_EQ(a.episodes[0].seed(), 7);
  EXPECT_TRUE(a.episodes[0].has_rewards());
  EXPECT_EQ(a.episodes[0].sum_reward(), 3.5);
  EXPECT_EQ(a.episodes[1].score(), 0.5);
  EXPECT_FALSE(a.episodes[1].has_rewards());
  EXPECT_FALSE(a.generation.has_value());
}

TEST(DecideJobTerminal, EvaluateWithTooManyEpisodesReportsNone) {
  TerminalAction a = DecideJobTerminal(
      StopReason::kNone,
      WithResult("/art/jobs/9/eval_log.json",
                 R"({"test/sim_max_reward_1": 1.0, "test/sim_max_reward_2": 0.0})"),
      EvaluateSpec(1, "diffusion_policy"));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("episodes beyond the requested count (1)"), std::string::npos);
  EXPECT_TRUE(a.episodes.empty());
}

TEST(DecideJobTerminal, EvaluateFormatDefaultsToMixsweep) {
  mixsweep::v1::JobSpec spec = EvaluateSpec(1, "");
  EXPECT_EQ(ResultFormatOf(spec), "mixsweep");
  EXPECT_EQ(ResultFormatOf(GenerateSpec(1)), "mimicgen");
  EXPECT_EQ(ResultFormatOf(mixsweep::v1::JobSpec()), "");
  TerminalAction a = DecideJobTerminal(
      StopReason::kNone,
      WithResult("/art/jobs/9/mixsweep_eval.json",
                 R"({"format": "mixsweep.eval.v1", "episodes": [{"index": 0, "success": true}]})"),
      spec);
  EXPECT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
}

TEST(DecideJobTerminal, FailuresAndHandBacksComeBeforeTheResultFile) {
  // An exit code is an exit code, whatever the file says.
  RunResult failed = WithResult(kStats, "{}");
  failed.exit_code = 3;
  EXPECT_EQ(DecideJobTerminal(StopReason::kNone, failed, GenerateSpec(1)).failure.kind(),
            JobFailure::KIND_EXIT_CODE);
  // Nothing to resume a generator from.
  RunResult killed = WithResult(kStats, "{}");
  killed.exit = RunResult::Exit::kSignaled;
  TerminalAction back = DecideJobTerminal(StopReason::kShutdown, killed, GenerateSpec(1));
  EXPECT_EQ(back.kind, TerminalAction::Kind::kHandBack);
  EXPECT_EQ(back.checkpoint_uri, "");
}

TEST(DecideJobTerminal, StepCheckpointsMustAllExist) {
  mixsweep::v1::JobSpec spec;
  spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_TRAIN);
  spec.add_checkpoint_steps(1000);
  spec.add_checkpoint_steps(2000);
  RunResult r = Exited(0);
  r.step_checkpoints = {{.step = 1000, .uri = "/art/jobs/7/checkpoints/1000.ckpt", .exists = true},
                        {.step = 2000, .uri = "/art/jobs/7/checkpoints/2000.ckpt", .exists = true}};
  TerminalAction a = DecideJobTerminal(StopReason::kNone, r, spec);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete);
  EXPECT_EQ(a.checkpoint_uri, "/art/jobs/7/last.ckpt");
  ASSERT_EQ(a.step_checkpoints.size(), 2u);
  EXPECT_EQ(a.step_checkpoints[1].step(), 2000);
  EXPECT_EQ(a.step_checkpoints[1].uri(), "/art/jobs/7/checkpoints/2000.ckpt");

  r.step_checkpoints[1].exists = false;
  a = DecideJobTerminal(StopReason::kNone, r, spec);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), JobFailure::KIND_CHECKPOINT_MISSING);
  EXPECT_TRUE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("step 2000 /art/jobs/7/checkpoints/2000.ckpt does not exist"),
            std::string::npos)
      << a.failure.message();
}

TEST(DecideJobTerminal, TrainJobsKeepTheirNoRetryCodes) {
  mixsweep::v1::JobSpec spec;
  spec.add_no_retry_exit_codes(2);
  EXPECT_FALSE(DecideJobTerminal(StopReason::kNone, Exited(2), spec).failure.retryable());
  EXPECT_TRUE(DecideJobTerminal(StopReason::kNone, Exited(3), spec).failure.retryable());
}

TEST(TotalStepsOf, DemosEpisodesOrSteps) {
  mixsweep::v1::JobSpec spec = GenerateSpec(1000);
  spec.mutable_job()->set_steps(5);
  EXPECT_EQ(TotalStepsOf(spec), 1000);
  EXPECT_EQ(TotalStepsOf(EvaluateSpec(50)), 50);
  spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_FINETUNE);
  EXPECT_EQ(TotalStepsOf(spec), 5);
}

// ----------------------------------------------------------------- leases

TEST(LeaseVerdict, FromHeartbeatStatus) {
  mixsweep::v1::LeaseStatus status;
  status.set_valid(true);
  EXPECT_EQ(VerdictOf(status), LeaseVerdict::kKeep);
  status.set_cancel_requested(true);
  EXPECT_EQ(VerdictOf(status), LeaseVerdict::kCancel);
  status.set_valid(false);  // lost wins over cancel: report nothing
  EXPECT_EQ(VerdictOf(status), LeaseVerdict::kLost);
}

TEST(LeaseVerdict, StaleTokenOnAReportMeansLost) {
  EXPECT_EQ(VerdictOfReportError(9 /*FAILED_PRECONDITION*/), LeaseVerdict::kLost);
  EXPECT_EQ(VerdictOfReportError(5 /*NOT_FOUND*/), LeaseVerdict::kLost);
  EXPECT_EQ(VerdictOfReportError(14 /*UNAVAILABLE*/), LeaseVerdict::kKeep);
  EXPECT_EQ(VerdictOfReportError(3 /*INVALID_ARGUMENT*/), LeaseVerdict::kKeep);
}

// -------------------------------------------------------------------- log

TEST(LogBuffer, ChunksAreContiguousAndAtMost64KiB) {
  LogBuffer log;
  EXPECT_FALSE(log.Next().has_value());
  std::string all;
  for (int i = 0; i < 3000; ++i) {
    std::string line = "line " + std::to_string(i) + std::string(50, 'x') + "\n";
    all += line;
    log.Append(line);
  }
  EXPECT_TRUE(log.full_chunk_ready());
  std::string sent;
  int64_t expected_offset = 0;
  while (auto chunk = log.Next()) {
    EXPECT_EQ(chunk->offset, expected_offset);
    EXPECT_LE(chunk->data.size(), LogBuffer::kMaxChunk);
    // Not acknowledged yet: the same chunk again (a retry after UNAVAILABLE).
    EXPECT_EQ(log.Next()->data, chunk->data);
    sent += chunk->data;
    expected_offset += static_cast<int64_t>(chunk->data.size());
    log.Acknowledge(chunk->offset, chunk->data.size());
  }
  EXPECT_EQ(sent, all);
  EXPECT_EQ(log.acknowledged_through(), static_cast<int64_t>(all.size()));
  EXPECT_EQ(log.pending(), 0u);
}

TEST(LogBuffer, AStaleAcknowledgementChangesNothing) {
  LogBuffer log;
  log.Append("hello ");
  log.Acknowledge(0, 6);
  log.Append("world");
  log.Acknowledge(0, 6);  // the same chunk acknowledged twice
  ASSERT_TRUE(log.Next().has_value());
  EXPECT_EQ(log.Next()->offset, 6);
  EXPECT_EQ(log.Next()->data, "world");
}

TEST(LogBuffer, DropsOutputBeyondItsCap) {
  LogBuffer log(/*max_pending=*/10);
  log.Append("0123456789abc");
  EXPECT_EQ(log.pending(), 10u);
  EXPECT_EQ(log.dropped_bytes(), 3u);
  log.Acknowledge(0, 10);
  log.Append("more");
  EXPECT_EQ(log.Next()->offset, 10);
}

TEST(LogTail, KeepsTheLastLines) {
  LogTail tail(/*max_lines=*/2);
  tail.Append("one\ntwo\nthr");
  tail.Append("ee\nfour");
  EXPECT_EQ(tail.Text(), "two\nthree\nfour");
  LogTail bar(2);
  bar.Append("10%\r20%\r30%\n");  // a progress bar redrawn with \r
  EXPECT_EQ(bar.Text(), "20%\n30%");
}

// ---------------------------------------------------------------- backoff

TEST(Backoff, DoublesUpToTheCap) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(500));
  EXPECT_EQ(backoff.Next().count(), 100);
  EXPECT_EQ(backoff.Next().count(), 200);
  EXPECT_EQ(backoff.Next().count(), 400);
  EXPECT_EQ(backoff.Next().count(), 500);
  EXPECT_EQ(backoff.Next().count(), 500);
  backoff.Reset();
  EXPECT_EQ(backoff.Next().count(), 100);
}

// ------------------------------------------------------------------ flags

std::vector<GpuInfo> TwoGpus() {
  return {GpuInfo{.index = 0, .name = "NVIDIA H100 80GB HBM3", .uuid = "GPU-a"},
          GpuInfo{.index = 1, .name = "NVIDIA H100 80GB HBM3", .uuid = "GPU-b"}};
}

TEST(SelectGpus, AutoNoneAndSubsets) {
  EXPECT_EQ(SelectGpus("auto", TwoGpus())->size(), 2u);
  EXPECT_TRUE(SelectGpus("auto", {})->empty());  // no GPUs is not an error
  EXPECT_TRUE(SelectGpus("none", TwoGpus())->empty());
  auto one = SelectGpus("1", TwoGpus());
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].uuid, "GPU-b");
  auto both = SelectGpus(" 1, 0 ", TwoGpus());
  ASSERT_TRUE(both.ok());
  EXPECT_EQ((*both)[0].index, 0);
  EXPECT_EQ((*both)[1].index, 1);
}

TEST(SelectGpus, RefusesUnknownOrMalformedIndices) {
  auto missing = SelectGpus("2", TwoGpus());
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_NE(std::string(missing.status().message()).find("GPU 2"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(SelectGpus("0,x", TwoGpus()).status()));
}

TEST(SyntheticGpus, NamedSyntheticWithTheGivenMemory) {
  auto gpus = SyntheticGpus(2, 81559);
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[1].index, 1);
  EXPECT_EQ(gpus[1].name, "synthetic");
  EXPECT_EQ(gpus[1].memory_total_mib, 81559);
  EXPECT_NE(gpus[0].uuid, gpus[1].uuid);
}

TEST(ParseLabels, KeyValuePairs) {
  auto labels = ParseLabels({"lab=a", "slurm-job=123", "empty="});
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(labels->at("lab"), "a");
  EXPECT_EQ(labels->at("slurm-job"), "123");
  EXPECT_EQ(labels->at("empty"), "");
  EXPECT_FALSE(ParseLabels({"novalue"}).ok());
  EXPECT_FALSE(ParseLabels({"=v"}).ok());
}

TEST(SyntheticJobFails, EveryNth) {
  EXPECT_FALSE(SyntheticJobFails(1, 0));
  EXPECT_FALSE(SyntheticJobFails(1, 3));
  EXPECT_TRUE(SyntheticJobFails(3, 3));
  EXPECT_TRUE(SyntheticJobFails(6, 3));
  EXPECT_TRUE(SyntheticJobFails(1, 1));
}

TEST(LocalPathOf, FileUrisAndAbsolutePaths) {
  EXPECT_EQ(LocalPathOf("file:///data/art"), "/data/art");
  EXPECT_EQ(LocalPathOf("file://localhost/data/art"), "/data/art");
  EXPECT_EQ(LocalPathOf("/data/art"), "/data/art");
  EXPECT_EQ(LocalPathOf("s3://bucket/art"), "");
  EXPECT_EQ(LocalPathOf("relative/path"), "");
}

TEST(NewIdempotencyKey, FreshEachTime) {
  const std::string a = NewIdempotencyKey();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, NewIdempotencyKey());
}

}  // namespace
}  // namespace mixsweep::workers

namespace mixsweep::workers {
namespace {

TEST(CudaVisibleDevicesTest, ByUuidWhenEveryGpuHasOneElseByIndex) {
  EXPECT_EQ(CudaVisibleDevices({2, 5}, {"GPU-4ff0", "GPU-9a1c"}), "GPU-4ff0,GPU-9a1c");
  EXPECT_EQ(CudaVisibleDevices({2, 5}, {"GPU-4ff0", ""}), "2,5") << "one unknown: indices";
  EXPECT_EQ(CudaVisibleDevices({2, 5}, {}), "2,5");
  EXPECT_EQ(CudaVisibleDevices({0}, {"MIG-1"}), "0") << "not a whole GPU's UUID";
  EXPECT_EQ(CudaVisibleDevices({}, {}), "") << "a CPU job sees no GPU";
}

}  // namespace
}  // namespace mixsweep::workers
