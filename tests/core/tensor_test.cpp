#include <gtest/gtest.h>

#include <r2plus1d/core/tensor.hpp>

#include <cstdint>

namespace r2plus1d {
namespace {

TEST(Tensor, ZeroFilledRowMajorAndAligned) {
  Tensor<float, 3> t({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.shape(), (Shape<3>{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape<3>{12, 4, 1}));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % kTensorAlignment, 0u);
  for (index_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data()[i], 0.0f);
  t(1, 2, 3) = 5.0f;
  EXPECT_EQ(t.data()[1 * 12 + 2 * 4 + 3], 5.0f);
}

TEST(Tensor, ViewsShareStorageAndSliceTheFirstDimension) {
  Tensor<double, 2> t({3, 2}, 1.5);
  TensorView<double, 2> v = t.view();
  v(2, 1) = 7.0;
  EXPECT_EQ(t(2, 1), 7.0);
  TensorView<const double, 1> row = t.cview()[2];
  EXPECT_EQ(row.size(0), 2);
  EXPECT_EQ(row(1), 7.0);
  EXPECT_EQ(row.data(), t.data() + 4);
}

TEST(Tensor, CopyIsDeepMoveIsCheap) {
  Tensor<float, 1> a({4}, 2.0f);
  Tensor<float, 1> b = a;
  b(0) = 3.0f;
  EXPECT_EQ(a(0), 2.0f);
  const float* p = b.data();
  Tensor<float, 1> c = std::move(b);
  EXPECT_EQ(c.data(), p);
}

TEST(Tensor, ReshapeKeepsStorageAndChecksNumel) {
  Tensor<float, 2> a({2, 6}, 1.0f);
  const float* p = a.data();
  Tensor<float, 3> b = std::move(a).reshape<3>({2, 3, 2});
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.shape(), (Shape<3>{2, 3, 2}));
  EXPECT_THROW((std::move(b).reshape<1>({5})), ShapeError);
  Tensor<float, 2> c({2, 2});
  EXPECT_THROW(c.view().reshaped<1>({3}), ShapeError);
}

TEST(Tensor, RankZeroHoldsOneElement) {
  Tensor<std::int64_t, 0> t;
  EXPECT_EQ(t.numel(), 1);
  t() = 3;
  EXPECT_EQ(t(), 3);
}

TEST(Tensor, NegativeSizeIsAShapeError) { EXPECT_THROW((Tensor<float, 2>({2, -1})), ShapeError); }

TEST(Tensor, ZeroSizeDimensionsAreEmpty) {
  Tensor<float, 5> t({0, 3, 4, 4, 4});
  EXPECT_EQ(t.numel(), 0);
}

TEST(Shape, Formatting) {
  EXPECT_EQ(format_shape<4>({1, 3, 16, 112}), "[1, 3, 16, 112]");
  EXPECT_EQ(format_shape(std::vector<index_t>{}), "[]");
  EXPECT_EQ(format_triple(Triple{1, 7, 7}), "(1, 7, 7)");
  EXPECT_EQ(Triple(3), (Triple{3, 3, 3}));
  EXPECT_THROW((Triple{1, 2}), OptionError);
}

TEST(Tensor, HugePageAdviceStaysInsideTheBlock) {
  using detail::huge_page_interior;
  using detail::kHugePageBytes;
  const std::uintptr_t page = kHugePageBytes;
  // Below the threshold, or no whole page inside: nothing is advised.
  EXPECT_EQ(huge_page_interior(page, detail::kHugePageMinBytes - 1).last, 0u);
  const auto none = huge_page_interior(page + 64, kHugePageBytes);
  EXPECT_EQ(none.first, none.last);
  // Aligned: exactly the whole pages.
  const auto aligned = huge_page_interior(4 * page, 3 * kHugePageBytes);
  EXPECT_EQ(aligned.first, 4 * page);
  EXPECT_EQ(aligned.last, 7 * page);
  // Unaligned on both ends: the pages strictly inside.
  const auto inner = huge_page_interior(4 * page + 64, 3 * kHugePageBytes);
  EXPECT_EQ(inner.first, 5 * page);
  EXPECT_EQ(inner.last, 7 * page);
  // A large tensor still works after the advice (whole pages written and read back).
  Tensor<float, 1> t = Tensor<float, 1>::empty({static_cast<index_t>(3 * kHugePageBytes / sizeof(float)) + 5});
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(i % 97);
  double sum = 0;
  for (index_t i = 0; i < t.numel(); ++i) sum += t.data()[i];
  double want = 0;
  for (index_t i = 0; i < t.numel(); ++i) want += static_cast<double>(i % 97);
  EXPECT_EQ(sum, want);
}

}  // namespace
}  // namespace r2plus1d
