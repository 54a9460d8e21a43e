// The keys of a plan's runs and jobs, in plan order: what the expansion
// tests compare.
#pragma once

#include <string>
#include <vector>

#include "scheduler/expansion/sweep_plan.h"

namespace mixsweep::plan::testing {

inline std::vector<std::string> RunKeys(const SweepPlan& plan) {
  std::vector<std::string> keys;
  for (const PlannedRun& run : plan.runs) keys.push_back(run.key);
  return keys;
}

inline std::vector<std::string> JobKeys(const SweepPlan& plan, JobKind kind) {
  std::vector<std::string> keys;
  for (const PlannedJob& job : plan.jobs) {
    if (job.kind == kind) keys.push_back(job.key);
  }
  return keys;
}

}  // namespace mixsweep::plan::testing
