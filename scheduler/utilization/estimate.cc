#include "scheduler/utilization/estimate.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/bootstrap.h"
#include "scheduler/utilization/budget.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/local_eta.h"
#include "scheduler/utilization/power_law.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

constexpr int kMaxResamples = 1'000'000;

// Resampled seed-mean S of every point: series[point][r].
using ResampledCurve = std::map<PointKey, std::vector<double>>;

absl::Status ValidateParams(const EstimateParams& p) {
  if (p.n_t_star < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.n_t_star: ", p.n_t_star, " must be >= 0"));
  }
  if (p.resamples < 0 || p.resamples > kMaxResamples) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.resamples: ", p.resamples, " must be in [0, ",
                     kMaxResamples, "]"));
  }
  if (!(p.level > 0 && p.level < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params.level: ", p.level, " must lie strictly between 0 and 1"));
  }
  return absl::OkStatus();
}

std::vector<FitPoint> FitPoints(const std::vector<CurvePoint>& teleop) {
  std::vector<FitPoint> points;
  for (const CurvePoint& p : teleop) points.push_back({p.n_tele, p.mean_s});
  return points;
}

ResampledCurve ResampleCurve(const Curve& curve, uint64_t seed, int resamples) {
  ResampledCurve series;
  for (const auto* points : {&curve.teleop, &curve.mixed}) {
    for (const CurvePoint& p : *points) {
      series[p.key()] =
          ResamplePointSeries(p, PointSeed(seed, p.key()), resamples);
    }
  }
  return series;
}

void AddLocalIntervals(const ResampledCurve& series,
                       const EstimateParams& params, uint64_t seed,
                       std::vector<LocalEta>& local) {
  for (LocalEta& l : local) {
    if (!l.inverse) continue;  // no data or zero baseline: nothing to bound
    const std::vector<double>& base = series.at({l.n_t_star, 0});
    const std::vector<double>& mixed = series.at({l.n_t_star, l.n_nt});
    std::vector<std::optional<double>> inverses(params.resamples);
    for (int r = 0; r < params.resamples; ++r) {
      inverses[r] = LocalInverseEta(base[r], mixed[r], l.n_t_star, l.n_nt);
    }
    l.interval = IntervalFromResamples(inverses, params.level, seed);
  }
}

// The model of one fit and its global etas; nullopt unless beta > 0.
std::optional<ScalingModel> ModelOf(const PowerLawFit& fit,
                                    const std::vector<GlobalEta>& global) {
  if (!fit.defined || !(fit.beta > 0)) return std::nullopt;
  return ScalingModel{.log_alpha = fit.log_alpha,
                      .beta = fit.beta,
                      .knots = KnotsFromGlobalEtas(global)};
}

bool SameKnotPositions(const std::vector<EtaKnot>& a,
                       const std::vector<EtaKnot>& b) {
  return std::equal(
      a.begin(), a.end(), b.begin(), b.end(),
      [](const EtaKnot& x, const EtaKnot& y) { return x.n_nt == y.n_nt; });
}

// Per resample: refit the power law, recompute every global eta; collect
// 1/eta per global eta and, if asked, the resample's ScalingModel.
void AddGlobalIntervals(const Curve& curve, const ResampledCurve& series,
                        const EstimateParams& params, uint64_t seed,
                        Estimate& estimate) {
  const std::optional<ScalingModel> point_model =
      ModelOf(estimate.fit, estimate.global);
  const bool keep_models = params.keep_model_resamples && point_model;
  const bool any_interval =
      std::any_of(estimate.global.begin(), estimate.global.end(),
                  [](const GlobalEta& g) { return g.inverse.has_value(); });
  if (!any_interval && !keep_models) return;

  std::vector<std::vector<std::optional<double>>> inverses(
      estimate.global.size(),
      std::vector<std::optional<double>>(params.resamples));
  std::vector<FitPoint> fit_points = FitPoints(curve.teleop);
  std::vector<GlobalEta> resampled(estimate.global.size());
  for (int r = 0; r < params.resamples; ++r) {
    for (std::size_t i = 0; i < fit_points.size(); ++i) {
      fit_points[i].s = series.at(curve.teleop[i].key())[r];
    }
    const PowerLawFit fit = FitPowerLaw(fit_points);
    for (std::size_t g = 0; g < estimate.global.size(); ++g) {
      const GlobalEta& original = estimate.global[g];
      const double s_mix = series.at({original.n_tele, original.n_nt})[r];
      resampled[g] =
          ComputeGlobalEta(fit, original.n_tele, original.n_nt, s_mix);
      inverses[g][r] = resampled[g].inverse;
    }
    if (!keep_models) continue;
    std::optional<ScalingModel> model = ModelOf(fit, resampled);
    if (model && SameKnotPositions(model->knots, point_model->knots)) {
      estimate.model_resamples.push_back(std::move(*model));
    } else {
      ++estimate.model_resamples_undefined;
    }
  }
  for (std::size_t g = 0; g < estimate.global.size(); ++g) {
    // An eta undefined at the point estimate gets no interval, even where
    // some resamples would define it (e.g. beta > 0 in a few of them).
    if (!estimate.global[g].inverse) continue;
    estimate.global[g].interval =
        IntervalFromResamples(inverses[g], params.level, seed);
  }
}

}  // namespace

std::vector<EtaKnot> KnotsFromGlobalEtas(const std::vector<GlobalEta>& global) {
  std::map<int64_t, std::vector<double>> by_n_nt;
  for (const GlobalEta& g : global) {
    if (g.inverse) by_n_nt[g.n_nt].push_back(*g.inverse);
  }
  std::vector<EtaKnot> knots;
  for (const auto& [n_nt, inverses] : by_n_nt) {
    knots.push_back({.n_nt = n_nt, .inverse_eta = MeanAscending(inverses)});
  }
  return knots;
}

absl::StatusOr<Estimate> ComputeEstimate(const EstimateKey& key,
                                         const Measurements& measurements,
                                         const EstimateParams& params) {
  if (absl::Status s = ValidateParams(params); !s.ok()) return s;
  absl::StatusOr<Curve> curve = BuildCurve(measurements);
  if (!curve.ok()) return curve.status();

  // Assigned field by field: GCC 12 misreads a designated initializer of
  // this size inside a StatusOr as maybe-uninitialized.
  Estimate estimate;
  estimate.key = key;
  estimate.teleop_curve = curve->teleop;
  estimate.mixed_curve = curve->mixed;
  estimate.trial_count = curve->trial_count;
  estimate.last_trial_id = curve->last_trial_id;
  estimate.from_given_s = curve->from_given_s;
  estimate.rng_seed = EstimateSeed(key);
  estimate.n_t_star = ChooseOperatingPoint(*curve, params.n_t_star);
  estimate.local = ComputeLocalEtas(*curve, estimate.n_t_star);
  estimate.fit = FitPowerLaw(FitPoints(curve->teleop));
  for (const CurvePoint& p : curve->mixed) {
    estimate.global.push_back(
        ComputeGlobalEta(estimate.fit, p.n_tele, p.n_nt, p.mean_s));
  }
  estimate.scaling = std::any_of(curve->mixed.begin(), curve->mixed.end(), IsScalingPoint);
  if (estimate.scaling) {
    ScalingCurve scaling = FitScalingCurve(curve->mixed);
    estimate.source_fit = std::move(scaling.fit);
    estimate.marginal_gains = std::move(scaling.gains);
  }
  if (params.resamples == 0) return estimate;

  const ResampledCurve series =
      ResampleCurve(*curve, estimate.rng_seed, params.resamples);
  AddLocalIntervals(series, params, estimate.rng_seed, estimate.local);
  AddGlobalIntervals(*curve, series, params, estimate.rng_seed, estimate);
  return estimate;
}

absl::StatusOr<ScalingModel> ScalingModelOf(const Estimate& estimate) {
  std::optional<ScalingModel> model = ModelOf(estimate.fit, estimate.global);
  if (!model) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the teleop power law ",
        estimate.fit.defined
            ? absl::StrCat("has beta = ", estimate.fit.beta,
                           " <= 0 (no positive scaling)")
            : std::string("is undefined (fewer than 2 points with S > 0)")));
  }
  return *model;
}

absl::StatusOr<Recommendation> RecommendFromEstimate(const Estimate& estimate,
                                                     BudgetRequest request) {
  absl::StatusOr<ScalingModel> model = ScalingModelOf(estimate);
  if (!model.ok()) return model.status();
  if (request.teleop_core == 0 && !estimate.teleop_curve.empty()) {
    request.teleop_core = estimate.teleop_curve.front().n_tele;
  }
  return RecommendMix(*model, estimate.model_resamples, request);
}

}  // namespace mixsweep::utilization
