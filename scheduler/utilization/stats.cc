#include "scheduler/utilization/stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace mixsweep::utilization {
namespace {

double SumAscending(std::span<const double> values) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  double sum = 0.0;
  for (double v : sorted) sum += v;
  return sum;
}

}  // namespace

double MeanAscending(std::span<const double> values) {
  if (values.empty()) return 0.0;
  return SumAscending(values) / static_cast<double>(values.size());
}

SampleStats DescribePopulation(std::span<const double> values) {
  SampleStats stats;
  if (values.empty()) return stats;
  stats.n = static_cast<int>(values.size());
  stats.mean = MeanAscending(values);
  std::vector<double> squares;
  squares.reserve(values.size());
  for (double v : values)
    squares.push_back((v - stats.mean) * (v - stats.mean));
  stats.std = std::sqrt(MeanAscending(squares));
  return stats;
}

double PercentileType7(std::span<const double> sorted, double p) {
  const std::size_t n = sorted.size();
  if (n == 1) return sorted[0];
  const double h = static_cast<double>(n - 1) * std::clamp(p, 0.0, 1.0);
  const std::size_t lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= n) return sorted[n - 1];
  const double frac = h - static_cast<double>(lo);
  // Written so that equal neighbours give exactly that value (no rounding).
  if (sorted[lo] == sorted[lo + 1]) return sorted[lo];
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

}  // namespace mixsweep::utilization
