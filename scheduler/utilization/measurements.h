// What the utilization engine is computed from: the measured results of one
// estimate's runs, as plain values.
//
// One estimate is one (sweep, scenario, non-teleop source). Its input holds
// the teleop-only runs (n_nt == 0, shared by every source) and that source's
// mixed runs (n_nt > 0), each identified by (n_tele, n_nt, seed). A run's
// result is either its trials (each a rubric score in [0, 1]) or, for paper
// tables and imported results, an S value given directly. The caller filters
// by scenario and source and applies the checkpoint aggregation; the engine
// never sees other scenarios or sources.
//
// Example:
//   Measurements m;
//   m.trials.push_back({.run = {.n_tele = 200, .n_nt = 0, .seed = 0},
//                       .trial_id = 17, .score = 0.5});
//   m.given.push_back({.run = {.n_tele = 200, .n_nt = 1000, .seed = 0},
//                      .s = 0.30});
//
// The input is a set: the order of `trials` and `given` never changes a
// result (trials are taken by trial id, runs by key).
//
// Throughout the engine, class-type members of plain structs are written
// `= {}` so that designated initializers that leave them out stay clean
// under GCC 12's -Wmissing-field-initializers (-Wextra).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace mixsweep::utilization {

// A run within one estimate: a point of the curve plus its seed.
struct RunKey {
  int64_t n_tele = 0;  // teleop demos: >= 1, or 0 in a scaling run (n_nt >= 1)
  int64_t n_nt =
      0;  // non-teleop demos of the estimate's source; 0: teleop-only
  int64_t seed = 0;

  friend auto operator<=>(const RunKey&, const RunKey&) = default;
};

// A point of the curve: (n_tele, n_nt), all seeds together.
struct PointKey {
  int64_t n_tele = 0;
  int64_t n_nt = 0;

  friend auto operator<=>(const PointKey&, const PointKey&) = default;
};

// One evaluation trial of a run in the estimate's scenario.
struct Trial {
  RunKey run = {};
  int64_t trial_id = 0;  // unique within a run; fixes the order of trials
  double score = 0.0;    // the rubric's score, in [0, 1]
};

// A run's S given directly (paper tables): no trials behind it, so the
// bootstrap can resample its seed but not its trials.
struct GivenScore {
  RunKey run = {};
  double s = 0.0;  // in [0, 1]
};

// Everything one estimate is computed from. A run has trials or a given S,
// never both.
struct Measurements {
  std::vector<Trial> trials = {};
  std::vector<GivenScore> given = {};
};

// Which estimate: its identity seeds the bootstrap, so that the same data
// give the same interval on every replica and every recomputation.
struct EstimateKey {
  int64_t sweep_id = 0;
  std::string scenario = {};
  std::string source = {};
};

}  // namespace mixsweep::utilization
