// Conversions between mixsweep.v1 evaluation and utilization messages and the
// plain values of scheduler/evaluation and scheduler/utilization.
//
// The estimate conversion is also what a client uses to compare the served
// estimates with its own computation from the trials (the e2e test does), so
// it is a pure function of the engine's values.
#pragma once

#include "absl/status/statusor.h"
#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/utilization.pb.h"
#include "scheduler/evaluation/evaluation_service.h"
#include "scheduler/evaluation/utilization_service.h"

namespace mixsweep::api {

void ToProto(const evaluation::RobotRecord& robot, mixsweep::v1::Robot* out);
void ToProto(const evaluation::TrialRecord& trial, mixsweep::v1::Trial* out);
void ToProto(const evaluation::OperatorBatch& batch, mixsweep::v1::EvaluationBatch* out);
void ToProto(const evaluation::ResultRecord& result, mixsweep::v1::ScenarioResult* out);
void ToProto(const evaluation::BatchCandidate& candidate, mixsweep::v1::PlannedBatch* out);

// INVALID_ARGUMENT for a duration that is negative or not whole
// milliseconds' worth of a valid Duration; `field` prefixes the message.
absl::StatusOr<evaluation::TrialValues> FromProto(const mixsweep::v1::TrialInput& input,
                                                  const std::string& field);

mixsweep::v1::Eta::Status ToProto(utilization::EtaStatus status);
void ToProto(const utilization::EtaInterval& interval, mixsweep::v1::EtaInterval* out);
// The engine's estimate (no storage metadata).
void ToProto(const utilization::PowerLawFit& fit, mixsweep::v1::PowerLawFit* out);
void ToProto(const utilization::Estimate& estimate, mixsweep::v1::Estimate* out);
// With what storage adds: task, version, time, digest, parameters.
void ToProto(const evaluation::StoredEstimate& stored, mixsweep::v1::Estimate* out);
void ToProto(const evaluation::RecommendAnswer& answer, mixsweep::v1::Recommendation* out);

}  // namespace mixsweep::api
