// The deploy files of deploy/prometheus and deploy/grafana against a real
// Prometheus (Debian's prometheus 2.42) scraping the real binaries
// (docs/OBSERVABILITY.md):
//   - promtool accepts the scrape configuration and the rules as shipped;
//   - the dashboard JSON has Grafana's shape (schemaVersion, datasource
//     variable, panels with targets);
//   - one scenario: mixsweepd (its database behind a proxy that the test can
//     cut), two synthetic workers with a fake nvidia-smi and the synthetic
//     lab complete the Pick Dual Bottles sweep; a worker holding a lease is
//     SIGKILLed (its lease expires) and a worker whose every job fails runs a
//     second sweep. Prometheus runs deploy/prometheus/prometheus.yml with
//     only its two intervals made 1s, and the rules file unchanged. Through
//     Prometheus's HTTP API the test checks the job counts, counters and
//     every eta (with its interval) against the database and the gRPC API,
//     that the lease, failure and database alerts go off, and that every
//     PromQL expression of the rules and the dashboard is accepted and
//     returns data.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_fault_proxy.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/synthetic_lab.h"
#include "tests/support/worker_process.h"


namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kPrometheusBin[] = "/usr/bin/prometheus";
constexpr char kPromtoolBin[] = "/usr/bin/promtool";

std::string DeployPath(const std::string& relative) {
  return std::string(MIXSWEEP_SOURCE_DIR) + "/deploy/" + relative;
}

// ------------------------------------------------------------ HTTP client

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;
};

// GET http://127.0.0.1:`port``target` as HTTP/1.0: the server answers and
// closes the connection, so the body is everything after the header.
HttpAnswer HttpGet(int port, const std::string& target) {
  HttpAnswer out;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = "socket failed";
    return out;
  }
  timeval timeout{.tv_sec = 60, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    out.error = "connect failed";
    close(fd);
    return out;
  }
  const std::string request =
      "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      out.error = "send failed";
      close(fd);
      return out;
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[16384];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) raw.append(buffer, n);
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || header_end == std::string::npos) {
    out.error = "no HTTP answer: " + raw.substr(0, 200);
    return out;
  }
  out.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  out.body = raw.substr(header_end + 4);
  return out;
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// ------------------------------------------------------------ Prometheus

// One sample of an instant vector.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The answer to an instant query.
struct QueryAnswer {
  bool ok = false;              // HTTP 200 and status "success"
  std::string error;            // Prometheus's error, or the transport's
  std::vector<Sample> samples;  // a scalar answer is one sample without labels
  std::string body;

  bool has_finite_value() const {
    for (const Sample& s : samples) {
      if (std::isfinite(s.value)) return true;
    }
    return false;
  }
};

double ParsePromValue(const json& value) {
  // [ <time>, "<value>" ]; "NaN", "+Inf", "-Inf" included (strtod reads them).
  return std::strtod(value.at(1).get<std::string>().c_str(), nullptr);
}

class PrometheusServer {
 public:
  // Runs `config` (a prometheus.yml in its own directory) on a free port and
  // waits until it is ready.
  static std::unique_ptr<PrometheusServer> Start(const std::string& config) {
    auto server = std::unique_ptr<PrometheusServer>(new PrometheusServer);
    const std::string dir = MakeTempDir("prometheus-data");
    server->log_path_ = dir + "/prometheus.log";
    // A port that was free a moment ago may be taken by the time Prometheus
    // binds it: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
      server->port_ = FreePort();
      server->process_ = Process::Start(
          {kPrometheusBin, "--config.file=" + config,
           "--storage.tsdb.path=" + dir + "/tsdb-" + std::to_string(attempt),
           "--web.listen-address=127.0.0.1:" + std::to_string(server->port_), "--log.level=info"},
          server->log_path_);
      const bool ready = WaitUntil(
          [&] {
            if (!server->process_.running()) return true;
            return HttpGet(server->port_, "/-/ready").status == 200;
          },
          60s);
      if (ready && server->process_.running()) return server;
      server->process_.Kill(SIGKILL);
      server->process_.Wait();
    }
    ADD_FAILURE() << "prometheus did not start; log:\n" << FileTail(server->log_path_);
    return nullptr;
  }

  ~PrometheusServer() {
    process_.Kill(SIGTERM);
    if (process_.Wait(30s) == -1) process_.Kill(SIGKILL);
  }

  QueryAnswer Query(const std::string& promql) const {
    return ParseVector(HttpGet(port_, "/api/v1/query?query=" + UrlEncode(promql)));
  }

  // GET /api/v1/<path>: the "data" member, or null on any failure.
  json Api(const std::string& path) const {
    const HttpAnswer answer = HttpGet(port_, "/api/v1/" + path);
    if (answer.status != 200) return nullptr;
    json body = json::parse(answer.body, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "success") return nullptr;
    return body["data"];
  }

  // The one value of a query answering one sample; NaN otherwise.
  double Value(const std::string& promql) const {
    const QueryAnswer answer = Query(promql);
    return answer.ok && answer.samples.size() == 1 ? answer.samples[0].value : std::nan("");
  }

  int port() const { return port_; }
  std::string LogTail() const { return FileTail(log_path_, 30); }

 private:
  PrometheusServer() = default;

  static QueryAnswer ParseVector(const HttpAnswer& http) {
    QueryAnswer out;
    out.body = http.body.substr(0, 2000);
    if (http.status == 0) {
      out.error = http.error;
      return out;
    }
    json body = json::parse(http.body, nullptr, false);
    if (body.is_discarded()) {
      out.error = "not JSON";
      return out;
    }
    if (http.status != 200 || body.value("status", "") != "success") {
      out.error = body.value("errorType", "") + ": " + body.value("error", "");
      return out;
    }
    const json& data = body["data"];
    const std::string type = data.value("resultType", "");
    if (type == "scalar") {
      out.samples.push_back({{}, ParsePromValue(data["result"])});
    } else if (type == "vector") {
      for (const json& r : data["result"]) {
        Sample s;
        for (auto it = r["metric"].begin(); it != r["metric"].end(); ++it) {
          s.labels[it.key()] = it.value().get<std::string>();
        }
        s.value = ParsePromValue(r["value"]);
        out.samples.push_back(std::move(s));
      }
    } else {
      out.error = "unexpected resultType " + type;
      return out;
    }
    out.ok = true;
    return out;
  }

  Process process_;
  int port_ = 0;
  std::string log_path_;
};

// ------------------------------------------------------------ expressions

// `expr` with every comparison outside label matchers and strings made a
// `bool` one (`X > 7200` -> `X > bool 7200`): the comparison then keeps
// every series, as 0 or 1, instead of dropping those where it is false, so
// an alert's expression returns data whenever its inputs exist, true or
// not. `and` of such results keeps the left side where the right exists.
// `comparisons`: how many were found.
std::string WithBoolComparisons(const std::string& expr, int* comparisons) {
  std::string out;
  int depth = 0;  // inside {...}: label matchers, where = != =~ !~ are not comparisons
  char quote = 0;
  for (size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (quote != 0) {
      out += c;
      if (c == '\\' && i + 1 < expr.size())
        out += expr[++i];
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') quote = c;
    if (c == '{') ++depth;
    if (c == '}') --depth;
    size_t length = 0;
    if (depth == 0 && quote == 0) {
      const bool followed_by_eq = i + 1 < expr.size() && expr[i + 1] == '=';
      if ((c == '=' || c == '!' || c == '>' || c == '<') && followed_by_eq)
        length = 2;
      else if (c == '>' || c == '<')
        length = 1;
    }
    if (length == 0) {
      out += c;
      continue;
    }
    out += expr.substr(i, length);
    i += length - 1;
    size_t next = i + 1;
    while (next < expr.size() && std::isspace(static_cast<unsigned char>(expr[next]))) ++next;
    const bool has_bool =
        expr.compare(next, 4, "bool") == 0 &&
        (next + 4 == expr.size() || !std::isalnum(static_cast<unsigned char>(expr[next + 4])));
    if (!has_bool) out += " bool";
    ++*comparisons;
  }
  return out;
}

// A dashboard expression as Grafana sends it with every variable at its
// default, All (allValue ".*"), and the interval macros at what Grafana
// would use for a short range of this test's 1 s scrapes.
std::string Concrete(std::string expr) {
  const std::pair<const char*, const char*> kMacros[] = {{"${__rate_interval}", "1m"},
                                                         {"$__rate_interval", "1m"},
                                                         {"${__interval}", "15s"},
                                                         {"$__interval", "15s"},
                                                         {"${__range}", "1h"},
                                                         {"$__range", "1h"},
                                                         {"${sweep}", ".*"},
                                                         {"$sweep", ".*"},
                                                         {"${task}", ".*"},
                                                         {"$task", ".*"},
                                                         {"${scenario}", ".*"},
                                                         {"$scenario", ".*"},
                                                         {"${source}", ".*"},
                                                         {"$source", ".*"}};
  for (const auto& [from, to] : kMacros) expr = absl::StrReplaceAll(expr, {{from, to}});
  return expr;
}

// Every panel of the dashboard, rows' nested panels included.
void CollectPanels(const json& panels, std::vector<json>* out) {
  for (const json& panel : panels) {
    out->push_back(panel);
    if (panel.contains("panels")) CollectPanels(panel["panels"], out);
  }
}

json ReadDashboard() {
  std::ifstream in(DeployPath("grafana/mixsweep.json"));
  return json::parse(in, nullptr, false);
}

// label_values(SELECTOR, LABEL) of a templating variable: {SELECTOR, LABEL}.
std::pair<std::string, std::string> SplitLabelValues(const std::string& query) {
  const std::string prefix = "label_values(";
  if (query.rfind(prefix, 0) != 0 || query.back() != ')') return {};
  const std::string inner = query.substr(prefix.size(), query.size() - prefix.size() - 1);
  const size_t comma = inner.rfind(',');
  if (comma == std::string::npos) return {};
  std::string label = inner.substr(comma + 1);
  label.erase(0, label.find_first_not_of(' '));
  return {inner.substr(0, comma), label};
}

// ------------------------------------------------------------ static checks

TEST(PrometheusDeploy, PromtoolAcceptsTheConfigurationAndRulesAsShipped) {
  ASSERT_EQ(access(kPromtoolBin, X_OK), 0)
      << kPromtoolBin << " is missing: install Debian's prometheus package (scripts/test.sh does)";
  const CommandResult config =
      RunCommand({kPromtoolBin, "check", "config", DeployPath("prometheus/prometheus.yml")});
  EXPECT_EQ(config.exit_code, 0) << config.out << config.err;
  EXPECT_NE((config.out + config.err).find("SUCCESS"), std::string::npos) << config.out;
  const CommandResult rules =
      RunCommand({kPromtoolBin, "check", "rules", DeployPath("prometheus/rules.yml")});
  EXPECT_EQ(rules.exit_code, 0) << rules.out << rules.err;
  EXPECT_NE(rules.out.find("SUCCESS: 15 rules found"), std::string::npos)
      << rules.out << "(7 recording and 8 alerting rules; update this count with the file)";
}

TEST(PrometheusDeploy, DashboardHasGrafanasShape) {
  const json dashboard = ReadDashboard();
  ASSERT_FALSE(dashboard.is_discarded()) << "deploy/grafana/mixsweep.json is not JSON";
  EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
  EXPECT_FALSE(dashboard.value("uid", "").empty());
  EXPECT_FALSE(dashboard.value("title", "").empty());

  std::map<std::string, json> variables;
  for (const json& v : dashboard["templating"]["list"]) variables[v.value("name", "")] = v;
  ASSERT_EQ(variables.count("datasource"), 1u);
  EXPECT_EQ(variables["datasource"]["type"], "datasource");
  EXPECT_EQ(variables["datasource"]["query"], "prometheus");
  for (const char* name : {"sweep", "task", "scenario", "source"}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(variables.count(name), 1u);
    const json& v = variables[name];
    EXPECT_EQ(v["type"], "query");
    EXPECT_EQ(v["datasource"]["uid"], "${datasource}");
    EXPECT_TRUE(v["includeAll"].get<bool>());
    EXPECT_EQ(v["allValue"], ".*") << "the test runs each query with every variable at All";
    EXPECT_FALSE(SplitLabelValues(v["query"]["query"].get<std::string>()).first.empty())
        << "label_values(SELECTOR, LABEL) expected";
  }

  std::vector<json> panels;
  CollectPanels(dashboard["panels"], &panels);
  const std::set<std::string> kTypes = {"row",   "timeseries", "stat",
                                        "table", "heatmap",    "bargauge"};
  std::set<int> ids;
  std::set<std::string> types;
  int targets = 0;
  for (const json& panel : panels) {
    const std::string title = panel.value("title", "");
    SCOPED_TRACE(title);
    EXPECT_FALSE(title.empty());
    EXPECT_EQ(kTypes.count(panel.value("type", "")), 1u) << panel.value("type", "");
    types.insert(panel.value("type", ""));
    EXPECT_TRUE(ids.insert(panel.value("id", 0)).second) << "duplicate panel id";
    const json& grid = panel["gridPos"];
    EXPECT_TRUE(grid.contains("x") && grid.contains("y") && grid.contains("w") &&
                grid.contains("h"));
    EXPECT_LE(grid.value("x", 0) + grid.value("w", 0), 24);
    if (panel["type"] == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}");
    ASSERT_TRUE(panel.contains("targets"));
    std::set<std::string> ref_ids;
    for (const json& t : panel["targets"]) {
      EXPECT_FALSE(t.value("expr", "").empty());
      EXPECT_TRUE(ref_ids.insert(t.value("refId", "")).second) << "duplicate refId";
      ++targets;
    }
  }
  EXPECT_EQ(types, kTypes);
  EXPECT_GT(targets, 40);
}

// ------------------------------------------------------------ the scenario

std::string WriteExecutable(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  chmod(path.c_str(), 0755);
  return path;
}

int ReadPortFile(const std::string& path) {
  int port = 0;
  WaitUntil([&] { return (std::ifstream(path) >> port) && port > 0; }, 60s);
  return port;
}

// A small sweep only workers with label pool=`pool` can run: `n_tele` train
// jobs, one scenario.
std::string LabelledSweep(const std::string& name, const std::string& n_tele,
                          const std::string& pool) {
  std::string yaml = Replace(PickDualBottles(), "name: pick-dual-bottles-sim", "name: " + name);
  yaml = Replace(yaml, "n_tele: [50, 100, 200]", "n_tele: " + n_tele);
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0]");
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [0]");
  yaml = Replace(yaml, "scenarios: [in_domain, unseen_background, unseen_position]",
                 "scenarios: [in_domain]");
  return Replace(yaml, "resources:\n  gpus: 1",
                 "resources:\n  gpus: 1\n  labels: {pool: " + pool + "}");
}

// The labels by which an eta series is found: those of mixsweep_eta.
std::string EtaKey(const std::map<std::string, std::string>& labels) {
  std::vector<std::string> parts;
  for (const char* name : {"sweep", "task", "scenario", "source", "estimate", "n_tele", "n_nt"}) {
    auto it = labels.find(name);
    parts.push_back(absl::StrCat(name, "=", it == labels.end() ? "" : it->second));
  }
  return absl::StrJoin(parts, ",");
}

bool Near(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

// What mixsweep_eta, _lower, _upper, _inverse_lower, _inverse_upper and
// _sign_established must hold for one sweep, from the gRPC API's estimates:
// family -> EtaKey -> value.
using EtaTable = std::map<std::string, std::map<std::string, double>>;

EtaTable ExpectedEtaSeries(const v1::GetEstimatesResponse& served) {
  EtaTable out;
  auto add = [&](const v1::Estimate& e, const char* kind, int64_t n_tele, int64_t n_nt,
                 const v1::Eta& eta, bool has_interval, const v1::EtaInterval& interval) {
    const std::string key = EtaKey({{"sweep", absl::StrCat(e.sweep_id())},
                                    {"task", e.task()},
                                    {"scenario", e.scenario()},
                                    {"source", e.source()},
                                    {"estimate", kind},
                                    {"n_tele", absl::StrCat(n_tele)},
                                    {"n_nt", absl::StrCat(n_nt)}});
    if (eta.status() == v1::Eta::STATUS_DEFINED && std::isfinite(eta.value())) {
      out["mixsweep_eta"][key] = eta.value();
    }
    if (!has_interval) return;
    out["mixsweep_eta_inverse_lower"][key] = interval.inverse().lower();
    out["mixsweep_eta_inverse_upper"][key] = interval.inverse().upper();
    out["mixsweep_eta_sign_established"][key] = interval.sign_established() ? 1 : 0;
    if (interval.sign_established() && std::isfinite(interval.eta().lower()) &&
        std::isfinite(interval.eta().upper())) {
      out["mixsweep_eta_lower"][key] = interval.eta().lower();
      out["mixsweep_eta_upper"][key] = interval.eta().upper();
    }
  };
  for (const v1::Estimate& e : served.estimates()) {
    for (const v1::LocalEta& l : e.local()) {
      add(e, "local", l.n_t_star(), l.n_nt(), l.eta(), l.has_interval(), l.interval());
    }
    for (const v1::GlobalEta& g : e.global()) {
      add(e, "global", g.n_tele(), g.n_nt(), g.eta(), g.has_interval(), g.interval());
    }
  }
  return out;
}

// The differences between what Prometheus holds for `sweep` and `expected`
// ("" when none).
std::string EtaDifferences(const PrometheusServer& prometheus, int64_t sweep,
                           const EtaTable& expected) {
  std::string out;
  for (const char* family :
       {"mixsweep_eta", "mixsweep_eta_lower", "mixsweep_eta_upper", "mixsweep_eta_inverse_lower",
        "mixsweep_eta_inverse_upper", "mixsweep_eta_sign_established"}) {
    const QueryAnswer answer = prometheus.Query(
        absl::StrCat("max without (instance) (", family, "{sweep=\"", sweep, "\"})"));
    if (!answer.ok) return absl::StrCat(family, ": ", answer.error);
    std::map<std::string, double> actual;
    for (const Sample& s : answer.samples) actual[EtaKey(s.labels)] = s.value;
    auto it = expected.find(family);
    const std::map<std::string, double> want =
        it == expected.end() ? std::map<std::string, double>{} : it->second;
    for (const auto& [key, value] : want) {
      auto found = actual.find(key);
      if (found == actual.end()) {
        absl::StrAppend(&out, family, "{", key, "} missing (API: ", value, ")\n");
      } else if (!Near(found->second, value)) {
        absl::StrAppend(&out, family, "{", key, "} = ", found->second, ", API: ", value, "\n");
      }
    }
    for (const auto& [key, value] : actual) {
      if (want.count(key) == 0) absl::StrAppend(&out, family, "{", key, "} not in the API\n");
    }
  }
  return out;
}

// The firing or pending alerts by name: name -> states seen.
std::map<std::string, std::set<std::string>> Alerts(const PrometheusServer& prometheus) {
  std::map<std::string, std::set<std::string>> out;
  const json data = prometheus.Api("alerts");
  if (data.is_null()) return out;
  for (const json& a : data["alerts"]) {
    out[a["labels"].value("alertname", "")].insert(a.value("state", ""));
  }
  return out;
}

TEST(PrometheusE2E, ScrapesMixsweepdAndWorkersAndEveryRuleAndPanelQueryReturnsData) {
  ASSERT_EQ(access(kPrometheusBin, X_OK), 0)
      << kPrometheusBin
      << " is missing: install Debian's prometheus package (scripts/test.sh does)";

  // mixsweepd on the test's database through a proxy, so that the test can
  // make the database unreachable at the end.
  const std::string dsn = CreateTestDatabase();
  const std::string dbname = dsn.substr(dsn.find("dbname=") + 7);
  std::string error;
  std::unique_ptr<PgFaultProxy> proxy =
      PgFaultProxy::Start(TestCluster().options().directory + "/run/.s.PGSQL.5432", &error);
  ASSERT_NE(proxy, nullptr) << error;
  Daemon daemon = Daemon::Start(
      {.database = absl::StrCat("host=127.0.0.1 port=", proxy->port(),
                                " user=", TestCluster().options().superuser, " dbname=", dbname),
       .extra_args = {"--artifact-root", "file://" + MakeTempDir("artifacts"),
                      "--estimate-resamples", "300", "--recompute-interval-seconds", "0.5",
                      "--metrics-refresh-seconds", "0.5", "--lease-ttl-seconds", "6",
                      "--heartbeat-seconds", "1", "--expiry-interval-seconds", "0.5",
                      "--retry-base-seconds", "0"},
       .metrics = true});
  ASSERT_GT(daemon.metrics_port(), 0) << daemon.LogTail();

  // Two synthetic workers with /metrics and an nvidia-smi that reports one
  // H100 at 37% with 1024 MiB in use.
  const std::string tools = MakeTempDir("fake-nvidia-smi");
  const std::string nvidia_smi = WriteExecutable(tools + "/nvidia-smi",
                                                 "#!/bin/sh\n"
                                                 "echo '0, NVIDIA H100 80GB HBM3, 81559, 1024, 37, "
                                                 "GPU-4ff03885-1b56-12d1-6164-91582ae62b02'\n");
  std::vector<WorkerProcess> workers;
  std::vector<int> worker_ports;
  for (const char* name : {"w1", "w2"}) {
    const std::string port_file = MakeTempDir(std::string("metrics-") + name) + "/port";
    workers.push_back(WorkerProcess::Start(
        daemon, name,
        {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000",
         "--nvidia-smi", nvidia_smi, "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
         port_file}));
    worker_ports.push_back(ReadPortFile(port_file));
    ASSERT_GT(worker_ports.back(), 0) << workers.back().LogTail();
  }

  // Prometheus runs the deployed configuration with 1 s intervals, the
  // deployed rules unchanged, and targets files naming the processes above.
  const std::string config_dir = MakeTempDir("prometheus-config");
  std::string config = ReadFile(DeployPath("prometheus/prometheus.yml"));
  config = Replace(config, "scrape_interval: 15s", "scrape_interval: 1s");
  config = Replace(config, "evaluation_interval: 15s", "evaluation_interval: 1s");
  std::ofstream(config_dir + "/prometheus.yml") << config;
  std::ofstream(config_dir + "/rules.yml") << ReadFile(DeployPath("prometheus/rules.yml"));
  std::filesystem::create_directories(config_dir + "/targets");
  std::ofstream(config_dir + "/targets/mixsweepd.yml")
      << "- targets: [\"127.0.0.1:" << daemon.metrics_port() << "\"]\n";
  std::ofstream(config_dir + "/targets/workers.yml")
      << "- targets: [\"127.0.0.1:" << worker_ports[0] << "\", \"127.0.0.1:" << worker_ports[1]
      << "\"]\n";
  std::unique_ptr<PrometheusServer> prometheus =
      PrometheusServer::Start(config_dir + "/prometheus.yml");
  ASSERT_NE(prometheus, nullptr);
  const auto started = std::chrono::steady_clock::now();
  const auto phase = [&](const char* what) {
    std::cout << "["
              << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                  started)
                     .count()
              << " s] " << what << std::endl;
  };
  ASSERT_TRUE(WaitUntil([&] { return prometheus->Value("sum(up)") == 3; }, 60s))
      << "targets: " << prometheus->Api("targets").dump().substr(0, 3000) << "\n"
      << prometheus->LogTail();

  // Sweep 1: trained by w1 and w2, evaluated by the synthetic lab.
  CommandResult submitted = daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  // The documented ground truth, with simulation worth much more in
  // unseen_position (eta 2, not 8), so that some estimate's sign is
  // established and its interval's bounds are exported.
  const std::string lab_dir = MakeTempDir("lab");
  const std::string truth = lab_dir + "/truth.yaml";
  std::ofstream(truth) << Replace(
      ReadFile(std::string(MIXSWEEP_SOURCE_DIR) + "/docs/examples/pick_dual_bottles.truth.yaml"),
      "eta: {sim: 8}", "eta: {sim: 2}");
  const std::string lab_log = lab_dir + "/lab.log";
  Process lab = StartSyntheticLab(daemon, {.log = lab_log, .truth = truth});
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt(dsn,
                        "SELECT count(*) FROM jobs WHERE sweep_id = 1 AND state = "
                        "'succeeded'") == 21;
      },
      240s))
      << daemon.LogTail();

  phase("sweep 1 trained (21 jobs)");
  // Sweep 2: one job that only a worker labelled pool=doomed may run; that
  // worker is SIGKILLed while it holds the lease, which then expires, and
  // the job waits in the queue with nobody to run it.
  submitted =
      daemon.Cli({"sweep", "submit", WriteSpec(LabelledSweep("lost-worker", "[50]", "doomed"))});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  // Sweep 3: three jobs for pool=flaky, whose worker fails every attempt.
  submitted = daemon.Cli(
      {"sweep", "submit", WriteSpec(LabelledSweep("flaky-node", "[50, 100, 200]", "flaky"))});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.out << submitted.err;
  WorkerProcess doomed =
      WorkerProcess::Start(daemon, "doomed",
                           {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second",
                            "1", "--label", "pool=doomed"});
  WorkerProcess flaky =
      WorkerProcess::Start(daemon, "flaky",
                           {"--synthetic", "--synthetic-gpus", "1", "--synthetic-fail-every", "1",
                            "--label", "pool=flaky"});
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt(dsn,
                        "SELECT count(*) FROM jobs WHERE sweep_id = 2 AND state IN "
                        "('leased', 'running')") == 1;
      },
      120s))
      << doomed.LogTail();
  doomed.Kill(SIGKILL);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt(dsn, "SELECT count(*) FROM events WHERE kind = 'job.lease_expired'") >= 1;
      },
      120s))
      << daemon.LogTail();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt(dsn,
                        "SELECT count(*) FROM jobs WHERE sweep_id = 3 AND state = "
                        "'failed'") == 3;
      },
      120s))
      << flaky.LogTail();
  flaky.Kill(SIGTERM);
  flaky.Wait();
  phase("lease expired on sweep 2, sweep 3 failed (3 jobs x 3 attempts)");

  // The lab finishes sweep 1: 18 runs x 3 scenarios evaluated, and the
  // recomputer catches up.
  ASSERT_TRUE(WaitForEvaluations(daemon, dsn, 54, lab_log, 300s));
  EXPECT_EQ(lab.Wait(60s), 0) << FileTail(lab_log);

  phase("sweep 1 evaluated (540 trials), estimates current");
  // One RPC that answers NOT_FOUND, to find in the RPC counts.
  auto channel = daemon.Channel();
  {
    grpc::ClientContext context;
    v1::GetSweepRequest request;
    request.set_sweep_id(999);
    v1::GetSweepResponse response;
    EXPECT_EQ(
        v1::SweepService::NewStub(channel)->GetSweep(&context, request, &response).error_code(),
        grpc::StatusCode::NOT_FOUND);
  }

  // --- The values Prometheus holds are the database's and the API's.
  const auto db_events = [&](const char* kind) {
    return static_cast<double>(
        QueryInt(dsn, absl::StrCat("SELECT count(*) FROM events WHERE kind = '", kind, "'")));
  };
  const std::vector<std::pair<std::string, double>> expected_values = {
      {R"(max without (instance) (mixsweep_jobs{kind="train", state="succeeded"}))", 9},
      {R"(max without (instance) (mixsweep_jobs{kind="pretrain", state="succeeded"}))", 3},
      {R"(max without (instance) (mixsweep_jobs{kind="finetune", state="succeeded"}))", 9},
      {R"(max without (instance) (mixsweep_jobs{kind="train", state="failed"}))", 3},
      {R"(max without (instance) (mixsweep_jobs{kind="train", state="queued"}))", 1},
      {R"(max without (instance) (mixsweep_sweep_jobs{sweep="2", state="queued"}))", 1},
      {R"(max without (instance) (mixsweep_sweeps{state="completed"}))",
       static_cast<double>(QueryInt(dsn, "SELECT count(*) FROM sweeps WHERE state = 'completed'"))},
      {"max without (instance) (mixsweep_evaluation_trials_recorded_total)", 540},
      {R"(max without (instance) (mixsweep_evaluation_requests{state="complete"}))", 54},
      {"max without (instance) (mixsweep_lease_grants_total)", db_events("job.leased")},
      {"max without (instance) (mixsweep_lease_expiries_total)", db_events("job.lease_expired")},
      {"max without (instance) (mixsweep_job_retries_total)", db_events("job.retrying")},
      {"max without (instance) (mixsweep_job_failures_total)", db_events("job.failed")},
      {R"(max without (instance) (mixsweep_job_duration_seconds_count{kind="train"}))", 9},
      {"mixsweep_database_up", 1},
      // The workers' own series: w1 and w2 ran all 21 jobs of sweep 1.
      {R"(sum(mixsweep_worker_jobs_total{outcome="succeeded"}))", 21},
      {R"(sum(mixsweep_worker_jobs_total{kind="pretrain", outcome="succeeded"}))", 3},
      {"sum(mixsweep_worker_jobs_running)", 0},
      {R"(sum(mixsweep_worker_gpus{state="idle"}))", 2},
      {R"(min(mixsweep_worker_gpu_utilization_ratio{gpu="0"}))", 0.37},
      {R"(max(mixsweep_worker_gpu_utilization_ratio{gpu="0"}))", 0.37},
      {R"(max(mixsweep_worker_gpu_memory_total_bytes{gpu="0"}))", 81559.0 * 1024 * 1024},
      {R"(max(mixsweep_worker_gpu_memory_used_bytes{gpu="0"}))", 1024.0 * 1024 * 1024},
      // This replica's own series.
      {R"(sum(mixsweep_grpc_requests_total{service="SweepService", method="SubmitSweep", code="OK"}))",
       3},
      {R"(sum(mixsweep_grpc_requests_total{service="SweepService", method="GetSweep", code="NOT_FOUND"}))",
       1},
  };
  EXPECT_GE(db_events("job.lease_expired"), 1);
  EXPECT_EQ(db_events("job.retrying"), 6) << "3 jobs x 2 retries";
  EXPECT_EQ(db_events("job.failed"), 3);
  const bool values_arrived = WaitUntil(
      [&] {
        for (const auto& [query, value] : expected_values) {
          if (!Near(prometheus->Value(query), value)) return false;
        }
        return true;
      },
      60s);
  for (const auto& [query, value] : expected_values) {
    EXPECT_PRED2(Near, prometheus->Value(query), value) << query;
  }
  ASSERT_TRUE(values_arrived) << prometheus->LogTail();
  EXPECT_GT(prometheus->Value(
                R"(sum(mixsweep_db_transaction_duration_seconds_count{outcome="committed"}))"),
            0);
  // The recording rule sees the requeued job at its next evaluation.
  EXPECT_TRUE(WaitUntil(
      [&] { return prometheus->Value(R"(mixsweep:sweep_stalled_seconds{sweep="2"})") > 0; }, 30s))
      << "sweep 2 has a queued job and none running: "
      << prometheus->Query(R"(mixsweep_sweep_jobs{sweep="2"})").body << "\n"
      << prometheus->Query("mixsweep:sweep_stalled_seconds").body;

  phase("Prometheus holds the database's values");
  // Every eta of sweep 1, its interval and sign, as the gRPC API serves them.
  v1::GetEstimatesResponse served;
  {
    grpc::ClientContext context;
    v1::GetEstimatesRequest request;
    request.set_sweep_id(1);
    grpc::Status status =
        v1::UtilizationService::NewStub(channel)->GetEstimates(&context, request, &served);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_EQ(served.estimates_size(), 3);
  const EtaTable expected_eta = ExpectedEtaSeries(served);
  ASSERT_EQ(expected_eta.count("mixsweep_eta"), 1u);
  EXPECT_EQ(expected_eta.at("mixsweep_eta").size(), 12u)
      << "3 scenarios x (1 local + 3 global); all defined for the synthetic ground truth";
  ASSERT_EQ(expected_eta.count("mixsweep_eta_lower"), 1u)
      << "no estimate with its sign established: nothing to check the bounds' series with";
  std::string eta_differences;
  WaitUntil(
      [&] {
        eta_differences = EtaDifferences(*prometheus, 1, expected_eta);
        return eta_differences.empty();
      },
      60s);
  EXPECT_EQ(eta_differences, "");
  std::cout << "compared with GetEstimates: " << expected_eta.at("mixsweep_eta").size()
            << " eta series, " << expected_eta.at("mixsweep_eta_sign_established").size()
            << " intervals (1/eta bounds and sign), "
            << expected_eta.at("mixsweep_eta_lower").size()
            << " with the sign established (eta bounds)" << std::endl;
  {
    const v1::Estimate& e = served.estimates(0);
    const v1::GlobalEta& g = e.global(0);
    const std::string query = absl::StrCat(
        R"(max without (instance) (mixsweep_eta{sweep="1", task=")", e.task(), R"(", scenario=")",
        e.scenario(), R"(", source=")", e.source(), R"(", estimate="global", n_tele=")", g.n_tele(),
        R"(", n_nt=")", g.n_nt(), "\"})");
    std::cout << "eta: " << query << " = " << prometheus->Value(query)
              << "; GetEstimates: " << g.eta().value() << std::endl;
  }

  // --- Alerts that must go off: a lease expired, attempts failed, jobs
  // failed for good.
  const std::set<std::string> kFiring = {"MixsweepLeaseExpired", "MixsweepJobAttemptsFailing",
                                         "MixsweepJobsFailedForGood"};
  std::map<std::string, std::set<std::string>> alerts;
  WaitUntil(
      [&] {
        alerts = Alerts(*prometheus);
        for (const std::string& name : kFiring) {
          if (alerts[name].count("firing") == 0) return false;
        }
        return true;
      },
      60s);
  for (const std::string& name : kFiring) {
    EXPECT_EQ(alerts[name].count("firing"), 1u) << name;
  }
  for (const char* quiet : {"MixsweepSweepStalled", "MixsweepdDown", "MixsweepNoAliveWorkers",
                            "MixsweepRpcServerErrors", "MixsweepDatabaseUnreachable"}) {
    EXPECT_EQ(alerts.count(quiet), 0u) << quiet << " must not go off here";
  }

  phase("etas equal GetEstimates'; lease and failure alerts firing");
  // --- Every rule: evaluated without error by Prometheus, and its
  // expression (an alert's with bool comparisons) returns data.
  struct RuleQuery {
    std::string name;
    std::string query;
    bool must_return_data = true;  // false: an alert's expression as written
  };
  int rule_count = 0;
  int alert_count = 0;
  std::vector<RuleQuery> rule_queries;
  const bool rules_ok = WaitUntil(
      [&] {
        const json data = prometheus->Api("rules");
        if (data.is_null()) return false;
        rule_count = alert_count = 0;
        rule_queries.clear();
        bool all_ok = true;
        for (const json& group : data["groups"]) {
          for (const json& rule : group["rules"]) {
            ++rule_count;
            const std::string query = rule.value("query", "");
            if (rule.value("health", "") != "ok") all_ok = false;
            if (rule.value("type", "") == "alerting") {
              ++alert_count;
              int comparisons = 0;
              const std::string with_bool = WithBoolComparisons(query, &comparisons);
              EXPECT_GT(comparisons, 0) << rule.value("name", "") << ": " << query;
              rule_queries.push_back({rule.value("name", ""), query, false});
              rule_queries.push_back({rule.value("name", "") + " (bool)", with_bool});
            } else {
              rule_queries.push_back({rule.value("name", ""), query});
              // The recorded series itself.
              rule_queries.push_back(
                  {rule.value("name", "") + " (recorded)", rule.value("name", "")});
            }
          }
        }
        return all_ok;
      },
      60s);
  EXPECT_TRUE(rules_ok) << prometheus->Api("rules").dump().substr(0, 4000);
  EXPECT_EQ(rule_count, 15);
  EXPECT_EQ(alert_count, 8);
  int proven_rule_queries = 0;
  for (const RuleQuery& q : rule_queries) {
    // An alert as written returns the series where it is true: it must be
    // accepted; its bool form must return data.
    QueryAnswer answer;
    WaitUntil(
        [&] {
          answer = prometheus->Query(q.query);
          return answer.ok && (!q.must_return_data || answer.has_finite_value());
        },
        30s);
    EXPECT_TRUE(answer.ok) << q.name << ": " << q.query << "\n" << answer.error;
    if (q.must_return_data) {
      EXPECT_TRUE(answer.has_finite_value()) << q.name << ": no data from\n"
                                             << q.query << "\n"
                                             << answer.body;
    }
    if (answer.ok && (!q.must_return_data || answer.has_finite_value())) ++proven_rule_queries;
    if (q.name.find(" (bool)") != std::string::npos) {
      std::cout << q.name << ": " << q.query << " -> " << answer.samples.size() << " series"
                << std::endl;
    }
  }

  // --- Every expression of the dashboard and of its variables.
  const json dashboard = ReadDashboard();
  ASSERT_FALSE(dashboard.is_discarded());
  std::vector<json> panels;
  CollectPanels(dashboard["panels"], &panels);
  int proven_panel_queries = 0;
  for (const json& panel : panels) {
    if (!panel.contains("targets")) continue;
    for (const json& target : panel["targets"]) {
      const std::string expr = Concrete(target.value("expr", ""));
      EXPECT_EQ(expr.find('$'), std::string::npos) << "a variable the test does not know: " << expr;
      QueryAnswer answer;
      WaitUntil(
          [&] {
            answer = prometheus->Query(expr);
            return answer.ok && answer.has_finite_value();
          },
          30s);
      EXPECT_TRUE(answer.ok && answer.has_finite_value())
          << "panel \"" << panel.value("title", "") << "\" " << target.value("refId", "")
          << ": no data from\n"
          << expr << "\n"
          << answer.error << answer.body;
      if (answer.ok && answer.has_finite_value()) ++proven_panel_queries;
    }
  }
  for (const json& variable : dashboard["templating"]["list"]) {
    if (variable.value("type", "") != "query") continue;
    const auto [selector, label] = SplitLabelValues(variable["query"]["query"].get<std::string>());
    const QueryAnswer answer = prometheus->Query(Concrete(selector));
    std::set<std::string> values;
    for (const Sample& s : answer.samples) {
      if (s.labels.count(label) != 0) values.insert(s.labels.at(label));
    }
    EXPECT_FALSE(values.empty()) << "variable " << variable.value("name", "") << ": "
                                 << answer.error;
    if (label == "sweep") {
      EXPECT_EQ(values.count("1"), 1u) << "completed, with estimates";
      EXPECT_EQ(values.count("2"), 1u) << "active";
    }
  }
  std::cout << "proven: " << proven_rule_queries << " rule queries (" << rule_count << " rules), "
            << proven_panel_queries << " dashboard queries" << std::endl;

  phase("every rule and dashboard query returns data");
  // --- The database becomes unreachable: mixsweepd says so, and the alert
  // is raised (pending for its 2 minutes, then firing).
  proxy.reset();
  ASSERT_TRUE(WaitUntil([&] { return prometheus->Value("mixsweep_database_up") == 0; }, 60s))
      << daemon.LogTail();
  EXPECT_TRUE(WaitUntil(
      [&] {
        const auto states = Alerts(*prometheus)["MixsweepDatabaseUnreachable"];
        return states.count("pending") + states.count("firing") > 0;
      },
      60s));

  phase("database unreachable: mixsweep_database_up 0, alert pending");
  for (WorkerProcess& w : workers) w.Kill(SIGKILL);
}

}  // namespace
}  // namespace mixsweep::testing
