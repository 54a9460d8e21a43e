// From trials to the curve: S per run, then mean and spread over seeds per
// (n_tele, n_nt).
//
// S(run, scenario) is the mean of the run's trial scores (or the S given for
// it). A curve point is the seed mean of S with the population standard
// deviation (ddof = 0) and the seed count. Means are summed in ascending
// order of the values (stats.h), so equal multisets give bit-equal means.
//
// Example:
//   absl::StatusOr<Curve> curve = BuildCurve(measurements);
//   if (!curve.ok()) return curve.status();  // INVALID_ARGUMENT naming the
//   field const CurvePoint* base = FindPoint(*curve, {.n_tele = 200, .n_nt =
//   0});
//   // base->mean_s, base->std_s, base->n_seeds, base->seed_s
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::utilization {

// One run's result in the estimate's scenario.
struct RunResult {
  int64_t seed = 0;
  double s = 0.0;  // mean trial score, or the given S
  // Trial scores in trial-id order; empty if given.
  std::vector<double> scores = {};
  bool given = false;  // S was given directly: no trials to resample
};

// A point of the curve: the seed-mean S of one (n_tele, n_nt).
struct CurvePoint {
  int64_t n_tele = 0;
  int64_t n_nt = 0;  // 0: teleop-only
  double mean_s = 0.0;
  double std_s = 0.0;  // population standard deviation over seeds (ddof = 0)
  int n_seeds = 0;
  std::vector<double> seed_s = {};  // S per seed, in ascending seed order
  int trials = 0;                   // trials behind the point (0 if all given)
  // In ascending seed order; what the bootstrap resamples.
  std::vector<RunResult> runs = {};

  PointKey key() const { return {.n_tele = n_tele, .n_nt = n_nt}; }
};

// The curve of one estimate. Points exist only where some run has a result;
// both lists are sorted by (n_tele, n_nt).
struct Curve {
  std::vector<CurvePoint> teleop = {};  // n_nt == 0
  std::vector<CurvePoint> mixed = {};   // n_nt > 0
  int trial_count = 0;
  int64_t last_trial_id = 0;  // the largest trial id; 0 without trials
  bool from_given_s = false;  // some run's S was given rather than measured
};

// Checks every field (scores and S finite and in [0, 1], n_tele >= 1,
// n_nt >= 0, trial ids unique per run, no run with both trials and a given
// S, no run given twice) and aggregates. Errors are INVALID_ARGUMENT and
// name the offending element, e.g. "trials[3].score".
absl::StatusOr<Curve> BuildCurve(const Measurements& measurements);

// The point with `key`, or nullptr where it has no result.
const CurvePoint* FindPoint(const Curve& curve, PointKey key);

}  // namespace mixsweep::utilization
