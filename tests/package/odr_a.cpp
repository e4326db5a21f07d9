// Two translation units include the umbrella header and link into one test.
#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

r2plus1d::index_t odr_b_parameters();

TEST(Odr, TwoTranslationUnitsLink) {
  r2plus1d::SpatioTemporalConv<float> c(4, 8, 3);
  EXPECT_EQ(c.num_parameters(), odr_b_parameters());
}
