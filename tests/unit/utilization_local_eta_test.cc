// Local eta (seed 000, section 3.4) against Tables 1 and 2 of seed 000, and
// every undefined case.
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/utilization/aggregate.h"
#include "scheduler/utilization/local_eta.h"
#include "scheduler/utilization/measurements.h"

namespace mixsweep::utilization {
namespace {

// One cell of Tables 1 and 2: the S values as printed, N_t* the task's
// largest teleop count (section 4.1: Pick Dual Bottles 50/100/200, Hand
// Over Block 50/100/200/300, Rank RGB Blocks 100/300/500) and N_nt the
// pretraining size (section 4.1: 1000 simulation, 500 human video).
struct PaperCell {
  std::string name;
  double s_t;
  double s_mix;
  int64_t n_t_star;
  int64_t n_nt;
  double printed_eta;
};

// seeds/000_22d8792096a27d7d.txt, Table 1 (lines 130-135: teleop S, +sim S,
// eta_local per task, in-domain then unseen background) and Table 2 (lines
// 172-177: teleop S, +human video S, eta_local, in-domain then unseen
// position).
const std::vector<PaperCell>& PaperCells() {
  static const auto* cells = new std::vector<PaperCell>{
      // Table 1, simulation, N_nt = 1000.
      {"T1 Pick Dual Bottles in-domain", 0.70, 0.55, 200, 1000, -23},
      {"T1 Pick Dual Bottles unseen background", 0.20, 0.30, 200, 1000, 16},
      {"T1 Hand Over Block in-domain", 0.70, 0.60, 300, 1000, -23},
      {"T1 Hand Over Block unseen background", 0.50, 0.65, 300, 1000, 11},
      {"T1 Rank RGB Blocks in-domain", 0.45, 0.50, 500, 1000, 18},
      {"T1 Rank RGB Blocks unseen background", 0.13, 0.20, 500, 1000, 4},
      // Table 2, human video, N_nt = 500.
      {"T2 Pick Dual Bottles in-domain", 0.70, 0.45, 200, 500, -7},
      {"T2 Pick Dual Bottles unseen position", 0.25, 0.30, 200, 500, 12},
      {"T2 Hand Over Block in-domain", 0.70, 0.50, 300, 500, -6},
      {"T2 Hand Over Block unseen position", 0.25, 0.30, 300, 500, 8},
      {"T2 Rank RGB Blocks in-domain", 0.45, 0.25, 500, 500, -2},
      {"T2 Rank RGB Blocks unseen position", 0.17, 0.13, 500, 500, -4},
  };
  return *cells;
}

// "Within 0.5" with a tolerance for rounding: 12.5 is 12.500000000000004.
constexpr double kPrintedTolerance = 0.5 + 1e-9;

TEST(UtilizationLocalEtaTest, ElevenOfTwelvePaperCellsWithinHalf) {
  int within = 0;
  std::vector<std::string> outside;
  for (const PaperCell& c : PaperCells()) {
    const LocalEta e = ComputeLocalEta(c.s_t, c.s_mix, c.n_t_star, c.n_nt);
    ASSERT_TRUE(e.eta.defined()) << c.name;
    if (std::abs(e.eta.value - c.printed_eta) <= kPrintedTolerance) {
      ++within;
    } else {
      outside.push_back(c.name);
    }
  }
  EXPECT_EQ(within, 11);
  EXPECT_THAT(outside,
              ::testing::ElementsAre("T1 Pick Dual Bottles unseen background"));
}

TEST(UtilizationLocalEtaTest, PaperCellValues) {
  const std::vector<double> expected{-70.0 / 3, 10,       -70.0 / 3, 100.0 / 9,
                                     18,        26.0 / 7, -7,        12.5,
                                     -35.0 / 6, 25.0 / 3, -2.25,     -4.25};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const PaperCell& c = PaperCells()[i];
    EXPECT_NEAR(ComputeLocalEta(c.s_t, c.s_mix, c.n_t_star, c.n_nt).eta.value,
                expected[i], 1e-9)
        << c.name;
  }
}

// The paper prints 16 for this cell; its own S values give 10 (SPEC.md).
TEST(UtilizationLocalEtaTest, PickDualBottlesUnseenBackgroundIsTen) {
  const LocalEta e = ComputeLocalEta(0.20, 0.30, 200, 1000);
  EXPECT_NEAR(e.eta.value, 10.0, 1e-12);
  EXPECT_DOUBLE_EQ(e.gamma_t, 0.001);
  EXPECT_NEAR(e.gamma_nt, 0.0001, 1e-18);
  EXPECT_NEAR(*e.inverse, 0.1, 1e-15);
}

TEST(UtilizationLocalEtaTest, NoMeasurableEffectNeverDivides) {
  const LocalEta e = ComputeLocalEta(0.4, 0.4, 100, 1000);
  EXPECT_EQ(e.eta.status, EtaStatus::kNoMeasurableEffect);
  EXPECT_EQ(e.eta.value, 0.0);
  EXPECT_EQ(e.gamma_nt, 0.0);
  ASSERT_TRUE(e.inverse.has_value());
  EXPECT_EQ(*e.inverse, 0.0);  // 1/eta is defined: the bootstrap can use it
}

TEST(UtilizationLocalEtaTest, ZeroBaselineIsNamedNotZero) {
  const LocalEta e = ComputeLocalEta(0.0, 0.3, 100, 1000);
  EXPECT_EQ(e.eta.status, EtaStatus::kZeroBaseline);
  EXPECT_FALSE(e.inverse.has_value());
  // Both zero: the zero baseline is what makes it meaningless.
  EXPECT_EQ(ComputeLocalEta(0.0, 0.0, 100, 1000).eta.status,
            EtaStatus::kZeroBaseline);
  EXPECT_FALSE(LocalInverseEta(0.0, 0.3, 100, 1000).has_value());
}

Curve CurveOf(const std::vector<GivenScore>& given) {
  Measurements m;
  m.given = given;
  return *BuildCurve(m);
}

GivenScore G(int64_t n_tele, int64_t n_nt, double s) {
  return {.run = {.n_tele = n_tele, .n_nt = n_nt, .seed = 0}, .s = s};
}

TEST(UtilizationLocalEtaTest, OperatingPointIsLargestNTeleWithBoth) {
  // 400 has no mixed result, 300 no baseline: 200 is the largest with both.
  const Curve c =
      CurveOf({G(100, 0, 0.2), G(200, 0, 0.3), G(400, 0, 0.5),
               G(100, 1000, 0.3), G(200, 1000, 0.4), G(300, 500, 0.4)});
  EXPECT_EQ(ChooseOperatingPoint(c, 0), 200);
  EXPECT_EQ(ChooseOperatingPoint(c, 100), 100);  // requested wins
  EXPECT_EQ(ChooseOperatingPoint(CurveOf({G(100, 0, 0.2)}), 0), 0);
}

TEST(UtilizationLocalEtaTest, MissingPointsAreNoData) {
  const Curve c = CurveOf(
      {G(100, 0, 0.2), G(200, 0, 0.3), G(200, 1000, 0.4), G(100, 500, 0.25)});
  const std::vector<LocalEta> at200 = ComputeLocalEtas(c, 200);
  ASSERT_EQ(at200.size(), 2u);  // one per mixed n_nt: 500, 1000
  EXPECT_EQ(at200[0].n_nt, 500);
  EXPECT_EQ(at200[0].eta.status, EtaStatus::kNoData);
  EXPECT_EQ(at200[1].n_nt, 1000);
  EXPECT_TRUE(at200[1].eta.defined());
  // A requested N_t* without a baseline: all NO_DATA.
  for (const LocalEta& e : ComputeLocalEtas(c, 300)) {
    EXPECT_EQ(e.eta.status, EtaStatus::kNoData);
  }
  // No N_t* at all.
  for (const LocalEta& e : ComputeLocalEtas(c, 0)) {
    EXPECT_EQ(e.eta.status, EtaStatus::kNoData);
  }
}

}  // namespace
}  // namespace mixsweep::utilization
