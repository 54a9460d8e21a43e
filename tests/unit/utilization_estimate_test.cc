// The whole estimate: determinism (order, increments), every undefined case
// through the pipeline, no NaN or infinity in any result, and coverage of
// the true eta by the global eta's bootstrap interval on synthetic sweeps.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/bootstrap.h"
#include "scheduler/utilization/estimate.h"
#include "scheduler/utilization/measurements.h"
#include "scheduler/utilization/rng.h"

namespace mixsweep::utilization {
namespace {

using ::testing::HasSubstr;

const EstimateKey kKey{
    .sweep_id = 42, .scenario = "unseen_background", .source = "sim"};

// A sweep whose true success follows S = alpha (N_t + N_nt / eta)^beta
// (capped at 1), each trial scoring 1 with probability S, else 0.
struct SyntheticSweep {
  double alpha = 0.02;
  double beta = 0.6;
  double eta = 2.0;
  std::vector<int64_t> n_teles{25, 50, 100, 200, 400};
  std::vector<std::pair<int64_t, int64_t>> mixed{{100, 200}};
  int seeds = 3;
  int trials = 10;

  double TrueS(int64_t n_t, int64_t n_nt) const {
    return std::min(1.0, alpha * std::pow(n_t + n_nt / eta, beta));
  }

  Measurements Draw(uint64_t rng_seed) const {
    SplitMix64 rng(rng_seed);
    Measurements m;
    int64_t trial_id = 0;
    auto add_point = [&](int64_t n_t, int64_t n_nt) {
      const double s = TrueS(n_t, n_nt);
      for (int seed = 0; seed < seeds; ++seed) {
        for (int t = 0; t < trials; ++t) {
          m.trials.push_back(
              {.run = {.n_tele = n_t, .n_nt = n_nt, .seed = seed},
               .trial_id = ++trial_id,
               .score = rng.UnitDouble() < s ? 1.0 : 0.0});
        }
      }
    };
    for (int64_t n : n_teles) add_point(n, 0);
    for (auto [n_t, n_nt] : mixed) add_point(n_t, n_nt);
    return m;
  }
};

void ExpectFinite(const std::optional<EtaInterval>& in) {
  if (!in) return;
  for (double v :
       {in->level, in->inverse.lower, in->inverse.upper, in->eta_lower,
        in->eta_upper, in->split_at_or_below, in->split_at_or_above}) {
    EXPECT_TRUE(std::isfinite(v));
  }
}

// Every double an estimate reports is finite.
void ExpectAllFinite(const Estimate& e) {
  for (const auto* curve : {&e.teleop_curve, &e.mixed_curve}) {
    for (const CurvePoint& p : *curve) {
      EXPECT_TRUE(std::isfinite(p.mean_s) && std::isfinite(p.std_s));
    }
  }
  for (const LocalEta& l : e.local) {
    for (double v : {l.s_t, l.s_mix, l.gamma_t, l.gamma_nt, l.eta.value}) {
      EXPECT_TRUE(std::isfinite(v));
    }
    if (l.inverse) {
      EXPECT_TRUE(std::isfinite(*l.inverse));
    }
    ExpectFinite(l.interval);
  }
  for (double v : {e.fit.alpha, e.fit.log_alpha, e.fit.beta, e.fit.r_squared}) {
    EXPECT_TRUE(std::isfinite(v));
  }
  for (const GlobalEta& g : e.global) {
    for (double v : {g.s_mix, g.n_eq, g.eta.value})
      EXPECT_TRUE(std::isfinite(v));
    if (g.inverse) {
      EXPECT_TRUE(std::isfinite(*g.inverse));
    }
    ExpectFinite(g.interval);
  }
}

// Two estimates are the same to the last bit.
void ExpectSame(const Estimate& a, const Estimate& b) {
  ASSERT_EQ(a.teleop_curve.size(), b.teleop_curve.size());
  ASSERT_EQ(a.mixed_curve.size(), b.mixed_curve.size());
  for (std::size_t i = 0; i < a.teleop_curve.size(); ++i) {
    EXPECT_EQ(a.teleop_curve[i].seed_s, b.teleop_curve[i].seed_s);
    EXPECT_EQ(a.teleop_curve[i].mean_s, b.teleop_curve[i].mean_s);
  }
  EXPECT_EQ(a.n_t_star, b.n_t_star);
  EXPECT_EQ(a.fit.beta, b.fit.beta);
  EXPECT_EQ(a.fit.log_alpha, b.fit.log_alpha);
  EXPECT_EQ(a.fit.r_squared, b.fit.r_squared);
  ASSERT_EQ(a.local.size(), b.local.size());
  for (std::size_t i = 0; i < a.local.size(); ++i) {
    EXPECT_EQ(a.local[i].eta.status, b.local[i].eta.status);
    EXPECT_EQ(a.local[i].eta.value, b.local[i].eta.value);
    ASSERT_EQ(a.local[i].interval.has_value(), b.local[i].interval.has_value());
    if (a.local[i].interval) {
      EXPECT_EQ(a.local[i].interval->inverse.lower,
                b.local[i].interval->inverse.lower);
      EXPECT_EQ(a.local[i].interval->inverse.upper,
                b.local[i].interval->inverse.upper);
    }
  }
  ASSERT_EQ(a.global.size(), b.global.size());
  for (std::size_t i = 0; i < a.global.size(); ++i) {
    EXPECT_EQ(a.global[i].eta.status, b.global[i].eta.status);
    EXPECT_EQ(a.global[i].eta.value, b.global[i].eta.value);
    ASSERT_EQ(a.global[i].interval.has_value(),
              b.global[i].interval.has_value());
    if (a.global[i].interval) {
      EXPECT_EQ(a.global[i].interval->inverse.lower,
                b.global[i].interval->inverse.lower);
      EXPECT_EQ(a.global[i].interval->inverse.upper,
                b.global[i].interval->inverse.upper);
      EXPECT_EQ(a.global[i].interval->resamples_undefined,
                b.global[i].interval->resamples_undefined);
    }
  }
  EXPECT_EQ(a.trial_count, b.trial_count);
  EXPECT_EQ(a.last_trial_id, b.last_trial_id);
}

Estimate MustEstimate(const Measurements& m, EstimateParams params = {}) {
  absl::StatusOr<Estimate> e = ComputeEstimate(kKey, m, params);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

SyntheticSweep ThreeMixedSweep() {
  SyntheticSweep sweep;
  sweep.n_teles = {50, 100, 200};
  sweep.mixed = {{50, 1000}, {100, 1000}, {200, 1000}, {200, 500}};
  return sweep;
}

TEST(UtilizationEstimateTest, SummarisesASweep) {
  const Estimate e = MustEstimate(ThreeMixedSweep().Draw(1));
  EXPECT_EQ(e.key.source, "sim");
  EXPECT_EQ(e.rng_seed, EstimateSeed(kKey));
  EXPECT_EQ(e.teleop_curve.size(), 3u);
  EXPECT_EQ(e.mixed_curve.size(), 4u);
  EXPECT_EQ(e.n_t_star, 200);
  ASSERT_EQ(e.local.size(), 2u);  // n_nt 500 and 1000 at N_t* = 200
  EXPECT_EQ(e.local[0].n_nt, 500);
  EXPECT_EQ(e.global.size(), 4u);
  EXPECT_EQ(e.trial_count, 7 * 3 * 10);
  EXPECT_EQ(e.last_trial_id, 210);
  EXPECT_FALSE(e.from_given_s);
  EXPECT_TRUE(e.fit.defined);
  for (const GlobalEta& g : e.global) {
    if (g.eta.defined()) {
      ASSERT_TRUE(g.interval.has_value());
      EXPECT_EQ(g.interval->resamples, 2000);
      EXPECT_EQ(g.interval->level, 0.95);
    }
  }
  ExpectAllFinite(e);
}

TEST(UtilizationEstimateTest, InputOrderDoesNotMatter) {
  const Measurements m = ThreeMixedSweep().Draw(2);
  Measurements shuffled = m;
  std::mt19937 shuffle_rng(7);  // only permutes; results must not care
  std::shuffle(shuffled.trials.begin(), shuffled.trials.end(), shuffle_rng);
  ExpectSame(MustEstimate(m), MustEstimate(shuffled));
}

TEST(UtilizationEstimateTest, IncrementalUpdatesEqualRecomputation) {
  const Measurements all = ThreeMixedSweep().Draw(3);
  Measurements shuffled = all;
  std::mt19937 shuffle_rng(11);
  std::shuffle(shuffled.trials.begin(), shuffled.trials.end(), shuffle_rng);
  // Add the trials one at a time, recomputing after each (as the service
  // does on every committed trial); spot-check every 25th update.
  Measurements growing;
  EstimateParams params{.resamples = 200};
  std::optional<Estimate> last;
  for (std::size_t i = 0; i < shuffled.trials.size(); ++i) {
    growing.trials.push_back(shuffled.trials[i]);
    if (i % 25 == 0 || i + 1 == shuffled.trials.size()) {
      last = MustEstimate(growing, params);
      ExpectAllFinite(*last);
    }
  }
  ExpectSame(*last, MustEstimate(all, params));
}

TEST(UtilizationEstimateTest, AnEtaDependsOnlyOnItsOwnPoints) {
  SyntheticSweep sweep = ThreeMixedSweep();
  const Estimate before = MustEstimate(sweep.Draw(4));
  // A new mixed point at a smaller N_tele changes neither N_t* nor the
  // points the local etas use, so their intervals stay bit-identical.
  Measurements more = sweep.Draw(4);
  for (int seed = 0; seed < 3; ++seed) {
    more.trials.push_back({.run = {.n_tele = 50, .n_nt = 300, .seed = seed},
                           .trial_id = 10000 + seed,
                           .score = 1.0});
  }
  const Estimate after = MustEstimate(more);
  ASSERT_EQ(after.local.size(), 3u);  // 300, 500, 1000
  EXPECT_EQ(after.local[0].eta.status, EtaStatus::kNoData);
  for (int i = 0; i < 2; ++i) {
    const LocalEta& a = before.local[i];
    const LocalEta& b = after.local[i + 1];
    ASSERT_EQ(a.n_nt, b.n_nt);
    ASSERT_TRUE(a.interval && b.interval);
    EXPECT_EQ(a.interval->inverse.lower, b.interval->inverse.lower);
    EXPECT_EQ(a.interval->inverse.upper, b.interval->inverse.upper);
  }
}

GivenScore G(int64_t n_tele, int64_t n_nt, double s, int64_t seed = 0) {
  return {.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = seed}, .s = s};
}

// Table 1's Pick Dual Bottles, unseen background, as given S values.
TEST(UtilizationEstimateTest, PaperCellFromGivenS) {
  Measurements m;
  m.given = {G(200, 0, 0.20), G(200, 1000, 0.30)};
  const Estimate e = MustEstimate(m);
  EXPECT_TRUE(e.from_given_s);
  EXPECT_EQ(e.n_t_star, 200);
  ASSERT_EQ(e.local.size(), 1u);
  EXPECT_NEAR(e.local[0].eta.value, 10.0, 1e-12);
  // One seed and no trials: nothing to resample, the interval is a point.
  ASSERT_TRUE(e.local[0].interval.has_value());
  EXPECT_TRUE(e.local[0].interval->sign_established);
  EXPECT_NEAR(e.local[0].interval->eta_lower, 10.0, 1e-12);
  EXPECT_NEAR(e.local[0].interval->eta_upper, 10.0, 1e-12);
  // One teleop point: no fit.
  EXPECT_FALSE(e.fit.defined);
  ASSERT_EQ(e.global.size(), 1u);
  EXPECT_EQ(e.global[0].eta.status, EtaStatus::kTooFewPoints);
  EXPECT_FALSE(e.global[0].interval.has_value());
  ExpectAllFinite(e);
}

Trial T(int64_t n_t, int64_t n_nt, int64_t seed, int64_t id, double score) {
  return {.run = {.n_tele = n_t, .n_nt = n_nt, .seed = seed},
          .trial_id = id,
          .score = score};
}

TEST(UtilizationEstimateTest, ZeroBaselineHasNoIntervalAndFitSkipsIt) {
  Measurements m;
  int64_t id = 0;
  for (int seed = 0; seed < 3; ++seed) {
    for (int t = 0; t < 10; ++t) {
      m.trials.push_back(T(100, 0, seed, ++id, 0.0));
      m.trials.push_back(T(100, 1000, seed, ++id, t < 3 ? 1.0 : 0.0));
      m.trials.push_back(T(50, 0, seed, ++id, 0.0));
    }
  }
  const Estimate e = MustEstimate(m);
  ASSERT_EQ(e.local.size(), 1u);
  EXPECT_EQ(e.local[0].eta.status, EtaStatus::kZeroBaseline);
  EXPECT_FALSE(e.local[0].interval.has_value());
  EXPECT_EQ(e.fit.points_excluded_zero, 2);
  EXPECT_EQ(e.global[0].eta.status, EtaStatus::kTooFewPoints);
  ExpectAllFinite(e);
}

// A baseline of one success in 30 trials: many resamples have S_t* = 0,
// where 1/eta is undefined; they are counted and left out.
TEST(UtilizationEstimateTest, UndefinedResamplesAreCountedAndLeftOut) {
  Measurements m;
  int64_t id = 0;
  for (int seed = 0; seed < 3; ++seed) {
    for (int t = 0; t < 10; ++t) {
      m.trials.push_back(T(100, 0, seed, ++id, seed == 0 && t == 0 ? 1.0 : 0.0));
      m.trials.push_back(T(100, 1000, seed, ++id, t < 5 ? 1.0 : 0.0));
    }
  }
  const Estimate e = MustEstimate(m);
  ASSERT_TRUE(e.local[0].eta.defined());
  ASSERT_TRUE(e.local[0].interval.has_value());
  const EtaInterval& in = *e.local[0].interval;
  EXPECT_EQ(in.resamples, 2000);
  // P(S_t* = 0) = sum_k C(3,k) (1/3)^k (2/3)^(3-k) (0.9^10)^k = 0.48.
  EXPECT_NEAR(in.resamples_undefined, 0.48 * 2000, 100);
  EXPECT_TRUE(in.sign_established);  // every defined resample is positive
  EXPECT_GT(in.eta_lower, 0.0);
  ExpectAllFinite(e);
}

TEST(UtilizationEstimateTest, NoMeasurableEffectStillHasAnInterval) {
  Measurements m;
  int64_t id = 0;
  for (int seed = 0; seed < 3; ++seed) {
    for (int t = 0; t < 10; ++t) {
      // Same multiset of scores at both points, in another trial order.
      m.trials.push_back(T(100, 0, seed, ++id, t % 2 == 0 ? 1.0 : 0.5));
      m.trials.push_back(T(100, 1000, seed, ++id, t % 2 == 1 ? 1.0 : 0.5));
    }
  }
  const Estimate e = MustEstimate(m);
  ASSERT_EQ(e.local.size(), 1u);
  EXPECT_EQ(e.local[0].eta.status, EtaStatus::kNoMeasurableEffect);
  ASSERT_TRUE(e.local[0].interval.has_value());
  EXPECT_FALSE(e.local[0].interval->sign_established);
  EXPECT_NE(e.local[0].interval->shape, EtaIntervalShape::kBounded);
  ExpectAllFinite(e);
}

TEST(UtilizationEstimateTest, GlobalUndefinedCasesThroughThePipeline) {
  // S_mix == 0 at one mixed point.
  Measurements zero_mix;
  zero_mix.given = {G(50, 0, 0.2), G(100, 0, 0.3), G(100, 1000, 0.0),
                    G(50, 1000, 0.4)};
  const Estimate a = MustEstimate(zero_mix);
  EXPECT_EQ(a.global[1].eta.status, EtaStatus::kSMixZero);  // (100, 1000)
  EXPECT_TRUE(a.global[0].eta.defined());                   // (50, 1000)
  EXPECT_EQ(a.local[0].eta.value, (0.3 / 100) / ((0.0 - 0.3) / 1000));

  // Falling teleop curve.
  Measurements falling;
  falling.given = {G(50, 0, 0.5), G(100, 0, 0.4), G(100, 1000, 0.6)};
  const Estimate b = MustEstimate(falling);
  EXPECT_EQ(b.global[0].eta.status, EtaStatus::kNoPositiveScaling);
  EXPECT_FALSE(b.global[0].interval.has_value());

  // No teleop-only point at all: no N_t*, no fit.
  Measurements mixed_only;
  mixed_only.given = {G(100, 1000, 0.6)};
  const Estimate c = MustEstimate(mixed_only);
  EXPECT_EQ(c.n_t_star, 0);
  EXPECT_EQ(c.local[0].eta.status, EtaStatus::kNoData);
  EXPECT_EQ(c.global[0].eta.status, EtaStatus::kTooFewPoints);

  // Nothing measured yet.
  const Estimate d = MustEstimate(Measurements{});
  EXPECT_TRUE(d.local.empty());
  EXPECT_TRUE(d.global.empty());
  EXPECT_FALSE(d.fit.defined);
  for (const Estimate* e : {&a, &b, &c, &d}) ExpectAllFinite(*e);
}

TEST(UtilizationEstimateTest, ValidatesParameters) {
  const Measurements m;
  auto status = [&](EstimateParams p) {
    return ComputeEstimate(kKey, m, p).status();
  };
  EXPECT_THAT(status({.resamples = -1}).message(),
              HasSubstr("params.resamples"));
  EXPECT_THAT(status({.resamples = 2'000'000}).message(),
              HasSubstr("params.resamples"));
  EXPECT_THAT(status({.level = 1.0}).message(), HasSubstr("params.level"));
  EXPECT_THAT(status({.level = std::nan("")}).message(),
              HasSubstr("params.level"));
  EXPECT_THAT(status({.n_t_star = -5}).message(), HasSubstr("params.n_t_star"));
  // Bad measurements are named too.
  Measurements bad;
  bad.trials = {T(100, 0, 0, 1, 2.0)};
  EXPECT_EQ(ComputeEstimate(kKey, bad, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UtilizationEstimateTest, NoResamplesNoIntervals) {
  const Estimate e = MustEstimate(ThreeMixedSweep().Draw(5), {.resamples = 0});
  for (const LocalEta& l : e.local) EXPECT_FALSE(l.interval.has_value());
  for (const GlobalEta& g : e.global) EXPECT_FALSE(g.interval.has_value());
}

TEST(UtilizationEstimateTest, RecommendsFromAnEstimate) {
  SyntheticSweep sweep = ThreeMixedSweep();
  sweep.trials = 40;
  const Estimate e = MustEstimate(
      sweep.Draw(6), {.resamples = 500, .keep_model_resamples = true});
  ASSERT_TRUE(e.fit.defined && e.fit.beta > 0);
  EXPECT_EQ(
      static_cast<int>(e.model_resamples.size()) + e.model_resamples_undefined,
      500);
  const std::vector<EtaKnot> knots = KnotsFromGlobalEtas(e.global);
  ASSERT_EQ(knots.size(), 2u);
  EXPECT_EQ(knots[0].n_nt, 500);
  absl::StatusOr<Recommendation> r = RecommendFromEstimate(
      e, {.budget_hours = 10, .cost_tele_hours = 0.05, .cost_nt_hours = 0.001});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->n_tele, 50);  // the core defaults to the smallest N_tele
  EXPECT_LE(r->spent_hours, 10 * (1 + kBudgetRelativeSlack));
  ASSERT_TRUE(r->predicted_s_interval.has_value());
  EXPECT_LE(r->predicted_s_interval->lower, r->predicted_s_interval->upper);

  // No fit: no model.
  Measurements m;
  m.given = {G(200, 0, 0.2), G(200, 1000, 0.3)};
  EXPECT_EQ(RecommendFromEstimate(MustEstimate(m),
                                  {.budget_hours = 4, .cost_tele_hours = 0.02})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

struct Coverage {
  int covered = 0;
  int sign_established = 0;
  int no_interval = 0;  // counted as misses
};

Coverage MeasureCoverage(const SyntheticSweep& sweep, int repetitions,
                         uint64_t first_seed) {
  Coverage c;
  for (int rep = 0; rep < repetitions; ++rep) {
    const Estimate e =
        MustEstimate(sweep.Draw(first_seed + rep), {.resamples = 1000});
    const GlobalEta& g = e.global.at(0);
    if (!g.interval) {
      ++c.no_interval;
      continue;
    }
    if (EtaIntervalContains(*g.interval, sweep.eta)) ++c.covered;
    if (g.interval->sign_established) ++c.sign_established;
  }
  std::cout << "[ coverage ] eta = " << sweep.eta << ": " << c.covered << "/"
            << repetitions << " covered, " << c.sign_established
            << " with the sign established, " << c.no_interval
            << " without an interval\n";
  return c;
}

// Over many synthetic sweeps with a known eta, the global eta's 95%
// interval (split or not) holds the truth in >= 90% of them. The regime:
// S from 0.14 to 0.73 over N_tele 25..400 (alpha 0.02, beta 0.6), eta = 2
// at (100, 200), so the mixed point sits at S = 0.48 against 0.32 without
// the non-teleop data; 3 seeds x 10 Bernoulli trials per point, the
// paper's protocol. 1,000 resamples keep it fast in Debug.
TEST(UtilizationEstimateTest, GlobalIntervalCoversAPositiveEta) {
  const SyntheticSweep sweep;
  constexpr int kRepetitions = 200;
  const Coverage c = MeasureCoverage(sweep, kRepetitions, 1000);
  EXPECT_GE(c.covered, kRepetitions * 9 / 10);
  EXPECT_GT(c.sign_established, 0);  // not vacuous: some intervals exclude 0
}

// Harmful data: eta = -4 at (200, 400), S = 0.40 against 0.48.
TEST(UtilizationEstimateTest, GlobalIntervalCoversANegativeEta) {
  SyntheticSweep sweep;
  sweep.eta = -4.0;
  sweep.mixed = {{200, 400}};
  constexpr int kRepetitions = 100;
  const Coverage c = MeasureCoverage(sweep, kRepetitions, 5000);
  EXPECT_GE(c.covered, kRepetitions * 9 / 10);
}

}  // namespace
}  // namespace mixsweep::utilization
