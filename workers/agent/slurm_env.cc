#include "workers/agent/slurm_env.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace mixsweep::workers {
namespace {

std::string Get(const EnvLookup& env, const char* name) {
  const char* value = env(name);
  return value == nullptr ? std::string() : std::string(value);
}

// "0,2" -> {0, 2}; nullopt unless every part is a non-negative integer.
std::optional<std::vector<int>> Indices(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int index = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &index) || index < 0) {
      return std::nullopt;
    }
    out.push_back(index);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::optional<SlurmAllocation>> SlurmAllocationFromEnv(const EnvLookup& env) {
  SlurmAllocation a;
  a.job_id = Get(env, "SLURM_JOB_ID");
  if (a.job_id.empty()) return std::optional<SlurmAllocation>();
  a.partition = Get(env, "SLURM_JOB_PARTITION");
  a.array_job_id = Get(env, "SLURM_ARRAY_JOB_ID");
  a.array_task_id = Get(env, "SLURM_ARRAY_TASK_ID");
  a.gpus_flag = "none";
  if (const std::string job_gpus = Get(env, "SLURM_JOB_GPUS"); !job_gpus.empty()) {
    std::optional<std::vector<int>> gpus = Indices(job_gpus);
    if (!gpus) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SLURM_JOB_GPUS: '", job_gpus, "' is not a list of GPU indices such as 0,2"));
    }
    if (!gpus->empty()) a.gpus_flag = absl::StrJoin(*gpus, ",");
    a.gpu_count = static_cast<int>(gpus->size());
  } else if (const std::string visible = Get(env, "CUDA_VISIBLE_DEVICES"); !visible.empty()) {
    // UUIDs or SLURM's "NoDevFiles" name no index nvidia-smi lists: none.
    if (std::optional<std::vector<int>> gpus = Indices(visible); gpus && !gpus->empty()) {
      a.gpus_flag = absl::StrJoin(*gpus, ",");
      a.gpu_count = static_cast<int>(gpus->size());
    }
  }
  return std::optional<SlurmAllocation>(std::move(a));
}

std::string GpusFlagForProbe(const SlurmAllocation& allocation, size_t probed) {
  if (allocation.gpu_count > 0 && probed == static_cast<size_t>(allocation.gpu_count)) {
    return "auto";
  }
  return allocation.gpus_flag;
}

std::map<std::string, std::string> SlurmLabels(const SlurmAllocation& a) {
  std::map<std::string, std::string> labels;
  labels["slurm-job"] = a.array_job_id.empty() || a.array_task_id.empty()
                            ? a.job_id
                            : absl::StrCat(a.array_job_id, "_", a.array_task_id);
  if (!a.partition.empty()) labels["slurm-partition"] = a.partition;
  return labels;
}

}  // namespace mixsweep::workers
