// The stored form of an Estimate: an exact round trip of a computed
// estimate (every member, bit for bit), non-finite values, the document as
// PostgreSQL's jsonb prints it back, and errors that name the JSON path.
#include <bit>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/utilization/estimate.h"
#include "scheduler/utilization/estimate_json.h"
#include "scheduler/utilization/eta.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::utilization {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Json = nlohmann::json;

// ---------------------------------------------------------------- equality
// Doubles compare by bits: -0.0 differs from 0.0 and NaN equals itself.

#define EXPECT_SAME_DOUBLE(a, b) \
  EXPECT_EQ(std::bit_cast<uint64_t>(double{a}), std::bit_cast<uint64_t>(double{b})) \
      << #a << " = " << (a) << " vs " << (b)

void ExpectSameDoubles(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_SAME_DOUBLE(a[i], b[i]);
}

void ExpectSameInterval(const std::optional<EtaInterval>& a,
                        const std::optional<EtaInterval>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) return;
  EXPECT_SAME_DOUBLE(a->level, b->level);
  EXPECT_EQ(a->resamples, b->resamples);
  EXPECT_EQ(a->resamples_undefined, b->resamples_undefined);
  EXPECT_EQ(a->rng_seed, b->rng_seed);
  EXPECT_SAME_DOUBLE(a->inverse.lower, b->inverse.lower);
  EXPECT_SAME_DOUBLE(a->inverse.upper, b->inverse.upper);
  EXPECT_EQ(a->shape, b->shape);
  EXPECT_EQ(a->sign_established, b->sign_established);
  EXPECT_SAME_DOUBLE(a->eta_lower, b->eta_lower);
  EXPECT_SAME_DOUBLE(a->eta_upper, b->eta_upper);
  EXPECT_SAME_DOUBLE(a->split_at_or_below, b->split_at_or_below);
  EXPECT_SAME_DOUBLE(a->split_at_or_above, b->split_at_or_above);
}

void ExpectSameOptional(const std::optional<double>& a, const std::optional<double>& b) {
  ASSERT_EQ(a.has_value(), b.has_value());
  if (a) {
    EXPECT_SAME_DOUBLE(*a, *b);
  }
}

void ExpectSameCurve(const std::vector<CurvePoint>& a, const std::vector<CurvePoint>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE("curve point " + std::to_string(i));
    EXPECT_EQ(a[i].n_tele, b[i].n_tele);
    EXPECT_EQ(a[i].n_nt, b[i].n_nt);
    EXPECT_SAME_DOUBLE(a[i].mean_s, b[i].mean_s);
    EXPECT_SAME_DOUBLE(a[i].std_s, b[i].std_s);
    EXPECT_EQ(a[i].n_seeds, b[i].n_seeds);
    ExpectSameDoubles(a[i].seed_s, b[i].seed_s);
    EXPECT_EQ(a[i].trials, b[i].trials);
    ASSERT_EQ(a[i].runs.size(), b[i].runs.size());
    for (size_t r = 0; r < a[i].runs.size(); ++r) {
      EXPECT_EQ(a[i].runs[r].seed, b[i].runs[r].seed);
      EXPECT_SAME_DOUBLE(a[i].runs[r].s, b[i].runs[r].s);
      ExpectSameDoubles(a[i].runs[r].scores, b[i].runs[r].scores);
      EXPECT_EQ(a[i].runs[r].given, b[i].runs[r].given);
    }
  }
}

// Every member the document stores (all but model_resamples).
void ExpectSameEstimate(const Estimate& a, const Estimate& b) {
  EXPECT_EQ(a.key.sweep_id, b.key.sweep_id);
  EXPECT_EQ(a.key.scenario, b.key.scenario);
  EXPECT_EQ(a.key.source, b.key.source);
  ExpectSameCurve(a.teleop_curve, b.teleop_curve);
  ExpectSameCurve(a.mixed_curve, b.mixed_curve);
  EXPECT_EQ(a.n_t_star, b.n_t_star);
  ASSERT_EQ(a.local.size(), b.local.size());
  for (size_t i = 0; i < a.local.size(); ++i) {
    SCOPED_TRACE("local " + std::to_string(i));
    EXPECT_EQ(a.local[i].n_t_star, b.local[i].n_t_star);
    EXPECT_EQ(a.local[i].n_nt, b.local[i].n_nt);
    EXPECT_SAME_DOUBLE(a.local[i].s_t, b.local[i].s_t);
    EXPECT_SAME_DOUBLE(a.local[i].s_mix, b.local[i].s_mix);
    EXPECT_SAME_DOUBLE(a.local[i].gamma_t, b.local[i].gamma_t);
    EXPECT_SAME_DOUBLE(a.local[i].gamma_nt, b.local[i].gamma_nt);
    EXPECT_EQ(a.local[i].eta.status, b.local[i].eta.status);
    EXPECT_SAME_DOUBLE(a.local[i].eta.value, b.local[i].eta.value);
    ExpectSameOptional(a.local[i].inverse, b.local[i].inverse);
    ExpectSameInterval(a.local[i].interval, b.local[i].interval);
  }
  EXPECT_EQ(a.fit.defined, b.fit.defined);
  EXPECT_EQ(a.fit.undefined_reason, b.fit.undefined_reason);
  EXPECT_SAME_DOUBLE(a.fit.alpha, b.fit.alpha);
  EXPECT_SAME_DOUBLE(a.fit.log_alpha, b.fit.log_alpha);
  EXPECT_SAME_DOUBLE(a.fit.beta, b.fit.beta);
  EXPECT_SAME_DOUBLE(a.fit.r_squared, b.fit.r_squared);
  EXPECT_EQ(a.fit.n_used, b.fit.n_used);
  EXPECT_EQ(a.fit.points_excluded_zero, b.fit.points_excluded_zero);
  ASSERT_EQ(a.global.size(), b.global.size());
  for (size_t i = 0; i < a.global.size(); ++i) {
    SCOPED_TRACE("global " + std::to_string(i));
    EXPECT_EQ(a.global[i].n_tele, b.global[i].n_tele);
    EXPECT_EQ(a.global[i].n_nt, b.global[i].n_nt);
    EXPECT_SAME_DOUBLE(a.global[i].s_mix, b.global[i].s_mix);
    EXPECT_SAME_DOUBLE(a.global[i].n_eq, b.global[i].n_eq);
    EXPECT_EQ(a.global[i].eta.status, b.global[i].eta.status);
    EXPECT_SAME_DOUBLE(a.global[i].eta.value, b.global[i].eta.value);
    ExpectSameOptional(a.global[i].inverse, b.global[i].inverse);
    ExpectSameInterval(a.global[i].interval, b.global[i].interval);
  }
  EXPECT_EQ(a.trial_count, b.trial_count);
  EXPECT_EQ(a.last_trial_id, b.last_trial_id);
  EXPECT_EQ(a.from_given_s, b.from_given_s);
  EXPECT_EQ(a.rng_seed, b.rng_seed);
  EXPECT_EQ(a.model_resamples_undefined, b.model_resamples_undefined);
}

// ---------------------------------------------------------------- fixtures

// Measured teleop points (thirds and halves, so means are not short
// decimals), a given-S point, a mixed point with trials and a mixed n_nt
// that has no point at N_t* (a NO_DATA local eta without interval).
Measurements MixedMeasurements() {
  Measurements m;
  int64_t trial_id = 0;
  auto add = [&](int64_t n_tele, int64_t n_nt, int seeds, std::vector<double> scores) {
    for (int seed = 0; seed < seeds; ++seed) {
      for (size_t t = 0; t < scores.size(); ++t) {
        m.trials.push_back({.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = seed},
                            .trial_id = ++trial_id,
                            .score = scores[(t + seed) % scores.size()]});
      }
    }
  };
  add(50, 0, 3, {0, 1.0 / 3, 0, 0.5, 0, 0, 1.0 / 3, 0, 0, 0.5});
  add(100, 0, 3, {0, 1.0 / 3, 0.5, 0.5, 0, 2.0 / 3, 1.0 / 3, 0, 0, 0.5});
  add(200, 0, 3, {1, 1.0 / 3, 0.5, 0.5, 0, 2.0 / 3, 1.0 / 3, 0.5, 0, 0.5});
  add(200, 1000, 3, {1, 2.0 / 3, 0.5, 1, 0, 2.0 / 3, 1.0 / 3, 0.5, 1, 0.5});
  m.given.push_back({.run = {.n_tele = 100, .n_nt = 500, .seed = 0}, .s = 0.17});
  m.given.push_back({.run = {.n_tele = 100, .n_nt = 500, .seed = 1}, .s = 0.23});
  return m;
}

Estimate ComputedEstimate() {
  absl::StatusOr<Estimate> e = ComputeEstimate(
      {.sweep_id = 7, .scenario = "unseen_background", .source = "sim"}, MixedMeasurements(),
      {.resamples = 200});
  EXPECT_TRUE(e.ok()) << e.status();
  return *e;
}

// A document's member at a JSON pointer, for editing in tests.
std::string Edited(const std::string& doc, const std::string& pointer, const Json& value) {
  Json j = Json::parse(doc);
  j[Json::json_pointer(pointer)] = value;
  return j.dump();
}

std::string Erased(const std::string& doc, const std::string& pointer) {
  Json j = Json::parse(doc);
  Json::json_pointer p(pointer);
  j[p.parent_pointer()].erase(p.back());
  return j.dump();
}

std::string ErrorOf(const absl::StatusOr<Estimate>& e) {
  if (e.ok()) return "";
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(e.status().message());
}

// ---------------------------------------------------------------- tests

TEST(EstimateJson, ComputedEstimateRoundTripsExactly) {
  const Estimate original = ComputedEstimate();
  // The fixture covers what a round trip could lose: intervals, an eta
  // without interval or inverse, given S, a non-trivial seed.
  ASSERT_EQ(original.local.size(), 2u);
  EXPECT_EQ(original.local[0].eta.status, EtaStatus::kNoData);  // n_nt 500 at N_t* 200
  EXPECT_FALSE(original.local[0].interval.has_value());
  EXPECT_FALSE(original.local[0].inverse.has_value());
  ASSERT_TRUE(original.local[1].interval.has_value());
  EXPECT_EQ(original.local[1].interval->resamples, 200);
  ASSERT_EQ(original.global.size(), 2u);
  EXPECT_TRUE(original.global[1].interval.has_value());
  EXPECT_TRUE(original.from_given_s);
  EXPECT_GT(original.rng_seed, uint64_t{1} << 53);  // would not survive as a JSON number

  const std::string doc = EstimateToJson(original);
  absl::StatusOr<Estimate> back = EstimateFromJson(doc);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameEstimate(original, *back);
  EXPECT_EQ(EstimateToJson(*back), doc);
}

TEST(EstimateJson, DocumentIsReadable) {
  const Estimate original = ComputedEstimate();
  const Json doc = Json::parse(EstimateToJson(original));
  EXPECT_EQ(doc["format_version"], 1);
  EXPECT_EQ(doc["key"]["scenario"], "unseen_background");
  EXPECT_EQ(doc["rng_seed"], std::to_string(original.rng_seed));  // a string
  EXPECT_EQ(doc["local"][0]["eta"]["status"], "STATUS_NO_DATA");
  EXPECT_FALSE(doc["local"][0].contains("interval"));  // nullopt: absent
  EXPECT_FALSE(doc["local"][0].contains("inverse"));
  EXPECT_EQ(doc["local"][1]["eta"]["status"], "STATUS_DEFINED");
  EXPECT_TRUE(doc["local"][1]["interval"]["shape"].is_string());
  EXPECT_THAT(doc["local"][1]["interval"]["shape"].get<std::string>(), StartsWith("k"));
  EXPECT_FALSE(doc.contains("model_resamples"));
  // Runs carry their trial scores, so a reader can recompute the bootstrap.
  EXPECT_EQ(doc["teleop_curve"][0]["runs"][0]["scores"].size(), 10u);
}

TEST(EstimateJson, ModelResamplesAreNotStored) {
  absl::StatusOr<Estimate> e = ComputeEstimate(
      {.sweep_id = 7, .scenario = "unseen_background", .source = "sim"}, MixedMeasurements(),
      {.resamples = 50, .keep_model_resamples = true});
  ASSERT_TRUE(e.ok()) << e.status();
  absl::StatusOr<Estimate> back = EstimateFromJson(EstimateToJson(*e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->model_resamples.empty());
  EXPECT_EQ(back->model_resamples_undefined, e->model_resamples_undefined);
}

// An estimate with every kind of value a codec could lose.
Estimate EdgeEstimate() {
  Estimate e;
  e.key = {.sweep_id = -1, .scenario = "sc\xC3\xA9n\"e\\\n", .source = ""};
  e.teleop_curve.push_back({.n_tele = 1,
                            .mean_s = std::numeric_limits<double>::infinity(),
                            .std_s = std::numeric_limits<double>::quiet_NaN(),
                            .seed_s = {-0.0, 5e-324, 0.1, 1e-5},
                            .runs = {{.seed = -3, .s = 0.1, .scores = {}, .given = true}}});
  EtaInterval in = MapInverseInterval({.lower = -0.0, .upper = 1e-300});
  in.level = 0.95;
  in.resamples = std::numeric_limits<int>::max();
  in.resamples_undefined = 1;
  in.rng_seed = std::numeric_limits<uint64_t>::max();
  in.eta_lower = -std::numeric_limits<double>::infinity();
  in.eta_upper = std::numeric_limits<double>::max();
  e.local.push_back({.n_t_star = std::numeric_limits<int64_t>::max(),
                     .n_nt = std::numeric_limits<int64_t>::min(),
                     .gamma_nt = -1.7976931348623157e308,
                     .eta = {.status = EtaStatus::kNEqOutOfRange, .value = 0},
                     .inverse = 0.0,
                     .interval = in});
  e.fit = {.defined = false, .undefined_reason = EtaStatus::kTooFewPoints, .r_squared = 1.0};
  e.global.push_back({.n_tele = 2, .n_nt = 3, .n_eq = 1e300, .inverse = -0.0});
  e.rng_seed = std::numeric_limits<uint64_t>::max();
  e.last_trial_id = std::numeric_limits<int64_t>::max();
  return e;
}

TEST(EstimateJson, NonFiniteNegativeZeroAndExtremesRoundTrip) {
  const Estimate original = EdgeEstimate();
  const std::string doc = EstimateToJson(original);
  const Json j = Json::parse(doc);
  EXPECT_EQ(j["teleop_curve"][0]["mean_s"], "inf");
  EXPECT_EQ(j["teleop_curve"][0]["std_s"], "nan");
  EXPECT_EQ(j["teleop_curve"][0]["seed_s"][0], "-0");
  EXPECT_EQ(j["local"][0]["interval"]["eta_lower"], "-inf");
  EXPECT_EQ(j["local"][0]["interval"]["rng_seed"], "18446744073709551615");
  absl::StatusOr<Estimate> back = EstimateFromJson(doc);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameEstimate(original, *back);
}

// ------------------------------------------------- documents re-printed
// PostgreSQL's jsonb stores numbers as `numeric` and prints them in plain
// decimal (1e-05 as 0.00001, 1e+300 as 1 and 300 zeros); another re-encoder
// may print integer-valued doubles as integers and integers with ".0".

// The plain decimal form of a number nlohmann printed as "<digits>e<exp>".
std::string PlainDecimal(const std::string& shortest) {
  const size_t e = shortest.find_first_of("eE");
  if (e == std::string::npos) return shortest;
  std::string mantissa = shortest.substr(0, e);
  int exponent = std::stoi(shortest.substr(e + 1));
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  const size_t dot = mantissa.find('.');
  std::string digits = mantissa;
  int point = static_cast<int>(mantissa.size());  // digits before the point
  if (dot != std::string::npos) {
    digits = mantissa.substr(0, dot) + mantissa.substr(dot + 1);
    point = static_cast<int>(dot);
  }
  point += exponent;
  if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
  if (point >= static_cast<int>(digits.size())) {
    return sign + digits + std::string(point - digits.size(), '0');
  }
  return sign + digits.substr(0, point) + "." + digits.substr(point);
}

enum class Reprinting {
  kJsonb,               // plain decimals; 1.0 stays 1.0, 200 stays 200
  kDoublesAsIntegers,   // and 1.0 becomes 1
  kIntegersAsDecimals,  // and 200 becomes 200.0 (exact up to 2^53 only)
};

// Prints `j` as the re-encoders above would.
std::string Reprint(const Json& j, Reprinting how) {
  switch (j.type()) {
    case Json::value_t::object: {
      std::string out = "{";
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (out.size() > 1) out += ", ";
        out += Json(it.key()).dump() + ": " + Reprint(it.value(), how);
      }
      return out + "}";
    }
    case Json::value_t::array: {
      std::string out = "[";
      for (const Json& element : j) {
        if (out.size() > 1) out += ", ";
        out += Reprint(element, how);
      }
      return out + "]";
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return j.dump() + (how == Reprinting::kIntegersAsDecimals ? ".0" : "");
    case Json::value_t::number_float: {
      std::string plain = PlainDecimal(j.dump());
      if (how == Reprinting::kDoublesAsIntegers && plain.ends_with(".0")) {
        plain.resize(plain.size() - 2);
      }
      return plain;
    }
    default:
      return j.dump();
  }
}

TEST(EstimateJson, PlainDecimalHelper) {
  EXPECT_EQ(PlainDecimal("1e-05"), "0.00001");
  EXPECT_EQ(PlainDecimal("-1.25e-03"), "-0.00125");
  EXPECT_EQ(PlainDecimal("1.5e+20"), "150000000000000000000");
  EXPECT_EQ(PlainDecimal("1.2345e2"), "123.45");
  EXPECT_EQ(PlainDecimal("0.5"), "0.5");
}

TEST(EstimateJson, ReprintedDocumentsReadBackExactly) {
  const Estimate computed = ComputedEstimate();
  const Estimate edge = EdgeEstimate();
  struct Case {
    const Estimate* estimate;
    Reprinting how;
  };
  // The edge estimate's int64 extremes cannot survive "9223372036854775807.0"
  // (a double): that re-printing is exact for integers up to 2^53 only.
  for (const Case& c : {Case{&computed, Reprinting::kJsonb}, Case{&edge, Reprinting::kJsonb},
                        Case{&computed, Reprinting::kDoublesAsIntegers},
                        Case{&edge, Reprinting::kDoublesAsIntegers},
                        Case{&computed, Reprinting::kIntegersAsDecimals}}) {
    SCOPED_TRACE(testing::Message() << "re-printing " << static_cast<int>(c.how)
                                    << (c.estimate == &edge ? " of the edge estimate" : ""));
    const std::string reprinted = Reprint(Json::parse(EstimateToJson(*c.estimate)), c.how);
    absl::StatusOr<Estimate> back = EstimateFromJson(reprinted);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameEstimate(*c.estimate, *back);
  }
  // The re-printing really changes the text (the test's premise).
  const std::string doc = EstimateToJson(edge);
  EXPECT_THAT(doc, HasSubstr("1e-05"));
  EXPECT_THAT(doc, HasSubstr("\"r_squared\":1.0"));
  EXPECT_THAT(Reprint(Json::parse(doc), Reprinting::kJsonb), HasSubstr("0.00001"));
  EXPECT_THAT(Reprint(Json::parse(doc), Reprinting::kJsonb), Not(HasSubstr("e-05")));
  EXPECT_THAT(Reprint(Json::parse(doc), Reprinting::kDoublesAsIntegers),
              HasSubstr("\"r_squared\": 1,"));
  EXPECT_THAT(Reprint(Json::parse(EstimateToJson(computed)), Reprinting::kIntegersAsDecimals),
              HasSubstr("\"n_tele\": 50.0"));
}

TEST(EstimateJson, IntegerFieldsTakeIntegralNumbersOnly) {
  const std::string doc = EstimateToJson(ComputedEstimate());
  absl::StatusOr<Estimate> e = EstimateFromJson(Edited(doc, "/n_t_star", 2e2));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->n_t_star, 200);
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/teleop_curve/1/n_seeds", 2.5))),
            "teleop_curve[1].n_seeds: expected an integer, got 2.5");
  EXPECT_THAT(ErrorOf(EstimateFromJson(Edited(doc, "/trial_count", 1e10))),
              StartsWith("trial_count: 10000000000 is outside"));
  EXPECT_THAT(ErrorOf(EstimateFromJson(Edited(doc, "/last_trial_id", 1e19))),
              StartsWith("last_trial_id: "));
  // A seed may also arrive as a JSON integer; a negative one is refused.
  e = EstimateFromJson(Edited(doc, "/rng_seed", 12345));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->rng_seed, 12345u);
  EXPECT_THAT(ErrorOf(EstimateFromJson(Edited(doc, "/rng_seed", -1))), StartsWith("rng_seed: "));
}

TEST(EstimateJson, MissingMemberNamesItsPath) {
  const std::string doc = EstimateToJson(ComputedEstimate());
  EXPECT_EQ(ErrorOf(EstimateFromJson(Erased(doc, "/local/1/interval/inverse/lower"))),
            "local[1].interval.inverse.lower: missing");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Erased(doc, "/teleop_curve/2/runs/1/given"))),
            "teleop_curve[2].runs[1].given: missing");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Erased(doc, "/fit"))), "fit: missing");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Erased(doc, "/key/scenario"))), "key.scenario: missing");
  // An optional member absent is nullopt, not an error.
  absl::StatusOr<Estimate> e = EstimateFromJson(Erased(doc, "/global/1/interval"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->global[1].interval.has_value());
}

TEST(EstimateJson, MistypedMemberNamesItsPath) {
  const std::string doc = EstimateToJson(ComputedEstimate());
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/teleop_curve/0/n_seeds", "3"))),
            "teleop_curve[0].n_seeds: expected an integer, got the string \"3\"");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/global/0/s_mix", Json::array()))),
            "global[0].s_mix: expected a number, got an array");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/global/0/s_mix", "infinity"))),
            "global[0].s_mix: expected a number or \"inf\", \"-inf\", \"nan\", \"-0\", got the "
            "string \"infinity\"");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/from_given_s", 1))),
            "from_given_s: expected true or false, got the number 1");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/local/1/eta/status", "STATUS_MAYBE"))),
            "local[1].eta.status: unknown status \"STATUS_MAYBE\"");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/local/1/interval/shape", "kRound"))),
            "local[1].interval.shape: unknown shape \"kRound\"");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/rng_seed", "12a"))),
            "rng_seed: expected a decimal string, got \"12a\"");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/rng_seed", "18446744073709551616"))),
            "rng_seed: 18446744073709551616 is above 2^64 - 1");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/mixed_curve", Json::object()))),
            "mixed_curve: expected an array, got an object");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/fit/n_used/1", nullptr))),
            "fit.n_used[1]: expected an integer, got null");
  EXPECT_EQ(ErrorOf(EstimateFromJson(Edited(doc, "/local/0", 5))),
            "local[0]: expected an object, got the number 5");
}

TEST(EstimateJson, NotAnEstimateDocument) {
  EXPECT_THAT(ErrorOf(EstimateFromJson("{\"key\": ")), StartsWith("not valid JSON: "));
  EXPECT_THAT(ErrorOf(EstimateFromJson("")), StartsWith("not valid JSON: "));
  EXPECT_EQ(ErrorOf(EstimateFromJson("[1, 2]")),
            "(document): expected an object, got an array");
  EXPECT_EQ(ErrorOf(EstimateFromJson("{}")), "format_version: missing");
  const std::string doc = EstimateToJson(ComputedEstimate());
  EXPECT_THAT(ErrorOf(EstimateFromJson(Edited(doc, "/format_version", 2))),
              StartsWith("format_version: 2 is not a format this reader knows"));
}

TEST(EstimateJson, UnknownMembersAreIgnored) {
  // A later writer may add members; this reader must still read the rest.
  const Estimate original = ComputedEstimate();
  std::string doc = Edited(EstimateToJson(original), "/computed_by", "mixsweepd 2.0");
  doc = Edited(doc, "/local/1/interval/note", Json::array({1, 2}));
  absl::StatusOr<Estimate> back = EstimateFromJson(doc);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameEstimate(original, *back);
}

TEST(EstimateJson, NullOptionalMemberIsAbsent) {
  const std::string doc = EstimateToJson(ComputedEstimate());
  absl::StatusOr<Estimate> back = EstimateFromJson(Edited(doc, "/local/1/inverse", nullptr));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->local[1].inverse.has_value());
}

}  // namespace
}  // namespace mixsweep::utilization
