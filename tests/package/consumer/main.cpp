// A user's program: builds a small R2Plus1DNet from the installed headers and
// checks its output shape.
#include <r2plus1d/r2plus1d.hpp>

#include <cstdio>

int main() {
  r2plus1d::R2Plus1DNet<float> net({1, 1, 1, 1});
  net.eval();
  const r2plus1d::Tensor<float, 5> clip({1, 3, 4, 32, 32}, 0.5f);
  const auto features = net(clip);
  std::printf("features %s\n", r2plus1d::format_shape<2>(features.shape()).c_str());
  return features.size(0) == 1 && features.size(1) == 512 ? 0 : 1;
}
