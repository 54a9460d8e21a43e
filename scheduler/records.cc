#include "scheduler/records.h"

#include <algorithm>
#include <array>
#include <utility>

namespace mixsweep::scheduler {
namespace {

template <typename Enum, size_t N>
const char* NameOf(const std::array<std::pair<Enum, const char*>, N>& table,
                   Enum value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> Parse(const std::array<std::pair<Enum, const char*>, N>& table,
                          const std::string& name) {
  for (const auto& [e, n] : table) {
    if (name == n) return e;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<SweepState, const char*>, 3> kSweepStates{{
    {SweepState::kActive, "active"},
    {SweepState::kCompleted, "completed"},
    {SweepState::kCancelled, "cancelled"},
}};

constexpr std::array<std::pair<JobState, const char*>, 7> kJobStates{{
    {JobState::kBlocked, "blocked"},
    {JobState::kQueued, "queued"},
    {JobState::kLeased, "leased"},
    {JobState::kRunning, "running"},
    {JobState::kSucceeded, "succeeded"},
    {JobState::kFailed, "failed"},
    {JobState::kCancelled, "cancelled"},
}};

constexpr std::array<std::pair<RunState, const char*>, 6> kRunStates{{
    {RunState::kPending, "pending"},
    {RunState::kTraining, "training"},
    {RunState::kTrained, "trained"},
    {RunState::kEvaluated, "evaluated"},
    {RunState::kFailed, "failed"},
    {RunState::kCancelled, "cancelled"},
}};

constexpr std::array<std::pair<plan::JobKind, const char*>, 5> kJobKinds{{
    {plan::JobKind::kTrain, "train"},
    {plan::JobKind::kPretrain, "pretrain"},
    {plan::JobKind::kFinetune, "finetune"},
    {plan::JobKind::kGenerate, "generate"},
    {plan::JobKind::kEvaluate, "evaluate"},
}};

}  // namespace

const char* SweepStateName(SweepState state) { return NameOf(kSweepStates, state); }
const char* JobStateName(JobState state) { return NameOf(kJobStates, state); }
const char* RunStateName(RunState state) { return NameOf(kRunStates, state); }

std::optional<SweepState> ParseSweepState(const std::string& name) {
  return Parse(kSweepStates, name);
}
std::optional<JobState> ParseJobState(const std::string& name) {
  return Parse(kJobStates, name);
}
std::optional<plan::JobKind> ParseJobKind(const std::string& name) {
  return Parse(kJobKinds, name);
}

RunState DeriveRunState(const std::vector<JobState>& job_states,
                        const RunEvaluations& evaluations) {
  auto any = [&](JobState s) {
    return std::find(job_states.begin(), job_states.end(), s) != job_states.end();
  };
  auto all = [&](JobState s) {
    return !job_states.empty() &&
           std::all_of(job_states.begin(), job_states.end(),
                       [s](JobState x) { return x == s; });
  };
  // Failure wins: one failed job means the run cannot finish.
  if (any(JobState::kFailed)) return RunState::kFailed;
  if (all(JobState::kSucceeded)) {
    // Evaluated once every scenario's request has all its trials (a
    // cancelled request counts as neither).
    return evaluations.open == 0 && evaluations.complete > 0 ? RunState::kEvaluated
                                                             : RunState::kTrained;
  }
  if (any(JobState::kCancelled)) return RunState::kCancelled;
  if (any(JobState::kLeased) || any(JobState::kRunning) ||
      any(JobState::kSucceeded)) {
    return RunState::kTraining;
  }
  return RunState::kPending;
}

}  // namespace mixsweep::scheduler
