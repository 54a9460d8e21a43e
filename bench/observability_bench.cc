// Observability load driver: what /metrics and the dashboard cost on a
// large system. A real mixsweepd (its own local PostgreSQL) gets S sweeps of
// K seeds (100 runs, 109 jobs each), their jobs marked succeeded in SQL with
// five events each (the log a real run leaves), then:
//   /metrics scraped N times, each forcing a fresh read of the database
//     (latency p50/p99, body size, mixsweepd and PostgreSQL CPU per scrape);
//   the dashboard's heaviest route, one sweep with its runs and jobs, and
//     the sweep list, each read M times (latency, body size);
//   mixsweepd's peak RSS.
//
//   observability_bench                      # 1 sweep x 100 seeds: 10,000 runs, 10,900 jobs
//   observability_bench --sweeps 5 --seeds 20 --scrapes 50
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include "bench/bench_daemon.h"
#include "bench/bench_stats.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "tests/support/http_client.h"

namespace {

namespace v1 = mixsweep::v1;
using Clock = std::chrono::steady_clock;
using mixsweep::bench::Percentile;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string List(int n, int step) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += (i ? ", " : "") + std::to_string((i + 1) * step);
  return out + "]";
}

// 10 N_tele x (baseline + 9 N_nt) x seeds: 100 runs and 109 jobs per seed.
std::string SpecYaml(int sweep, int seeds) {
  std::string seed_list = "[";
  for (int i = 0; i < seeds; ++i) seed_list += (i ? ", " : "") + std::to_string(i);
  seed_list += "]";
  auto stage = [](const std::string& name) {
    std::string argv = "[\"true\", \"{dataset}\", \"{subset_manifest}\", \"{output_dir}\"";
    if (name == "finetune") argv += ", \"{init_checkpoint}\"";
    return "  " + name + ":\n    argv: " + argv +
           "]\n    checkpoint: \"{output_dir}/checkpoints/last.ckpt\"\n";
  };
  return "version: 1\nname: observability-bench-" + std::to_string(sweep) +
         "\ntask:\n  name: pick_dual_bottles\n  rubric:\n    milestones:\n"
         "      - {name: first_bottle_grasped, score: 0.5}\n"
         "      - {name: both_bottles_lifted, score: 1.0}\n"
         "policy: diffusion_policy\ncode_version: bench\n"
         "teleop:\n  dataset:\n    uri: file:///data/bench/teleop\n    episodes: 1000\n"
         "  cost_per_demo_hours: 0.02\n  n_tele: " + List(10, 50) + "\n"
         "sources:\n  - name: sim\n    kind: simulation\n"
         "    dataset:\n      uri: file:///data/bench/sim\n      episodes: 10000\n"
         "    cost_per_demo_hours: 0.000625\n    n_nt: [0, " + List(9, 500).substr(1) + "\n"
         "seeds: " + seed_list + "\n"
         "protocol:\n  total_steps: 13000\n  pretrain_steps: 10000\n  finetune_steps: 3000\n"
         "evaluation:\n  trials_per_scenario: 10\n  scenarios: [in_domain]\n"
         "templates:\n" + stage("train") + stage("pretrain") + stage("finetune") +
         "resources:\n  gpus: 1\n";
}

int ReadPort(const std::string& path) {
  for (int i = 0; i < 600; ++i) {
    FILE* f = std::fopen(path.c_str(), "r");
    int port = 0;
    if (f != nullptr) {
      const int read = std::fscanf(f, "%d", &port);
      std::fclose(f);
      if (read == 1 && port > 0) return port;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

struct Timed {
  std::vector<double> ms;
  size_t bytes = 0;
};

Timed TimeGets(int port, const std::string& target, int times, const std::string& bearer,
               std::chrono::milliseconds pause) {
  Timed out;
  for (int i = 0; i < times; ++i) {
    std::this_thread::sleep_for(pause);
    const auto t0 = Clock::now();
    auto reply = mixsweep::testing::HttpRequest(port, target, {{"Authorization", bearer}});
    out.ms.push_back(Ms(Clock::now() - t0));
    if (!reply.ok() || reply->status != 200) {
      std::fprintf(stderr, "GET %s failed: %s\n", target.c_str(),
                   reply.ok() ? reply->body.substr(0, 200).c_str()
                              : reply.status().ToString().c_str());
      std::exit(1);
    }
    out.bytes = reply->body.size();
  }
  return out;
}

void Print(const char* what, const Timed& t) {
  std::printf("%-42s p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms  %9zu bytes\n", what,
              Percentile(t.ms, 0.5), Percentile(t.ms, 0.99), Percentile(t.ms, 1.0), t.bytes);
}

}  // namespace

int main(int argc, char** argv) {
  int sweeps = 1, seeds = 100, scrapes = 30, reads = 10;
  bool keep = false;
  CLI::App app{"observability_bench: what /metrics and the dashboard cost on a large system"};
  app.add_option("--sweeps", sweeps, "active sweeps")->capture_default_str();
  app.add_option("--seeds", seeds, "seeds per sweep (100 runs, 109 jobs each)")
      ->capture_default_str();
  app.add_option("--scrapes", scrapes, "timed /metrics scrapes")->capture_default_str();
  app.add_option("--reads", reads, "timed reads of each dashboard route")->capture_default_str();
  app.add_flag("--keep", keep, "keep the temp dir");
  CLI11_PARSE(app, argc, argv);

  const std::string files = "/tmp/observability-bench-" + std::to_string(::getpid());
  mixsweep::bench::DaemonOptions options{
      .mixsweepd = MIXSWEEPD_BIN,
      .keep = keep,
      .daemon_args = {"--dashboard-listen", "127.0.0.1:0", "--dashboard-port-file",
                      files + ".dashboard", "--metrics-listen", "127.0.0.1:0",
                      "--metrics-port-file", files + ".metrics", "--metrics-refresh-seconds",
                      "0.1", "--max-message-bytes", "268435456"},
      .temp_prefix = "observability_bench"};
  std::string error;
  auto daemon = mixsweep::bench::Daemon::Start(options, &error);
  if (!daemon) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const int dashboard = ReadPort(files + ".dashboard");
  const int metrics = ReadPort(files + ".metrics");
  std::string secret;
  {
    FILE* f = std::fopen(daemon->token_file().c_str(), "r");
    char line[256] = {};
    if (f == nullptr || std::fgets(line, sizeof(line), f) == nullptr) return 1;
    std::fclose(f);
    secret = line;
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  }
  const std::string bearer = "Bearer " + secret;

  auto stub = v1::SweepService::NewStub(daemon->Channel());
  for (int s = 0; s < sweeps; ++s) {
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(SpecYaml(s, seeds));
    v1::SubmitSweepResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
    auto status = stub->SubmitSweep(&context, request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "SubmitSweep: %s\n", status.error_message().c_str());
      return 1;
    }
  }
  pid_t postmaster = 0;
  std::string dsn;
  if (!daemon->LocalPostgres(&postmaster, &dsn)) return 1;
  long long jobs = 0, events = 0;
  {
    pqxx::connection conn(dsn);
    pqxx::work tx(conn);
    // What a run leaves behind: every job succeeded after a measured time,
    // and its lease, start, progress and completion in the event log.
    tx.exec(
        "UPDATE jobs SET state = 'succeeded', started_at = now() - make_interval(secs => 60 + "
        "(id % 7200)), finished_at = now(), gpu_seconds = 60 + (id % 7200)");
    tx.exec(
        "INSERT INTO events (kind, sweep_id, job_id) SELECT k, j.sweep_id, j.id FROM jobs j, "
        "unnest(ARRAY['job.leased', 'job.running', 'job.progress', 'job.retrying', "
        "'job.succeeded']) AS k");
    jobs = tx.exec1("SELECT count(*) FROM jobs")[0].as<long long>();
    events = tx.exec1("SELECT count(*) FROM events")[0].as<long long>();
    tx.commit();
    pqxx::nontransaction(conn).exec("VACUUM ANALYZE");
  }
  std::printf("system: %d sweep(s), %lld jobs succeeded, %lld events\n", sweeps, jobs, events);
  std::printf("mixsweepd RSS after the submissions: %.1f MiB (peak %.1f MiB)\n",
              mixsweep::bench::StatusKib(daemon->pid(), "VmRSS") / 1024.0,
              mixsweep::bench::StatusKib(daemon->pid(), "VmHWM") / 1024.0);

  const double daemon_cpu0 = mixsweep::bench::ProcessCpuSeconds(daemon->pid());
  const double pg_cpu0 = mixsweep::bench::ProcessCpuSeconds(postmaster);
  // 150 ms apart: every scrape finds the last read older than the 0.1 s
  // refresh interval, so each one reads the database.
  Timed scrape = TimeGets(metrics, "/metrics", scrapes, "", std::chrono::milliseconds(150));
  const double daemon_cpu = mixsweep::bench::ProcessCpuSeconds(daemon->pid()) - daemon_cpu0;
  Print("/metrics (fresh database read each)", scrape);
  std::printf("  mixsweepd CPU per scrape: %.1f ms\n", 1000.0 * daemon_cpu / scrapes);
  (void)pg_cpu0;

  std::printf("mixsweepd peak RSS after the scrapes: %.1f MiB\n",
              mixsweep::bench::StatusKib(daemon->pid(), "VmHWM") / 1024.0);
  {
    // The same read over gRPC, for comparison with the dashboard's.
    std::vector<double> ms;
    for (int i = 0; i < reads; ++i) {
      v1::GetSweepRequest request;
      request.set_sweep_id(1);
      request.set_include_runs(true);
      request.set_include_jobs(true);
      v1::GetSweepResponse response;
      grpc::ClientContext context;
      const auto t0 = Clock::now();
      if (!stub->GetSweep(&context, request, &response).ok()) return 1;
      ms.push_back(Ms(Clock::now() - t0));
    }
    std::printf("%-42s p50 %8.1f ms  p99 %8.1f ms\n", "gRPC GetSweep 1 (runs + jobs)",
                Percentile(ms, 0.5), Percentile(ms, 0.99));
    std::printf("mixsweepd peak RSS after gRPC GetSweep: %.1f MiB\n",
                mixsweep::bench::StatusKib(daemon->pid(), "VmHWM") / 1024.0);
  }
  Print("GET /api/v1/sweeps (list)",
        TimeGets(dashboard, "/api/v1/sweeps", reads, bearer, std::chrono::milliseconds(0)));
  Print("GET /api/v1/sweeps/1 (runs + jobs)",
        TimeGets(dashboard, "/api/v1/sweeps/1", reads, bearer, std::chrono::milliseconds(0)));
  Print("GET /api/v1/sweeps/1/estimates",
        TimeGets(dashboard, "/api/v1/sweeps/1/estimates", reads, bearer,
                 std::chrono::milliseconds(0)));
  std::printf("mixsweepd peak RSS: %.1f MiB (now %.1f MiB)\n",
              mixsweep::bench::StatusKib(daemon->pid(), "VmHWM") / 1024.0,
              mixsweep::bench::StatusKib(daemon->pid(), "VmRSS") / 1024.0);
  std::remove((files + ".dashboard").c_str());
  std::remove((files + ".metrics").c_str());
  return daemon->Stop() == 0 ? 0 : 1;
}
