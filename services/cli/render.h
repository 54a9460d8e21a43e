// How the CLI shows things to people: plain-text tables and summaries.
// Pure functions from protos to strings, so they are unit-tested. Functions
// that show ages or durations take `now` instead of reading the clock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/timestamp.pb.h"
#include "mixsweep/v1/sweep.pb.h"
#include "mixsweep/v1/worker.pb.h"

namespace mixsweep::cli {

using TimePoint = std::chrono::system_clock::time_point;

// A left-aligned text table; columns as wide as their widest cell, counted
// in characters (UTF-8), so "×" and "→" keep the columns aligned.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "JOB_STATE_QUEUED" -> "queued".
std::string ShortEnumName(const std::string& name);

// Who and what, the counts by state, then a progress bar.
std::string RenderSweepSummary(const mixsweep::v1::Sweep& sweep);
// The same with RenderSweepProgressLine (counts, a bar `width` wide, time
// left from the jobs' rates: `sweep` includes its jobs) as the last line.
std::string RenderSweepSummary(const mixsweep::v1::GetSweepResponse& sweep, TimePoint now,
                               int width = 30);

// A progress bar like "[#########-----------] 45% (9/20 jobs done)".
std::string RenderProgressBar(const mixsweep::v1::SweepCounts& counts, int width = 30);

// RenderSweepList, the sweep grid and the evaluation counts: render_sweep.h.
std::string RenderRuns(const mixsweep::v1::GetSweepResponse& sweep);
// One row per job; PROGRESS ("1200/13000") is filled while a job runs.
std::string RenderJobs(const mixsweep::v1::GetSweepResponse& sweep);

// A job in detail: what it is, attempts, lease, progress, outputs, failure,
// GPU-seconds, provenance (the command as run, shell-quoted) and times.
// Ages and "running for" are relative to `now`; the one-argument form reads
// the clock.
std::string RenderJob(const mixsweep::v1::Job& job, TimePoint now);
std::string RenderJob(const mixsweep::v1::Job& job);

// --- Building blocks -------------------------------------------------------

// A duration for people: "42s", "4m05s", "2h03m", "3d04h"; negative is "0s".
std::string FormatDuration(double seconds);

// "2025-03-04 10:00:05Z" (UTC); "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& t);

// "3s ago", or "in 25s" for a time after `now`; "never" when unset.
std::string FormatAge(const google::protobuf::Timestamp& t, TimePoint now);

// One POSIX shell word that the shell reads back as `word`: unchanged when
// it holds only [A-Za-z0-9_@%+=:,./-], else single-quoted ('' for empty,
// a quote inside as '\'').
std::string ShellQuote(const std::string& word);

// argv as one line to paste into a shell: ShellQuote of each, space-joined.
std::string ShellJoin(const std::vector<std::string>& argv);

// "[######--------------] 1200/4000 30%"; total 0 gives "1200/?" and no bar.
std::string RenderStepBar(int64_t step, int64_t total, int width = 20);

// --- Workers ---------------------------------------------------------------

// "2× NVIDIA H100 80GB HBM3" (GPUs grouped by model, in order of first
// appearance, ", "-joined); "none" without GPUs.
std::string DescribeGpus(const mixsweep::v1::Worker& worker);

// A table of workers (ID, NAME, HOST, STATE, GPUS, BUSY, LABELS, HEARTBEAT,
// JOBS), synthetic workers marked "(synthetic)" after their name, then a
// summary line: workers by state and busy/idle GPUs of live workers.
std::string RenderWorkers(const mixsweep::v1::ListWorkersResponse& workers, TimePoint now);

// --- Sweep progress and time left -------------------------------------------

// An estimate of the seconds until every job of the sweep has ended, from
// measured step rates; nullopt when it cannot be estimated; 0 when no job is
// left to run. `sweep` must include its jobs. The model:
//
//   rate of a running (or leased) job: its progress.steps_per_second, else
//     progress.step / (now - started_at);
//   finished rate: the mean over succeeded jobs of steps / (finished_at -
//     started_at); when no job has finished, the mean of the running rates;
//   a running job with no rate of its own runs at the finished rate, and
//     has since started_at (it is at least that far);
//   remaining work of a running job: (total - step) / its rate, in
//     worker-seconds; of a queued or blocked job: steps / finished rate;
//   parallelism P: the number of running (and leased) jobs, at least 1;
//   estimate = max(sum of remaining work / P, the longest running job's
//     remaining time).
//
// Dependencies (a finetune waits for its pretrain), retries and new workers
// are ignored: it is a rough figure for people, not a promise. Failed and
// cancelled jobs need no more time.
std::optional<double> EstimateSecondsLeft(const mixsweep::v1::GetSweepResponse& sweep,
                                          TimePoint now);

// One line: "[####------] 40% (8/20 jobs done) · succeeded 7 · running 2 ·
// queued 5 · blocked 4 · failed 1 · eta 4m10s". running counts leased jobs
// too; blocked and cancelled appear only when non-zero; "eta unknown"
// without an estimate; once the sweep ended, its state instead of an eta,
// and running and queued only when non-zero.
std::string RenderSweepProgressLine(const mixsweep::v1::Sweep& sweep,
                                    std::optional<double> seconds_left, int width = 30);

}  // namespace mixsweep::cli
