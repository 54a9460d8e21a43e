#include "services/metrics/metrics_endpoint.h"

#include <prometheus/text_serializer.h>

namespace mixsweep::metrics {

http::HttpResponse ServeMetrics(
    const http::HttpRequest& request,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  if (path != "/metrics") {
    return {.status = 404, .body = "not found: metrics are at /metrics\n"};
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : collectables) {
    auto collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }
  return {.status = 200,
          .content_type = "text/plain; version=0.0.4; charset=utf-8",
          .body = prometheus::TextSerializer().Serialize(families)};
}

}  // namespace mixsweep::metrics
