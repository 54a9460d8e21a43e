#include "services/metrics/process_metrics.h"

#include <chrono>

#include "scheduler/auth/access_policy.h"

namespace mixsweep::metrics {
namespace {

// Latency buckets of RPCs and transactions: from a cached read (~100 us) to
// a long poll (LeaseJob waits up to 30 s) and a stream.
const prometheus::Histogram::BucketBoundaries kLatencyBoundsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

bool IsServed(std::string_view path) {
  if (path == "/grpc.health.v1.Health/Check" || path == "/grpc.health.v1.Health/Watch") {
    return true;
  }
  for (std::string_view known : auth::KnownMethods()) {
    if (known == path) return true;
  }
  return false;
}

// Times one call from the interceptor's creation (the call's start) to the
// status it sends.
class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(ProcessMetrics& metrics, std::string path)
      : metrics_(metrics), path_(std::move(path)), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      metrics_.RecordRpc(path_, static_cast<absl::StatusCode>(status.error_code()),
                         absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  ProcessMetrics& metrics_;
  const std::string path_;
  const absl::Time start_;
};

class RpcInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcInterceptorFactory(ProcessMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcInterceptor(metrics_, info->method() == nullptr ? "" : info->method());
  }

 private:
  ProcessMetrics& metrics_;
};

}  // namespace

std::pair<std::string, std::string> MethodLabels(std::string_view path) {
  if (!IsServed(path)) return {"other", "other"};
  // "/pkg.Service/Method": the service's last dotted component, the method.
  const size_t slash = path.rfind('/');
  const std::string_view qualified = path.substr(1, slash - 1);
  const size_t dot = qualified.rfind('.');
  return {std::string(dot == std::string_view::npos ? qualified : qualified.substr(dot + 1)),
          std::string(path.substr(slash + 1))};
}

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry, std::string_view version)
    : rpc_count_(prometheus::BuildCounter()
                     .Name("mixsweep_grpc_requests_total")
                     .Help("RPCs this replica answered, by service, method and status code "
                           "(refusals of the token check included)")
                     .Register(registry)),
      rpc_duration_(prometheus::BuildHistogram()
                        .Name("mixsweep_grpc_request_duration_seconds")
                        .Help("Latency of the RPCs this replica answered, from the call's start "
                              "to its status")
                        .Register(registry)),
      transaction_duration_(prometheus::BuildHistogram()
                                .Name("mixsweep_db_transaction_duration_seconds")
                                .Help("PostgreSQL transactions of this replica, from BEGIN to "
                                      "COMMIT or rollback")
                                .Register(registry)),
      build_info_(prometheus::BuildGauge()
                      .Name("mixsweep_build_info")
                      .Help("Always 1; the labels say which build runs")
                      .Register(registry)) {
  build_info_.Add({{"version", std::string(version)}}).Set(1);
  // Present from the start, so that rate() has a first sample.
  transaction_duration_.Add({{"outcome", "committed"}}, kLatencyBoundsSeconds);
  transaction_duration_.Add({{"outcome", "failed"}}, kLatencyBoundsSeconds);
}

void ProcessMetrics::RecordRpc(std::string_view path, absl::StatusCode code,
                               absl::Duration elapsed) {
  auto [service, method] = MethodLabels(path);
  const prometheus::Labels labels = {{"service", service},
                                     {"method", method},
                                     {"code", absl::StatusCodeToString(code)}};
  rpc_count_.Add(labels).Increment();
  rpc_duration_.Add(labels, kLatencyBoundsSeconds).Observe(absl::ToDoubleSeconds(elapsed));
}

void ProcessMetrics::RecordTransaction(absl::Duration elapsed, bool committed) {
  transaction_duration_.Add({{"outcome", committed ? "committed" : "failed"}},
                            kLatencyBoundsSeconds)
      .Observe(absl::ToDoubleSeconds(elapsed));
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ProcessMetrics::InterceptorFactories() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  out.push_back(std::make_unique<RpcInterceptorFactory>(*this));
  return out;
}

}  // namespace mixsweep::metrics
