#include "scheduler/utilization/local_eta.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/eta.h"

namespace mixsweep::utilization {

LocalEta ComputeLocalEta(double s_t, double s_mix, int64_t n_t_star,
                         int64_t n_nt) {
  LocalEta out{.n_t_star = n_t_star, .n_nt = n_nt, .s_t = s_t, .s_mix = s_mix};
  out.gamma_t = s_t / static_cast<double>(n_t_star);
  out.gamma_nt = (s_mix - s_t) / static_cast<double>(n_nt);
  if (s_t == 0.0) {
    out.eta = {.status = EtaStatus::kZeroBaseline};
    return out;
  }
  out.inverse = LocalInverseEta(s_t, s_mix, n_t_star, n_nt);
  if (s_mix == s_t) {
    out.eta = {.status = EtaStatus::kNoMeasurableEffect};
    return out;
  }
  // gamma_t / gamma_nt directly (not 1 / inverse) so the value is the
  // paper's formula to the last bit; both gammas are non-zero here.
  out.eta = {.status = EtaStatus::kDefined,
             .value = out.gamma_t / out.gamma_nt};
  return out;
}

std::optional<double> LocalInverseEta(double s_t, double s_mix,
                                      int64_t n_t_star, int64_t n_nt) {
  if (s_t == 0.0) return std::nullopt;
  const double gamma_t = s_t / static_cast<double>(n_t_star);
  const double gamma_nt = (s_mix - s_t) / static_cast<double>(n_nt);
  return gamma_nt / gamma_t;
}

int64_t ChooseOperatingPoint(const Curve& curve, int64_t requested) {
  if (requested > 0) return requested;
  int64_t best = 0;
  for (const CurvePoint& mixed : curve.mixed) {
    if (mixed.n_tele > best &&
        FindPoint(curve, {.n_tele = mixed.n_tele, .n_nt = 0}) != nullptr) {
      best = mixed.n_tele;
    }
  }
  return best;
}

std::vector<int64_t> MixedNntValues(const Curve& curve) {
  std::vector<int64_t> values;
  for (const CurvePoint& p : curve.mixed) values.push_back(p.n_nt);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::vector<LocalEta> ComputeLocalEtas(const Curve& curve, int64_t n_t_star) {
  std::vector<LocalEta> etas;
  const CurvePoint* base =
      n_t_star > 0 ? FindPoint(curve, {.n_tele = n_t_star, .n_nt = 0})
                   : nullptr;
  for (int64_t n_nt : MixedNntValues(curve)) {
    const CurvePoint* mixed =
        n_t_star > 0 ? FindPoint(curve, {.n_tele = n_t_star, .n_nt = n_nt})
                     : nullptr;
    if (base == nullptr || mixed == nullptr) {
      LocalEta missing{.n_t_star = n_t_star, .n_nt = n_nt};
      if (base != nullptr) missing.s_t = base->mean_s;
      if (mixed != nullptr) missing.s_mix = mixed->mean_s;
      missing.eta = {.status = EtaStatus::kNoData};
      etas.push_back(missing);
      continue;
    }
    etas.push_back(
        ComputeLocalEta(base->mean_s, mixed->mean_s, n_t_star, n_nt));
  }
  return etas;
}

}  // namespace mixsweep::utilization
