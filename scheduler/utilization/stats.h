// Small descriptive statistics with a fixed order of summation.
//
// Means are summed over the values sorted ascending, so a mean depends only
// on the multiset of values, never on the order they arrived in: two points
// with the same scores have bit-identical means, which is what lets the
// engine test "S_mix == S_t" exactly instead of with a tolerance.
//
// Example:
//   SampleStats s = DescribePopulation({2, 4, 4});  // seed 001's "3.3 +- 0.9"
//   // s.mean == 3.333..., s.std == 0.9428..., s.n == 3
//   double q = PercentileType7(sorted, 0.025);
#pragma once

#include <span>
#include <vector>

namespace mixsweep::utilization {

// Mean, population standard deviation (ddof = 0) and count of a sample.
struct SampleStats {
  double mean = 0.0;
  double std = 0.0;  // sqrt(sum (x - mean)^2 / n): ddof = 0, as seed 001 prints
  int n = 0;
};

// The mean of `values` summed in ascending order; 0 for an empty sample.
double MeanAscending(std::span<const double> values);

// Mean and population std of `values` (both summed in ascending order of
// the values); all zero for an empty sample.
SampleStats DescribePopulation(std::span<const double> values);

// The p-quantile (0 <= p <= 1) of `sorted` (ascending, non-empty) by
// Hyndman and Fan's type 7, the default of R and NumPy: h = (n - 1) p,
// x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]).
double PercentileType7(std::span<const double> sorted, double p);

}  // namespace mixsweep::utilization
