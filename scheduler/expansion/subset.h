// Deterministic demo subsets: which N episodes of a dataset a job trains on.
//
// The subset is the first N entries of a permutation of [0, episodes) that
// depends only on (dataset uri, content hash, seed), then sorted. So it is
// reproducible anywhere (the algorithm, "mixsweep-subset-v1", is specified in
// docs/expansion.md, with a Python reference), and nested: for one dataset
// and seed, the 50-demo subset is inside the 100-demo subset, which keeps the
// points of one curve comparable.
//
// Example:
//   auto m = plan::ChooseSubset(dataset, /*n=*/50, /*seed=*/0);
//   // m.episodes: 50 sorted indices in [0, dataset.episodes)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scheduler/expansion/sweep_plan.h"
#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::plan {

// Requires 0 <= n <= dataset.episodes (the validator enforces it); an n out
// of that range is clamped to it, so the function is total.
SubsetManifest ChooseSubset(const spec::Dataset& dataset, int64_t n,
                            int64_t seed);

// The manifest as the JSON file a template reads through {subset_manifest}:
// {"dataset": ..., "content_hash": ..., "n": ..., "seed": ...,
//  "algorithm": "mixsweep-subset-v1", "episodes": [...]}
std::string SubsetManifestJson(const SubsetManifest& manifest);

// 64-bit FNV-1a of `bytes`: a hash that is the same on every platform and
// build (unlike std::hash), for identities that are stored or shared.
uint64_t Fnv1a64(std::string_view bytes);

}  // namespace mixsweep::plan
