#include "scheduler/utilization/scaling.h"

#include <algorithm>

namespace mixsweep::utilization {

ScalingCurve FitScalingCurve(const std::vector<CurvePoint>& points) {
  std::vector<const CurvePoint*> source;
  for (const CurvePoint& p : points) {
    if (IsScalingPoint(p)) source.push_back(&p);
  }
  std::sort(source.begin(), source.end(),
            [](const CurvePoint* a, const CurvePoint* b) { return a->n_nt < b->n_nt; });
  ScalingCurve curve;
  std::vector<FitPoint> fit_points;
  for (const CurvePoint* p : source) fit_points.push_back({.n = p->n_nt, .s = p->mean_s});
  curve.fit = FitPowerLaw(fit_points);
  for (size_t i = 1; i < source.size(); ++i) {
    const CurvePoint& from = *source[i - 1];
    const CurvePoint& to = *source[i];
    curve.gains.push_back({.n_from = from.n_nt,
                           .n_to = to.n_nt,
                           .s_from = from.mean_s,
                           .s_to = to.mean_s,
                           .gain_per_demo = (to.mean_s - from.mean_s) /
                                            static_cast<double>(to.n_nt - from.n_nt)});
  }
  return curve;
}

}  // namespace mixsweep::utilization
