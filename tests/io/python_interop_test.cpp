// Files written by Python (tools/convert_checkpoint.py, numpy, the converter's
// command line; see tests/reference/tools_roundtrip.py) read by C++, C++'s
// writers reproducing them byte for byte, and Python reading C++'s output.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <r2plus1d/io/npy.hpp>
#include <r2plus1d/io/safetensors.hpp>
#include <string>
#include <vector>

#include "io_test_util.hpp"

namespace r2plus1d::io {
namespace {

using test::expect_error;
using test::read_bytes;
using test::TempDir;

std::string ref_file(const std::string& name) { return std::string(R2PLUS1D_REF_DIR) + "/" + name; }

template <class T>
std::vector<T> read_as(const SafetensorsReader& r, const std::string& name, DType as) {
  std::vector<T> v(static_cast<std::size_t>(shape_numel(r.info(name).shape)));
  r.read(name, {as, v.data(), r.info(name).shape});
  return v;
}

TEST(PythonInterop, ReadsEveryDTypeWrittenByPython) {
  const SafetensorsReader r(ref_file("io_dtypes.safetensors"));
  std::vector<std::string> names;
  for (const TensorInfo& i : r.infos()) names.push_back(i.name);
  EXPECT_EQ(names, (std::vector<std::string>{"f64", "f32", "f16", "f16_as_f32", "bf16", "bf16_as_f32", "i64", "i32",
                                             "i16", "i8", "u8", "bool", "scalar", "empty", "video"}));
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.metadata().at("note"), "caf\xc3\xa9 \"quoted\"");

  const Tensor<double, 2> f64 = r.tensor<double, 2>("f64");
  EXPECT_EQ(f64(0, 0), -1.25);
  EXPECT_EQ(f64(0, 1), 0.1);
  EXPECT_EQ(f64(0, 2), 1e300);
  EXPECT_TRUE(std::signbit(f64(1, 0)));
  EXPECT_EQ(f64(1, 1), std::numeric_limits<double>::denorm_min());
  const Tensor<float, 2> f32 = r.tensor<float, 2>("f32");
  EXPECT_EQ(f32(0, 1), 0.1f);
  EXPECT_EQ(f32(0, 2), 3e38f);
  EXPECT_EQ(f32(1, 1), std::numeric_limits<float>::denorm_min());

  const Tensor<float, 2> f16 = r.tensor<float, 2>("f16"), f16_ref = r.tensor<float, 2>("f16_as_f32");
  const Tensor<float, 2> bf16 = r.tensor<float, 2>("bf16"), bf16_ref = r.tensor<float, 2>("bf16_as_f32");
  EXPECT_EQ(r.info("f16").dtype, DType::F16);
  EXPECT_EQ(r.info("bf16").dtype, DType::BF16);
  for (index_t i = 0; i < 6; ++i) {
    EXPECT_EQ(f16.data()[i], f16_ref.data()[i]) << i;
    EXPECT_EQ(bf16.data()[i], bf16_ref.data()[i]) << i;
  }
  EXPECT_EQ(f16(0, 1), 65504.0f);
  EXPECT_EQ(f16(0, 2), -std::ldexp(1.0f, -24));
  EXPECT_EQ(f16(1, 1), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bf16(1, 1), -std::numeric_limits<float>::infinity());

  EXPECT_EQ(
      read_as<std::int64_t>(r, "i64", DType::I64),
      (std::vector<std::int64_t>{-(std::int64_t{1} << 62), -1, 0, 1, std::int64_t{1} << 40, std::int64_t{1} << 62}));
  EXPECT_EQ(read_as<std::int32_t>(r, "i32", DType::I32),
            (std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::min(), -1, 0, 1, 7,
                                       std::numeric_limits<std::int32_t>::max()}));
  EXPECT_EQ(read_as<std::int64_t>(r, "i16", DType::I64), (std::vector<std::int64_t>{-32768, -1, 0, 1, 7, 32767}));
  EXPECT_EQ(read_as<std::int64_t>(r, "i8", DType::I64), (std::vector<std::int64_t>{-128, -1, 0, 1, 7, 127}));
  EXPECT_EQ(read_as<std::int64_t>(r, "u8", DType::I64), (std::vector<std::int64_t>{0, 1, 127, 128, 254, 255}));
  EXPECT_EQ(read_as<std::uint8_t>(r, "bool", DType::BOOL), (std::vector<std::uint8_t>{1, 0, 1, 1, 0, 0}));

  EXPECT_EQ((r.tensor<float, 0>("scalar")()), 3.5f);
  EXPECT_EQ(r.info("empty").shape, (std::vector<index_t>{0, 4}));
  const Tensor<float, 5> video = r.tensor<float, 5>("video");
  EXPECT_EQ(video.shape(), (Shape<5>{2, 3, 2, 2, 2}));
  EXPECT_EQ(video(1, 2, 1, 0, 1), static_cast<float>(((((1 * 3 + 2) * 2 + 1) * 2 + 0) * 2 + 1)) / 8.0f);
}

TEST(PythonInterop, CppRewritesPythonSafetensorsByteForByte) {
  const std::string src = ref_file("io_dtypes.safetensors");
  const LoadedTensors t = load_safetensors(src);
  TempDir dir;
  save_safetensors(dir.file("again.safetensors"), t.state_dict(), t.metadata());
  EXPECT_EQ(read_bytes(dir.file("again.safetensors")), read_bytes(src));
}

const char* const kNpyNames[] = {"f64", "f32", "f16",  "i64",    "i32",   "i16",
                                 "i8",  "u8",  "bool", "scalar", "empty", "video"};

TEST(PythonInterop, ReadsNumpyFilesOfEveryDType) {
  const LoadedTensors t = load_safetensors(ref_file("io_dtypes.safetensors"));
  for (const char* name : kNpyNames) {
    SCOPED_TRACE(name);
    const NpyArray a = read_npy(ref_file(std::string("io_npy_") + name + ".npy"));
    const TensorRef& want = t.at(name);
    EXPECT_EQ(a.dtype, want.dtype);
    EXPECT_EQ(a.shape, want.shape);
    ASSERT_EQ(a.nbytes(), want.nbytes());
    if (a.nbytes() > 0) {
      EXPECT_EQ(std::memcmp(a.data(), want.data, a.nbytes()), 0);
    }
  }
  const Tensor<float, 5> video = load_npy<float, 5>(ref_file("io_npy_video.npy"));
  EXPECT_EQ(video(1, 2, 1, 1, 1), 47.0f / 8.0f);
}

TEST(PythonInterop, CppRewritesNumpyFilesByteForByte) {
  TempDir dir;
  for (const char* name : kNpyNames) {
    SCOPED_TRACE(name);
    const std::string src = ref_file(std::string("io_npy_") + name + ".npy");
    NpyArray a = read_npy(src);
    save_npy(dir.file("again.npy"), a.ref());
    EXPECT_EQ(read_bytes(dir.file("again.npy")), read_bytes(src));
  }
}

TEST(PythonInterop, NumpyVersionsAndRefusals) {
  const NpyArray v1 = read_npy(ref_file("io_npy_f32.npy"));
  for (const char* v : {"io_npy_v2.npy", "io_npy_v3.npy"}) {
    SCOPED_TRACE(v);
    const NpyArray a = read_npy(ref_file(v));
    EXPECT_EQ(a.shape, v1.shape);
    EXPECT_EQ(std::memcmp(a.data(), v1.data(), v1.nbytes()), 0);
  }
  expect_error<FormatError>([] { read_npy(ref_file("io_npy_fortran.npy")); }, "fortran order is not supported");
  expect_error<DTypeError>([] { read_npy(ref_file("io_npy_bigendian.npy")); },
                           "big-endian data ('>f4') is not supported");
}

void expect_same_tensors(const LoadedTensors& got, const LoadedTensors& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const NamedTensor& g = got.state_dict()[i];
    const NamedTensor& w = want.state_dict()[i];
    EXPECT_EQ(g.name, w.name);
    EXPECT_EQ(g.ref.dtype, w.ref.dtype) << w.name;
    EXPECT_EQ(g.ref.shape, w.ref.shape) << w.name;
    if (g.ref.nbytes() == w.ref.nbytes() && w.ref.nbytes() > 0) {
      EXPECT_EQ(std::memcmp(g.ref.data, w.ref.data, w.ref.nbytes()), 0) << w.name;
    }
  }
}

TEST(PythonInterop, ConverterStripsDataParallelPrefixesAndKeepsValues) {
  const LoadedTensors want = load_safetensors(ref_file("io_model_expected.safetensors"));
  EXPECT_EQ(want.state_dict().keys(),
            (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"}));
  const LoadedTensors converted = load_safetensors(ref_file("io_model.safetensors"));
  expect_same_tensors(converted, want);
  EXPECT_EQ(converted.metadata().at("format"), "pt");
  expect_same_tensors(load_safetensors(ref_file("io_model_module.safetensors")), want);

  const LoadedTensors bn = load_safetensors(ref_file("io_model_bn.safetensors"));
  EXPECT_EQ(bn.state_dict().keys(),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(std::memcmp(bn.at("running_var").data, want.at("1.running_var").data, 16), 0);
}

TEST(PythonInterop, ConverterCastsToHalfAsTorchDoes) {
  const LoadedTensors want = load_safetensors(ref_file("io_model_expected.safetensors"));
  const SafetensorsReader half(ref_file("io_model_f16.safetensors"));
  EXPECT_EQ(half.info("1.num_batches_tracked").dtype, DType::I64);
  EXPECT_EQ((half.tensor<std::int64_t, 0>("1.num_batches_tracked")()), 17);
  for (const NamedTensor& e : want.state_dict()) {
    if (e.ref.dtype != DType::F32) continue;
    SCOPED_TRACE(e.name);
    EXPECT_EQ(half.info(e.name).dtype, DType::F16);
    std::vector<float> got(static_cast<std::size_t>(e.ref.numel()));
    half.read(e.name, {DType::F32, got.data(), e.ref.shape});
    const float* w = e.ref.data_as<float>();
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], half_to_float(float_to_half(w[i]))) << i;
  }
}

TEST(PythonInterop, PythonReadsWhatCppWrites) {
  TempDir dir;
  float f[6] = {-1.5f, 0.1f, 3e38f, -0.0f, 1e-45f, 2.0f};
  std::uint16_t h[2] = {float_to_half(0.333f), float_to_bf16(0.333f)};
  std::int64_t n[3] = {-(std::int64_t{1} << 62), 0, 17};
  std::uint8_t b[2] = {1, 0};
  StateDict sd;
  sd.add("w", {DType::F32, f, {2, 3}});
  sd.add("h", {DType::F16, &h[0], {1}});
  sd.add("bf", {DType::BF16, &h[1], {1}});
  sd.add("n", {DType::I64, n, {3}});
  sd.add("b", {DType::BOOL, b, {2}});
  save_safetensors(dir.file("cpp.safetensors"), sd, {{"format", "pt"}});
  save_npy(dir.file("cpp.npy"), TensorView<const float, 2>(f, {2, 3}));
  const std::string script = dir.file("check.py");
  std::ofstream(script) << "import sys\n"
                           "sys.path.insert(0, '" R2PLUS1D_SOURCE_DIR
                           "/tools')\n"
                           "import numpy as np, torch\n"
                           "from convert_checkpoint import load_safetensors\n"
                           "d = load_safetensors(sys.argv[1])\n"
                           "assert list(d) == ['w', 'h', 'bf', 'n', 'b'], list(d)\n"
                           "assert d.metadata == {'format': 'pt'}, d.metadata\n"
                           "w = torch.tensor([[-1.5, 0.1, 3e38], [-0.0, 1e-45, 2.0]], dtype=torch.float32)\n"
                           "assert torch.equal(d['w'], w), d['w']\n"
                           "assert torch.equal(d['h'], torch.tensor([0.333]).half()), d['h']\n"
                           "assert torch.equal(d['bf'], torch.tensor([0.333]).bfloat16()), d['bf']\n"
                           "assert torch.equal(d['n'], torch.tensor([-2**62, 0, 17])), d['n']\n"
                           "assert torch.equal(d['b'], torch.tensor([True, False])), d['b']\n"
                           "a = np.load(sys.argv[2])\n"
                           "assert a.dtype == np.float32 and a.shape == (2, 3) and (a == w.numpy()).all(), a\n";
  const std::string cmd =
      "/usr/bin/python3 '" + script + "' '" + dir.file("cpp.safetensors") + "' '" + dir.file("cpp.npy") + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace r2plus1d::io
