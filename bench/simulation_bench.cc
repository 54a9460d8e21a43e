// Seed 001's protocol, the pure parts on the hot path:
// - the worker parsing an evaluation's result file (1,000 episodes, each
//   format), once per evaluate job;
// - the recomputer's checkpoint aggregation (MeasurementsBySource) on a
//   Fig.-5-sized scaling sweep grown to 1,000 runs x 5 checkpoints x 50
//   episodes (250,000 trials), under `last` and `max_over_checkpoints`,
//   once per recomputation of a scenario.
// Numbers: docs/PERFORMANCE.md ("Seed 001").
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/evaluation/estimate_inputs.h"
#include "workers/result_files.h"

namespace mixsweep {
namespace {

std::string ResultFile(workers::EvaluationFormat format, int episodes) {
  std::vector<workers::EpisodeResult> out;
  for (int i = 0; i < episodes; ++i) {
    const bool success = (i * 7919) % 10 < 6;
    out.push_back({.index = i,
                   .success = success,
                   .score = success ? 1.0 : 0.0,
                   .seed = 100000 + i,
                   .sum_reward = success ? 3.0 : 0.5,
                   .max_reward = success ? 1.0 : 0.25});
  }
  return workers::WriteEvaluationResult(format, out);
}

void BM_ParseResultFile(benchmark::State& state) {
  const auto format = static_cast<workers::EvaluationFormat>(state.range(0));
  const std::string text = ResultFile(format, 1000);
  const std::string name(workers::EvaluationFormatName(format));
  for (auto _ : state) {
    auto episodes = workers::ParseEvaluationResult(name, text, 1000, "eval.json");
    if (!episodes.ok()) state.SkipWithError(std::string(episodes.status().message()).c_str());
    benchmark::DoNotOptimize(episodes);
  }
  state.SetLabel(name);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * text.size());
}
BENCHMARK(BM_ParseResultFile)
    ->Arg(static_cast<int>(workers::EvaluationFormat::kLerobot))
    ->Arg(static_cast<int>(workers::EvaluationFormat::kDiffusionPolicy))
    ->Arg(static_cast<int>(workers::EvaluationFormat::kMixsweep))
    ->Unit(benchmark::kMicrosecond);

evaluation::ScenarioInputs ScalingInputs(spec::Aggregation aggregation) {
  constexpr int kRuns = 1000, kCheckpoints = 5, kEpisodes = 50;
  evaluation::ScenarioInputs in;
  in.sweep_id = 1;
  in.scenario = "sim";
  in.sources = {"mimicgen"};
  in.aggregation = aggregation;
  in.simulated = true;
  int64_t request = 1, trial = 1;
  for (int r = 0; r < kRuns; ++r) {
    in.runs.push_back({.run_id = r + 1, .n_tele = 0, .source = "mimicgen",
                       .n_nt = 100 * (1 + r / 10), .seed = r % 10});
    for (int c = 0; c < kCheckpoints; ++c, ++request) {
      in.requests.push_back({.request_id = request, .run_id = r + 1,
                             .checkpoint_step = 1000 * (c + 1), .complete = true});
      for (int e = 0; e < kEpisodes; ++e) {
        in.trials.push_back({.trial_id = trial++, .run_id = r + 1, .request_id = request,
                             .score = (e + c + r) % 3 == 0 ? 1.0 : 0.0});
      }
    }
  }
  return in;
}

void BM_AggregateCheckpoints(benchmark::State& state) {
  const auto aggregation = state.range(0) == 0 ? spec::Aggregation::kLast
                                               : spec::Aggregation::kMaxOverCheckpoints;
  const evaluation::ScenarioInputs in = ScalingInputs(aggregation);
  for (auto _ : state) {
    auto measurements = evaluation::MeasurementsBySource(in);
    benchmark::DoNotOptimize(measurements);
  }
  state.SetLabel(spec::AggregationName(aggregation));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * in.trials.size());
}
BENCHMARK(BM_AggregateCheckpoints)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mixsweep

BENCHMARK_MAIN();
