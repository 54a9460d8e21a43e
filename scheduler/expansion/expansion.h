// Sweep expansion and extension: pure functions from specs to job graphs.
//
// Example:
//   plan::SweepPlan plan = plan::ExpandSweep(spec);
//   // Pick Dual Bottles, N_tele {50,100,200}, sim N_nt {0,1000}, 3 seeds:
//   // plan.runs.size() == 18, plan.jobs.size() == 21.
//
//   auto added = plan::PlanExtension(stored_spec, new_spec);
//   // added->runs / added->jobs: only what is new; finetunes may depend on
//   // pretrain keys that already exist in the stored plan.
#pragma once

#include "absl/status/statusor.h"
#include "scheduler/expansion/sweep_plan.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::plan {

// Expands a validated spec. Deterministic: the same spec gives the same plan,
// keys, order and subsets on every machine.
SweepPlan ExpandSweep(const spec::SweepSpec& spec);

// What extending `stored` to `updated` adds. An extension may only add N_tele
// values, N_nt values (to existing sources or in new sources) and seeds;
// everything else must be unchanged. Violations are INVALID_ARGUMENT naming
// the field, e.g. "teleop.n_tele: 100 was removed; extend only adds values".
absl::StatusOr<SweepPlan> PlanExtension(const spec::SweepSpec& stored,
                                        const spec::SweepSpec& updated);

// GPU-steps the plan runs, and what it would run without shared pretrains.
struct SharingSavings {
  int64_t gpu_steps_shared = 0;
  int64_t gpu_steps_unshared = 0;
};
SharingSavings ComputeSharingSavings(const spec::SweepSpec& spec,
                                     const SweepPlan& plan);

}  // namespace mixsweep::plan
