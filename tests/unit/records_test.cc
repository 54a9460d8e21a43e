// records.h: a run's state from its jobs' states, and the enum names stored
// in the database.
#include "scheduler/records.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/expansion/sweep_plan.h"

namespace mixsweep::scheduler {
namespace {

using J = JobState;
using R = RunState;

const std::vector<JobState> kAllJobStates = {J::kBlocked,   J::kQueued, J::kLeased,
                                             J::kRunning,   J::kSucceeded, J::kFailed,
                                             J::kCancelled};
const std::vector<SweepState> kAllSweepStates = {SweepState::kActive, SweepState::kCompleted,
                                                 SweepState::kCancelled};
const std::vector<RunState> kAllRunStates = {R::kPending, R::kTraining, R::kTrained,
                                             R::kEvaluated, R::kFailed, R::kCancelled};
const std::vector<plan::JobKind> kAllJobKinds = {plan::JobKind::kTrain, plan::JobKind::kPretrain,
                                                 plan::JobKind::kFinetune};

// ---------------------------------------------------------------------------
// DeriveRunState

TEST(RecordsDeriveRunStateTest, NoJobsIsPending) {
  EXPECT_EQ(DeriveRunState({}), R::kPending);
}

TEST(RecordsDeriveRunStateTest, QueuedOrBlockedJobsArePending) {
  EXPECT_EQ(DeriveRunState({J::kQueued}), R::kPending);               // train
  EXPECT_EQ(DeriveRunState({J::kBlocked}), R::kPending);
  EXPECT_EQ(DeriveRunState({J::kQueued, J::kBlocked}), R::kPending);  // pretrain + finetune
  EXPECT_EQ(DeriveRunState({J::kQueued, J::kQueued}), R::kPending);
}

TEST(RecordsDeriveRunStateTest, LeasedOrRunningJobIsTraining) {
  EXPECT_EQ(DeriveRunState({J::kLeased}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kRunning}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kLeased, J::kBlocked}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kRunning, J::kBlocked}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kRunning}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kLeased}), R::kTraining);
}

TEST(RecordsDeriveRunStateTest, PretrainDoneFinetuneWaitingIsTraining) {
  // Done with more to go: the run has started and is not finished.
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kQueued}), R::kTraining);
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kBlocked}), R::kTraining);
}

TEST(RecordsDeriveRunStateTest, AllSucceededIsTrained) {
  EXPECT_EQ(DeriveRunState({J::kSucceeded}), R::kTrained);
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kSucceeded}), R::kTrained);
}

TEST(RecordsDeriveRunStateTest, TrainedWithEveryEvaluationCompleteIsEvaluated) {
  EXPECT_EQ(DeriveRunState({J::kSucceeded}, {.open = 0, .complete = 3}), R::kEvaluated);
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kSucceeded}, {.open = 0, .complete = 1}),
            R::kEvaluated);
  // One scenario still open: trained, not yet evaluated.
  EXPECT_EQ(DeriveRunState({J::kSucceeded}, {.open = 1, .complete = 2}), R::kTrained);
  // No request at all (or only cancelled ones) is not an evaluation.
  EXPECT_EQ(DeriveRunState({J::kSucceeded}, {.open = 0, .complete = 0}), R::kTrained);
  // Evaluations never make an unfinished run evaluated.
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kRunning}, {.open = 0, .complete = 3}),
            R::kTraining);
}

TEST(RecordsDeriveRunStateTest, AnyFailedIsFailedWhateverTheOthers) {
  for (JobState other : kAllJobStates) {
    SCOPED_TRACE(JobStateName(other));
    EXPECT_EQ(DeriveRunState({J::kFailed, other}), R::kFailed);
    EXPECT_EQ(DeriveRunState({other, J::kFailed}), R::kFailed);
  }
  EXPECT_EQ(DeriveRunState({J::kFailed}), R::kFailed);
}

TEST(RecordsDeriveRunStateTest, CancelledUnlessFailed) {
  EXPECT_EQ(DeriveRunState({J::kCancelled}), R::kCancelled);
  EXPECT_EQ(DeriveRunState({J::kCancelled, J::kCancelled}), R::kCancelled);
  // Pretrain done, finetune cancelled with its sweep: the run never finishes.
  EXPECT_EQ(DeriveRunState({J::kSucceeded, J::kCancelled}), R::kCancelled);
  EXPECT_EQ(DeriveRunState({J::kCancelled, J::kBlocked}), R::kCancelled);
  EXPECT_EQ(DeriveRunState({J::kRunning, J::kCancelled}), R::kCancelled);
  EXPECT_EQ(DeriveRunState({J::kCancelled, J::kQueued}), R::kCancelled);
}

TEST(RecordsDeriveRunStateTest, NeverEvaluatedFromJobsAlone) {
  // Evaluation is not a job state: no combination of two job states says so.
  for (JobState a : kAllJobStates) {
    EXPECT_NE(DeriveRunState({a}), R::kEvaluated);
    for (JobState b : kAllJobStates) EXPECT_NE(DeriveRunState({a, b}), R::kEvaluated);
  }
}

TEST(RecordsDeriveRunStateTest, OrderOfJobsDoesNotMatter) {
  for (JobState a : kAllJobStates) {
    for (JobState b : kAllJobStates) {
      EXPECT_EQ(DeriveRunState({a, b}), DeriveRunState({b, a}))
          << JobStateName(a) << ", " << JobStateName(b);
    }
  }
}

// ---------------------------------------------------------------------------
// Names

TEST(RecordsNamesTest, SweepStateNamesRoundTrip) {
  std::set<std::string> seen;
  for (SweepState s : kAllSweepStates) {
    const std::string name = SweepStateName(s);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(ParseSweepState(name), s) << name;
  }
  EXPECT_EQ(std::string(SweepStateName(SweepState::kActive)), "active");
  EXPECT_EQ(std::string(SweepStateName(SweepState::kCompleted)), "completed");
  EXPECT_EQ(std::string(SweepStateName(SweepState::kCancelled)), "cancelled");
}

TEST(RecordsNamesTest, JobStateNamesRoundTrip) {
  std::set<std::string> seen;
  for (JobState s : kAllJobStates) {
    const std::string name = JobStateName(s);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(ParseJobState(name), s) << name;
  }
  // The names the database's CHECK constraint and SQL use.
  EXPECT_EQ(std::string(JobStateName(J::kBlocked)), "blocked");
  EXPECT_EQ(std::string(JobStateName(J::kQueued)), "queued");
  EXPECT_EQ(std::string(JobStateName(J::kLeased)), "leased");
  EXPECT_EQ(std::string(JobStateName(J::kRunning)), "running");
  EXPECT_EQ(std::string(JobStateName(J::kSucceeded)), "succeeded");
  EXPECT_EQ(std::string(JobStateName(J::kFailed)), "failed");
  EXPECT_EQ(std::string(JobStateName(J::kCancelled)), "cancelled");
}

TEST(RecordsNamesTest, RunStateNamesAreDistinct) {
  std::set<std::string> seen;
  for (RunState s : kAllRunStates) {
    const std::string name = RunStateName(s);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_EQ(std::string(RunStateName(R::kPending)), "pending");
  EXPECT_EQ(std::string(RunStateName(R::kTraining)), "training");
  EXPECT_EQ(std::string(RunStateName(R::kTrained)), "trained");
  EXPECT_EQ(std::string(RunStateName(R::kEvaluated)), "evaluated");
  EXPECT_EQ(std::string(RunStateName(R::kFailed)), "failed");
  EXPECT_EQ(std::string(RunStateName(R::kCancelled)), "cancelled");
}

TEST(RecordsNamesTest, JobKindNamesRoundTrip) {
  for (plan::JobKind k : kAllJobKinds) {
    const std::string name = plan::JobKindName(k);
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(ParseJobKind(name), k) << name;
  }
  EXPECT_EQ(ParseJobKind("train"), plan::JobKind::kTrain);
  EXPECT_EQ(ParseJobKind("pretrain"), plan::JobKind::kPretrain);
  EXPECT_EQ(ParseJobKind("finetune"), plan::JobKind::kFinetune);
}

TEST(RecordsNamesTest, UnknownNamesParseToNullopt) {
  for (const std::string bad : {"", "unknown", "QUEUED", "Queued", " queued", "queued ",
                                "JOB_STATE_QUEUED", "pending", "done"}) {
    EXPECT_EQ(ParseJobState(bad), std::nullopt) << "'" << bad << "'";
  }
  for (const std::string bad : {"", "unknown", "ACTIVE", "running", "canceled"}) {
    EXPECT_EQ(ParseSweepState(bad), std::nullopt) << "'" << bad << "'";
  }
  for (const std::string bad : {"", "unknown", "TRAIN", "fine-tune"}) {
    EXPECT_EQ(ParseJobKind(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(RecordsNamesTest, OutOfRangeValuesNameUnknown) {
  EXPECT_EQ(std::string(JobStateName(static_cast<JobState>(99))), "unknown");
  EXPECT_EQ(std::string(RunStateName(static_cast<RunState>(99))), "unknown");
  EXPECT_EQ(std::string(SweepStateName(static_cast<SweepState>(99))), "unknown");
}

}  // namespace
}  // namespace mixsweep::scheduler
