#include "scheduler/evaluation/run_costs.h"

namespace mixsweep::evaluation {

absl::StatusOr<std::vector<utilization::RunCost>> ComputeSweepRunCosts(
    const spec::SweepSpec& spec, std::span<const scheduler::RunRecord> runs,
    std::span<const scheduler::JobRecord> jobs) {
  std::vector<utilization::RunJobs> run_jobs;
  for (const scheduler::RunRecord& r : runs) {
    utilization::RunJobs rj{.run_id = r.id,
                            .source = r.run.source,
                            .key = {.n_tele = r.run.n_tele, .n_nt = r.run.n_nt, .seed = r.run.seed}};
    for (int64_t job : {r.train_job_id, r.pretrain_job_id, r.finetune_job_id}) {
      if (job != 0) rj.job_ids.push_back(job);
    }
    run_jobs.push_back(std::move(rj));
  }
  // Only jobs that ran have measured hours; the others leave their runs'
  // GPU-hours marked incomplete.
  std::vector<utilization::JobHours> hours;
  for (const scheduler::JobRecord& j : jobs) {
    if (j.state == scheduler::JobState::kSucceeded || j.gpu_seconds > 0) {
      hours.push_back({.job_id = j.id, .gpu_hours = j.gpu_seconds / 3600.0});
    }
  }
  utilization::CostRates rates{.tele_hours_per_demo = spec.teleop.cost_per_demo_hours,
                               .collection_hour_price = spec.costs.collection_hour_price,
                               .gpu_hour_price = spec.costs.gpu_hour_price};
  for (const spec::Source& source : spec.sources) {
    rates.nt_by_source[source.name] = {.spec_hours_per_demo = source.cost_per_demo_hours};
  }
  return utilization::ComputeRunCosts(run_jobs, hours, rates);
}

spec::SweepSpec WithMeasuredCollectionCosts(
    const spec::SweepSpec& spec, std::span<const scheduler::GenerationRecord> generations) {
  spec::SweepSpec measured = spec;
  for (spec::Source& source : measured.sources) {
    for (const scheduler::GenerationRecord& g : generations) {
      if (g.source == source.name && g.measured_cost_per_demo_hours() > 0) {
        source.cost_per_demo_hours = g.measured_cost_per_demo_hours();
      }
    }
  }
  return measured;
}

}  // namespace mixsweep::evaluation
