#include <gtest/gtest.h>

#include <r2plus1d/core/tensor.hpp>

#include <cstdint>
#include <string>

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

TEST(Tensor, ReshapeOnAKeptTensorIsAViewAndInfersOneSize) {
  Tensor<float, 2> a({2, 6}, 1.0f);
  TensorView<float, 3> v = a.reshape<3>({2, -1, 2});
  EXPECT_EQ(v.shape(), (Shape<3>{2, 3, 2}));
  EXPECT_EQ(v.data(), a.data());
  v(1, 2, 1) = 4.0f;
  EXPECT_EQ(a(1, 5), 4.0f);
  const Tensor<float, 2>& c = a;
  TensorView<const float, 4> w = c.reshape(1, 2, 3, 2);
  EXPECT_EQ(w.data(), a.data());
  EXPECT_THROW(a.reshape(5, -1), ShapeError);
  EXPECT_THROW(a.reshape(-1, -1), ShapeError);
  EXPECT_EQ(a.view().reshape(-1).size(0), 12);
  Tensor<float, 1> moved = std::move(a).reshape(-1);  // a temporary still hands over its storage
  EXPECT_EQ(moved.size(0), 12);
  EXPECT_EQ(moved(11), 4.0f);
}

TEST(Tensor, UnsqueezeAndSqueezeAreViews) {
  Tensor<float, 4> clip({3, 16, 4, 5});
  TensorView<float, 5> batch = clip.unsqueeze(0);
  EXPECT_EQ(batch.shape(), (Shape<5>{1, 3, 16, 4, 5}));
  EXPECT_EQ(batch.data(), clip.data());
  EXPECT_EQ(clip.unsqueeze(-1).shape(), (Shape<5>{3, 16, 4, 5, 1}));
  EXPECT_EQ(clip.unsqueeze(2).shape(), (Shape<5>{3, 16, 1, 4, 5}));
  EXPECT_EQ(batch.squeeze(0).shape(), clip.shape());
  EXPECT_THROW(batch.squeeze(1), ShapeError);
  EXPECT_THROW(clip.unsqueeze(5), ShapeError);
  Tensor<float, 5> owned = Tensor<float, 4>({3, 2, 2, 2}).unsqueeze(0);
  EXPECT_EQ(owned.shape(), (Shape<5>{1, 3, 2, 2, 2}));
}

TEST(Tensor, NarrowSliceAndSelectViewTheFirstDimension) {
  Tensor<std::uint8_t, 4> frames({40, 2, 3, 3});
  for (index_t i = 0; i < frames.numel(); ++i) frames.data()[i] = static_cast<std::uint8_t>(i % 251);
  TensorView<std::uint8_t, 4> first = frames.narrow(0, 0, 16);
  EXPECT_EQ(first.shape(), (Shape<4>{16, 2, 3, 3}));
  EXPECT_EQ(first.data(), frames.data());
  TensorView<std::uint8_t, 4> later = frames.narrow(0, 8, 16);
  EXPECT_EQ(later.data(), frames.data() + 8 * 18);
  EXPECT_EQ(frames.slice(0, 8, 24).data(), later.data());
  EXPECT_EQ(frames.slice(0, -8, 1000).size(0), 8);  // Python's a[-8:1000]
  EXPECT_EQ(frames.narrow(0, -16, 16).data(), frames.data() + 24 * 18);
  EXPECT_EQ(frames.select(0, 3).data(), frames[3].data());
  EXPECT_EQ(frames.select(0, -1).data(), frames.data() + 39 * 18);
  EXPECT_THROW(frames.narrow(0, 30, 16), ShapeError);
  EXPECT_THROW(frames.select(0, 40), ShapeError);
  EXPECT_THROW(frames.narrow(4, 0, 1), ShapeError);
}

TEST(Tensor, NarrowAfterUnitDimensionsIsAViewElseACopy) {
  Tensor<float, 5> x({1, 3, 4, 2, 2});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(i);
  TensorView<float, 4> green = x.select(1, 1).squeeze(0).unsqueeze(0);  // channel 1 of a batch of one
  EXPECT_EQ(green.data(), x.data() + 16);
  EXPECT_EQ(x.narrow(1, 1, 2).data(), x.data() + 16);
  EXPECT_THROW(x.narrow(2, 1, 2), ShapeError);  // would not be contiguous
  try {
    x.select(2, 1);
    ADD_FAILURE() << "select of dimension 2 of [1, 3, 4, 2, 2] as a view";
  } catch (const ShapeError& e) {
    const std::string want = "select: a view of dimension 2 of [1, 3, 4, 2, 2] would not be contiguous";
    EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << e.what();
  }
  EXPECT_EQ(x.narrow(2, 0, 4).data(), x.data());  // the whole dimension is
  const Tensor<float, 5> t = x.narrow_copy(2, 1, 2);
  EXPECT_EQ(t.shape(), (Shape<5>{1, 3, 2, 2, 2}));
  for (index_t c = 0; c < 3; ++c)
    for (index_t d = 0; d < 2; ++d)
      for (index_t h = 0; h < 2; ++h)
        for (index_t w = 0; w < 2; ++w) EXPECT_EQ(t(0, c, d, h, w), x(0, c, d + 1, h, w));
  const Tensor<float, 5> c = x.view().narrow(1, 2, 1).clone();
  EXPECT_NE(c.data(), x.data() + 32);
  EXPECT_EQ(c(0, 0, 3, 1, 1), x(0, 2, 3, 1, 1));
}

TEST(Tensor, PermuteCopiesInTheNewOrder) {
  Tensor<int, 4> frames({2, 3, 4, 3});  // (T, H, W, C)
  for (index_t i = 0; i < frames.numel(); ++i) frames.data()[i] = static_cast<int>(i);
  const Tensor<int, 4> p = frames.permute({3, 0, 1, 2});  // (C, T, H, W), as torch's permute(3, 0, 1, 2)
  EXPECT_EQ(p.shape(), (Shape<4>{3, 2, 3, 4}));
  for (index_t c = 0; c < 3; ++c)
    for (index_t t = 0; t < 2; ++t)
      for (index_t h = 0; h < 3; ++h)
        for (index_t w = 0; w < 4; ++w) EXPECT_EQ(p(c, t, h, w), frames(t, h, w, c));
  EXPECT_EQ(frames.view().permute({-1, 0, 1, 2})(2, 1, 2, 3), frames(1, 2, 3, 2));
  EXPECT_THROW(frames.permute({0, 0, 1, 2}), ShapeError);
  EXPECT_THROW(frames.permute({0, 1, 2, 4}), ShapeError);
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
