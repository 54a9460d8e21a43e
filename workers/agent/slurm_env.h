// Running inside a SLURM allocation (deploy/slurm/): what mixsweep-worker
// takes from the environment slurmd gives a batch job. Pure: the caller
// passes a getenv-like lookup.
//
// Under SLURM the worker
//   - offers only the GPUs SLURM allocated: SLURM_JOB_GPUS, else
//     CUDA_VISIBLE_DEVICES when it is a list of indices, else none (a job
//     given no GPU must not use one). Where the node confines devices,
//     nvidia-smi lists exactly the allocation, renumbered: then all of them
//     (GpusFlagForProbe). Jobs get CUDA_VISIBLE_DEVICES by UUID either way;
//   - labels itself slurm-job=<id> (array jobs: <array id>_<task>) and
//     slurm-partition=<partition>, so an operator finds the worker of a job;
//   - treats SIGTERM as preemption: SLURM sends it before a preemption kill
//     and, with `--signal=B:TERM@<seconds>`, ahead of the time limit. The
//     worker forwards it to each job's process group (its chance to
//     checkpoint), then hands the job back as PREEMPTED: it is queued
//     again without using an attempt and resumes from the checkpoint the
//     attempt left, through {resume_checkpoint}.
//
// Example:
//   std::optional<SlurmAllocation> slurm =
//       SlurmAllocationFromEnv([](const char* name) { return std::getenv(name); });
//   if (slurm) { gpus_flag = slurm->gpus_flag; labels.merge(SlurmLabels(*slurm)); }
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace mixsweep::workers {

struct SlurmAllocation {
  std::string job_id;         // SLURM_JOB_ID
  std::string partition;      // SLURM_JOB_PARTITION; may be empty
  std::string array_job_id;   // SLURM_ARRAY_JOB_ID; empty outside an array
  std::string array_task_id;  // SLURM_ARRAY_TASK_ID
  // The allocated GPUs as --gpus takes them: "0,2", or "none".
  std::string gpus_flag;
  int gpu_count = 0;  // how many gpus_flag names
};

// The --gpus to use once nvidia-smi has listed `probed` GPUs. A cluster that
// confines a job's devices (SLURM's ConstrainDevices, the common setup) shows
// the job its own GPUs only, renumbered from 0: nvidia-smi then lists exactly
// the allocation, and its indices are not SLURM_JOB_GPUS's. So: as many GPUs
// listed as allocated -> "auto" (all of them: they are ours); otherwise the
// allocation's indices, which then are the node's.
std::string GpusFlagForProbe(const SlurmAllocation& allocation, size_t probed);

// Returns a null pointer for an unset variable, as std::getenv does.
using EnvLookup = std::function<const char*(const char*)>;

// nullopt outside SLURM (no SLURM_JOB_ID). INVALID_ARGUMENT naming the
// variable when SLURM_JOB_GPUS is not a list of indices.
absl::StatusOr<std::optional<SlurmAllocation>> SlurmAllocationFromEnv(const EnvLookup& env);

// slurm-job (array jobs: "<array job id>_<task id>") and slurm-partition
// (when known).
std::map<std::string, std::string> SlurmLabels(const SlurmAllocation& allocation);

}  // namespace mixsweep::workers
