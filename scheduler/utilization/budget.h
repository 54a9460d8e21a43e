// The mix to buy for a collection budget (seed 000, section 5.2, appendix
// B.4, Table 3).
//
// Predicted S = alpha (N_tele + N_nt / eta(N_nt))^beta, from the teleop
// power law and the measured global etas. The engine carries 1/eta: a knot
// is (N_nt, 1/eta) and 1/eta(N_nt) is piecewise linear between knots,
// constant below the first and above the last; N_nt beyond the last knot is
// allowed with a warning, beyond twice the last never. The recommendation
// maximises predicted S subject to N_tele C_tele + N_nt C_nt <= B and
// N_tele >= the teleop core, over integers, exactly: for each N_nt in
// [0, bound] the largest affordable N_tele is optimal (S grows with N_tele
// when beta > 0), so the search is one pass over N_nt.
//
// Example (section 5.2: eta = 16, one teleop demo costs 32 sim demos' time,
// a budget of 200 teleop demos):
//   ScalingModel model{.log_alpha = std::log(0.02), .beta = 0.5,
//                      .knots = {{.n_nt = 1000, .inverse_eta = 1.0 / 16}}};
//   absl::StatusOr<Recommendation> r = RecommendMix(
//       model, {}, {.budget_hours = 4, .cost_tele_hours = 0.02,
//                   .cost_nt_hours = 0.02 / 32, .teleop_core = 50});
//   // r->n_nt > 0, r->buy_non_teleop, r->spent_hours <= 4
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/utilization/eta.h"

namespace mixsweep::utilization {

// A measured exchange rate at one N_nt, as 1/eta (0: no effect).
struct EtaKnot {
  int64_t n_nt = 0;          // >= 1
  double inverse_eta = 0.0;  // finite
};

// What predicts S for a mix: the teleop power law and 1/eta(N_nt).
struct ScalingModel {
  double log_alpha = 0.0;
  double beta = 0.0;                // must be > 0 to recommend
  std::vector<EtaKnot> knots = {};  // ascending, distinct n_nt
};

// 1/eta at `n_nt` by the interpolation above; 0 without knots.
double InterpolateInverseEta(const std::vector<EtaKnot>& knots, int64_t n_nt);

// Predicted S of a mix, in [0, 1]: 0 where the effective teleop count
// N_tele + N_nt / eta is <= 0, capped at 1.
double PredictMixS(const ScalingModel& model, int64_t n_tele, int64_t n_nt);

struct BudgetRequest {
  double budget_hours = 0.0;     // B > 0
  double cost_tele_hours = 0.0;  // C_tele > 0, per teleop demo
  double cost_nt_hours = 0.0;    // C_nt >= 0, per non-teleop demo
  int64_t teleop_core = 0;       // N_tele >= this; >= 0
  double level = 0.95;           // of predicted_s_interval
};

struct SInterval {
  double lower = 0.0;
  double upper = 0.0;
};

// As mixsweep.v1.Recommendation.
struct Recommendation {
  int64_t n_tele = 0;
  int64_t n_nt = 0;
  double predicted_s = 0.0;
  // Percentile interval of predicted S at (n_tele, n_nt) over the bootstrap
  // models given; nullopt without them.
  std::optional<SInterval> predicted_s_interval = {};
  double spent_hours = 0.0;
  double budget_hours = 0.0;
  // The rule of thumb at eta_used: C_tele / C_nt > eta > 0.
  bool buy_non_teleop = false;
  // eta at n_nt (at the first knot when n_nt == 0); nullopt where 1/eta is
  // 0 (no effect) or there are no knots.
  std::optional<double> eta_used = {};
  std::vector<std::string> warnings = {};
  std::string explanation = {};
};

// Budgets are compared with a relative slack of 1e-9 so that, e.g., three
// demos at 0.1 h fit a 0.3 h budget despite 3 * 0.1 > 0.3 in doubles.
inline constexpr double kBudgetRelativeSlack = 1e-9;

// The best mix. `resamples`: bootstrap models (estimate.h) for the interval.
// INVALID_ARGUMENT names a bad request field; FAILED_PRECONDITION when
// beta <= 0 (no positive scaling to predict from).
absl::StatusOr<Recommendation> RecommendMix(
    const ScalingModel& model, std::span<const ScalingModel> resamples,
    const BudgetRequest& request);

}  // namespace mixsweep::utilization
