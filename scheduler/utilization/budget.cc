#include "scheduler/utilization/budget.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "scheduler/utilization/power_law.h"
#include "scheduler/utilization/stats.h"

namespace mixsweep::utilization {
namespace {

// The most demos of one kind a request may imply; keeps every count an
// exact integer in a double and the search linear and bounded.
constexpr double kMaxDemos = 1e8;

absl::Status ValidateRequest(const BudgetRequest& r) {
  auto bad = [](const char* field, double v, const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", v, " ", why));
  };
  if (!(std::isfinite(r.budget_hours) && r.budget_hours > 0)) {
    return bad("budget_hours", r.budget_hours, "must be a positive number");
  }
  if (!(std::isfinite(r.cost_tele_hours) && r.cost_tele_hours > 0)) {
    return bad("cost_tele_hours", r.cost_tele_hours,
               "must be a positive number");
  }
  if (!(std::isfinite(r.cost_nt_hours) && r.cost_nt_hours >= 0)) {
    return bad("cost_nt_hours", r.cost_nt_hours, "must be a number >= 0");
  }
  if (r.teleop_core < 0) {
    return bad("teleop_core", static_cast<double>(r.teleop_core),
               "must be >= 0");
  }
  if (!(r.level > 0 && r.level < 1)) {
    return bad("level", r.level, "must lie strictly between 0 and 1");
  }
  if (r.budget_hours / r.cost_tele_hours > kMaxDemos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "budget_hours: buys more than ", kMaxDemos, " teleop demos"));
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const ScalingModel& model) {
  if (!std::isfinite(model.log_alpha) || !std::isfinite(model.beta)) {
    return absl::InvalidArgumentError("model: alpha and beta must be finite");
  }
  if (!(model.beta > 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model.beta: ", model.beta,
                     " <= 0: no positive scaling, so no mix can be predicted"));
  }
  for (std::size_t i = 0; i < model.knots.size(); ++i) {
    const EtaKnot& k = model.knots[i];
    if (k.n_nt < 1 || (i > 0 && k.n_nt <= model.knots[i - 1].n_nt) ||
        static_cast<double>(k.n_nt) > kMaxDemos / 2 ||
        !std::isfinite(k.inverse_eta)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.knots[", i, "]: n_nt must ascend strictly from 1 (at most ",
          kMaxDemos / 2, ") and inverse_eta be finite"));
    }
  }
  return absl::OkStatus();
}

bool Affordable(int64_t n_tele, int64_t n_nt, const BudgetRequest& r) {
  const double spent = static_cast<double>(n_tele) * r.cost_tele_hours +
                       static_cast<double>(n_nt) * r.cost_nt_hours;
  return spent <= r.budget_hours * (1 + kBudgetRelativeSlack);
}

// The largest N_tele affordable next to n_nt (-1 if none): the floor
// formula, then corrected by one step either way for rounding.
int64_t MaxTeleop(int64_t n_nt, const BudgetRequest& r) {
  const double left =
      r.budget_hours - static_cast<double>(n_nt) * r.cost_nt_hours;
  int64_t n = static_cast<int64_t>(
      std::max(-1.0, std::floor(left / r.cost_tele_hours)));
  while (n >= 0 && !Affordable(n, n_nt, r)) --n;
  while (Affordable(n + 1, n_nt, r)) ++n;
  return n;
}

double EffectiveTeleop(const ScalingModel& model, int64_t n_tele,
                       int64_t n_nt) {
  if (n_nt == 0) return static_cast<double>(n_tele);
  return static_cast<double>(n_tele) +
         static_cast<double>(n_nt) * InterpolateInverseEta(model.knots, n_nt);
}

double UncappedS(const ScalingModel& model, int64_t n_tele, int64_t n_nt) {
  return PredictS(model.log_alpha, model.beta,
                  EffectiveTeleop(model, n_tele, n_nt));
}

std::optional<double> EtaAt(const ScalingModel& model, int64_t n_nt) {
  if (model.knots.empty()) return std::nullopt;
  const double inverse = InterpolateInverseEta(
      model.knots, n_nt > 0 ? n_nt : model.knots.front().n_nt);
  const Eta eta = EtaFromInverse(inverse, EtaStatus::kNoMeasurableEffect);
  if (!eta.defined()) return std::nullopt;
  return eta.value;
}

std::optional<SInterval> PredictedInterval(
    std::span<const ScalingModel> resamples, int64_t n_tele, int64_t n_nt,
    double level) {
  std::vector<double> values;
  for (const ScalingModel& m : resamples) {
    if (m.beta > 0) values.push_back(PredictMixS(m, n_tele, n_nt));
  }
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  return SInterval{.lower = PercentileType7(values, (1 - level) / 2),
                   .upper = PercentileType7(values, (1 + level) / 2)};
}

}  // namespace

double InterpolateInverseEta(const std::vector<EtaKnot>& knots, int64_t n_nt) {
  if (knots.empty()) return 0.0;
  if (n_nt <= knots.front().n_nt) return knots.front().inverse_eta;
  if (n_nt >= knots.back().n_nt) return knots.back().inverse_eta;
  auto upper =
      std::lower_bound(knots.begin(), knots.end(), n_nt,
                       [](const EtaKnot& k, int64_t n) { return k.n_nt < n; });
  if (upper->n_nt == n_nt) return upper->inverse_eta;
  const EtaKnot& lo = *(upper - 1);
  const double t = static_cast<double>(n_nt - lo.n_nt) /
                   static_cast<double>(upper->n_nt - lo.n_nt);
  return lo.inverse_eta + t * (upper->inverse_eta - lo.inverse_eta);
}

double PredictMixS(const ScalingModel& model, int64_t n_tele, int64_t n_nt) {
  return std::min(1.0, UncappedS(model, n_tele, n_nt));
}

namespace {

// Where the search over N_nt runs, and why it stops there.
struct SearchSpace {
  int64_t largest_measured = 0;  // the last knot's N_nt; 0 without knots
  int64_t limit = 0;             // twice that: no prediction beyond
  int64_t bound = 0;             // the largest N_nt searched
  bool limited = false;          // the limit, not the budget, set the bound
};

SearchSpace SearchSpaceFor(const ScalingModel& model,
                           const BudgetRequest& request) {
  SearchSpace space;
  if (model.knots.empty()) return space;
  space.largest_measured = model.knots.back().n_nt;
  space.limit = 2 * space.largest_measured;
  space.bound = space.limit;
  space.limited = true;
  if (request.cost_nt_hours > 0) {
    const double left =
        request.budget_hours * (1 + kBudgetRelativeSlack) -
        static_cast<double>(request.teleop_core) * request.cost_tele_hours;
    const double affordable =
        std::max(0.0, std::floor(left / request.cost_nt_hours));
    space.limited = affordable > static_cast<double>(space.limit);
    space.bound = static_cast<int64_t>(
        std::min(static_cast<double>(space.limit), affordable));
  }
  return space;
}

struct Mix {
  int64_t n_tele = 0;
  int64_t n_nt = 0;
  double effective = 0.0;  // N_tele + N_nt / eta(N_nt)
};

// One pass over N_nt with the largest affordable N_tele for each. Ties keep
// the smaller N_nt: buy non-teleop data only for a strict gain.
Mix BestMix(const ScalingModel& model, const BudgetRequest& request,
            int64_t bound) {
  Mix best{.n_tele = MaxTeleop(0, request),
           .effective = EffectiveTeleop(model, MaxTeleop(0, request), 0)};
  for (int64_t n_nt = 1; n_nt <= bound; ++n_nt) {
    const int64_t n_tele = MaxTeleop(n_nt, request);
    if (n_tele < request.teleop_core) break;  // only shrinks as n_nt grows
    const double effective = EffectiveTeleop(model, n_tele, n_nt);
    if (effective > best.effective) best = {n_tele, n_nt, effective};
  }
  return best;
}

std::vector<std::string> Warnings(const ScalingModel& model,
                                  const BudgetRequest& request,
                                  const SearchSpace& space,
                                  const Recommendation& rec) {
  std::vector<std::string> warnings;
  if (model.knots.empty()) {
    warnings.push_back(
        "no measured global eta: non-teleop data are not considered");
  }
  if (space.largest_measured > 0 && rec.n_nt > space.largest_measured) {
    warnings.push_back(absl::StrCat(
        "N_nt = ", rec.n_nt, " is beyond the largest measured N_nt (",
        space.largest_measured, "): eta is held at its value there"));
  }
  // Beyond the limit, with 1/eta held at the last knot, each non-teleop
  // demo would still buy more effective data than its cost in teleop.
  if (space.limited &&
      model.knots.back().inverse_eta * request.cost_tele_hours >
          request.cost_nt_hours) {
    warnings.push_back(absl::StrCat(
        "the search stops at the limit of twice the largest measured N_nt (",
        space.limit,
        "); more non-teleop data would pay at the last eta but are "
        "not predicted"));
  }
  if (UncappedS(model, rec.n_tele, rec.n_nt) > 1.0) {
    warnings.push_back(
        "the power law predicts S > 1 for this mix (extrapolation); capped "
        "at 1");
  }
  if (rec.buy_non_teleop != (rec.n_nt > 0)) {
    warnings.push_back(
        "the rule of thumb C_tele / C_nt > eta > 0 at eta_used disagrees "
        "with the optimum: eta varies with N_nt");
  }
  return warnings;
}

std::string Explanation(const BudgetRequest& request, const Mix& mix,
                        const std::optional<double>& eta_used) {
  return absl::StrCat(
      "maximises alpha (N_tele + N_nt / eta(N_nt))^beta within ",
      request.budget_hours, " h: ", mix.n_tele, " teleop + ", mix.n_nt,
      " non-teleop demos = ", mix.effective,
      " effective teleop demos; C_tele / C_nt = ",
      request.cost_nt_hours > 0
          ? absl::StrCat(request.cost_tele_hours / request.cost_nt_hours)
          : std::string("unbounded"),
      ", eta used = ",
      eta_used ? absl::StrCat(*eta_used) : std::string("none"));
}

}  // namespace

absl::StatusOr<Recommendation> RecommendMix(
    const ScalingModel& model, std::span<const ScalingModel> resamples,
    const BudgetRequest& request) {
  if (absl::Status s = ValidateRequest(request); !s.ok()) return s;
  if (absl::Status s = ValidateModel(model); !s.ok()) return s;
  if (!Affordable(request.teleop_core, 0, request)) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget_hours: ", request.budget_hours,
                     " does not cover the teleop core of ", request.teleop_core,
                     " demos at ", request.cost_tele_hours, " h each"));
  }
  const SearchSpace space = SearchSpaceFor(model, request);
  const Mix mix = BestMix(model, request, space.bound);

  Recommendation rec{.n_tele = mix.n_tele,
                     .n_nt = mix.n_nt,
                     .budget_hours = request.budget_hours};
  rec.spent_hours = static_cast<double>(mix.n_tele) * request.cost_tele_hours +
                    static_cast<double>(mix.n_nt) * request.cost_nt_hours;
  rec.predicted_s = PredictMixS(model, mix.n_tele, mix.n_nt);
  rec.predicted_s_interval =
      PredictedInterval(resamples, mix.n_tele, mix.n_nt, request.level);
  rec.eta_used = EtaAt(model, mix.n_nt);
  rec.buy_non_teleop =
      rec.eta_used && *rec.eta_used > 0 &&
      (request.cost_nt_hours == 0 ||
       request.cost_tele_hours / request.cost_nt_hours > *rec.eta_used);
  rec.warnings = Warnings(model, request, space, rec);
  rec.explanation = Explanation(request, mix, rec.eta_used);
  return rec;
}

}  // namespace mixsweep::utilization
