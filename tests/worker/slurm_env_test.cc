// SlurmAllocationFromEnv / SlurmLabels: what the worker takes from a SLURM
// batch job's environment (workers/agent/slurm_env.h).
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workers/agent/slurm_env.h"

namespace mixsweep::workers {
namespace {

using ::testing::HasSubstr;
using Labels = std::map<std::string, std::string>;

EnvLookup Env(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

SlurmAllocation MustParse(const std::map<std::string, std::string>& vars) {
  auto parsed = SlurmAllocationFromEnv(Env(vars));
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed.ok() && parsed->has_value());
  return parsed.ok() && parsed->has_value() ? **parsed : SlurmAllocation{};
}

TEST(SlurmEnvTest, OutsideSlurmThereIsNoAllocation) {
  auto parsed = SlurmAllocationFromEnv(Env({{"CUDA_VISIBLE_DEVICES", "0"}}));
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->has_value());
}

TEST(SlurmEnvTest, TheAllocatedGpusComeFromSlurmJobGpus) {
  const SlurmAllocation a = MustParse({{"SLURM_JOB_ID", "4242"},
                                       {"SLURM_JOB_PARTITION", "gpu"},
                                       {"SLURM_JOB_GPUS", "2,3"},
                                       {"CUDA_VISIBLE_DEVICES", "0,1"}});
  EXPECT_EQ(a.job_id, "4242");
  EXPECT_EQ(a.partition, "gpu");
  EXPECT_EQ(a.gpus_flag, "2,3");  // nvidia-smi's indices, not CUDA's renumbering
  EXPECT_EQ(SlurmLabels(a), (Labels{{"slurm-job", "4242"}, {"slurm-partition", "gpu"}}));
}

TEST(SlurmEnvTest, CudaVisibleDevicesIsTheFallbackAndNoGpuMeansNone) {
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "1"}, {"CUDA_VISIBLE_DEVICES", "1"}}).gpus_flag, "1");
  // A CPU-only job: no GPU variable, or SLURM's placeholder, or UUIDs that
  // name no index nvidia-smi lists.
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "1"}}).gpus_flag, "none");
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "1"}, {"CUDA_VISIBLE_DEVICES", "NoDevFiles"}}).gpus_flag,
            "none");
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "1"}, {"CUDA_VISIBLE_DEVICES", "GPU-4ff03885"}}).gpus_flag,
            "none");
}

TEST(SlurmEnvTest, ArrayTasksAreLabelledWithTheArrayJobAndTask) {
  const SlurmAllocation a = MustParse({{"SLURM_JOB_ID", "4243"},
                                       {"SLURM_ARRAY_JOB_ID", "4240"},
                                       {"SLURM_ARRAY_TASK_ID", "3"}});
  EXPECT_EQ(SlurmLabels(a), (Labels{{"slurm-job", "4240_3"}}));
}

TEST(SlurmEnvTest, AMalformedGpuListIsRefusedNamingTheVariable) {
  auto parsed = SlurmAllocationFromEnv(Env({{"SLURM_JOB_ID", "1"}, {"SLURM_JOB_GPUS", "0,x"}}));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("SLURM_JOB_GPUS: '0,x'"));
}

}  // namespace
}  // namespace mixsweep::workers

namespace mixsweep::workers {
namespace {

TEST(SlurmGpusTest, ConfinedDevicesAreAllOursAndAnUnconfinedNodeIsFilteredByIndex) {
  SlurmAllocation two{.job_id = "7", .gpus_flag = "2,3", .gpu_count = 2};
  // ConstrainDevices: nvidia-smi lists the 2 allocated GPUs as 0 and 1.
  EXPECT_EQ(GpusFlagForProbe(two, 2), "auto");
  // No confinement: all 8 of the node are listed; ours are 2 and 3.
  EXPECT_EQ(GpusFlagForProbe(two, 8), "2,3");
  SlurmAllocation none{.job_id = "7", .gpus_flag = "none", .gpu_count = 0};
  EXPECT_EQ(GpusFlagForProbe(none, 0), "none");
  EXPECT_EQ(GpusFlagForProbe(none, 8), "none") << "a job given no GPU must not take one";
}

TEST(SlurmGpusTest, GpuCountFollowsTheVariableThatNamedTheGpus) {
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "9"}, {"SLURM_JOB_GPUS", "4,5,6"}}).gpu_count, 3);
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "9"}, {"CUDA_VISIBLE_DEVICES", "0,1"}}).gpu_count, 2);
  EXPECT_EQ(MustParse({{"SLURM_JOB_ID", "9"}, {"CUDA_VISIBLE_DEVICES", "NoDevFiles"}}).gpu_count,
            0);
}

}  // namespace
}  // namespace mixsweep::workers
