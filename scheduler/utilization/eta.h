// An exchange rate eta, the named reasons it can be undefined, and its
// confidence interval (mapped from the interval of 1/eta).
//
// eta is how many non-teleop demos are worth one teleop demo (negative: |eta|
// of them undo one teleop demo). It is infinite where the non-teleop data
// have no measurable effect, so the engine carries 1/eta ("inverse"), which
// is continuous through 0, and reports eta with a status instead of ever
// returning an infinity or NaN.
//
// Example:
//   EtaInterval in = MapInverseInterval({.lower = -0.02, .upper = 0.1});
//   // in.shape == EtaIntervalShape::kSplit: eta <= -50 or eta >= 10
//   EtaIntervalContains(in, 16.0);  // true
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mixsweep::utilization {

// Mirrors mixsweep.v1.Eta.Status (utilization.proto), plus one value the
// proto lacks (kNEqOutOfRange).
enum class EtaStatus {
  // `value` holds eta (possibly negative: the non-teleop data hurt).
  kDefined,
  // Local: S_mix == S_t exactly; gamma_nt = 0, eta infinite, 1/eta = 0.
  kNoMeasurableEffect,
  // Global: S_mix == 0, so N_eq = (S_mix / alpha)^(1/beta) has no log.
  kSMixZero,
  // Global: N_eq == N'_t exactly; eta infinite, 1/eta = 0.
  kNEqEqualsNTele,
  // Global: the fitted beta <= 0, no positive scaling to invert.
  kNoPositiveScaling,
  // Global: fewer than 2 teleop-only points with S > 0 to fit.
  kTooFewPoints,
  // Local: S_t == 0 at the operating point, so gamma_t = 0 and the formula's
  // eta = 0 says nothing about the exchange rate.
  kZeroBaseline,
  // A point the eta needs has no result yet.
  kNoData,
  // Global: N_eq exceeds the range of a double (beta tiny and positive, S_mix
  // far above the fitted curve). Not in the proto yet; the API maps it to
  // STATUS_NO_POSITIVE_SCALING (docs/utilization.md).
  kNEqOutOfRange,
};

// The status's name as in the proto ("STATUS_DEFINED", ...), for messages.
std::string_view EtaStatusName(EtaStatus status);

// An eta with its status. `value` is 0 unless status == kDefined.
struct Eta {
  EtaStatus status = EtaStatus::kNoData;
  double value = 0.0;

  bool defined() const { return status == EtaStatus::kDefined; }
};

// The eta for a 1/eta value: 1/inverse, or `infinite_status` where 1/eta
// is 0 (or so small that its reciprocal is not a finite double).
Eta EtaFromInverse(double inverse, EtaStatus infinite_status);

// A closed interval of 1/eta.
struct InverseInterval {
  double lower = 0.0;
  double upper = 0.0;
};

// What the interval of 1/eta, [a, b], says about eta.
enum class EtaIntervalShape {
  // 0 < a or b < 0: the sign of eta is established and
  // eta_lower <= eta <= eta_upper (= [1/b, 1/a]).
  kBounded,
  // a < 0 < b: eta <= split_at_or_below (1/a) or eta >= split_at_or_above
  // (1/b); |eta| is unbounded, the sign is not established.
  kSplit,
  // a == 0 < b: eta >= split_at_or_above (1/b), or no effect (eta infinite).
  kAtOrAbove,
  // a < 0 == b: eta <= split_at_or_below (1/a), or no effect.
  kAtOrBelow,
  // a == b == 0: every resample showed no effect; no finite eta is inside.
  kInfiniteOnly,
};

// A bootstrap percentile interval of 1/eta and what it means for eta. Only
// the fields its shape names are set; the others are 0.
struct EtaInterval {
  double level = 0.0;            // e.g. 0.95
  int resamples = 0;             // drawn, defined or not (e.g. 2000)
  int resamples_undefined = 0;   // where 1/eta was undefined: left out
  uint64_t rng_seed = 0;         // the estimate's base seed (bootstrap.h)
  InverseInterval inverse = {};  // percentile interval of 1/eta
  EtaIntervalShape shape = EtaIntervalShape::kBounded;
  bool sign_established = false;  // shape == kBounded
  double eta_lower = 0.0;
  double eta_upper = 0.0;
  double split_at_or_below = 0.0;
  double split_at_or_above = 0.0;
};

// Maps an interval of 1/eta to eta's set (fills inverse, shape,
// sign_established and the bounds; the caller fills level and counts).
// A bound whose reciprocal is not a finite double counts as 0.
EtaInterval MapInverseInterval(InverseInterval inverse);

// Whether the finite `eta` lies in the interval's set.
bool EtaIntervalContains(const EtaInterval& interval, double eta);

}  // namespace mixsweep::utilization
