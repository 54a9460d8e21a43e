// Deterministic demo subsets, "mixsweep-subset-v1" (docs/expansion.md).
#include "scheduler/expansion/subset.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace mixsweep::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::SizeIs;

spec::Dataset Teleop() {
  return {.uri = "s3://lab/pick_dual_bottles/teleop",
          .content_hash = "sha256:9f2c",
          .episodes = 200};
}

spec::Dataset Sim() {
  return {.uri = "s3://lab/pick_dual_bottles/sim",
          .content_hash = "",
          .episodes = 5000};
}

bool IsSubsetOf(const std::vector<int64_t>& small,
                const std::vector<int64_t>& large) {
  return std::includes(large.begin(), large.end(), small.begin(), small.end());
}

TEST(Fnv1a64Test, MatchesPublishedVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

// The golden subsets below come from the Python reference implementation in
// docs/expansion.md (run with CPython 3.11); the C++ must match it exactly.
TEST(ChooseSubsetTest, MatchesPythonReferenceOnSmallDraws) {
  EXPECT_THAT(ChooseSubset(Teleop(), 10, 0).episodes,
              ElementsAre(17, 27, 57, 60, 63, 83, 88, 99, 163, 164));
  EXPECT_THAT(ChooseSubset(Teleop(), 10, 1).episodes,
              ElementsAre(10, 25, 47, 57, 97, 98, 106, 142, 179, 198));
  EXPECT_THAT(ChooseSubset(Teleop(), 3, 0).episodes, ElementsAre(17, 27, 57));
  EXPECT_THAT(ChooseSubset(Teleop(), 1, 0).episodes, ElementsAre(27));
  EXPECT_THAT(ChooseSubset(Sim(), 12, 2).episodes,
              ElementsAre(849, 878, 1364, 1674, 2169, 2330, 2588, 2606, 3109,
                          3146, 3535, 3937));
}

TEST(ChooseSubsetTest, MatchesPythonReferenceOnLargeDraws) {
  // Both paths: 60 of 200 uses the array, 2000 of 5000 too; 12 of 5000 and
  // 1 of 200 above use the hash map.
  EXPECT_THAT(ChooseSubset(Teleop(), 60, 0).episodes,
              ElementsAre(2, 5, 7, 11, 17, 20, 21, 25, 27, 32, 33, 39, 41, 42,
                          46, 49, 50, 51, 57, 60, 63, 64, 66, 74, 75, 77, 83,
                          86, 88, 97, 98, 99, 115, 118, 125, 126, 129, 136, 140,
                          142, 145, 147, 150, 155, 158, 163, 164, 167, 168, 170,
                          179, 181, 183, 185, 186, 188, 190, 192, 196, 198));
  const std::vector<int64_t> big = ChooseSubset(Sim(), 2000, 0).episodes;
  ASSERT_THAT(big, SizeIs(2000));
  EXPECT_THAT(std::vector<int64_t>(big.begin(), big.begin() + 5),
              ElementsAre(0, 6, 7, 9, 10));
  EXPECT_THAT(std::vector<int64_t>(big.end() - 5, big.end()),
              ElementsAre(4994, 4995, 4996, 4997, 4998));
  EXPECT_EQ(std::accumulate(big.begin(), big.end(), int64_t{0}), 5047823);
}

TEST(ChooseSubsetTest, MatchesPythonReferenceOnExtremeInputs) {
  const spec::Dataset huge = {
      .uri = "s3://lab/big", .content_hash = "h", .episodes = 1'000'000};
  EXPECT_THAT(
      ChooseSubset(huge, 8, std::numeric_limits<int64_t>::max()).episodes,
      ElementsAre(192564, 281533, 449446, 566369, 603100, 646451, 854417,
                  866396));
  // The URI's bytes are hashed as given (UTF-8 here). Array path.
  const spec::Dataset utf8 = {.uri = "s3://lab/donn\xc3\xa9\x65s/\xc3\xa9",
                              .content_hash = "",
                              .episodes = 100};
  EXPECT_THAT(ChooseSubset(utf8, 5, 5).episodes, ElementsAre(0, 1, 38, 67, 88));
}

TEST(ChooseSubsetTest, RecordsItsInputs) {
  const SubsetManifest manifest = ChooseSubset(Teleop(), 10, 4);
  EXPECT_EQ(manifest.dataset_uri, Teleop().uri);
  EXPECT_EQ(manifest.dataset_hash, Teleop().content_hash);
  EXPECT_EQ(manifest.n, 10);
  EXPECT_EQ(manifest.seed, 4);
}

TEST(ChooseSubsetTest, IsSortedUniqueAndInRange) {
  for (int64_t seed = 0; seed < 20; ++seed) {
    for (int64_t n : {0, 1, 7, 49, 50, 51, 150, 199, 200}) {
      const std::vector<int64_t> episodes =
          ChooseSubset(Teleop(), n, seed).episodes;
      ASSERT_THAT(episodes, SizeIs(n));
      EXPECT_TRUE(std::is_sorted(episodes.begin(), episodes.end()));
      EXPECT_EQ(std::adjacent_find(episodes.begin(), episodes.end()),
                episodes.end());
      if (n > 0) {
        EXPECT_GE(episodes.front(), 0);
        EXPECT_LT(episodes.back(), 200);
      }
    }
  }
}

TEST(ChooseSubsetTest, IsNestedAcrossSparseAndDensePaths) {
  // Below 1/64 of the dataset the shuffle keeps a hash map, above it an
  // array (5000 episodes: from n = 78): both must draw the same permutation.
  for (int64_t seed = 0; seed < 10; ++seed) {
    std::vector<int64_t> previous;
    for (int64_t n : {1, 10, 77, 78, 100, 1000, 5000}) {
      std::vector<int64_t> current = ChooseSubset(Sim(), n, seed).episodes;
      EXPECT_TRUE(IsSubsetOf(previous, current))
          << "seed " << seed << " n " << n;
      previous = std::move(current);
    }
  }
}

TEST(ChooseSubsetTest, AllEpisodesWhenNIsTheDatasetSize) {
  std::vector<int64_t> all(200);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_THAT(ChooseSubset(Teleop(), 200, 3).episodes, ElementsAreArray(all));
}

TEST(ChooseSubsetTest, OutOfRangeNIsClamped) {
  EXPECT_THAT(ChooseSubset(Teleop(), 0, 0).episodes, IsEmpty());
  EXPECT_THAT(ChooseSubset(Teleop(), -5, 0).episodes, IsEmpty());
  const SubsetManifest over = ChooseSubset(Teleop(), 300, 0);
  EXPECT_THAT(over.episodes, SizeIs(200));
  EXPECT_EQ(over.n, 200);
  EXPECT_THAT(
      ChooseSubset({.uri = "u", .content_hash = "", .episodes = 0}, 5, 0)
          .episodes,
      IsEmpty());
}

TEST(ChooseSubsetTest, DependsOnUriHashAndSeed) {
  const std::vector<int64_t> base = ChooseSubset(Teleop(), 20, 0).episodes;
  spec::Dataset other_uri = Teleop();
  other_uri.uri += "2";
  spec::Dataset other_hash = Teleop();
  other_hash.content_hash = "sha256:9f2d";
  EXPECT_NE(ChooseSubset(other_uri, 20, 0).episodes, base);
  EXPECT_NE(ChooseSubset(other_hash, 20, 0).episodes, base);
  EXPECT_NE(ChooseSubset(Teleop(), 20, 1).episodes, base);
  EXPECT_EQ(ChooseSubset(Teleop(), 20, 0).episodes, base);
}

TEST(ChooseSubsetTest, SingleDrawsAreRoughlyUniform) {
  // 4,000 seeds each choose 1 of 8 episodes: about 500 per episode; a
  // biased draw (plain modulo of a skewed generator) would stand out.
  std::vector<int> counts(8, 0);
  const spec::Dataset eight = {.uri = "u", .content_hash = "", .episodes = 8};
  for (int64_t seed = 0; seed < 4000; ++seed) {
    ++counts[static_cast<size_t>(ChooseSubset(eight, 1, seed).episodes[0])];
  }
  for (int count : counts) {
    EXPECT_GT(count, 420);
    EXPECT_LT(count, 580);
  }
}

TEST(SubsetManifestJsonTest, WritesDocumentedKeysInOrder) {
  const SubsetManifest manifest = ChooseSubset(Teleop(), 3, 0);
  EXPECT_EQ(SubsetManifestJson(manifest),
            R"({"dataset":"s3://lab/pick_dual_bottles/teleop",)"
            R"("content_hash":"sha256:9f2c","n":3,"seed":0,)"
            R"("algorithm":"mixsweep-subset-v1","episodes":[17,27,57]})");
}

TEST(SubsetManifestJsonTest, EscapesAndRoundTrips) {
  SubsetManifest manifest{.dataset_uri = "file:///data/\"quoted\"\\dir",
                          .dataset_hash = "",
                          .n = 0,
                          .seed = std::numeric_limits<int64_t>::max(),
                          .episodes = {}};
  const nlohmann::json json =
      nlohmann::json::parse(SubsetManifestJson(manifest));
  EXPECT_EQ(json["dataset"], manifest.dataset_uri);
  EXPECT_EQ(json["seed"].get<int64_t>(), manifest.seed);
  EXPECT_TRUE(json["episodes"].is_array());
  EXPECT_TRUE(json["episodes"].empty());
}

}  // namespace
}  // namespace mixsweep::plan
