#include "services/mixsweepd/config.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

namespace mixsweep::daemon {

std::string DefaultDataDir() {
  if (geteuid() == 0) return "/var/lib/mixsweep";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/mixsweep";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/mixsweep";
}

bool IsLoopbackAddress(const std::string& host_port) {
  const size_t colon = host_port.rfind(':');
  const std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  return host == "localhost" || host == "[::1]" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::optional<Config> ParseConfig(int argc, char** argv, int* exit_code) {
  Config config;
  CLI::App app{"mixsweepd: the mixsweep scheduler and API server"};
  app.set_config("--config", "", "TOML configuration file (keys = flag names)");
  app.add_option("--listen", config.listen, "gRPC address, host:port (port 0: any free port)")
      ->capture_default_str();
  // Also from the environment, so that a password need not be on the command
  // line (a Kubernetes Secret becomes an environment variable).
  app.add_option("--database", config.database,
                 "PostgreSQL connection string; empty: a local cluster in --data-dir")
      ->envname("MIXSWEEP_DATABASE");
  app.add_option("--data-dir", config.data_dir,
                 "directory of the local PostgreSQL cluster (default: " + DefaultDataDir() + ")");
  app.add_option("--local-pg-user", config.local_pg_user,
                 "OS user the local PostgreSQL runs as when mixsweepd is root")
      ->capture_default_str();
  app.add_option("--database-name", config.database_name, "database of the local cluster")
      ->capture_default_str();
  app.add_option("--db-pool-size", config.db_pool_size, "database connections")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  // At most 32: PostgreSQL caches 64 subtransactions per backend, and a
  // batch past that slows every snapshot in the cluster (suboverflow).
  app.add_option("--group-commit-max-batch", config.group_commit_max_batch,
                 "most worker calls committed in one transaction (1: no group commit)")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  app.add_option("--group-commit-in-flight", config.group_commit_in_flight,
                 "group-commit transactions running at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--db-wait-seconds", config.db_wait_seconds,
                 "how long start-up waits for the database")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--max-runs-per-sweep", config.max_runs_per_sweep,
                 "largest sweep accepted, in runs")
      ->check(CLI::Range(1LL, 10000000LL))
      ->capture_default_str();
  app.add_option("--artifact-root", config.artifact_root,
                 "URI prefix of job outputs, shared by all workers (default file://DATA_DIR/artifacts)");
  app.add_option("--lease-ttl-seconds", config.lease_ttl_seconds,
                 "a lease not heartbeated for this long expires")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--heartbeat-seconds", config.heartbeat_seconds, "how often workers heartbeat")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--expiry-interval-seconds", config.expiry_interval_seconds,
                 "how often expired leases are looked for")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--retry-base-seconds", config.retry_base_seconds,
                 "backoff before the first retry (doubles each time)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--retry-cap-seconds", config.retry_cap_seconds, "longest backoff")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--estimate-resamples", config.estimate_resamples,
                 "bootstrap resamples of every stored estimate")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--estimate-level", config.estimate_level, "level of every stored interval")
      ->check(CLI::Range(0.5, 0.999))
      ->capture_default_str();
  app.add_option("--recompute-interval-seconds", config.recompute_interval_seconds,
                 "how often stale estimates are looked for without a wake-up")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  app.add_option("--tls-cert", config.tls.cert_file,
                 "PEM certificate chain of the API (with --tls-key: TLS; without: plaintext "
                 "from this machine only)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", config.tls.key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", config.tls.client_ca_file,
                 "PEM CA of client certificates (mutual TLS, e.g. for workers)")
      ->check(CLI::ExistingFile);
  app.add_flag("--tls-require-client-cert", config.tls.require_client_cert,
               "refuse clients without a certificate signed by --tls-client-ca");
  app.add_option("--rate-limit-per-second", config.rate_limit_per_second,
                 "requests per second per token (0: no limit)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--rate-limit-burst", config.rate_limit_burst,
                 "requests a token may make at once above the rate")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  app.add_option("--token-cache-seconds", config.token_cache_seconds,
                 "how long a checked token is trusted before it is read again")
      ->check(CLI::Range(0.0, 300.0))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "largest gRPC message received or sent")
      ->check(CLI::Range(64 * 1024, 256 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--port-file", config.port_file, "write the bound port here once listening");
  app.add_option("--health-listen", config.health_listen,
                 "plaintext address serving only grpc.health.v1, for probes that cannot "
                 "speak TLS (Kubernetes' grpc probes), host:port; empty: none")
      ->capture_default_str();
  app.add_option("--health-port-file", config.health_port_file,
                 "write the health endpoint's bound port here once listening");
  app.add_option("--dashboard-listen", config.dashboard_listen,
                 "web dashboard address, host:port (port 0: any free port); empty: no dashboard");
  app.add_flag("--dashboard-open", config.dashboard_open,
               "serve the dashboard to anyone who reaches it, without asking for a token");
  app.add_option("--dashboard-port-file", config.dashboard_port_file,
                 "write the dashboard's bound port here once listening");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Prometheus /metrics address, host:port; empty: no metrics endpoint");
  app.add_option("--metrics-port-file", config.metrics_port_file,
                 "write the metrics endpoint's bound port here once listening");
  app.add_option("--metrics-refresh-seconds", config.metrics_refresh_seconds,
                 "how often the metrics read counts and estimates from the database")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--metrics-estimate-days", config.metrics_estimate_days,
                 "days after completion that a sweep's estimates stay in the metrics")
      ->check(CLI::Range(0, 3650))
      ->capture_default_str();
  app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_subcommand("serve", "serve the API (the default)");
  CLI::App* migrate = app.add_subcommand("migrate", "apply database migrations and exit");
  CLI::App* token = app.add_subcommand("token", "token management that needs the database");
  CLI::App* bootstrap = token->add_subcommand(
      "bootstrap",
      "make the first admin token (only if no admin token exists) and write it to a file");
  bootstrap->add_option("--principal", config.bootstrap_principal, "who the token stands for")
      ->capture_default_str();
  bootstrap->add_option("--token-file", config.bootstrap_token_file,
                        "where to write the secret (default DATA_DIR/admin.token, mode 0600)");
  token->require_subcommand(1);
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  if (migrate->parsed()) config.command = Command::kMigrate;
  if (bootstrap->parsed()) config.command = Command::kTokenBootstrap;
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    std::cerr << "--tls-cert and --tls-key go together\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (!config.tls.enabled() && !config.tls.client_ca_file.empty()) {
    std::cerr << "--tls-client-ca needs --tls-cert and --tls-key\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (config.tls.require_client_cert && config.tls.client_ca_file.empty()) {
    std::cerr << "--tls-require-client-cert needs --tls-client-ca\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (config.data_dir.empty()) config.data_dir = DefaultDataDir();
  // Relative paths would change meaning for workers in other directories.
  config.data_dir = std::filesystem::absolute(config.data_dir).lexically_normal().string();
  if (config.artifact_root.empty()) config.artifact_root = "file://" + config.data_dir + "/artifacts";
  if (config.bootstrap_token_file.empty()) {
    config.bootstrap_token_file = config.data_dir + "/admin.token";
  }
  if (!config.dashboard_listen.empty() && !config.dashboard_open &&
      !IsLoopbackAddress(config.dashboard_listen)) {
    // The page sends a bearer token with every request, and the dashboard
    // speaks plain HTTP.
    std::cerr << "--dashboard-listen " << config.dashboard_listen
              << ": not a loopback address, and a token sent to the dashboard would cross the "
                 "network in clear. Listen on 127.0.0.1 and put a TLS proxy (or an SSH tunnel) "
                 "in front of it, or serve a token-free read-only view with --dashboard-open\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (config.heartbeat_seconds >= config.lease_ttl_seconds) {
    std::cerr << "--heartbeat-seconds must be shorter than --lease-ttl-seconds\n";
    *exit_code = 2;
    return std::nullopt;
  }
  return config;
}

}  // namespace mixsweep::daemon
