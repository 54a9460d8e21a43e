#include "scheduler/evaluation/estimate_inputs.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"

namespace mixsweep::evaluation {

std::vector<SourceMeasurements> MeasurementsBySource(const ScenarioInputs& inputs) {
  std::map<int64_t, const RunPoint*> runs;
  for (const RunPoint& run : inputs.runs) runs[run.run_id] = &run;

  // "last" aggregation: a run's latest evaluation request wins.
  std::map<int64_t, int64_t> latest_request;
  for (const ScoredTrialRef& t : inputs.trials) {
    int64_t& latest = latest_request[t.run_id];
    latest = std::max(latest, t.request_id);
  }

  std::vector<SourceMeasurements> out;
  out.reserve(inputs.sources.size());
  for (const std::string& source : inputs.sources) {
    SourceMeasurements m{.source = source};
    for (const ScoredTrialRef& t : inputs.trials) {
      auto run = runs.find(t.run_id);
      if (run == runs.end()) continue;
      const RunPoint& r = *run->second;
      if (!r.source.empty() && r.source != source) continue;
      if (t.request_id != latest_request[t.run_id]) continue;
      m.measurements.trials.push_back(
          {.run = {.n_tele = r.n_tele, .n_nt = r.source.empty() ? 0 : r.n_nt, .seed = r.seed},
           .trial_id = t.trial_id,
           .score = t.score});
      m.trial_ids.push_back(t.trial_id);
    }
    std::sort(m.trial_ids.begin(), m.trial_ids.end());
    out.push_back(std::move(m));
  }
  return out;
}

std::string TrialsDigest(const std::vector<int64_t>& ascending_trial_ids) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (int64_t id : ascending_trial_ids) {
    const uint64_t v = static_cast<uint64_t>(id);
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (v >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ULL;
    }
  }
  return absl::StrFormat("%016x", hash);
}

}  // namespace mixsweep::evaluation
