#include "services/cli/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::cli {
namespace v1 = mixsweep::v1;

namespace {

// Characters a terminal shows for UTF-8 text ("×", "→" and "…" are one
// each): the bytes that do not continue a character.
size_t DisplayWidth(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  };
  widen(header);
  for (const auto& row : rows) widen(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      out += cell;
      if (i + 1 < widths.size()) out += std::string(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    // No trailing blanks: tables paste cleanly into issues and diffs.
    out.erase(out.find_last_not_of(' ') + 1);
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string ShortEnumName(const std::string& name) {
  for (const char* prefix : {"JOB_STATE_", "RUN_STATE_", "SWEEP_STATE_", "JOB_KIND_",
                             "SOURCE_KIND_"}) {
    if (name.rfind(prefix, 0) == 0) {
      return absl::AsciiStrToLower(name.substr(std::string(prefix).size()));
    }
  }
  return absl::AsciiStrToLower(name);
}

namespace {

// "queued 12, blocked 9" in a fixed, meaningful order.
std::string CountsByState(const google::protobuf::Map<std::string, int32_t>& counts,
                          const std::vector<std::string>& order) {
  std::vector<std::string> parts;
  for (const std::string& state : order) {
    auto it = counts.find(state);
    if (it != counts.end() && it->second > 0) {
      parts.push_back(absl::StrCat(ShortEnumName(state), " ", it->second));
    }
  }
  return absl::StrJoin(parts, ", ");
}

const std::vector<std::string>& JobStateOrder() {
  static const std::vector<std::string> kOrder = {
      "JOB_STATE_SUCCEEDED", "JOB_STATE_RUNNING", "JOB_STATE_LEASED", "JOB_STATE_QUEUED",
      "JOB_STATE_BLOCKED",   "JOB_STATE_FAILED",  "JOB_STATE_CANCELLED"};
  return kOrder;
}

const std::vector<std::string>& RunStateOrder() {
  static const std::vector<std::string> kOrder = {
      "RUN_STATE_EVALUATED", "RUN_STATE_TRAINED", "RUN_STATE_TRAINING",
      "RUN_STATE_PENDING",   "RUN_STATE_FAILED",  "RUN_STATE_CANCELLED"};
  return kOrder;
}

std::string JobRef(int64_t id) { return id == 0 ? "" : absl::StrCat("#", id); }

// snprintf into a string: absl::StrFormat would need absl::str_format, which
// this library does not link.
template <typename... Args>
std::string Printf(const char* format, Args... args) {
  char buffer[128];
  const int n = std::snprintf(buffer, sizeof buffer, format, args...);
  return n < 0 ? std::string() : std::string(buffer, std::min<size_t>(n, sizeof buffer - 1));
}

bool IsActive(v1::JobState state) {
  return state == v1::JOB_STATE_LEASED || state == v1::JOB_STATE_RUNNING;
}

// The job's total steps: what it reports, else what it was given.
int64_t TotalSteps(const v1::Job& j) {
  return j.progress().total_steps() > 0 ? j.progress().total_steps() : j.steps();
}

// "1200/13000" while the job is leased or running ("?/13000" before its
// first report), else empty.
std::string JobProgressCell(const v1::Job& j) {
  if (!IsActive(j.state())) return "";
  if (!j.has_progress()) return absl::StrCat("?/", TotalSteps(j));
  return absl::StrCat(j.progress().step(), "/", TotalSteps(j));
}

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

double ToSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + t.nanos() * 1e-9;
}

double ToSeconds(TimePoint now) {
  return std::chrono::duration<double>(now.time_since_epoch()).count();
}

// A metric value: 4 significant digits ("0.03125", "1.5", "0.0001", "3e-05").
std::string FormatNumber(double value) { return Printf("%.4g", value); }

std::string Rate(double steps_per_second) {
  return steps_per_second >= 100 ? Printf("%.0f steps/s", steps_per_second)
                                 : Printf("%.3g steps/s", steps_per_second);
}

// "exit code" from KIND_EXIT_CODE.
std::string FailureKindName(v1::JobFailure::Kind kind) {
  std::string name = ShortEnumName(v1::JobFailure::Kind_Name(kind));
  if (name.rfind("kind_", 0) == 0) name = name.substr(5);
  std::replace(name.begin(), name.end(), '_', ' ');
  return name;
}

std::string WorkerStateName(v1::Worker::State state) {
  switch (state) {
    case v1::Worker::STATE_ALIVE: return "alive";
    case v1::Worker::STATE_DRAINING: return "draining";
    case v1::Worker::STATE_LOST: return "lost";
    case v1::Worker::STATE_GONE: return "gone";
    default: return "unknown";
  }
}

// The summary of RenderSweepSummary with `progress_line` as its last line.
std::string SweepSummaryWith(const v1::Sweep& sweep, const std::string& progress_line);

int CountOf(const v1::SweepCounts& counts, const char* state) {
  auto it = counts.jobs_by_state().find(state);
  return it == counts.jobs_by_state().end() ? 0 : it->second;
}

}  // namespace

std::string RenderProgressBar(const v1::SweepCounts& counts, int width) {
  int done = 0;
  for (const char* state : {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}) {
    auto it = counts.jobs_by_state().find(state);
    if (it != counts.jobs_by_state().end()) done += it->second;
  }
  const int total = counts.jobs_total();
  const double fraction = total == 0 ? 0.0 : static_cast<double>(done) / total;
  // Rounded down: the bar is full and says 100% only when every job is done.
  const int filled = static_cast<int>(fraction * width);
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '-'), "] ",
                      static_cast<int>(fraction * 100), "% (", done, "/", total,
                      " jobs done)");
}

std::string RenderSweepSummary(const v1::Sweep& sweep) {
  return SweepSummaryWith(sweep, RenderProgressBar(sweep.counts()));
}

std::string RenderSweepSummary(const v1::GetSweepResponse& sweep, TimePoint now, int width) {
  return SweepSummaryWith(sweep.sweep(),
                          RenderSweepProgressLine(sweep.sweep(), EstimateSecondsLeft(sweep, now),
                                                  width));
}

namespace {

std::string SweepSummaryWith(const v1::Sweep& sweep, const std::string& progress_line) {
  const auto& c = sweep.counts();
  std::string kinds = CountsByState(
      c.jobs_by_kind(), {"JOB_KIND_TRAIN", "JOB_KIND_PRETRAIN", "JOB_KIND_FINETUNE",
                         "JOB_KIND_GENERATE", "JOB_KIND_EVALUATE"});
  std::string out = absl::StrCat(
      "Sweep ", sweep.id(), "  ", sweep.name(), "  [", ShortEnumName(v1::SweepState_Name(sweep.state())),
      "]  owner ", sweep.owner(), "  revision ", sweep.revision(), "\n",
      "task ", sweep.task(), " · policy ", sweep.policy(), " · code ", sweep.code_version(), "\n",
      "runs ", c.runs_total(), " (", CountsByState(c.runs_by_state(), RunStateOrder()), ")\n",
      "jobs ", c.jobs_total(), " (", CountsByState(c.jobs_by_state(), JobStateOrder()), ")",
      kinds.empty() ? "" : ": ", kinds, "\n", progress_line, "\n");
  if (!sweep.cancel_reason().empty()) absl::StrAppend(&out, "cancelled: ", sweep.cancel_reason(), "\n");
  return out;
}

}  // namespace

std::string RenderRuns(const v1::GetSweepResponse& sweep) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Run& r : sweep.runs()) {
    const std::string jobs = r.train_job_id() != 0
                                 ? absl::StrCat("train ", JobRef(r.train_job_id()))
                                 : absl::StrCat("pretrain ", JobRef(r.pretrain_job_id()),
                                                " → finetune ", JobRef(r.finetune_job_id()));
    rows.push_back({absl::StrCat(r.id()), r.key(), absl::StrCat(r.n_tele()),
                    r.source().empty() ? "-" : r.source(), absl::StrCat(r.n_nt()),
                    absl::StrCat(r.seed()), ShortEnumName(v1::RunState_Name(r.state())), jobs});
  }
  return RenderTable({"RUN", "KEY", "N_TELE", "SOURCE", "N_NT", "SEED", "STATE", "JOBS"}, rows);
}

std::string RenderJobs(const v1::GetSweepResponse& sweep) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Job& j : sweep.jobs()) {
    std::vector<std::string> runs;
    for (int64_t id : j.run_ids()) runs.push_back(absl::StrCat(id));
    rows.push_back({absl::StrCat("#", j.id()), ShortEnumName(v1::JobKind_Name(j.kind())),
                    ShortEnumName(v1::JobState_Name(j.state())), j.source(),
                    absl::StrCat(j.n_demos()), absl::StrCat(j.seed()), absl::StrCat(j.steps()),
                    JobProgressCell(j), JobRef(j.depends_on_job_id()),
                    absl::StrCat(j.attempts(), "/", j.max_attempts()), absl::StrJoin(runs, ",")});
  }
  return RenderTable({"JOB", "KIND", "STATE", "SOURCE", "N_DEMOS", "SEED", "STEPS", "PROGRESS",
                      "AFTER", "ATTEMPTS", "RUNS"},
                     rows);
}

std::string RenderJob(const v1::Job& j) {
  return RenderJob(j, std::chrono::system_clock::now());
}

std::string RenderJob(const v1::Job& j, TimePoint now) {
  std::vector<std::string> runs;
  for (int64_t id : j.run_ids()) runs.push_back(absl::StrCat(id));
  std::string out = absl::StrCat(
      "Job #", j.id(), "  ", j.key(), "\n",
      "kind ", ShortEnumName(v1::JobKind_Name(j.kind())), " · state ",
      ShortEnumName(v1::JobState_Name(j.state())), " · sweep ", j.sweep_id(), " · runs ",
      absl::StrJoin(runs, ","), "\n",
      "dataset ", j.dataset().uri(),
      j.dataset().content_hash().empty() ? "" : absl::StrCat(" (", j.dataset().content_hash(), ")"),
      " · ", j.n_demos(), " of ", j.dataset().episodes(), " episodes · seed ", j.seed(), " · ",
      j.steps(), " steps\n",
      "attempts ", j.attempts(), "/", j.max_attempts(), " · priority ", j.priority(),
      j.cancel_requested() ? " · cancel requested" : "",
      j.state() == v1::JOB_STATE_QUEUED && IsSet(j.not_before())
          ? absl::StrCat(" · retry not before ", FormatTimestamp(j.not_before()), " (",
                         FormatAge(j.not_before(), now), ")")
          : "",
      "\n");
  if (j.depends_on_job_id() != 0) absl::StrAppend(&out, "after job #", j.depends_on_job_id(), "\n");
  if (j.has_lease() && j.lease().worker_id() != 0) {
    // A job that ended keeps its last lease: where it ran.
    absl::StrAppend(&out, IsActive(j.state()) ? "lease" : "last lease", " worker ",
                    j.lease().worker_id(), " · token ", j.lease().fencing_token());
    if (IsActive(j.state()) && IsSet(j.lease().expires_at())) {
      absl::StrAppend(&out, " · expires ", FormatTimestamp(j.lease().expires_at()), " (",
                      FormatAge(j.lease().expires_at(), now), ")");
    }
    absl::StrAppend(&out, "\n");
  }
  if (j.has_progress()) {
    const v1::JobProgress& p = j.progress();
    std::vector<std::string> parts = {RenderStepBar(p.step(), TotalSteps(j))};
    if (p.steps_per_second() > 0) parts.push_back(Rate(p.steps_per_second()));
    // loss first, then the other metrics by name (the map is unordered).
    std::map<std::string, double> metrics(p.metrics().begin(), p.metrics().end());
    if (auto it = metrics.find("loss"); it != metrics.end()) {
      parts.push_back(absl::StrCat("loss ", FormatNumber(it->second)));
      metrics.erase(it);
    }
    for (const auto& [name, value] : metrics) {
      parts.push_back(absl::StrCat(name, " ", FormatNumber(value)));
    }
    if (IsSet(p.updated_at())) {
      parts.push_back(absl::StrCat("updated ", FormatAge(p.updated_at(), now)));
    }
    absl::StrAppend(&out, "progress ", absl::StrJoin(parts, " · "), "\n");
  }
  if (IsSet(j.created_at()) || IsSet(j.started_at()) || IsSet(j.finished_at())) {
    std::vector<std::string> parts;
    auto add = [&](const char* what, const google::protobuf::Timestamp& t) {
      if (IsSet(t)) parts.push_back(absl::StrCat(what, " ", FormatTimestamp(t)));
    };
    add("created", j.created_at());
    add("started", j.started_at());
    add("finished", j.finished_at());
    if (IsSet(j.started_at()) && IsSet(j.finished_at())) {
      parts.push_back(absl::StrCat(
          "took ", FormatDuration(ToSeconds(j.finished_at()) - ToSeconds(j.started_at()))));
    } else if (IsSet(j.started_at()) && IsActive(j.state())) {
      parts.push_back(absl::StrCat(
          "running for ", FormatDuration(ToSeconds(now) - ToSeconds(j.started_at()))));
    }
    absl::StrAppend(&out, absl::StrJoin(parts, " · "), "\n");
  }
  if (!j.output_uri().empty()) absl::StrAppend(&out, "output ", j.output_uri(), "\n");
  if (!j.checkpoint_uri().empty()) absl::StrAppend(&out, "checkpoint ", j.checkpoint_uri(), "\n");
  if (j.has_failure()) {
    const v1::JobFailure& f = j.failure();
    std::vector<std::string> details;
    if (f.kind() != v1::JobFailure::KIND_UNSPECIFIED) details.push_back(FailureKindName(f.kind()));
    if (f.kind() == v1::JobFailure::KIND_EXIT_CODE || f.exit_code() != 0) {
      details.push_back(absl::StrCat("exit code ", f.exit_code()));
    }
    if (f.kind() == v1::JobFailure::KIND_SIGNAL || f.signal() != 0) {
      details.push_back(absl::StrCat("signal ", f.signal()));
    }
    if (f.retryable()) details.push_back("retryable");
    absl::StrAppend(&out, "failure: ", f.message().empty() ? "(no message)" : f.message(),
                    details.empty() ? "" : absl::StrCat(" (", absl::StrJoin(details, ", "), ")"),
                    "\n");
  }
  if (j.gpu_seconds() > 0) {
    absl::StrAppend(&out, "GPU-seconds ", Printf("%.1f", j.gpu_seconds()), " (",
                    Printf("%.3f", j.gpu_seconds() / 3600), " GPU-hours)\n");
  }
  if (j.has_provenance()) {
    const v1::Provenance& p = j.provenance();
    absl::StrAppend(&out, "provenance",
                    p.synthetic() ? "  SYNTHETIC: run by the synthetic executor, not a real "
                                    "command; no checkpoint was trained"
                                  : "",
                    "\n");
    std::vector<std::vector<std::string>> rows;
    if (p.argv_size() > 0) {
      rows.push_back({"  command", ShellJoin({p.argv().begin(), p.argv().end()})});
    }
    if (!p.env().empty()) {
      const std::map<std::string, std::string> env(p.env().begin(), p.env().end());
      std::vector<std::string> words;
      for (const auto& [k, v] : env) words.push_back(ShellQuote(absl::StrCat(k, "=", v)));
      rows.push_back({"  env", absl::StrJoin(words, " ")});
    }
    if (!p.subset_manifest_uri().empty()) rows.push_back({"  subset", p.subset_manifest_uri()});
    if (!p.code_version().empty()) rows.push_back({"  code", p.code_version()});
    if (!p.worker_host().empty()) rows.push_back({"  host", p.worker_host()});
    if (p.gpu_indices_size() > 0 || p.gpu_uuids_size() > 0) {
      std::vector<std::string> indices;
      for (int index : p.gpu_indices()) indices.push_back(absl::StrCat(index));
      std::string gpus = indices.empty() ? "-" : absl::StrJoin(indices, ",");
      if (p.gpu_uuids_size() > 0) {
        absl::StrAppend(&gpus, " (", absl::StrJoin(p.gpu_uuids(), ", "), ")");
      }
      rows.push_back({"  gpus", gpus});
    }
    if (!rows.empty()) {
      std::string table = RenderTable({"", ""}, rows);
      out += table.substr(table.find('\n') + 1);  // no header line
    }
  }
  if (j.subset_episodes_size() > 0) {
    std::vector<std::string> first;
    for (int i = 0; i < std::min(j.subset_episodes_size(), 20); ++i) {
      first.push_back(absl::StrCat(j.subset_episodes(i)));
    }
    absl::StrAppend(&out, "subset ", absl::StrJoin(first, ","),
                    j.subset_episodes_size() > 20 ? ",…" : "", "\n");
  }
  return out;
}

std::string FormatDuration(double seconds) {
  if (!(seconds > 0)) return "0s";  // negative and NaN too
  const long long s = std::llround(std::min(seconds, 1e15));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return Printf("%lldm%02llds", s / 60, s % 60);
  if (s < 86400) return Printf("%lldh%02lldm", s / 3600, (s % 3600) / 60);
  return Printf("%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

std::string FormatTimestamp(const google::protobuf::Timestamp& t) {
  if (!IsSet(t)) return "-";
  const std::time_t seconds = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return absl::StrCat(t.seconds());
  return Printf("%04d-%02d-%02d %02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string FormatAge(const google::protobuf::Timestamp& t, TimePoint now) {
  if (!IsSet(t)) return "never";
  const double delta = ToSeconds(now) - ToSeconds(t);
  // Within half a second either way is "now"-ish: say "0s ago".
  if (delta > -0.5) return absl::StrCat(FormatDuration(delta), " ago");
  return absl::StrCat("in ", FormatDuration(-delta));
}

std::string ShellQuote(const std::string& word) {
  if (word.empty()) return "''";
  const bool safe = std::all_of(word.begin(), word.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  });
  if (safe) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  words.reserve(argv.size());
  for (const std::string& arg : argv) words.push_back(ShellQuote(arg));
  return absl::StrJoin(words, " ");
}

std::string RenderStepBar(int64_t step, int64_t total, int width) {
  if (total <= 0) return absl::StrCat(step, "/?");
  const double fraction = std::clamp(static_cast<double>(step) / total, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * width);
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '-'), "] ", step,
                      "/", total, " ", static_cast<int>(fraction * 100), "%");
}

std::string DescribeGpus(const v1::Worker& worker) {
  std::vector<std::pair<std::string, int>> models;  // in order of first appearance
  for (const v1::Gpu& gpu : worker.gpus()) {
    const std::string name = gpu.name().empty() ? "unknown GPU" : gpu.name();
    auto it = std::find_if(models.begin(), models.end(),
                           [&](const auto& m) { return m.first == name; });
    if (it == models.end()) {
      models.emplace_back(name, 1);
    } else {
      ++it->second;
    }
  }
  if (models.empty()) return "none";
  std::vector<std::string> parts;
  for (const auto& [name, count] : models) parts.push_back(absl::StrCat(count, "× ", name));
  return absl::StrJoin(parts, ", ");
}

std::string RenderWorkers(const v1::ListWorkersResponse& response, TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, int> by_state;
  int gpus_live = 0;
  int busy_live = 0;
  for (const v1::Worker& w : response.workers()) {
    const int gpus = w.gpus_size();
    const int busy = std::min(w.running_job_ids_size(), gpus);
    const std::map<std::string, std::string> labels(w.labels().begin(), w.labels().end());
    std::vector<std::string> label_parts;
    for (const auto& [k, v] : labels) label_parts.push_back(absl::StrCat(k, "=", v));
    std::vector<std::string> jobs;
    for (int64_t id : w.running_job_ids()) jobs.push_back(absl::StrCat("#", id));
    const std::string state = WorkerStateName(w.state());
    ++by_state[state];
    if (w.state() == v1::Worker::STATE_ALIVE || w.state() == v1::Worker::STATE_DRAINING) {
      gpus_live += gpus;
      busy_live += busy;
    }
    rows.push_back({absl::StrCat(w.id()),
                    absl::StrCat(w.name(), w.synthetic() ? " (synthetic)" : ""), w.host(), state,
                    DescribeGpus(w),
                    gpus == 0 ? absl::StrCat(w.running_job_ids_size(), "/0")
                              : absl::StrCat(busy, "/", gpus),
                    label_parts.empty() ? "-" : absl::StrJoin(label_parts, ","),
                    FormatAge(w.last_heartbeat_at(), now),
                    jobs.empty() ? "-" : absl::StrJoin(jobs, ",")});
  }
  std::string out = RenderTable(
      {"ID", "NAME", "HOST", "STATE", "GPUS", "BUSY", "LABELS", "HEARTBEAT", "JOBS"}, rows);
  std::vector<std::string> states;
  for (const char* state : {"alive", "draining", "lost", "gone", "unknown"}) {
    if (by_state[state] > 0) states.push_back(absl::StrCat(by_state[state], " ", state));
  }
  const int n = response.workers_size();
  absl::StrAppend(&out, n, n == 1 ? " worker" : " workers",
                  states.empty() ? "" : absl::StrCat(" (", absl::StrJoin(states, ", "), ")"),
                  " · GPUs of live workers: ", busy_live, " busy, ", gpus_live - busy_live,
                  " idle\n");
  return out;
}

std::optional<double> EstimateSecondsLeft(const v1::GetSweepResponse& sweep, TimePoint now) {
  const double now_s = ToSeconds(now);
  // Measured rates.
  double finished_rate_sum = 0;
  int finished_rates = 0;
  double running_rate_sum = 0;
  int running_rates = 0;
  int running = 0;
  int64_t pending_steps = 0;
  struct Active {
    int64_t total;
    int64_t step;
    double elapsed;  // seconds since started_at; 0 when not started
    double rate;     // 0: unknown
  };
  std::vector<Active> active;
  for (const v1::Job& j : sweep.jobs()) {
    switch (j.state()) {
      case v1::JOB_STATE_SUCCEEDED:
        if (IsSet(j.started_at()) && IsSet(j.finished_at()) && j.steps() > 0) {
          const double took = ToSeconds(j.finished_at()) - ToSeconds(j.started_at());
          if (took > 0) {
            finished_rate_sum += static_cast<double>(j.steps()) / took;
            ++finished_rates;
          }
        }
        break;
      case v1::JOB_STATE_LEASED:
      case v1::JOB_STATE_RUNNING: {
        ++running;
        const int64_t step = j.progress().step();
        const double elapsed =
            IsSet(j.started_at()) ? std::max(0.0, now_s - ToSeconds(j.started_at())) : 0.0;
        double rate = j.progress().steps_per_second();
        if (!(rate > 0) && step > 0 && elapsed > 0) rate = static_cast<double>(step) / elapsed;
        if (rate > 0) {
          running_rate_sum += rate;
          ++running_rates;
        } else {
          rate = 0;
        }
        active.push_back({TotalSteps(j), step, elapsed, rate});
        break;
      }
      case v1::JOB_STATE_QUEUED:
      case v1::JOB_STATE_BLOCKED:
        pending_steps += std::max<int64_t>(0, j.steps());
        break;
      default:  // failed, cancelled: nothing left to run
        break;
    }
  }
  if (active.empty() && pending_steps == 0) return 0.0;
  const double fallback_rate = finished_rates > 0  ? finished_rate_sum / finished_rates
                               : running_rates > 0 ? running_rate_sum / running_rates
                                                   : 0.0;
  double work = 0;     // worker-seconds
  double longest = 0;  // of the running jobs
  for (const Active& a : active) {
    double remaining = static_cast<double>(std::max<int64_t>(0, a.total - a.step));
    if (!(a.rate > 0) && remaining > 0) {
      if (!(fallback_rate > 0)) return std::nullopt;
      // No rate of its own: it has run at the fallback rate since it started.
      remaining = std::max(0.0, static_cast<double>(a.total) -
                                    std::max(static_cast<double>(a.step),
                                             fallback_rate * a.elapsed));
    }
    if (remaining == 0) continue;
    const double seconds = remaining / (a.rate > 0 ? a.rate : fallback_rate);
    work += seconds;
    longest = std::max(longest, seconds);
  }
  if (pending_steps > 0) {
    if (!(fallback_rate > 0)) return std::nullopt;
    work += static_cast<double>(pending_steps) / fallback_rate;
  }
  const int parallelism = std::max(1, running);
  return std::max(work / parallelism, longest);
}

std::string RenderSweepProgressLine(const v1::Sweep& sweep, std::optional<double> seconds_left,
                                    int width) {
  const v1::SweepCounts& c = sweep.counts();
  const bool ended =
      sweep.state() != v1::SWEEP_STATE_ACTIVE && sweep.state() != v1::SWEEP_STATE_UNSPECIFIED;
  std::vector<std::string> parts = {RenderProgressBar(c, width)};
  parts.push_back(absl::StrCat("succeeded ", CountOf(c, "JOB_STATE_SUCCEEDED")));
  if (const int running = CountOf(c, "JOB_STATE_RUNNING") + CountOf(c, "JOB_STATE_LEASED");
      !ended || running > 0) {
    parts.push_back(absl::StrCat("running ", running));
  }
  if (const int queued = CountOf(c, "JOB_STATE_QUEUED"); !ended || queued > 0) {
    parts.push_back(absl::StrCat("queued ", queued));
  }
  if (const int blocked = CountOf(c, "JOB_STATE_BLOCKED"); blocked > 0) {
    parts.push_back(absl::StrCat("blocked ", blocked));
  }
  parts.push_back(absl::StrCat("failed ", CountOf(c, "JOB_STATE_FAILED")));
  if (const int cancelled = CountOf(c, "JOB_STATE_CANCELLED"); cancelled > 0) {
    parts.push_back(absl::StrCat("cancelled ", cancelled));
  }
  if (ended) {
    parts.push_back(ShortEnumName(v1::SweepState_Name(sweep.state())));
  } else if (!seconds_left.has_value()) {
    parts.push_back("eta unknown");
  } else {
    parts.push_back(absl::StrCat("eta ", FormatDuration(*seconds_left)));
  }
  return absl::StrJoin(parts, " · ");
}

}  // namespace mixsweep::cli
