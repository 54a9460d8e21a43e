// A scaling curve (seed 001, Fig. 5): S against the number of demos of one
// source alone, with no teleop demos (curve points with n_tele == 0).
//
// Fits S = alpha N^beta on the source's seed-mean points exactly as the
// teleop fit does (FitPowerLaw: OLS in log space, S == 0 left out), and
// reports the marginal gain per demo between consecutive N, which shows
// diminishing returns directly:
//   gain(N_i -> N_i+1) = (S(N_i+1) - S(N_i)) / (N_i+1 - N_i).
// The exchange rate of each point against a teleop curve is the global eta
// at N'_t = 0 (power_law.h): eta = N / N_eq, teleop demos N_eq worth N
// source demos; ComputeEstimate computes it like any global eta.
//
// Example:
//   ScalingCurve c = FitScalingCurve(estimate.mixed_curve);
//   // c.fit.alpha, c.fit.beta; c.gains[0].gain_per_demo
#pragma once

#include <cstdint>
#include <vector>

#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/power_law.h"

namespace mixsweep::utilization {

// Between two consecutive N of the scaling curve.
struct MarginalGain {
  int64_t n_from = 0;
  int64_t n_to = 0;
  double s_from = 0.0;
  double s_to = 0.0;
  double gain_per_demo = 0.0;  // may be negative (noise, or over-training)
};

struct ScalingCurve {
  PowerLawFit fit = {};
  std::vector<MarginalGain> gains = {};  // by ascending n_from
};

// True when `point` belongs to a scaling curve (no teleop demos).
inline bool IsScalingPoint(const CurvePoint& point) { return point.n_tele == 0 && point.n_nt > 0; }

// From the points with IsScalingPoint (others are ignored), in any order.
ScalingCurve FitScalingCurve(const std::vector<CurvePoint>& points);

}  // namespace mixsweep::utilization
