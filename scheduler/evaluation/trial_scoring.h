// Trial scoring: what an operator saw happen, turned into the rubric's score.
//
// The score is never typed: it follows from the rubric's achieved stages
// (milestones) or items. Anything the rubric cannot give, or a trial that
// does not fit its evaluation request, is INVALID_ARGUMENT with the field
// named, so the caller can refuse the whole submission before storing any.
//
// Example:
//   TrialValues t{.trial_index = 3, .achieved = {"first_bottle_grasped"}};
//   absl::StatusOr<double> score =
//       ScoreTrial(spec.task.rubric, t, /*trials_wanted=*/10, "trials[0]");
//   // *score == 0.5 on Pick Dual Bottles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::evaluation {

// One trial as the operator (or an evaluation job) reports it.
struct TrialValues {
  int trial_index = 0;  // 0 .. trials_wanted - 1
  // Milestones: the last stage reached, or every stage reached in order
  // (a prefix of the rubric's stages); empty: none. Items: the items
  // achieved, each once, in any order.
  std::vector<std::string> achieved = {};
  bool success = false;
  std::optional<int64_t> duration_ms = {};  // >= 0 when set
  bool intervention = false;
  bool safety_stop = false;
  std::string operator_name = {};
  std::string robot_id = {};
  std::string notes = {};
  std::vector<std::string> video_uris = {};
};

// Bounds on what one trial may carry (hostile or mistaken input). Every
// string must also be valid UTF-8 without control characters; notes may
// hold LF, CR and tab.
struct TrialLimits {
  size_t max_name_bytes = 128;     // operator, robot id, each achieved name
  size_t max_notes_bytes = 4096;
  size_t max_video_uris = 16;
  size_t max_uri_bytes = 2048;
  int64_t max_duration_ms = 24LL * 3600 * 1000;
};

// The score of `trial` under `rubric`, in [0, 1], after checking every field
// (prefix names the trial, e.g. "trials[2]", and errors name e.g.
// "trials[2].achieved[1]: unknown stage \"lifted\"; the stages are ...").
// Item weights that sum to 1 only up to rounding give at most 1.
absl::StatusOr<double> ScoreTrial(const spec::Rubric& rubric, const TrialValues& trial,
                                  int trials_wanted, std::string_view field_prefix,
                                  const TrialLimits& limits = {});

// The scores of one request's trials, in their order, the batch checked
// whole as RecordTrials checks it before storing anything: each trial by
// ScoreTrial (prefix "trials[i]"), and no trial_index twice. The first
// problem found is the error, so one bad trial refuses them all. Pure: the
// count limits and the request's lookup are the caller's.
absl::StatusOr<std::vector<double>> ScoreTrials(const spec::Rubric& rubric,
                                                const std::vector<TrialValues>& trials,
                                                int trials_wanted,
                                                const TrialLimits& limits = {});

// Every score the rubric can give, ascending (milestones: 0 and each stage's
// value; items: every subset sum, computed as ScoreTrial does; sums within
// 1e-9 of each other listed once; only the first 16 items enumerated). For
// prompts and for the synthetic lab.
std::vector<double> AttainableScores(const spec::Rubric& rubric);

}  // namespace mixsweep::evaluation
