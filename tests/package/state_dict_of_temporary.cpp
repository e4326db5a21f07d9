// Must not compile: each marked line takes a state dict (references into a
// module's tensors) from a temporary module, which is destroyed before the
// references are used. compile_fail_test.cmake expects exactly one error per
// marked line, each about a deleted function, and no other error.
#include <r2plus1d/models/r2plus1d_net.hpp>
#include <r2plus1d/nn/conv3d.hpp>

#include <cstddef>

int main() {
  using namespace r2plus1d;
  std::size_t n = 0;
  R2Plus1DNet<float> net({1, 1, 1, 1});
  for (const auto& [name, ref] : net.state_dict()) n += name.size() + static_cast<std::size_t>(ref.numel());  // fine
  for (const auto& [name, ref] : R2Plus1DNet<float>({1, 1, 1, 1}).state_dict()) n += name.size();  // error 1
  for (const auto& e : nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 1)).named_parameters()) n += e.name.size();  // error 2
  for (const auto& e : nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 1)).named_buffers()) n += e.name.size();  // error 3
  const StateDict sd = SpatioTemporalConv<float>(3, 4, 3).state_dict();  // error 4
  return static_cast<int>(n + sd.size());
}
