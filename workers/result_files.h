// Result files: what a generate or evaluate job is judged by, instead of its
// exit code (seed 001's protocol; docs/result-files.md).
//
// Parsers only: the caller reads the file and gives its text and name (the
// name is only for messages). Every error is INVALID_ARGUMENT and reads
//   <file>: <field>: <what is wrong>
// e.g. "/art/jobs/9/eval_info.json: per_episode[3].success: expected true or
// false, got 1".
//
// Evaluation results (ParseEvaluationResult), by JobSpec.result_format:
//   "lerobot"           lerobot-eval's eval_info.json, either layout:
//                       {"per_episode": [{"episode_ix", "sum_reward",
//                         "max_reward", "success", "seed"}], "aggregated":
//                         {"pc_success", ...}}            (single task), or
//                       {"per_task": [{"task_group", "task_id", "metrics":
//                         {"sum_rewards": [...], "max_rewards": [...],
//                          "successes": [...]}}], "per_group": {...},
//                        "overall": {"pc_success", "n_episodes", ...}}
//                       score = 1 on success, else 0; pc_success (a
//                       percentage) and n_episodes must agree.
//   "diffusion_policy"  diffusion_policy's eval_log.json: one
//                       "test/sim_max_reward_<seed>" per episode, in [0, 1]
//                       (score = it; success = it >= 1), episodes ordered by
//                       seed; "train/..." keys are training-set rollouts and
//                       are ignored; "test/mean_score" must agree.
//   "mixsweep"          {"format": "mixsweep.eval.v1", "episodes": [{"index":
//                         0, "success": true, "score": 1.0, "seed": 7,
//                         "sum_reward": 3.5, "max_reward": 1.0}], "info": {}}
//                       index and success required; score defaults to
//                       success ? 1 : 0; unknown keys are refused.
// Every format: exactly n_episodes episodes, indexed 0..n_episodes-1 each
// once, every number finite, every score in [0, 1]. Python's json writes
// NaN and Infinity bare (not JSON): they are refused by field, as "NaN is
// not a finite number".
//
// Generation summaries (ParseGenerationSummary): MimicGen's
// important_stats.json, {"num_success": 950, "num_attempts": 1187,
// "num_failures": 237, "success_rate": 80.03..., ...}, where success_rate is
// a PERCENTAGE (100 * num_success / num_attempts, mimicgen's
// generate_dataset.py); it is returned as a fraction.
//
// Example:
//   auto episodes = ParseEvaluationResult("lerobot", text, /*n_episodes=*/50,
//                                         "/art/jobs/9/eval_info.json");
//   if (!episodes.ok()) ...;  // FailJob KIND_BAD_RESULT with the message
//   // (*episodes)[0].index == 0, .success, .score in {0, 1}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mixsweep::workers {

// The evaluation result formats (JobSpec.result_format).
enum class EvaluationFormat {
  kLerobot,          // "lerobot": lerobot-eval's eval_info.json
  kDiffusionPolicy,  // "diffusion_policy": diffusion_policy's eval_log.json
  kMixsweep,         // "mixsweep": mixsweep.eval.v1
};

// "lerobot" -> kLerobot, ...; INVALID_ARGUMENT naming the known formats.
absl::StatusOr<EvaluationFormat> ParseEvaluationFormat(std::string_view name);
std::string_view EvaluationFormatName(EvaluationFormat format);

// The format of generate jobs' summaries, the only one known.
inline constexpr std::string_view kMimicgenFormat = "mimicgen";
// mixsweep's own evaluation format's version tag.
inline constexpr std::string_view kMixsweepEvalFormat = "mixsweep.eval.v1";

// One simulated episode (mixsweep.v1.SimulatedEpisode without the proto).
struct EpisodeResult {
  int32_t index = 0;  // 0 .. n_episodes-1
  bool success = false;
  double score = 0;   // in [0, 1]
  std::optional<int64_t> seed;        // when the file gives it
  std::optional<double> sum_reward;   // lerobot, mixsweep
  std::optional<double> max_reward;   // lerobot, diffusion_policy, mixsweep
};

// The episodes of an evaluation's result file, ordered by index.
absl::StatusOr<std::vector<EpisodeResult>> ParseEvaluationResult(std::string_view format,
                                                                 std::string_view text,
                                                                 int64_t n_episodes,
                                                                 std::string_view file_name);

// A generator's own account of its run.
struct GenerationCounts {
  int64_t num_success = 0;
  int64_t num_attempts = 0;
  double success_rate = 0;  // a fraction in [0, 1]: num_success / num_attempts
};

absl::StatusOr<GenerationCounts> ParseGenerationSummary(std::string_view text,
                                                        std::string_view file_name);

// Writers, for the synthetic executor and tests: the file each format's
// tool would write for `episodes` (lerobot: the single-task layout).
// ParseEvaluationResult reads it back.
std::string WriteEvaluationResult(EvaluationFormat format,
                                  const std::vector<EpisodeResult>& episodes);
// MimicGen's important_stats.json for these counts (num_attempts > 0).
std::string WriteGenerationSummary(int64_t num_success, int64_t num_attempts,
                                   std::string_view generation_path);

}  // namespace mixsweep::workers
