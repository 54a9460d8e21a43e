// mixsweepd's configuration: one TOML file (--config) plus flags of the same
// names; a flag wins over the file. deploy/mixsweepd.toml documents every key.
//
//   mixsweepd --config /etc/mixsweep/mixsweepd.toml --listen 0.0.0.0:50051
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace mixsweep::daemon {

enum class Command {
  kServe,           // serve the API (default)
  kMigrate,         // apply migrations and exit
  kTokenBootstrap,  // make the first admin token, locally, and exit
};

// TLS for the API. Without cert and key the API listens in plaintext and
// accepts connections from this machine only (a bearer token must not cross
// a network in clear).
struct TlsConfig {
  std::string cert_file;  // PEM server certificate chain
  std::string key_file;   // PEM private key
  // PEM CA that signs client certificates (mutual TLS, e.g. for workers).
  // Presented client certificates are verified against it.
  std::string client_ca_file;
  // Refuse clients without a certificate signed by client_ca_file.
  bool require_client_cert = false;

  bool enabled() const { return !cert_file.empty(); }
};

struct Config {
  Command command = Command::kServe;
  std::string listen = "127.0.0.1:50051";
  // libpq connection string; empty: run a local PostgreSQL in data_dir.
  std::string database;
  std::string data_dir;  // default: DefaultDataDir()
  // OS user of the local PostgreSQL when mixsweepd runs as root.
  std::string local_pg_user = "postgres";
  std::string database_name = "mixsweep";
  int db_pool_size = 8;
  // Group commit of leases, heartbeats, progress and completions: the most
  // calls in one transaction (1: each call commits alone) and the batches
  // running at once.
  int group_commit_max_batch = 32;
  int group_commit_in_flight = 2;
  // How long start-up waits for an unreachable database.
  int db_wait_seconds = 60;
  long long max_runs_per_sweep = 10000;
  // Where job outputs and checkpoints live, shared by every worker
  // (file:// on a shared filesystem, or an object-store prefix the
  // templates understand). Default: file://<data_dir>/artifacts.
  std::string artifact_root;
  int lease_ttl_seconds = 60;
  int heartbeat_seconds = 10;
  // How often expired leases and deadlines are looked for.
  double expiry_interval_seconds = 5;
  double retry_base_seconds = 10;
  double retry_cap_seconds = 600;
  // Bootstrap resamples of every stored estimate (and the default level).
  int estimate_resamples = 2000;
  double estimate_level = 0.95;
  // How often stale estimates are looked for when no trial woke the
  // recomputer (trials committed through another replica, or before a crash).
  double recompute_interval_seconds = 2;
  TlsConfig tls;
  // Per token: requests per second and burst (rate <= 0: no limit).
  double rate_limit_per_second = 1000;
  double rate_limit_burst = 2000;
  // How long a validated token is trusted before it is read again: a token
  // revoked through another replica stops working within this time.
  double token_cache_seconds = 5;
  // Largest gRPC message accepted or sent, in bytes.
  int max_message_bytes = 16 * 1024 * 1024;
  // token bootstrap: the principal of the first admin token, and where its
  // secret goes (default DATA_DIR/admin.token, mode 0600).
  std::string bootstrap_principal = "admin";
  std::string bootstrap_token_file;
  // Written with the bound port once the server listens (for --listen :0).
  std::string port_file;
  // grpc.health.v1 alone, in plaintext, host:port; empty: not served. The
  // status is SERVING while the database answers.
  std::string health_listen;
  std::string health_port_file;
  // The web dashboard (read-only), host:port; empty: not served. Without
  // dashboard_open it asks for a token of a role that may read, and then
  // serves this machine only unless TLS is put in front of it.
  std::string dashboard_listen;
  bool dashboard_open = false;
  std::string dashboard_port_file;
  // Prometheus /metrics, host:port; empty: not served.
  std::string metrics_listen;
  std::string metrics_port_file;
  // How often the database-derived series are read, and for how many days
  // after completion a sweep's estimates stay exported.
  double metrics_refresh_seconds = 5;
  int metrics_estimate_days = 7;
  std::string log_level = "info";
};

// /var/lib/mixsweep for root, else $XDG_DATA_HOME/mixsweep or
// ~/.local/share/mixsweep.
std::string DefaultDataDir();

// "127.0.0.1:8080", "localhost:80", "[::1]:0": a host:port that only this
// machine can reach.
bool IsLoopbackAddress(const std::string& host_port);

// Parses flags and the config file. On --help, prints and returns nullopt
// with `exit_code` 0; on a bad flag, prints the error and sets exit_code 2.
std::optional<Config> ParseConfig(int argc, char** argv, int* exit_code);

}  // namespace mixsweep::daemon
