// The utilization engine on a 1,000-run sweep: 10 N_tele x 10 N_nt (one
// teleop-only, nine of one source) x 10 seeds, 10 trials per run and
// scenario, 3 scenarios; 2,000 bootstrap resamples per estimate.
//
//   build-rel/bench/utilization_bench --benchmark_min_time=1
//
// BM_FullEstimate computes the 3 estimates (one per scenario) of the sweep,
// as the service does when it recomputes everything; BM_OneEstimate is the
// cost of the recomputation that one committed trial triggers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "scheduler/utilization/budget.h"
#include "scheduler/utilization/estimate.h"
#include "scheduler/utilization/measurements.h"
#include "scheduler/utilization/rng.h"

namespace mixsweep::utilization {
namespace {

// Bernoulli trials around S = 0.02 (N_t + N_nt / 8)^0.6, capped at 1.
Measurements Scenario(uint64_t seed) {
  SplitMix64 rng(seed);
  Measurements m;
  int64_t trial_id = 0;
  for (int64_t i = 1; i <= 10; ++i) {
    const int64_t n_tele = 20 * i;
    for (int64_t j = 0; j < 10; ++j) {
      const int64_t n_nt = 200 * j;
      const double s = std::min(1.0, 0.02 * std::pow(n_tele + n_nt / 8.0, 0.6));
      for (int64_t run_seed = 0; run_seed < 10; ++run_seed) {
        for (int t = 0; t < 10; ++t) {
          m.trials.push_back({.run = {n_tele, n_nt, run_seed},
                              .trial_id = ++trial_id,
                              .score = rng.UnitDouble() < s ? 1.0 : 0.0});
        }
      }
    }
  }
  return m;
}

const std::vector<std::string> kScenarios{"in_domain", "unseen_background",
                                          "unseen_position"};

void BM_FullEstimate(benchmark::State& state) {
  std::vector<Measurements> scenarios;
  for (uint64_t i = 0; i < kScenarios.size(); ++i)
    scenarios.push_back(Scenario(i));
  const EstimateParams params{.resamples = static_cast<int>(state.range(0))};
  for (auto _ : state) {
    for (std::size_t i = 0; i < kScenarios.size(); ++i) {
      auto e = ComputeEstimate(
          {.sweep_id = 1, .scenario = kScenarios[i], .source = "sim"},
          scenarios[i], params);
      benchmark::DoNotOptimize(e);
    }
  }
  state.counters["runs"] = 1000;
  state.counters["trials"] = 30000;
}
BENCHMARK(BM_FullEstimate)->Arg(2000)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_OneEstimate(benchmark::State& state) {
  const Measurements m = Scenario(0);
  const EstimateParams params{.resamples = 2000,
                              .keep_model_resamples = state.range(0) != 0};
  for (auto _ : state) {
    auto e = ComputeEstimate(
        {.sweep_id = 1, .scenario = "in_domain", .source = "sim"}, m, params);
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_OneEstimate)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_RecommendMix(benchmark::State& state) {
  const auto e = ComputeEstimate(
      {.sweep_id = 1, .scenario = "in_domain", .source = "sim"}, Scenario(0),
      {.resamples = 2000, .keep_model_resamples = true});
  for (auto _ : state) {
    auto r = RecommendFromEstimate(
        *e,
        {.budget_hours = 40, .cost_tele_hours = 0.02, .cost_nt_hours = 0.001});
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RecommendMix)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mixsweep::utilization

BENCHMARK_MAIN();
