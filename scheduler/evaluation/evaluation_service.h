// EvaluationService: robot operators evaluate trained policies, blind.
//
// Robots are registered with their platform; a scenario may require one. An
// operator's station asks for the next batch: one (sweep, scenario), chosen
// by the next-evaluation rule (next_evaluation.h), its policies in random
// order under opaque labels. Trials are scored by the sweep's rubric here,
// checked whole before anything is stored, then stored by the
// EvaluationStore in one transaction; the recomputer is woken.
//
// Knows nothing of gRPC or SQL: the handler converts, the store stores.
//
// Example:
//   EvaluationService evaluation(store, estimates, specs, recompute_signal);
//   absl::StatusOr<OperatorBatch> batch = evaluation.NextBatch({.robot_id = "aloha-1"});
//   evaluation.RecordTrials({.request_id = batch->batch.requests[0].id, .trials = ...},
//                           {.principal = "ana", .idempotency_key = "k1"});
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/change_signal.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/evaluation/evaluation_store.h"
#include "scheduler/evaluation/spec_cache.h"

namespace mixsweep::evaluation {

struct EvaluationOptions {
  int default_batch_policies = 12;  // policies per batch when the station says 0
  int max_batch_policies = 100;
  // Trials in one RecordTrials call: a quota, RESOURCE_EXHAUSTED over it.
  size_t max_trials_per_request = 1000;
  TrialLimits trial_limits;
};

struct NextBatchRequest {
  std::string robot_id;
  std::string operator_name;
  int max_policies = 0;  // 0: the default
  int64_t sweep_id = 0;  // 0: any sweep the robot can serve
};

// A batch with what the operator needs to score it (the rubric), and nothing
// of the mixtures.
struct OperatorBatch {
  BatchRecord batch;  // batch_id empty: nothing to evaluate now
  std::string task;
  spec::Rubric rubric;
};

struct RecordTrialsCall {
  int64_t request_id = 0;   // or
  std::string label;        // the blind label of the request
  std::vector<TrialValues> trials;
  bool simulated = false;   // recorded by an evaluation job
};

struct CorrectTrialCall {
  int64_t trial_id = 0;
  TrialValues corrected;
  std::string reason;
};

class EvaluationService {
 public:
  EvaluationService(EvaluationStore& store, EstimateStore& estimates, SpecCache& specs,
                    scheduler::ChangeSignal& trials_changed, EvaluationOptions options = {});

  absl::StatusOr<RobotRecord> RegisterRobot(const RobotRecord& robot,
                                            const scheduler::WriteContext& ctx);
  absl::StatusOr<std::vector<RobotRecord>> ListRobots();

  // The robot's open batch if it holds one, else a new one (the best
  // candidate for its platform), else an empty batch.
  absl::StatusOr<OperatorBatch> NextBatch(const NextBatchRequest& request);

  // The candidates ranked as NextBatch would take them.
  absl::StatusOr<std::vector<BatchCandidate>> Plan(int64_t sweep_id, const std::string& robot_id);

  absl::StatusOr<RecordTrialsResult> RecordTrials(const RecordTrialsCall& call,
                                                  const scheduler::WriteContext& ctx);
  absl::StatusOr<TrialRecord> CorrectTrial(const CorrectTrialCall& call,
                                           const scheduler::WriteContext& ctx);
  absl::StatusOr<std::vector<ResultRecord>> ListResults(const ResultFilter& filter);

 private:
  absl::StatusOr<std::vector<BatchCandidate>> RankFor(int64_t sweep_id,
                                                      const std::string& platform);
  absl::StatusOr<OperatorBatch> WithRubric(BatchRecord batch);
  absl::StatusOr<RequestRecord> ResolveRequest(int64_t request_id, const std::string& label);

  EvaluationStore& store_;
  EstimateStore& estimates_;
  SpecCache& specs_;
  scheduler::ChangeSignal& trials_changed_;
  const EvaluationOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // seeded from std::random_device: blind order only
};

}  // namespace mixsweep::evaluation
