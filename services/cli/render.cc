#include "services/cli/render.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::cli {
namespace v1 = mixsweep::v1;

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  widen(header);
  for (const auto& row : rows) widen(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      out += cell;
      if (i + 1 < widths.size()) out += std::string(widths[i] - cell.size() + 2, ' ');
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
      kinds.empty() ? "" : ": ", kinds, "\n", RenderProgressBar(c), "\n");
  if (!sweep.cancel_reason().empty()) absl::StrAppend(&out, "cancelled: ", sweep.cancel_reason(), "\n");
  return out;
}

std::string RenderSweepList(const std::vector<v1::Sweep>& sweeps) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Sweep& s : sweeps) {
    rows.push_back({absl::StrCat(s.id()), s.name(), s.task(), s.owner(),
                    ShortEnumName(v1::SweepState_Name(s.state())),
                    absl::StrCat(s.counts().runs_total()),
                    RenderProgressBar(s.counts(), 20)});
  }
  return RenderTable({"ID", "NAME", "TASK", "OWNER", "STATE", "RUNS", "PROGRESS"}, rows);
}

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
                    JobRef(j.depends_on_job_id()),
                    absl::StrCat(j.attempts(), "/", j.max_attempts()), absl::StrJoin(runs, ",")});
  }
  return RenderTable({"JOB", "KIND", "STATE", "SOURCE", "N_DEMOS", "SEED", "STEPS", "AFTER",
                      "ATTEMPTS", "RUNS"},
                     rows);
}

std::string RenderJob(const v1::Job& j) {
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
      "attempts ", j.attempts(), "/", j.max_attempts(), " · priority ", j.priority(), "\n");
  if (j.depends_on_job_id() != 0) absl::StrAppend(&out, "after job #", j.depends_on_job_id(), "\n");
  if (!j.checkpoint_uri().empty()) absl::StrAppend(&out, "checkpoint ", j.checkpoint_uri(), "\n");
  if (j.has_failure()) absl::StrAppend(&out, "failure: ", j.failure().message(), "\n");
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

}  // namespace mixsweep::cli
