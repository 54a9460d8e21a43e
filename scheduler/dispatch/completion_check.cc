#include "scheduler/dispatch/completion_check.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace mixsweep::scheduler {
namespace {

absl::Status Finite(double value, const std::string& field) {
  if (std::isfinite(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": not a finite number"));
}

absl::Status CheckEpisodes(const std::vector<SimulatedEpisode>& episodes) {
  std::set<int> seen;
  for (size_t i = 0; i < episodes.size(); ++i) {
    const SimulatedEpisode& e = episodes[i];
    const std::string field = absl::StrCat("episodes[", i, "]");
    if (e.index < 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".index: negative"));
    }
    if (!seen.insert(e.index).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".index: episode ", e.index, " reported twice"));
    }
    if (absl::Status s = Finite(e.score, field + ".score"); !s.ok()) return s;
    if (e.score < 0 || e.score > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".score: ", e.score, " is outside [0, 1]"));
    }
    if (absl::Status s = Finite(e.sum_reward, field + ".sum_reward"); !s.ok()) return s;
    if (absl::Status s = Finite(e.max_reward, field + ".max_reward"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckGeneration(const GenerationReport& g) {
  if (g.num_success <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generation.num_success: ", g.num_success, "; a generate job succeeds with demos"));
  }
  if (g.num_attempts < g.num_success) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation.num_attempts: ", g.num_attempts, " is fewer than the ",
                     g.num_success, " successes"));
  }
  if (absl::Status s = Finite(g.seconds, "generation.seconds"); !s.ok()) return s;
  if (g.seconds < 0) return absl::InvalidArgumentError("generation.seconds: negative");
  return absl::OkStatus();
}

absl::Status CheckStepCheckpoints(const std::vector<StepCheckpoint>& checkpoints) {
  std::set<int64_t> seen;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const std::string field = absl::StrCat("step_checkpoints[", i, "]");
    if (checkpoints[i].step <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".step: must be positive"));
    }
    if (!seen.insert(checkpoints[i].step).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".step: step ", checkpoints[i].step, " reported twice"));
    }
    if (checkpoints[i].uri.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".uri: empty"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCompletionValues(const Completion& completion) {
  if (absl::Status s = CheckEpisodes(completion.episodes); !s.ok()) return s;
  if (completion.generation) {
    if (absl::Status s = CheckGeneration(*completion.generation); !s.ok()) return s;
  }
  return CheckStepCheckpoints(completion.step_checkpoints);
}

}  // namespace mixsweep::scheduler
