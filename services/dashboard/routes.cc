#include "services/dashboard/routes.h"

#include <cmath>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace mixsweep::dashboard {
namespace {

// Longest target read: the page never builds longer ones, and a bound keeps
// a hostile query from costing anything.
constexpr size_t kMaxTargetBytes = 2048;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: %XX and '+' for a space.
absl::StatusOr<std::string> DecodeQueryValue(absl::string_view name, absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '%' must start a %XX escape"));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": control characters are not allowed"));
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseSweepId(absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep_id: '", text.substr(0, 40), "' is not a sweep id (a positive integer)"));
  }
  return id;
}

// Reads the recommendation's query: scenario, source, budget_hours (all
// required), refusing any other parameter so that a typo is not ignored.
absl::Status ParseRecommendationQuery(absl::string_view query, Route& route) {
  bool has_budget = false;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    const std::string name(kv.first);
    auto value = DecodeQueryValue(name, kv.second);
    if (!value.ok()) return value.status();
    if (name == "scenario") {
      route.scenario = *value;
    } else if (name == "source") {
      route.source = *value;
    } else if (name == "budget_hours" || name == "cost_tele_hours" || name == "cost_nt_hours") {
      double hours = 0;
      if (!absl::SimpleAtod(*value, &hours) || !std::isfinite(hours) || hours <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": '", value->substr(0, 40), "' is not a positive number of hours"));
      }
      if (name == "budget_hours") {
        route.budget_hours = hours;
        has_budget = true;
      } else if (name == "cost_tele_hours") {
        route.cost_tele_hours = hours;
      } else {
        route.cost_nt_hours = hours;
      }
    } else if (name == "teleop_core") {
      int64_t core = 0;
      if (!absl::SimpleAtoi(*value, &core) || core <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "teleop_core: '", value->substr(0, 40), "' is not a positive number of demos"));
      }
      route.teleop_core = core;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "query parameter '", name.substr(0, 40),
          "' is not known here (scenario, source, budget_hours, cost_tele_hours, cost_nt_hours, "
          "teleop_core)"));
    }
  }
  if (!has_budget) return absl::InvalidArgumentError("budget_hours: missing");
  return absl::OkStatus();
}

absl::Status NoQuery(absl::string_view query) {
  if (query.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError("this route takes no query parameters");
}

}  // namespace

absl::StatusOr<Route> ParseRoute(std::string_view target_in) {
  const absl::string_view target(target_in.data(), target_in.size());
  if (target.size() > kMaxTargetBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request target: ", target.size(), " bytes; at most ", kMaxTargetBytes));
  }
  const size_t q = target.find('?');
  const absl::string_view path = target.substr(0, q);
  const absl::string_view query = q == absl::string_view::npos ? "" : target.substr(q + 1);

  Route route;
  if (path == "/" || path == "/index.html") {
    route.asset = "index.html";
    return route;
  }
  for (absl::string_view asset : {"app.js", "plot.js", "style.css"}) {
    if (path.size() == asset.size() + 1 && path[0] == '/' && path.substr(1) == asset) {
      route.asset = std::string(asset);
      return route;
    }
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  // parts[0] is the empty string before the leading '/'.
  if (parts.size() < 4 || !parts[0].empty() || parts[1] != "api" || parts[2] != "v1") {
    return absl::NotFoundError(absl::StrCat("no page at ", path.substr(0, 200)));
  }
  const absl::string_view collection = parts[3];
  if (parts.size() == 4) {
    if (collection == "session") route.kind = RouteKind::kSession;
    else if (collection == "whoami") route.kind = RouteKind::kWhoAmI;
    else if (collection == "sweeps") route.kind = RouteKind::kListSweeps;
    else if (collection == "workers") route.kind = RouteKind::kWorkers;
    else return absl::NotFoundError(absl::StrCat("no API route at ", path.substr(0, 200)));
    if (auto s = NoQuery(query); !s.ok()) return s;
    return route;
  }
  if (collection != "sweeps" || parts.size() > 6) {
    return absl::NotFoundError(absl::StrCat("no API route at ", path.substr(0, 200)));
  }
  auto id = ParseSweepId(parts[4]);
  if (!id.ok()) return id.status();
  route.sweep_id = *id;
  const absl::string_view sub = parts.size() == 6 ? parts[5] : "";
  if (sub.empty()) {
    route.kind = RouteKind::kGetSweep;
  } else if (sub == "results") {
    route.kind = RouteKind::kResults;
  } else if (sub == "estimates") {
    route.kind = RouteKind::kEstimates;
  } else if (sub == "recommendation") {
    route.kind = RouteKind::kRecommendation;
    if (auto s = ParseRecommendationQuery(query, route); !s.ok()) return s;
    return route;
  } else {
    return absl::NotFoundError(absl::StrCat("no API route at ", path.substr(0, 200)));
  }
  if (auto s = NoQuery(query); !s.ok()) return s;
  return route;
}

std::string_view MethodOf(RouteKind kind) {
  switch (kind) {
    case RouteKind::kAsset:
    case RouteKind::kSession:
      return "";
    case RouteKind::kWhoAmI:
      return "/mixsweep.v1.AuthService/WhoAmI";
    case RouteKind::kListSweeps:
      return "/mixsweep.v1.SweepService/ListSweeps";
    case RouteKind::kGetSweep:
      return "/mixsweep.v1.SweepService/GetSweep";
    case RouteKind::kResults:
      return "/mixsweep.v1.EvaluationService/ListResults";
    case RouteKind::kEstimates:
      return "/mixsweep.v1.UtilizationService/GetEstimates";
    case RouteKind::kRecommendation:
      return "/mixsweep.v1.UtilizationService/RecommendMix";
    case RouteKind::kWorkers:
      return "/mixsweep.v1.WorkerService/ListWorkers";
  }
  return "";
}

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kFailedPrecondition: return 412;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string ErrorBody(const absl::Status& status) {
  nlohmann::json body = {{"code", absl::StatusCodeToString(status.code())},
                         {"message", std::string(status.message())}};
  // Replace invalid UTF-8 rather than throw: a message may quote user input.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mixsweep::dashboard
