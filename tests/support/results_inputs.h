// The inputs of a scenario's estimates rebuilt from what ListResults serves
// (its runs and their current trials), so that tests can recompute the
// estimates from scratch with the engine and compare them with the served
// ones bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>

#include "mixsweep/v1/evaluation.pb.h"
#include "scheduler/evaluation/estimate_store.h"

namespace mixsweep::testing {

inline evaluation::ScenarioInputs InputsFromResults(const v1::ListResultsResponse& results,
                                                    int64_t sweep_id,
                                                    const std::string& scenario) {
  evaluation::ScenarioInputs in{.sweep_id = sweep_id, .scenario = scenario};
  std::set<std::string> sources;
  std::set<int64_t> runs;
  for (const v1::ScenarioResult& r : results.results()) {
    if (!r.source().empty()) sources.insert(r.source());
    if (runs.insert(r.run_id()).second) {
      in.runs.push_back({.run_id = r.run_id(),
                         .n_tele = r.n_tele(),
                         .source = r.source(),
                         .n_nt = r.n_nt(),
                         .seed = r.seed()});
    }
    if (r.scenario() != scenario) continue;
    for (const v1::Trial& t : r.trials()) {
      in.trials.push_back({.trial_id = t.id(),
                           .run_id = t.run_id(),
                           .request_id = t.request_id(),
                           .score = t.score()});
      in.last_trial_id = std::max(in.last_trial_id, t.id());
    }
  }
  in.sources.assign(sources.begin(), sources.end());
  std::sort(in.trials.begin(), in.trials.end(),
            [](const auto& a, const auto& b) { return a.trial_id < b.trial_id; });
  return in;
}

}  // namespace mixsweep::testing
