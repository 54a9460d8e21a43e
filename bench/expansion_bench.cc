// ExpandSweep on the paper's sweep and on a 10,000-run sweep.
//
//   build/bench/expansion_bench --benchmark_min_time=0.2
//
// Counters: runs and jobs per plan, and jobs/s: planned jobs (subsets
// included) per CPU second, Google Benchmark's default basis for rates, which
// a loaded machine disturbs less than wall time.
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "scheduler/expansion/expansion.h"

namespace mixsweep::plan {
namespace {

spec::CommandTemplate Command(const std::string& stage) {
  spec::CommandTemplate command;
  command.argv = {"python",
                  "train.py",
                  "--stage=" + stage,
                  "--data={dataset}",
                  "--subset={subset_manifest}",
                  "--steps={steps}",
                  "--seed={seed}",
                  "--out={output_dir}"};
  if (stage == "finetune") command.argv.push_back("--init={init_checkpoint}");
  return command;
}

spec::Source Source(const std::string& name, int64_t episodes,
                    std::vector<int64_t> n_nt) {
  spec::Source source;
  source.name = name;
  source.dataset = {.uri = "s3://lab/" + name,
                    .content_hash = "sha256:" + name,
                    .episodes = episodes};
  source.n_nt = std::move(n_nt);
  return source;
}

spec::SweepSpec BaseSpec(int64_t teleop_episodes) {
  spec::SweepSpec spec;
  spec.name = "bench";
  spec.teleop.dataset = {.uri = "s3://lab/teleop",
                         .content_hash = "sha256:teleop",
                         .episodes = teleop_episodes};
  spec.protocol = {
      .total_steps = 13000, .pretrain_steps = 10000, .finetune_steps = 3000};
  spec.templates = {.train = Command("train"),
                    .pretrain = Command("pretrain"),
                    .finetune = Command("finetune")};
  return spec;
}

// Seed 000's Pick Dual Bottles matrix: N_tele {50, 100, 200}, simulation
// N_nt {0, 1000}, human video N_nt 500, 3 seeds: 27 runs, 33 jobs.
spec::SweepSpec PaperSweep() {
  spec::SweepSpec spec = BaseSpec(/*teleop_episodes=*/200);
  spec.teleop.n_tele = {50, 100, 200};
  spec.sources = {Source("sim", 1000, {0, 1000}), Source("human", 500, {500})};
  spec.seeds = {0, 1, 2};
  return spec;
}

// 10 N_tele x (baseline + 9 mixed) x 100 seeds = 10,000 runs; 1,000 train,
// 900 pretrain and 9,000 finetune jobs.
spec::SweepSpec TenThousandRuns() {
  spec::SweepSpec spec = BaseSpec(/*teleop_episodes=*/2000);
  spec.teleop.n_tele = {10, 20, 50, 100, 150, 200, 300, 500, 700, 1000};
  spec.sources = {Source("sim", 100000, {0, 500, 1000, 2000, 4000}),
                  Source("human", 5000, {250, 500, 1000}),
                  Source("sim_dr", 100000, {1000, 2000})};
  for (int64_t seed = 0; seed < 100; ++seed) spec.seeds.push_back(seed);
  return spec;
}

void ExpandBenchmark(benchmark::State& state, const spec::SweepSpec& spec) {
  size_t runs = 0;
  size_t jobs = 0;
  for (auto _ : state) {
    SweepPlan plan = ExpandSweep(spec);
    runs = plan.runs.size();
    jobs = plan.jobs.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["runs"] = static_cast<double>(runs);
  state.counters["jobs"] = static_cast<double>(jobs);
  state.counters["jobs/s"] = benchmark::Counter(
      static_cast<double>(jobs), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ExpandPaperSweep(benchmark::State& state) {
  ExpandBenchmark(state, PaperSweep());
}
BENCHMARK(BM_ExpandPaperSweep)->Unit(benchmark::kMicrosecond);

void BM_Expand10000Runs(benchmark::State& state) {
  ExpandBenchmark(state, TenThousandRuns());
}
BENCHMARK(BM_Expand10000Runs)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mixsweep::plan
