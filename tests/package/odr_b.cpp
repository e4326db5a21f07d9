#include <r2plus1d/r2plus1d.hpp>

r2plus1d::index_t odr_b_parameters() {
  r2plus1d::SpatioTemporalConv<float> c(4, 8, 3);
  return c.num_parameters();
}
