// The budget recommendation (seed 000, section 5.2, appendix B.4).
#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/budget.h"

namespace mixsweep::utilization {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

ScalingModel ModelWithEta(double eta, int64_t at_n_nt = 1000) {
  return {.log_alpha = std::log(0.02),
          .beta = 0.5,
          .knots = {{.n_nt = at_n_nt, .inverse_eta = 1.0 / eta}}};
}

// Section 5.2: a budget of four hours, the time of 200 teleop demos; one
// teleop demo takes the time of 32 simulation demos; eta = 16 (Pick Dual
// Bottles, unseen background), measured with 1000 simulation demos; the
// teleop core is the task's smallest N_tele (50).
BudgetRequest Section52Request() {
  return {.budget_hours = 4.0,
          .cost_tele_hours = 4.0 / 200,
          .cost_nt_hours = 4.0 / 200 / 32,
          .teleop_core = 50};
}

TEST(UtilizationBudgetTest, Section52BuysSimulation) {
  absl::StatusOr<Recommendation> r =
      RecommendMix(ModelWithEta(16), {}, Section52Request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->n_nt, 0);
  EXPECT_TRUE(r->buy_non_teleop);  // 32 > 16 > 0
  ASSERT_TRUE(r->eta_used.has_value());
  EXPECT_DOUBLE_EQ(*r->eta_used, 16.0);
  EXPECT_LE(r->spent_hours, r->budget_hours);
  EXPECT_GE(r->n_tele, 50);
  // Each sim demo adds 1/16 effective demo for 1/32 of a teleop demo's
  // time, so the optimum buys simulation up to the most that may be
  // predicted (twice the measured 1000). Effective demos are
  // floor(200 - N_nt / 32) + N_nt / 16: 262 at N_nt = 1984 (138 teleop,
  // exactly 4 h) and at 2000 (137 teleop); ties keep the smaller N_nt.
  EXPECT_EQ(r->n_nt, 1984);
  EXPECT_EQ(r->n_tele, 138);
  EXPECT_DOUBLE_EQ(r->spent_hours, 4.0);
  EXPECT_GT(r->predicted_s, PredictMixS(ModelWithEta(16), 200, 0));
  EXPECT_THAT(r->warnings, Contains(HasSubstr("beyond the largest measured")));
  EXPECT_THAT(r->warnings, Contains(HasSubstr("stops at the limit")));
  EXPECT_FALSE(r->predicted_s_interval.has_value());  // no resamples given
}

TEST(UtilizationBudgetTest, NegativeEtaBuysNoNonTeleop) {
  absl::StatusOr<Recommendation> r =
      RecommendMix(ModelWithEta(-10), {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 0);
  EXPECT_EQ(r->n_tele, 200);
  EXPECT_FALSE(r->buy_non_teleop);
  EXPECT_DOUBLE_EQ(*r->eta_used, -10.0);
  EXPECT_DOUBLE_EQ(r->spent_hours, 4.0);
}

TEST(UtilizationBudgetTest, EtaAboveTheCostRatioBuysNone) {
  absl::StatusOr<Recommendation> r =
      RecommendMix(ModelWithEta(64), {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 0);
  EXPECT_EQ(r->n_tele, 200);
  EXPECT_FALSE(r->buy_non_teleop);
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
}

TEST(UtilizationBudgetTest, EtaEqualToTheCostRatioIsATieKeptOnTeleop) {
  absl::StatusOr<Recommendation> r =
      RecommendMix(ModelWithEta(32), {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 0);
  EXPECT_FALSE(r->buy_non_teleop);
}

TEST(UtilizationBudgetTest, NoEffectAndNoKnots) {
  ScalingModel no_effect = ModelWithEta(16);
  no_effect.knots[0].inverse_eta = 0.0;
  absl::StatusOr<Recommendation> r =
      RecommendMix(no_effect, {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 0);
  EXPECT_FALSE(r->eta_used.has_value());  // eta infinite
  EXPECT_FALSE(r->buy_non_teleop);

  ScalingModel none = ModelWithEta(16);
  none.knots.clear();
  r = RecommendMix(none, {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 0);
  EXPECT_EQ(r->n_tele, 200);
  EXPECT_THAT(r->warnings, Contains(HasSubstr("no measured global eta")));
}

TEST(UtilizationBudgetTest, InterpolatesInverseEta) {
  const std::vector<EtaKnot> knots{{.n_nt = 100, .inverse_eta = -0.1},
                                   {.n_nt = 300, .inverse_eta = 0.1}};
  EXPECT_EQ(InterpolateInverseEta(knots, 0), -0.1);  // constant below
  EXPECT_EQ(InterpolateInverseEta(knots, 100), -0.1);
  EXPECT_NEAR(InterpolateInverseEta(knots, 200), 0.0, 1e-17);  // through 0
  EXPECT_NEAR(InterpolateInverseEta(knots, 250), 0.05, 1e-15);
  EXPECT_EQ(InterpolateInverseEta(knots, 600), 0.1);  // constant above
  EXPECT_EQ(InterpolateInverseEta({}, 600), 0.0);
}

// The one-pass search finds the same optimum as trying every affordable
// (N_tele, N_nt), with an eta that changes sign between knots.
TEST(UtilizationBudgetTest, MatchesBruteForce) {
  const ScalingModel model{.log_alpha = std::log(0.03),
                           .beta = 0.4,
                           .knots = {{.n_nt = 20, .inverse_eta = -0.05},
                                     {.n_nt = 60, .inverse_eta = 0.2},
                                     {.n_nt = 100, .inverse_eta = 0.08}}};
  for (double c_nt : {0.01, 0.05, 0.2, 0.5}) {
    const BudgetRequest req{.budget_hours = 30,
                            .cost_tele_hours = 1.0,
                            .cost_nt_hours = c_nt,
                            .teleop_core = 5};
    absl::StatusOr<Recommendation> r = RecommendMix(model, {}, req);
    ASSERT_TRUE(r.ok());
    double best = -1;
    for (int64_t n_nt = 0; n_nt <= 200; ++n_nt) {
      for (int64_t n_tele = 5; n_tele <= 30; ++n_tele) {
        if (n_tele * req.cost_tele_hours + n_nt * c_nt > req.budget_hours)
          continue;
        best = std::max(best, PredictMixS(model, n_tele, n_nt));
      }
    }
    EXPECT_DOUBLE_EQ(r->predicted_s, best) << c_nt;
  }
}

TEST(UtilizationBudgetTest, BudgetSlackAbsorbsRounding) {
  ASSERT_GT(3 * 0.1, 0.3);
  absl::StatusOr<Recommendation> r = RecommendMix(
      ModelWithEta(-1), {},
      {.budget_hours = 0.3, .cost_tele_hours = 0.1, .cost_nt_hours = 0.01});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_tele, 3);
}

TEST(UtilizationBudgetTest, FreeNonTeleopStopsAtTheExtrapolationLimit) {
  absl::StatusOr<Recommendation> r = RecommendMix(
      ModelWithEta(16), {},
      {.budget_hours = 4, .cost_tele_hours = 0.02, .cost_nt_hours = 0});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_nt, 2000);
  EXPECT_EQ(r->n_tele, 200);
  EXPECT_TRUE(r->buy_non_teleop);
}

TEST(UtilizationBudgetTest, PredictedSIsCappedAndIntervalFromResamples) {
  ScalingModel big = ModelWithEta(16);
  big.log_alpha = std::log(0.2);
  absl::StatusOr<Recommendation> r = RecommendMix(big, {}, Section52Request());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->predicted_s, 1.0);
  EXPECT_THAT(r->warnings, Contains(HasSubstr("capped at 1")));

  std::vector<ScalingModel> resamples;
  for (int i = 0; i < 101; ++i) {
    ScalingModel m = ModelWithEta(16);
    m.log_alpha = std::log(0.015 + 0.0001 * i);  // 0.015 .. 0.025
    resamples.push_back(m);
  }
  r = RecommendMix(ModelWithEta(16), resamples, Section52Request());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->predicted_s_interval.has_value());
  EXPECT_LT(r->predicted_s_interval->lower, r->predicted_s);
  EXPECT_GT(r->predicted_s_interval->upper, r->predicted_s);
  const double effective = 138 + 1984.0 / 16;
  EXPECT_NEAR(r->predicted_s_interval->lower,
              (0.015 + 0.0001 * 2.5) * std::sqrt(effective), 1e-12);
}

TEST(UtilizationBudgetTest, ValidatesTheRequestAndModel) {
  const ScalingModel model = ModelWithEta(16);
  auto status = [&](BudgetRequest r) {
    return RecommendMix(model, {}, r).status();
  };
  BudgetRequest ok = Section52Request();
  BudgetRequest r = ok;
  r.budget_hours = 0;
  EXPECT_THAT(status(r).message(), HasSubstr("budget_hours"));
  r = ok;
  r.cost_tele_hours = -1;
  EXPECT_THAT(status(r).message(), HasSubstr("cost_tele_hours"));
  r = ok;
  r.cost_nt_hours = std::nan("");
  EXPECT_THAT(status(r).message(), HasSubstr("cost_nt_hours"));
  r = ok;
  r.teleop_core = 201;  // does not fit the budget
  EXPECT_THAT(status(r).message(), HasSubstr("teleop core"));
  r = ok;
  r.teleop_core = -1;
  EXPECT_THAT(status(r).message(), HasSubstr("teleop_core"));

  ScalingModel flat = model;
  flat.beta = 0;
  EXPECT_EQ(RecommendMix(flat, {}, ok).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ScalingModel unordered = model;
  unordered.knots = {{.n_nt = 500, .inverse_eta = 0.1},
                     {.n_nt = 100, .inverse_eta = 0.1}};
  EXPECT_THAT(RecommendMix(unordered, {}, ok).status().message(),
              HasSubstr("model.knots[1]"));
}

}  // namespace
}  // namespace mixsweep::utilization
