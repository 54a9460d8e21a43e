#include "services/dashboard/dashboard.h"

#include <string_view>

#include "services/dashboard/assets.h"
#include "services/dashboard/routes.h"

namespace mixsweep::dashboard {
namespace {

struct Asset {
  std::string_view name;
  std::string_view content_type;
  std::string_view body;
};

constexpr Asset kAssets[] = {
    {"index.html", "text/html; charset=utf-8", assets::kIndexHtml},
    {"app.js", "text/javascript; charset=utf-8", assets::kAppJs},
    {"plot.js", "text/javascript; charset=utf-8", assets::kPlotJs},
    {"style.css", "text/css; charset=utf-8", assets::kStyleCss},
};

// Only the page's own files run; nothing may frame it or be sniffed.
void AddSecurityHeaders(http::HttpResponse& response) {
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
}

}  // namespace

http::HttpResponse HandleDashboardRequest(const http::HttpRequest& request,
                                          const ApiGateway& gateway) {
  http::HttpResponse response;
  AddSecurityHeaders(response);
  auto route = ParseRoute(request.target);
  HttpAnswer answer;
  if (!route.ok()) {
    answer = ErrorAnswer(route.status());
  } else if (route->kind == RouteKind::kAsset) {
    for (const Asset& asset : kAssets) {
      if (asset.name == route->asset) {
        response.content_type = std::string(asset.content_type);
        response.body = std::string(asset.body);
        response.headers.emplace_back("Cache-Control", "no-cache");
        return response;
      }
    }
    answer = ErrorAnswer(absl::NotFoundError("no such file"));
  } else {
    answer = gateway.Answer(*route, request.authorization);
  }
  response.status = answer.status;
  response.content_type = answer.content_type;
  response.body = std::move(answer.body);
  // Answers change with every result, and may be a private view.
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace mixsweep::dashboard
