#include "scheduler/evaluation/evaluation_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace mixsweep::evaluation {
namespace {

// Robot ids and platforms are identifiers: they appear in logs, CSV files
// and labels of metrics.
absl::Status CheckIdentifier(const std::string& value, const char* field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (value.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most 64 characters"));
  }
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", value, "' may hold only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(const std::string& value, const char* field, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most ", max_bytes, " bytes"));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": control characters not allowed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

EvaluationService::EvaluationService(EvaluationStore& store, EstimateStore& estimates,
                                     SpecCache& specs, scheduler::ChangeSignal& trials_changed,
                                     EvaluationOptions options)
    : store_(store),
      estimates_(estimates),
      specs_(specs),
      trials_changed_(trials_changed),
      options_(options),
      rng_(std::random_device{}()) {}

absl::StatusOr<RobotRecord> EvaluationService::RegisterRobot(const RobotRecord& robot,
                                                             const scheduler::WriteContext& ctx) {
  if (absl::Status s = CheckIdentifier(robot.id, "robot.id"); !s.ok()) return s;
  if (absl::Status s = CheckIdentifier(robot.platform, "robot.platform"); !s.ok()) return s;
  if (absl::Status s = CheckText(robot.location, "robot.location", 256); !s.ok()) return s;
  return store_.RegisterRobot(robot, ctx);
}

absl::StatusOr<std::vector<RobotRecord>> EvaluationService::ListRobots() {
  return store_.ListRobots();
}

absl::StatusOr<std::vector<BatchCandidate>> EvaluationService::RankFor(
    int64_t sweep_id, const std::string& platform) {
  absl::StatusOr<std::vector<OpenRequest>> open = store_.ListUnbatched(sweep_id, platform);
  if (!open.ok()) return open.status();
  std::set<int64_t> sweeps;
  for (const OpenRequest& r : *open) sweeps.insert(r.sweep_id);
  std::vector<EstimateUncertainty> uncertainties;
  for (int64_t sweep : sweeps) {
    absl::StatusOr<std::vector<StoredEstimate>> stored =
        estimates_.LatestEstimates({.sweep_id = sweep});
    if (!stored.ok()) return stored.status();
    for (const StoredEstimate& e : *stored) uncertainties.push_back(UncertaintyOf(e.estimate));
  }
  return RankBatches(*open, uncertainties);
}

absl::StatusOr<OperatorBatch> EvaluationService::WithRubric(BatchRecord batch) {
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> spec = specs_.Get(batch.sweep_id);
  if (!spec.ok()) return spec.status();
  // The operator evaluates blind: whatever serves the batch gets no mixture.
  for (RequestRecord& r : batch.requests) {
    r.n_tele = 0;
    r.source.clear();
    r.n_nt = 0;
    r.seed = 0;
  }
  return OperatorBatch{.batch = std::move(batch),
                   .task = (*spec)->task.name,
                   .rubric = (*spec)->task.rubric};
}

absl::StatusOr<OperatorBatch> EvaluationService::NextBatch(const NextBatchRequest& request) {
  if (absl::Status s = CheckIdentifier(request.robot_id, "robot_id"); !s.ok()) return s;
  if (absl::Status s = CheckText(request.operator_name, "operator", 128); !s.ok()) return s;
  if (request.max_policies < 0 || request.max_policies > options_.max_batch_policies) {
    return absl::InvalidArgumentError(absl::StrCat("max_policies: must be 0 (the default, ",
                                                   options_.default_batch_policies, ") to ",
                                                   options_.max_batch_policies));
  }
  if (request.sweep_id < 0) {
    return absl::InvalidArgumentError("sweep_id: must be 0 (any) or a sweep id");
  }
  absl::StatusOr<RobotRecord> robot = store_.GetRobot(request.robot_id);
  if (!robot.ok()) return robot.status();

  absl::StatusOr<std::optional<BatchRecord>> open = store_.OpenBatchOf(robot->id);
  if (!open.ok()) return open.status();
  if (open->has_value()) return WithRubric(**std::move(open));

  const size_t max_policies = static_cast<size_t>(
      request.max_policies > 0 ? request.max_policies : options_.default_batch_policies);
  // Another station may take a request between ranking and assigning:
  // rank again with what is left.
  for (int attempt = 0; attempt < 5; ++attempt) {
    absl::StatusOr<std::vector<BatchCandidate>> ranked = RankFor(request.sweep_id, robot->platform);
    if (!ranked.ok()) return ranked.status();
    if (ranked->empty()) return OperatorBatch{.batch = {.robot_id = robot->id}};
    BatchCandidate best = ranked->front();
    if (best.request_ids.size() > max_policies) best.request_ids.resize(max_policies);
    uint64_t seed;
    {
      std::lock_guard<std::mutex> lock(rng_mu_);
      seed = rng_();
    }
    absl::StatusOr<BatchRecord> assigned = store_.AssignBatch(
        robot->id, request.operator_name, best, BlindOrder(best.request_ids, seed));
    if (absl::IsAborted(assigned.status())) continue;
    if (!assigned.ok()) return assigned.status();
    return WithRubric(*std::move(assigned));
  }
  return absl::AbortedError("other stations keep taking the same requests; ask again");
}

absl::StatusOr<std::vector<BatchCandidate>> EvaluationService::Plan(int64_t sweep_id,
                                                                    const std::string& robot_id) {
  if (sweep_id < 0) return absl::InvalidArgumentError("sweep_id: must be 0 (all) or a sweep id");
  std::string platform;
  if (!robot_id.empty()) {
    absl::StatusOr<RobotRecord> robot = store_.GetRobot(robot_id);
    if (!robot.ok()) return robot.status();
    platform = robot->platform;
  }
  return RankFor(sweep_id, platform);
}

absl::StatusOr<RequestRecord> EvaluationService::ResolveRequest(int64_t request_id,
                                                                const std::string& label) {
  if (request_id > 0 && !label.empty()) {
    return absl::InvalidArgumentError("request_id, label: give one, not both");
  }
  if (request_id > 0) return store_.GetRequest(request_id);
  if (!label.empty()) {
    if (absl::Status s = CheckText(label, "label", 64); !s.ok()) return s;
    return store_.FindRequestByLabel(label);
  }
  return absl::InvalidArgumentError("request_id: required (or label)");
}

absl::StatusOr<RecordTrialsResult> EvaluationService::RecordTrials(
    const RecordTrialsCall& call, const scheduler::WriteContext& ctx) {
  if (call.trials.empty()) return absl::InvalidArgumentError("trials: at least one trial");
  if (call.trials.size() > options_.max_trials_per_request) {
    // A quota, not a malformed request: send the trials in several calls.
    return absl::ResourceExhaustedError(absl::StrCat(
        "trials: ", call.trials.size(), " trials in one call; at most ",
        options_.max_trials_per_request, " per RecordTrials call (send them in several)"));
  }
  absl::StatusOr<RequestRecord> request = ResolveRequest(call.request_id, call.label);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> spec = specs_.Get(request->sweep_id);
  if (!spec.ok()) return spec.status();

  // Every trial is checked before any is stored: a bad one refuses them all.
  absl::StatusOr<std::vector<double>> scores = ScoreTrials(
      (*spec)->task.rubric, call.trials, request->trials_wanted, options_.trial_limits);
  if (!scores.ok()) return scores.status();
  std::vector<ScoredTrial> scored;
  scored.reserve(call.trials.size());
  for (size_t i = 0; i < call.trials.size(); ++i) {
    scored.push_back({.values = call.trials[i], .score = (*scores)[i]});
  }
  absl::StatusOr<RecordTrialsResult> result =
      store_.RecordTrials(request->id, scored, call.simulated, ctx);
  if (result.ok() && !result->replayed) trials_changed_.Notify();
  return result;
}

absl::StatusOr<TrialRecord> EvaluationService::CorrectTrial(const CorrectTrialCall& call,
                                                            const scheduler::WriteContext& ctx) {
  if (call.trial_id <= 0) return absl::InvalidArgumentError("trial_id: required");
  if (call.reason.empty()) {
    return absl::InvalidArgumentError("reason: say why the trial is corrected");
  }
  if (absl::Status s = CheckText(call.reason, "reason", 1024); !s.ok()) return s;
  absl::StatusOr<TrialRecord> original = store_.GetTrial(call.trial_id);
  if (!original.ok()) return original.status();
  if (call.corrected.trial_index != original->values.trial_index) {
    return absl::InvalidArgumentError(absl::StrCat(
        "corrected.trial_index: ", call.corrected.trial_index, " is not trial ", call.trial_id,
        "'s index ", original->values.trial_index, "; a correction replaces the same trial"));
  }
  absl::StatusOr<RequestRecord> request = store_.GetRequest(original->request_id);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> spec = specs_.Get(request->sweep_id);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<double> score = ScoreTrial((*spec)->task.rubric, call.corrected,
                                            request->trials_wanted, "corrected",
                                            options_.trial_limits);
  if (!score.ok()) return score.status();
  absl::StatusOr<TrialRecord> stored =
      store_.CorrectTrial(call.trial_id, {.values = call.corrected, .score = *score}, call.reason,
                          ctx);
  if (stored.ok()) trials_changed_.Notify();
  return stored;
}

absl::StatusOr<std::vector<ResultRecord>> EvaluationService::ListResults(
    const ResultFilter& filter) {
  if (filter.sweep_id <= 0) return absl::InvalidArgumentError("sweep_id: required");
  return store_.ListResults(filter);
}

}  // namespace mixsweep::evaluation
