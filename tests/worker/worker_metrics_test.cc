// The worker's /metrics (workers/agent/worker_metrics.h): its job counts and
// load, and each GPU's reading from a fake nvidia-smi, re-read at most once
// per poll interval.
#include "workers/agent/worker_metrics.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace mixsweep::workers {
namespace {

std::map<std::string, std::string> Samples(const std::vector<prometheus::MetricFamily>& families) {
  std::map<std::string, std::string> out;
  for (absl::string_view line :
       absl::StrSplit(prometheus::TextSerializer().Serialize(families), '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    const size_t space = line.rfind(' ');
    out[std::string(line.substr(0, space))] = std::string(line.substr(space + 1));
  }
  return out;
}

TEST(WorkerMetrics, JobsByKindAndOutcomeLoadAndGpusAsTheDocsName) {
  WorkerStats stats;
  stats.JobEnded("train", "succeeded");
  stats.JobEnded("train", "succeeded");
  stats.JobEnded("finetune", "lease_lost");
  stats.SetLoad({.jobs_running = 1, .gpus_busy = 2, .gpus_total = 8});
  GpuInfo gpu{.index = 3, .memory_total_mib = 81559, .memory_used_mib = 1024,
              .utilization_percent = 37};
  auto samples = Samples(WorkerFamilies(stats.Read(), {gpu}, false, "0.1.0"));
  EXPECT_EQ(samples["mixsweep_worker_jobs_total{kind=\"train\",outcome=\"succeeded\"}"], "2");
  EXPECT_EQ(samples["mixsweep_worker_jobs_total{kind=\"finetune\",outcome=\"lease_lost\"}"], "1");
  EXPECT_EQ(samples["mixsweep_worker_jobs_total{kind=\"pretrain\",outcome=\"failed\"}"], "0");
  EXPECT_EQ(samples["mixsweep_worker_jobs_running"], "1");
  EXPECT_EQ(samples["mixsweep_worker_gpus{state=\"busy\"}"], "2");
  EXPECT_EQ(samples["mixsweep_worker_gpus{state=\"idle\"}"], "6");
  EXPECT_EQ(samples["mixsweep_worker_gpu_utilization_ratio{gpu=\"3\"}"], "0.37");
  EXPECT_EQ(samples["mixsweep_worker_gpu_memory_used_bytes{gpu=\"3\"}"], "1073741824");
  EXPECT_EQ(samples["mixsweep_worker_gpu_memory_total_bytes{gpu=\"3\"}"], "85520809984");
  EXPECT_EQ(samples["mixsweep_worker_build_info{version=\"0.1.0\",synthetic=\"false\"}"], "1");
}

TEST(WorkerMetrics, WithoutNvidiaSmiThereAreNoGpuSeries) {
  WorkerStats stats;
  WorkerCollector collector(stats, {.nvidia_smi = "/nonexistent/nvidia-smi", .synthetic = true});
  auto samples = Samples(collector.Collect());
  EXPECT_EQ(samples.count("mixsweep_worker_jobs_running"), 1u);
  for (const auto& [name, value] : samples) {
    EXPECT_FALSE(absl::StartsWith(name, "mixsweep_worker_gpu_")) << name;
  }
}

TEST(WorkerMetrics, NvidiaSmiIsReadAtMostOncePerPollInterval) {
  char dir_template[] = "/tmp/worker-metrics-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string counter = dir + "/calls";
  const std::string fake = dir + "/nvidia-smi";
  std::ofstream(fake) << "#!/bin/sh\necho x >> " << counter
                      << "\necho '0, NVIDIA H100 80GB HBM3, 81559, 512, 90, GPU-1'\n";
  ::chmod(fake.c_str(), 0755);
  WorkerStats stats;
  WorkerCollector collector(stats,
                            {.nvidia_smi = fake, .gpu_poll_interval = std::chrono::hours(1)});
  auto first = Samples(collector.Collect());
  EXPECT_EQ(first["mixsweep_worker_gpu_utilization_ratio{gpu=\"0\"}"], "0.9");
  collector.Collect();
  collector.Collect();
  std::ifstream calls(counter);
  int lines = 0;
  for (std::string line; std::getline(calls, line);) ++lines;
  EXPECT_EQ(lines, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mixsweep::workers
