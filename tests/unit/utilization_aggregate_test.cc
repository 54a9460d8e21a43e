// From trials to the curve: S per run, seed mean and population std, and
// input validation that names the field.
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::utilization {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Trial T(int64_t n_tele, int64_t n_nt, int64_t seed, int64_t id, double score) {
  return {.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = seed},
          .trial_id = id,
          .score = score};
}

GivenScore G(int64_t n_tele, int64_t n_nt, int64_t seed, double s) {
  return {.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = seed}, .s = s};
}

TEST(UtilizationAggregateTest, SIsTheMeanTrialScoreAndPointsAverageSeeds) {
  Measurements m;
  // Seed 0: {1, 0.5, 0} -> 0.5; seed 1: {1, 1} -> 1; seed 2: {0, 0} -> 0.
  m.trials = {T(50, 0, 0, 1, 1.0), T(50, 0, 0, 2, 0.5), T(50, 0, 0, 3, 0.0),
              T(50, 0, 1, 4, 1.0), T(50, 0, 1, 5, 1.0), T(50, 0, 2, 6, 0.0),
              T(50, 0, 2, 7, 0.0)};
  absl::StatusOr<Curve> curve = BuildCurve(m);
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->teleop.size(), 1u);
  const CurvePoint& p = curve->teleop[0];
  EXPECT_THAT(p.seed_s, ElementsAre(0.5, 1.0, 0.0));
  EXPECT_DOUBLE_EQ(p.mean_s, 0.5);
  EXPECT_DOUBLE_EQ(p.std_s, std::sqrt(1.0 / 6.0));  // ddof = 0
  EXPECT_EQ(p.n_seeds, 3);
  EXPECT_EQ(p.trials, 7);
  EXPECT_EQ(curve->trial_count, 7);
  EXPECT_EQ(curve->last_trial_id, 7);
  EXPECT_FALSE(curve->from_given_s);
  EXPECT_TRUE(curve->mixed.empty());
}

TEST(UtilizationAggregateTest, TrialsAreOrderedById) {
  Measurements m;
  m.trials = {T(50, 0, 0, 9, 0.0), T(50, 0, 0, 3, 1.0), T(50, 0, 0, 5, 0.5)};
  absl::StatusOr<Curve> curve = BuildCurve(m);
  ASSERT_TRUE(curve.ok());
  EXPECT_THAT(curve->teleop[0].runs[0].scores, ElementsAre(1.0, 0.5, 0.0));
  EXPECT_EQ(curve->last_trial_id, 9);
}

TEST(UtilizationAggregateTest, GivenScoresAndSplitIntoTeleopAndMixed) {
  Measurements m;
  m.given = {G(200, 1000, 0, 0.30), G(200, 0, 0, 0.20), G(100, 0, 0, 0.1)};
  absl::StatusOr<Curve> curve = BuildCurve(m);
  ASSERT_TRUE(curve.ok());
  EXPECT_TRUE(curve->from_given_s);
  ASSERT_EQ(curve->teleop.size(), 2u);
  EXPECT_EQ(curve->teleop[0].n_tele, 100);  // sorted
  EXPECT_EQ(curve->teleop[1].mean_s, 0.20);
  ASSERT_EQ(curve->mixed.size(), 1u);
  EXPECT_EQ(curve->mixed[0].mean_s, 0.30);
  EXPECT_TRUE(curve->mixed[0].runs[0].given);
  EXPECT_EQ(curve->trial_count, 0);
  EXPECT_EQ(curve->last_trial_id, 0);
  ASSERT_NE(FindPoint(*curve, {200, 1000}), nullptr);
  EXPECT_EQ(FindPoint(*curve, {200, 1000})->mean_s, 0.30);
  EXPECT_EQ(FindPoint(*curve, {100, 1000}), nullptr);
  EXPECT_EQ(FindPoint(*curve, {300, 0}), nullptr);
}

TEST(UtilizationAggregateTest, InputOrderDoesNotMatter) {
  Measurements a;
  a.trials = {T(50, 0, 0, 1, 0.1),  T(50, 0, 1, 2, 0.2),  T(50, 0, 2, 3, 0.3),
              T(50, 10, 0, 4, 0.3), T(50, 10, 1, 5, 0.2), T(50, 10, 2, 6, 0.1)};
  Measurements b;
  b.trials = {a.trials[5], a.trials[2], a.trials[0],
              a.trials[4], a.trials[1], a.trials[3]};
  absl::StatusOr<Curve> ca = BuildCurve(a), cb = BuildCurve(b);
  ASSERT_TRUE(ca.ok() && cb.ok());
  EXPECT_EQ(ca->teleop[0].mean_s, cb->teleop[0].mean_s);
  // Same multiset of seed S in another seed order: bit-equal means, so
  // "S_mix == S_t" can be decided exactly.
  EXPECT_EQ(ca->teleop[0].mean_s, ca->mixed[0].mean_s);
}

absl::Status BuildStatus(const Measurements& m) {
  return BuildCurve(m).status();
}

TEST(UtilizationAggregateTest, RejectsScoresOutsideTheUnitInterval) {
  for (double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    Measurements m;
    m.trials = {T(50, 0, 0, 1, 0.5), T(50, 0, 0, 2, bad)};
    const absl::Status s = BuildStatus(m);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("trials[1].score"));
  }
  Measurements given;
  given.given = {G(50, 0, 0, 1.01)};
  EXPECT_THAT(BuildStatus(given).message(), HasSubstr("given[0].s"));
}

TEST(UtilizationAggregateTest, RejectsBadRunKeys) {
  Measurements m;
  m.trials = {T(0, 0, 0, 1, 0.5)};
  EXPECT_THAT(BuildStatus(m).message(), HasSubstr("trials[0].run.n_tele"));
  m.trials = {T(10, -1, 0, 1, 0.5)};
  EXPECT_THAT(BuildStatus(m).message(), HasSubstr("trials[0].run.n_nt"));
  Measurements g;
  g.given = {G(-5, 0, 0, 0.5)};
  EXPECT_THAT(BuildStatus(g).message(), HasSubstr("given[0].run.n_tele"));
}

TEST(UtilizationAggregateTest, RejectsDuplicatesAndMixedKinds) {
  Measurements dup;
  dup.trials = {T(50, 0, 0, 7, 0.5), T(50, 0, 0, 7, 1.0)};
  EXPECT_THAT(BuildStatus(dup).message(), HasSubstr("trials[1].trial_id"));
  Measurements both;
  both.trials = {T(50, 0, 0, 7, 0.5)};
  both.given = {G(50, 0, 0, 0.5)};
  EXPECT_THAT(BuildStatus(both).message(),
              HasSubstr("both trials and a given S"));
  Measurements twice;
  twice.given = {G(50, 0, 0, 0.5), G(50, 0, 0, 0.6)};
  EXPECT_THAT(BuildStatus(twice).message(), HasSubstr("given[1].run"));
  // The same trial id in two different runs is fine.
  Measurements ok;
  ok.trials = {T(50, 0, 0, 7, 0.5), T(50, 0, 1, 7, 0.5)};
  EXPECT_TRUE(BuildStatus(ok).ok());
}

}  // namespace
}  // namespace mixsweep::utilization
