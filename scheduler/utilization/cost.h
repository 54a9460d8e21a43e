// What each run and each curve point cost: collection hours, GPU-hours and,
// where the lab gives prices, money (SPEC.md "Costs").
//
//   collection hours = N_tele C_tele + N_nt C_nt(source), where C_nt is the
//                      measured cost per demo (generation jobs) when there
//                      is one, else the spec's;
//   GPU-hours        = the sum over the run's jobs of the job's measured
//                      GPU-hours divided by the number of runs that use the
//                      job (a shared pretrain is split equally);
//   money            = collection hours x collection price
//                      + GPU-hours x GPU price, each term only where its
//                      price is given (0 otherwise).
// A curve point's cost is the mean over its runs (its seeds).
//
// Example:
//   CostRates rates{.tele_hours_per_demo = 0.02,
//                   .nt_by_source = {{"sim", {.spec_hours_per_demo = 0.001}}}};
//   auto runs = ComputeRunCosts(run_jobs, job_hours, rates);
//   std::vector<PointCost> points = ComputePointCosts(*runs);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::utilization {

// The collection cost of one non-teleop source, in hours per demo.
struct SourceCollectionCost {
  double spec_hours_per_demo = 0.0;
  // From the source's generation jobs (time / demos kept); wins when set.
  std::optional<double> measured_hours_per_demo = {};
};

struct CostRates {
  double tele_hours_per_demo = 0.0;
  std::map<std::string, SourceCollectionCost> nt_by_source = {};
  // Money per collection hour.
  std::optional<double> collection_hour_price = {};
  std::optional<double> gpu_hour_price = {};  // money per GPU-hour
};

// A run of the sweep and the jobs it uses (train, or pretrain + finetune).
// Pass every run of the sweep: a job's share is 1 / (runs listing it).
struct RunJobs {
  int64_t run_id = 0;
  std::string source = {};  // empty for teleop-only runs (key.n_nt == 0)
  RunKey key = {};
  std::vector<int64_t> job_ids = {};
};

// A job's measured GPU-hours (e.g. wall time x GPUs).
struct JobHours {
  int64_t job_id = 0;
  double gpu_hours = 0.0;
};

struct RunCost {
  int64_t run_id = 0;
  std::string source = {};
  RunKey key = {};
  double collection_hours = 0.0;
  double gpu_hours = 0.0;
  double money = 0.0;
  // Every job of the run has measured GPU-hours; a job without counts 0.
  bool gpu_hours_complete = true;
};

// INVALID_ARGUMENT for a negative or non-finite number, an unknown source,
// or a job measured twice; the message names the field.
absl::StatusOr<std::vector<RunCost>> ComputeRunCosts(
    std::span<const RunJobs> runs, std::span<const JobHours> job_hours,
    const CostRates& rates);

struct PointCost {
  std::string source = {};
  PointKey point = {};
  int runs = 0;
  double collection_hours = 0.0;  // means over the point's runs
  double gpu_hours = 0.0;
  double money = 0.0;
  bool gpu_hours_complete = true;  // every run's was
};

// Per (source, n_tele, n_nt), sorted by that key.
std::vector<PointCost> ComputePointCosts(std::span<const RunCost> runs);

}  // namespace mixsweep::utilization
