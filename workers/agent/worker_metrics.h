// The worker's /metrics (docs/METRICS.md, mixsweep-worker): its WorkerStats,
// and each GPU's utilisation and memory read from nvidia-smi when scraped
// (at most every `gpu_poll_interval`; no nvidia-smi, no GPU series).
//
//   auto collector = std::make_shared<WorkerCollector>(stats, WorkerCollectorOptions{});
//   // serve metrics::ServeMetrics(request, {collector}) on --metrics-listen
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "workers/agent/worker_stats.h"
#include "workers/gpu_probe.h"

namespace mixsweep::workers {

// The families of a stats snapshot and a GPU reading (pure).
std::vector<prometheus::MetricFamily> WorkerFamilies(const WorkerStats::Snapshot& stats,
                                                     const std::vector<GpuInfo>& gpus,
                                                     bool synthetic, const std::string& version);

struct WorkerCollectorOptions {
  std::string nvidia_smi = "nvidia-smi";
  std::chrono::milliseconds gpu_poll_interval = std::chrono::seconds(5);
  bool synthetic = false;
  std::string version;
};

class WorkerCollector final : public prometheus::Collectable {
 public:
  WorkerCollector(const WorkerStats& stats, WorkerCollectorOptions options)
      : stats_(stats), options_(std::move(options)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const WorkerStats& stats_;
  const WorkerCollectorOptions options_;
  mutable std::mutex mu_;
  mutable std::optional<std::chrono::steady_clock::time_point> last_poll_;  // guarded by mu_
  mutable std::vector<GpuInfo> gpus_;                                        // guarded by mu_
};

}  // namespace mixsweep::workers
