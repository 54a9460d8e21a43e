#include "scheduler/utilization/cost.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }

absl::Status CheckRates(const CostRates& rates) {
  if (!NonNegative(rates.tele_hours_per_demo)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rates.tele_hours_per_demo: ", rates.tele_hours_per_demo,
                     " must be a number >= 0"));
  }
  for (const auto& [source, cost] : rates.nt_by_source) {
    if (!NonNegative(cost.spec_hours_per_demo) ||
        (cost.measured_hours_per_demo &&
         !NonNegative(*cost.measured_hours_per_demo))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rates.nt_by_source[", source, "]: hours must be numbers >= 0"));
    }
  }
  for (const auto& [name, price] :
       {std::pair{"rates.collection_hour_price", rates.collection_hour_price},
        std::pair{"rates.gpu_hour_price", rates.gpu_hour_price}}) {
    if (price && !NonNegative(*price)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", *price, " must be a number >= 0"));
    }
  }
  return absl::OkStatus();
}

double NtHoursPerDemo(const SourceCollectionCost& cost) {
  return cost.measured_hours_per_demo.value_or(cost.spec_hours_per_demo);
}

}  // namespace

absl::StatusOr<std::vector<RunCost>> ComputeRunCosts(
    std::span<const RunJobs> runs, std::span<const JobHours> job_hours,
    const CostRates& rates) {
  if (absl::Status s = CheckRates(rates); !s.ok()) return s;
  std::map<int64_t, double> hours_by_job;
  for (std::size_t i = 0; i < job_hours.size(); ++i) {
    const JobHours& j = job_hours[i];
    if (!NonNegative(j.gpu_hours)) {
      return absl::InvalidArgumentError(
          absl::StrCat("job_hours[", i, "].gpu_hours: ", j.gpu_hours,
                       " must be a number >= 0"));
    }
    if (!hours_by_job.emplace(j.job_id, j.gpu_hours).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "job_hours[", i, "].job_id: ", j.job_id, " is measured twice"));
    }
  }
  // How many runs share each job (a shared pretrain: all its finetunes).
  std::map<int64_t, int> users;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunJobs& run = runs[i];
    if (run.key.n_tele < 0 || run.key.n_nt < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("runs[", i, "].key: demo counts must not be negative"));
    }
    std::map<int64_t, int> own;
    for (int64_t job : run.job_ids) {
      if (++own[job] > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "runs[", i, "].job_ids: job ", job, " is listed twice"));
      }
      ++users[job];
    }
  }

  std::vector<RunCost> costs;
  costs.reserve(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunJobs& run = runs[i];
    RunCost cost{.run_id = run.run_id, .source = run.source, .key = run.key};
    double nt_hours_per_demo = 0.0;
    if (run.key.n_nt > 0) {
      auto it = rates.nt_by_source.find(run.source);
      if (it == rates.nt_by_source.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "runs[", i, "].source: no collection cost for source \"",
            run.source, "\""));
      }
      nt_hours_per_demo = NtHoursPerDemo(it->second);
    }
    cost.collection_hours =
        static_cast<double>(run.key.n_tele) * rates.tele_hours_per_demo +
        static_cast<double>(run.key.n_nt) * nt_hours_per_demo;
    for (int64_t job : run.job_ids) {
      auto measured = hours_by_job.find(job);
      if (measured == hours_by_job.end()) {
        cost.gpu_hours_complete = false;
        continue;
      }
      cost.gpu_hours += measured->second / users[job];
    }
    if (rates.collection_hour_price) {
      cost.money += cost.collection_hours * *rates.collection_hour_price;
    }
    if (rates.gpu_hour_price)
      cost.money += cost.gpu_hours * *rates.gpu_hour_price;
    costs.push_back(cost);
  }
  return costs;
}

std::vector<PointCost> ComputePointCosts(std::span<const RunCost> runs) {
  struct Sums {
    std::vector<double> collection, gpu, money;
    bool complete = true;
  };
  std::map<std::tuple<std::string, int64_t, int64_t>, Sums> by_point;
  for (const RunCost& run : runs) {
    Sums& sums = by_point[{run.source, run.key.n_tele, run.key.n_nt}];
    sums.collection.push_back(run.collection_hours);
    sums.gpu.push_back(run.gpu_hours);
    sums.money.push_back(run.money);
    sums.complete = sums.complete && run.gpu_hours_complete;
  }
  std::vector<PointCost> points;
  for (const auto& [key, sums] : by_point) {
    const auto& [source, n_tele, n_nt] = key;
    points.push_back({.source = source,
                      .point = {.n_tele = n_tele, .n_nt = n_nt},
                      .runs = static_cast<int>(sums.collection.size()),
                      .collection_hours = MeanAscending(sums.collection),
                      .gpu_hours = MeanAscending(sums.gpu),
                      .money = MeanAscending(sums.money),
                      .gpu_hours_complete = sums.complete});
  }
  return points;
}

}  // namespace mixsweep::utilization
