// Pure auth logic: the role table, token secrets and hashes, the
// authenticator's cache and revocation, the rate limiter (a fake clock: no
// sleeping), and token management over a fake store.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include "mixsweep/v1/auth.grpc.pb.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"
#include "scheduler/auth/access_policy.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/rate_limiter.h"
#include "scheduler/auth/token.h"
#include "scheduler/auth/token_service.h"
#include "scheduler/clock.h"

namespace mixsweep::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Every RPC of every service in the public API, from the descriptors the
// stubs are generated from: a new RPC shows up here by itself.
std::vector<std::string> EveryRpcPath() {
  // Touch one message of each file, so that its descriptors are linked in
  // and registered.
  for (const google::protobuf::Descriptor* d :
       {v1::GetSweepRequest::descriptor(), v1::LeaseJobRequest::descriptor(),
        v1::RecordTrialsRequest::descriptor(), v1::GetEstimatesRequest::descriptor(),
        v1::WhoAmIRequest::descriptor()}) {
    EXPECT_NE(d, nullptr);
  }
  std::vector<std::string> paths;
  for (const char* name : {"SweepService", "WorkerService", "EvaluationService",
                           "UtilizationService", "AuthService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            std::string("mixsweep.v1.") + name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      paths.push_back("/" + service->full_name() + "/" + service->method(i)->name());
    }
  }
  return paths;
}

TEST(AccessPolicy, EveryRpcInTheProtoHasARuleAndNoRuleNamesAMissingRpc) {
  const std::vector<std::string> rpcs = EveryRpcPath();
  ASSERT_EQ(rpcs.size(), 31u);  // 8 sweep, 9 worker, 7 evaluation, 3 utilization, 4 auth
  for (const std::string& path : rpcs) {
    EXPECT_FALSE(RolesAllowed(path).empty()) << path << " has no rule: nobody may call it";
    EXPECT_TRUE(Authorize(Role::kAdmin, path).ok()) << path;
  }
  const std::set<std::string> known(rpcs.begin(), rpcs.end());
  for (std::string_view path : KnownMethods()) {
    if (path.find("grpc.reflection") != std::string_view::npos) continue;
    EXPECT_TRUE(known.count(std::string(path))) << path << " is in the table but not the proto";
  }
}

TEST(AccessPolicy, RolesGetWhatTheIssueSays) {
  // Researcher: submit/cancel, read all; no worker or operator calls.
  EXPECT_TRUE(Authorize(Role::kResearcher, "/mixsweep.v1.SweepService/SubmitSweep").ok());
  EXPECT_TRUE(Authorize(Role::kResearcher, "/mixsweep.v1.SweepService/CancelSweep").ok());
  EXPECT_TRUE(Authorize(Role::kResearcher, "/mixsweep.v1.UtilizationService/GetEstimates").ok());
  EXPECT_FALSE(Authorize(Role::kResearcher, "/mixsweep.v1.WorkerService/LeaseJob").ok());
  EXPECT_FALSE(Authorize(Role::kResearcher, "/mixsweep.v1.EvaluationService/RecordTrials").ok());
  EXPECT_FALSE(Authorize(Role::kResearcher, "/mixsweep.v1.AuthService/CreateToken").ok());
  // Worker: its own calls only.
  EXPECT_TRUE(Authorize(Role::kWorker, "/mixsweep.v1.WorkerService/CompleteJob").ok());
  EXPECT_FALSE(Authorize(Role::kWorker, "/mixsweep.v1.SweepService/SubmitSweep").ok());
  EXPECT_FALSE(Authorize(Role::kWorker, "/mixsweep.v1.SweepService/GetSweep").ok());
  // Operator: evaluation calls only.
  EXPECT_TRUE(Authorize(Role::kOperator, "/mixsweep.v1.EvaluationService/RecordTrials").ok());
  EXPECT_TRUE(Authorize(Role::kOperator, "/mixsweep.v1.EvaluationService/NextEvaluationBatch").ok());
  EXPECT_FALSE(Authorize(Role::kOperator, "/mixsweep.v1.SweepService/ListSweeps").ok());
  EXPECT_FALSE(Authorize(Role::kOperator, "/mixsweep.v1.WorkerService/LeaseJob").ok());
  // Viewer: reads only.
  EXPECT_TRUE(Authorize(Role::kViewer, "/mixsweep.v1.SweepService/WatchSweep").ok());
  EXPECT_TRUE(Authorize(Role::kViewer, "/mixsweep.v1.EvaluationService/ListResults").ok());
  // Operators evaluate blind: results (with mixtures) and estimates are not theirs to read.
  EXPECT_FALSE(Authorize(Role::kOperator, "/mixsweep.v1.EvaluationService/ListResults").ok());
  EXPECT_FALSE(Authorize(Role::kOperator, "/mixsweep.v1.UtilizationService/GetEstimates").ok());
  EXPECT_FALSE(Authorize(Role::kOperator, "/mixsweep.v1.SweepService/GetJob").ok());
  EXPECT_FALSE(Authorize(Role::kViewer, "/mixsweep.v1.SweepService/CancelSweep").ok());
  EXPECT_FALSE(Authorize(Role::kViewer, "/mixsweep.v1.EvaluationService/CorrectTrial").ok());
  // Everyone may ask who they are.
  for (Role role : kAllRoles) {
    EXPECT_TRUE(Authorize(role, "/mixsweep.v1.AuthService/WhoAmI").ok()) << RoleName(role);
  }
}

TEST(AccessPolicy, RefusalNamesTheMethodTheRolesItNeedsAndTheCallersRole) {
  absl::Status s = Authorize(Role::kViewer, "/mixsweep.v1.SweepService/SubmitSweep");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "SweepService/SubmitSweep needs role admin or researcher; this token's role is viewer");
}

TEST(AccessPolicy, UnknownMethodsAreClosedToEveryoneAndOnlyHealthIsOpen) {
  for (Role role : kAllRoles) {
    EXPECT_EQ(Authorize(role, "/mixsweep.v1.SweepService/DropEverything").code(),
              absl::StatusCode::kPermissionDenied);
  }
  EXPECT_TRUE(IsOpenMethod("/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(IsOpenMethod("/grpc.health.v1.Health/Watch"));
  EXPECT_FALSE(IsOpenMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_FALSE(IsOpenMethod("/mixsweep.v1.AuthService/WhoAmI"));
  EXPECT_FALSE(IsOpenMethod(""));
}

TEST(Roles, NamesRoundTripAndNothingElseParses) {
  for (Role role : kAllRoles) EXPECT_EQ(ParseRole(RoleName(role)), role);
  EXPECT_EQ(ParseRole("Admin"), std::nullopt);
  EXPECT_EQ(ParseRole("root"), std::nullopt);
  EXPECT_EQ(ParseRole(""), std::nullopt);
}

// ---------------------------------------------------------------------------
// Secrets and hashes.

TEST(TokenSecret, IsPrefixedBase64UrlOf256BitsAndNeverRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string secret = NewTokenSecret();
    ASSERT_EQ(secret.size(), kTokenSecretLength);
    ASSERT_EQ(secret.substr(0, 4), "msw_");
    ASSERT_TRUE(SecretFromAuthorization("Bearer " + secret).ok()) << secret;
    EXPECT_TRUE(seen.insert(secret).second);
  }
}

TEST(TokenHash, IsTheSha256InHex) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(TokenHash(NewTokenSecret()), TokenHash(NewTokenSecret()));
}

TEST(Authorization, MalformedHeadersAreUnauthenticatedWithoutEchoingThem) {
  const std::string good = NewTokenSecret();
  EXPECT_EQ(*SecretFromAuthorization("Bearer " + good), good);
  EXPECT_EQ(*SecretFromAuthorization("bearer " + good), good);
  for (const std::string& bad : std::vector<std::string>{
           "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer msw_short",
        "Bearer " + good + "x", "Bearer " + good.substr(0, 46) + ";",
        "Bearer xyz_" + good.substr(4), "Bearer " + good.substr(0, 40) + "\n" + good.substr(41)}) {
    auto parsed = SecretFromAuthorization(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnauthenticated);
    if (bad.size() > 10) {
      EXPECT_THAT(std::string(parsed.status().message()), ::testing::Not(HasSubstr(bad.substr(7))));
    }
  }
}

// ---------------------------------------------------------------------------
// A token store in memory, counting reads.

class FakeTokenStore final : public TokenStore {
 public:
  absl::StatusOr<std::optional<TokenRecord>> FindByHash(const std::string& hash) override {
    ++finds;
    if (!find_error.ok()) return find_error;
    auto it = by_hash.find(hash);
    if (it == by_hash.end()) return std::optional<TokenRecord>();
    return std::optional<TokenRecord>(records.at(it->second));
  }
  absl::StatusOr<TokenRecord> Create(const NewToken& token, absl::Time now) override {
    TokenRecord record{.id = next_id++,
                       .principal = token.principal,
                       .role = token.role,
                       .note = token.note,
                       .created_by = token.created_by,
                       .created_at = now};
    records[record.id] = record;
    by_hash[token.hash] = record.id;
    return record;
  }
  absl::StatusOr<TokenRecord> Revoke(int64_t id, absl::Time now) override {
    auto it = records.find(id);
    if (it == records.end()) return absl::NotFoundError("no such token");
    if (!it->second.revoked_at) it->second.revoked_at = now;
    return it->second;
  }
  absl::StatusOr<std::vector<TokenRecord>> List(bool) override {
    return std::vector<TokenRecord>();
  }
  absl::StatusOr<TokenRecord> CreateFirstAdmin(const NewToken& token, absl::Time now) override {
    for (const auto& [id, r] : records) {
      if (r.role == Role::kAdmin && !r.revoked_at) return absl::FailedPreconditionError("admin");
    }
    return Create(token, now);
  }

  std::map<int64_t, TokenRecord> records;
  std::map<std::string, int64_t> by_hash;
  int64_t next_id = 1;
  int finds = 0;
  absl::Status find_error;
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  FakeTokenStore store_;
  scheduler::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  Authenticator authn_{store_, clock_, {.cache_ttl = absl::Seconds(5)}};
  TokenService tokens_{store_, clock_, &authn_};
  const Caller admin_{.token_id = 0, .principal = "root", .role = Role::kAdmin};

  std::string Issue(const std::string& principal, Role role) {
    auto issued = tokens_.Create({.principal = principal, .role = role}, admin_);
    EXPECT_TRUE(issued.ok()) << issued.status();
    return "Bearer " + issued->secret;
  }
};

TEST_F(AuthenticatorTest, AValidTokenIsItsPrincipalAndRoleAndIsCachedForTheTtl) {
  const std::string header = Issue("alice", Role::kResearcher);
  auto caller = authn_.Authenticate(header);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->principal, "alice");
  EXPECT_EQ(caller->role, Role::kResearcher);
  EXPECT_EQ(store_.finds, 1);
  ASSERT_TRUE(authn_.Authenticate(header).ok());
  EXPECT_EQ(store_.finds, 1);  // from the cache
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(authn_.Authenticate(header).ok());
  EXPECT_EQ(store_.finds, 2);  // read again after the TTL
}

TEST_F(AuthenticatorTest, UnknownTokensAreUnauthenticated) {
  auto caller = authn_.Authenticate("Bearer " + NewTokenSecret());
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(caller.status().message()), HasSubstr("unknown token"));
}

TEST_F(AuthenticatorTest, RevokingThroughThisProcessTakesEffectAtOnce) {
  const std::string header = Issue("bob", Role::kViewer);
  ASSERT_TRUE(authn_.Authenticate(header).ok());
  auto revoked = tokens_.Revoke(1);
  ASSERT_TRUE(revoked.ok());
  EXPECT_FALSE(revoked->already_revoked);
  auto caller = authn_.Authenticate(header);
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(caller.status().message()), HasSubstr("revoked"));
  clock_.Advance(absl::Seconds(1));
  auto again = tokens_.Revoke(1);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_revoked);
}

TEST_F(AuthenticatorTest, RevokingElsewhereTakesEffectWithinTheCacheTtl) {
  const std::string header = Issue("bob", Role::kViewer);
  ASSERT_TRUE(authn_.Authenticate(header).ok());
  store_.records[1].revoked_at = clock_.Now();  // another replica revoked it
  EXPECT_TRUE(authn_.Authenticate(header).ok());  // still cached
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(authn_.Authenticate(header).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, AnUnreachableStoreIsUnavailableNotUnauthenticated) {
  const std::string header = Issue("bob", Role::kViewer);
  store_.find_error = absl::UnavailableError("database down");
  EXPECT_EQ(authn_.Authenticate(header).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(AuthenticatorTest, TokenRequestsAreValidatedAndOnlyTheHashIsStored) {
  EXPECT_EQ(tokens_.Create({.principal = "", .role = Role::kViewer}, admin_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokens_.Create({.principal = "a;rm -rf", .role = Role::kViewer}, admin_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokens_.Create({.principal = std::string(65, 'a'), .role = Role::kViewer}, admin_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokens_.Create({.principal = "ok", .role = Role::kViewer, .note = "a\nb"}, admin_)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.records.empty());
  auto issued = tokens_.Create({.principal = "gpu-node-1.lab@example", .role = Role::kWorker},
                               admin_);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->record.created_by, "root");
  ASSERT_EQ(store_.by_hash.size(), 1u);
  EXPECT_EQ(store_.by_hash.begin()->first, TokenHash(issued->secret));
  EXPECT_NE(store_.by_hash.begin()->first, issued->secret);
}

TEST_F(AuthenticatorTest, BootstrapMakesOneAdminOnly) {
  auto first = tokens_.Bootstrap("admin");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->record.role, Role::kAdmin);
  EXPECT_EQ(tokens_.Bootstrap("admin").status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tokens_.Revoke(first->record.id).ok());
  EXPECT_TRUE(tokens_.Bootstrap("admin").ok());  // every admin revoked: allowed again
}

// ---------------------------------------------------------------------------
// Rate limiter.

TEST(RateLimiter, AllowsTheBurstThenRefusesUntilTheBucketRefills) {
  scheduler::FakeClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(clock, {.rate_per_second = 10, .burst = 3});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Admit(7, "alice").ok()) << i;
  absl::Status refused = limiter.Admit(7, "alice");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("token 7 (alice)"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("retry in 100 ms"));
  EXPECT_TRUE(limiter.Admit(8, "bob").ok());  // buckets are per token
  clock.Advance(absl::Milliseconds(100));
  EXPECT_TRUE(limiter.Admit(7, "alice").ok());
  EXPECT_FALSE(limiter.Admit(7, "alice").ok());
}

TEST(RateLimiter, ZeroRateMeansNoLimit) {
  scheduler::FakeClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(clock, {.rate_per_second = 0, .burst = 1});
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Admit(1, "x").ok());
}

TEST(RateLimiter, MemoryIsBoundedByDroppingIdleBucketsThenRefusingNewcomers) {
  scheduler::FakeClock clock(absl::FromUnixSeconds(1000));
  RateLimiter limiter(clock, {.rate_per_second = 1, .burst = 2, .max_keys = 3});
  for (int64_t key = 1; key <= 3; ++key) ASSERT_TRUE(limiter.Admit(key, "k").ok());
  // All three buckets are busy (not refilled): a fourth token waits.
  EXPECT_EQ(limiter.Admit(4, "k").code(), absl::StatusCode::kResourceExhausted);
  clock.Advance(absl::Seconds(2));  // every bucket is full again: forgotten
  EXPECT_TRUE(limiter.Admit(4, "k").ok());
}

}  // namespace
}  // namespace mixsweep::auth
