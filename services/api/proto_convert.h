// Domain values (scheduler/) -> mixsweep.v1 protos. Pure functions.
#pragma once

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "mixsweep/v1/sweep.pb.h"
#include "scheduler/records.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::api {

void ToProto(absl::Time time, google::protobuf::Timestamp* out);

mixsweep::v1::SweepState ToProto(scheduler::SweepState state);
mixsweep::v1::JobState ToProto(scheduler::JobState state);
mixsweep::v1::RunState ToProto(scheduler::RunState state);
mixsweep::v1::JobKind ToProto(plan::JobKind kind);
scheduler::SweepState FromProto(mixsweep::v1::SweepState state);

// The stored record plus the summary of its spec.
void ToProto(const spec::Rubric& rubric, mixsweep::v1::Rubric* out);
mixsweep::v1::SourceKind ToProto(spec::SourceKind kind);
void ToProto(const scheduler::SweepRecord& record, const spec::SweepSpec& spec,
             mixsweep::v1::Sweep* out);
void ToProto(const scheduler::RunRecord& run, mixsweep::v1::Run* out);
void ToProto(const scheduler::JobRecord& job, mixsweep::v1::Job* out);

}  // namespace mixsweep::api
