// What to evaluate next: robot time is the bottleneck, so the next batch is
// the (sweep, scenario) whose open requests inform the estimate with the
// widest interval. docs/evaluation.md explains the rule.
//
// Widths are of 1/eta's bootstrap interval (local or global), the quantity
// the engine resamples: it is finite where eta's interval is not, and one
// unit across local and global etas. An eta with no interval yet (no data,
// undefined, too few points) counts as infinitely wide: its first results
// are worth the most.
//
// Pure: the store supplies the open requests and the stored estimates.
//
// Example:
//   std::vector<EstimateUncertainty> widths;
//   for (const utilization::Estimate& e : stored) widths.push_back(UncertaintyOf(e));
//   std::vector<BatchCandidate> ranked = RankBatches(open, widths);
//   if (!ranked.empty()) assign(ranked.front().request_ids);  // oldest first
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/utilization/estimate.h"

namespace mixsweep::evaluation {

// An evaluation request that no batch has taken yet.
struct OpenRequest {
  int64_t request_id = 0;
  int64_t sweep_id = 0;
  std::string scenario = {};
  std::string platform = {};  // required robot platform; empty: any
  std::string source = {};    // empty: a teleop-only run (informs every source)
  int64_t n_tele = 0;
  int64_t n_nt = 0;
};

// How uncertain one stored estimate is.
struct EstimateUncertainty {
  int64_t sweep_id = 0;
  std::string scenario = {};
  std::string source = {};
  // The widest 1/eta interval among its local and global etas; +inf where
  // one of them has no interval.
  double widest_inverse_width = 0.0;
  // Which eta that is, for people, as "<which eta>: <its interval>":
  // "global eta at N_tele=200, N_nt=1000: 1/eta interval [-0.021, 0.31]",
  // "local eta at N_t*=200, N_nt=1000: no interval yet, STATUS_NO_DATA", or
  // "estimate: no local or global eta yet". Among equal widths the first
  // (locals, then globals, in their order) is named.
  std::string widest_what = {};
};

EstimateUncertainty UncertaintyOf(const utilization::Estimate& estimate);

// One (sweep, scenario) that could be the next batch.
struct BatchCandidate {
  int64_t sweep_id = 0;
  std::string scenario = {};
  std::string platform = {};
  std::vector<int64_t> request_ids = {};  // ascending (oldest first)
  double widest_inverse_width = 0.0;      // +inf: some estimate has no interval
  // "<source>: <widest_what>"; "sim: estimate: not stored yet" where no
  // estimate is stored, "every source: ..." for a teleop-only request
  // whose (sweep, scenario) has none.
  std::string widest_estimate = {};
  // One sentence for the lab lead, e.g. "unseen_background of sweep 3: 9
  // policies waiting; they inform sim's global eta at N_tele=200,
  // N_nt=1000, whose 1/eta interval [-0.021, 0.31] is the widest (width
  // 0.331)".
  std::string reason = {};
};

// Groups `open` by (sweep, scenario, platform) and ranks the groups: the
// widest interval among the estimates their requests inform first (a
// request of source s informs (sweep, scenario, s); a teleop-only one every
// source's estimate of (sweep, scenario); an estimate not stored yet counts
// as infinitely wide; a NaN width too), then more open requests, then the
// oldest request. Duplicate request ids are listed once; should `estimates`
// repeat a key, the first is used.
std::vector<BatchCandidate> RankBatches(const std::vector<OpenRequest>& open,
                                        const std::vector<EstimateUncertainty>& estimates);

// The order in which the operator sees a batch's policies: a permutation of
// `request_ids` drawn from `seed` (the caller passes fresh randomness), so
// that the data mixture does not line up with the time of day or the
// operator's fatigue. The ids are sorted, then shuffled by Fisher-Yates with
// utilization::SplitMix64's Below(): the result depends only on the set of
// ids and the seed, on every platform (pinned by a golden test).
std::vector<int64_t> BlindOrder(std::vector<int64_t> request_ids, uint64_t seed);

}  // namespace mixsweep::evaluation
