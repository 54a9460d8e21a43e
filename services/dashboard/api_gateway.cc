#include "services/dashboard/api_gateway.h"

#include <chrono>
#include <memory>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "mixsweep/v1/auth.grpc.pb.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"

namespace mixsweep::dashboard {
namespace v1 = mixsweep::v1;
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

google::protobuf::util::JsonPrintOptions PrintOptions() {
  google::protobuf::util::JsonPrintOptions options;
  // Zeros and empty lists are written, so the page never has to guess a
  // default (an S of 0 is a result, not a missing field).
  options.always_print_primitive_fields = true;
  return options;
}

// Protobuf's JSON printer builds its whole output through an intermediate
// stream whose memory grows far beyond the message (a 10,000-run sweep with
// its jobs, 9 MB of JSON, cost mixsweepd some 400 MiB at once). So the
// top-level repeated message fields (runs, jobs, sweeps, estimates) are
// printed one element at a time and spliced into the rest, which is small.
absl::Status WriteJson(const google::protobuf::Message& message, std::string* out) {
  using google::protobuf::FieldDescriptor;
  const auto* descriptor = message.GetDescriptor();
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> lists;
  std::unique_ptr<google::protobuf::Message> rest(message.New());
  rest->CopyFrom(message);
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated() && !field->is_map() &&
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      lists.push_back(field);
      rest->GetReflection()->ClearField(rest.get(), field);
    }
  }
  std::string head;
  auto status = google::protobuf::util::MessageToJsonString(*rest, &head, PrintOptions());
  if (!status.ok()) return absl::InternalError(absl::StrCat("writing JSON: ", status.ToString()));
  if (lists.empty()) {
    *out = std::move(head);
    return absl::OkStatus();
  }
  // head is {"a":...,"runs":[],...}: drop the (empty) lists, then append them.
  nlohmann::ordered_json object = nlohmann::ordered_json::parse(head);
  for (const FieldDescriptor* field : lists) object.erase(field->json_name());
  *out = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out->pop_back();  // '}'
  bool first_member = object.empty();
  std::string element;
  for (const FieldDescriptor* field : lists) {
    absl::StrAppend(out, first_member ? "" : ",", "\"", field->json_name(), "\":[");
    first_member = false;
    const int n = reflection->FieldSize(message, field);
    for (int i = 0; i < n; ++i) {
      element.clear();
      status = google::protobuf::util::MessageToJsonString(
          reflection->GetRepeatedMessage(message, field, i), &element, PrintOptions());
      if (!status.ok()) {
        return absl::InternalError(absl::StrCat("writing JSON: ", status.ToString()));
      }
      absl::StrAppend(out, i == 0 ? "" : ",", element);
    }
    out->push_back(']');
  }
  out->push_back('}');
  return absl::OkStatus();
}

HttpAnswer JsonAnswer(const google::protobuf::Message& message) {
  HttpAnswer answer;
  if (auto s = WriteJson(message, &answer.body); !s.ok()) return ErrorAnswer(s);
  return answer;
}

// Calls one unary method of `Stub` and answers with its response as JSON.
template <typename Request, typename Response, typename Call>
HttpAnswer Unary(const Call& call, const Request& request, grpc::ClientContext& context) {
  Response response;
  grpc::Status status = call(&context, request, &response);
  if (!status.ok()) return ErrorAnswer(FromGrpc(status));
  return JsonAnswer(response);
}

}  // namespace

HttpAnswer ErrorAnswer(const absl::Status& status) {
  return {.status = HttpStatusOf(status.code()), .body = ErrorBody(status)};
}

ApiGateway::ApiGateway(std::shared_ptr<grpc::Channel> channel, Gate gate,
                       absl::Duration call_timeout)
    : channel_(std::move(channel)), gate_(std::move(gate)), call_timeout_(call_timeout) {}

HttpAnswer ApiGateway::Answer(const Route& route, std::string_view authorization) const {
  if (route.kind == RouteKind::kSession) {
    return {.body = open() ? R"({"open":true})" : R"({"open":false})"};
  }
  const std::string_view method = MethodOf(route.kind);
  if (method.empty()) return ErrorAnswer(absl::NotFoundError("not an API route"));
  if (gate_) {
    if (auto s = gate_(method, authorization); !s.ok()) return ErrorAnswer(s);
  }

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(call_timeout_));
  // Forwarded so that handlers see who asks; in open mode there is none.
  if (gate_ && !authorization.empty()) {
    context.AddMetadata("authorization", std::string(authorization));
  }

  switch (route.kind) {
    case RouteKind::kWhoAmI: {
      auto stub = v1::AuthService::NewStub(channel_);
      return Unary<v1::WhoAmIRequest, v1::WhoAmIResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->WhoAmI(c, q, r); },
          v1::WhoAmIRequest(), context);
    }
    case RouteKind::kListSweeps: {
      auto stub = v1::SweepService::NewStub(channel_);
      return Unary<v1::ListSweepsRequest, v1::ListSweepsResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->ListSweeps(c, q, r); },
          v1::ListSweepsRequest(), context);
    }
    case RouteKind::kGetSweep: {
      auto stub = v1::SweepService::NewStub(channel_);
      v1::GetSweepRequest request;
      request.set_sweep_id(route.sweep_id);
      request.set_include_runs(true);
      request.set_include_jobs(true);
      return Unary<v1::GetSweepRequest, v1::GetSweepResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->GetSweep(c, q, r); }, request,
          context);
    }
    case RouteKind::kResults: {
      auto stub = v1::EvaluationService::NewStub(channel_);
      v1::ListResultsRequest request;
      request.set_sweep_id(route.sweep_id);
      return Unary<v1::ListResultsRequest, v1::ListResultsResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->ListResults(c, q, r); }, request,
          context);
    }
    case RouteKind::kEstimates: {
      auto stub = v1::UtilizationService::NewStub(channel_);
      v1::GetEstimatesRequest request;
      request.set_sweep_id(route.sweep_id);
      return Unary<v1::GetEstimatesRequest, v1::GetEstimatesResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->GetEstimates(c, q, r); }, request,
          context);
    }
    case RouteKind::kRecommendation: {
      auto stub = v1::UtilizationService::NewStub(channel_);
      v1::RecommendMixRequest request;
      request.set_sweep_id(route.sweep_id);
      request.set_scenario(route.scenario);
      request.set_source(route.source);
      request.set_budget_hours(route.budget_hours);
      request.set_cost_tele_hours(route.cost_tele_hours);
      request.set_cost_nt_hours(route.cost_nt_hours);
      request.set_teleop_core(route.teleop_core);
      return Unary<v1::RecommendMixRequest, v1::Recommendation>(
          [&](auto* c, const auto& q, auto* r) { return stub->RecommendMix(c, q, r); }, request,
          context);
    }
    case RouteKind::kWorkers: {
      auto stub = v1::WorkerService::NewStub(channel_);
      return Unary<v1::ListWorkersRequest, v1::ListWorkersResponse>(
          [&](auto* c, const auto& q, auto* r) { return stub->ListWorkers(c, q, r); },
          v1::ListWorkersRequest(), context);
    }
    case RouteKind::kAsset:
    case RouteKind::kSession:
      break;
  }
  return ErrorAnswer(absl::NotFoundError("not an API route"));
}

}  // namespace mixsweep::dashboard
