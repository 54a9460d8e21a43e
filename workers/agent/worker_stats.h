// WorkerStats: what this worker has done and holds, for its /metrics. The
// agent writes it on its io_context thread; the metrics endpoint reads a
// copy from its own thread. Plain values: nothing here knows of Prometheus.
//
//   WorkerStats stats;
//   stats.JobEnded("train", "succeeded");
//   stats.SetLoad({.jobs_running = 1, .gpus_busy = 2, .gpus_total = 8});
//   WorkerStats::Snapshot s = stats.Read();
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace mixsweep::workers {

class WorkerStats {
 public:
  struct Load {
    int jobs_running = 0;
    int gpus_busy = 0;
    int gpus_total = 0;
  };
  struct Snapshot {
    // (kind, outcome) -> jobs; outcome: succeeded, failed, handed_back,
    // cancelled, lease_lost.
    std::map<std::pair<std::string, std::string>, int64_t> jobs_ended;
    Load load;
  };

  void JobEnded(const std::string& kind, const std::string& outcome) {
    std::lock_guard lock(mu_);
    ++snapshot_.jobs_ended[{kind, outcome}];
  }
  void SetLoad(Load load) {
    std::lock_guard lock(mu_);
    snapshot_.load = load;
  }
  Snapshot Read() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

 private:
  mutable std::mutex mu_;
  Snapshot snapshot_;  // guarded by mu_
};

}  // namespace mixsweep::workers
