// The power-law fit in log space and global eta (seed 000, equation 2).
#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/power_law.h"

namespace mixsweep::utilization {
namespace {

using ::testing::ElementsAre;

double Law(double alpha, double beta, double n) {
  return alpha * std::pow(n, beta);
}

TEST(UtilizationPowerLawTest, FitsAnExactPowerLaw) {
  std::vector<FitPoint> points;
  for (int64_t n : {400, 50, 200, 100})
    points.push_back({n, Law(0.02, 0.6, n)});
  const PowerLawFit fit = FitPowerLaw(points);
  ASSERT_TRUE(fit.defined);
  EXPECT_EQ(fit.undefined_reason, EtaStatus::kDefined);
  EXPECT_NEAR(fit.alpha, 0.02, 1e-12);
  EXPECT_NEAR(fit.beta, 0.6, 1e-12);
  EXPECT_NEAR(fit.r_squared, 1.0, 1e-12);
  EXPECT_THAT(fit.n_used, ElementsAre(50, 100, 200, 400));
  EXPECT_EQ(fit.points_excluded_zero, 0);
}

TEST(UtilizationPowerLawTest, RSquaredIsInLogSpace) {
  // log S = {-1, 0, 0} at log N = {0, L, 2L} (N = 1, 3, 9, L = log 3):
  // slope 1 / (2L), SS_res = 1/6, SS_tot = 2/3.
  const double e = std::exp(1.0);
  const double l3 = std::log(3.0);
  const PowerLawFit fit =
      FitPowerLaw(std::vector<FitPoint>{{1, 1.0 / e}, {3, 1.0}, {9, 1.0}});
  ASSERT_TRUE(fit.defined);
  EXPECT_NEAR(fit.beta, 0.5 / l3, 1e-12);
  EXPECT_NEAR(fit.r_squared, 1.0 - (1.0 / 6.0) / (2.0 / 3.0), 1e-12);
}

TEST(UtilizationPowerLawTest, ZeroPointsAreExcludedAndCounted) {
  const PowerLawFit fit = FitPowerLaw(std::vector<FitPoint>{
      {50, 0.0}, {100, Law(0.01, 0.5, 100)}, {200, Law(0.01, 0.5, 200)}});
  ASSERT_TRUE(fit.defined);
  EXPECT_EQ(fit.points_excluded_zero, 1);
  EXPECT_THAT(fit.n_used, ElementsAre(100, 200));
  EXPECT_NEAR(fit.beta, 0.5, 1e-12);
}

TEST(UtilizationPowerLawTest, TooFewPoints) {
  for (const std::vector<FitPoint>& points :
       {std::vector<FitPoint>{}, std::vector<FitPoint>{{100, 0.5}},
        std::vector<FitPoint>{{100, 0.5}, {200, 0.0}},
        std::vector<FitPoint>{{100, 0.5}, {100, 0.6}}}) {
    const PowerLawFit fit = FitPowerLaw(points);
    EXPECT_FALSE(fit.defined);
    EXPECT_EQ(fit.undefined_reason, EtaStatus::kTooFewPoints);
    EXPECT_EQ(ComputeGlobalEta(fit, 100, 1000, 0.5).eta.status,
              EtaStatus::kTooFewPoints);
  }
}

TEST(UtilizationPowerLawTest, FlatCurveHasZeroSlopeAndPerfectRSquared) {
  const PowerLawFit fit =
      FitPowerLaw(std::vector<FitPoint>{{50, 0.7}, {100, 0.7}, {200, 0.7}});
  ASSERT_TRUE(fit.defined);
  EXPECT_EQ(fit.beta, 0.0);  // exactly, not +-1e-17
  EXPECT_EQ(fit.r_squared, 1.0);
  EXPECT_DOUBLE_EQ(fit.alpha, 0.7);
  EXPECT_EQ(ComputeGlobalEta(fit, 100, 1000, 0.8).eta.status,
            EtaStatus::kNoPositiveScaling);
}

TEST(UtilizationPowerLawTest, NegativeSlopeIsNoPositiveScaling) {
  const PowerLawFit fit =
      FitPowerLaw(std::vector<FitPoint>{{50, 0.7}, {100, 0.6}, {200, 0.5}});
  ASSERT_TRUE(fit.defined);
  EXPECT_LT(fit.beta, 0.0);
  const GlobalEta g = ComputeGlobalEta(fit, 100, 1000, 0.8);
  EXPECT_EQ(g.eta.status, EtaStatus::kNoPositiveScaling);
  EXPECT_FALSE(g.inverse.has_value());
}

// SPEC.md: on a true power law in N_t + N_nt / eta, global eta recovers eta.
TEST(UtilizationPowerLawTest, RecoversEtaOnAnExactPowerLaw) {
  const double alpha = 0.01, beta = 0.5;
  std::vector<FitPoint> teleop;
  for (int64_t n : {50, 100, 200, 400})
    teleop.push_back({n, Law(alpha, beta, n)});
  const PowerLawFit fit = FitPowerLaw(teleop);
  for (double eta : {8.0, 16.0, 0.5, -20.0, -7.0}) {
    for (auto [n_t, n_nt] : {std::pair<int64_t, int64_t>{100, 1000},
                             {200, 500},
                             {400, 100},
                             {50, 200}}) {
      const double effective = n_t + n_nt / eta;
      if (effective <= 0) continue;
      const double s_mix = Law(alpha, beta, effective);
      const GlobalEta g = ComputeGlobalEta(fit, n_t, n_nt, s_mix);
      ASSERT_TRUE(g.eta.defined()) << eta << " " << n_t << " " << n_nt;
      EXPECT_NEAR(g.eta.value / eta, 1.0, 1e-9) << eta << " " << n_t;
      EXPECT_NEAR(g.n_eq, effective, 1e-9 * effective);
      EXPECT_NEAR(*g.inverse * eta, 1.0, 1e-9);
    }
  }
}

TEST(UtilizationPowerLawTest, SMixZero) {
  const PowerLawFit fit = FitPowerLaw(std::vector<FitPoint>{
      {50, Law(0.01, 0.5, 50)}, {200, Law(0.01, 0.5, 200)}});
  const GlobalEta g = ComputeGlobalEta(fit, 100, 1000, 0.0);
  EXPECT_EQ(g.eta.status, EtaStatus::kSMixZero);
  EXPECT_FALSE(g.inverse.has_value());
  EXPECT_EQ(g.n_eq, 0.0);
}

TEST(UtilizationPowerLawTest, NEqEqualsNTele) {
  // log S_mix == log alpha at N'_t = 1: N_eq = exp(0) = 1 exactly.
  PowerLawFit fit;
  fit.defined = true;
  fit.log_alpha = std::log(0.5);
  fit.alpha = 0.5;
  fit.beta = 0.5;
  const GlobalEta g = ComputeGlobalEta(fit, 1, 1000, 0.5);
  EXPECT_EQ(g.eta.status, EtaStatus::kNEqEqualsNTele);
  EXPECT_EQ(g.eta.value, 0.0);
  EXPECT_EQ(g.n_eq, 1.0);
  ASSERT_TRUE(g.inverse.has_value());
  EXPECT_EQ(*g.inverse, 0.0);
}

TEST(UtilizationPowerLawTest, NEqBeyondDoubleRangeIsNamed) {
  PowerLawFit fit;
  fit.defined = true;
  fit.log_alpha = std::log(0.1);
  fit.beta = 1e-3;  // (S_mix / alpha)^(1/beta) = 9^1000 overflows
  const GlobalEta g = ComputeGlobalEta(fit, 100, 1000, 0.9);
  EXPECT_EQ(g.eta.status, EtaStatus::kNEqOutOfRange);
  EXPECT_FALSE(g.inverse.has_value());
  EXPECT_TRUE(std::isfinite(g.n_eq));
}

TEST(UtilizationPowerLawTest, PredictS) {
  EXPECT_NEAR(PredictS(std::log(0.01), 0.5, 400), 0.2, 1e-15);
  EXPECT_EQ(PredictS(std::log(0.01), 0.5, 0), 0.0);
  EXPECT_EQ(PredictS(std::log(0.01), 0.5, -3), 0.0);
}

}  // namespace
}  // namespace mixsweep::utilization
