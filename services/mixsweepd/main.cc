// mixsweepd: builds the real objects and wires them together; no logic here.
//
//   config -> database (local cluster or DSN) -> migrations -> pool -> stores
//   -> services (logic) -> gRPC handlers -> server (+ health, reflection)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "db/connection_pool.h"
#include "db/local_cluster.h"
#include "db/migrations.h"
#include "db/pg_estimate_store.h"
#include "db/pg_evaluation_store.h"
#include "db/pg_job_store.h"
#include "db/pg_loop_lock.h"
#include "db/pg_notification_listener.h"
#include "db/pg_sweep_store.h"
#include "db/pg_system_stats_store.h"
#include "db/pg_token_store.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/rate_limiter.h"
#include "scheduler/auth/token_service.h"
#include "scheduler/change_signal.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch/dispatch_service.h"
#include "scheduler/evaluation/evaluation_service.h"
#include "scheduler/evaluation/recomputer.h"
#include "scheduler/evaluation/utilization_service.h"
#include "scheduler/loop_lock.h"
#include "scheduler/sweep_service.h"
#include "services/api/auth_grpc_service.h"
#include "services/api/auth_processor.h"
#include "services/api/evaluation_grpc_service.h"
#include "services/api/sweep_grpc_service.h"
#include "services/api/utilization_grpc_service.h"
#include "services/api/worker_grpc_service.h"
#include "services/dashboard/dashboard.h"
#include "services/metrics/metrics_endpoint.h"
#include "services/metrics/process_metrics.h"
#include "services/metrics/system_metrics.h"
#include "services/mixsweepd/config.h"
#include "services/mixsweepd/server_credentials.h"

namespace mixsweep::daemon {
namespace {

// The database mixsweepd talks to, and the local cluster behind it if it
// runs one.
struct Database {
  std::unique_ptr<db::LocalCluster> cluster;
  std::string dsn;
};

absl::StatusOr<Database> OpenDatabase(const Config& config) {
  Database database;
  if (!config.database.empty()) {
    database.dsn = config.database;
    return database;
  }
  spdlog::info("no --database given: using the local PostgreSQL in {}", config.data_dir);
  db::LocalClusterOptions options;
  options.directory = config.data_dir;
  options.run_as_user = config.local_pg_user;
  auto cluster = db::LocalCluster::Start(std::move(options));
  if (!cluster.ok()) return cluster.status();
  if (auto s = (*cluster)->EnsureDatabase(config.database_name); !s.ok()) return s;
  database.dsn = (*cluster)->Dsn(config.database_name);
  database.cluster = std::move(*cluster);
  return database;
}

// Applies migrations, waiting (with backoff) while the database is
// unreachable: a scheduler may start before its database.
absl::Status Migrate(const std::string& dsn, std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(100);
  while (true) {
    absl::Status status;
    try {
      pqxx::connection conn(dsn);
      auto applied = db::ApplyMigrations(conn, db::EmbeddedMigrations());
      if (applied.ok()) {
        spdlog::info("database schema ready ({} migration(s) applied now)", *applied);
        return absl::OkStatus();
      }
      status = applied.status();
    } catch (const std::exception& e) {
      status = db::StatusFromException(e);
    }
    if (!absl::IsUnavailable(status) || std::chrono::steady_clock::now() >= deadline) {
      return status;
    }
    spdlog::warn("database not reachable yet ({}); retrying", status.ToString());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

// Blocks until SIGINT or SIGTERM. The signals are blocked in every thread
// (set before any thread starts) and taken here synchronously.
int WaitForStopSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

// Runs `tick` every `interval` until stopped: the background loops that keep
// the job graph moving (lease expiry, deadlines).
class PeriodicLoop {
 public:
  PeriodicLoop(std::chrono::milliseconds interval, std::function<void()> tick)
      : thread_([this, interval, tick = std::move(tick)] {
          std::unique_lock lock(mu_);
          while (!stopped_) {
            lock.unlock();
            tick();
            lock.lock();
            cv_.wait_for(lock, interval, [this] { return stopped_; });
          }
        }) {}
  ~PeriodicLoop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

// Runs `tick` whenever `wake` changes, and at least every `interval`: the
// recomputation of estimates, woken by each trial commit of this process and
// looking on its own for marks left by other replicas or before a crash.
// Wake-ups during a tick are coalesced into the next one.
class WakeableLoop {
 public:
  WakeableLoop(scheduler::ChangeSignal& wake, std::chrono::milliseconds interval,
               std::function<void()> tick)
      : wake_(wake), thread_([this, interval, tick = std::move(tick)] {
          uint64_t seen = wake_.generation();
          while (!stopped_.load()) {
            tick();
            seen = wake_.WaitForChange(seen, absl::FromChrono(interval));
          }
        }) {}
  ~WakeableLoop() {
    stopped_.store(true);
    wake_.Notify();
    thread_.join();
  }

 private:
  scheduler::ChangeSignal& wake_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;  // last: starts after the members it uses
};

// `tick`, run only while this replica holds `lock` (one replica runs each
// loop; another takes over within one interval of its death). Changes of
// hands are logged: the log then tells which replica did what.
std::function<void()> WhileHolding(scheduler::LoopLock& lock, std::string loop,
                                   std::function<void()> tick) {
  return [&lock, loop = std::move(loop), tick = std::move(tick), held = false]() mutable {
    const bool holds = lock.TryHold();
    if (holds && !held) spdlog::info("now running {} for all replicas", loop);
    if (!holds && held) spdlog::info("no longer running {}: another replica does", loop);
    held = holds;
    if (holds) tick();
  };
}

// Writes `secret` to a new file only this user can read. Refuses to replace
// an existing file: it may hold a token still in use.
absl::Status WriteSecretFile(const std::string& path, const std::string& secret) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create ", path, ": ", std::strerror(errno),
        errno == EEXIST ? " (a token file is there already; use it, or move it away)" : ""));
  }
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) {
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// The web dashboard on its own address: a read-only gateway to the API
// through an in-process channel, behind the same token gate as the API
// unless it was started open.
absl::StatusOr<std::unique_ptr<http::HttpServer>> StartDashboard(
    const Config& config, grpc::Server& server, api::TokenAuthProcessor& gate,
    std::optional<dashboard::ApiGateway>& gateway) {
  dashboard::ApiGateway::Gate check;
  if (!config.dashboard_open) {
    check = [&gate](std::string_view method, std::string_view authorization) {
      return gate.Admit(method, authorization);
    };
  }
  gateway.emplace(server.InProcessChannel(grpc::ChannelArguments()), std::move(check));
  return http::HttpServer::Start(
      {.listen = config.dashboard_listen},
      [&gateway](const http::HttpRequest& request) {
        return dashboard::HandleDashboardRequest(request, *gateway);
      });
}

scheduler::DispatchOptions DispatchOptionsOf(const Config& config) {
  scheduler::DispatchOptions options;
  options.lease_ttl = absl::Seconds(config.lease_ttl_seconds);
  options.heartbeat_interval = absl::Seconds(config.heartbeat_seconds);
  options.artifact_root = config.artifact_root;
  options.retry.base = absl::Seconds(config.retry_base_seconds);
  options.retry.cap = absl::Seconds(config.retry_cap_seconds);
  return options;
}

// The services a health check may name; "" is the whole server.
constexpr const char* kHealthServices[] = {
    "",
    "mixsweep.v1.SweepService",
    "mixsweep.v1.WorkerService",
    "mixsweep.v1.EvaluationService",
    "mixsweep.v1.UtilizationService",
    "mixsweep.v1.AuthService",
};
constexpr const char* kPing = "SELECT 1";

void SetServing(grpc::Server& server, bool serving) {
  for (const char* service : kHealthServices) {
    server.GetHealthCheckService()->SetServingStatus(service, serving);
  }
}

// grpc.health.v1 in plaintext on --health-listen, for probes that cannot
// speak TLS. It answers health checks only (and reflection, which gRPC's
// plugin adds to every server: the schema, no data): no API call is served.
std::unique_ptr<grpc::Server> StartHealthServer(const Config& config) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.health_listen, grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    spdlog::error("cannot listen on {} (--health-listen)", config.health_listen);
    return nullptr;
  }
  SetServing(*server, true);
  spdlog::info("health checks (plaintext) on port {}", port);
  http::WritePortFile(config.health_port_file, port);
  return server;
}

// /metrics on its own address: this process's RPC and transaction series,
// and the system's, read from the database when scraped.
absl::StatusOr<std::unique_ptr<http::HttpServer>> StartMetrics(
    const Config& config, std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  return http::HttpServer::Start(
      {.listen = config.metrics_listen, .threads = 2},
      [collectables = std::move(collectables)](const http::HttpRequest& request) {
        return metrics::ServeMetrics(request, collectables);
      });
}

int Serve(const Config& config, const std::string& dsn, const sigset_t& stop_signals) {
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::ProcessMetrics process_metrics(*registry, MIXSWEEP_VERSION);
  db::ConnectionPool pool(dsn, config.db_pool_size);
  pool.set_transaction_observer([&process_metrics](absl::Duration elapsed, bool committed) {
    process_metrics.RecordTransaction(elapsed, committed);
  });
  scheduler::SystemClock clock;
  db::PgSweepStore sweep_store(pool);
  db::GroupCommitter committer(pool, {.max_batch = config.group_commit_max_batch,
                                     .max_in_flight = config.group_commit_in_flight});
  db::PgJobStore job_store(pool, config.group_commit_max_batch > 1 ? &committer : nullptr);
  scheduler::SweepService sweeps(
      sweep_store, {.limits = {.max_runs = static_cast<int64_t>(config.max_runs_per_sweep)}});
  scheduler::DispatchService dispatch(job_store, clock, DispatchOptionsOf(config));

  db::PgTokenStore token_store(pool);
  auth::Authenticator authenticator(
      token_store, clock, {.cache_ttl = absl::Seconds(config.token_cache_seconds)});
  auth::RateLimiter rate_limiter(clock, {.rate_per_second = config.rate_limit_per_second,
                                         .burst = config.rate_limit_burst});
  auth::TokenService tokens(token_store, clock, &authenticator);
  api::Callers callers(authenticator);
  api::AuthGrpcService auth_api(tokens, callers);
  api::SweepGrpcService sweep_api(sweeps, callers, api::SweepGrpcOptions{}, &dispatch);
  api::WorkerGrpcService worker_api(dispatch, callers);

  db::PgEvaluationStore evaluation_store(pool);
  db::PgEstimateStore estimate_store(pool);
  evaluation::SpecCache specs(sweep_store);
  scheduler::ChangeSignal trials_changed;     // wakes the recomputer
  scheduler::ChangeSignal estimates_changed;  // wakes the watch streams
  const utilization::EstimateParams estimate_params{.resamples = config.estimate_resamples,
                                                    .level = config.estimate_level};
  evaluation::EvaluationService evaluation(evaluation_store, estimate_store, specs,
                                           trials_changed);
  evaluation::UtilizationService utilization(estimate_store, sweep_store, specs, estimate_params);
  api::EvaluationGrpcService evaluation_api(evaluation, callers);
  api::UtilizationGrpcService utilization_api(utilization, estimate_store, estimates_changed);
  evaluation::EstimateRecomputer recomputer(
      estimate_store, estimate_params,
      [&estimates_changed](const std::vector<evaluation::StoredEstimate>&) {
        estimates_changed.Notify();
      });
  // Changes committed through other replicas (or this one) wake the same
  // waiters as this process's own do.
  db::PgNotificationListener listener(
      dsn, {{"mixsweep_jobs_ready", [&dispatch] { dispatch.NotifyJobsReady(); }},
            {"mixsweep_stale", [&trials_changed] { trials_changed.Notify(); }},
            {"mixsweep_estimates", [&estimates_changed] { estimates_changed.Notify(); }}});

  db::PgLoopLock recompute_lock(dsn, db::LoopLockKey::kEstimateRecompute);
  WakeableLoop recompute(
      trials_changed,
      std::chrono::milliseconds(static_cast<int64_t>(config.recompute_interval_seconds * 1000)),
      WhileHolding(recompute_lock, "estimate recomputation", [&recomputer] {
        auto stored = recomputer.RunOnce();
        if (!stored.ok()) spdlog::warn("recomputing estimates: {}", stored.status().ToString());
      }));

  db::PgLoopLock expiry_lock(dsn, db::LoopLockKey::kLeaseExpiry);
  PeriodicLoop expiry(
      std::chrono::milliseconds(static_cast<int64_t>(config.expiry_interval_seconds * 1000)),
      WhileHolding(expiry_lock, "lease expiry", [&dispatch] {
        auto expired = dispatch.ExpireLeases();
        if (!expired.ok()) {
          spdlog::warn("lease expiry: {}", expired.status().ToString());
        } else if (expired->requeued + expired->failed + expired->cancelled +
                       expired->workers_lost > 0) {
          spdlog::info("lease expiry: {} requeued, {} failed, {} cancelled, {} workers lost",
                       expired->requeued, expired->failed, expired->cancelled,
                       expired->workers_lost);
        }
      }));

  grpc::EnableDefaultHealthCheckService(true);
  // Called, not just linked: Debian links with --as-needed, and an unused
  // reflection library would be dropped silently.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  auto credentials = ServerCredentialsFor(config);
  if (!credentials.ok()) {
    spdlog::error("{}", credentials.status().ToString());
    return 2;
  }
  // Every call passes the token check before its handler (health excepted).
  auto gate = std::make_shared<api::TokenAuthProcessor>(
      authenticator, rate_limiter, [&process_metrics](std::string_view path, absl::StatusCode code) {
        process_metrics.RecordRpc(path, code, absl::ZeroDuration());
      });
  (*credentials)->SetAuthMetadataProcessor(gate);
  grpc::ServerBuilder builder;
  builder.experimental().SetInterceptorCreators(process_metrics.InterceptorFactories());
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  int bound_port = 0;
  builder.AddListeningPort(config.listen, *credentials, &bound_port);
  builder.RegisterService(&auth_api);
  builder.RegisterService(&sweep_api);
  builder.RegisterService(&worker_api);
  builder.RegisterService(&evaluation_api);
  builder.RegisterService(&utilization_api);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    spdlog::error("cannot listen on {}", config.listen);
    return 1;
  }
  SetServing(*server, true);
  spdlog::info("mixsweepd serving on port {} (listen {}, {})", bound_port, config.listen,
               config.tls.enabled()
                   ? (config.tls.require_client_cert ? "TLS, client certificates required" : "TLS")
                   : "plaintext, connections from this machine only");
  std::optional<dashboard::ApiGateway> gateway;
  std::unique_ptr<http::HttpServer> dashboard_server;
  if (!config.dashboard_listen.empty()) {
    auto started = StartDashboard(config, *server, *gate, gateway);
    if (!started.ok()) {
      spdlog::error("dashboard: {}", started.status().ToString());
      return 1;
    }
    dashboard_server = std::move(*started);
    spdlog::info("dashboard on http://{}:{}/ ({})",
                 http::SplitHostPort(config.dashboard_listen, "")->first,
                 dashboard_server->port(),
                 config.dashboard_open ? "open: no token asked" : "asks for a token");
    http::WritePortFile(config.dashboard_port_file, dashboard_server->port());
  }
  db::PgSystemStatsStore stats_store(pool);
  auto system_metrics = std::make_shared<metrics::SystemCollector>(
      stats_store, estimate_store, clock,
      metrics::SystemCollectorOptions{
          .refresh_interval = absl::Seconds(config.metrics_refresh_seconds),
          .snapshot = {.estimate_days = config.metrics_estimate_days}});
  std::unique_ptr<http::HttpServer> metrics_server;
  if (!config.metrics_listen.empty()) {
    auto started = StartMetrics(config, {registry, system_metrics});
    if (!started.ok()) {
      spdlog::error("metrics: {}", started.status().ToString());
      return 1;
    }
    metrics_server = std::move(*started);
    const int port = metrics_server->port();
    spdlog::info("metrics on http://{}:{}/metrics",
                 http::SplitHostPort(config.metrics_listen, "")->first, port);
    http::WritePortFile(config.metrics_port_file, port);
  }
  std::unique_ptr<grpc::Server> health_server;
  if (!config.health_listen.empty()) {
    health_server = StartHealthServer(config);
    if (health_server == nullptr) return 1;
  }
  // Health follows the database: a replica that cannot reach it is taken
  // out of a load balancer's rotation instead of failing every call.
  PeriodicLoop health_check(std::chrono::seconds(5), [&] {
    const bool serving = db::RunTransaction(pool, [](pqxx::work& tx) {
                           tx.exec(kPing);
                           return absl::OkStatus();
                         }).ok();
    SetServing(*server, serving);
    if (health_server) SetServing(*health_server, serving);
  });
  http::WritePortFile(config.port_file, bound_port);

  const int signal = WaitForStopSignal(stop_signals);
  spdlog::info("signal {} received: stopping", signal);
  dashboard_server.reset();  // its requests call the server: stop it first
  server->GetHealthCheckService()->Shutdown();
  if (health_server) {
    health_server->GetHealthCheckService()->Shutdown();
    health_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  // In-flight calls get a moment to finish; watch streams are cut.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}

// `mixsweepd token bootstrap`: the first admin token, made where the
// database is, needing no network and no token. The secret goes to a new
// file readable by this user only, never to the terminal.
int BootstrapToken(const Config& config, const std::string& dsn) {
  db::ConnectionPool pool(dsn, 1);
  db::PgTokenStore store(pool);
  scheduler::SystemClock clock;
  auth::TokenService tokens(store, clock);
  auto issued = tokens.Bootstrap(config.bootstrap_principal);
  if (!issued.ok()) {
    spdlog::error("token bootstrap: {}", issued.status().ToString());
    return absl::IsFailedPrecondition(issued.status()) ? 3 : 1;
  }
  if (auto s = WriteSecretFile(config.bootstrap_token_file, issued->secret); !s.ok()) {
    // The token exists but nobody has its secret: revoke it, so that a
    // second bootstrap can run.
    (void)tokens.Revoke(issued->record.id);
    spdlog::error("token bootstrap: {}", s.ToString());
    return 1;
  }
  std::cout << "admin token " << issued->record.id << " for " << issued->record.principal
            << " written to " << config.bootstrap_token_file << " (mode 0600)\n"
            << "use it: export MIXSWEEP_TOKEN_FILE=" << config.bootstrap_token_file << "\n";
  return 0;
}

int Main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Config> config = ParseConfig(argc, argv, &exit_code);
  if (!config) return exit_code;
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The local cluster (if any) is started from this, the main thread, which
  // lives as long as the process: its death signal is tied to this thread.
  auto database = OpenDatabase(*config);
  if (!database.ok()) {
    spdlog::error("database: {}", database.status().ToString());
    return 1;
  }
  if (auto s = Migrate(database->dsn, std::chrono::seconds(config->db_wait_seconds)); !s.ok()) {
    spdlog::error("migrations: {}", s.ToString());
    return 1;
  }
  int code = 0;
  if (config->command == Command::kTokenBootstrap) {
    code = BootstrapToken(*config, database->dsn);
  } else if (config->command == Command::kServe) {
    code = Serve(*config, database->dsn, stop_signals);
  }
  if (database->cluster) {
    if (auto s = database->cluster->Stop(); !s.ok()) {
      spdlog::warn("stopping the local PostgreSQL: {}", s.ToString());
    }
  }
  return code;
}

}  // namespace
}  // namespace mixsweep::daemon

int main(int argc, char** argv) { return mixsweep::daemon::Main(argc, argv); }
