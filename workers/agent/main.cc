// mixsweep-worker: the GPU worker agent. Flags and wiring only; the agent
// is workers/agent/worker_agent.h.
//
//   mixsweep-worker --server sched:50051 --label lab=a           # real GPUs
//   mixsweep-worker --synthetic --synthetic-gpus 8               # no GPUs needed
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "workers/agent/agent_logic.h"
#include "services/channel/channel.h"
#include "services/http/http_server.h"
#include "services/metrics/metrics_endpoint.h"
#include "workers/agent/slurm_env.h"
#include "workers/agent/worker_agent.h"
#include "workers/agent/worker_metrics.h"
#include "workers/agent/worker_stats.h"
#include "workers/gpu_probe.h"

namespace mixsweep::workers {
namespace {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

struct Flags {
  client::ConnectionFlags connection;  // --server, --token-file, --tls-*
  std::string name;
  std::vector<std::string> labels;
  std::string gpus = "auto";
  std::string nvidia_smi = "nvidia-smi";
  int cpu_slots = 1;
  int lease_wait_seconds = 20;
  double stop_grace_seconds = 30;
  std::string log_level = "info";
  bool synthetic = false;
  int synthetic_gpus = -1;  // -1: not given
  int64_t synthetic_gpu_memory_mib = 81559;
  double synthetic_steps_per_second = 20000;
  int64_t synthetic_fail_every = 0;
  int synthetic_exit_code = 1;
  std::string metrics_listen;
  std::string metrics_port_file;
};

// The GPUs to offer: synthetic ones, none, or (a subset of) what nvidia-smi
// reports. A machine without nvidia-smi has zero GPUs; one whose nvidia-smi
// fails is an error (a broken driver should be seen, not silently ignored).
// `slurm`: the allocation whose GPUs --gpus auto means, or null.
absl::StatusOr<std::vector<GpuInfo>> ResolveGpus(const Flags& flags,
                                                 const SlurmAllocation* slurm, bool* reprobe) {
  *reprobe = false;
  if (flags.synthetic && flags.synthetic_gpus >= 0) {
    return SyntheticGpus(flags.synthetic_gpus, flags.synthetic_gpu_memory_mib);
  }
  const bool slurm_decides = slurm != nullptr && flags.gpus == "auto";
  // A job given no GPU need not ask nvidia-smi, which fails ("No devices
  // were found") where the node hides every GPU from it.
  if (slurm_decides && slurm->gpu_count == 0) return std::vector<GpuInfo>{};
  if (flags.gpus == "none") return std::vector<GpuInfo>{};
  absl::StatusOr<std::vector<GpuInfo>> probed = ProbeGpus(flags.nvidia_smi);
  if (!probed.ok()) return probed.status();
  absl::StatusOr<std::vector<GpuInfo>> selected = SelectGpus(
      slurm_decides ? GpusFlagForProbe(*slurm, probed->size()) : flags.gpus, *probed);
  if (selected.ok()) *reprobe = !selected->empty();
  return selected;
}

int Main(int argc, char** argv) {
  Flags flags;
  flags.name = HostName();

  CLI::App app{"mixsweep-worker: leases mixsweep jobs and runs them"};
  // A worker token (role worker): only this worker's leases can be reported on.
  client::AddConnectionFlags(app, &flags.connection);
  app.add_option("--name", flags.name, "worker name (default: the host name)")
      ->capture_default_str();
  app.add_option("--label", flags.labels, "a label key=value; repeatable");
  app.add_option("--gpus", flags.gpus, "auto (every GPU nvidia-smi lists), none, or 0,1,...")
      ->capture_default_str();
  app.add_option("--nvidia-smi", flags.nvidia_smi, "the nvidia-smi program")
      ->capture_default_str();
  app.add_option("--cpu-slots", flags.cpu_slots, "0-GPU jobs run at once")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lease-wait-seconds", flags.lease_wait_seconds, "LeaseJob long-poll wait")
      ->capture_default_str()
      ->check(CLI::Range(1, 30));
  app.add_option("--stop-grace-seconds", flags.stop_grace_seconds,
                 "SIGTERM to SIGKILL grace when stopping a job")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.add_flag("--synthetic", flags.synthetic, "run the synthetic executor, not the commands");
  app.add_option("--synthetic-gpus", flags.synthetic_gpus,
                 "with --synthetic: offer N GPUs named 'synthetic' instead of probing");
  app.add_option("--synthetic-gpu-memory-mib", flags.synthetic_gpu_memory_mib,
                 "memory of each synthetic GPU")
      ->capture_default_str();
  app.add_option("--synthetic-steps-per-second", flags.synthetic_steps_per_second,
                 "how fast synthetic jobs advance")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--synthetic-fail-every", flags.synthetic_fail_every,
                 "fail every Nth synthetic job (0: never), for tests")
      ->capture_default_str();
  app.add_option("--synthetic-exit-code", flags.synthetic_exit_code,
                 "exit code of a synthetic job made to fail")
      ->capture_default_str();
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "Prometheus /metrics address, host:port (port 0: any free port); empty: none");
  app.add_option("--metrics-port-file", flags.metrics_port_file,
                 "write the metrics endpoint's bound port here once listening");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("mixsweep-worker"));
  spdlog::set_level(spdlog::level::from_str(flags.log_level));

  absl::StatusOr<std::map<std::string, std::string>> labels = ParseLabels(flags.labels);
  if (!labels.ok()) {
    spdlog::error("{}", std::string(labels.status().message()));
    return 2;
  }
  // Inside a SLURM job: its GPUs (unless --gpus says otherwise), its labels
  // (a --label of the same name wins), and SIGTERM means preemption.
  absl::StatusOr<std::optional<SlurmAllocation>> slurm =
      SlurmAllocationFromEnv([](const char* name) { return std::getenv(name); });
  if (!slurm.ok()) {
    spdlog::error("{}", std::string(slurm.status().message()));
    return 2;
  }
  if (*slurm) {
    labels->merge(SlurmLabels(**slurm));
    spdlog::info("in SLURM job {} (partition {}): GPUs {}; SIGTERM hands jobs back as preempted",
                 (*slurm)->job_id, (*slurm)->partition.empty() ? "?" : (*slurm)->partition,
                 flags.gpus == "auto" ? (*slurm)->gpus_flag : flags.gpus);
  }
  AgentOptions options;
  options.server = flags.connection.server;
  auto channel = client::MakeChannel(flags.connection);
  if (!channel.ok()) {
    spdlog::error("{}", std::string(channel.status().message()));
    return 2;
  }
  options.channel = *std::move(channel);
  options.name = flags.name;
  options.host = HostName();
  options.labels = *labels;
  options.shutdown_is_preemption = slurm->has_value();
  absl::StatusOr<std::vector<GpuInfo>> gpus =
      ResolveGpus(flags, slurm->has_value() ? &**slurm : nullptr, &options.reprobe_gpus);
  if (!gpus.ok()) {
    spdlog::error("GPUs: {}", std::string(gpus.status().message()));
    return 1;
  }
  options.gpus = *gpus;
  options.cpu_slots = flags.cpu_slots;
  options.lease_wait = std::chrono::seconds(flags.lease_wait_seconds);
  options.stop_grace = std::chrono::milliseconds(
      static_cast<int64_t>(flags.stop_grace_seconds * 1000.0));
  options.synthetic = flags.synthetic;
  options.synthetic_steps_per_second = flags.synthetic_steps_per_second;
  options.synthetic_fail_every = flags.synthetic_fail_every;
  options.synthetic_exit_code = flags.synthetic_exit_code;

  WorkerStats stats;
  options.stats = &stats;
  // /metrics on its own threads: it reads `stats` and nvidia-smi only.
  std::unique_ptr<http::HttpServer> metrics_server;
  if (!flags.metrics_listen.empty()) {
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {
        std::make_shared<WorkerCollector>(
            stats, WorkerCollectorOptions{.nvidia_smi = flags.nvidia_smi,
                                          .synthetic = flags.synthetic,
                                          .version = kWorkerVersion})};
    auto started = http::HttpServer::Start(
        {.listen = flags.metrics_listen, .threads = 1},
        [collectables](const http::HttpRequest& request) {
          return metrics::ServeMetrics(request, collectables);
        });
    if (!started.ok()) {
      spdlog::error("metrics: {}", started.status().ToString());
      return 2;
    }
    metrics_server = std::move(*started);
    spdlog::info("metrics on port {}", metrics_server->port());
    http::WritePortFile(flags.metrics_port_file, metrics_server->port());
  }

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  int exit_code = 0;
  WorkerAgent agent(io, options, [&](int code) {
    exit_code = code;
    signals.cancel();
    io.stop();  // nothing is left in flight; do not wait for stragglers
  });
  std::function<void()> wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("signal {} received", signal);
      agent.Shutdown();
      wait_for_signal();  // a second signal shortens the grace to 0
    });
  };
  wait_for_signal();
  agent.Start();
  io.run();
  return exit_code;
}

}  // namespace
}  // namespace mixsweep::workers

int main(int argc, char** argv) { return mixsweep::workers::Main(argc, argv); }
