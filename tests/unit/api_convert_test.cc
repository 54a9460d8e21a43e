// services/api: absl::Status -> grpc::Status, and domain values -> protos.
#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"
#include "mixsweep/v1/sweep.pb.h"
#include "scheduler/records.h"
#include "scheduler/spec/spec_parser.h"
#include "services/api/proto_convert.h"
#include "services/api/status_convert.h"
#include "tests/support/example_specs.h"

namespace mixsweep::api {
namespace {

namespace v1 = mixsweep::v1;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// docs/examples/pick_dual_bottles.yaml (embedded at build time).
constexpr std::string_view kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

spec::SweepSpec ExampleSpec() {
  auto parsed = spec::ParseSweepSpec(kPickDualBottles);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->spec : spec::SweepSpec();
}

// ---------------------------------------------------------------------------
// ToGrpcStatus

TEST(ApiConvertStatusTest, OkIsOk) {
  const grpc::Status s = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(s.error_message(), "");
}

TEST(ApiConvertStatusTest, EveryCodeMapsToTheSameGrpcCodeAndKeepsTheMessage) {
  const std::vector<std::pair<absl::StatusCode, grpc::StatusCode>> codes = {
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  ASSERT_EQ(codes.size(), 16u);
  for (const auto& [absl_code, grpc_code] : codes) {
    const std::string message =
        "line 14: protocol.pretrain_steps: must add up (" + absl::StatusCodeToString(absl_code) + ")";
    const grpc::Status s = ToGrpcStatus(absl::Status(absl_code, message));
    EXPECT_EQ(s.error_code(), grpc_code) << absl::StatusCodeToString(absl_code);
    EXPECT_EQ(s.error_message(), message);
    EXPECT_FALSE(s.ok());
  }
}

// ---------------------------------------------------------------------------
// Timestamps

TEST(ApiConvertTimestampTest, KnownTime) {
  // 2024-03-01 12:34:56.789012 UTC
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(2024, 3, 1, 12, 34, 56), absl::UTCTimeZone()) +
      absl::Microseconds(789012);
  google::protobuf::Timestamp ts;
  ToProto(t, &ts);
  EXPECT_EQ(ts.seconds(), 1709296496);
  EXPECT_EQ(ts.nanos(), 789012000);
}

TEST(ApiConvertTimestampTest, EpochAndWholeSeconds) {
  google::protobuf::Timestamp ts;
  ToProto(absl::UnixEpoch(), &ts);
  EXPECT_EQ(ts.seconds(), 0);
  EXPECT_EQ(ts.nanos(), 0);
  ToProto(absl::FromUnixSeconds(1700000000), &ts);
  EXPECT_EQ(ts.seconds(), 1700000000);
  EXPECT_EQ(ts.nanos(), 0);
}

TEST(ApiConvertTimestampTest, InfinitePastLeavesTheTimestampUntouched) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(5);
  ToProto(absl::InfinitePast(), &ts);
  EXPECT_EQ(ts.seconds(), 5);
  EXPECT_EQ(ts.nanos(), 0);
}

TEST(ApiConvertTimestampTest, BeforeTheEpochNanosStayNonNegative) {
  // google.protobuf.Timestamp: nanos must be in [0, 999999999], counting
  // forward from `seconds` even when seconds is negative. 1969-12-31
  // 23:59:58.5 is seconds -2, nanos 500000000.
  google::protobuf::Timestamp ts;
  ToProto(absl::FromUnixMicros(-1500000), &ts);
  EXPECT_EQ(ts.seconds(), -2);
  EXPECT_EQ(ts.nanos(), 500000000);
  EXPECT_GE(ts.nanos(), 0);
}

// ---------------------------------------------------------------------------
// Enums: every domain value maps to the proto value of the same name.

std::string Upper(const char* name) { return absl::AsciiStrToUpper(name); }

TEST(ApiConvertEnumTest, JobStatesMapByName) {
  for (auto s : {scheduler::JobState::kBlocked, scheduler::JobState::kQueued,
                 scheduler::JobState::kLeased, scheduler::JobState::kRunning,
                 scheduler::JobState::kSucceeded, scheduler::JobState::kFailed,
                 scheduler::JobState::kCancelled}) {
    EXPECT_EQ(v1::JobState_Name(ToProto(s)), "JOB_STATE_" + Upper(scheduler::JobStateName(s)));
  }
}

TEST(ApiConvertEnumTest, RunStatesMapByName) {
  for (auto s : {scheduler::RunState::kPending, scheduler::RunState::kTraining,
                 scheduler::RunState::kTrained, scheduler::RunState::kEvaluated,
                 scheduler::RunState::kFailed, scheduler::RunState::kCancelled}) {
    EXPECT_EQ(v1::RunState_Name(ToProto(s)), "RUN_STATE_" + Upper(scheduler::RunStateName(s)));
  }
}

TEST(ApiConvertEnumTest, SweepStatesMapByNameAndBack) {
  for (auto s : {scheduler::SweepState::kActive, scheduler::SweepState::kCompleted,
                 scheduler::SweepState::kCancelled}) {
    EXPECT_EQ(v1::SweepState_Name(ToProto(s)),
              "SWEEP_STATE_" + Upper(scheduler::SweepStateName(s)));
    EXPECT_EQ(FromProto(ToProto(s)), s);
  }
  EXPECT_EQ(FromProto(v1::SWEEP_STATE_UNSPECIFIED), scheduler::SweepState::kActive);
}

TEST(ApiConvertEnumTest, JobKindsMapByName) {
  for (auto k : {plan::JobKind::kTrain, plan::JobKind::kPretrain, plan::JobKind::kFinetune}) {
    EXPECT_EQ(v1::JobKind_Name(ToProto(k)), "JOB_KIND_" + Upper(plan::JobKindName(k)));
  }
}

// ---------------------------------------------------------------------------
// Sweep

scheduler::SweepRecord ExampleRecord() {
  scheduler::SweepRecord r;
  r.id = 17;
  r.name = "pick-dual-bottles-sim";
  r.owner = "alice";
  r.state = scheduler::SweepState::kActive;
  r.revision = 2;
  r.spec_yaml = std::string(kPickDualBottles);
  r.created_at = absl::FromUnixSeconds(1700000000);
  r.updated_at = absl::FromUnixSeconds(1700000100) + absl::Milliseconds(250);
  r.counts.runs_total = 18;
  r.counts.runs_by_state = {{scheduler::RunState::kPending, 15},
                            {scheduler::RunState::kTraining, 3}};
  r.counts.jobs_total = 21;
  r.counts.jobs_by_state = {{scheduler::JobState::kQueued, 6},
                            {scheduler::JobState::kBlocked, 9},
                            {scheduler::JobState::kRunning, 3},
                            {scheduler::JobState::kSucceeded, 3}};
  r.counts.jobs_by_kind = {{plan::JobKind::kTrain, 9},
                           {plan::JobKind::kPretrain, 3},
                           {plan::JobKind::kFinetune, 9}};
  return r;
}

TEST(ApiConvertSweepTest, RecordAndSpecFillTheSweep) {
  v1::Sweep s;
  ToProto(ExampleRecord(), ExampleSpec(), &s);
  EXPECT_EQ(s.id(), 17);
  EXPECT_EQ(s.name(), "pick-dual-bottles-sim");
  EXPECT_EQ(s.owner(), "alice");
  EXPECT_EQ(s.state(), v1::SWEEP_STATE_ACTIVE);
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(s.task(), "pick_dual_bottles");
  EXPECT_EQ(s.policy(), "diffusion_policy");
  EXPECT_EQ(s.code_version(), "git:4f1c2e9");
  EXPECT_EQ(s.priority(), 0);
  EXPECT_EQ(s.max_attempts(), 3);
  EXPECT_EQ(s.baseline_from_sweep(), 0);
  EXPECT_EQ(s.spec_yaml(), kPickDualBottles);
  EXPECT_EQ(s.cancel_reason(), "");
  EXPECT_EQ(s.created_at().seconds(), 1700000000);
  EXPECT_EQ(s.updated_at().seconds(), 1700000100);
  EXPECT_EQ(s.updated_at().nanos(), 250000000);

  EXPECT_THAT(s.n_tele(), ElementsAre(50, 100, 200));
  EXPECT_EQ(s.teleop_dataset().uri(), "file:///data/aloha-agilex/pick_dual_bottles/teleop");
  EXPECT_EQ(s.teleop_dataset().episodes(), 200);
  EXPECT_EQ(s.teleop_dataset().content_hash().substr(0, 14), "sha256:9b2f0c7");
  EXPECT_DOUBLE_EQ(s.teleop_cost_per_demo_hours(), 0.02);
  ASSERT_EQ(s.sources_size(), 1);
  EXPECT_EQ(s.sources(0).name(), "sim");
  EXPECT_EQ(s.sources(0).kind(), v1::SOURCE_KIND_SIMULATION);
  EXPECT_EQ(s.sources(0).dataset().uri(), "file:///data/robotwin2/pick_dual_bottles/sim");
  EXPECT_EQ(s.sources(0).dataset().episodes(), 1000);
  EXPECT_DOUBLE_EQ(s.sources(0).cost_per_demo_hours(), 0.000625);
  EXPECT_THAT(s.sources(0).n_nt(), ElementsAre(0, 1000));
  EXPECT_THAT(s.seeds(), ElementsAre(0, 1, 2));

  EXPECT_EQ(s.total_steps(), 13000);
  EXPECT_EQ(s.pretrain_steps(), 10000);
  EXPECT_EQ(s.finetune_steps(), 3000);

  ASSERT_EQ(s.scenarios_size(), 3);
  EXPECT_EQ(s.scenarios(0).name(), "in_domain");
  EXPECT_EQ(s.scenarios(1).name(), "unseen_background");
  EXPECT_EQ(s.scenarios(2).name(), "unseen_position");
  for (const v1::Scenario& sc : s.scenarios()) {
    EXPECT_EQ(sc.trials(), 10) << sc.name();
    EXPECT_EQ(sc.evaluator(), v1::Scenario::EVALUATOR_ROBOT);
  }

  EXPECT_EQ(s.rubric().kind(), v1::RUBRIC_KIND_MILESTONES);
  ASSERT_EQ(s.rubric().entries_size(), 2);
  EXPECT_EQ(s.rubric().entries(0).name(), "first_bottle_grasped");
  EXPECT_DOUBLE_EQ(s.rubric().entries(0).value(), 0.5);
  EXPECT_EQ(s.rubric().entries(1).name(), "both_bottles_lifted");
  EXPECT_DOUBLE_EQ(s.rubric().entries(1).value(), 1.0);
}

TEST(ApiConvertSweepTest, CountsAreKeyedByProtoEnumNames) {
  v1::Sweep s;
  ToProto(ExampleRecord(), ExampleSpec(), &s);
  const v1::SweepCounts& c = s.counts();
  EXPECT_EQ(c.runs_total(), 18);
  EXPECT_EQ(c.jobs_total(), 21);
  std::vector<std::pair<std::string, int>> runs(c.runs_by_state().begin(),
                                                c.runs_by_state().end());
  EXPECT_THAT(runs, UnorderedElementsAre(Pair("RUN_STATE_PENDING", 15),
                                         Pair("RUN_STATE_TRAINING", 3)));
  std::vector<std::pair<std::string, int>> jobs(c.jobs_by_state().begin(),
                                                c.jobs_by_state().end());
  EXPECT_THAT(jobs, UnorderedElementsAre(
                        Pair("JOB_STATE_QUEUED", 6), Pair("JOB_STATE_BLOCKED", 9),
                        Pair("JOB_STATE_RUNNING", 3), Pair("JOB_STATE_SUCCEEDED", 3)));
  std::vector<std::pair<std::string, int>> kinds(c.jobs_by_kind().begin(),
                                                 c.jobs_by_kind().end());
  EXPECT_THAT(kinds, UnorderedElementsAre(Pair("JOB_KIND_TRAIN", 9), Pair("JOB_KIND_PRETRAIN", 3),
                                          Pair("JOB_KIND_FINETUNE", 9)));
}

TEST(ApiConvertSweepTest, ItemsRubricHumanVideoSourceBaselineAndCancelReason) {
  spec::SweepSpec spec = ExampleSpec();
  spec.task.rubric.kind = spec::RubricKind::kItems;
  spec.sources[0].kind = spec::SourceKind::kHumanVideo;
  spec.baseline_from_sweep = 9;
  spec.evaluation.scenarios[1].platform = "aloha-agilex-2.0";
  scheduler::SweepRecord record = ExampleRecord();
  record.state = scheduler::SweepState::kCancelled;
  record.cancel_reason = "wrong dataset";
  v1::Sweep s;
  ToProto(record, spec, &s);
  EXPECT_EQ(s.rubric().kind(), v1::RUBRIC_KIND_ITEMS);
  EXPECT_EQ(s.sources(0).kind(), v1::SOURCE_KIND_HUMAN_VIDEO);
  EXPECT_EQ(s.baseline_from_sweep(), 9);
  EXPECT_EQ(s.scenarios(1).platform(), "aloha-agilex-2.0");
  EXPECT_EQ(s.state(), v1::SWEEP_STATE_CANCELLED);
  EXPECT_EQ(s.cancel_reason(), "wrong dataset");
}

// ---------------------------------------------------------------------------
// Run and Job

TEST(ApiConvertRunTest, RunFields) {
  scheduler::RunRecord run;
  run.id = 2;
  run.sweep_id = 17;
  run.key = "t50/sim/n1000/s0";
  run.run = {.n_tele = 50, .source = "sim", .n_nt = 1000, .seed = 0};
  run.source_kind = "simulation";
  run.state = scheduler::RunState::kTraining;
  run.pretrain_job_id = 4;
  run.finetune_job_id = 5;
  run.checkpoint_uri = "file:///ckpt/5";
  run.revision_added = 2;
  v1::Run r;
  ToProto(run, &r);
  EXPECT_EQ(r.id(), 2);
  EXPECT_EQ(r.sweep_id(), 17);
  EXPECT_EQ(r.key(), "t50/sim/n1000/s0");
  EXPECT_EQ(r.n_tele(), 50);
  EXPECT_EQ(r.source(), "sim");
  EXPECT_EQ(r.source_kind(), v1::SOURCE_KIND_SIMULATION);
  EXPECT_EQ(r.n_nt(), 1000);
  EXPECT_EQ(r.state(), v1::RUN_STATE_TRAINING);
  EXPECT_EQ(r.train_job_id(), 0);
  EXPECT_EQ(r.pretrain_job_id(), 4);
  EXPECT_EQ(r.finetune_job_id(), 5);
  EXPECT_EQ(r.checkpoint_uri(), "file:///ckpt/5");
  EXPECT_EQ(r.revision_added(), 2);
}

TEST(ApiConvertRunTest, SourceKindNames) {
  const std::vector<std::pair<std::string, v1::SourceKind>> kinds = {
      {"teleop", v1::SOURCE_KIND_TELEOP},
      {"simulation", v1::SOURCE_KIND_SIMULATION},
      {"human_video", v1::SOURCE_KIND_HUMAN_VIDEO},
      {"", v1::SOURCE_KIND_UNSPECIFIED},
      {"sim", v1::SOURCE_KIND_UNSPECIFIED}};
  for (const auto& [name, kind] : kinds) {
    scheduler::RunRecord run;
    run.source_kind = name;
    v1::Run r;
    ToProto(run, &r);
    EXPECT_EQ(r.source_kind(), kind) << "'" << name << "'";
  }
}

scheduler::JobRecord ExampleJob() {
  scheduler::JobRecord job;
  job.id = 4;
  job.sweep_id = 17;
  job.key = "pretrain/sim/n1000/s0/3f2a9c1d";
  job.kind = plan::JobKind::kPretrain;
  job.state = scheduler::JobState::kQueued;
  job.source = "sim";
  job.dataset = {.uri = "file:///data/sim", .content_hash = "sha256:2d7c", .episodes = 1000};
  job.n_demos = 1000;
  job.seed = 1;
  job.steps = 10000;
  job.run_ids = {2, 8, 14};
  job.attempts = 1;
  job.max_attempts = 3;
  job.priority = 5;
  job.output_uri = "file:///out/4";
  job.gpu_seconds = 12.5;
  job.created_at = absl::FromUnixSeconds(1700000000);
  job.subset_episodes = {3, 5, 8};
  return job;
}

TEST(ApiConvertJobTest, JobFieldsWithoutLease) {
  v1::Job j;
  ToProto(ExampleJob(), &j);
  EXPECT_EQ(j.id(), 4);
  EXPECT_EQ(j.sweep_id(), 17);
  EXPECT_EQ(j.key(), "pretrain/sim/n1000/s0/3f2a9c1d");
  EXPECT_EQ(j.kind(), v1::JOB_KIND_PRETRAIN);
  EXPECT_EQ(j.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(j.source(), "sim");
  EXPECT_EQ(j.dataset().uri(), "file:///data/sim");
  EXPECT_EQ(j.dataset().content_hash(), "sha256:2d7c");
  EXPECT_EQ(j.dataset().episodes(), 1000);
  EXPECT_EQ(j.n_demos(), 1000);
  EXPECT_EQ(j.seed(), 1);
  EXPECT_EQ(j.steps(), 10000);
  EXPECT_THAT(j.run_ids(), ElementsAre(2, 8, 14));
  EXPECT_EQ(j.attempts(), 1);
  EXPECT_EQ(j.max_attempts(), 3);
  EXPECT_EQ(j.priority(), 5);
  EXPECT_EQ(j.output_uri(), "file:///out/4");
  EXPECT_DOUBLE_EQ(j.gpu_seconds(), 12.5);
  EXPECT_EQ(j.created_at().seconds(), 1700000000);
  EXPECT_THAT(j.subset_episodes(), ElementsAre(3, 5, 8));
  EXPECT_FALSE(j.has_lease());
  EXPECT_FALSE(j.has_failure());
  EXPECT_FALSE(j.has_started_at());
  EXPECT_FALSE(j.has_finished_at());
  EXPECT_FALSE(j.cancel_requested());
}

TEST(ApiConvertJobTest, LeaseOnlyWhenAWorkerHoldsIt) {
  scheduler::JobRecord job = ExampleJob();
  job.fencing_token = 77;  // a token left from an earlier lease is not a lease
  job.lease_expires_at = absl::FromUnixSeconds(1700000300);
  v1::Job without;
  ToProto(job, &without);
  EXPECT_FALSE(without.has_lease());

  job.state = scheduler::JobState::kRunning;
  job.lease_worker_id = 9;
  job.started_at = absl::FromUnixSeconds(1700000010);
  job.cancel_requested = true;
  v1::Job with;
  ToProto(job, &with);
  ASSERT_TRUE(with.has_lease());
  EXPECT_EQ(with.lease().worker_id(), 9);
  EXPECT_EQ(with.lease().fencing_token(), 77);
  EXPECT_EQ(with.lease().expires_at().seconds(), 1700000300);
  EXPECT_EQ(with.state(), v1::JOB_STATE_RUNNING);
  EXPECT_TRUE(with.has_started_at());
  EXPECT_EQ(with.started_at().seconds(), 1700000010);
  EXPECT_TRUE(with.cancel_requested());

  job.lease_expires_at.reset();
  v1::Job no_expiry;
  ToProto(job, &no_expiry);
  ASSERT_TRUE(no_expiry.has_lease());
  EXPECT_FALSE(no_expiry.lease().has_expires_at());
}

TEST(ApiConvertJobTest, FailureAndFinishTime) {
  scheduler::JobRecord job = ExampleJob();
  job.state = scheduler::JobState::kFailed;
  job.failure_message = "exit code 1";
  job.finished_at = absl::FromUnixSeconds(1700000500);
  job.checkpoint_uri = "file:///out/4/latest.ckpt";
  v1::Job j;
  ToProto(job, &j);
  EXPECT_EQ(j.state(), v1::JOB_STATE_FAILED);
  ASSERT_TRUE(j.has_failure());
  EXPECT_EQ(j.failure().message(), "exit code 1");
  ASSERT_TRUE(j.has_finished_at());
  EXPECT_EQ(j.finished_at().seconds(), 1700000500);
  EXPECT_EQ(j.checkpoint_uri(), "file:///out/4/latest.ckpt");
}

}  // namespace
}  // namespace mixsweep::api
