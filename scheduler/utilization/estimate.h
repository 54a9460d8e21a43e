// The whole estimate of one (sweep, scenario, non-teleop source): the curve,
// local etas at N_t*, the power-law fit, global etas per mixed point, and
// bootstrap intervals for every eta. Mirrors mixsweep.v1.Estimate.
//
// A pure function of the set of measurements and the parameters: input order
// never matters (trials are taken by id, runs by key), so recomputing after
// each new trial gives exactly what a recomputation from scratch gives.
//
// Example:
//   absl::StatusOr<Estimate> e = ComputeEstimate(
//       {.sweep_id = 7, .scenario = "unseen_background", .source = "sim"},
//       measurements, EstimateParams{});
//   for (const LocalEta& l : e->local) {
//     if (l.eta.defined()) show(l.eta.value, l.interval);
//     else show(EtaStatusName(l.eta.status));
//   }
//   absl::StatusOr<Recommendation> mix = RecommendFromEstimate(*e, request);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/budget.h"
#include "scheduler/utilization/local_eta.h"
#include "scheduler/utilization/measurements.h"
#include "scheduler/utilization/power_law.h"
#include "scheduler/utilization/scaling.h"

namespace mixsweep::utilization {

struct EstimateParams {
  // N_t* for the local etas; 0: the largest N_tele with both a teleop-only
  // and a mixed result.
  int64_t n_t_star = 0;
  // Bootstrap resamples, 0..1,000,000; 0: no intervals.
  int resamples = 2000;
  double level = 0.95;  // of every interval; strictly between 0 and 1
  // Keep one ScalingModel per resample (for the budget's interval).
  bool keep_model_resamples = false;
};

struct Estimate {
  EstimateKey key = {};
  std::vector<CurvePoint> teleop_curve = {};  // by n_tele
  std::vector<CurvePoint> mixed_curve = {};   // by (n_tele, n_nt)
  int64_t n_t_star = 0;                       // 0: none could be chosen
  std::vector<LocalEta> local = {};           // one per mixed n_nt, ascending
  PowerLawFit fit = {};
  std::vector<GlobalEta> global = {};  // one per mixed point, by (n_tele, n_nt)
  int trial_count = 0;
  int64_t last_trial_id = 0;
  bool from_given_s = false;
  uint64_t rng_seed = 0;  // EstimateSeed(key)
  // Set by the caller: how the runs' checkpoints made their S ("last" or
  // "max_over_checkpoints"), and whether a simulation evaluated them.
  std::string aggregation = "last";
  bool simulated = false;
  // A scaling curve (mixed points with n_tele == 0): the fit on the source
  // alone and the marginal gains; `global` holds each point's exchange rate.
  bool scaling = false;
  PowerLawFit source_fit = {};
  std::vector<MarginalGain> marginal_gains = {};
  // With keep_model_resamples: the bootstrap's ScalingModels, only those
  // where the fit has beta > 0 and every knot of the point estimate's model
  // is defined; the others are counted.
  std::vector<ScalingModel> model_resamples = {};
  int model_resamples_undefined = 0;
};

// INVALID_ARGUMENT for a bad measurement (field named, see BuildCurve) or
// parameter ("params.level", ...).
absl::StatusOr<Estimate> ComputeEstimate(const EstimateKey& key,
                                         const Measurements& measurements,
                                         const EstimateParams& params);

// The knots of the budget's 1/eta(N_nt): per mixed n_nt, the mean of the
// defined 1/eta of the global etas at that n_nt (over its N'_t; a
// kNEqEqualsNTele point counts as 0). An n_nt with none defined is left out.
std::vector<EtaKnot> KnotsFromGlobalEtas(const std::vector<GlobalEta>& global);

// The ScalingModel of an estimate; FAILED_PRECONDITION when its fit is
// undefined or has beta <= 0.
absl::StatusOr<ScalingModel> ScalingModelOf(const Estimate& estimate);

// RecommendMix on the estimate's model and model resamples; a teleop_core
// of 0 becomes the smallest N_tele of the teleop curve.
absl::StatusOr<Recommendation> RecommendFromEstimate(const Estimate& estimate,
                                                     BudgetRequest request);

}  // namespace mixsweep::utilization
