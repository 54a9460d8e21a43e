#include "scheduler/utilization/power_law.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "scheduler/utilization/eta.h"

namespace mixsweep::utilization {
namespace {

double Mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

}  // namespace

PowerLawFit FitPowerLaw(std::span<const FitPoint> points) {
  PowerLawFit fit;
  std::vector<FitPoint> used;
  for (const FitPoint& p : points) {
    if (p.s > 0.0) {
      used.push_back(p);
    } else {
      ++fit.points_excluded_zero;
    }
  }
  std::sort(used.begin(), used.end(), [](const FitPoint& a, const FitPoint& b) {
    return a.n != b.n ? a.n < b.n : a.s < b.s;
  });
  for (const FitPoint& p : used) fit.n_used.push_back(p.n);
  const bool two_distinct_n = !used.empty() && used.front().n != used.back().n;
  if (!two_distinct_n) return fit;  // kTooFewPoints

  std::vector<double> x, y;
  for (const FitPoint& p : used) {
    x.push_back(std::log(static_cast<double>(p.n)));
    y.push_back(std::log(p.s));
  }
  const double x_mean = Mean(x);
  const double y_mean = Mean(y);
  const bool flat =
      std::all_of(y.begin(), y.end(), [&](double v) { return v == y.front(); });
  double sxx = 0.0, sxy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - x_mean) * (x[i] - x_mean);
    sxy += (x[i] - x_mean) * (y[i] - y_mean);
  }
  fit.defined = true;
  fit.undefined_reason = EtaStatus::kDefined;
  // A flat curve is exactly flat: rounding in y_mean must not make beta a
  // tiny non-zero number of either sign.
  fit.beta = flat ? 0.0 : sxy / sxx;
  fit.log_alpha = flat ? y.front() : y_mean - fit.beta * x_mean;
  fit.alpha = std::exp(fit.log_alpha);

  double ss_res = 0.0, ss_tot = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double residual = y[i] - (fit.log_alpha + fit.beta * x[i]);
    ss_res += residual * residual;
    ss_tot += (y[i] - y_mean) * (y[i] - y_mean);
  }
  fit.r_squared = (flat || ss_tot == 0.0) ? 1.0 : 1.0 - ss_res / ss_tot;
  return fit;
}

GlobalEta ComputeGlobalEta(const PowerLawFit& fit, int64_t n_tele, int64_t n_nt,
                           double s_mix) {
  GlobalEta out{.n_tele = n_tele, .n_nt = n_nt, .s_mix = s_mix};
  if (!fit.defined) {
    out.eta = {.status = EtaStatus::kTooFewPoints};
    return out;
  }
  if (!(fit.beta > 0.0)) {
    out.eta = {.status = EtaStatus::kNoPositiveScaling};
    return out;
  }
  if (s_mix == 0.0) {
    out.eta = {.status = EtaStatus::kSMixZero};
    return out;
  }
  // (S_mix / alpha)^(1/beta) in logs, from the fitted intercept itself.
  const double n_eq = std::exp((std::log(s_mix) - fit.log_alpha) / fit.beta);
  if (!std::isfinite(n_eq)) {
    out.eta = {.status = EtaStatus::kNEqOutOfRange};
    return out;
  }
  out.n_eq = n_eq;
  const double n_t = static_cast<double>(n_tele);
  const double n_non_teleop = static_cast<double>(n_nt);
  out.inverse = (n_eq - n_t) / n_non_teleop;
  if (n_eq == n_t) {
    out.eta = {.status = EtaStatus::kNEqEqualsNTele};
    return out;
  }
  const double eta = n_non_teleop / (n_eq - n_t);
  out.eta = std::isfinite(eta)
                ? Eta{.status = EtaStatus::kDefined, .value = eta}
                : Eta{.status = EtaStatus::kNEqEqualsNTele};
  return out;
}

double PredictS(double log_alpha, double beta, double n) {
  if (!(n > 0.0)) return 0.0;
  return std::exp(log_alpha + beta * std::log(n));
}

}  // namespace mixsweep::utilization
