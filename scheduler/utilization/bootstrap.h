// The bootstrap: resampled curve points and percentile intervals of 1/eta.
//
// A resample of a curve point draws its seeds with replacement, then, for
// each drawn seed, that run's trials with replacement (a run whose S was
// given has no trials: its S is used as is), and takes the seed mean of the
// trial means. Each point has its own random stream, seeded from the
// estimate's key and the point's (n_tele, n_nt), so a point's resamples
// depend only on its own results: adding a point, or a trial to another
// point, leaves them unchanged. Resample r of an estimate is the r-th
// resample of every point, so the fit and every eta of resample r see one
// coherent bootstrap world.
//
// Example:
//   uint64_t seed = EstimateSeed(key);
//   std::vector<double> s_star =
//       ResamplePointSeries(point, PointSeed(seed, point.key()), 2000);
//   std::optional<EtaInterval> in = IntervalFromResamples(inverses, 0.95,
//   seed);
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/measurements.h"
#include "scheduler/utilization/rng.h"

namespace mixsweep::utilization {

// Fnv1a64 of "mixsweep-utilization-v1" followed by the sweep id in decimal,
// the scenario and the source, each field as "|<byte length>:<bytes>" so
// that no two keys collide by concatenation. Reported as rng_seed.
uint64_t EstimateSeed(const EstimateKey& key);

// Fnv1a64 of "<estimate_seed>|<n_tele>|<n_nt>" (decimal): the seed of a
// point's own SplitMix64 stream.
uint64_t PointSeed(uint64_t estimate_seed, PointKey point);

// One resample of a point's seed-mean S (the point must have a run).
// Draws, in order: n_seeds seed indices, then, per drawn measured run in
// draw order, as many trial indices as it has trials.
double ResamplePoint(const CurvePoint& point, SplitMix64& rng);

// `resamples` successive resamples of a point from the stream `seed`.
std::vector<double> ResamplePointSeries(const CurvePoint& point, uint64_t seed,
                                        int resamples);

// The percentile interval (type 7) at `level` of the defined values of
// `inverse_resamples` (1/eta per resample; nullopt where undefined, left
// out and counted), mapped to eta. nullopt when no resample is defined.
std::optional<EtaInterval> IntervalFromResamples(
    std::span<const std::optional<double>> inverse_resamples, double level,
    uint64_t rng_seed);

// The central percentile interval at `level` of `values` (any order,
// non-empty), type 7: {q((1 - level) / 2), q((1 + level) / 2)}.
InverseInterval PercentileInterval(std::vector<double> values, double level);

}  // namespace mixsweep::utilization
