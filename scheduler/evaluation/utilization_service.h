// UtilizationService: the stored estimates of a sweep, estimates computed now
// with other parameters, and the mix to buy for a budget.
//
// Knows nothing of gRPC or SQL. The estimates themselves are kept up to date
// by the EstimateRecomputer; this service only reads them.
//
// Example:
//   UtilizationService util(estimates, specs, {.resamples = 2000});
//   auto stored = util.GetEstimates({.sweep_id = 7}, std::nullopt);
//   auto mix = util.Recommend({.sweep_id = 7, .scenario = "in_domain",
//                              .source = "sim", .budget_hours = 4});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/evaluation/spec_cache.h"
#include "scheduler/utilization/budget.h"
#include "scheduler/utilization/estimate.h"

namespace mixsweep::evaluation {

struct RecommendCall {
  int64_t sweep_id = 0;
  std::string scenario;
  std::string source;
  double budget_hours = 0.0;
  double cost_tele_hours = 0.0;  // 0: the spec's
  double cost_nt_hours = 0.0;    // 0: the spec's
  int64_t teleop_core = 0;       // 0: the sweep's smallest N_tele
};

struct RecommendAnswer {
  utilization::Recommendation recommendation;
  double cost_tele_hours = 0.0;  // as used
  double cost_nt_hours = 0.0;
  int64_t teleop_core = 0;
};

class UtilizationService {
 public:
  UtilizationService(EstimateStore& estimates, scheduler::SweepStore& sweeps, SpecCache& specs,
                     utilization::EstimateParams defaults)
      : estimates_(estimates), sweeps_(sweeps), specs_(specs), defaults_(defaults) {}

  // Without `params`: the stored estimates. With: computed now from the
  // stored trials (zeros in params take the defaults), not stored. Either
  // way with the cost of every curve point as of now.
  absl::StatusOr<std::vector<StoredEstimate>> GetEstimates(
      const EstimateFilter& filter, std::optional<utilization::EstimateParams> params);

  absl::StatusOr<RecommendAnswer> Recommend(const RecommendCall& call);

  const utilization::EstimateParams& defaults() const { return defaults_; }

 private:
  absl::StatusOr<utilization::EstimateParams> Resolve(utilization::EstimateParams params) const;
  // Collection hours, GPU-hours (shared pretrains split) and money per point.
  absl::Status AttachCosts(int64_t sweep_id, const spec::SweepSpec& spec,
                           std::vector<StoredEstimate>& estimates);

  EstimateStore& estimates_;
  scheduler::SweepStore& sweeps_;
  SpecCache& specs_;
  const utilization::EstimateParams defaults_;
};

}  // namespace mixsweep::evaluation
