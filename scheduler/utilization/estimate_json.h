// The stored form of an Estimate: a JSON document (the utilization_estimates
// table keeps every version) that reads back to exactly the same values.
//
// Doubles are written in their shortest round-trip form; non-finite values
// (which the engine avoids, but a codec must not lose) as the strings
// "inf", "-inf" and "nan", and -0.0 as "-0" (jsonb's numeric has no negative
// zero). uint64 seeds are decimal strings (readers lose integers above
// 2^53). Enums are written by name (EtaStatusName, "kBounded"...), so a
// document stays readable in psql. An optional member is absent when
// nullopt. The document carries "format_version": 1. The bootstrap's model
// resamples are not stored: the budget recommendation recomputes them.
//
// Reading accepts what jsonb prints back: numbers in plain decimal
// (0.00001), integers where doubles are due, integral numbers (200.0, 2e2)
// where integers are due (exact up to 2^53), null for an absent optional
// member; unknown members are ignored.
//
// Example:
//   std::string doc = EstimateToJson(estimate);
//   absl::StatusOr<Estimate> back = EstimateFromJson(doc);  // == estimate
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/utilization/estimate.h"

namespace mixsweep::utilization {

std::string EstimateToJson(const Estimate& estimate);

// INVALID_ARGUMENT naming the path of a missing or mistyped member
// ("local[1].interval.inverse.lower").
absl::StatusOr<Estimate> EstimateFromJson(std::string_view json);

}  // namespace mixsweep::utilization
