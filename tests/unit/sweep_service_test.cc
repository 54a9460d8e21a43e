// SweepService: submit, extend (retry on ABORTED, replay), cancel and reads,
// over an in-memory fake SweepStore. SweepService is pure logic over the
// SweepStore interface; the PostgreSQL store has its own tests (tests/pg).
#include "scheduler/sweep_service.h"

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/expansion/sweep_plan.h"
#include "scheduler/records.h"
#include "scheduler/sweep_store.h"
#include "tests/support/example_specs.h"

namespace mixsweep::scheduler {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// docs/examples/pick_dual_bottles.yaml (embedded at build time):
// 3 N_tele x (baseline + sim 1000) x 3 seeds = 18 runs,
// 9 train + 3 shared pretrain + 9 finetune = 21 jobs.
constexpr std::string_view kPickDualBottles = mixsweep::testing::kPickDualBottlesYaml;

// `text` with its one occurrence of `from` replaced by `to`; a test fails
// when `from` is not there exactly once (the copy drifted).
std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t at = out.find(from);
  if (at == std::string::npos || out.find(from, at + 1) != std::string::npos) {
    ADD_FAILURE() << "'" << from << "' is not in the spec exactly once";
    return out;
  }
  out.replace(at, from.size(), to);
  return out;
}

std::string Example() { return std::string(kPickDualBottles); }

// The example without its own baseline, borrowing one from sweep `id`:
// 3 N_tele x sim 1000 x 3 seeds = 9 runs, 3 pretrain + 9 finetune = 12 jobs.
std::string BorrowingBaselineFrom(int64_t id, std::string_view base = kPickDualBottles) {
  return absl::StrCat(Replace(base, "n_nt: [0, 1000]", "n_nt: [1000]"),
                      "baseline_from_sweep: ", id, "\n");
}

// The example plus seed 3: 3 N_tele x 2 = 6 runs; 3 train + 1 pretrain +
// 3 finetune = 7 jobs.
std::string ExampleWithSeed3() {
  return Replace(kPickDualBottles, "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]");
}

WriteContext Alice(std::string key = "k1") {
  return WriteContext{.principal = "alice", .idempotency_key = std::move(key)};
}

// ---------------------------------------------------------------------------
// The fake store: answers from maps, records every call. NewSweep's pointers
// live only during the call, so what it carries is copied out then.

struct StoredWrite {
  std::string spec_name;
  std::string spec_yaml;
  int runs = 0;
  int jobs = 0;
  std::set<std::string> run_keys;
  std::map<plan::JobKind, int> jobs_by_kind;
  WriteContext ctx;

  int Jobs(plan::JobKind kind) const {
    auto it = jobs_by_kind.find(kind);
    return it == jobs_by_kind.end() ? 0 : it->second;
  }
};

StoredWrite Capture(const NewSweep& sweep, const WriteContext& ctx) {
  StoredWrite w;
  w.spec_name = sweep.spec != nullptr ? sweep.spec->name : "<null spec>";
  w.spec_yaml = sweep.spec_yaml;
  if (sweep.plan != nullptr) {
    w.runs = static_cast<int>(sweep.plan->runs.size());
    w.jobs = static_cast<int>(sweep.plan->jobs.size());
    for (const plan::PlannedRun& r : sweep.plan->runs) w.run_keys.insert(r.key);
    for (const plan::PlannedJob& j : sweep.plan->jobs) ++w.jobs_by_kind[j.kind];
  } else {
    w.runs = w.jobs = -1;
  }
  w.ctx = ctx;
  return w;
}

class FakeSweepStore : public SweepStore {
 public:
  // ---- what it answers
  std::map<int64_t, SweepRevision> revisions;  // GetRevision; missing: NOT_FOUND
  absl::Status get_revision_error;             // non-OK: every GetRevision fails
  absl::Status create_error;
  CreateSweepResult create_result{.sweep_id = 42};
  // ExtendSweep answers these in turn, then OK. An ABORTED answer also moves
  // the stored revision on by one, as a concurrent extension would.
  std::deque<absl::Status> extend_answers;
  bool extend_replayed = false;
  absl::StatusOr<std::optional<ExtendSweepResult>> find_extension_answer = std::nullopt;
  absl::StatusOr<CancelSweepResult> cancel_answer =
      CancelSweepResult{.jobs_cancelled = 12, .jobs_stopping = 2};
  // Owned by alice, who the tests' writes come from (Extend and Cancel
  // check the owner first).
  absl::StatusOr<SweepRecord> sweep_answer = SweepRecord{.owner = "alice"};
  absl::StatusOr<std::vector<RunRecord>> runs_answer = std::vector<RunRecord>{};
  absl::StatusOr<std::vector<JobRecord>> jobs_answer = std::vector<JobRecord>{};
  absl::StatusOr<SweepPage> page_answer = SweepPage{};
  absl::StatusOr<JobRecord> job_answer = absl::NotFoundError("no job");
  absl::StatusOr<int64_t> event_answer = int64_t{0};

  // ---- what it was asked
  std::vector<StoredWrite> creates;
  std::vector<int64_t> get_revision_ids;
  struct ExtendCall {
    int64_t sweep_id = 0;
    int expected_revision = 0;
    StoredWrite write;
  };
  std::vector<ExtendCall> extends;
  struct FindCall {
    int64_t sweep_id = 0;
    std::string spec_yaml;
    WriteContext ctx;
  };
  std::vector<FindCall> finds;
  struct CancelCall {
    int64_t sweep_id = 0;
    std::string reason;
    WriteContext ctx;
  };
  std::vector<CancelCall> cancels;
  std::vector<int64_t> get_sweep_ids, list_runs_ids, list_jobs_ids, get_job_ids, event_ids;
  std::vector<SweepFilter> list_filters;

  int Calls() const {
    return static_cast<int>(creates.size() + get_revision_ids.size() + extends.size() +
                            finds.size() + cancels.size() + get_sweep_ids.size() +
                            list_runs_ids.size() + list_jobs_ids.size() +
                            get_job_ids.size() + event_ids.size() + list_filters.size());
  }

  absl::StatusOr<CreateSweepResult> CreateSweep(const NewSweep& sweep,
                                                const WriteContext& ctx) override {
    creates.push_back(Capture(sweep, ctx));
    if (!create_error.ok()) return create_error;
    return create_result;
  }

  absl::StatusOr<SweepRevision> GetRevision(int64_t sweep_id) override {
    get_revision_ids.push_back(sweep_id);
    if (!get_revision_error.ok()) return get_revision_error;
    auto it = revisions.find(sweep_id);
    if (it == revisions.end()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
    return it->second;
  }

  absl::StatusOr<ExtendSweepResult> ExtendSweep(int64_t sweep_id, int expected_revision,
                                                const NewSweep& updated,
                                                const WriteContext& ctx) override {
    extends.push_back({sweep_id, expected_revision, Capture(updated, ctx)});
    if (!extend_answers.empty()) {
      absl::Status answer = extend_answers.front();
      extend_answers.pop_front();
      if (absl::IsAborted(answer)) ++revisions[sweep_id].revision;
      if (!answer.ok()) return answer;
    }
    auto& stored = revisions[sweep_id];
    if (stored.revision != expected_revision) {
      return absl::AbortedError("fake: revision moved on without an ABORTED answer");
    }
    ++stored.revision;
    stored.spec_yaml = updated.spec_yaml;
    return ExtendSweepResult{.runs_added = static_cast<int>(updated.plan->runs.size()),
                             .jobs_added = static_cast<int>(updated.plan->jobs.size()),
                             .replayed = extend_replayed};
  }

  absl::StatusOr<std::optional<ExtendSweepResult>> FindExtension(
      int64_t sweep_id, const std::string& spec_yaml, const WriteContext& ctx) override {
    finds.push_back({sweep_id, spec_yaml, ctx});
    return find_extension_answer;
  }

  absl::StatusOr<CancelSweepResult> CancelSweep(int64_t sweep_id, const std::string& reason,
                                                const WriteContext& ctx) override {
    cancels.push_back({sweep_id, reason, ctx});
    return cancel_answer;
  }

  absl::StatusOr<SweepRecord> GetSweep(int64_t sweep_id) override {
    get_sweep_ids.push_back(sweep_id);
    return sweep_answer;
  }
  absl::StatusOr<SweepPage> ListSweeps(const SweepFilter& filter) override {
    list_filters.push_back(filter);
    return page_answer;
  }
  absl::StatusOr<std::vector<RunRecord>> ListRuns(int64_t sweep_id) override {
    list_runs_ids.push_back(sweep_id);
    return runs_answer;
  }
  absl::StatusOr<std::vector<JobRecord>> ListJobs(int64_t sweep_id) override {
    list_jobs_ids.push_back(sweep_id);
    return jobs_answer;
  }
  absl::StatusOr<std::vector<GenerationRecord>> ListGenerations(int64_t) override {
    return std::vector<GenerationRecord>{};
  }
  absl::StatusOr<JobRecord> GetJob(int64_t job_id) override {
    get_job_ids.push_back(job_id);
    return job_answer;
  }
  absl::StatusOr<int64_t> LatestEventId(int64_t sweep_id) override {
    event_ids.push_back(sweep_id);
    return event_answer;
  }
};

class SweepServiceTest : public ::testing::Test {
 protected:
  SweepService Service(int extend_attempts = 3, int64_t max_runs = 10000) {
    return SweepService(store_, {.limits = {.max_runs = max_runs},
                                 .extend_attempts = extend_attempts});
  }
  // Sweep `id` stored at `revision` with the example spec.
  void StoreExample(int64_t id, int revision = 1,
                    SweepState state = SweepState::kActive) {
    store_.revisions[id] = SweepRevision{.revision = revision, .state = state,
                                         .spec_yaml = Example()};
  }

  FakeSweepStore store_;
};

// ---------------------------------------------------------------------------
// Submit

TEST_F(SweepServiceTest, SubmitExampleStoresEighteenRunsAndTwentyOneJobs) {
  SweepService service = Service();
  auto result = service.Submit(kPickDualBottles, /*validate_only=*/false, Alice("submit-1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sweep_id, 42);
  EXPECT_EQ(result->runs, 18);
  EXPECT_EQ(result->jobs, 21);
  EXPECT_FALSE(result->replayed);

  ASSERT_EQ(store_.creates.size(), 1u);
  const StoredWrite& w = store_.creates[0];
  EXPECT_EQ(w.runs, 18);
  EXPECT_EQ(w.jobs, 21);
  EXPECT_EQ(w.Jobs(plan::JobKind::kTrain), 9);
  EXPECT_EQ(w.Jobs(plan::JobKind::kPretrain), 3);
  EXPECT_EQ(w.Jobs(plan::JobKind::kFinetune), 9);
  EXPECT_TRUE(w.run_keys.count("t50/baseline/s0")) << "baseline run key missing";
  EXPECT_EQ(w.spec_yaml, kPickDualBottles);  // as submitted, byte for byte
  EXPECT_EQ(w.spec_name, "pick-dual-bottles-sim");
  EXPECT_EQ(w.ctx.principal, "alice");
  EXPECT_EQ(w.ctx.idempotency_key, "submit-1");
  // A spec with its own baseline needs no other sweep.
  EXPECT_THAT(store_.get_revision_ids, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitReportsReplayFromStore) {
  store_.create_result = {.sweep_id = 7, .replayed = true};
  auto result = Service().Submit(kPickDualBottles, false, Alice());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sweep_id, 7);
  EXPECT_TRUE(result->replayed);
  EXPECT_EQ(result->runs, 18);
}

TEST_F(SweepServiceTest, SubmitValidateOnlyNeverCreates) {
  auto result = Service().Submit(kPickDualBottles, /*validate_only=*/true, Alice());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sweep_id, 0);
  EXPECT_EQ(result->runs, 18);
  EXPECT_EQ(result->jobs, 21);
  EXPECT_THAT(store_.creates, IsEmpty());
  EXPECT_EQ(store_.Calls(), 0);
}

TEST_F(SweepServiceTest, SubmitBadVersionIsInvalidArgumentAndStoresNothing) {
  const std::string bad = Replace(kPickDualBottles, "version: 1\n", "version: 2\n");
  auto result = Service().Submit(bad, false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("version"));
  EXPECT_EQ(store_.Calls(), 0);
}

// Runs per sweep is a quota (issue 5): RESOURCE_EXHAUSTED with the count and
// the limit, for validate_only too, and nothing is stored.
TEST_F(SweepServiceTest, SubmitOverRunLimitIsResourceExhaustedAndStoresNothing) {
  for (bool validate_only : {false, true}) {
    auto result = Service(/*extend_attempts=*/3, /*max_runs=*/10)
                      .Submit(kPickDualBottles, validate_only, Alice());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(result.status().message(),
                HasSubstr("expands to 18 runs (3 N_tele values x (1 baseline + 1 mixed) x 3 "
                          "seeds), more than the limit of 10 runs per sweep"));
    EXPECT_EQ(store_.Calls(), 0);
  }
}

TEST_F(SweepServiceTest, SubmitPassesStoreErrorsThroughUnchanged) {
  store_.create_error = absl::UnavailableError("database unreachable");
  auto result = Service().Submit(kPickDualBottles, false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), absl::UnavailableError("database unreachable"));
  EXPECT_EQ(store_.creates.size(), 1u);
}

// ---------------------------------------------------------------------------
// Submit: baseline_from_sweep (CheckNamedBaseline)

TEST_F(SweepServiceTest, SubmitBaselineFromMissingSweepIsInvalidArgument) {
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  // NOT_FOUND from the store is the request's fault here, not a missing
  // resource of this RPC.
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("baseline_from_sweep"), HasSubstr("7")));
  EXPECT_THAT(store_.get_revision_ids, ElementsAre(7));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromSweepUnavailablePassesThrough) {
  store_.get_revision_error = absl::UnavailableError("db down");
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), absl::UnavailableError("db down"));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromSweepWithOtherTaskIsInvalidArgument) {
  store_.revisions[7] = {.revision = 1,
                         .spec_yaml = Replace(kPickDualBottles, "  name: pick_dual_bottles\n",
                                              "  name: rank_rgb_blocks\n")};
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("baseline_from_sweep"),
                    HasSubstr("sweep 7 has task 'rank_rgb_blocks', this sweep has "
                              "'pick_dual_bottles'")));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromSweepWithOtherPolicyIsInvalidArgument) {
  store_.revisions[7] = {.revision = 1,
                         .spec_yaml = Replace(kPickDualBottles, "policy: diffusion_policy",
                                              "policy: act")};
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("baseline_from_sweep"),
                    HasSubstr("sweep 7 has policy 'act', this sweep has 'diffusion_policy'")));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromSweepWithOtherProtocolIsInvalidArgument) {
  std::string other = Replace(kPickDualBottles, "pretrain_steps: 10000", "pretrain_steps: 9000");
  other = Replace(other, "finetune_steps: 3000", "finetune_steps: 4000");
  store_.revisions[7] = {.revision = 1, .spec_yaml = other};
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("baseline_from_sweep"), HasSubstr("protocol"),
                    HasSubstr("has protocol (total/pretrain/finetune steps) '13000/9000/4000', "
                              "this sweep has '13000/10000/3000'")));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromSweepWithoutItsOwnBaselineIsInvalidArgument) {
  // Sweep 7 is compatible but borrowed its own baseline from sweep 3.
  store_.revisions[7] = {.revision = 1, .spec_yaml = BorrowingBaselineFrom(3)};
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              AllOf(HasSubstr("baseline_from_sweep"), HasSubstr("no teleop-only runs")));
  // Only sweep 7 is looked at: no chasing of its own baseline_from_sweep.
  EXPECT_THAT(store_.get_revision_ids, ElementsAre(7));
  EXPECT_THAT(store_.creates, IsEmpty());
}

TEST_F(SweepServiceTest, SubmitBaselineFromCompatibleSweepIsAccepted) {
  StoreExample(7);
  auto result = Service().Submit(BorrowingBaselineFrom(7), false, Alice());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->runs, 9);
  EXPECT_EQ(result->jobs, 12);
  EXPECT_THAT(store_.get_revision_ids, ElementsAre(7));
  ASSERT_EQ(store_.creates.size(), 1u);
  EXPECT_EQ(store_.creates[0].runs, 9);
  EXPECT_EQ(store_.creates[0].Jobs(plan::JobKind::kTrain), 0);
}

TEST_F(SweepServiceTest, SubmitValidateOnlyStillChecksNamedBaseline) {
  auto result = Service().Submit(BorrowingBaselineFrom(7), /*validate_only=*/true, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store_.get_revision_ids, ElementsAre(7));
  EXPECT_THAT(store_.creates, IsEmpty());
}

// ---------------------------------------------------------------------------
// Extend

TEST_F(SweepServiceTest, ExtendStoresOnlyTheAddedRunsAtTheNextRevision) {
  StoreExample(5, /*revision=*/1);
  const std::string updated = ExampleWithSeed3();
  auto result = Service().Extend(5, updated, /*validate_only=*/false, Alice("ext-1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sweep_id, 5);
  EXPECT_EQ(result->runs_added, 6);
  EXPECT_EQ(result->jobs_added, 7);
  EXPECT_FALSE(result->replayed);

  ASSERT_EQ(store_.finds.size(), 1u);  // replay looked up before planning
  EXPECT_EQ(store_.finds[0].sweep_id, 5);
  EXPECT_EQ(store_.finds[0].spec_yaml, updated);
  EXPECT_EQ(store_.finds[0].ctx.idempotency_key, "ext-1");

  ASSERT_EQ(store_.extends.size(), 1u);
  const auto& call = store_.extends[0];
  EXPECT_EQ(call.sweep_id, 5);
  EXPECT_EQ(call.expected_revision, 1);
  EXPECT_EQ(call.write.runs, 6);
  EXPECT_EQ(call.write.jobs, 7);
  EXPECT_EQ(call.write.Jobs(plan::JobKind::kTrain), 3);
  EXPECT_EQ(call.write.Jobs(plan::JobKind::kPretrain), 1);
  EXPECT_EQ(call.write.Jobs(plan::JobKind::kFinetune), 3);
  EXPECT_FALSE(call.write.run_keys.count("t50/baseline/s0")) << "stored run planned again";
  EXPECT_TRUE(call.write.run_keys.count("t50/baseline/s3"));
  EXPECT_EQ(call.write.spec_yaml, updated);
  EXPECT_EQ(call.write.ctx.principal, "alice");
  EXPECT_EQ(call.write.ctx.idempotency_key, "ext-1");
}

TEST_F(SweepServiceTest, ExtendWithoutIdempotencyKeySkipsReplayLookup) {
  StoreExample(5);
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice(""));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(store_.finds, IsEmpty());
  EXPECT_EQ(store_.extends.size(), 1u);
}

TEST_F(SweepServiceTest, ExtendRetriesAfterAbortedAgainstTheNewRevision) {
  StoreExample(5, /*revision=*/1);
  store_.extend_answers = {absl::AbortedError("revision moved on")};
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->runs_added, 6);
  EXPECT_EQ(result->jobs_added, 7);
  EXPECT_EQ(store_.get_revision_ids.size(), 2u) << "must re-read the revision before retrying";
  ASSERT_EQ(store_.extends.size(), 2u);
  EXPECT_EQ(store_.extends[0].expected_revision, 1);
  EXPECT_EQ(store_.extends[1].expected_revision, 2);
  EXPECT_EQ(store_.finds.size(), 1u);  // the replay lookup is not repeated
}

TEST_F(SweepServiceTest, ExtendGivesUpAfterExtendAttemptsAborts) {
  for (int attempts : {1, 3, 5}) {
    SCOPED_TRACE(absl::StrCat("extend_attempts ", attempts));
    store_ = FakeSweepStore();
    StoreExample(5);
    for (int i = 0; i < 10; ++i) store_.extend_answers.push_back(absl::AbortedError("lost race"));
    auto result = Service(attempts).Extend(5, ExampleWithSeed3(), false, Alice());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status(), absl::AbortedError("lost race"));
    EXPECT_EQ(store_.extends.size(), static_cast<size_t>(attempts));
    EXPECT_EQ(store_.get_revision_ids.size(), static_cast<size_t>(attempts));
  }
}

// BUG: with extend_attempts <= 0 the retry loop never runs and Extend
// returns its default-constructed (OK) `last_error` as a StatusOr, which
// Debian's abseil treats as fatal ("An OK status is not a valid constructor
// argument to StatusOr<T>"): the process aborts. Run in a child process so
// the crash fails only this test.
using SweepServiceDeathTest = SweepServiceTest;
TEST_F(SweepServiceDeathTest, ExtendWithZeroAttemptsDoesNotCrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StoreExample(5);
  EXPECT_EXIT(
      {
        auto result = Service(/*extend_attempts=*/0).Extend(5, ExampleWithSeed3(), false, Alice());
        // Either one attempt is made (it succeeds against the fake) or a clear
        // error; never an OK-status-as-StatusOr crash.
        std::exit(result.ok() || result.status().code() != absl::StatusCode::kInternal ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(SweepServiceTest, ExtendDoesNotRetryOtherStoreErrors) {
  StoreExample(5);
  store_.extend_answers = {absl::UnavailableError("commit outcome unknown")};
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), absl::UnavailableError("commit outcome unknown"));
  EXPECT_EQ(store_.extends.size(), 1u);
  EXPECT_EQ(store_.get_revision_ids.size(), 1u);
}

TEST_F(SweepServiceTest, ExtendCancelledSweepIsFailedPrecondition) {
  StoreExample(5, 1, SweepState::kCancelled);
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("cancelled"));
  EXPECT_THAT(store_.extends, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendReplaysAStoredExtensionWithoutPlanningOrWriting) {
  StoreExample(5);
  store_.find_extension_answer = std::optional<ExtendSweepResult>(
      ExtendSweepResult{.runs_added = 6, .jobs_added = 7, .replayed = true});
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice("ext-1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->replayed);
  EXPECT_EQ(result->sweep_id, 5);
  EXPECT_EQ(result->runs_added, 6);
  EXPECT_EQ(result->jobs_added, 7);
  EXPECT_EQ(store_.finds.size(), 1u);
  EXPECT_THAT(store_.get_revision_ids, IsEmpty()) << "a replay must not plan again";
  EXPECT_THAT(store_.extends, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendReplayLookupErrorPassesThrough) {
  StoreExample(5);
  store_.find_extension_answer = absl::UnavailableError("db down");
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), absl::UnavailableError("db down"));
  EXPECT_THAT(store_.extends, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendValidateOnlyPlansButWritesNothing) {
  StoreExample(5);
  auto result = Service().Extend(5, ExampleWithSeed3(), /*validate_only=*/true, Alice("ext-1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->runs_added, 6);
  EXPECT_EQ(result->jobs_added, 7);
  EXPECT_FALSE(result->replayed);
  EXPECT_THAT(store_.extends, IsEmpty());
  EXPECT_THAT(store_.creates, IsEmpty());
  EXPECT_THAT(store_.finds, IsEmpty());
  EXPECT_EQ(store_.revisions[5].revision, 1);
}

// The run quota counts the whole sweep after the extension: 18 stored + 6
// added = 24 runs.
TEST_F(SweepServiceTest, ExtendOverRunLimitIsResourceExhaustedAndWritesNothing) {
  StoreExample(5);
  auto result = Service(/*extend_attempts=*/3, /*max_runs=*/23)
                    .Extend(5, ExampleWithSeed3(), false, Alice("ext-1"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(result.status().message(), HasSubstr("24 runs"));
  EXPECT_THAT(result.status().message(), HasSubstr("the limit of 23 runs per sweep"));
  EXPECT_THAT(store_.extends, IsEmpty());
  EXPECT_THAT(store_.finds, IsEmpty());
  EXPECT_TRUE(Service(3, /*max_runs=*/24).Extend(5, ExampleWithSeed3(), false, Alice()).ok());
}

TEST_F(SweepServiceTest, ExtendRemovingAValueIsInvalidArgument) {
  StoreExample(5);
  const std::string fewer = Replace(kPickDualBottles, "n_tele: [50, 100, 200]", "n_tele: [50, 100]");
  auto result = Service().Extend(5, fewer, false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), AllOf(HasSubstr("n_tele"), HasSubstr("200")));
  EXPECT_THAT(store_.extends, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendWithBadSpecTouchesNoStore) {
  StoreExample(5);
  const std::string bad = Replace(kPickDualBottles, "version: 1\n", "version: 2\n");
  auto result = Service().Extend(5, bad, false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.Calls(), 0);
}

TEST_F(SweepServiceTest, ExtendUnknownSweepIsNotFound) {
  auto result = Service().Extend(99, ExampleWithSeed3(), false, Alice(""));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store_.extends, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendGetRevisionUnavailablePassesThrough) {
  store_.get_revision_error = absl::UnavailableError("db down");
  auto result = Service().Extend(5, ExampleWithSeed3(), false, Alice());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), absl::UnavailableError("db down"));
  EXPECT_THAT(store_.extends, IsEmpty());
}

// ---------------------------------------------------------------------------
// Cancel, Get, List, GetJob, LatestEventId

TEST_F(SweepServiceTest, CancelPassesReasonAndContext) {
  auto result = Service().Cancel(5, "wrong dataset", Alice("c1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->jobs_cancelled, 12);
  EXPECT_EQ(result->jobs_stopping, 2);
  ASSERT_EQ(store_.cancels.size(), 1u);
  EXPECT_EQ(store_.cancels[0].sweep_id, 5);
  EXPECT_EQ(store_.cancels[0].reason, "wrong dataset");
  EXPECT_EQ(store_.cancels[0].ctx.principal, "alice");
  EXPECT_EQ(store_.cancels[0].ctx.idempotency_key, "c1");
}

TEST_F(SweepServiceTest, CancelErrorPassesThrough) {
  store_.cancel_answer = absl::UnavailableError("db down");
  auto result = Service().Cancel(5, "", Alice());
  EXPECT_EQ(result.status(), absl::UnavailableError("db down"));
}

SweepRecord Record(int64_t id) {
  SweepRecord r;
  r.id = id;
  r.name = "pick-dual-bottles-sim";
  r.owner = "alice";
  return r;
}

TEST_F(SweepServiceTest, GetWithoutRunsOrJobsReadsOnlyTheSweep) {
  store_.sweep_answer = Record(5);
  auto detail = Service().Get(5, /*include_runs=*/false, /*include_jobs=*/false);
  ASSERT_TRUE(detail.ok()) << detail.status();
  EXPECT_EQ(detail->sweep.id, 5);
  EXPECT_EQ(detail->sweep.owner, "alice");
  EXPECT_THAT(detail->runs, IsEmpty());
  EXPECT_THAT(detail->jobs, IsEmpty());
  EXPECT_THAT(store_.get_sweep_ids, ElementsAre(5));
  EXPECT_THAT(store_.list_runs_ids, IsEmpty());
  EXPECT_THAT(store_.list_jobs_ids, IsEmpty());
}

TEST_F(SweepServiceTest, GetWithRunsAndJobsReadsAll) {
  store_.sweep_answer = Record(5);
  RunRecord run;
  run.id = 11;
  run.key = "t50/baseline/s0";
  JobRecord a, b;
  a.id = 21;
  b.id = 22;
  store_.runs_answer = std::vector<RunRecord>{run};
  store_.jobs_answer = std::vector<JobRecord>{a, b};
  auto detail = Service().Get(5, true, true);
  ASSERT_TRUE(detail.ok()) << detail.status();
  ASSERT_EQ(detail->runs.size(), 1u);
  EXPECT_EQ(detail->runs[0].key, "t50/baseline/s0");
  ASSERT_EQ(detail->jobs.size(), 2u);
  EXPECT_EQ(detail->jobs[1].id, 22);
  EXPECT_THAT(store_.list_runs_ids, ElementsAre(5));
  EXPECT_THAT(store_.list_jobs_ids, ElementsAre(5));
}

TEST_F(SweepServiceTest, GetRunsOnlyAndJobsOnly) {
  store_.sweep_answer = Record(5);
  ASSERT_TRUE(Service().Get(5, true, false).ok());
  EXPECT_THAT(store_.list_runs_ids, ElementsAre(5));
  EXPECT_THAT(store_.list_jobs_ids, IsEmpty());
  ASSERT_TRUE(Service().Get(5, false, true).ok());
  EXPECT_THAT(store_.list_runs_ids, ElementsAre(5));
  EXPECT_THAT(store_.list_jobs_ids, ElementsAre(5));
}

TEST_F(SweepServiceTest, GetErrorsPassThroughUnchanged) {
  store_.sweep_answer = absl::NotFoundError("no sweep");
  auto missing = Service().Get(5, true, true);
  EXPECT_EQ(missing.status(), absl::NotFoundError("no sweep"));
  EXPECT_THAT(store_.list_runs_ids, IsEmpty());

  store_.sweep_answer = Record(5);
  store_.runs_answer = absl::UnavailableError("runs: db down");
  EXPECT_EQ(Service().Get(5, true, true).status(), absl::UnavailableError("runs: db down"));

  store_.runs_answer = std::vector<RunRecord>{};
  store_.jobs_answer = absl::UnavailableError("jobs: db down");
  EXPECT_EQ(Service().Get(5, true, true).status(), absl::UnavailableError("jobs: db down"));
}

TEST_F(SweepServiceTest, ListPassesTheFilterAndThePage) {
  SweepPage page;
  page.sweeps = {Record(9), Record(8)};
  page.next_before_id = 8;
  store_.page_answer = page;
  SweepFilter filter{.owner = "alice", .task = "pick_dual_bottles",
                     .states = {SweepState::kActive}, .page_size = 2, .before_id = 10};
  auto result = Service().List(filter);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->sweeps.size(), 2u);
  EXPECT_EQ(result->sweeps[0].id, 9);
  EXPECT_EQ(result->next_before_id, 8);
  ASSERT_EQ(store_.list_filters.size(), 1u);
  EXPECT_EQ(store_.list_filters[0].owner, "alice");
  EXPECT_EQ(store_.list_filters[0].task, "pick_dual_bottles");
  EXPECT_THAT(store_.list_filters[0].states, ElementsAre(SweepState::kActive));
  EXPECT_EQ(store_.list_filters[0].page_size, 2);
  EXPECT_EQ(store_.list_filters[0].before_id, 10);

  store_.page_answer = absl::UnavailableError("db down");
  EXPECT_EQ(Service().List({}).status(), absl::UnavailableError("db down"));
}

TEST_F(SweepServiceTest, GetJobAndLatestEventIdPassThrough) {
  JobRecord job;
  job.id = 31;
  job.key = "train/teleop/n50/s0";
  store_.job_answer = job;
  auto got = Service().GetJob(31);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->key, "train/teleop/n50/s0");
  EXPECT_THAT(store_.get_job_ids, ElementsAre(31));

  store_.job_answer = absl::UnavailableError("db down");
  EXPECT_EQ(Service().GetJob(31).status(), absl::UnavailableError("db down"));

  store_.event_answer = int64_t{1234};
  auto marker = Service().LatestEventId(5);
  ASSERT_TRUE(marker.ok());
  EXPECT_EQ(*marker, 1234);
  EXPECT_THAT(store_.event_ids, ElementsAre(5));
}

TEST_F(SweepServiceTest, StoredSpecIgnoresTheCurrentRunLimit) {
  // A spec stored under a higher limit must still parse after it is lowered.
  auto spec = Service(3, /*max_runs=*/1).StoredSpec(Example());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "pick-dual-bottles-sim");

  auto broken = Service().StoredSpec("version: 1\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInternal);
}


// ---------------------------------------------------------------------------
// Ownership: a researcher changes only their own sweeps; an admin any.

TEST_F(SweepServiceTest, CancelOfAnotherPrincipalsSweepIsPermissionDeniedAndWritesNothing) {
  auto result = Service().Cancel(5, "not mine", {.principal = "bob", .idempotency_key = "c1"});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("belongs to alice"));
  EXPECT_THAT(store_.cancels, IsEmpty());
}

TEST_F(SweepServiceTest, ExtendOfAnotherPrincipalsSweepIsPermissionDeniedAndWritesNothing) {
  StoreExample(5);
  auto result = Service().Extend(5, ExampleWithSeed3(), false, {.principal = "bob"});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(store_.extends, IsEmpty());
  EXPECT_THAT(store_.get_revision_ids, IsEmpty());
}

TEST_F(SweepServiceTest, AnAdminMayCancelAnotherPrincipalsSweep) {
  auto result = Service().Cancel(
      5, "lab shutdown", {.principal = "root", .idempotency_key = "c1", .acts_for_anyone = true});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(store_.cancels.size(), 1u);
  EXPECT_EQ(store_.cancels[0].ctx.principal, "root");
}

TEST_F(SweepServiceTest, CancelOfAnUnknownSweepIsNotFound) {
  store_.sweep_answer = absl::NotFoundError("no sweep 9");
  auto result = Service().Cancel(9, "", Alice());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(store_.cancels, IsEmpty());
}

}  // namespace
}  // namespace mixsweep::scheduler
