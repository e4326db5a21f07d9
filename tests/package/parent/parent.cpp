// The parent project's program: r2plus1d from the source tree.
#include <r2plus1d/core/tensor.hpp>
#include <r2plus1d/version.hpp>

#include <cstdio>

int main() {
  r2plus1d::Tensor<float, 2> t({2, 3}, 1.0f);
  std::printf("r2plus1d %s: %lld elements\n", R2PLUS1D_VERSION, static_cast<long long>(t.reshape(-1).size(0)));
  return t.numel() == 6 ? 0 : 1;
}
