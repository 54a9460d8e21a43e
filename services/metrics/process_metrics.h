// What this mixsweepd process did since it started (docs/METRICS.md): RPCs
// by method and status code with their latency, and database transactions
// with theirs. Families live in a prometheus::Registry that /metrics serves.
//
// RPCs are counted by a gRPC server interceptor (every call that reaches a
// handler) and by the token gate (calls it refused, which never reach one).
// Method labels come from a fixed list: a path the server does not serve is
// counted as method="other", so no caller can grow the label set.
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   ProcessMetrics metrics(*registry);
//   builder.experimental().SetInterceptorCreators(metrics.InterceptorFactories());
//   pool.set_transaction_observer(metrics.TransactionObserver());
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/server_interceptor.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace mixsweep::metrics {

// ("SweepService", "GetSweep") for "/mixsweep.v1.SweepService/GetSweep",
// ("Health", "Check") for the health service; ("other", "other") for a
// path that is not one of the server's methods.
std::pair<std::string, std::string> MethodLabels(std::string_view path);

class ProcessMetrics {
 public:
  explicit ProcessMetrics(prometheus::Registry& registry, std::string_view version = "");

  // One finished RPC. `code` is absl's (the same numbers as gRPC's).
  void RecordRpc(std::string_view path, absl::StatusCode code, absl::Duration elapsed);

  void RecordTransaction(absl::Duration elapsed, bool committed);

  // For ServerBuilder::experimental().SetInterceptorCreators.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  InterceptorFactories();

 private:
  prometheus::Family<prometheus::Counter>& rpc_count_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Family<prometheus::Histogram>& transaction_duration_;
  prometheus::Family<prometheus::Gauge>& build_info_;
};

}  // namespace mixsweep::metrics
