// The global utilization ratio (seed 000, section 3.4, equation 2).
//
// Fit S_teleop(N) = alpha N^beta by ordinary least squares of log S on log N
// over the teleop-only seed-mean points with S > 0 (points with S == 0 have
// no log: left out and counted). Then, for a mixed point (N'_t, N'_nt, S_mix):
//   N_eq = (S_mix / alpha)^(1/beta),  eta = N'_nt / (N_eq - N'_t),
//   1/eta = (N_eq - N'_t) / N'_nt.
// On an exact power law in the effective data N_t + N_nt / eta this recovers
// eta exactly.
//
// Example:
//   PowerLawFit fit = FitPowerLaw({{50, 0.2}, {100, 0.3}, {200, 0.45}});
//   GlobalEta g = ComputeGlobalEta(fit, /*n_tele=*/100, /*n_nt=*/1000, 0.35);
//   if (g.eta.defined()) use(g.eta.value, g.n_eq);
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "scheduler/utilization/eta.h"

namespace mixsweep::utilization {

// A teleop-only curve point for the fit.
struct FitPoint {
  int64_t n = 0;   // N_tele >= 1
  double s = 0.0;  // seed-mean S in [0, 1]
};

// The power-law fit, as mixsweep.v1.PowerLawFit.
struct PowerLawFit {
  // The OLS could be computed (>= 2 distinct N with S > 0). A fit with
  // beta <= 0 is still defined (the dashboard draws it); the global etas
  // from it are kNoPositiveScaling.
  bool defined = false;
  EtaStatus undefined_reason = EtaStatus::kTooFewPoints;  // when !defined
  double alpha = 0.0;
  double log_alpha = 0.0;  // the intercept itself; alpha = exp(log_alpha)
  double beta = 0.0;
  // In log space: 1 - SS_res / SS_tot. When every log S is equal (SS_tot
  // == 0) the fit is flat and exact: beta = 0 and R^2 = 1.
  double r_squared = 0.0;
  std::vector<int64_t> n_used = {};  // the N fitted, ascending
  int points_excluded_zero = 0;      // points with S == 0
};

// Fits `points` (any order; the sums run in ascending N).
PowerLawFit FitPowerLaw(std::span<const FitPoint> points);

// A global eta at a mixed point, as mixsweep.v1.GlobalEta.
struct GlobalEta {
  int64_t n_tele = 0;
  int64_t n_nt = 0;
  double s_mix = 0.0;
  double n_eq = 0.0;  // 0 where not computed
  Eta eta = {};
  std::optional<double> inverse = {};  // 1/eta where defined (0: N_eq == N'_t)
  std::optional<EtaInterval> interval = {};  // set by the estimate's bootstrap
};

// Equation 2 at (n_tele, n_nt >= 1, s_mix). Undefined cases, in order:
// kTooFewPoints (no fit), kNoPositiveScaling (beta <= 0), kSMixZero,
// kNEqOutOfRange (N_eq not a finite double), kNEqEqualsNTele (exactly).
GlobalEta ComputeGlobalEta(const PowerLawFit& fit, int64_t n_tele, int64_t n_nt,
                           double s_mix);

// The predicted S = alpha * n^beta of the fit, for n >= 0 (0 at n == 0).
double PredictS(double log_alpha, double beta, double n);

}  // namespace mixsweep::utilization
