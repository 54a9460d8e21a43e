// /metrics over http::HttpServer: Prometheus's text format (0.0.4) of the
// given collectables, collected at each scrape. (prometheus-cpp's own
// exposer would add series of its own, not named mixsweep_.)
//
//   auto server = http::HttpServer::Start({.listen = "127.0.0.1:9464"},
//       [&](const http::HttpRequest& r) { return ServeMetrics(r, {registry, collector}); });
#pragma once

#include <memory>
#include <vector>

#include <prometheus/collectable.h>

#include "services/http/http_server.h"

namespace mixsweep::metrics {

// GET /metrics: the text format; any other path: 404.
http::HttpResponse ServeMetrics(
    const http::HttpRequest& request,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);

}  // namespace mixsweep::metrics
