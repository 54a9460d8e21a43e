// The cost of each run of a sweep (scheduler/evaluation/run_costs.h): the
// spec's collection costs, measured GPU-hours, a shared pretrain split.
#include "scheduler/evaluation/run_costs.h"

#include <gtest/gtest.h>

#include "scheduler/spec/spec_parser.h"
#include "tests/support/example_specs.h"

namespace mixsweep::evaluation {
namespace {

using scheduler::JobRecord;
using scheduler::JobState;
using scheduler::RunRecord;

RunRecord MakeRun(int64_t id, int64_t n_tele, const std::string& source, int64_t n_nt,
              std::vector<int64_t> jobs) {
  RunRecord r;
  r.id = id;
  r.run.n_tele = n_tele;
  r.run.source = source;
  r.run.n_nt = n_nt;
  if (jobs.size() == 1) {
    r.train_job_id = jobs[0];
  } else {
    r.pretrain_job_id = jobs[0];
    r.finetune_job_id = jobs[1];
  }
  return r;
}

JobRecord Job(int64_t id, JobState state, double gpu_seconds) {
  JobRecord j;
  j.id = id;
  j.state = state;
  j.gpu_seconds = gpu_seconds;
  return j;
}

TEST(EvaluationRunCosts, CollectionFromTheSpecGpuHoursMeasuredAndASharedPretrainSplit) {
  auto spec = spec::ParseSweepSpec(testing::kPickDualBottlesYaml);
  ASSERT_TRUE(spec.ok()) << spec.status();
  // A baseline run (job 1), two mixed runs sharing the pretrain (job 2).
  const std::vector<RunRecord> runs = {MakeRun(10, 50, "", 0, {1}),
                                       MakeRun(11, 50, "sim", 1000, {2, 3}),
                                       MakeRun(12, 100, "sim", 1000, {2, 4})};
  const std::vector<JobRecord> jobs = {
      Job(1, JobState::kSucceeded, 3600), Job(2, JobState::kSucceeded, 7200),
      Job(3, JobState::kSucceeded, 1800), Job(4, JobState::kRunning, 0)};
  auto costs = ComputeSweepRunCosts(spec->spec, runs, jobs);
  ASSERT_TRUE(costs.ok()) << costs.status();
  ASSERT_EQ(costs->size(), 3u);
  EXPECT_DOUBLE_EQ((*costs)[0].collection_hours, 50 * 0.02);
  EXPECT_DOUBLE_EQ((*costs)[0].gpu_hours, 1.0);
  EXPECT_TRUE((*costs)[0].gpu_hours_complete);
  EXPECT_DOUBLE_EQ((*costs)[1].collection_hours, 50 * 0.02 + 1000 * 0.000625);
  // Half the shared pretrain (2 h / 2) plus its own finetune (0.5 h).
  EXPECT_DOUBLE_EQ((*costs)[1].gpu_hours, 1.0 + 0.5);
  // Its finetune is still running: no measured hours yet, marked incomplete.
  EXPECT_DOUBLE_EQ((*costs)[2].gpu_hours, 1.0);
  EXPECT_FALSE((*costs)[2].gpu_hours_complete);
}

}  // namespace
}  // namespace mixsweep::evaluation
