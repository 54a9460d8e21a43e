#include "services/api/evaluation_convert.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "services/api/proto_convert.h"

namespace mixsweep::api {
namespace v1 = mixsweep::v1;

namespace {

constexpr int64_t kMaxDurationSeconds = 315576000000;  // protobuf's own bound

const char* RequestStateName(evaluation::RequestState state) {
  switch (state) {
    case evaluation::RequestState::kOpen: return "open";
    case evaluation::RequestState::kComplete: return "complete";
    case evaluation::RequestState::kCancelled: return "cancelled";
  }
  return "open";
}

void ToProto(const evaluation::TrialValues& values, v1::TrialInput* out) {
  out->set_trial_index(values.trial_index);
  for (const std::string& name : values.achieved) out->add_achieved(name);
  out->set_success(values.success);
  if (values.duration_ms) {
    *out->mutable_duration() =
        google::protobuf::util::TimeUtil::MillisecondsToDuration(*values.duration_ms);
  }
  out->set_intervention(values.intervention);
  out->set_safety_stop(values.safety_stop);
  out->set_operator_(values.operator_name);
  out->set_robot_id(values.robot_id);
  out->set_notes(values.notes);
  for (const std::string& uri : values.video_uris) out->add_video_uris(uri);
}

void ToProto(const utilization::CurvePoint& point, v1::CurvePoint* out) {
  out->set_n_tele(point.n_tele);
  out->set_n_nt(point.n_nt);
  out->set_mean_s(point.mean_s);
  out->set_std_s(point.std_s);
  out->set_n_seeds(point.n_seeds);
  for (double s : point.seed_s) out->add_seed_s(s);
  out->set_trials(point.trials);
}

void ToProto(const utilization::Eta& eta, v1::Eta* out) {
  out->set_status(api::ToProto(eta.status));
  out->set_value(eta.value);
}

v1::EtaInterval::Shape ToProto(utilization::EtaIntervalShape shape) {
  switch (shape) {
    case utilization::EtaIntervalShape::kBounded: return v1::EtaInterval::SHAPE_BOUNDED;
    case utilization::EtaIntervalShape::kSplit: return v1::EtaInterval::SHAPE_SPLIT;
    case utilization::EtaIntervalShape::kAtOrAbove: return v1::EtaInterval::SHAPE_AT_OR_ABOVE;
    case utilization::EtaIntervalShape::kAtOrBelow: return v1::EtaInterval::SHAPE_AT_OR_BELOW;
    case utilization::EtaIntervalShape::kInfiniteOnly:
      return v1::EtaInterval::SHAPE_INFINITE_ONLY;
  }
  return v1::EtaInterval::SHAPE_UNSPECIFIED;
}

}  // namespace

void ToProto(const evaluation::RobotRecord& robot, v1::Robot* out) {
  out->set_id(robot.id);
  out->set_platform(robot.platform);
  out->set_location(robot.location);
  ToProto(robot.registered_at, out->mutable_registered_at());
}

void ToProto(const evaluation::TrialRecord& trial, v1::Trial* out) {
  out->set_id(trial.id);
  out->set_request_id(trial.request_id);
  out->set_sweep_id(trial.sweep_id);
  out->set_run_id(trial.run_id);
  out->set_scenario(trial.scenario);
  out->set_checkpoint_uri(trial.checkpoint_uri);
  ToProto(trial.values, out->mutable_input());
  out->set_score(trial.score);
  ToProto(trial.recorded_at, out->mutable_recorded_at());
  out->set_supersedes_trial_id(trial.supersedes_trial_id);
  out->set_superseded_by_trial_id(trial.superseded_by_trial_id);
  out->set_correction_reason(trial.correction_reason);
  out->set_simulated(trial.simulated);
  if (trial.episode) {
    v1::SimulatedEpisodeInfo* e = out->mutable_episode();
    e->set_seed(trial.episode->seed);
    e->set_sum_reward(trial.episode->sum_reward);
    e->set_max_reward(trial.episode->max_reward);
    e->set_has_rewards(trial.episode->has_rewards);
  }
}

void ToProto(const evaluation::OperatorBatch& batch, v1::EvaluationBatch* out) {
  out->set_batch_id(batch.batch.batch_id);
  out->set_robot_id(batch.batch.robot_id);
  if (batch.batch.batch_id.empty()) return;  // nothing to evaluate now
  out->set_sweep_id(batch.batch.sweep_id);
  out->set_scenario(batch.batch.scenario);
  out->set_task(batch.task);
  ToProto(batch.rubric, out->mutable_rubric());
  out->set_reason(batch.batch.reason);
  // What the operator sees: labels and checkpoints, never the mixture.
  for (const evaluation::RequestRecord& r : batch.batch.requests) {
    v1::BlindPolicy* p = out->add_policies();
    p->set_label(r.blind_label);
    p->set_request_id(r.id);
    p->set_checkpoint_uri(r.checkpoint_uri);
    p->set_trials_wanted(r.trials_wanted);
    p->set_trials_recorded(r.trials_recorded);
  }
}

void ToProto(const evaluation::ResultRecord& result, v1::ScenarioResult* out) {
  const evaluation::RequestRecord& r = result.request;
  out->set_run_id(r.run_id);
  out->set_scenario(r.scenario);
  out->set_checkpoint_uri(r.checkpoint_uri);
  out->set_n_tele(r.n_tele);
  out->set_source(r.source);
  out->set_n_nt(r.n_nt);
  out->set_seed(r.seed);
  out->set_trials_wanted(r.trials_wanted);
  out->set_trials_recorded(r.trials_recorded);
  out->set_s(result.s);
  for (const evaluation::TrialRecord& t : result.trials) ToProto(t, out->add_trials());
  out->set_request_id(r.id);
  out->set_state(RequestStateName(r.state));
  out->set_blind_label(r.blind_label);
  out->set_checkpoint_step(r.checkpoint_step);
  out->set_simulated(r.simulated);
}

void ToProto(const evaluation::BatchCandidate& candidate, v1::PlannedBatch* out) {
  out->set_sweep_id(candidate.sweep_id);
  out->set_scenario(candidate.scenario);
  out->set_open_requests(static_cast<int32_t>(candidate.request_ids.size()));
  out->set_widest_inverse_width(candidate.widest_inverse_width);
  out->set_widest_estimate(candidate.widest_estimate);
  out->set_reason(candidate.reason);
  out->set_platform(candidate.platform);
}

absl::StatusOr<evaluation::TrialValues> FromProto(const v1::TrialInput& input,
                                                  const std::string& field) {
  evaluation::TrialValues v;
  v.trial_index = input.trial_index();
  v.achieved.assign(input.achieved().begin(), input.achieved().end());
  v.success = input.success();
  if (input.has_duration()) {
    const auto& d = input.duration();
    if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
        d.seconds() > kMaxDurationSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".duration: must be a valid, non-negative duration"));
    }
    v.duration_ms = google::protobuf::util::TimeUtil::DurationToMilliseconds(d);
  }
  v.intervention = input.intervention();
  v.safety_stop = input.safety_stop();
  v.operator_name = input.operator_();
  v.robot_id = input.robot_id();
  v.notes = input.notes();
  v.video_uris.assign(input.video_uris().begin(), input.video_uris().end());
  return v;
}

v1::Eta::Status ToProto(utilization::EtaStatus status) {
  using utilization::EtaStatus;
  switch (status) {
    case EtaStatus::kDefined: return v1::Eta::STATUS_DEFINED;
    case EtaStatus::kNoMeasurableEffect: return v1::Eta::STATUS_NO_MEASURABLE_EFFECT;
    case EtaStatus::kSMixZero: return v1::Eta::STATUS_S_MIX_ZERO;
    case EtaStatus::kNEqEqualsNTele: return v1::Eta::STATUS_N_EQ_EQUALS_N_TELE;
    case EtaStatus::kNoPositiveScaling: return v1::Eta::STATUS_NO_POSITIVE_SCALING;
    case EtaStatus::kTooFewPoints: return v1::Eta::STATUS_TOO_FEW_POINTS;
    case EtaStatus::kZeroBaseline: return v1::Eta::STATUS_ZERO_BASELINE;
    case EtaStatus::kNoData: return v1::Eta::STATUS_NO_DATA;
    case EtaStatus::kNEqOutOfRange: return v1::Eta::STATUS_N_EQ_OUT_OF_RANGE;
  }
  return v1::Eta::STATUS_UNSPECIFIED;
}

void ToProto(const utilization::EtaInterval& interval, v1::EtaInterval* out) {
  out->set_level(interval.level);
  out->set_resamples(interval.resamples);
  out->set_rng_seed(interval.rng_seed);
  out->mutable_inverse()->set_lower(interval.inverse.lower);
  out->mutable_inverse()->set_upper(interval.inverse.upper);
  out->set_sign_established(interval.sign_established);
  out->set_shape(ToProto(interval.shape));
  if (interval.shape == utilization::EtaIntervalShape::kBounded) {
    out->mutable_eta()->set_lower(interval.eta_lower);
    out->mutable_eta()->set_upper(interval.eta_upper);
  }
  out->set_split(interval.shape == utilization::EtaIntervalShape::kSplit);
  out->set_split_at_or_below(interval.split_at_or_below);
  out->set_split_at_or_above(interval.split_at_or_above);
  out->set_resamples_undefined(interval.resamples_undefined);
}

void ToProto(const utilization::PowerLawFit& f, v1::PowerLawFit* fit) {
  fit->set_defined(f.defined);
  if (!f.defined) fit->set_undefined_reason(ToProto(f.undefined_reason));
  fit->set_alpha(f.alpha);
  fit->set_beta(f.beta);
  fit->set_r_squared(f.r_squared);
  for (int64_t n : f.n_used) fit->add_n_used(n);
  fit->set_points_excluded_zero(f.points_excluded_zero);
}

void ToProto(const utilization::Estimate& e, v1::Estimate* out) {
  out->set_sweep_id(e.key.sweep_id);
  out->set_scenario(e.key.scenario);
  out->set_source(e.key.source);
  out->set_aggregation(e.aggregation);
  out->set_simulated(e.simulated);
  for (const auto& p : e.teleop_curve) ToProto(p, out->add_teleop_curve());
  for (const auto& p : e.mixed_curve) ToProto(p, out->add_mixed_curve());
  out->set_n_t_star(e.n_t_star);
  for (const utilization::LocalEta& l : e.local) {
    v1::LocalEta* o = out->add_local();
    o->set_n_t_star(l.n_t_star);
    o->set_n_nt(l.n_nt);
    o->set_s_t(l.s_t);
    o->set_s_mix(l.s_mix);
    o->set_gamma_t(l.gamma_t);
    o->set_gamma_nt(l.gamma_nt);
    ToProto(l.eta, o->mutable_eta());
    if (l.interval) ToProto(*l.interval, o->mutable_interval());
  }
  ToProto(e.fit, out->mutable_fit());
  if (e.scaling) {
    out->set_scaling(true);
    ToProto(e.source_fit, out->mutable_source_fit());
    for (const utilization::MarginalGain& g : e.marginal_gains) {
      v1::MarginalGain* o = out->add_marginal_gains();
      o->set_n_from(g.n_from);
      o->set_n_to(g.n_to);
      o->set_s_from(g.s_from);
      o->set_s_to(g.s_to);
      o->set_gain_per_demo(g.gain_per_demo);
    }
  }
  for (const utilization::GlobalEta& g : e.global) {
    v1::GlobalEta* o = out->add_global();
    o->set_n_tele(g.n_tele);
    o->set_n_nt(g.n_nt);
    o->set_s_mix(g.s_mix);
    o->set_n_eq(g.n_eq);
    ToProto(g.eta, o->mutable_eta());
    if (g.interval) ToProto(*g.interval, o->mutable_interval());
  }
  out->set_trial_count(e.trial_count);
  out->set_last_trial_id(e.last_trial_id);
  out->set_from_given_s(e.from_given_s);
  out->set_rng_seed(e.rng_seed);
}

void ToProto(const evaluation::StoredEstimate& stored, v1::Estimate* out) {
  ToProto(stored.estimate, out);
  if (stored.source_kind) out->set_source_kind(ToProto(*stored.source_kind));
  // Costs of the points, matched by (n_tele, n_nt); teleop-only points are
  // listed under source "".
  for (const utilization::PointCost& cost : stored.point_costs) {
    auto* points = cost.source.empty() ? out->mutable_teleop_curve() : out->mutable_mixed_curve();
    for (v1::CurvePoint& point : *points) {
      if (point.n_tele() != cost.point.n_tele || point.n_nt() != cost.point.n_nt) continue;
      point.set_cost_collection_hours(cost.collection_hours);
      point.set_cost_gpu_hours(cost.gpu_hours);
      point.set_cost_money(cost.money);
    }
  }
  out->set_task(stored.task);
  out->set_version(stored.version);
  if (stored.computed_at != absl::Time()) ToProto(stored.computed_at, out->mutable_computed_at());
  out->set_trials_digest(stored.trials_digest);
  v1::EstimateParameters* p = out->mutable_parameters();
  p->set_n_t_star(stored.params.n_t_star);
  p->set_resamples(stored.params.resamples);
  p->set_level(stored.params.level);
}

void ToProto(const evaluation::RecommendAnswer& answer, v1::Recommendation* out) {
  const utilization::Recommendation& r = answer.recommendation;
  out->set_n_tele(r.n_tele);
  out->set_n_nt(r.n_nt);
  out->set_predicted_s(r.predicted_s);
  if (r.predicted_s_interval) {
    out->mutable_predicted_s_interval()->set_lower(r.predicted_s_interval->lower);
    out->mutable_predicted_s_interval()->set_upper(r.predicted_s_interval->upper);
  }
  out->set_spent_hours(r.spent_hours);
  out->set_budget_hours(r.budget_hours);
  out->set_buy_non_teleop(r.buy_non_teleop);
  out->set_eta_used(r.eta_used.value_or(0.0));
  for (const std::string& w : r.warnings) out->add_warnings(w);
  out->set_explanation(r.explanation);
  out->set_cost_tele_hours(answer.cost_tele_hours);
  out->set_cost_nt_hours(answer.cost_nt_hours);
  out->set_teleop_core(answer.teleop_core);
}

}  // namespace mixsweep::api
