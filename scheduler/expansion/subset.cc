// mixsweep-subset-v1: see docs/expansion.md for the specification and a
// Python reference implementation that this file must agree with bit for bit.
#include "scheduler/expansion/subset.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "nlohmann/json.hpp"

namespace mixsweep::plan {
namespace {

constexpr char kAlgorithm[] = "mixsweep-subset-v1";

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fully specified, and easy to
// reimplement exactly in any language, which matters more here than speed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, range), range >= 1. Lemire's multiply-shift: the high
  // word of Next() * range, redrawing while the low word is below
  // 2^64 mod range (the threshold is only computed when it can matter; that
  // does not change which draws are rejected).
  uint64_t Bounded(uint64_t range) {
    unsigned __int128 product = static_cast<unsigned __int128>(Next()) * range;
    auto low = static_cast<uint64_t>(product);
    if (low < range) {
      const uint64_t threshold = (0 - range) % range;  // 2^64 mod range
      while (low < threshold) {
        product = static_cast<unsigned __int128>(Next()) * range;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

 private:
  uint64_t state_;
};

uint64_t SubsetSeed(const spec::Dataset& dataset, int64_t seed) {
  std::string bytes = kAlgorithm;
  bytes += '\0';
  bytes += dataset.uri;
  bytes += '\0';
  bytes += dataset.content_hash;
  bytes += '\0';
  bytes += std::to_string(seed);
  return Fnv1a64(bytes);
}

// The virtual array [0, episodes) of the shuffle, storing only the positions
// a swap has changed: O(n) memory when n is far below the dataset size.
class SparsePositions {
 public:
  explicit SparsePositions(int64_t swaps) {
    moved_.reserve(static_cast<size_t>(swaps));
  }
  int64_t Get(int64_t position) const {
    auto it = moved_.find(position);
    return it == moved_.end() ? position : it->second;
  }
  void Set(int64_t position, int64_t value) { moved_[position] = value; }

 private:
  std::unordered_map<int64_t, int64_t> moved_;
};

// The same array stored in full: cheaper once n is a sizeable fraction of
// the dataset. Both give identical results.
class DensePositions {
 public:
  explicit DensePositions(int64_t episodes)
      : values_(static_cast<size_t>(episodes)) {
    std::iota(values_.begin(), values_.end(), int64_t{0});
  }
  int64_t Get(int64_t position) const {
    return values_[static_cast<size_t>(position)];
  }
  void Set(int64_t position, int64_t value) {
    values_[static_cast<size_t>(position)] = value;
  }

 private:
  std::vector<int64_t> values_;
};

// Forward partial Fisher-Yates: step i swaps position i with a uniform j in
// [i, episodes) and emits the value that lands at i. The first n values do
// not depend on n, which is what makes subsets nested. Position i is never
// read again, so only position j needs writing.
template <typename Positions>
std::vector<int64_t> FirstOfPermutation(Positions positions, int64_t episodes,
                                        int64_t n, SplitMix64& rng) {
  std::vector<int64_t> picked;
  picked.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const auto range = static_cast<uint64_t>(episodes - i);
    const int64_t j = i + static_cast<int64_t>(rng.Bounded(range));
    picked.push_back(positions.Get(j));
    positions.Set(j, positions.Get(i));
  }
  return picked;
}

// Both stores draw the same numbers. A hash-map entry costs ~50 bytes and
// an allocation, an array slot 8 bytes and a plain write: the array is
// faster (3x on a 10,000-run sweep) until the dataset is ~64x the draws, and
// up to there its memory stays within 64x the subset's own.
bool UseDenseArray(int64_t count, int64_t episodes) {
  return count >= episodes / 64;
}

}  // namespace

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001B3ULL;
  }
  return hash;
}

SubsetManifest ChooseSubset(const spec::Dataset& dataset, int64_t n,
                            int64_t seed) {
  const int64_t episodes = std::max<int64_t>(dataset.episodes, 0);
  const int64_t count = std::clamp<int64_t>(n, 0, episodes);
  SubsetManifest manifest{.dataset_uri = dataset.uri,
                          .dataset_hash = dataset.content_hash,
                          .n = count,
                          .seed = seed,
                          .episodes = {}};
  SplitMix64 rng(SubsetSeed(dataset, seed));
  manifest.episodes =
      UseDenseArray(count, episodes)
          ? FirstOfPermutation(DensePositions(episodes), episodes, count, rng)
          : FirstOfPermutation(SparsePositions(count), episodes, count, rng);
  std::sort(manifest.episodes.begin(), manifest.episodes.end());
  return manifest;
}

std::string SubsetManifestJson(const SubsetManifest& manifest) {
  // ordered_json keeps the documented key order, so files diff cleanly.
  nlohmann::ordered_json json;
  json["dataset"] = manifest.dataset_uri;
  json["content_hash"] = manifest.dataset_hash;
  json["n"] = manifest.n;
  json["seed"] = manifest.seed;
  json["algorithm"] = kAlgorithm;
  json["episodes"] = manifest.episodes;
  return json.dump();
}

}  // namespace mixsweep::plan
