// The gradients of the primitive ops against torch autograd (gen_backward.py):
// conv3d (both input-gradient paths), batch_norm3d in training (with the
// running-statistics update) and eval mode, relu, adaptive_avg_pool3d and
// linear; kAccumulate adding to what is there; bit-identical results at 1 and
// 2 threads; and the shape errors.

#include <gtest/gtest.h>

#include <r2plus1d/ops/adaptive_avg_pool3d_backward.hpp>
#include <r2plus1d/ops/batch_norm3d_backward.hpp>
#include <r2plus1d/ops/conv3d_backward.hpp>
#include <r2plus1d/ops/linear_backward.hpp>
#include <r2plus1d/ops/relu_backward.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "primitives_reference.hpp"
#include "test_util.hpp"

namespace r2plus1d {
namespace {

using test::PrimitiveReference;

template <class T>
class Backward : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Backward, Scalars);

/// Expects `got` within 1e-4 (float) or 1e-10 (double) of max |want| of torch's `want`.
template <class T, int R>
void expect_close(TensorView<const T, R> got, TensorView<const T, R> want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double scale = 0;
  for (index_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(static_cast<double>(want.data()[i])));
  const double tol = (std::is_same_v<T, float> ? 1e-4 : 1e-10) * scale;
  EXPECT_LE((test::max_abs_diff<T, R>(got, want)), tol) << what << " (max |torch| " << scale << ")";
}

template <class T, int R>
Tensor<T, R> grad_ref(const PrimitiveReference& ref, const nlohmann::json& c, const std::string& key) {
  return ref.tensor<T, R>(c, key + "_" + PrimitiveReference::suffix<T>());
}

ops::Conv3dParams conv_params(const nlohmann::json& o) {
  ops::Conv3dParams p;
  p.stride = test::triple_of(o.at("stride"));
  p.padding = test::triple_of(o.at("padding"));
  p.dilation = test::triple_of(o.at("dilation"));
  p.groups = o.at("groups").get<index_t>();
  return p;
}

TYPED_TEST(Backward, Conv3dMatchesTorch) {
  using T = TypeParam;
  const PrimitiveReference ref("conv3d", "backward_");
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const ops::Conv3dParams p = conv_params(c.at("options"));
    const bool bias = c.at("options").at("bias");
    const Tensor<T, 5> x = ref.tensor<T, 5>(c, "x"), w = ref.tensor<T, 5>(c, "weight");
    const Tensor<T, 5> dy = ref.tensor<T, 5>(c, "grad_output");
    const ops::Conv3dGrads<T> g = ops::conv3d_backward<T>(x.cview(), w.cview(), dy.cview(), p, bias);
    const Tensor<T, 5> want_dx = grad_ref<T, 5>(ref, c, "grad_input");
    expect_close<T, 5>(g.input.cview(), want_dx.cview(), "grad_input");
    expect_close<T, 5>(g.weight.cview(), grad_ref<T, 5>(ref, c, "grad_weight").cview(), "grad_weight");
    if (bias) expect_close<T, 1>(g.bias.cview(), grad_ref<T, 1>(ref, c, "grad_bias").cview(), "grad_bias");
    // The column path takes every case, also those conv3d_backward_input runs as a forward convolution.
    Tensor<T, 5> dx = Tensor<T, 5>::full(x.shape(), T(7));
    const auto geom = ops::detail::conv3d_geometry(x.shape(), w.shape(), dy.shape(), p);
    ops::detail::conv3d_input_grad_columns(geom, dy.data(), w.data(), dx.data(), ops::GradMode::kOverwrite);
    expect_close<T, 5>(dx.cview(), want_dx.cview(), "grad_input (columns)");
  }
}

TYPED_TEST(Backward, BatchNorm3dMatchesTorch) {
  using T = TypeParam;
  const PrimitiveReference ref("batch_norm3d", "backward_");
  const char* sfx = PrimitiveReference::suffix<T>();
  for (const auto& c : ref.cases()) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const auto& o = c.at("options");
    const bool affine = o.at("affine"), running = o.at("running"), training = o.at("training");
    const double eps = o.at("eps"), momentum = o.at("momentum");
    const Tensor<T, 5> x = ref.tensor<T, 5>(c, "x"), dy = ref.tensor<T, 5>(c, "grad_output");
    const index_t channels = x.size(1);
    Tensor<T, 1> weight, bias, rm, rv;
    if (affine) {
      weight = ref.tensor<T, 1>(c, "weight");
      bias = ref.tensor<T, 1>(c, "bias");
    }
    if (running) {
      rm = ref.tensor<T, 1>(c, "running_mean");
      rv = ref.tensor<T, 1>(c, "running_var");
    }
    const T* wp = affine ? weight.data() : nullptr;
    const T* bp = affine ? bias.data() : nullptr;
    Tensor<T, 5> dx = Tensor<T, 5>::empty(x.shape());
    Tensor<T, 1> dw({channels}), db({channels});
    if (training) {
      const ops::BatchNorm3dTrainOutput<T> out = ops::batch_norm3d_train<T>(
          x.cview(), wp, bp, running ? rm.data() : nullptr, running ? rv.data() : nullptr, momentum, eps);
      expect_close<T, 5>(out.output.cview(), grad_ref<T, 5>(ref, c, "output").cview(), "output");
      expect_close<T, 1>(out.mean.cview(), grad_ref<T, 1>(ref, c, "mean").cview(), "mean");
      expect_close<T, 1>(out.invstd.cview(), grad_ref<T, 1>(ref, c, "invstd").cview(), "invstd");
      if (running) {
        expect_close<T, 1>(rm.cview(), grad_ref<T, 1>(ref, c, "running_mean").cview(), "running_mean");
        expect_close<T, 1>(rv.cview(), grad_ref<T, 1>(ref, c, "running_var").cview(), "running_var");
        EXPECT_NE(rv(0), (ref.tensor<T, 1>(c, "running_var")(0))) << "the running variance was not updated";
      }
      ops::batch_norm3d_backward<T>(dy.cview(), x.cview(), wp, out.mean.data(), out.invstd.data(), dx.view(),
                                    dw.data(), db.data());
    } else {
      const Tensor<T, 5> y = ops::batch_norm3d<T>(x.cview(), wp, bp, rm.data(), rv.data(), false, momentum, eps);
      expect_close<T, 5>(y.cview(), grad_ref<T, 5>(ref, c, "output").cview(), "output");
      ops::batch_norm3d_eval_backward<T>(dy.cview(), x.cview(), wp, rm.data(), rv.data(), eps, dx.view(), dw.data(),
                                         db.data());
    }
    expect_close<T, 5>(dx.cview(), ref.tensor<T, 5>(c, std::string("grad_input_") + sfx).cview(), "grad_input");
    if (affine) {
      expect_close<T, 1>(dw.cview(), grad_ref<T, 1>(ref, c, "grad_weight").cview(), "grad_weight");
      expect_close<T, 1>(db.cview(), grad_ref<T, 1>(ref, c, "grad_bias").cview(), "grad_bias");
    }
  }
}

template <class T, int R>
void check_relu_case(const PrimitiveReference& ref, const nlohmann::json& c) {
  const Tensor<T, R> x = ref.tensor<T, R>(c, "x"), dy = ref.tensor<T, R>(c, "grad_output");
  const Tensor<T, R> y = ops::relu<T, R>(x.cview());
  const Tensor<T, R> dx = ops::relu_backward<T, R>(dy.cview(), y.cview());
  expect_close<T, R>(dx.cview(), grad_ref<T, R>(ref, c, "grad_input").cview(), "grad_input");
  // what nn::ReLU keeps in training: the mask of the output
  const Tensor<T, R> dm = ops::relu_backward<T, R>(dy.cview(), ops::ReluMask::of<T, R>(y.cview()));
  expect_close<T, R>(dm.cview(), grad_ref<T, R>(ref, c, "grad_input").cview(), "grad_input from the mask");
}

// The mask gives the output's gradient bit for bit: special values (NaN and
// -0 outputs, infinities), lengths off a 64-bit word, several parallel blocks,
// both thread counts, accumulation; a mask of another size is a ShapeError.
TYPED_TEST(Backward, ReluMaskEqualsTheOutput) {
  using T = TypeParam;
  test::ThreadCountGuard guard;
  for (const index_t n : {index_t(1), index_t(63), index_t(65), index_t(3 * 65536 + 77)}) {
    Tensor<T, 1> y = test::random_tensor<T, 1>({n}, 5), g = test::random_tensor<T, 1>({n}, 6);
    ops::relu_(y.view());
    const T special[] = {std::numeric_limits<T>::quiet_NaN(), T(-0.0), std::numeric_limits<T>::infinity(), T(0)};
    for (index_t i = 0; i < n; i += 7) y(i) = special[(i / 7) % 4];
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      const ops::ReluMask mask = ops::ReluMask::of<T, 1>(y.cview());
      ASSERT_TRUE(mask.recorded());
      ASSERT_EQ(mask.numel(), n);
      const Tensor<T, 1> want = ops::relu_backward<T, 1>(g.cview(), y.cview());
      const Tensor<T, 1> got = ops::relu_backward<T, 1>(g.cview(), mask);
      EXPECT_TRUE((test::bit_identical<T, 1>(got.cview(), want.cview()))) << n << " " << threads;
      Tensor<T, 1> acc_want(Shape<1>{n}, T(1)), acc_got(Shape<1>{n}, T(1));
      ops::relu_backward<T, 1>(g.cview(), y.cview(), acc_want.view(), ops::GradMode::kAccumulate);
      ops::relu_backward<T, 1>(g.cview(), mask, acc_got.view(), ops::GradMode::kAccumulate);
      EXPECT_TRUE((test::bit_identical<T, 1>(acc_got.cview(), acc_want.cview()))) << n << " " << threads;
    }
  }
  const ops::ReluMask small = ops::ReluMask::of<T, 1>(Tensor<T, 1>({3}).cview());
  EXPECT_THROW((ops::relu_backward<T, 1>(Tensor<T, 1>({4}).cview(), small)), ShapeError);
  ops::ReluMask reset = small;
  reset.reset();
  EXPECT_FALSE(reset.recorded());
}

TYPED_TEST(Backward, ReluMatchesTorch) {
  using T = TypeParam;
  const PrimitiveReference ref("relu", "backward_");
  for (const auto& c : ref.cases()) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    if (c.at("rank") == 5) check_relu_case<T, 5>(ref, c);
    else check_relu_case<T, 2>(ref, c);
  }
}

TYPED_TEST(Backward, AdaptiveAvgPool3dMatchesTorch) {
  using T = TypeParam;
  const PrimitiveReference ref("adaptive_avg_pool3d", "backward_");
  for (const auto& c : ref.cases()) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Tensor<T, 5> x = ref.tensor<T, 5>(c, "x"), dy = ref.tensor<T, 5>(c, "grad_output");
    ASSERT_EQ(ops::adaptive_avg_pool3d<T>(x.cview(), test::triple_of(c.at("output_size"))).shape(), dy.shape());
    const Tensor<T, 5> dx = ops::adaptive_avg_pool3d_backward<T>(dy.cview(), x.shape());
    expect_close<T, 5>(dx.cview(), grad_ref<T, 5>(ref, c, "grad_input").cview(), "grad_input");
  }
}

TYPED_TEST(Backward, LinearMatchesTorch) {
  using T = TypeParam;
  const PrimitiveReference ref("linear", "backward_");
  for (const auto& c : ref.cases()) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const bool bias = c.at("bias");
    const Tensor<T, 2> x = ref.tensor<T, 2>(c, "x"), w = ref.tensor<T, 2>(c, "weight");
    const Tensor<T, 2> dy = ref.tensor<T, 2>(c, "grad_output");
    const ops::LinearGrads<T> g = ops::linear_backward<T>(x.cview(), w.cview(), dy.cview(), bias);
    expect_close<T, 2>(g.input.cview(), grad_ref<T, 2>(ref, c, "grad_input").cview(), "grad_input");
    expect_close<T, 2>(g.weight.cview(), grad_ref<T, 2>(ref, c, "grad_weight").cview(), "grad_weight");
    if (bias) expect_close<T, 1>(g.bias.cview(), grad_ref<T, 1>(ref, c, "grad_bias").cview(), "grad_bias");
  }
}

/// Runs `write(buffer, mode)` once with kOverwrite on a buffer of garbage and
/// once with kAccumulate on `old`: the second must be old + the first, element
/// by element, and the first must not depend on what the buffer held.
template <class T, int R, class F>
void expect_accumulates(const char* what, const Shape<R>& shape, std::uint64_t seed, F&& write) {
  const Tensor<T, R> old = test::random_tensor<T, R>(shape, seed);
  Tensor<T, R> grad = Tensor<T, R>::full(shape, T(123));
  write(grad.view(), ops::GradMode::kOverwrite);
  Tensor<T, R> again = Tensor<T, R>::full(shape, T(-5));
  write(again.view(), ops::GradMode::kOverwrite);
  EXPECT_TRUE((test::bit_identical<T, R>(grad.cview(), again.cview()))) << "kOverwrite read the buffer";
  Tensor<T, R> acc = old;
  write(acc.view(), ops::GradMode::kAccumulate);
  for (index_t i = 0; i < acc.numel(); ++i)
    ASSERT_EQ(acc.data()[i], static_cast<T>(old.data()[i] + grad.data()[i])) << "element " << i << " of " << what;
}

TYPED_TEST(Backward, AccumulateAddsToTheBuffer) {
  using T = TypeParam;
  const Tensor<T, 5> x = test::random_tensor<T, 5>({2, 4, 5, 6, 7}, 1);
  const Tensor<T, 5> w = test::random_tensor<T, 5>({6, 2, 3, 3, 3}, 2);
  for (index_t stride : {1, 2}) {
    SCOPED_TRACE("stride " + std::to_string(stride));
    ops::Conv3dParams p;
    p.stride = Triple(stride);
    p.padding = Triple(1);
    p.groups = 2;
    const Tensor<T, 5> dy = test::random_tensor<T, 5>(ops::conv3d_output_shape(x.shape(), w.shape(), p), 3);
    expect_accumulates<T, 5>("conv3d_backward_input", x.shape(), 4, [&](TensorView<T, 5> b, ops::GradMode m) {
      ops::conv3d_backward_input<T>(dy.cview(), w.cview(), p, b, m);
    });
    expect_accumulates<T, 5>("conv3d_backward_weight", w.shape(), 5, [&](TensorView<T, 5> b, ops::GradMode m) {
      ops::conv3d_backward_weight<T>(x.cview(), dy.cview(), p, b, m);
    });
    expect_accumulates<T, 1>("conv3d_backward_bias", {6}, 6, [&](TensorView<T, 1> b, ops::GradMode m) {
      ops::conv3d_backward_bias<T>(dy.cview(), b, m);
    });
  }
  const Tensor<T, 5> dy = test::random_tensor<T, 5>(x.shape(), 7);
  const Tensor<T, 1> gamma = test::random_tensor<T, 1>({4}, 8);
  const ops::BatchNorm3dTrainOutput<T> bn = ops::batch_norm3d_train<T>(x.cview(), gamma.data(), nullptr, nullptr,
                                                                       nullptr, 0.1, 1e-5);
  expect_accumulates<T, 5>("batch_norm3d_backward (input)", x.shape(), 9, [&](TensorView<T, 5> b, ops::GradMode m) {
    ops::batch_norm3d_backward<T>(dy.cview(), x.cview(), gamma.data(), bn.mean.data(), bn.invstd.data(), b, nullptr,
                                  nullptr, m);
  });
  expect_accumulates<T, 1>("batch_norm3d_backward (weight)", {4}, 10, [&](TensorView<T, 1> b, ops::GradMode m) {
    ops::batch_norm3d_backward<T>(dy.cview(), x.cview(), gamma.data(), bn.mean.data(), bn.invstd.data(), {},
                                  b.data(), nullptr, m);
  });
  expect_accumulates<T, 1>("batch_norm3d_eval_backward (bias)", {4}, 11, [&](TensorView<T, 1> b, ops::GradMode m) {
    ops::batch_norm3d_eval_backward<T>(dy.cview(), x.cview(), gamma.data(), bn.mean.data(), bn.invstd.data(), 1e-5,
                                       {}, nullptr, b.data(), m);
  });
  expect_accumulates<T, 5>("relu_backward", x.shape(), 12, [&](TensorView<T, 5> b, ops::GradMode m) {
    ops::relu_backward<T, 5>(dy.cview(), x.cview(), b, m);
  });
  const Tensor<T, 5> pooled = test::random_tensor<T, 5>({2, 4, 2, 4, 3}, 13);
  expect_accumulates<T, 5>("adaptive_avg_pool3d_backward", x.shape(), 14, [&](TensorView<T, 5> b, ops::GradMode m) {
    ops::adaptive_avg_pool3d_backward<T>(pooled.cview(), b, m);
  });
  const Tensor<T, 2> lx = test::random_tensor<T, 2>({70, 9}, 15), lw = test::random_tensor<T, 2>({5, 9}, 16);
  const Tensor<T, 2> ldy = test::random_tensor<T, 2>({70, 5}, 17);
  expect_accumulates<T, 2>("linear_backward_input", lx.shape(), 18, [&](TensorView<T, 2> b, ops::GradMode m) {
    ops::linear_backward_input<T>(ldy.cview(), lw.cview(), b, m);
  });
  expect_accumulates<T, 2>("linear_backward_weight", lw.shape(), 19, [&](TensorView<T, 2> b, ops::GradMode m) {
    ops::linear_backward_weight<T>(lx.cview(), ldy.cview(), b, m);
  });
  expect_accumulates<T, 1>("linear_backward_bias", {5}, 20, [&](TensorView<T, 1> b, ops::GradMode m) {
    ops::linear_backward_bias<T>(ldy.cview(), b, m);
  });
}

/// Every gradient of a conv -> BN -> ReLU -> pool -> linear chain on sizes
/// that give each op several work items, at the current thread count.
template <class T>
std::vector<Tensor<T, 5>> all_grads(const ops::Conv3dParams& p) {
  const Tensor<T, 5> x = test::random_tensor<T, 5>({2, 16, 4, 20, 18}, 21);
  const Tensor<T, 5> w = test::random_tensor<T, 5>({24, 16 / p.groups, 3, 3, 3}, 22);
  const Tensor<T, 5> dy = test::random_tensor<T, 5>(ops::conv3d_output_shape(x.shape(), w.shape(), p), 23);
  std::vector<Tensor<T, 5>> out;
  ops::Conv3dGrads<T> g = ops::conv3d_backward<T>(x.cview(), w.cview(), dy.cview(), p, true);
  out.push_back(std::move(g.input));
  out.push_back(std::move(g.weight));
  out.push_back(Tensor<T, 5>::from(g.bias.cview().reshape(1, 1, 1, 1, -1)));
  const ops::BatchNorm3dTrainOutput<T> bn =
      ops::batch_norm3d_train<T>(dy.cview(), nullptr, nullptr, nullptr, nullptr, 0.1, 1e-5);
  Tensor<T, 5> dbn = Tensor<T, 5>::empty(dy.shape());
  Tensor<T, 5> dgamma({1, 1, 1, 1, dy.size(1)});
  const Tensor<T, 1> gamma = test::random_tensor<T, 1>({dy.size(1)}, 24);
  ops::batch_norm3d_backward<T>(bn.output.cview(), dy.cview(), gamma.data(), bn.mean.data(), bn.invstd.data(),
                                dbn.view(), dgamma.data(), nullptr);
  out.push_back(std::move(dbn));
  out.push_back(std::move(dgamma));
  out.push_back(ops::relu_backward<T, 5>(dy.cview(), bn.output.cview()));
  const Tensor<T, 5> pooled = test::random_tensor<T, 5>({2, 24, 3, 5, 7}, 25);
  out.push_back(ops::adaptive_avg_pool3d_backward<T>(pooled.cview(), dy.shape()));
  const Tensor<T, 2> lx = test::random_tensor<T, 2>({130, 200}, 26), lw = test::random_tensor<T, 2>({150, 200}, 27);
  const Tensor<T, 2> ldy = test::random_tensor<T, 2>({130, 150}, 28);
  ops::LinearGrads<T> lg = ops::linear_backward<T>(lx.cview(), lw.cview(), ldy.cview(), true);
  out.push_back(Tensor<T, 5>::from(lg.input.cview().reshape(1, 1, 1, 130, 200)));
  out.push_back(Tensor<T, 5>::from(lg.weight.cview().reshape(1, 1, 1, 150, 200)));
  out.push_back(Tensor<T, 5>::from(lg.bias.cview().reshape(1, 1, 1, 1, 150)));
  return out;
}

TYPED_TEST(Backward, BitIdenticalAcrossThreadCounts) {
  using T = TypeParam;
  const test::ThreadCountGuard guard;
  for (index_t stride : {1, 2}) {
    ops::Conv3dParams p;
    p.stride = Triple(stride);
    p.padding = Triple(1);
    p.groups = stride;  // groups 2 at stride 2
    set_num_threads(1);
    const std::vector<Tensor<T, 5>> one = all_grads<T>(p);
    set_num_threads(2);
    const std::vector<Tensor<T, 5>> two = all_grads<T>(p);
    ASSERT_EQ(one.size(), two.size());
    for (std::size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE((test::bit_identical<T, 5>(one[i].cview(), two[i].cview())))
          << "gradient " << i << " at stride " << stride;
  }
}

TYPED_TEST(Backward, Errors) {
  using T = TypeParam;
  const Tensor<T, 5> x({1, 4, 5, 6, 7}), w({6, 4, 3, 3, 3});
  Tensor<T, 5> dy({1, 6, 3, 4, 5}), wrong({1, 6, 3, 4, 4}), dx(x.shape()), dw(w.shape());
  ops::Conv3dParams p;
  EXPECT_THROW(ops::conv3d_backward_input<T>(wrong.cview(), w.cview(), p, dx.view()), ShapeError);
  EXPECT_THROW(ops::conv3d_backward_weight<T>(x.cview(), wrong.cview(), p, dw.view()), ShapeError);
  Tensor<T, 1> db({5});
  EXPECT_THROW(ops::conv3d_backward_bias<T>(dy.cview(), db.view()), ShapeError);
  p.stride = Triple(0);
  EXPECT_THROW(ops::conv3d_backward_input<T>(dy.cview(), w.cview(), p, dx.view()), OptionError);

  // Training with one value per channel has no batch variance, as in torch.
  const Tensor<T, 5> one({1, 3, 1, 1, 1});
  EXPECT_THROW(ops::batch_norm3d_train<T>(one.cview(), nullptr, nullptr, nullptr, nullptr, 0.1, 1e-5), ShapeError);
  const T stat[4] = {0, 0, 0, 0};
  EXPECT_THROW(ops::batch_norm3d_backward<T>(dy.cview(), x.cview(), nullptr, stat, stat, {}, nullptr, nullptr),
               ShapeError);
  EXPECT_THROW((ops::relu_backward<T, 5>(dy.cview(), x.cview(), dx.view())), ShapeError);
  EXPECT_THROW(ops::adaptive_avg_pool3d_backward<T>(dy.cview(), dx.view()), ShapeError);
  const Tensor<T, 2> lx({3, 4}), lw({5, 4}), ldy({3, 6});
  EXPECT_THROW(ops::linear_backward<T>(lx.cview(), lw.cview(), ldy.cview(), true), ShapeError);
}

}  // namespace
}  // namespace r2plus1d
