#include "scheduler/utilization/bootstrap.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/rng.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

std::string Field(const std::string& bytes) {
  return absl::StrCat("|", bytes.size(), ":", bytes);
}

double ResampleRun(const RunResult& run, SplitMix64& rng) {
  if (run.scores.empty()) return run.s;  // given S: nothing to resample
  double sum = 0.0;
  const uint64_t n = run.scores.size();
  for (uint64_t i = 0; i < n; ++i) sum += run.scores[rng.Below(n)];
  return sum / static_cast<double>(n);
}

}  // namespace

uint64_t EstimateSeed(const EstimateKey& key) {
  return Fnv1a64(absl::StrCat("mixsweep-utilization-v1",
                              Field(absl::StrCat(key.sweep_id)),
                              Field(key.scenario), Field(key.source)));
}

uint64_t PointSeed(uint64_t estimate_seed, PointKey point) {
  return Fnv1a64(
      absl::StrCat(estimate_seed, "|", point.n_tele, "|", point.n_nt));
}

namespace {

// One resample, with `drawn` as scratch space for the seed indices.
double ResamplePointInto(const CurvePoint& point, SplitMix64& rng,
                         std::vector<uint64_t>& drawn) {
  const uint64_t k = point.runs.size();
  // Seeds first, then trials: the draw order docs/utilization.md specifies.
  drawn.resize(k);
  for (uint64_t i = 0; i < k; ++i) drawn[i] = rng.Below(k);
  double sum = 0.0;
  for (uint64_t index : drawn) sum += ResampleRun(point.runs[index], rng);
  return sum / static_cast<double>(k);
}

}  // namespace

double ResamplePoint(const CurvePoint& point, SplitMix64& rng) {
  std::vector<uint64_t> drawn;
  return ResamplePointInto(point, rng, drawn);
}

std::vector<double> ResamplePointSeries(const CurvePoint& point, uint64_t seed,
                                        int resamples) {
  SplitMix64 rng(seed);
  std::vector<uint64_t> drawn;
  std::vector<double> series;
  series.reserve(resamples);
  for (int r = 0; r < resamples; ++r) {
    series.push_back(ResamplePointInto(point, rng, drawn));
  }
  return series;
}

InverseInterval PercentileInterval(std::vector<double> values, double level) {
  std::sort(values.begin(), values.end());
  return {.lower = PercentileType7(values, (1.0 - level) / 2.0),
          .upper = PercentileType7(values, (1.0 + level) / 2.0)};
}

std::optional<EtaInterval> IntervalFromResamples(
    std::span<const std::optional<double>> inverse_resamples, double level,
    uint64_t rng_seed) {
  std::vector<double> defined;
  defined.reserve(inverse_resamples.size());
  for (const std::optional<double>& v : inverse_resamples) {
    if (v) defined.push_back(*v);
  }
  if (defined.empty()) return std::nullopt;
  const int undefined =
      static_cast<int>(inverse_resamples.size() - defined.size());
  EtaInterval interval =
      MapInverseInterval(PercentileInterval(std::move(defined), level));
  interval.level = level;
  interval.resamples = static_cast<int>(inverse_resamples.size());
  interval.resamples_undefined = undefined;
  interval.rng_seed = rng_seed;
  return interval;
}

}  // namespace mixsweep::utilization
