// What each run of a sweep cost so far (SPEC.md "Costs"): the spec's
// collection costs per demo and the GPU-hours its jobs measured, a shared
// pretrain split equally among the runs that use it. Pure: the caller reads
// the runs and jobs; utilization/cost.h does the arithmetic.
//
//   auto costs = ComputeSweepRunCosts(spec, runs, jobs);
//   // (*costs)[i].collection_hours, .gpu_hours, .money for runs[i]
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/records.h"
#include "scheduler/spec/sweep_spec.h"
#include "scheduler/utilization/cost.h"

namespace mixsweep::evaluation {

// One RunCost per run, in the order of `runs`. Jobs that have not run have
// no measured hours: their runs' gpu_hours_complete is false.
absl::StatusOr<std::vector<utilization::RunCost>> ComputeSweepRunCosts(
    const spec::SweepSpec& spec, std::span<const scheduler::RunRecord> runs,
    std::span<const scheduler::JobRecord> jobs);

// The spec with each generated source's collection cost per demo replaced
// by the one its generate job measured (GenerationRecord::
// measured_cost_per_demo_hours), where one is recorded: what the cost
// columns and the budget recommendation use.
spec::SweepSpec WithMeasuredCollectionCosts(
    const spec::SweepSpec& spec, std::span<const scheduler::GenerationRecord> generations);

}  // namespace mixsweep::evaluation
