// A user's program: builds a small R2Plus1DNet from the installed headers,
// built at the consumer's own default flags (no -march), and runs it on a
// clip of the size torchvision's video models take, 1 x 3 x 16 x 112 x 112, on
// each family of convolution kernels: the shapes must be right, the features
// finite and the two families in agreement.
#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

int main() {
  using namespace r2plus1d;
  R2Plus1DNet<float> net({1, 1, 1, 1});
  net.eval();
  Tensor<float, 5> clip = Tensor<float, 5>::empty({1, 3, 16, 112, 112});
  for (index_t i = 0; i < clip.numel(); ++i) clip.data()[i] = std::sin(0.001f * static_cast<float>(i));
  Tensor<float, 2> features[2];
  const ConvKernels families[2] = {ConvKernels::kRows, ConvKernels::kPacked};
  for (int f = 0; f < 2; ++f) {
    set_conv_kernels(families[f]);
    features[f] = net(clip);
    std::printf("%s: features %s\n", conv_kernels_name(), format_shape<2>(features[f].shape()).c_str());
    if (features[f].size(0) != 1 || features[f].size(1) != 512) return 1;
  }
  double scale = 0, worst = 0;
  for (index_t i = 0; i < features[0].numel(); ++i) {
    const double a = features[0].data()[i], b = features[1].data()[i];
    if (!std::isfinite(a) || !std::isfinite(b)) return 1;
    scale = std::max(scale, std::abs(a));
    worst = std::max(worst, std::abs(a - b));
  }
  std::printf("rows vs packed: max |difference| %g of max |feature| %g\n", worst, scale);
  return worst <= 1e-4 * scale ? 0 : 1;
}
