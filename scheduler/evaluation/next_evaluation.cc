#include "scheduler/evaluation/next_evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/rng.h"

namespace mixsweep::evaluation {
namespace {

constexpr double kInfinite = std::numeric_limits<double>::infinity();

// What `widest_what` says is "<subject>: <detail>"; the reason rephrases it.
// (absl::string_view: Debian's Abseil does not alias std::string_view, and
// StrCat takes only its own.)
constexpr absl::string_view kWhatSeparator = ": ";

absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

// Three significant digits: enough to tell intervals apart at a glance.
std::string Short(double value) { return absl::StrFormat("%.3g", value); }

// A width that is not a number (a corrupt interval) must not sort anywhere
// unpredictable: it counts as unknown, i.e. infinitely wide.
double SaneWidth(double width) { return std::isnan(width) ? kInfinite : width; }

struct Candidate {
  double width = kInfinite;
  std::string what;
};

Candidate OfInterval(const std::optional<utilization::EtaInterval>& interval,
                     utilization::EtaStatus status, std::string subject) {
  if (!interval) {
    return {.width = kInfinite,
            .what = absl::StrCat(subject, kWhatSeparator, "no interval yet, ",
                                 AsAbsl(utilization::EtaStatusName(status)))};
  }
  const utilization::InverseInterval& in = interval->inverse;
  return {.width = SaneWidth(in.upper - in.lower),
          .what = absl::StrCat(subject, kWhatSeparator, "1/eta interval [", Short(in.lower), ", ",
                               Short(in.upper), "]")};
}

std::string LocalSubject(const utilization::LocalEta& local) {
  if (local.n_t_star == 0) return absl::StrCat("local eta at N_nt=", local.n_nt);
  return absl::StrCat("local eta at N_t*=", local.n_t_star, ", N_nt=", local.n_nt);
}

std::string GlobalSubject(const utilization::GlobalEta& global) {
  return absl::StrCat("global eta at N_tele=", global.n_tele, ", N_nt=", global.n_nt);
}

// "sim's global eta at N_tele=200, N_nt=1000, whose 1/eta interval [-0.021,
// 0.31] is the widest (width 0.331)", or, for an infinite width, "sim's local
// eta at ... (no interval yet, STATUS_NO_DATA), which counts as infinitely
// wide".
std::string InformsClause(absl::string_view source, absl::string_view what, double width) {
  const std::string owner = source.empty() ? "every source's" : absl::StrCat(source, "'s");
  absl::string_view subject = what;
  absl::string_view detail;
  if (size_t at = what.find(kWhatSeparator); at != absl::string_view::npos) {
    subject = what.substr(0, at);
    detail = what.substr(at + kWhatSeparator.size());
  }
  if (std::isinf(width)) {
    if (detail.empty()) return absl::StrCat(owner, " ", subject, ", which counts as infinitely wide");
    return absl::StrCat(owner, " ", subject, " (", detail, "), which counts as infinitely wide");
  }
  if (detail.empty()) {
    return absl::StrCat(owner, " ", subject, ", the widest (width ", Short(width), ")");
  }
  return absl::StrCat(owner, " ", subject, ", whose ", detail, " is the widest (width ",
                      Short(width), ")");
}

using GroupKey = std::tuple<int64_t, std::string, std::string>;  // sweep, scenario, platform
using EstimateId = std::tuple<int64_t, std::string, std::string>;  // sweep, scenario, source

}  // namespace

EstimateUncertainty UncertaintyOf(const utilization::Estimate& estimate) {
  EstimateUncertainty out{.sweep_id = estimate.key.sweep_id,
                          .scenario = estimate.key.scenario,
                          .source = estimate.key.source,
                          .widest_inverse_width = kInfinite,
                          .widest_what = absl::StrCat("estimate", kWhatSeparator,
                                                      "no local or global eta yet")};
  std::optional<Candidate> widest;
  // Strictly wider replaces: among equal widths (several without interval)
  // the first in local-then-global order is named, deterministically.
  auto consider = [&](Candidate candidate) {
    if (!widest || candidate.width > widest->width) widest = std::move(candidate);
  };
  for (const utilization::LocalEta& local : estimate.local) {
    consider(OfInterval(local.interval, local.eta.status, LocalSubject(local)));
  }
  for (const utilization::GlobalEta& global : estimate.global) {
    consider(OfInterval(global.interval, global.eta.status, GlobalSubject(global)));
  }
  if (widest) {
    out.widest_inverse_width = widest->width;
    out.widest_what = std::move(widest->what);
  }
  return out;
}

std::vector<BatchCandidate> RankBatches(const std::vector<OpenRequest>& open,
                                        const std::vector<EstimateUncertainty>& estimates) {
  // The store supplies one (the latest) uncertainty per estimate; should a
  // key repeat, the first is used.
  std::map<EstimateId, const EstimateUncertainty*> by_id;
  for (const EstimateUncertainty& e : estimates) {
    by_id.emplace(EstimateId{e.sweep_id, e.scenario, e.source}, &e);
  }

  struct Group {
    std::vector<int64_t> request_ids;
    std::vector<std::string> sources;  // informed; "" only for "none stored"
  };
  std::map<GroupKey, Group> groups;
  for (const OpenRequest& request : open) {
    Group& group = groups[GroupKey{request.sweep_id, request.scenario, request.platform}];
    group.request_ids.push_back(request.request_id);
    if (!request.source.empty()) {
      group.sources.push_back(request.source);
      continue;
    }
    // A teleop-only run is every source's baseline: it informs each stored
    // estimate of its (sweep, scenario); with none stored, an unknown one.
    bool any_stored = false;
    for (auto it = by_id.lower_bound(EstimateId{request.sweep_id, request.scenario, ""});
         it != by_id.end() && std::get<0>(it->first) == request.sweep_id &&
         std::get<1>(it->first) == request.scenario;
         ++it) {
      group.sources.push_back(std::get<2>(it->first));
      any_stored = true;
    }
    if (!any_stored) group.sources.push_back("");
  }

  std::vector<BatchCandidate> ranked;
  ranked.reserve(groups.size());
  for (auto& [key, group] : groups) {
    auto& [sweep_id, scenario, platform] = key;
    std::sort(group.request_ids.begin(), group.request_ids.end());
    group.request_ids.erase(std::unique(group.request_ids.begin(), group.request_ids.end()),
                            group.request_ids.end());
    // Sorted so that, among equally wide estimates, the one named does not
    // depend on the order of the requests.
    std::sort(group.sources.begin(), group.sources.end());
    group.sources.erase(std::unique(group.sources.begin(), group.sources.end()),
                        group.sources.end());

    std::optional<double> widest_width;
    std::string widest_source;
    std::string widest_what;
    for (const std::string& source : group.sources) {
      double width = kInfinite;
      std::string what = absl::StrCat("estimate", kWhatSeparator, "not stored yet");
      if (auto it = by_id.find(EstimateId{sweep_id, scenario, source}); it != by_id.end()) {
        width = SaneWidth(it->second->widest_inverse_width);
        what = it->second->widest_what;
      }
      if (!widest_width || width > *widest_width) {
        widest_width = width;
        widest_source = source;
        widest_what = std::move(what);
      }
    }

    BatchCandidate candidate;
    candidate.sweep_id = sweep_id;
    candidate.scenario = scenario;
    candidate.platform = platform;
    candidate.request_ids = group.request_ids;
    candidate.widest_inverse_width = widest_width.value_or(kInfinite);
    candidate.widest_estimate = absl::StrCat(
        widest_source.empty() ? "every source" : widest_source, kWhatSeparator, widest_what);
    const size_t waiting = candidate.request_ids.size();
    candidate.reason = absl::StrCat(
        scenario, " of sweep ", sweep_id, platform.empty() ? "" : absl::StrCat(" on ", platform),
        ": ", waiting, waiting == 1 ? " policy" : " policies", " waiting; ",
        waiting == 1 ? "it informs " : "they inform ",
        InformsClause(widest_source, widest_what, candidate.widest_inverse_width));
    ranked.push_back(std::move(candidate));
  }

  std::sort(ranked.begin(), ranked.end(), [](const BatchCandidate& a, const BatchCandidate& b) {
    if (a.widest_inverse_width != b.widest_inverse_width) {
      return a.widest_inverse_width > b.widest_inverse_width;
    }
    if (a.request_ids.size() != b.request_ids.size()) {
      return a.request_ids.size() > b.request_ids.size();
    }
    // Groups are never empty; request ids are unique across groups, and
    // the key settles the (impossible) rest so the order is total.
    if (a.request_ids.front() != b.request_ids.front()) {
      return a.request_ids.front() < b.request_ids.front();
    }
    return std::tie(a.sweep_id, a.scenario, a.platform) <
           std::tie(b.sweep_id, b.scenario, b.platform);
  });
  return ranked;
}

std::vector<int64_t> BlindOrder(std::vector<int64_t> request_ids, uint64_t seed) {
  // Sorted first, so the order depends only on the set of ids and the seed.
  std::sort(request_ids.begin(), request_ids.end());
  // Fisher-Yates by hand with the engine's specified SplitMix64 and bounded
  // draw: std::shuffle's output differs between standard libraries.
  utilization::SplitMix64 rng(seed);
  for (size_t i = request_ids.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.Below(i));  // uniform in [0, i)
    std::swap(request_ids[i - 1], request_ids[j]);
  }
  return request_ids;
}

}  // namespace mixsweep::evaluation
