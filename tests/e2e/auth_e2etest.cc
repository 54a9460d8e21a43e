// Authentication and roles over real gRPC against a real mixsweepd: every
// RPC in the proto refused without a token, with a revoked token and with a
// wrong role, nothing stored changing; a worker token cannot act on another
// worker's lease; researchers change only their own sweeps; revocation takes
// effect at once; health needs no token; the per-token rate limit.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "grpc/health/v1/health.grpc.pb.h"
#include "mixsweep/v1/auth.grpc.pb.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"
#include "scheduler/auth/access_policy.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {
namespace v1 = mixsweep::v1;
using namespace std::chrono_literals;

struct Rpc {
  std::string path;         // "/mixsweep.v1.SweepService/SubmitSweep"
  bool streaming = false;   // server streaming
};

// Every RPC of every mixsweep service, from the generated descriptors.
std::vector<Rpc> EveryRpc() {
  for (const google::protobuf::Descriptor* d :
       {v1::GetSweepRequest::descriptor(), v1::LeaseJobRequest::descriptor(),
        v1::RecordTrialsRequest::descriptor(), v1::GetEstimatesRequest::descriptor(),
        v1::WhoAmIRequest::descriptor()}) {
    EXPECT_NE(d, nullptr);  // links and registers each file's descriptors
  }
  std::vector<Rpc> rpcs;
  for (const char* name : {"SweepService", "WorkerService", "EvaluationService",
                           "UtilizationService", "AuthService"}) {
    const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
        std::string("mixsweep.v1.") + name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      rpcs.push_back({"/" + service->full_name() + "/" + service->method(i)->name(),
                      service->method(i)->server_streaming()});
    }
  }
  return rpcs;
}

// Calls `path` with an empty request through the generic stub; the status.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& path) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 15s);
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, path, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// A fingerprint of every table's rows: equal fingerprints, nothing stored
// changed.
std::map<std::string, std::string> Fingerprint(const std::string& dsn) {
  std::map<std::string, std::string> out;
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  for (const auto& row : tx.exec(
           "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")) {
    const std::string table = row[0].as<std::string>();
    out[table] = tx.exec1("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                          "FROM " + tx.quote_name(table) + " t")[0]
                     .as<std::string>();
  }
  return out;
}

// A role the table refuses for `path`, if any.
std::optional<std::string> WrongRoleFor(const std::string& path) {
  const std::vector<auth::Role> allowed = auth::RolesAllowed(path);
  for (auth::Role role : auth::kAllRoles) {
    if (std::find(allowed.begin(), allowed.end(), role) == allowed.end()) {
      return std::string(auth::RoleName(role));
    }
  }
  return std::nullopt;
}

class AuthE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = CreateTestDatabase();
    daemon_ = Daemon::Start({.database = dsn_});
  }
  std::string dsn_;
  Daemon daemon_;
};

std::shared_ptr<grpc::Channel> Unauthenticated(const Daemon& daemon) {
  return grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials());
}

TEST_F(AuthE2E, EveryRpcRefusesNoTokenARevokedTokenAndAWrongRoleAndChangesNothing) {
  // Something stored, so that "nothing changed" means something.
  CommandResult submit = daemon_.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  std::map<std::string, std::shared_ptr<grpc::Channel>> by_role;
  for (auth::Role role : auth::kAllRoles) {
    const std::string name(auth::RoleName(role));
    by_role[name] = daemon_.Channel(daemon_.CreateToken("t-" + name, name));
  }
  const std::string revoked_file = daemon_.CreateToken("mallory", "admin");
  const int64_t mallory_id =
      SqlCount(dsn_, "SELECT id FROM api_tokens WHERE principal = 'mallory'");
  CommandResult revoke = daemon_.Cli({"token", "revoke", std::to_string(mallory_id)});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  auto revoked = daemon_.Channel(revoked_file);
  auto none = Unauthenticated(daemon_);

  const auto before = Fingerprint(dsn_);
  ASSERT_GE(before.size(), 10u);
  const std::vector<Rpc> rpcs = EveryRpc();
  ASSERT_EQ(rpcs.size(), 31u);
  int wrong_role_checks = 0;
  for (const Rpc& rpc : rpcs) {
    SCOPED_TRACE(rpc.path);
    grpc::Status s = CallRaw(none, rpc.path);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("no bearer token"), std::string::npos) << s.error_message();

    s = CallRaw(revoked, rpc.path);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("revoked"), std::string::npos) << s.error_message();

    if (auto wrong = WrongRoleFor(rpc.path)) {
      s = CallRaw(by_role.at(*wrong), rpc.path);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      EXPECT_NE(s.error_message().find("this token's role is " + *wrong), std::string::npos)
          << s.error_message();
      ++wrong_role_checks;
    }
  }
  // Only WhoAmI is open to every role.
  EXPECT_EQ(wrong_role_checks, 30);
  EXPECT_EQ(Fingerprint(dsn_), before);

  // The control: with a role the table allows, the same empty calls get
  // past the gate (they are refused, if at all, for their content).
  for (const Rpc& rpc : rpcs) {
    if (rpc.streaming) continue;
    SCOPED_TRACE(rpc.path);
    const std::string role(auth::RoleName(auth::RolesAllowed(rpc.path).back()));
    grpc::Status s = CallRaw(by_role.at(role), rpc.path);
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
}

TEST_F(AuthE2E, HealthNeedsNoTokenAndReflectionNeedsOne) {
  auto none = Unauthenticated(daemon_);
  auto health = grpc::health::v1::Health::NewStub(none);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(CallRaw(none, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AuthE2E, WhoAmIAndTheCliSayWhoTheTokenIs) {
  CommandResult me = daemon_.Cli({"whoami"});
  ASSERT_EQ(me.exit_code, 0) << me.err;
  EXPECT_NE(me.out.find("admin (admin, token 1)"), std::string::npos) << me.out;
  CommandResult anonymous = daemon_.Cli({"whoami"}, {{"MIXSWEEP_TOKEN_FILE", ""}});
  EXPECT_EQ(anonymous.exit_code, 7) << anonymous.out;
  EXPECT_NE(anonymous.err.find("UNAUTHENTICATED"), std::string::npos) << anonymous.err;
}

TEST_F(AuthE2E, ARevokedTokenStopsWorkingAtOnceAndTokenSecretsAreStoredOnlyAsHashes) {
  const std::string viewer = daemon_.CreateToken("bob", "viewer");
  CommandResult ok = daemon_.Cli({"sweep", "list"}, {{"MIXSWEEP_TOKEN_FILE", viewer}});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string secret = ReadFile(viewer);
  EXPECT_EQ(SqlCount(dsn_, "SELECT count(*) FROM api_tokens WHERE token_hash LIKE '%" +
                               secret.substr(4, 20) + "%'"),
            0);
  const int64_t id = SqlCount(dsn_, "SELECT id FROM api_tokens WHERE principal = 'bob'");
  ASSERT_EQ(daemon_.Cli({"token", "revoke", std::to_string(id)}).exit_code, 0);
  CommandResult refused = daemon_.Cli({"sweep", "list"}, {{"MIXSWEEP_TOKEN_FILE", viewer}});
  EXPECT_EQ(refused.exit_code, 7);
  EXPECT_NE(refused.err.find("revoked"), std::string::npos) << refused.err;
  // Only an admin manages tokens.
  CommandResult create = daemon_.Cli({"token", "create", "--principal", "eve", "--role", "admin"},
                                     {{"MIXSWEEP_TOKEN_FILE", daemon_.CreateToken("r", "researcher")}});
  EXPECT_EQ(create.exit_code, 7) << create.err;
  EXPECT_EQ(SqlCount(dsn_, "SELECT count(*) FROM api_tokens WHERE principal = 'eve'"), 0);
}

TEST_F(AuthE2E, AResearcherCancelsOnlyTheirOwnSweepsAndAnAdminAny) {
  const std::string alice = daemon_.CreateToken("alice", "researcher");
  const std::string bob = daemon_.CreateToken("bob", "researcher");
  CommandResult submit = daemon_.Cli({"sweep", "submit", WriteSpec(PickDualBottles())},
                                     {{"MIXSWEEP_TOKEN_FILE", alice}});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  EXPECT_EQ(SqlText(dsn_, "SELECT owner FROM sweeps"), "alice");
  const std::string id = std::to_string(SqlCount(dsn_, "SELECT id FROM sweeps"));

  CommandResult by_bob = daemon_.Cli({"sweep", "cancel", id}, {{"MIXSWEEP_TOKEN_FILE", bob}});
  EXPECT_EQ(by_bob.exit_code, 7) << by_bob.out << by_bob.err;
  EXPECT_NE(by_bob.err.find("belongs to alice"), std::string::npos) << by_bob.err;
  EXPECT_EQ(SqlText(dsn_, "SELECT state FROM sweeps"), "active");

  CommandResult by_admin = daemon_.Cli({"sweep", "cancel", id});
  EXPECT_EQ(by_admin.exit_code, 0) << by_admin.err;
  EXPECT_EQ(SqlText(dsn_, "SELECT state FROM sweeps"), "cancelled");
}

// One worker token leases a job; another worker token (another machine)
// tries every lease call on it and is refused; the job is untouched; the
// holder then completes it.
TEST_F(AuthE2E, AWorkerTokenCannotActOnAnotherWorkersLease) {
  ASSERT_EQ(daemon_.Cli({"sweep", "submit", WriteSpec(PickDualBottles())}).exit_code, 0);
  auto alpha = v1::WorkerService::NewStub(daemon_.Channel(daemon_.CreateToken("node-a", "worker")));
  auto beta = v1::WorkerService::NewStub(daemon_.Channel(daemon_.CreateToken("node-b", "worker")));
  auto register_worker = [](v1::WorkerService::Stub& stub, const std::string& name) {
    grpc::ClientContext context;
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_host(name);
    v1::Gpu* gpu = request.add_gpus();
    gpu->set_index(0);
    gpu->set_name("synthetic");
    gpu->set_memory_total_mib(81559);
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(stub.RegisterWorker(&context, request, &response).ok());
    return response.worker_id();
  };
  const int64_t a_id = register_worker(*alpha, "node-a");
  const int64_t b_id = register_worker(*beta, "node-b");
  EXPECT_EQ(SqlText(dsn_, "SELECT owner FROM workers WHERE id = " + std::to_string(a_id)),
            "node-a");

  v1::LeaseJobResponse leased;
  {
    grpc::ClientContext context;
    v1::LeaseJobRequest request;
    request.set_worker_id(a_id);
    request.add_free_gpu_indices(0);
    request.mutable_wait()->set_seconds(5);
    ASSERT_TRUE(alpha->LeaseJob(&context, request, &leased).ok());
    ASSERT_TRUE(leased.has_lease());
  }
  const v1::LeaseRef lease = leased.lease();
  const std::string job = std::to_string(lease.job_id());
  const auto before = Fingerprint(dsn_);

  auto expect_denied = [](const grpc::Status& s, const char* what) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": "
                                                                   << s.error_message();
  };
  {
    grpc::ClientContext c;
    v1::HeartbeatRequest r;
    r.set_worker_id(a_id);
    *r.add_leases() = lease;
    v1::HeartbeatResponse out;
    expect_denied(beta->Heartbeat(&c, r, &out), "Heartbeat as node-a");
  }
  {
    grpc::ClientContext c;
    v1::HeartbeatRequest r;  // its own worker, naming the other's lease
    r.set_worker_id(b_id);
    *r.add_leases() = lease;
    v1::HeartbeatResponse out;
    ASSERT_TRUE(beta->Heartbeat(&c, r, &out).ok());
    ASSERT_EQ(out.leases_size(), 1);
    EXPECT_FALSE(out.leases(0).valid());  // extends nothing it does not hold
  }
  {
    grpc::ClientContext c;
    v1::LeaseJobRequest r;
    r.set_worker_id(a_id);
    v1::LeaseJobResponse out;
    expect_denied(beta->LeaseJob(&c, r, &out), "LeaseJob as node-a");
  }
  {
    grpc::ClientContext c;
    v1::ReportProgressRequest r;
    *r.mutable_lease() = lease;
    r.set_started(true);
    v1::ReportProgressResponse out;
    expect_denied(beta->ReportProgress(&c, r, &out), "ReportProgress");
  }
  {
    grpc::ClientContext c;
    v1::AppendLogRequest r;
    *r.mutable_lease() = lease;
    r.set_data("forged\n");
    v1::AppendLogResponse out;
    expect_denied(beta->AppendLog(&c, r, &out), "AppendLog");
  }
  {
    grpc::ClientContext c;
    v1::CompleteJobRequest r;
    *r.mutable_lease() = lease;
    r.set_checkpoint_uri("file:///tmp/forged.ckpt");
    v1::CompleteJobResponse out;
    expect_denied(beta->CompleteJob(&c, r, &out), "CompleteJob");
  }
  {
    grpc::ClientContext c;
    v1::FailJobRequest r;
    *r.mutable_lease() = lease;
    r.mutable_failure()->set_kind(v1::JobFailure::KIND_EXIT_CODE);
    r.mutable_failure()->set_exit_code(1);
    v1::FailJobResponse out;
    expect_denied(beta->FailJob(&c, r, &out), "FailJob");
  }
  {
    grpc::ClientContext c;
    v1::HandBackJobRequest r;
    *r.mutable_lease() = lease;
    v1::HandBackJobResponse out;
    expect_denied(beta->HandBackJob(&c, r, &out), "HandBackJob");
  }
  // Nothing moved but node-b's own heartbeat time.
  auto after = Fingerprint(dsn_);
  after.erase("workers");
  auto expected = before;
  expected.erase("workers");
  EXPECT_EQ(after, expected);
  EXPECT_EQ(SqlText(dsn_, "SELECT state FROM jobs WHERE id = " + job), "leased");

  grpc::ClientContext c;
  v1::CompleteJobRequest r;
  *r.mutable_lease() = lease;
  r.set_checkpoint_uri(leased.spec().output_uri() + "/checkpoints/last.ckpt");
  v1::CompleteJobResponse out;
  grpc::Status done = alpha->CompleteJob(&c, r, &out);
  EXPECT_TRUE(done.ok()) << done.error_message();
  EXPECT_EQ(SqlText(dsn_, "SELECT state FROM jobs WHERE id = " + job), "succeeded");
}

TEST(AuthRateLimitE2E, ATokenOverItsRateIsRefusedWithResourceExhausted) {
  const std::string dsn = CreateTestDatabase();
  // One request per 1,000 s after a burst of 5: the sixth is refused
  // however slow the machine.
  Daemon daemon = Daemon::Start(
      {.database = dsn, .extra_args = {"--rate-limit-per-second", "0.001", "--rate-limit-burst", "5"}});
  auto auth = v1::AuthService::NewStub(daemon.Channel());
  std::vector<grpc::StatusCode> codes;
  for (int i = 0; i < 6; ++i) {
    grpc::ClientContext context;
    v1::WhoAmIResponse response;
    codes.push_back(auth->WhoAmI(&context, v1::WhoAmIRequest{}, &response).error_code());
  }
  EXPECT_EQ(codes, std::vector<grpc::StatusCode>({grpc::StatusCode::OK, grpc::StatusCode::OK,
                                                  grpc::StatusCode::OK, grpc::StatusCode::OK,
                                                  grpc::StatusCode::OK,
                                                  grpc::StatusCode::RESOURCE_EXHAUSTED}));
}

}  // namespace
}  // namespace mixsweep::testing
