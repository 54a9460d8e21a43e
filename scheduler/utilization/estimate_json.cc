#include "scheduler/utilization/estimate_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace mixsweep::utilization {
namespace {

// Bumped only if a member changes meaning; new members are added freely
// (readers ignore members they do not know).
constexpr int kFormatVersion = 1;

// Writing keeps the members in declaration order, for people reading psql
// output (jsonb reorders them anyway); reading does not care.
using OrderedJson = nlohmann::ordered_json;
using Json = nlohmann::json;

// ---------------------------------------------------------------- writing

// Finite doubles as numbers (nlohmann prints the shortest form that reads
// back to the same double). The rest as strings, because JSON has no
// infinity or NaN and nlohmann would print null. Negative zero too: jsonb
// keeps numbers as `numeric`, which has no -0.
OrderedJson DoubleToJson(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0 && std::signbit(value)) return "-0";
  return value;
}

OrderedJson DoublesToJson(const std::vector<double>& values) {
  OrderedJson out = OrderedJson::array();
  for (double v : values) out.push_back(DoubleToJson(v));
  return out;
}

std::string_view ShapeName(EtaIntervalShape shape) {
  switch (shape) {
    case EtaIntervalShape::kBounded:
      return "kBounded";
    case EtaIntervalShape::kSplit:
      return "kSplit";
    case EtaIntervalShape::kAtOrAbove:
      return "kAtOrAbove";
    case EtaIntervalShape::kAtOrBelow:
      return "kAtOrBelow";
    case EtaIntervalShape::kInfiniteOnly:
      return "kInfiniteOnly";
  }
  return "kUnknown";
}

constexpr EtaIntervalShape kAllShapes[] = {
    EtaIntervalShape::kBounded, EtaIntervalShape::kSplit, EtaIntervalShape::kAtOrAbove,
    EtaIntervalShape::kAtOrBelow, EtaIntervalShape::kInfiniteOnly};

constexpr EtaStatus kAllStatuses[] = {
    EtaStatus::kDefined,           EtaStatus::kNoMeasurableEffect, EtaStatus::kSMixZero,
    EtaStatus::kNEqEqualsNTele,    EtaStatus::kNoPositiveScaling,  EtaStatus::kTooFewPoints,
    EtaStatus::kZeroBaseline,      EtaStatus::kNoData,             EtaStatus::kNEqOutOfRange};

OrderedJson EtaToJson(const Eta& eta) {
  return {{"status", EtaStatusName(eta.status)}, {"value", DoubleToJson(eta.value)}};
}

OrderedJson IntervalToJson(const EtaInterval& in) {
  return {
      {"level", DoubleToJson(in.level)},
      {"resamples", in.resamples},
      {"resamples_undefined", in.resamples_undefined},
      // A decimal string: JSON readers (JavaScript, jsonb casts to float)
      // lose integers above 2^53.
      {"rng_seed", std::to_string(in.rng_seed)},
      {"inverse",
       {{"lower", DoubleToJson(in.inverse.lower)}, {"upper", DoubleToJson(in.inverse.upper)}}},
      {"shape", ShapeName(in.shape)},
      {"sign_established", in.sign_established},
      {"eta_lower", DoubleToJson(in.eta_lower)},
      {"eta_upper", DoubleToJson(in.eta_upper)},
      {"split_at_or_below", DoubleToJson(in.split_at_or_below)},
      {"split_at_or_above", DoubleToJson(in.split_at_or_above)},
  };
}

OrderedJson CurvePointToJson(const CurvePoint& p) {
  OrderedJson runs = OrderedJson::array();
  for (const RunResult& run : p.runs) {
    runs.push_back({{"seed", run.seed},
                    {"s", DoubleToJson(run.s)},
                    {"scores", DoublesToJson(run.scores)},
                    {"given", run.given}});
  }
  return {{"n_tele", p.n_tele},
          {"n_nt", p.n_nt},
          {"mean_s", DoubleToJson(p.mean_s)},
          {"std_s", DoubleToJson(p.std_s)},
          {"n_seeds", p.n_seeds},
          {"seed_s", DoublesToJson(p.seed_s)},
          {"trials", p.trials},
          {"runs", std::move(runs)}};
}

OrderedJson LocalToJson(const LocalEta& l) {
  OrderedJson out = {{"n_t_star", l.n_t_star},
                     {"n_nt", l.n_nt},
                     {"s_t", DoubleToJson(l.s_t)},
                     {"s_mix", DoubleToJson(l.s_mix)},
                     {"gamma_t", DoubleToJson(l.gamma_t)},
                     {"gamma_nt", DoubleToJson(l.gamma_nt)},
                     {"eta", EtaToJson(l.eta)}};
  if (l.inverse) out["inverse"] = DoubleToJson(*l.inverse);
  if (l.interval) out["interval"] = IntervalToJson(*l.interval);
  return out;
}

OrderedJson GlobalToJson(const GlobalEta& g) {
  OrderedJson out = {{"n_tele", g.n_tele},
                     {"n_nt", g.n_nt},
                     {"s_mix", DoubleToJson(g.s_mix)},
                     {"n_eq", DoubleToJson(g.n_eq)},
                     {"eta", EtaToJson(g.eta)}};
  if (g.inverse) out["inverse"] = DoubleToJson(*g.inverse);
  if (g.interval) out["interval"] = IntervalToJson(*g.interval);
  return out;
}

OrderedJson FitToJson(const PowerLawFit& f) {
  return {{"defined", f.defined},
          {"undefined_reason", EtaStatusName(f.undefined_reason)},
          {"alpha", DoubleToJson(f.alpha)},
          {"log_alpha", DoubleToJson(f.log_alpha)},
          {"beta", DoubleToJson(f.beta)},
          {"r_squared", DoubleToJson(f.r_squared)},
          {"n_used", f.n_used},
          {"points_excluded_zero", f.points_excluded_zero}};
}

// ---------------------------------------------------------------- reading

std::string Child(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : absl::StrFormat("%s.%s", path, name);
}

std::string Index(const std::string& path, size_t i) { return absl::StrFormat("%s[%d]", path, i); }

absl::Status Invalid(const std::string& path, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: %s", path.empty() ? "(document)" : path, message));
}

// "a string", "an array"...: what was found where something else was due.
std::string Found(const Json& v) {
  if (v.is_string()) return absl::StrFormat("the string %s", v.dump());
  if (v.is_number()) return absl::StrFormat("the number %s", v.dump());
  if (v.is_boolean()) return absl::StrFormat("%s", v.dump());
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

absl::Status Mistyped(const std::string& path, std::string_view expected, const Json& v) {
  return Invalid(path, absl::StrFormat("expected %s, got %s", expected, Found(v)));
}

#define MIXSWEEP_JSON_TRY(expr)              \
  do {                                       \
    if (absl::Status _s = (expr); !_s.ok()) { \
      return _s;                             \
    }                                        \
  } while (false)

absl::Status ReadDouble(const Json& v, const std::string& path, double* out) {
  // Integers too: jsonb prints 1.0 as 1.0 but a re-encoder may print 1, and
  // a 2^64-range integer converts to the nearest double as strtod would.
  if (v.is_number_float()) {
    *out = v.get<double>();
  } else if (v.is_number_unsigned()) {
    *out = static_cast<double>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    *out = static_cast<double>(v.get<int64_t>());
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "inf") {
      *out = std::numeric_limits<double>::infinity();
    } else if (s == "-inf") {
      *out = -std::numeric_limits<double>::infinity();
    } else if (s == "nan") {
      *out = std::numeric_limits<double>::quiet_NaN();
    } else if (s == "-0") {
      *out = -0.0;
    } else {
      return Invalid(path, absl::StrFormat("expected a number or \"inf\", \"-inf\", \"nan\", "
                                           "\"-0\", got the string %s",
                                           v.dump()));
    }
  } else {
    return Mistyped(path, "a number", v);
  }
  return absl::OkStatus();
}

// An integer in [min, max]; a number with a fractional part of zero (200.0,
// 2e2) counts, since a re-printer may turn integers into such forms.
absl::Status ReadInteger(const Json& v, const std::string& path, int64_t min, int64_t max,
                         int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) {
      return Invalid(path, absl::StrFormat("%d is above %d", u, max));
    }
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // [-2^63, 2^63): the doubles that convert to int64 without overflow.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::trunc(d) != d) {
      return Invalid(path, absl::StrFormat("expected an integer, got %s", v.dump()));
    }
    *out = static_cast<int64_t>(d);
  } else {
    return Mistyped(path, "an integer", v);
  }
  if (*out < min || *out > max) {
    return Invalid(path, absl::StrFormat("%d is outside [%d, %d]", *out, min, max));
  }
  return absl::OkStatus();
}

absl::Status ReadInt64(const Json& v, const std::string& path, int64_t* out) {
  return ReadInteger(v, path, std::numeric_limits<int64_t>::min(),
                     std::numeric_limits<int64_t>::max(), out);
}

absl::Status ReadInt(const Json& v, const std::string& path, int* out) {
  int64_t wide = 0;
  MIXSWEEP_JSON_TRY(ReadInteger(v, path, std::numeric_limits<int>::min(),
                                std::numeric_limits<int>::max(), &wide));
  *out = static_cast<int>(wide);
  return absl::OkStatus();
}

// A decimal string of digits (as written), or a non-negative JSON integer.
absl::Status ReadUint64(const Json& v, const std::string& path, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return absl::OkStatus();
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return absl::OkStatus();
  }
  if (!v.is_string()) return Mistyped(path, "a decimal string", v);
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty()) return Invalid(path, "expected a decimal string, got \"\"");
  uint64_t value = 0;
  for (char c : s) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (c < '0' || c > '9') {
      return Invalid(path, absl::StrFormat("expected a decimal string, got %s", v.dump()));
    }
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return Invalid(path, absl::StrFormat("%s is above 2^64 - 1", s));
    }
    value = value * 10 + digit;
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& v, const std::string& path, bool* out) {
  if (!v.is_boolean()) return Mistyped(path, "true or false", v);
  *out = v.get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const Json& v, const std::string& path, std::string* out) {
  if (!v.is_string()) return Mistyped(path, "a string", v);
  *out = v.get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadStatus(const Json& v, const std::string& path, EtaStatus* out) {
  if (!v.is_string()) return Mistyped(path, "a status name", v);
  const std::string& s = v.get_ref<const std::string&>();
  for (EtaStatus status : kAllStatuses) {
    if (EtaStatusName(status) == s) {
      *out = status;
      return absl::OkStatus();
    }
  }
  return Invalid(path, absl::StrFormat("unknown status %s", v.dump()));
}

absl::Status ReadShape(const Json& v, const std::string& path, EtaIntervalShape* out) {
  if (!v.is_string()) return Mistyped(path, "a shape name", v);
  const std::string& s = v.get_ref<const std::string&>();
  for (EtaIntervalShape shape : kAllShapes) {
    if (ShapeName(shape) == s) {
      *out = shape;
      return absl::OkStatus();
    }
  }
  return Invalid(path, absl::StrFormat("unknown shape %s", v.dump()));
}

// The member `name` of `object` (already known to be an object), read by
// `read(value, path)`; a missing member is an error.
template <typename Read>
absl::Status Member(const Json& object, const std::string& path, std::string_view name,
                    Read read) {
  const std::string child = Child(path, name);
  auto it = object.find(name);
  if (it == object.end()) return Invalid(child, "missing");
  return read(*it, child);
}

// An optional member: absent (or null) leaves `out` nullopt.
template <typename T, typename Read>
absl::Status OptionalMember(const Json& object, const std::string& path, std::string_view name,
                            Read read, std::optional<T>* out) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    out->reset();
    return absl::OkStatus();
  }
  T value{};
  MIXSWEEP_JSON_TRY(read(*it, Child(path, name), &value));
  *out = std::move(value);
  return absl::OkStatus();
}

absl::Status RequireObject(const Json& v, const std::string& path) {
  if (!v.is_object()) return Mistyped(path, "an object", v);
  return absl::OkStatus();
}

// Each element of the array `v` read by `read(element, path, &element_out)`.
template <typename T, typename Read>
absl::Status ReadArray(const Json& v, const std::string& path, Read read, std::vector<T>* out) {
  if (!v.is_array()) return Mistyped(path, "an array", v);
  out->clear();
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    T element{};
    MIXSWEEP_JSON_TRY(read(v[i], Index(path, i), &element));
    out->push_back(std::move(element));
  }
  return absl::OkStatus();
}

// Binds a reader and an output for Member.
template <typename T, typename Read>
auto Into(Read read, T* out) {
  return [read, out](const Json& v, const std::string& path) { return read(v, path, out); };
}

template <typename T, typename Read>
auto ArrayInto(Read read, std::vector<T>* out) {
  return [read, out](const Json& v, const std::string& path) {
    return ReadArray<T>(v, path, read, out);
  };
}

absl::Status ReadEta(const Json& v, const std::string& path, Eta* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "status", Into(ReadStatus, &out->status)));
  MIXSWEEP_JSON_TRY(Member(v, path, "value", Into(ReadDouble, &out->value)));
  return absl::OkStatus();
}

absl::Status ReadInverseInterval(const Json& v, const std::string& path, InverseInterval* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "lower", Into(ReadDouble, &out->lower)));
  MIXSWEEP_JSON_TRY(Member(v, path, "upper", Into(ReadDouble, &out->upper)));
  return absl::OkStatus();
}

absl::Status ReadInterval(const Json& v, const std::string& path, EtaInterval* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "level", Into(ReadDouble, &out->level)));
  MIXSWEEP_JSON_TRY(Member(v, path, "resamples", Into(ReadInt, &out->resamples)));
  MIXSWEEP_JSON_TRY(
      Member(v, path, "resamples_undefined", Into(ReadInt, &out->resamples_undefined)));
  MIXSWEEP_JSON_TRY(Member(v, path, "rng_seed", Into(ReadUint64, &out->rng_seed)));
  MIXSWEEP_JSON_TRY(Member(v, path, "inverse", Into(ReadInverseInterval, &out->inverse)));
  MIXSWEEP_JSON_TRY(Member(v, path, "shape", Into(ReadShape, &out->shape)));
  MIXSWEEP_JSON_TRY(Member(v, path, "sign_established", Into(ReadBool, &out->sign_established)));
  MIXSWEEP_JSON_TRY(Member(v, path, "eta_lower", Into(ReadDouble, &out->eta_lower)));
  MIXSWEEP_JSON_TRY(Member(v, path, "eta_upper", Into(ReadDouble, &out->eta_upper)));
  MIXSWEEP_JSON_TRY(
      Member(v, path, "split_at_or_below", Into(ReadDouble, &out->split_at_or_below)));
  MIXSWEEP_JSON_TRY(
      Member(v, path, "split_at_or_above", Into(ReadDouble, &out->split_at_or_above)));
  return absl::OkStatus();
}

absl::Status ReadRun(const Json& v, const std::string& path, RunResult* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "seed", Into(ReadInt64, &out->seed)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s", Into(ReadDouble, &out->s)));
  MIXSWEEP_JSON_TRY(Member(v, path, "scores", ArrayInto(ReadDouble, &out->scores)));
  MIXSWEEP_JSON_TRY(Member(v, path, "given", Into(ReadBool, &out->given)));
  return absl::OkStatus();
}

absl::Status ReadCurvePoint(const Json& v, const std::string& path, CurvePoint* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_tele", Into(ReadInt64, &out->n_tele)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_nt", Into(ReadInt64, &out->n_nt)));
  MIXSWEEP_JSON_TRY(Member(v, path, "mean_s", Into(ReadDouble, &out->mean_s)));
  MIXSWEEP_JSON_TRY(Member(v, path, "std_s", Into(ReadDouble, &out->std_s)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_seeds", Into(ReadInt, &out->n_seeds)));
  MIXSWEEP_JSON_TRY(Member(v, path, "seed_s", ArrayInto(ReadDouble, &out->seed_s)));
  MIXSWEEP_JSON_TRY(Member(v, path, "trials", Into(ReadInt, &out->trials)));
  MIXSWEEP_JSON_TRY(Member(v, path, "runs", ArrayInto(ReadRun, &out->runs)));
  return absl::OkStatus();
}

absl::Status ReadLocal(const Json& v, const std::string& path, LocalEta* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_t_star", Into(ReadInt64, &out->n_t_star)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_nt", Into(ReadInt64, &out->n_nt)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s_t", Into(ReadDouble, &out->s_t)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s_mix", Into(ReadDouble, &out->s_mix)));
  MIXSWEEP_JSON_TRY(Member(v, path, "gamma_t", Into(ReadDouble, &out->gamma_t)));
  MIXSWEEP_JSON_TRY(Member(v, path, "gamma_nt", Into(ReadDouble, &out->gamma_nt)));
  MIXSWEEP_JSON_TRY(Member(v, path, "eta", Into(ReadEta, &out->eta)));
  MIXSWEEP_JSON_TRY(OptionalMember(v, path, "inverse", ReadDouble, &out->inverse));
  MIXSWEEP_JSON_TRY(OptionalMember(v, path, "interval", ReadInterval, &out->interval));
  return absl::OkStatus();
}

absl::Status ReadGlobal(const Json& v, const std::string& path, GlobalEta* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_tele", Into(ReadInt64, &out->n_tele)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_nt", Into(ReadInt64, &out->n_nt)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s_mix", Into(ReadDouble, &out->s_mix)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_eq", Into(ReadDouble, &out->n_eq)));
  MIXSWEEP_JSON_TRY(Member(v, path, "eta", Into(ReadEta, &out->eta)));
  MIXSWEEP_JSON_TRY(OptionalMember(v, path, "inverse", ReadDouble, &out->inverse));
  MIXSWEEP_JSON_TRY(OptionalMember(v, path, "interval", ReadInterval, &out->interval));
  return absl::OkStatus();
}

absl::Status ReadFit(const Json& v, const std::string& path, PowerLawFit* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "defined", Into(ReadBool, &out->defined)));
  MIXSWEEP_JSON_TRY(
      Member(v, path, "undefined_reason", Into(ReadStatus, &out->undefined_reason)));
  MIXSWEEP_JSON_TRY(Member(v, path, "alpha", Into(ReadDouble, &out->alpha)));
  MIXSWEEP_JSON_TRY(Member(v, path, "log_alpha", Into(ReadDouble, &out->log_alpha)));
  MIXSWEEP_JSON_TRY(Member(v, path, "beta", Into(ReadDouble, &out->beta)));
  MIXSWEEP_JSON_TRY(Member(v, path, "r_squared", Into(ReadDouble, &out->r_squared)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_used", ArrayInto(ReadInt64, &out->n_used)));
  MIXSWEEP_JSON_TRY(
      Member(v, path, "points_excluded_zero", Into(ReadInt, &out->points_excluded_zero)));
  return absl::OkStatus();
}

absl::Status ReadGain(const Json& v, const std::string& path, MarginalGain* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_from", Into(ReadInt64, &out->n_from)));
  MIXSWEEP_JSON_TRY(Member(v, path, "n_to", Into(ReadInt64, &out->n_to)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s_from", Into(ReadDouble, &out->s_from)));
  MIXSWEEP_JSON_TRY(Member(v, path, "s_to", Into(ReadDouble, &out->s_to)));
  MIXSWEEP_JSON_TRY(Member(v, path, "gain_per_demo", Into(ReadDouble, &out->gain_per_demo)));
  return absl::OkStatus();
}

absl::Status ReadKey(const Json& v, const std::string& path, EstimateKey* out) {
  MIXSWEEP_JSON_TRY(RequireObject(v, path));
  MIXSWEEP_JSON_TRY(Member(v, path, "sweep_id", Into(ReadInt64, &out->sweep_id)));
  MIXSWEEP_JSON_TRY(Member(v, path, "scenario", Into(ReadString, &out->scenario)));
  MIXSWEEP_JSON_TRY(Member(v, path, "source", Into(ReadString, &out->source)));
  return absl::OkStatus();
}

absl::Status ReadEstimate(const Json& v, Estimate* out) {
  const std::string root;
  MIXSWEEP_JSON_TRY(RequireObject(v, root));
  int version = 0;
  MIXSWEEP_JSON_TRY(Member(v, root, "format_version", Into(ReadInt, &version)));
  if (version != kFormatVersion) {
    return Invalid("format_version",
                   absl::StrFormat("%d is not a format this reader knows (%d)", version,
                                   kFormatVersion));
  }
  MIXSWEEP_JSON_TRY(Member(v, root, "key", Into(ReadKey, &out->key)));
  MIXSWEEP_JSON_TRY(Member(v, root, "teleop_curve", ArrayInto(ReadCurvePoint, &out->teleop_curve)));
  MIXSWEEP_JSON_TRY(Member(v, root, "mixed_curve", ArrayInto(ReadCurvePoint, &out->mixed_curve)));
  MIXSWEEP_JSON_TRY(Member(v, root, "n_t_star", Into(ReadInt64, &out->n_t_star)));
  MIXSWEEP_JSON_TRY(Member(v, root, "local", ArrayInto(ReadLocal, &out->local)));
  MIXSWEEP_JSON_TRY(Member(v, root, "fit", Into(ReadFit, &out->fit)));
  MIXSWEEP_JSON_TRY(Member(v, root, "global", ArrayInto(ReadGlobal, &out->global)));
  MIXSWEEP_JSON_TRY(Member(v, root, "trial_count", Into(ReadInt, &out->trial_count)));
  MIXSWEEP_JSON_TRY(Member(v, root, "last_trial_id", Into(ReadInt64, &out->last_trial_id)));
  MIXSWEEP_JSON_TRY(Member(v, root, "from_given_s", Into(ReadBool, &out->from_given_s)));
  MIXSWEEP_JSON_TRY(Member(v, root, "rng_seed", Into(ReadUint64, &out->rng_seed)));
  MIXSWEEP_JSON_TRY(Member(v, root, "model_resamples_undefined",
                           Into(ReadInt, &out->model_resamples_undefined)));
  // Added with seed 001's protocol: absent in estimates stored before.
  if (v.contains("aggregation")) {
    MIXSWEEP_JSON_TRY(Member(v, root, "aggregation", Into(ReadString, &out->aggregation)));
  }
  if (v.contains("simulated")) {
    MIXSWEEP_JSON_TRY(Member(v, root, "simulated", Into(ReadBool, &out->simulated)));
  }
  if (v.contains("scaling")) {
    MIXSWEEP_JSON_TRY(Member(v, root, "scaling", Into(ReadBool, &out->scaling)));
    MIXSWEEP_JSON_TRY(Member(v, root, "source_fit", Into(ReadFit, &out->source_fit)));
    MIXSWEEP_JSON_TRY(
        Member(v, root, "marginal_gains", ArrayInto(ReadGain, &out->marginal_gains)));
  }
  return absl::OkStatus();
}

#undef MIXSWEEP_JSON_TRY

}  // namespace

std::string EstimateToJson(const Estimate& estimate) {
  OrderedJson teleop = OrderedJson::array();
  for (const CurvePoint& p : estimate.teleop_curve) teleop.push_back(CurvePointToJson(p));
  OrderedJson mixed = OrderedJson::array();
  for (const CurvePoint& p : estimate.mixed_curve) mixed.push_back(CurvePointToJson(p));
  OrderedJson local = OrderedJson::array();
  for (const LocalEta& l : estimate.local) local.push_back(LocalToJson(l));
  OrderedJson global = OrderedJson::array();
  for (const GlobalEta& g : estimate.global) global.push_back(GlobalToJson(g));

  OrderedJson doc = {
      {"format_version", kFormatVersion},
      {"key",
       {{"sweep_id", estimate.key.sweep_id},
        {"scenario", estimate.key.scenario},
        {"source", estimate.key.source}}},
      {"teleop_curve", std::move(teleop)},
      {"mixed_curve", std::move(mixed)},
      {"n_t_star", estimate.n_t_star},
      {"local", std::move(local)},
      {"fit", FitToJson(estimate.fit)},
      {"global", std::move(global)},
      {"trial_count", estimate.trial_count},
      {"last_trial_id", estimate.last_trial_id},
      {"from_given_s", estimate.from_given_s},
      {"rng_seed", std::to_string(estimate.rng_seed)},
      {"model_resamples_undefined", estimate.model_resamples_undefined},
      {"aggregation", estimate.aggregation},
      {"simulated", estimate.simulated},
  };
  if (estimate.scaling) {
    OrderedJson gains = OrderedJson::array();
    for (const MarginalGain& g : estimate.marginal_gains) {
      gains.push_back({{"n_from", g.n_from},
                       {"n_to", g.n_to},
                       {"s_from", DoubleToJson(g.s_from)},
                       {"s_to", DoubleToJson(g.s_to)},
                       {"gain_per_demo", DoubleToJson(g.gain_per_demo)}});
    }
    doc["scaling"] = true;
    doc["source_fit"] = FitToJson(estimate.source_fit);
    doc["marginal_gains"] = std::move(gains);
  }
  // Invalid UTF-8 in a scenario or source name (the spec parser refuses it)
  // is replaced rather than thrown on: jsonb would refuse the document.
  return doc.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

absl::StatusOr<Estimate> EstimateFromJson(std::string_view json) {
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrFormat("not valid JSON: %s", e.what()));
  }
  Estimate estimate;
  if (absl::Status s = ReadEstimate(doc, &estimate); !s.ok()) return s;
  return estimate;
}

}  // namespace mixsweep::utilization
