#include "scheduler/evaluation/estimate_inputs.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/str_format.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::evaluation {
namespace {

// The requests of each run; from the trials when the inputs list none.
std::map<int64_t, std::vector<RequestRef>> RequestsByRun(const ScenarioInputs& inputs) {
  std::map<int64_t, std::vector<RequestRef>> by_run;
  if (!inputs.requests.empty()) {
    for (const RequestRef& r : inputs.requests) by_run[r.run_id].push_back(r);
    return by_run;
  }
  std::map<int64_t, int64_t> seen;  // request -> run
  for (const ScoredTrialRef& t : inputs.trials) seen[t.request_id] = t.run_id;
  for (const auto& [request, run] : seen) {
    by_run[run].push_back({.request_id = request, .run_id = run, .checkpoint_step = 0,
                           .complete = true});
  }
  return by_run;
}

// The last checkpoint: the highest step, then the newest request.
int64_t LastRequest(const std::vector<RequestRef>& requests) {
  const RequestRef& last = *std::max_element(
      requests.begin(), requests.end(), [](const RequestRef& a, const RequestRef& b) {
        return std::tie(a.checkpoint_step, a.request_id) <
               std::tie(b.checkpoint_step, b.request_id);
      });
  return last.request_id;
}

}  // namespace

std::optional<double> AggregateCheckpoints(std::span<const CheckpointScore> checkpoints,
                                           spec::Aggregation aggregation) {
  if (checkpoints.empty()) return std::nullopt;
  if (aggregation == spec::Aggregation::kMaxOverCheckpoints) {
    return std::max_element(checkpoints.begin(), checkpoints.end(),
                            [](const CheckpointScore& a, const CheckpointScore& b) {
                              return a.s < b.s;
                            })
        ->s;
  }
  return std::max_element(checkpoints.begin(), checkpoints.end(),
                          [](const CheckpointScore& a, const CheckpointScore& b) {
                            return a.step < b.step;
                          })
      ->s;
}

spec::Aggregation EffectiveAggregation(const ScenarioInputs& inputs) {
  return inputs.simulated ? inputs.aggregation : spec::Aggregation::kLast;
}

std::vector<SourceMeasurements> MeasurementsBySource(const ScenarioInputs& inputs) {
  const spec::Aggregation aggregation = EffectiveAggregation(inputs);
  const std::map<int64_t, std::vector<RequestRef>> requests = RequestsByRun(inputs);
  std::map<int64_t, std::vector<const ScoredTrialRef*>> trials_by_request;
  for (const ScoredTrialRef& t : inputs.trials) trials_by_request[t.request_id].push_back(&t);

  std::vector<SourceMeasurements> out;
  out.reserve(inputs.sources.size());
  for (const std::string& source : inputs.sources) {
    SourceMeasurements m{.source = source};
    for (const RunPoint& r : inputs.runs) {
      if (!r.source.empty() && r.source != source) continue;
      auto run_requests = requests.find(r.run_id);
      if (run_requests == requests.end()) continue;
      const utilization::RunKey key{.n_tele = r.n_tele,
                                    .n_nt = r.source.empty() ? 0 : r.n_nt,
                                    .seed = r.seed};
      if (aggregation == spec::Aggregation::kLast) {
        auto trials = trials_by_request.find(LastRequest(run_requests->second));
        if (trials == trials_by_request.end()) continue;
        for (const ScoredTrialRef* t : trials->second) {
          m.measurements.trials.push_back({.run = key, .trial_id = t->trial_id, .score = t->score});
          m.trial_ids.push_back(t->trial_id);
        }
        continue;
      }
      // max_over_checkpoints: only a run whose every checkpoint is evaluated.
      std::vector<CheckpointScore> scores;
      std::vector<int64_t> ids;
      bool all_complete = true;
      for (const RequestRef& q : run_requests->second) {
        auto trials = trials_by_request.find(q.request_id);
        if (!q.complete || trials == trials_by_request.end()) {
          all_complete = false;
          break;
        }
        std::vector<double> values;
        for (const ScoredTrialRef* t : trials->second) {
          values.push_back(t->score);
          ids.push_back(t->trial_id);
        }
        scores.push_back({.step = q.checkpoint_step, .s = utilization::MeanAscending(values)});
      }
      if (!all_complete) continue;
      m.measurements.given.push_back(
          {.run = key, .s = *AggregateCheckpoints(scores, aggregation)});
      m.trial_ids.insert(m.trial_ids.end(), ids.begin(), ids.end());
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
