// The web dashboard's request handling: the page's files (embedded in the
// binary at build time: nothing to install, no CDN) and the read-only API
// (api_gateway.h), with the headers that keep a browser from running
// anything but the page's own scripts.
//
//   ApiGateway gateway(channel, gate);
//   auto server = http::HttpServer::Start({.listen = "127.0.0.1:8080"},
//       [&](const http::HttpRequest& r) { return HandleDashboardRequest(r, gateway); });
#pragma once

#include "services/dashboard/api_gateway.h"
#include "services/http/http_server.h"

namespace mixsweep::dashboard {

http::HttpResponse HandleDashboardRequest(const http::HttpRequest& request,
                                          const ApiGateway& gateway);

}  // namespace mixsweep::dashboard
