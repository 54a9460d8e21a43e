// Random numbers whose every output is specified, so bootstrap intervals are
// the same on every platform, compiler and standard library.
//
// std::mt19937_64 is specified but std::uniform_int_distribution is not
// (each library maps engine output to a range its own way), so the engine
// uses SplitMix64 (Steele, Lea and Flood 2014; the reference is 10 lines of
// C, reproduced in docs/utilization.md) and does its own bounded draws.
//
// Example:
//   SplitMix64 rng(Fnv1a64("some stable key"));
//   uint64_t i = rng.Below(10);    // uniform in [0, 10), no modulo bias
//   double u = rng.UnitDouble();   // uniform in [0, 1), 53 random bits
#pragma once

#include <cstdint>
#include <string_view>

namespace mixsweep::utilization {

// 64-bit FNV-1a of `bytes` (offset basis 0xcbf29ce484222325, prime
// 0x100000001b3): a hash that is the same on every platform, for seeds.
uint64_t Fnv1a64(std::string_view bytes);

// SplitMix64: state += 0x9e3779b97f4a7c15, then the Stafford "mix13"
// finaliser. Passes BigCrush; one 64-bit word of state, cheap to seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  // The next 64 random bits.
  uint64_t Next();

  // Uniform in [0, bound) (0 for bound <= 1, consuming nothing), by
  // Lemire's multiply-shift with rejection: floor(x * bound / 2^64) for the
  // first x whose low product word is >= 2^64 mod bound. Unbiased, fully
  // specified, and without a division on the common path.
  uint64_t Below(uint64_t bound);

  // Uniform in [0, 1): the top 53 bits of Next() times 2^-53.
  double UnitDouble();

 private:
  uint64_t state_;
};

}  // namespace mixsweep::utilization
