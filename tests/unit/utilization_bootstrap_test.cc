// Intervals of 1/eta mapped to eta (split intervals included), and the
// bootstrap's resampling and seeding.
#include <cmath>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/bootstrap.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

TEST(UtilizationEtaIntervalTest, PositiveInverseIntervalBoundsEta) {
  const EtaInterval in = MapInverseInterval({.lower = 0.05, .upper = 0.2});
  EXPECT_EQ(in.shape, EtaIntervalShape::kBounded);
  EXPECT_TRUE(in.sign_established);
  EXPECT_DOUBLE_EQ(in.eta_lower, 5.0);
  EXPECT_DOUBLE_EQ(in.eta_upper, 20.0);
}

TEST(UtilizationEtaIntervalTest, NegativeInverseIntervalBoundsEta) {
  const EtaInterval in = MapInverseInterval({.lower = -0.2, .upper = -0.05});
  EXPECT_EQ(in.shape, EtaIntervalShape::kBounded);
  EXPECT_TRUE(in.sign_established);
  EXPECT_DOUBLE_EQ(in.eta_lower, -20.0);
  EXPECT_DOUBLE_EQ(in.eta_upper, -5.0);
}

TEST(UtilizationEtaIntervalTest, IntervalContainingZeroSplits) {
  const EtaInterval in = MapInverseInterval({.lower = -0.02, .upper = 0.1});
  EXPECT_EQ(in.shape, EtaIntervalShape::kSplit);
  EXPECT_FALSE(in.sign_established);
  EXPECT_DOUBLE_EQ(in.split_at_or_below, -50.0);
  EXPECT_DOUBLE_EQ(in.split_at_or_above, 10.0);
  EXPECT_TRUE(EtaIntervalContains(in, 16.0));
  EXPECT_TRUE(EtaIntervalContains(in, -1000.0));
  EXPECT_FALSE(EtaIntervalContains(in, 5.0));
  EXPECT_FALSE(EtaIntervalContains(in, -10.0));
}

TEST(UtilizationEtaIntervalTest, ZeroEndpointsGiveOneSidedSets) {
  const EtaInterval above = MapInverseInterval({.lower = 0.0, .upper = 0.1});
  EXPECT_EQ(above.shape, EtaIntervalShape::kAtOrAbove);
  EXPECT_FALSE(above.sign_established);
  EXPECT_DOUBLE_EQ(above.split_at_or_above, 10.0);
  EXPECT_TRUE(EtaIntervalContains(above, 1e12));
  EXPECT_FALSE(EtaIntervalContains(above, -1e12));

  const EtaInterval below = MapInverseInterval({.lower = -0.1, .upper = 0.0});
  EXPECT_EQ(below.shape, EtaIntervalShape::kAtOrBelow);
  EXPECT_DOUBLE_EQ(below.split_at_or_below, -10.0);
  EXPECT_TRUE(EtaIntervalContains(below, -11.0));
  EXPECT_FALSE(EtaIntervalContains(below, 11.0));

  const EtaInterval none = MapInverseInterval({.lower = 0.0, .upper = 0.0});
  EXPECT_EQ(none.shape, EtaIntervalShape::kInfiniteOnly);
  EXPECT_FALSE(EtaIntervalContains(none, 1e300));
}

TEST(UtilizationEtaIntervalTest, BoundsTooSmallToInvertCountAsZero) {
  const EtaInterval in = MapInverseInterval({.lower = 1e-320, .upper = 0.1});
  EXPECT_EQ(in.shape, EtaIntervalShape::kAtOrAbove);
  EXPECT_TRUE(std::isfinite(in.split_at_or_above));
  EXPECT_EQ(in.eta_upper, 0.0);
}

// Membership of eta in the mapped set is exactly membership of 1/eta in
// the interval of 1/eta.
TEST(UtilizationEtaIntervalTest, ContainsAgreesWithTheInverseInterval) {
  const std::vector<InverseInterval> intervals{
      {0.05, 0.2}, {-0.2, -0.05}, {-0.02, 0.1}, {0.0, 0.1},
      {-0.1, 0.0}, {0.0, 0.0},    {-1.0, 1.0}};
  for (const InverseInterval& inverse : intervals) {
    const EtaInterval in = MapInverseInterval(inverse);
    for (double eta = -200; eta <= 200; eta += 0.25) {
      if (eta == 0) continue;
      const double inv = 1 / eta;
      EXPECT_EQ(EtaIntervalContains(in, eta),
                inverse.lower <= inv && inv <= inverse.upper)
          << eta << " in [" << inverse.lower << ", " << inverse.upper << "]";
    }
  }
}

TEST(UtilizationEtaIntervalTest, EtaFromInverse) {
  EXPECT_EQ(EtaFromInverse(0.0, EtaStatus::kNoMeasurableEffect).status,
            EtaStatus::kNoMeasurableEffect);
  EXPECT_EQ(EtaFromInverse(1e-320, EtaStatus::kNEqEqualsNTele).status,
            EtaStatus::kNEqEqualsNTele);
  const Eta eta = EtaFromInverse(-0.125, EtaStatus::kNoMeasurableEffect);
  EXPECT_TRUE(eta.defined());
  EXPECT_EQ(eta.value, -8.0);
  EXPECT_EQ(EtaStatusName(EtaStatus::kZeroBaseline), "STATUS_ZERO_BASELINE");
}

TEST(UtilizationBootstrapTest, SeedsAreStableAndKeyed) {
  const EstimateKey key{
      .sweep_id = 7, .scenario = "in_domain", .source = "sim"};
  // Pinned (computed independently in Python from the documented byte
  // string "mixsweep-utilization-v1|1:7|9:in_domain|3:sim"): a changed
  // derivation would change every stored interval.
  EXPECT_EQ(EstimateSeed(key), 8778371061872436093ULL);
  EXPECT_EQ(PointSeed(EstimateSeed(key), {100, 1000}), 16106895764678673287ULL);
  EXPECT_NE(EstimateSeed(key), EstimateSeed({7, "in_domain", "human_video"}));
  EXPECT_NE(EstimateSeed(key), EstimateSeed({8, "in_domain", "sim"}));
  // Length-prefixed fields: no collision by moving a byte across fields.
  EXPECT_NE(EstimateSeed({1, "ab", "c"}), EstimateSeed({1, "a", "bc"}));
  const uint64_t seed = EstimateSeed(key);
  EXPECT_NE(PointSeed(seed, {100, 0}), PointSeed(seed, {100, 1000}));
  EXPECT_NE(PointSeed(seed, {100, 10}), PointSeed(seed, {10, 100}));
}

CurvePoint PointWith(std::vector<RunResult> runs) {
  CurvePoint p{.n_tele = 100, .n_nt = 0};
  for (RunResult& r : runs) {
    if (!r.given) r.s = MeanAscending(r.scores);
    p.seed_s.push_back(r.s);
  }
  p.runs = std::move(runs);
  p.n_seeds = static_cast<int>(p.runs.size());
  p.mean_s = MeanAscending(p.seed_s);
  return p;
}

TEST(UtilizationBootstrapTest, GivenSingleSeedIsConstant) {
  const CurvePoint p = PointWith({{.seed = 0, .s = 0.3, .given = true}});
  for (double s : ResamplePointSeries(p, 1, 50)) EXPECT_EQ(s, 0.3);
}

TEST(UtilizationBootstrapTest, GivenSeedsAreResampled) {
  const CurvePoint p = PointWith({{.seed = 0, .s = 0.2, .given = true},
                                  {.seed = 1, .s = 0.4, .given = true}});
  const std::vector<double> series = ResamplePointSeries(p, 3, 400);
  int low = 0, mid = 0, high = 0;
  for (double s : series) {
    if (s == 0.2)
      ++low;
    else if (s == 0.4)
      ++high;
    else if (std::abs(s - 0.3) < 1e-15)
      ++mid;
    else
      ADD_FAILURE() << s;
  }
  EXPECT_NEAR(low, 100, 40);
  EXPECT_NEAR(mid, 200, 50);
  EXPECT_NEAR(high, 100, 40);
}

TEST(UtilizationBootstrapTest, ResamplingIsDeterministicAndCentred) {
  std::vector<RunResult> runs;
  for (int seed = 0; seed < 3; ++seed) {
    RunResult r{.seed = seed};
    for (int t = 0; t < 10; ++t)
      r.scores.push_back((t + seed) % 3 == 0 ? 1.0 : 0.0);
    runs.push_back(r);
  }
  const CurvePoint p = PointWith(runs);
  const std::vector<double> a = ResamplePointSeries(p, 99, 2000);
  EXPECT_EQ(a, ResamplePointSeries(p, 99, 2000));
  EXPECT_NE(a, ResamplePointSeries(p, 100, 2000));
  EXPECT_NEAR(MeanAscending(a), p.mean_s, 0.01);
  // The spread of a two-stage bootstrap of 3 x 10 Bernoulli trials.
  EXPECT_GT(DescribePopulation(a).std, 0.05);
  EXPECT_LT(DescribePopulation(a).std, 0.15);
}

TEST(UtilizationBootstrapTest, IntervalLeavesOutAndCountsUndefined) {
  std::vector<std::optional<double>> inverses;
  for (int i = 0; i < 100; ++i) inverses.push_back(i * 0.01);  // 0 .. 0.99
  inverses.push_back(std::nullopt);
  inverses.push_back(std::nullopt);
  const std::optional<EtaInterval> in = IntervalFromResamples(inverses, 0.9, 5);
  ASSERT_TRUE(in.has_value());
  EXPECT_EQ(in->resamples, 102);
  EXPECT_EQ(in->resamples_undefined, 2);
  EXPECT_EQ(in->rng_seed, 5u);
  EXPECT_EQ(in->level, 0.9);
  EXPECT_NEAR(in->inverse.lower, 0.0495, 1e-12);  // type 7
  EXPECT_NEAR(in->inverse.upper, 0.9405, 1e-12);
  EXPECT_EQ(in->shape, EtaIntervalShape::kBounded);

  const std::vector<std::optional<double>> none(10, std::nullopt);
  EXPECT_FALSE(IntervalFromResamples(none, 0.95, 5).has_value());
}

}  // namespace
}  // namespace mixsweep::utilization
