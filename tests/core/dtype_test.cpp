#include <gtest/gtest.h>

#include <r2plus1d/core/dtype.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

namespace r2plus1d {
namespace {

TEST(DType, HalfRoundTripsEveryFiniteValue) {
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    if ((bits & 0x7c00u) == 0x7c00u && (bits & 0x3ffu) != 0) continue;  // NaN payloads
    EXPECT_EQ(float_to_half(half_to_float(bits)), bits) << std::hex << h;
  }
}

TEST(DType, HalfKnownValuesAndRounding) {
  EXPECT_EQ(half_to_float(0x3c00u), 1.0f);
  EXPECT_EQ(half_to_float(0xc000u), -2.0f);
  EXPECT_EQ(half_to_float(0x0001u), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7bffu), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(0x7c00u)));
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00u);       // tie -> even
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02u);   // tie -> even (up)
  EXPECT_EQ(float_to_half(1e6f), 0x7c00u);                               // overflow -> inf
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, BFloat16) {
  EXPECT_EQ(bf16_to_float(0x3f80u), 1.0f);
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80u);
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80u);  // halfway between 1 and 1+2^-7 -> even
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3f82u);  // halfway between 1+2^-7 and 1+2^-6 -> even
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, ConvertElements) {
  const std::uint16_t halves[3] = {0x3c00u, 0xc000u, 0x3800u};
  double out[3];
  convert_elements(halves, DType::F16, out, DType::F64, 3);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[1], -2.0);
  EXPECT_EQ(out[2], 0.5);
  const double d[2] = {0.1, -3.0};
  float f[2];
  convert_elements(d, DType::F64, f, DType::F32, 2);
  EXPECT_EQ(f[0], 0.1f);
  const std::int32_t i32[1] = {7};
  std::int64_t i64[1];
  convert_elements(i32, DType::I32, i64, DType::I64, 1);
  EXPECT_EQ(i64[0], 7);
  EXPECT_THROW(convert_elements(i32, DType::I32, f, DType::F32, 1), DTypeError);
  EXPECT_THROW(convert_elements(d, DType::F64, i64, DType::I64, 1), DTypeError);
}

TEST(DType, TensorRefChecksTheRequestedType) {
  float x = 1.0f;
  TensorRef r{DType::F32, &x, {1}};
  EXPECT_EQ(r.data_as<float>(), &x);
  EXPECT_THROW(r.data_as<double>(), DTypeError);
  EXPECT_EQ(r.nbytes(), 4u);
}

}  // namespace
}  // namespace r2plus1d
