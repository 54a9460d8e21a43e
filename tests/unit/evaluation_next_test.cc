// The next-evaluation rule: how wide an estimate's widest 1/eta interval is,
// how open requests group and rank into batches, and the blind order of a
// batch (pinned by golden values from an independent implementation).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/evaluation/next_evaluation.h"
#include "scheduler/utilization/estimate.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::evaluation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;
using utilization::EtaInterval;
using utilization::EtaStatus;

constexpr double kInf = std::numeric_limits<double>::infinity();

EtaInterval Inverse(double lower, double upper) {
  EtaInterval in = utilization::MapInverseInterval({.lower = lower, .upper = upper});
  in.level = 0.95;
  in.resamples = 2000;
  return in;
}

utilization::LocalEta Local(int64_t n_nt, std::optional<EtaInterval> interval,
                            EtaStatus status = EtaStatus::kDefined) {
  return {.n_t_star = 200, .n_nt = n_nt, .eta = {.status = status}, .interval = interval};
}

utilization::GlobalEta Global(int64_t n_tele, int64_t n_nt, std::optional<EtaInterval> interval,
                              EtaStatus status = EtaStatus::kDefined) {
  return {.n_tele = n_tele, .n_nt = n_nt, .eta = {.status = status}, .interval = interval};
}

utilization::Estimate EstimateOf(std::vector<utilization::LocalEta> local,
                                 std::vector<utilization::GlobalEta> global) {
  utilization::Estimate e;
  e.key = {.sweep_id = 3, .scenario = "unseen_background", .source = "sim"};
  e.local = std::move(local);
  e.global = std::move(global);
  return e;
}

TEST(EvaluationNext, UncertaintyIsTheWidestInverseInterval) {
  const EstimateUncertainty u = UncertaintyOf(EstimateOf(
      {Local(1000, Inverse(0.05, 0.15))},
      {Global(100, 1000, Inverse(0.01, 0.2)), Global(200, 1000, Inverse(-0.021, 0.31))}));
  EXPECT_EQ(u.sweep_id, 3);
  EXPECT_EQ(u.scenario, "unseen_background");
  EXPECT_EQ(u.source, "sim");
  EXPECT_DOUBLE_EQ(u.widest_inverse_width, 0.31 - -0.021);
  EXPECT_EQ(u.widest_what, "global eta at N_tele=200, N_nt=1000: 1/eta interval [-0.021, 0.31]");
}

TEST(EvaluationNext, UncertaintyLocalCanBeTheWidest) {
  const EstimateUncertainty u = UncertaintyOf(
      EstimateOf({Local(500, Inverse(0.0, 0.1)), Local(1000, Inverse(-0.5, 0.5))},
                 {Global(200, 1000, Inverse(0.1, 0.2))}));
  EXPECT_EQ(u.widest_inverse_width, 1.0);
  EXPECT_EQ(u.widest_what, "local eta at N_t*=200, N_nt=1000: 1/eta interval [-0.5, 0.5]");
}

TEST(EvaluationNext, UncertaintyOfAnEtaWithoutIntervalIsInfinite) {
  const EstimateUncertainty u = UncertaintyOf(EstimateOf(
      {Local(1000, Inverse(-1, 1))},
      {Global(200, 1000, std::nullopt, EtaStatus::kTooFewPoints)}));
  EXPECT_EQ(u.widest_inverse_width, kInf);
  EXPECT_EQ(u.widest_what, "global eta at N_tele=200, N_nt=1000: no interval yet, "
                           "STATUS_TOO_FEW_POINTS");
}

TEST(EvaluationNext, UncertaintyNamesTheFirstOfSeveralWithoutInterval) {
  const EstimateUncertainty u = UncertaintyOf(
      EstimateOf({Local(500, std::nullopt, EtaStatus::kNoData),
                  Local(1000, std::nullopt, EtaStatus::kZeroBaseline)},
                 {Global(200, 1000, std::nullopt, EtaStatus::kTooFewPoints)}));
  EXPECT_EQ(u.widest_inverse_width, kInf);
  EXPECT_EQ(u.widest_what, "local eta at N_t*=200, N_nt=500: no interval yet, STATUS_NO_DATA");
}

TEST(EvaluationNext, UncertaintyOfAnEstimateWithoutEtasIsInfinite) {
  const EstimateUncertainty u = UncertaintyOf(EstimateOf({}, {}));
  EXPECT_EQ(u.widest_inverse_width, kInf);
  EXPECT_EQ(u.widest_what, "estimate: no local or global eta yet");
}

TEST(EvaluationNext, UncertaintyOfAComputedEstimate) {
  // A real estimate: three teleop points and one mixed point, 3 seeds x 10
  // trials, so every eta is defined and has an interval.
  utilization::Measurements m;
  int64_t trial_id = 0;
  auto add_point = [&](int64_t n_tele, int64_t n_nt, std::vector<int> successes_per_seed) {
    for (int seed = 0; seed < 3; ++seed) {
      for (int t = 0; t < 10; ++t) {
        m.trials.push_back({.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = seed},
                            .trial_id = ++trial_id,
                            .score = t < successes_per_seed[seed] ? 1.0 : 0.0});
      }
    }
  };
  add_point(50, 0, {2, 3, 2});
  add_point(100, 0, {3, 4, 4});
  add_point(200, 0, {5, 6, 5});
  add_point(200, 1000, {7, 6, 8});
  absl::StatusOr<utilization::Estimate> e = utilization::ComputeEstimate(
      {.sweep_id = 3, .scenario = "in_domain", .source = "sim"}, m, {.resamples = 200});
  ASSERT_TRUE(e.ok()) << e.status();

  double widest = -1;
  for (const utilization::LocalEta& l : e->local) {
    ASSERT_TRUE(l.interval.has_value());
    widest = std::max(widest, l.interval->inverse.upper - l.interval->inverse.lower);
  }
  for (const utilization::GlobalEta& g : e->global) {
    ASSERT_TRUE(g.interval.has_value());
    widest = std::max(widest, g.interval->inverse.upper - g.interval->inverse.lower);
  }
  const EstimateUncertainty u = UncertaintyOf(*e);
  EXPECT_TRUE(std::isfinite(u.widest_inverse_width));
  EXPECT_EQ(u.widest_inverse_width, widest);
  EXPECT_THAT(u.widest_what, HasSubstr("N_nt=1000: 1/eta interval ["));
}

EstimateUncertainty Uncertainty(int64_t sweep, std::string scenario, std::string source,
                                double width, std::string what = "") {
  if (what.empty()) what = "global eta at N_tele=200, N_nt=1000: 1/eta interval [0, 1]";
  return {.sweep_id = sweep,
          .scenario = std::move(scenario),
          .source = std::move(source),
          .widest_inverse_width = width,
          .widest_what = std::move(what)};
}

OpenRequest Request(int64_t id, int64_t sweep, std::string scenario, std::string source,
                    std::string platform = "") {
  const int64_t n_nt = source.empty() ? 0 : 1000;
  return {.request_id = id,
          .sweep_id = sweep,
          .scenario = std::move(scenario),
          .platform = std::move(platform),
          .source = std::move(source),
          .n_tele = 200,
          .n_nt = n_nt};
}

// The (sweep, scenario, platform) of each candidate, in ranked order.
std::vector<std::string> Order(const std::vector<BatchCandidate>& ranked) {
  std::vector<std::string> out;
  for (const BatchCandidate& c : ranked) {
    out.push_back(std::to_string(c.sweep_id) + "/" + c.scenario +
                  (c.platform.empty() ? "" : "@" + c.platform));
  }
  return out;
}

TEST(EvaluationNext, RankBatchesOfNothingIsEmpty) {
  EXPECT_TRUE(RankBatches({}, {Uncertainty(1, "a", "sim", 0.5)}).empty());
}

TEST(EvaluationNext, RankBatchesWidestIntervalFirst) {
  const std::vector<EstimateUncertainty> estimates = {
      Uncertainty(1, "in_domain", "sim", 0.10), Uncertainty(1, "unseen_background", "sim", 0.33),
      Uncertainty(1, "unseen_position", "sim", 0.20)};
  // in_domain has the most requests and the oldest, but the narrowest.
  const std::vector<OpenRequest> open = {
      Request(1, 1, "in_domain", "sim"), Request(2, 1, "in_domain", "sim"),
      Request(3, 1, "in_domain", "sim"), Request(4, 1, "unseen_position", "sim"),
      Request(5, 1, "unseen_background", "sim")};
  const std::vector<BatchCandidate> ranked = RankBatches(open, estimates);
  EXPECT_THAT(Order(ranked),
              ElementsAre("1/unseen_background", "1/unseen_position", "1/in_domain"));
  EXPECT_EQ(ranked[0].widest_inverse_width, 0.33);
  EXPECT_THAT(ranked[2].request_ids, ElementsAre(1, 2, 3));
}

TEST(EvaluationNext, RankBatchesTiesGoToMoreRequestsThenTheOldest) {
  const std::vector<EstimateUncertainty> estimates = {Uncertainty(1, "a", "sim", 0.5),
                                                      Uncertainty(1, "b", "sim", 0.5),
                                                      Uncertainty(1, "c", "sim", 0.5)};
  const std::vector<OpenRequest> open = {
      Request(10, 1, "a", "sim"), Request(11, 1, "b", "sim"), Request(12, 1, "b", "sim"),
      Request(9, 1, "c", "sim")};
  EXPECT_THAT(Order(RankBatches(open, estimates)), ElementsAre("1/b", "1/c", "1/a"));
}

TEST(EvaluationNext, RankBatchesInfiniteBeforeFinite) {
  // No estimate stored for scenario b yet: its first results are worth most.
  const std::vector<OpenRequest> open = {Request(1, 1, "a", "sim"), Request(2, 1, "a", "sim"),
                                         Request(3, 1, "b", "sim")};
  const std::vector<BatchCandidate> ranked =
      RankBatches(open, {Uncertainty(1, "a", "sim", 1e300)});
  EXPECT_THAT(Order(ranked), ElementsAre("1/b", "1/a"));
  EXPECT_EQ(ranked[0].widest_inverse_width, kInf);
  EXPECT_EQ(ranked[0].widest_estimate, "sim: estimate: not stored yet");
}

TEST(EvaluationNext, RankBatchesNanWidthCountsAsInfinite) {
  const std::vector<OpenRequest> open = {Request(1, 1, "a", "sim"), Request(2, 1, "b", "sim")};
  const std::vector<BatchCandidate> ranked =
      RankBatches(open, {Uncertainty(1, "a", "sim", 0.5),
                         Uncertainty(1, "b", "sim", std::numeric_limits<double>::quiet_NaN())});
  EXPECT_THAT(Order(ranked), ElementsAre("1/b", "1/a"));
  EXPECT_EQ(ranked[0].widest_inverse_width, kInf);
}

TEST(EvaluationNext, RankBatchesGroupsBySweepScenarioAndPlatform) {
  const std::vector<OpenRequest> open = {
      Request(1, 1, "a", "sim", "aloha"), Request(2, 1, "a", "sim", "franka"),
      Request(3, 1, "a", "sim", "aloha"), Request(4, 2, "a", "sim", "aloha"),
      Request(5, 1, "b", "sim", "aloha")};
  const std::vector<BatchCandidate> ranked = RankBatches(
      open, {Uncertainty(1, "a", "sim", 0.5), Uncertainty(1, "b", "sim", 0.5),
             Uncertainty(2, "a", "sim", 0.5)});
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_THAT(Order(ranked), ElementsAre("1/a@aloha", "1/a@franka", "2/a@aloha", "1/b@aloha"));
  EXPECT_THAT(ranked[0].request_ids, ElementsAre(1, 3));
  EXPECT_EQ(ranked[0].platform, "aloha");
  EXPECT_THAT(ranked[0].reason, HasSubstr("a of sweep 1 on aloha: 2 policies waiting"));
}

TEST(EvaluationNext, RankBatchesWidthIsTheWidestEstimateItsRequestsInform) {
  // Requests of two sources in one scenario: the batch's width is the wider.
  const std::vector<OpenRequest> open = {Request(1, 1, "a", "sim"),
                                         Request(2, 1, "a", "human_video")};
  const std::vector<BatchCandidate> ranked =
      RankBatches(open, {Uncertainty(1, "a", "sim", 0.2),
                         Uncertainty(1, "a", "human_video", 0.7, "local eta at N_t*=200, "
                                                                 "N_nt=500: 1/eta interval "
                                                                 "[-0.3, 0.4]"),
                         Uncertainty(1, "a", "unrelated", 5.0)});
  ASSERT_EQ(ranked.size(), 1u);
  EXPECT_EQ(ranked[0].widest_inverse_width, 0.7);
  EXPECT_EQ(ranked[0].widest_estimate,
            "human_video: local eta at N_t*=200, N_nt=500: 1/eta interval [-0.3, 0.4]");
}

TEST(EvaluationNext, TeleopOnlyRequestInformsEverySourcesEstimate) {
  // A teleop-only run (source "") is every source's baseline.
  const std::vector<EstimateUncertainty> estimates = {
      Uncertainty(1, "a", "sim", 0.2), Uncertainty(1, "a", "human_video", 0.9),
      Uncertainty(1, "b", "sim", 0.5), Uncertainty(2, "a", "sim", 3.0)};
  const std::vector<BatchCandidate> ranked =
      RankBatches({Request(1, 1, "a", ""), Request(2, 1, "b", "sim")}, estimates);
  EXPECT_THAT(Order(ranked), ElementsAre("1/a", "1/b"));
  EXPECT_EQ(ranked[0].widest_inverse_width, 0.9);
  EXPECT_THAT(ranked[0].widest_estimate, testing::StartsWith("human_video: "));
}

TEST(EvaluationNext, TeleopOnlyRequestWithNoEstimateStoredIsInfinite) {
  const std::vector<BatchCandidate> ranked =
      RankBatches({Request(7, 4, "a", "")}, {Uncertainty(4, "other", "sim", 0.2)});
  ASSERT_EQ(ranked.size(), 1u);
  EXPECT_EQ(ranked[0].widest_inverse_width, kInf);
  EXPECT_EQ(ranked[0].widest_estimate, "every source: estimate: not stored yet");
  EXPECT_EQ(ranked[0].reason,
            "a of sweep 4: 1 policy waiting; it informs every source's estimate "
            "(not stored yet), which counts as infinitely wide");
}

TEST(EvaluationNext, ReasonNamesTheWidestInterval) {
  std::vector<OpenRequest> open;
  for (int64_t id = 1; id <= 9; ++id) open.push_back(Request(id, 3, "unseen_background", "sim"));
  const EstimateUncertainty u = UncertaintyOf(
      EstimateOf({Local(1000, Inverse(0.05, 0.15))}, {Global(200, 1000, Inverse(-0.021, 0.31))}));
  const std::vector<BatchCandidate> ranked = RankBatches(open, {u});
  ASSERT_EQ(ranked.size(), 1u);
  EXPECT_EQ(ranked[0].reason,
            "unseen_background of sweep 3: 9 policies waiting; they inform sim's global eta at "
            "N_tele=200, N_nt=1000, whose 1/eta interval [-0.021, 0.31] is the widest "
            "(width 0.331)");
  EXPECT_EQ(ranked[0].widest_estimate,
            "sim: global eta at N_tele=200, N_nt=1000: 1/eta interval [-0.021, 0.31]");
}

TEST(EvaluationNext, ReasonForAnEtaWithoutInterval) {
  const EstimateUncertainty u = UncertaintyOf(EstimateOf(
      {Local(1000, std::nullopt, EtaStatus::kNoData)}, {Global(200, 1000, Inverse(0, 1))}));
  const std::vector<BatchCandidate> ranked =
      RankBatches({Request(1, 3, "unseen_background", "sim"),
                   Request(2, 3, "unseen_background", "sim")},
                  {u});
  ASSERT_EQ(ranked.size(), 1u);
  EXPECT_EQ(ranked[0].reason,
            "unseen_background of sweep 3: 2 policies waiting; they inform sim's local eta at "
            "N_t*=200, N_nt=1000 (no interval yet, STATUS_NO_DATA), which counts as infinitely "
            "wide");
}

TEST(EvaluationNext, RankBatchesDoesNotDependOnInputOrder) {
  std::vector<OpenRequest> open = {
      Request(5, 1, "a", "sim"), Request(3, 1, "a", ""),     Request(8, 1, "b", "sim"),
      Request(1, 2, "a", "sim"), Request(2, 1, "a", "video"), Request(9, 1, "b", "sim", "x")};
  const std::vector<EstimateUncertainty> estimates = {
      Uncertainty(1, "a", "sim", 0.4), Uncertainty(1, "a", "video", 0.4),
      Uncertainty(1, "b", "sim", 0.4), Uncertainty(2, "a", "sim", 0.4)};
  const std::vector<BatchCandidate> expected = RankBatches(open, estimates);
  std::reverse(open.begin(), open.end());
  std::vector<EstimateUncertainty> reversed(estimates.rbegin(), estimates.rend());
  const std::vector<BatchCandidate> got = RankBatches(open, reversed);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sweep_id, expected[i].sweep_id);
    EXPECT_EQ(got[i].scenario, expected[i].scenario);
    EXPECT_EQ(got[i].platform, expected[i].platform);
    EXPECT_EQ(got[i].request_ids, expected[i].request_ids);
    EXPECT_EQ(got[i].widest_estimate, expected[i].widest_estimate);
    EXPECT_EQ(got[i].reason, expected[i].reason);
  }
  // Equal widths (0.4 from sim and video): the source first by name is named.
  EXPECT_EQ(expected[0].scenario, "a");
  EXPECT_THAT(expected[0].request_ids, ElementsAre(2, 3, 5));
  EXPECT_THAT(expected[0].widest_estimate, testing::StartsWith("sim: "));
}

TEST(EvaluationNext, RankBatchesRequestIdsAscendingWithoutDuplicates) {
  const std::vector<BatchCandidate> ranked =
      RankBatches({Request(30, 1, "a", "sim"), Request(10, 1, "a", "sim"),
                   Request(20, 1, "a", "sim"), Request(10, 1, "a", "sim")},
                  {Uncertainty(1, "a", "sim", 0.5)});
  ASSERT_EQ(ranked.size(), 1u);
  EXPECT_THAT(ranked[0].request_ids, ElementsAre(10, 20, 30));
}

// Golden values from an independent Python implementation of SplitMix64,
// Lemire's bounded draw and the same Fisher-Yates (i from n down to 2,
// j = Below(i), swap a[i-1] and a[j]) over the sorted ids.
TEST(EvaluationNext, BlindOrderGolden) {
  EXPECT_THAT(BlindOrder({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 20240607),
              ElementsAre(6, 3, 9, 5, 10, 7, 2, 8, 1, 4));
  EXPECT_THAT(BlindOrder({101, 205, 307, 409, 511}, 0), ElementsAre(307, 409, 101, 205, 511));
  EXPECT_THAT(BlindOrder({5, 3}, 1), ElementsAre(3, 5));
  EXPECT_THAT(BlindOrder({5, 3}, 3), ElementsAre(5, 3));
}

TEST(EvaluationNext, BlindOrderDependsOnTheSetNotTheInputOrder) {
  EXPECT_EQ(BlindOrder({10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 20240607),
            BlindOrder({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 20240607));
}

TEST(EvaluationNext, BlindOrderIsAPermutation) {
  const std::vector<int64_t> ids = {4, 8, 15, 16, 23, 42, 108};
  for (uint64_t seed = 0; seed < 50; ++seed) {
    EXPECT_THAT(BlindOrder(ids, seed), UnorderedElementsAreArray(ids)) << "seed " << seed;
  }
  EXPECT_TRUE(BlindOrder({}, 7).empty());
  EXPECT_THAT(BlindOrder({42}, 7), ElementsAre(42));
}

TEST(EvaluationNext, BlindOrderCoversEveryPermutationEvenly) {
  // 6,000 fixed seeds over 3 ids: each of the 6 orders about 1,000 times
  // (binomial sd ~29; the bounds are over 5 sd away). Deterministic.
  std::map<std::vector<int64_t>, int> counts;
  for (uint64_t seed = 0; seed < 6000; ++seed) ++counts[BlindOrder({1, 2, 3}, seed)];
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [order, count] : counts) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

}  // namespace
}  // namespace mixsweep::evaluation
