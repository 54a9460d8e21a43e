#include "scheduler/utilization/eta.h"

#include <cmath>
#include <string_view>

namespace mixsweep::utilization {
namespace {

// 1/x where that is a finite double; nullopt for 0 and for |x| so small
// that 1/x overflows.
std::optional<double> FiniteReciprocal(double x) {
  if (x == 0.0) return std::nullopt;
  const double r = 1.0 / x;
  if (!std::isfinite(r)) return std::nullopt;
  return r;
}

}  // namespace

std::string_view EtaStatusName(EtaStatus status) {
  switch (status) {
    case EtaStatus::kDefined:
      return "STATUS_DEFINED";
    case EtaStatus::kNoMeasurableEffect:
      return "STATUS_NO_MEASURABLE_EFFECT";
    case EtaStatus::kSMixZero:
      return "STATUS_S_MIX_ZERO";
    case EtaStatus::kNEqEqualsNTele:
      return "STATUS_N_EQ_EQUALS_N_TELE";
    case EtaStatus::kNoPositiveScaling:
      return "STATUS_NO_POSITIVE_SCALING";
    case EtaStatus::kTooFewPoints:
      return "STATUS_TOO_FEW_POINTS";
    case EtaStatus::kZeroBaseline:
      return "STATUS_ZERO_BASELINE";
    case EtaStatus::kNoData:
      return "STATUS_NO_DATA";
    case EtaStatus::kNEqOutOfRange:
      return "STATUS_N_EQ_OUT_OF_RANGE";
  }
  return "STATUS_UNSPECIFIED";
}

Eta EtaFromInverse(double inverse, EtaStatus infinite_status) {
  std::optional<double> eta = FiniteReciprocal(inverse);
  if (!eta) return {.status = infinite_status};
  return {.status = EtaStatus::kDefined, .value = *eta};
}

EtaInterval MapInverseInterval(InverseInterval inverse) {
  EtaInterval out;
  out.inverse = inverse;
  const std::optional<double> lower_reciprocal =
      FiniteReciprocal(inverse.lower);
  const std::optional<double> upper_reciprocal =
      FiniteReciprocal(inverse.upper);
  // A bound too close to 0 to invert is treated as 0: |eta| unbounded there.
  const bool a_zero = !lower_reciprocal;
  const bool b_zero = !upper_reciprocal;
  const bool a_negative = !a_zero && inverse.lower < 0.0;
  const bool b_positive = !b_zero && inverse.upper > 0.0;
  if (!a_zero && !b_zero && (inverse.lower > 0.0 || inverse.upper < 0.0)) {
    out.shape = EtaIntervalShape::kBounded;
    out.sign_established = true;
    out.eta_lower = *upper_reciprocal;  // 1/b
    out.eta_upper = *lower_reciprocal;  // 1/a
  } else if (a_negative && b_positive) {
    out.shape = EtaIntervalShape::kSplit;
    out.split_at_or_below = *lower_reciprocal;
    out.split_at_or_above = *upper_reciprocal;
  } else if (b_positive) {
    out.shape = EtaIntervalShape::kAtOrAbove;
    out.split_at_or_above = *upper_reciprocal;
  } else if (a_negative) {
    out.shape = EtaIntervalShape::kAtOrBelow;
    out.split_at_or_below = *lower_reciprocal;
  } else {
    out.shape = EtaIntervalShape::kInfiniteOnly;
  }
  return out;
}

bool EtaIntervalContains(const EtaInterval& interval, double eta) {
  switch (interval.shape) {
    case EtaIntervalShape::kBounded:
      return interval.eta_lower <= eta && eta <= interval.eta_upper;
    case EtaIntervalShape::kSplit:
      return eta <= interval.split_at_or_below ||
             eta >= interval.split_at_or_above;
    case EtaIntervalShape::kAtOrAbove:
      return eta >= interval.split_at_or_above;
    case EtaIntervalShape::kAtOrBelow:
      return eta <= interval.split_at_or_below;
    case EtaIntervalShape::kInfiniteOnly:
      return false;
  }
  return false;
}

}  // namespace mixsweep::utilization
