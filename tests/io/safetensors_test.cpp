#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <r2plus1d/io/safetensors.hpp>
#include <r2plus1d/nn/module.hpp>
#include <string>
#include <typeindex>
#include <vector>

#include "io_test_util.hpp"

namespace r2plus1d::io {
namespace {

using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

constexpr DType kAllDTypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                                DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};

/// `n` elements of type `t` with distinct, type-specific bytes.
std::vector<unsigned char> pattern(DType t, std::size_t n) {
  std::vector<unsigned char> b(n * dtype_size(t));
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<unsigned char>(i * 7 + static_cast<std::size_t>(t) * 31 + 1);
  if (t == DType::BOOL)
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(i % 3 == 0);
  return b;
}

std::vector<std::uint8_t> le64(std::uint64_t v) {
  std::vector<std::uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}

/// A safetensors file: the header length, `header` and `data_bytes` zero bytes.
std::vector<std::uint8_t> st_file(const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> b(8 + header.size() + data_bytes, 0);
  const std::vector<std::uint8_t> len = le64(header.size());
  std::copy(len.begin(), len.end(), b.begin());
  std::copy(header.begin(), header.end(), b.begin() + 8);
  return b;
}

TEST(Safetensors, RoundTripsEveryDTypeInOrderWithMetadata) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  std::vector<std::vector<unsigned char>> buffers;
  StateDict sd;
  // Names deliberately out of alphabetical order: the header must keep insertion order.
  for (DType t : kAllDTypes) {
    buffers.push_back(pattern(t, 6));
    sd.add(std::string("z_") + dtype_name(t), {t, buffers.back().data(), {2, 3}});
  }
  save_safetensors(path, sd, {{"format", "pt"}, {"epoch", "3"}});

  const SafetensorsReader r(path);
  ASSERT_EQ(r.size(), sd.size());
  const std::vector<TensorInfo> infos = r.infos();
  for (std::size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(infos[i].name, sd[i].name);
    EXPECT_EQ(infos[i].dtype, sd[i].ref.dtype);
    EXPECT_EQ(infos[i].shape, (std::vector<index_t>{2, 3}));
    std::vector<unsigned char> back(buffers[i].size());
    r.read(sd[i].name, {sd[i].ref.dtype, back.data(), {6}});
    EXPECT_EQ(back, buffers[i]) << sd[i].name;
  }
  EXPECT_EQ(r.metadata(), (std::map<std::string, std::string>{{"epoch", "3"}, {"format", "pt"}}));

  const LoadedTensors all = load_safetensors(path);
  ASSERT_EQ(all.size(), sd.size());
  for (std::size_t i = 0; i < sd.size(); ++i) {
    const TensorRef& ref = all.at(sd[i].name);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ref.data) % kTensorAlignment, 0u);
    EXPECT_EQ(std::memcmp(ref.data, buffers[i].data(), buffers[i].size()), 0) << sd[i].name;
  }
  EXPECT_EQ(all.metadata().at("format"), "pt");
}

TEST(Safetensors, WritesThePaddedLittleEndianLayout) {
  TempDir dir;
  const std::string path = dir.file("layout.safetensors");
  float w[3] = {1.0f, -2.0f, 0.5f};
  std::int64_t n = 258;
  StateDict sd;
  sd.add("w", {DType::F32, w, {3}});
  sd.add("n", {DType::I64, &n, {}});
  save_safetensors(path, sd);
  const std::vector<std::uint8_t> b = read_bytes(path);
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | b[static_cast<std::size_t>(i)];
  ASSERT_EQ(len % 8, 0u);
  const std::string header(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(len));
  const std::string json = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                           R"("n":{"dtype":"I64","shape":[],"data_offsets":[12,20]}})";
  EXPECT_EQ(header.substr(0, json.size()), json);
  EXPECT_EQ(header.find_first_not_of(' ', json.size()), std::string::npos);
  ASSERT_EQ(b.size(), 8 + len + 20);
  EXPECT_EQ(std::memcmp(b.data() + 8 + len, w, 12), 0);
  EXPECT_EQ(b[8 + len + 12], 2);  // 258 little-endian
  EXPECT_EQ(b[8 + len + 13], 1);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, ConvertsHalfAndBFloat16OnRead) {
  const std::vector<float> values = {0.5f, -1.25f, 65504.0f, 1.0f / 3.0f, 5.96e-8f, 0.0f};
  std::vector<std::uint16_t> h, bf;
  for (float v : values) {
    h.push_back(float_to_half(v));
    bf.push_back(float_to_bf16(v));
  }
  StateDict sd;
  sd.add("h", {DType::F16, h.data(), {2, 3}});
  sd.add("bf", {DType::BF16, bf.data(), {2, 3}});
  TempDir dir;
  save_safetensors(dir.file("half.safetensors"), sd);
  const SafetensorsReader r(dir.file("half.safetensors"));
  const Tensor<float, 2> hf = r.tensor<float, 2>("h");
  const Tensor<double, 2> bd = r.tensor<double, 2>("bf");
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(hf.data()[i], half_to_float(h[i])) << i;
    EXPECT_EQ(bd.data()[i], static_cast<double>(bf16_to_float(bf[i]))) << i;
  }
  EXPECT_EQ(hf(0, 1), -1.25f);
  EXPECT_EQ(hf(1, 1), half_to_float(1));  // the smallest subnormal
  EXPECT_EQ(bd(0, 0), 0.5);
}

TEST(Safetensors, ConversionCrossesReadChunks) {
  const index_t n = 200'003;  // more than three 65536-element chunks, with a partial last one
  std::vector<std::uint16_t> h(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) h[static_cast<std::size_t>(i)] = float_to_half(static_cast<float>(i % 2048));
  StateDict sd;
  sd.add("big", {DType::F16, h.data(), {n}});
  const std::vector<std::uint8_t> bytes = [&] {
    TempDir dir;
    save_safetensors(dir.file("big.safetensors"), sd);
    return read_bytes(dir.file("big.safetensors"));
  }();
  const SafetensorsReader r = SafetensorsReader::from_bytes(bytes);
  const Tensor<float, 1> t = r.tensor<float, 1>("big");
  for (index_t i : {index_t{0}, index_t{65535}, index_t{65536}, index_t{131072}, n - 1})
    EXPECT_EQ(t(i), static_cast<float>(i % 2048)) << i;
}

TEST(Safetensors, ConvertsIntegersAndRefusesMixedKinds) {
  std::int8_t i8[3] = {-128, 0, 127};
  std::uint8_t u8[3] = {0, 128, 255};
  float f[3] = {1, 2, 3};
  StateDict sd;
  sd.add("i8", {DType::I8, i8, {3}});
  sd.add("u8", {DType::U8, u8, {3}});
  sd.add("f", {DType::F32, f, {3}});
  TempDir dir;
  save_safetensors(dir.file("ints.safetensors"), sd);
  const SafetensorsReader r(dir.file("ints.safetensors"));
  const Tensor<std::int64_t, 1> a = r.tensor<std::int64_t, 1>("i8");
  EXPECT_EQ(a(0), -128);
  EXPECT_EQ(a(2), 127);
  EXPECT_EQ((r.tensor<std::int32_t, 1>("u8")(2)), 255);
  expect_error<DTypeError>([&] { r.tensor<float, 1>("u8"); }, "holds U8 elements, cannot load them as F32");
  expect_error<DTypeError>([&] { r.tensor<std::int64_t, 1>("f"); }, "holds F32 elements, cannot load them as I64");
}

TEST(Safetensors, ReadChecksNamesElementCountsAndRank) {
  float w[6] = {};
  StateDict sd;
  sd.add("conv.weight", {DType::F32, w, {2, 3}});
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  save_safetensors(path, sd);
  const SafetensorsReader r(path);
  EXPECT_TRUE(r.contains("conv.weight"));
  EXPECT_FALSE(r.contains("conv.bias"));
  expect_error<StateDictError>([&] { r.info("conv.bias"); }, "no tensor named 'conv.bias'");
  float out[5];
  expect_error<StateDictError>(
      [&] {
        r.read("conv.weight", {DType::F32, out, {5}});
      },
      "'conv.weight' has 6 elements, expected 5");
  expect_error<ShapeError>([&] { r.tensor<float, 5>("conv.weight"); },
                           "'conv.weight' is a 2-D tensor [2, 3], expected a 5-D tensor");
}

TEST(Safetensors, HandlesScalarsEmptyTensorsAndEmptyFiles) {
  double s = 2.5;
  StateDict sd;
  sd.add("empty", {DType::F32, nullptr, {0, 4}});
  sd.add("scalar", {DType::F64, &s, {}});
  TempDir dir;
  save_safetensors(dir.file("s.safetensors"), sd);
  const SafetensorsReader r(dir.file("s.safetensors"));
  EXPECT_EQ(r.info("empty").shape, (std::vector<index_t>{0, 4}));
  EXPECT_EQ((r.tensor<float, 2>("empty").numel()), 0);
  EXPECT_EQ((r.tensor<float, 0>("scalar")()), 2.5f);

  save_safetensors(dir.file("none.safetensors"), StateDict{});
  const SafetensorsReader none(dir.file("none.safetensors"));
  EXPECT_EQ(none.size(), 0u);
  EXPECT_TRUE(none.metadata().empty());
}

TEST(Safetensors, IsATensorSourceForLoadStateDict) {
  std::vector<std::uint16_t> h = {float_to_half(1.5f), float_to_half(-2.0f)};
  std::int64_t n = 7;
  StateDict file;
  file.add("bn.weight", {DType::F16, h.data(), {2}});
  file.add("bn.num_batches_tracked", {DType::I64, &n, {}});
  TempDir dir;
  save_safetensors(dir.file("m.safetensors"), file);
  const SafetensorsReader r(dir.file("m.safetensors"));

  float w[2] = {0, 0};
  std::int64_t count = 0;
  StateDict module;
  module.add("bn.weight", {DType::F32, w, {2}});
  module.add("bn.num_batches_tracked", {DType::I64, &count, {}});
  nn::load_state_dict_into(module, r);
  EXPECT_EQ(w[0], 1.5f);
  EXPECT_EQ(w[1], -2.0f);
  EXPECT_EQ(count, 7);

  float wrong[3];
  StateDict other;
  other.add("bn.weight", {DType::F32, wrong, {3}});
  expect_error<StateDictError>([&] { nn::load_state_dict_into(other, r); }, "has shape [2], expected [3]");
  expect_error<StateDictError>([&] { nn::load_state_dict_into(other, load_safetensors(dir.file("m.safetensors"))); },
                               "unexpected keys (1): 'bn.num_batches_tracked'");
}

TEST(Safetensors, ReportsMissingPathsAndDirectories) {
  TempDir dir;
  const std::string missing = dir.file("nope.safetensors");
  expect_error<IoError>([&] { SafetensorsReader r(missing); }, "cannot open '" + missing + "': no such file");
  expect_error<IoError>([&] { SafetensorsReader r(dir.path().string()); }, "it is a directory");
  expect_error<IoError>([&] { load_safetensors(missing); }, missing);
}

TEST(Safetensors, DetectsAFileTruncatedAfterOpening) {
  std::vector<float> w(64, 1.0f);
  StateDict sd;
  sd.add("w", {DType::F32, w.data(), {64}});
  sd.add("h", {DType::F16, w.data(), {8}});  // converted reads take the chunked path
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  save_safetensors(path, sd);
  const SafetensorsReader r(path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 40);
  std::vector<float> out(64);
  expect_error<FormatError>(
      [&] {
        r.read("w", {DType::F32, out.data(), {64}});
      },
      "file is truncated: read 232 of 256 bytes of 'w'");
  expect_error<FormatError>([&] { r.read("h", {DType::F32, out.data(), {8}}); }, "file is truncated: read 0 of 16");
  std::filesystem::remove(path);
  expect_error<IoError>([&] { r.read("w", {DType::F32, out.data(), {64}}); }, "cannot open '" + path + "'");
}

TEST(Safetensors, SaveReportsFailuresAndLeavesNoTemporaryFile) {
  TempDir dir;
  float w[1] = {1};
  StateDict sd;
  sd.add("w", {DType::F32, w, {1}});
  const std::string in_missing_dir = dir.file("missing/w.safetensors");
  expect_error<IoError>([&] { save_safetensors(in_missing_dir, sd); }, "cannot write '" + in_missing_dir + "'");
  expect_error<IoError>([&] { save_safetensors(dir.path().string(), sd); }, "it is a directory");

  StateDict twice = sd;
  twice.add("w", {DType::F32, w, {1}});
  const std::string path = dir.file("w.safetensors");
  expect_error<StateDictError>([&] { save_safetensors(path, twice); }, "names 'w' more than once");
  StateDict reserved;
  reserved.add("__metadata__", {DType::F32, w, {1}});
  expect_error<StateDictError>([&] { save_safetensors(path, reserved); }, "'__metadata__' is reserved");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  save_safetensors(path, sd);  // replaces an existing file
  w[0] = 9;
  save_safetensors(path, sd);
  EXPECT_EQ((SafetensorsReader(path).tensor<float, 1>("w")(0)), 9.0f);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

struct Malformed {
  const char* name;
  std::vector<std::uint8_t> bytes;
  std::type_index type;
  std::string message;
};

std::vector<Malformed> malformed_files() {
  const std::type_index format = typeid(FormatError), dtype = typeid(DTypeError);
  const std::string f4 = R"("dtype":"F32","shape":[1],"data_offsets":[0,4])";
  std::vector<std::uint8_t> huge = le64(200'000'000);
  huge.resize(64, ' ');
  std::vector<std::uint8_t> max = le64(~std::uint64_t{0});
  max.resize(64, ' ');
  return {
      {"empty file", {}, format, "file is empty, too short for the 8-byte header length"},
      {"shorter than 8 bytes", {1, 0, 0, 0, 0}, format, "file is 5 bytes, too short"},
      {"header length past eof",
       [] {
         auto b = le64(3);
         b.push_back('{');
         b.push_back('}');
         return b;
       }(),
       format, "header length 3 exceeds file size 10"},
      {"header length past eof 2",
       [] {
         auto b = le64(100);
         b.push_back('{');
         return b;
       }(),
       format, "header length 100 exceeds file size 9"},
      {"header over 100 MB", huge, format, "header length 200000000 exceeds the limit of 100000000 bytes"},
      {"header length 2^64-1", max, format, "exceeds the limit of 100000000 bytes"},
      {"invalid json", st_file(R"({"a": )", 0), format, "header is not valid JSON"},
      {"invalid utf-8", st_file("{\"\xff\":1}", 0), format, "header is not valid JSON"},
      {"json not an object", st_file("[1, 2]", 0), format, "expected the header to be a JSON object, got array"},
      {"entry not an object", st_file(R"({"a":3})", 0), format,
       "'a': expected an object with dtype, shape and data_offsets, got number"},
      {"missing dtype", st_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), format, "'a': missing \"dtype\""},
      {"missing shape", st_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), format, "'a': missing \"shape\""},
      {"missing data_offsets", st_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), format,
       "'a': missing \"data_offsets\""},
      {"dtype not a string", st_file(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4), format,
       "\"dtype\" must be a string, got 4"},
      {"unknown dtype", st_file(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1), dtype,
       "'a': unsupported dtype \"F8_E4M3\", expected one of F64"},
      {"negative shape", st_file(R"({"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,4]}})", 4), format,
       "\"shape\" must be an array of non-negative integers, got [-1,2]"},
      {"fractional shape", st_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4), format,
       "\"shape\" must be an array of non-negative integers"},
      {"shape not an array", st_file(R"({"a":{"dtype":"F32","shape":3,"data_offsets":[0,4]}})", 4), format,
       "\"shape\" must be an array of non-negative integers, got 3"},
      {"numel overflow", st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}})", 4),
       format, "has too many elements"},
      {"offsets not a pair", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), format,
       "\"data_offsets\" must be [begin, end] with non-negative integers, got [0]"},
      {"negative offset", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4), format,
       "\"data_offsets\" must be [begin, end]"},
      {"offsets out of range", st_file("{\"a\":{" + f4 + "}}", 2), format,
       "'a': data_offsets [0, 4] run past the end of the 2-byte data section"},
      {"end before begin", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), format,
       "data_offsets [8, 4] end before begin"},
      {"size not matching shape", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8), format,
       "data_offsets [0, 4] hold 4 bytes, expected 8 for F32 shape [2]"},
      {"overlapping offsets",
       st_file(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           12),
       format, "'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])"},
      {"truncated data", st_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), format,
       "run past the end of the 8-byte data section"},
      {"duplicate names", st_file("{\"a\":{" + f4 + "},\"a\":{" + f4 + "}}", 4), format,
       "header names 'a' more than once"},
      {"metadata not an object", st_file(R"({"__metadata__":[1]})", 0), format,
       "\"__metadata__\" must be an object of strings, got array"},
      {"metadata value not a string", st_file(R"({"__metadata__":{"k":1}})", 0), format,
       "\"__metadata__\" value of 'k' must be a string, got number"},
  };
}

TEST(Safetensors, RejectsMalformedFilesInMemory) {
  for (const Malformed& m : malformed_files()) {
    SCOPED_TRACE(m.name);
    expect_error([&] { SafetensorsReader::from_bytes(m.bytes); }, m.type, m.message);
    expect_error([&] { SafetensorsReader::from_bytes(m.bytes); }, m.type, "safetensors: '<memory>': ");
  }
}

TEST(Safetensors, RejectsMalformedFilesOnDisk) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  for (const Malformed& m : malformed_files()) {
    SCOPED_TRACE(m.name);
    write_bytes(path, m.bytes);
    expect_error([&] { SafetensorsReader r(path); }, m.type, m.message);
    expect_error([&] { SafetensorsReader r(path); }, m.type, "safetensors: '" + path + "': ");
  }
}

TEST(Safetensors, AcceptsTheSmallestValidFiles) {
  // Zero-length tensors may share an offset; holes between tensors are allowed.
  const SafetensorsReader r = SafetensorsReader::from_bytes(st_file(
      R"({"__metadata__":{"k":"v"},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
      R"("f":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},"g":{"dtype":"BOOL","shape":[0,3],"data_offsets":[4,4]}})",
      8));
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r.metadata().at("k"), "v");
  EXPECT_EQ(r.infos()[1].name, "f");
}

}  // namespace
}  // namespace r2plus1d::io
