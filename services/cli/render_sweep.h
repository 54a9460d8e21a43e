// How `sweep list` and `sweep show` draw a sweep's progress: one bar for
// training and evaluation together, the evaluation counts, and the grid of
// runs (N_tele x (baseline, source N_nt) x seeds) coloured by state and by
// score. Pure functions from protos to strings, unit-tested
// (tests/unit/render_sweep_test.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/sweep.pb.h"

namespace mixsweep::cli {

// The evaluations of a sweep, one per (run, scenario) (per checkpoint where
// a run has several): those complete (every trial recorded), those
// requested and not complete, and those not requested yet because their run
// is still training (runs pending or training x scenarios). Requests of a
// cancelled sweep and runs that failed or were cancelled count nowhere: they
// will never be evaluated.
struct EvaluationProgress {
  int complete = 0;
  int open = 0;
  int waiting = 0;
  int64_t trials_recorded = 0;
  int64_t trials_wanted = 0;  // of the requested evaluations and the waiting ones
  int total() const { return complete + open + waiting; }
};

// From ListResults (without trials) and the sweep's run counts.
EvaluationProgress CountEvaluations(const mixsweep::v1::Sweep& sweep,
                                    const std::vector<mixsweep::v1::ScenarioResult>& results);

// A completed sweep, without asking for its results: every run that trained
// was evaluated in every scenario (the trials are not counted: 0/0).
EvaluationProgress CompletedEvaluations(const mixsweep::v1::Sweep& sweep);

// The work of a sweep done, jobs and evaluations together: (jobs ended +
// evaluations complete) / (jobs + evaluations); jobs only without
// `evaluations`. 100% only when everything is done.
double OverallFraction(const mixsweep::v1::Sweep& sweep,
                       const std::optional<EvaluationProgress>& evaluations);

// "[######----------]  40%" (the percentage rounded down, right-aligned).
std::string RenderBar(double fraction, int width);

// "evaluations [####------------------] 30/54 complete · 6 open · 18 waiting
// for training · 312/540 trials"; parts that are 0 are left out (not the
// complete count).
std::string RenderEvaluationLine(const EvaluationProgress& evaluations, int width = 30);

// One row per sweep: ID, NAME, STATE, PROGRESS (the overall bar), JOBS
// (ended/total), EVALS (complete/total, "-" where unknown), RUNS, OWNER.
// `evaluations` is parallel to `sweeps` (shorter: unknown).
std::string RenderSweepList(const std::vector<mixsweep::v1::Sweep>& sweeps,
                            const std::vector<std::optional<EvaluationProgress>>& evaluations);

// What the sweep is made of, for `sweep show`: the design ("mixture":
// teleop x sources, seed 000; "scaling": one source and a list of N, no
// teleop, seed 001 Fig. 5) and how a run's checkpoints make its S
// (aggregation); the teleop data; each source, "collected" or "generated"
// (how many demos from which human demos, and once its generate job exists:
// its state, successes / attempts = success rate, time, and the measured
// hours per demo against the spec's estimate); each scenario, "robot"
// (with its platform) or "simulation" (result format and seed), and its
// trials. Fields a server does not fill (older ones) are left out.
std::string RenderSweepDesign(const mixsweep::v1::Sweep& sweep);

// One source's line of RenderSweepDesign, after its name: "simulation ·
// generated (1000 demos from file:///human; generate job #4: succeeded,
// 1000/1350 successes = 74.1%, 2h03m, 0.00741 h per demo measured vs 0.01 h
// in the spec) · N_nt 100,1000".
std::string DescribeSource(const mixsweep::v1::SourceSummary& source);

// One scenario's line, after its name: "robot (platform aloha) · 10 trials"
// or "simulation (lerobot, seed 42) · 50 trials".
std::string DescribeScenario(const mixsweep::v1::Scenario& scenario);

struct SweepGridOptions {
  bool color = false;  // ANSI colours by state and by score
  int width = 100;     // wrap the columns of a grid to stay within it
};

// The grid of runs: rows N_tele, columns the baseline then each (source,
// N_nt), one character per seed in each cell:
//   . waiting (blocked or queued)   > training (a job leased or running)
//   # trained, no trial yet   ~ evaluating (some trials recorded)
//   * evaluated in every scenario   x failed   - cancelled
// then the scores: the same columns once per scenario (the scenarios side by
// side while they fit `width`), a digit per seed (its tenths of S, 0 to 9;
// '~' while partly evaluated, '.' before, 'x' or '-' for a run that failed
// or was cancelled) and the mean S of the seeds with trials. `sweep` needs
// its runs (and jobs, for '>'; without them the run's state decides);
// `results` come from ListResults, without trials.
std::string RenderSweepGrid(const mixsweep::v1::GetSweepResponse& sweep,
                            const std::vector<mixsweep::v1::ScenarioResult>& results,
                            const SweepGridOptions& options);

}  // namespace mixsweep::cli
