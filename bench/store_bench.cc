// The storage layer on a real PostgreSQL 15: SweepService::Submit (parse,
// expand, and PgSweepStore::CreateSweep's one transaction, committed) of
// sweeps of 18, 1,000 and 10,000 runs, and reading a 10,000-run sweep back.
//
//   build-store/bench/store_bench --benchmark_min_time=2
//   /usr/bin/time -v build-store/bench/store_bench   # peak RSS, server backends included
//   (the bench prints its own, client-only peak RSS at exit)
//
// The bench starts its own db::LocalCluster in a temporary directory with
// PostgreSQL's default settings (fsync and synchronous_commit on: a commit
// waits for its WAL flush), applies the migrations, and removes it all at
// exit. Times are wall clock (the work is mostly in the server process);
// counters: runs/s and jobs/s stored (or read) per wall second.
#include <ftw.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "benchmark/benchmark.h"
#include "db/connection_pool.h"
#include "db/local_cluster.h"
#include "db/migrations.h"
#include "db/pg_sweep_store.h"
#include "scheduler/sweep_service.h"

namespace mixsweep {
namespace {

// ---- Specs ------------------------------------------------------------------

struct SourceSpec {
  std::string name;
  std::string kind;  // simulation | human_video
  int64_t episodes;
  std::vector<int64_t> n_nt;
};

std::string List(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

std::string Template(const std::string& stage) {
  std::string argv =
      "[python, train.py, \"--stage=" + stage +
      "\", \"task.dataset_path={dataset}\", \"+task.dataset.episode_manifest={subset_manifest}\", "
      "\"training.max_train_steps={steps}\", \"training.seed={seed}\", "
      "\"hydra.run.dir={output_dir}\", \"logging.name={job_id}\"";
  if (stage == "finetune") argv += ", \"+training.init_checkpoint={init_checkpoint}\"";
  argv += "]";
  return absl::StrCat("  ", stage, ":\n    argv: ", argv,
                      "\n    env: {WANDB_MODE: offline}\n"
                      "    checkpoint: \"{output_dir}/checkpoints/latest.ckpt\"\n"
                      "    no_retry_exit_codes: [2]\n");
}

std::string SpecYaml(const std::string& name, const std::vector<int64_t>& n_tele,
                     int64_t teleop_episodes, const std::vector<SourceSpec>& sources,
                     int seeds) {
  std::string yaml = absl::StrCat(
      "version: 1\nname: ", name,
      "\ntask:\n  name: pick_dual_bottles\n  rubric:\n    milestones:\n"
      "      - {name: first_bottle_grasped, score: 0.5}\n"
      "      - {name: both_bottles_lifted, score: 1.0}\n"
      "policy: diffusion_policy\ncode_version: git:4f1c2e9\n"
      "teleop:\n  dataset:\n    uri: file:///data/teleop\n    episodes: ",
      teleop_episodes, "\n  cost_per_demo_hours: 0.02\n  n_tele: ", List(n_tele),
      "\nsources:\n");
  for (const SourceSpec& s : sources) {
    absl::StrAppend(&yaml, "  - name: ", s.name, "\n    kind: ", s.kind,
                    "\n    dataset:\n      uri: file:///data/", s.name,
                    "\n      episodes: ", s.episodes,
                    "\n    cost_per_demo_hours: 0.000625\n    n_nt: ", List(s.n_nt), "\n");
  }
  std::vector<int64_t> seed_list;
  for (int i = 0; i < seeds; ++i) seed_list.push_back(i);
  absl::StrAppend(&yaml, "seeds: ", List(seed_list),
                  "\nprotocol:\n  total_steps: 13000\n  pretrain_steps: 10000\n"
                  "  finetune_steps: 3000\n"
                  "evaluation:\n  trials_per_scenario: 10\n"
                  "  scenarios: [in_domain, unseen_background, unseen_position]\n"
                  "templates:\n",
                  Template("train"), Template("pretrain"), Template("finetune"),
                  "resources:\n  gpus: 1\npriority: 0\nmax_attempts: 3\n");
  return yaml;
}

// Seed 000's Pick Dual Bottles: 3 N_tele x (baseline + sim 1000) x 3 seeds =
// 18 runs, 21 jobs (as docs/examples/pick_dual_bottles.yaml).
std::string PaperSpec() {
  return SpecYaml("pick-dual-bottles-sim", {50, 100, 200}, 200,
                  {{"sim", "simulation", 1000, {0, 1000}}}, 3);
}

// 10 N_tele x (baseline + 9 mixed points) x `seeds`: 100 runs per seed;
// jobs per seed: 10 train + 9 pretrain + 90 finetune = 109.
std::string LargeSpec(int seeds) {
  return SpecYaml(absl::StrCat("large-", seeds * 100), {10, 20, 50, 100, 150, 200, 300, 500, 700, 1000},
                  2000,
                  {{"sim", "simulation", 100000, {0, 500, 1000, 2000, 4000}},
                   {"human", "human_video", 5000, {250, 500, 1000}},
                   {"sim_dr", "simulation", 100000, {1000, 2000}}},
                  seeds);
}

// ---- The cluster --------------------------------------------------------------

struct Env {
  std::string dir;
  std::unique_ptr<db::LocalCluster> cluster;
  std::string dsn;
  std::unique_ptr<db::ConnectionPool> pool;
  std::unique_ptr<db::PgSweepStore> store;
  std::unique_ptr<scheduler::SweepService> service;
};
Env* g_env = nullptr;

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

std::string MakeClusterDir() {
  char tmpl[] = "/tmp/mixsweep-store-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "mkdtemp: %s\n", std::strerror(errno));
    std::exit(1);
  }
  if (::geteuid() == 0) {  // PostgreSQL refuses root: the cluster runs as postgres
    const struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr || ::chown(tmpl, pw->pw_uid, pw->pw_gid) != 0) {
      std::fprintf(stderr, "cannot hand %s to user postgres\n", tmpl);
      std::exit(1);
    }
  }
  return tmpl;
}

scheduler::SweepService& Service() { return *g_env->service; }

// ---- Benchmarks -----------------------------------------------------------------

void SubmitBenchmark(benchmark::State& state, const std::string& yaml) {
  int runs = 0;
  int jobs = 0;
  for (auto _ : state) {
    auto submitted = Service().Submit(yaml, false, {.principal = "bench", .idempotency_key = ""});
    if (!submitted.ok()) {
      state.SkipWithError(submitted.status().ToString().c_str());
      return;
    }
    runs = submitted->runs;
    jobs = submitted->jobs;
  }
  state.counters["runs"] = runs;
  state.counters["jobs"] = jobs;
  state.counters["runs/s"] =
      benchmark::Counter(runs, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["jobs/s"] =
      benchmark::Counter(jobs, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SubmitPaperSweep(benchmark::State& state) { SubmitBenchmark(state, PaperSpec()); }
BENCHMARK(BM_SubmitPaperSweep)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Submit1000Runs(benchmark::State& state) { SubmitBenchmark(state, LargeSpec(10)); }
BENCHMARK(BM_Submit1000Runs)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Submit10000Runs(benchmark::State& state) { SubmitBenchmark(state, LargeSpec(100)); }
BENCHMARK(BM_Submit10000Runs)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// Parse + expand only (validate_only): the client-side share of a submission.
void BM_Validate10000Runs(benchmark::State& state) {
  const std::string yaml = LargeSpec(100);
  for (auto _ : state) {
    auto checked = Service().Submit(yaml, true, {.principal = "bench", .idempotency_key = ""});
    if (!checked.ok()) {
      state.SkipWithError(checked.status().ToString().c_str());
      return;
    }
  }
}
BENCHMARK(BM_Validate10000Runs)->Unit(benchmark::kMillisecond)->UseRealTime();

int64_t TenThousandRunSweep() {
  static int64_t id = [] {
    auto submitted = Service().Submit(LargeSpec(100), false, {"bench", "get-10000"});
    if (!submitted.ok()) {
      std::fprintf(stderr, "submit: %s\n", submitted.status().ToString().c_str());
      std::exit(1);
    }
    return submitted->sweep_id;
  }();
  return id;
}

// GetSweep (the counts only) and GetSweep with every run and job.
void GetBenchmark(benchmark::State& state, bool runs_and_jobs) {
  const int64_t id = TenThousandRunSweep();
  size_t rows = 0;
  for (auto _ : state) {
    auto detail = Service().Get(id, runs_and_jobs, runs_and_jobs);
    if (!detail.ok()) {
      state.SkipWithError(detail.status().ToString().c_str());
      return;
    }
    rows = detail->runs.size() + detail->jobs.size();
    benchmark::DoNotOptimize(detail);
  }
  if (runs_and_jobs) {
    state.counters["runs+jobs"] = static_cast<double>(rows);
    state.counters["rows/s"] = benchmark::Counter(
        static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
  }
}
void BM_GetSweepCounts10000Runs(benchmark::State& state) { GetBenchmark(state, false); }
BENCHMARK(BM_GetSweepCounts10000Runs)->Unit(benchmark::kMillisecond)->UseRealTime();
void BM_GetSweepRunsJobs10000Runs(benchmark::State& state) { GetBenchmark(state, true); }
BENCHMARK(BM_GetSweepRunsJobs10000Runs)->Unit(benchmark::kMillisecond)->UseRealTime();

// A page of ListSweeps (20 newest sweeps, each with its counts) once the
// database holds every sweep the benchmarks above stored.
void BM_ListSweepsPage20(benchmark::State& state) {
  scheduler::SweepFilter filter;
  filter.page_size = 20;
  size_t listed = 0;
  int64_t runs = 0;
  for (auto _ : state) {
    auto page = Service().List(filter);
    if (!page.ok()) {
      state.SkipWithError(page.status().ToString().c_str());
      return;
    }
    listed = page->sweeps.size();
    runs = 0;
    for (const auto& s : page->sweeps) runs += s.counts.runs_total;
  }
  state.counters["sweeps"] = static_cast<double>(listed);
  state.counters["runs_counted"] = static_cast<double>(runs);
}
BENCHMARK(BM_ListSweepsPage20)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace mixsweep

// Peak resident memory of this process alone (the benchmark client), in KiB.
// `/usr/bin/time -v` reports the largest of this process and its children,
// which include the PostgreSQL server and its backends.
long PeakRssKib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib;
}

int main(int argc, char** argv) {
  using namespace mixsweep;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  Env env;
  env.dir = MakeClusterDir();
  db::LocalClusterOptions options;
  options.directory = env.dir;  // default settings: fsync on
  auto cluster = db::LocalCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cannot start PostgreSQL: %s\n", cluster.status().ToString().c_str());
    ::nftw(env.dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
    return 1;
  }
  env.cluster = std::move(*cluster);
  int rc = 0;
  if (auto s = env.cluster->EnsureDatabase("bench"); !s.ok()) {
    std::fprintf(stderr, "create database: %s\n", s.ToString().c_str());
    rc = 1;
  } else {
    env.dsn = env.cluster->Dsn("bench");
    {
      pqxx::connection conn(env.dsn);
      auto applied = db::ApplyMigrations(conn, db::EmbeddedMigrations());
      if (!applied.ok()) {
        std::fprintf(stderr, "migrations: %s\n", applied.status().ToString().c_str());
        rc = 1;
      }
      pqxx::nontransaction tx(conn);
      std::fprintf(stderr, "PostgreSQL %s, fsync=%s, synchronous_commit=%s\n",
                   tx.exec1("SHOW server_version")[0].c_str(), tx.exec1("SHOW fsync")[0].c_str(),
                   tx.exec1("SHOW synchronous_commit")[0].c_str());
    }
    if (rc == 0) {
      env.pool = std::make_unique<db::ConnectionPool>(env.dsn, 4);
      env.store = std::make_unique<db::PgSweepStore>(*env.pool);
      scheduler::SweepService::Options service_options;
      service_options.limits.max_runs = 10000;
      env.service = std::make_unique<scheduler::SweepService>(*env.store, service_options);
      g_env = &env;
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
      g_env = nullptr;
      std::fprintf(stderr, "client peak RSS (VmHWM): %ld KiB\n", PeakRssKib());
    }
  }
  env.service.reset();
  env.store.reset();
  env.pool.reset();
  if (auto s = env.cluster->Stop(); !s.ok()) {
    std::fprintf(stderr, "stop: %s\n", s.ToString().c_str());
  }
  env.cluster.reset();
  ::nftw(env.dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  return rc;
}
