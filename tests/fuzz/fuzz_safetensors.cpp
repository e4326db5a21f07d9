// libFuzzer target: the safetensors reader on arbitrary bytes. Parses the
// header, reads every tensor in its own dtype and as float, and loads the file
// into a small module. Library errors (r2plus1d::Error) are expected outcomes;
// anything else (another exception, a crash, a leak, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "r2plus1d/io/safetensors.hpp"
#include "r2plus1d/nn/batch_norm3d.hpp"
#include "r2plus1d/nn/conv3d.hpp"

namespace {

using namespace r2plus1d;

void read_all(const io::SafetensorsReader& reader) {
  for (const TensorInfo& info : reader.infos()) {
    const index_t n = shape_numel(info.shape);
    std::vector<unsigned char> same(static_cast<std::size_t>(n) * dtype_size(info.dtype));
    reader.read(info.name, TensorRef{info.dtype, same.data(), info.shape});
    if (dtype_convertible(info.dtype, DType::F32)) {
      std::vector<float> f(static_cast<std::size_t>(n));
      reader.read(info.name, TensorRef{DType::F32, f.data(), info.shape});
    }
    if (info.shape.size() == 1) {
      try {
        (void)reader.tensor<double, 1>(info.name);
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const io::SafetensorsReader reader = io::SafetensorsReader::from_bytes(std::vector<std::uint8_t>(data, data + size));
    (void)reader.metadata();
    try {
      read_all(reader);
    } catch (const Error&) {
    }
    // Keys "weight" [2, 2, 1, 1, 1] and "bias" [2].
    nn::Conv3d<float> conv(nn::Conv3dOptions(2, 2, {1, 1, 1}));
    conv.load_state_dict(reader);
    nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(2));
    bn.load_state_dict(reader);
  } catch (const Error&) {
  }
  return 0;
}
