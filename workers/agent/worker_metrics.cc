#include "workers/agent/worker_metrics.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "services/metrics/families.h"

namespace mixsweep::workers {
namespace {

using metrics::AddSample;
using metrics::MakeFamily;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Job kinds and outcomes: every pair is reported, zeros included.
constexpr const char* kKinds[] = {"train", "pretrain", "finetune", "generate", "evaluate"};
constexpr const char* kOutcomes[] = {"succeeded", "failed", "handed_back", "cancelled",
                                     "lease_lost"};

}  // namespace

std::vector<MetricFamily> WorkerFamilies(const WorkerStats::Snapshot& stats,
                                         const std::vector<GpuInfo>& gpus, bool synthetic,
                                         const std::string& version) {
  std::vector<MetricFamily> out;
  MetricFamily jobs = MakeFamily("mixsweep_worker_jobs_total",
                                 "Jobs this worker ran, by kind and outcome", MetricType::Counter);
  for (const char* kind : kKinds) {
    for (const char* outcome : kOutcomes) {
      auto it = stats.jobs_ended.find({kind, outcome});
      AddSample(jobs, {{"kind", kind}, {"outcome", outcome}},
                it == stats.jobs_ended.end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  out.push_back(std::move(jobs));
  MetricFamily running = MakeFamily("mixsweep_worker_jobs_running",
                                    "Jobs running on this worker now", MetricType::Gauge);
  AddSample(running, {}, stats.load.jobs_running);
  out.push_back(std::move(running));
  MetricFamily load =
      MakeFamily("mixsweep_worker_gpus", "This worker's GPUs, busy or idle", MetricType::Gauge);
  AddSample(load, {{"state", "busy"}}, stats.load.gpus_busy);
  AddSample(load, {{"state", "idle"}}, stats.load.gpus_total - stats.load.gpus_busy);
  out.push_back(std::move(load));
  if (!gpus.empty()) {
    MetricFamily utilization =
        MakeFamily("mixsweep_worker_gpu_utilization_ratio",
                   "Each GPU's utilisation from nvidia-smi (0 to 1)", MetricType::Gauge);
    MetricFamily used = MakeFamily("mixsweep_worker_gpu_memory_used_bytes",
                                   "Each GPU's memory in use, from nvidia-smi", MetricType::Gauge);
    MetricFamily total = MakeFamily("mixsweep_worker_gpu_memory_total_bytes",
                                    "Each GPU's memory, from nvidia-smi", MetricType::Gauge);
    for (const GpuInfo& gpu : gpus) {
      const std::string index = absl::StrCat(gpu.index);
      AddSample(utilization, {{"gpu", index}}, gpu.utilization_percent / 100.0);
      AddSample(used, {{"gpu", index}}, static_cast<double>(gpu.memory_used_mib) * 1024 * 1024);
      AddSample(total, {{"gpu", index}}, static_cast<double>(gpu.memory_total_mib) * 1024 * 1024);
    }
    out.push_back(std::move(utilization));
    out.push_back(std::move(used));
    out.push_back(std::move(total));
  }
  MetricFamily info = MakeFamily("mixsweep_worker_build_info",
                                 "Always 1; the labels say which build runs and whether synthetic",
                                 MetricType::Gauge);
  AddSample(info, {{"version", version}, {"synthetic", synthetic ? "true" : "false"}}, 1);
  out.push_back(std::move(info));
  return out;
}

std::vector<MetricFamily> WorkerCollector::Collect() const {
  std::vector<GpuInfo> gpus;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!last_poll_ || now - *last_poll_ >= options_.gpu_poll_interval) {
      last_poll_ = now;
      // No nvidia-smi: no GPUs, no series. A failing one is logged, and its
      // series go away rather than show stale readings.
      auto probed = ProbeGpus(options_.nvidia_smi);
      if (!probed.ok()) spdlog::warn("metrics: nvidia-smi: {}", probed.status().ToString());
      gpus_ = probed.ok() ? *std::move(probed) : std::vector<GpuInfo>{};
    }
    gpus = gpus_;
  }
  return WorkerFamilies(stats_.Read(), gpus, options_.synthetic, options_.version);
}

}  // namespace mixsweep::workers
