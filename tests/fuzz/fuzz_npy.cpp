// libFuzzer target: the .npy parser on arbitrary bytes, then the element
// conversions load_npy applies (to float, double and int64 where the dtype
// allows). Library errors (r2plus1d::Error) are expected outcomes; anything
// else (another exception, a crash, a leak, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/io/npy.hpp"

using namespace r2plus1d;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    io::NpyArray a = io::parse_npy(std::vector<std::uint8_t>(data, data + size));
    const index_t n = a.numel();
    for (DType to : {DType::F32, DType::F64, DType::I64}) {
      if (!dtype_convertible(a.dtype, to)) continue;
      std::vector<unsigned char> out(static_cast<std::size_t>(n) * dtype_size(to));
      convert_elements(a.data(), a.dtype, out.data(), to, n);
    }
    StateDict dict;
    dict.add("x", a.ref());
    std::vector<float> f(static_cast<std::size_t>(n));
    if (dtype_convertible(a.dtype, DType::F32)) dict.read("x", TensorRef{DType::F32, f.data(), a.shape});
  } catch (const Error&) {
  }
  return 0;
}
