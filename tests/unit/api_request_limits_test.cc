// The API's request limits (services/api/request_limits.h): every string,
// bytes, repeated and map field of every request message is bounded, and a
// value over its bound is refused with the field named.
#include "services/api/request_limits.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mixsweep/v1/auth.pb.h"
#include "mixsweep/v1/evaluation.pb.h"
#include "mixsweep/v1/sweep.pb.h"
#include "mixsweep/v1/utilization.pb.h"
#include "mixsweep/v1/worker.pb.h"

namespace mixsweep::api {
namespace {

namespace pb = google::protobuf;
namespace v1 = mixsweep::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kProtoFiles[] = {"mixsweep/v1/common.proto", "mixsweep/v1/sweep.proto",
                                       "mixsweep/v1/worker.proto", "mixsweep/v1/evaluation.proto",
                                       "mixsweep/v1/utilization.proto",
                                       "mixsweep/v1/auth.proto"};

// Every request message of every service in the package.
std::vector<const pb::Descriptor*> RequestTypes() {
  // Linking the generated code registers the files in the generated pool.
  (void)v1::SubmitSweepRequest::descriptor();
  (void)v1::RegisterWorkerRequest::descriptor();
  (void)v1::RecordTrialsRequest::descriptor();
  (void)v1::GetEstimatesRequest::descriptor();
  (void)v1::CreateTokenRequest::descriptor();
  std::vector<const pb::Descriptor*> out;
  for (const char* name : kProtoFiles) {
    const pb::FileDescriptor* file = pb::DescriptorPool::generated_pool()->FindFileByName(name);
    EXPECT_NE(file, nullptr) << name;
    if (file == nullptr) continue;
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        out.push_back(file->service(s)->method(m)->input_type());
      }
    }
  }
  return out;
}

bool InPackage(const pb::Descriptor* type) { return type->file()->package() == "mixsweep.v1"; }

bool IsString(const pb::FieldDescriptor* field) {
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING;
}

// Why `field` is not fully bounded, or "" when it is.
std::string Unbounded(const pb::FieldDescriptor* field) {
  const FieldBound* bound = FindFieldBound(field->full_name());
  const bool elsewhere = bound != nullptr && !bound->elsewhere.empty();
  if (field->is_map()) {
    const pb::FieldDescriptor* key = field->message_type()->map_key();
    const pb::FieldDescriptor* value = field->message_type()->map_value();
    if (bound == nullptr) return "no row";
    if (bound->max_entries == 0 && !elsewhere) return "no bound on entries";
    if (IsString(key) && bound->max_key_bytes == 0 && !elsewhere) return "no bound on keys";
    if (IsString(value) && bound->max_bytes == 0 && !elsewhere) return "no bound on values";
    if (value->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) return "message values";
    return "";
  }
  const bool string = IsString(field);
  if (!field->is_repeated() && !string) return "";  // a number or a message
  if (bound == nullptr) return "no row";
  if (field->is_repeated() && bound->max_entries == 0 && !elsewhere) return "no bound on entries";
  if (string && bound->max_bytes == 0 && !elsewhere) return "no bound on bytes";
  return "";
}

// The audit: a field added to a request later, without a bound, fails here.
TEST(ApiRequestLimitsTest, EveryStringRepeatedAndMapFieldOfEveryRequestIsBounded) {
  std::vector<const pb::Descriptor*> pending = RequestTypes();
  EXPECT_GE(pending.size(), 27u);  // the services' RPCs: 8 + 9 + 7 + 3
  std::set<const pb::Descriptor*> seen;
  int fields_checked = 0;
  while (!pending.empty()) {
    const pb::Descriptor* type = pending.back();
    pending.pop_back();
    if (!seen.insert(type).second) continue;
    for (int i = 0; i < type->field_count(); ++i) {
      const pb::FieldDescriptor* field = type->field(i);
      ++fields_checked;
      EXPECT_EQ(Unbounded(field), "") << field->full_name();
      if (!field->is_map() && field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const pb::Descriptor* nested = field->message_type();
        if (InPackage(nested)) {
          pending.push_back(nested);
        } else {
          // Timestamps and Durations: numbers only.
          for (int j = 0; j < nested->field_count(); ++j) {
            EXPECT_FALSE(IsString(nested->field(j)) || nested->field(j)->is_repeated())
                << nested->full_name() << " has fields to bound";
          }
        }
      }
    }
  }
  EXPECT_GT(fields_checked, 100);
}

// No row names a field that does not exist (a rename would leave it
// unchecked).
TEST(ApiRequestLimitsTest, EveryRowNamesARealField) {
  RequestTypes();
  std::set<std::string_view> rows;
  for (const FieldBound& bound : RequestFieldBounds()) {
    EXPECT_TRUE(rows.insert(bound.field).second) << "two rows for " << bound.field;
    const std::string full = absl::StrCat("mixsweep.v1.", std::string(bound.field));
    const pb::FieldDescriptor* field =
        pb::DescriptorPool::generated_pool()->FindFieldByName(full);
    ASSERT_NE(field, nullptr) << full;
    EXPECT_EQ(FindFieldBound(full), &bound);
    // A bound that the field's kind cannot use is a mistake in the row.
    if (!field->is_repeated()) {
      EXPECT_EQ(bound.max_entries, 0u) << full;
    }
    if (!field->is_map()) {
      EXPECT_EQ(bound.max_key_bytes, 0u) << full;
    }
  }
}

// ---------------------------------------------------------------------------
// Every bound, one field at a time: at the bound accepted, one over refused
// with the field's path and the bound.

// How to reach a message of type `target` from some request: the request
// type and the fields to walk.
struct Route {
  const pb::Descriptor* request = nullptr;
  std::vector<const pb::FieldDescriptor*> fields;
};

std::optional<Route> RouteTo(const pb::Descriptor* target) {
  for (const pb::Descriptor* request : RequestTypes()) {
    // Breadth first, so that the shortest route is taken.
    std::vector<Route> frontier = {{request, {}}};
    std::set<const pb::Descriptor*> seen;
    while (!frontier.empty()) {
      std::vector<Route> next;
      for (const Route& route : frontier) {
        const pb::Descriptor* at =
            route.fields.empty() ? request : route.fields.back()->message_type();
        if (at == target) return route;
        if (!seen.insert(at).second) continue;
        for (int i = 0; i < at->field_count(); ++i) {
          const pb::FieldDescriptor* field = at->field(i);
          if (field->is_map() || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE ||
              !InPackage(field->message_type())) {
            continue;
          }
          Route longer = route;
          longer.fields.push_back(field);
          next.push_back(std::move(longer));
        }
      }
      frontier = std::move(next);
    }
  }
  return std::nullopt;
}

// A request with the message at the end of `route` created; returns the
// request and sets *leaf and *path (as errors write it).
std::unique_ptr<pb::Message> Build(const Route& route, pb::Message** leaf, std::string* path) {
  std::unique_ptr<pb::Message> request(
      pb::MessageFactory::generated_factory()->GetPrototype(route.request)->New());
  pb::Message* at = request.get();
  path->clear();
  for (const pb::FieldDescriptor* field : route.fields) {
    absl::StrAppend(path, path->empty() ? "" : ".", field->name());
    if (field->is_repeated()) {
      at = at->GetReflection()->AddMessage(at, field);
      absl::StrAppend(path, "[0]");
    } else {
      at = at->GetReflection()->MutableMessage(at, field);
    }
  }
  *leaf = at;
  return request;
}

void AddEntries(pb::Message* message, const pb::FieldDescriptor* field, size_t n) {
  const pb::Reflection* r = message->GetReflection();
  for (size_t i = 0; i < n; ++i) {
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING: r->AddString(message, field, "x"); break;
      case pb::FieldDescriptor::CPPTYPE_INT32: r->AddInt32(message, field, 0); break;
      case pb::FieldDescriptor::CPPTYPE_INT64: r->AddInt64(message, field, 0); break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: r->AddEnumValue(message, field, 1); break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        pb::Message* entry = r->AddMessage(message, field);
        if (field->is_map()) {  // distinct keys: a map keeps one entry per key
          entry->GetReflection()->SetString(entry, field->message_type()->map_key(),
                                            absl::StrCat("k", i));
        }
        break;
      }
      default: FAIL() << "no way to add to " << field->full_name();
    }
  }
}

void SetMapEntry(pb::Message* message, const pb::FieldDescriptor* field, const std::string& key,
                 const std::string& value) {
  pb::Message* entry = message->GetReflection()->AddMessage(message, field);
  entry->GetReflection()->SetString(entry, field->message_type()->map_key(), key);
  const pb::FieldDescriptor* value_field = field->message_type()->map_value();
  if (IsString(value_field)) entry->GetReflection()->SetString(entry, value_field, value);
}

struct Probe {
  std::string what;             // which bound: entries, bytes, element/value/key bytes
  std::string expected_prefix;  // of the message, after the path to the leaf
  size_t bound;
};

TEST(ApiRequestLimitsTest, EachBoundAcceptsItsLimitAndRefusesOneMore) {
  int probes = 0;
  for (const FieldBound& bound : RequestFieldBounds()) {
    const std::string full = absl::StrCat("mixsweep.v1.", std::string(bound.field));
    const pb::FieldDescriptor* field = pb::DescriptorPool::generated_pool()->FindFieldByName(full);
    ASSERT_NE(field, nullptr) << full;
    std::optional<Route> route = RouteTo(field->containing_type());
    ASSERT_TRUE(route.has_value()) << "no request reaches " << full;

    std::vector<Probe> cases;
    const std::string name = field->name();
    if (bound.max_entries != 0) {
      cases.push_back({"entries", absl::StrCat(name, ": "), bound.max_entries});
    }
    if (bound.max_bytes != 0 && !field->is_repeated()) {
      cases.push_back({"bytes", absl::StrCat(name, ": "), bound.max_bytes});
    } else if (bound.max_bytes != 0 && !field->is_map()) {
      cases.push_back({"element bytes", absl::StrCat(name, "[0]: "), bound.max_bytes});
    } else if (bound.max_bytes != 0) {
      cases.push_back({"value bytes", absl::StrCat(name, "[\"k\"]: "), bound.max_bytes});
    }
    if (bound.max_key_bytes != 0) {
      cases.push_back({"key bytes", absl::StrCat(name, ": a key of "),
                       bound.max_key_bytes});
    }
    ASSERT_TRUE(!cases.empty() || !bound.elsewhere.empty()) << full << " has no bound at all";

    for (const Probe& probe : cases) {
      for (size_t size : {probe.bound, probe.bound + 1}) {
        pb::Message* leaf = nullptr;
        std::string path;
        std::unique_ptr<pb::Message> request = Build(*route, &leaf, &path);
        if (probe.what == "entries") {
          AddEntries(leaf, field, size);
        } else if (probe.what == "bytes") {
          leaf->GetReflection()->SetString(leaf, field, std::string(size, 'a'));
        } else if (probe.what == "element bytes") {
          leaf->GetReflection()->AddString(leaf, field, std::string(size, 'a'));
        } else if (probe.what == "value bytes") {
          SetMapEntry(leaf, field, "k", std::string(size, 'a'));
        } else {
          SetMapEntry(leaf, field, std::string(size, 'k'), "v");
        }
        absl::Status status = CheckRequestLimits(*request);
        const std::string where = absl::StrCat(full, " (", probe.what, " = ", size, ")");
        if (size == probe.bound) {
          EXPECT_TRUE(status.ok()) << where << ": " << status;
          continue;
        }
        ++probes;
        ASSERT_FALSE(status.ok()) << where << " was accepted";
        EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << where;
        const std::string expected =
            absl::StrCat(path, path.empty() ? "" : ".", probe.expected_prefix);
        EXPECT_THAT(std::string(status.message()), StartsWith(expected)) << where;
        EXPECT_THAT(std::string(status.message()),
                    HasSubstr(absl::StrCat("at most ", probe.bound)))
            << where;
      }
    }
  }
  EXPECT_GT(probes, 50);
}

// ---------------------------------------------------------------------------
// What clients see, on a few requests written out.

std::string Refusal(const pb::Message& request) {
  absl::Status status = CheckRequestLimits(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ApiRequestLimitsTest, MessagesNameTheFieldAsTheClientWroteIt) {
  v1::RegisterWorkerRequest worker;
  worker.set_name("gpu-node-1");
  for (int i = 0; i < 65; ++i) worker.add_gpus()->set_index(i);
  EXPECT_EQ(Refusal(worker), "gpus: 65 entries; at most 64");

  worker.clear_gpus();
  worker.add_gpus()->set_uuid(std::string(129, 'u'));
  EXPECT_EQ(Refusal(worker), "gpus[0].uuid: 129 bytes; at most 128");

  worker.clear_gpus();
  (*worker.mutable_labels())["zone"] = std::string(300, 'z');
  EXPECT_EQ(Refusal(worker), "labels[\"zone\"]: 300 bytes; at most 128");
  worker.clear_labels();
  (*worker.mutable_labels())[std::string(200, 'k')] = "v";
  EXPECT_EQ(Refusal(worker), "labels: a key of 200 bytes; at most 128");

  v1::CompleteJobRequest complete;
  complete.set_checkpoint_uri("file:///art/" + std::string(9000, 'c'));
  EXPECT_EQ(Refusal(complete), "checkpoint_uri: 9012 bytes; at most 8192");
  complete.clear_checkpoint_uri();
  complete.mutable_provenance()->add_argv("python");
  complete.mutable_provenance()->add_argv("train.py");
  complete.mutable_provenance()->add_argv(std::string(200 * 1024, 'a'));
  EXPECT_EQ(Refusal(complete), "provenance.argv[2]: 204800 bytes; at most 131072");

  v1::RecordTrialsRequest record;
  record.add_trials();
  v1::TrialInput* trial = record.add_trials();
  for (int i = 0; i < 101; ++i) trial->add_achieved("first_bottle_grasped");
  EXPECT_EQ(Refusal(record), "trials[1].achieved: 101 entries; at most 100");

  v1::FailJobRequest fail;
  fail.mutable_failure()->set_message(std::string(70000, 'm'));
  EXPECT_EQ(Refusal(fail), "failure.message: 70000 bytes; at most 65536");

  v1::ListSweepsRequest list;
  list.mutable_page()->set_page_token(std::string(33, '9'));
  EXPECT_EQ(Refusal(list), "page.page_token: 33 bytes; at most 32");

  v1::LeaseJobRequest lease;
  lease.set_idempotency_key(std::string(129, 'k'));
  EXPECT_EQ(Refusal(lease), "idempotency_key: 129 bytes; at most 128");

  // A map key that would break a message is shown escaped and cut.
  v1::ReportProgressRequest progress;
  (*progress.mutable_progress()->mutable_metrics())["loss\n"] = 1;
  EXPECT_TRUE(CheckRequestLimits(progress).ok());
  v1::RegisterWorkerRequest odd;
  (*odd.mutable_labels())[std::string("a\nb") + std::string(60, 'c')] = std::string(129, 'v');
  EXPECT_THAT(Refusal(odd), StartsWith("labels[\"a\\nbcccc"));
  EXPECT_THAT(Refusal(odd), HasSubstr("...\"]: 129 bytes; at most 128"));
}

// Fields bounded by the domain are left to it: a quota such as the trials of
// one call is RESOURCE_EXHAUSTED there (evaluation tests), not
// INVALID_ARGUMENT here.
TEST(ApiRequestLimitsTest, FieldsBoundedElsewhereAreLeftToTheDomain) {
  v1::RecordTrialsRequest record;
  for (int i = 0; i < 5000; ++i) record.add_trials()->set_notes(std::string(10, 'n'));
  EXPECT_TRUE(CheckRequestLimits(record).ok());
  const FieldBound* trials = FindFieldBound("mixsweep.v1.RecordTrialsRequest.trials");
  ASSERT_NE(trials, nullptr);
  EXPECT_THAT(std::string(trials->elsewhere), HasSubstr("RESOURCE_EXHAUSTED"));
  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(std::string(2 << 20, '#'));  // the handler's own check refuses it
  EXPECT_TRUE(CheckRequestLimits(submit).ok());
}

// docs/LIMITS.md lists every row.
TEST(ApiRequestLimitsTest, DocsListEveryRow) {
  const std::filesystem::path doc =
      std::filesystem::path(__FILE__).parent_path() / "../../docs/LIMITS.md";
  std::ifstream file(doc);
  ASSERT_TRUE(file) << doc;
  std::stringstream text;
  text << file.rdbuf();
  for (const FieldBound& bound : RequestFieldBounds()) {
    EXPECT_THAT(text.str(), HasSubstr(absl::StrCat("`", std::string(bound.field), "`")))
        << bound.field << " is missing from docs/LIMITS.md";
  }
}

}  // namespace
}  // namespace mixsweep::api
