// Built with `pkg-config --cflags --libs r2plus1d` against the installed package.
#include <r2plus1d/core/tensor.hpp>
#include <r2plus1d/version.hpp>

#include <cstdio>
#include <cstring>

int main() {
  r2plus1d::Tensor<float, 3> t({2, 3, 4});
  std::printf("pkg-config: r2plus1d %s\n", R2PLUS1D_VERSION);
  return std::strcmp(R2PLUS1D_VERSION, EXPECTED_VERSION) == 0 && t.unsqueeze(0).size(1) == 2 ? 0 : 1;
}
