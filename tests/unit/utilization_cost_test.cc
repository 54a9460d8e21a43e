// Run and curve-point costs: collection hours, shared GPU-hours, money.
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/cost.h"

namespace mixsweep::utilization {
namespace {

using ::testing::HasSubstr;

CostRates Rates() {
  return {.tele_hours_per_demo = 0.02,
          .nt_by_source = {{"sim", {.spec_hours_per_demo = 0.001}},
                           {"human_video",
                            {.spec_hours_per_demo = 0.005,
                             .measured_hours_per_demo = 0.004}}}};
}

// SPEC.md's example: N_tele in {50, 100}, sim N_nt in {0, 1000}, 2 seeds.
// Teleop-only runs have a train job; mixed runs share the pretrain of their
// seed (jobs 100 + seed) and have their own finetune.
std::vector<RunJobs> Runs() {
  std::vector<RunJobs> runs;
  int64_t id = 0, job = 1;
  for (int64_t seed : {0, 1}) {
    for (int64_t n_tele : {50, 100}) {
      runs.push_back(
          {.run_id = ++id, .key = {n_tele, 0, seed}, .job_ids = {job++}});
      runs.push_back({.run_id = ++id,
                      .source = "sim",
                      .key = {n_tele, 1000, seed},
                      .job_ids = {100 + seed, job++}});
    }
  }
  return runs;
}

TEST(UtilizationCostTest, CollectionHours) {
  absl::StatusOr<std::vector<RunCost>> costs =
      ComputeRunCosts(Runs(), {}, Rates());
  ASSERT_TRUE(costs.ok()) << costs.status();
  EXPECT_DOUBLE_EQ((*costs)[0].collection_hours, 50 * 0.02);
  EXPECT_DOUBLE_EQ((*costs)[1].collection_hours, 50 * 0.02 + 1000 * 0.001);
  // No GPU-hours measured yet.
  EXPECT_FALSE((*costs)[0].gpu_hours_complete);
  EXPECT_EQ((*costs)[0].gpu_hours, 0.0);
  EXPECT_EQ((*costs)[0].money, 0.0);
}

TEST(UtilizationCostTest, MeasuredNonTeleopCostWins) {
  const std::vector<RunJobs> runs{{.run_id = 1,
                                   .source = "human_video",
                                   .key = {100, 500, 0},
                                   .job_ids = {}}};
  absl::StatusOr<std::vector<RunCost>> costs =
      ComputeRunCosts(runs, {}, Rates());
  ASSERT_TRUE(costs.ok());
  EXPECT_DOUBLE_EQ((*costs)[0].collection_hours, 100 * 0.02 + 500 * 0.004);
}

TEST(UtilizationCostTest, SharedPretrainIsSplitEqually) {
  std::vector<JobHours> hours;
  for (int64_t job = 1; job <= 8; ++job) hours.push_back({job, 1.0});
  hours.push_back({100, 6.0});  // seed 0's pretrain: two finetunes share it
  hours.push_back({101, 4.0});
  CostRates rates = Rates();
  rates.gpu_hour_price = 2.0;
  rates.collection_hour_price = 10.0;
  absl::StatusOr<std::vector<RunCost>> costs =
      ComputeRunCosts(Runs(), hours, rates);
  ASSERT_TRUE(costs.ok());
  const RunCost& teleop = (*costs)[0];  // (50, 0, seed 0)
  const RunCost& mixed = (*costs)[1];   // (50, 1000, seed 0)
  EXPECT_DOUBLE_EQ(teleop.gpu_hours, 1.0);
  EXPECT_DOUBLE_EQ(mixed.gpu_hours, 1.0 + 6.0 / 2);
  EXPECT_TRUE(mixed.gpu_hours_complete);
  EXPECT_DOUBLE_EQ(mixed.money, (1.0 + 1.0) * 10.0 + 4.0 * 2.0);
  EXPECT_DOUBLE_EQ((*costs)[5].gpu_hours, 1.0 + 4.0 / 2);  // (50, 1000, seed 1)

  // Per point: the mean over seeds.
  const std::vector<PointCost> points = ComputePointCosts(*costs);
  ASSERT_EQ(points.size(), 4u);  // ("", 50, 0), ("", 100, 0), sim x 2
  EXPECT_EQ(points[0].source, "");
  EXPECT_EQ(points[0].point.n_tele, 50);
  const PointCost& sim50 = points[2];
  EXPECT_EQ(sim50.source, "sim");
  EXPECT_EQ(sim50.point.n_tele, 50);
  EXPECT_EQ(sim50.runs, 2);
  EXPECT_DOUBLE_EQ(sim50.gpu_hours, ((1.0 + 3.0) + (1.0 + 2.0)) / 2);
  EXPECT_DOUBLE_EQ(sim50.collection_hours, 2.0);
  EXPECT_TRUE(sim50.gpu_hours_complete);
}

TEST(UtilizationCostTest, ValidatesInputs) {
  CostRates bad = Rates();
  bad.tele_hours_per_demo = -1;
  EXPECT_THAT(ComputeRunCosts(Runs(), {}, bad).status().message(),
              HasSubstr("rates.tele_hours_per_demo"));
  bad = Rates();
  bad.gpu_hour_price = -3;
  EXPECT_THAT(ComputeRunCosts(Runs(), {}, bad).status().message(),
              HasSubstr("rates.gpu_hour_price"));
  const std::vector<JobHours> twice{{1, 1.0}, {1, 2.0}};
  EXPECT_THAT(ComputeRunCosts(Runs(), twice, Rates()).status().message(),
              HasSubstr("job_hours[1].job_id"));
  const std::vector<JobHours> negative{{1, -1.0}};
  EXPECT_THAT(ComputeRunCosts(Runs(), negative, Rates()).status().message(),
              HasSubstr("job_hours[0].gpu_hours"));
  const std::vector<RunJobs> unknown{
      {.run_id = 1, .source = "lidar", .key = {10, 5, 0}, .job_ids = {}}};
  EXPECT_THAT(ComputeRunCosts(unknown, {}, Rates()).status().message(),
              HasSubstr("runs[0].source"));
  const std::vector<RunJobs> dup{
      {.run_id = 1, .key = {10, 0, 0}, .job_ids = {3, 3}}};
  EXPECT_THAT(ComputeRunCosts(dup, {}, Rates()).status().message(),
              HasSubstr("runs[0].job_ids"));
}

}  // namespace
}  // namespace mixsweep::utilization
