// The local utilization ratio (seed 000, section 3.4, Tables 1 and 2).
//
// At an operating point N_t*, with S_t = S(N_t*, 0) and S_mix = S(N_t*, N_nt):
//   gamma_t  = S_t / N_t*              (teleop's average contribution)
//   gamma_nt = (S_mix - S_t) / N_nt    (the non-teleop data's)
//   eta      = gamma_t / gamma_nt,     1/eta = gamma_nt / gamma_t.
// Undefined cases, checked in this order: a missing point (kNoData), S_t == 0
// (kZeroBaseline: the formula's eta would be 0 whatever S_mix is), S_mix ==
// S_t exactly (kNoMeasurableEffect: eta infinite, 1/eta = 0).
//
// Example (Table 1, Rank RGB Blocks in-domain):
//   LocalEta e = ComputeLocalEta(/*s_t=*/0.45, /*s_mix=*/0.50,
//                                /*n_t_star=*/500, /*n_nt=*/1000);
//   // e.eta.value == 18 (up to rounding), e.inverse == 1/18
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/eta.h"

namespace mixsweep::utilization {

// A local eta at (N_t*, n_nt), as mixsweep.v1.LocalEta.
struct LocalEta {
  int64_t n_t_star = 0;
  int64_t n_nt = 0;
  double s_t = 0.0;    // seed-mean S of (N_t*, 0)
  double s_mix = 0.0;  // seed-mean S of (N_t*, n_nt)
  double gamma_t = 0.0;
  double gamma_nt = 0.0;
  Eta eta = {};
  std::optional<double> inverse = {};  // 1/eta where defined (0: no effect)
  std::optional<EtaInterval> interval = {};  // set by the estimate's bootstrap
};

// The formula on two S values; n_t_star >= 1 and n_nt >= 1.
LocalEta ComputeLocalEta(double s_t, double s_mix, int64_t n_t_star,
                         int64_t n_nt);

// 1/eta = gamma_nt / gamma_t, or nullopt where S_t == 0 (the bootstrap's
// definition of an undefined resample).
std::optional<double> LocalInverseEta(double s_t, double s_mix,
                                      int64_t n_t_star, int64_t n_nt);

// N_t*: `requested` when > 0, else the largest n_tele that has both a
// teleop-only point and a mixed point; 0 when there is none.
int64_t ChooseOperatingPoint(const Curve& curve, int64_t requested);

// The distinct n_nt of the mixed points, ascending.
std::vector<int64_t> MixedNntValues(const Curve& curve);

// One local eta per mixed n_nt at `n_t_star` (kNoData where a point is
// missing, or for all when n_t_star == 0), without intervals.
std::vector<LocalEta> ComputeLocalEtas(const Curve& curve, int64_t n_t_star);

}  // namespace mixsweep::utilization
