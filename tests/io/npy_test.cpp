#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <r2plus1d/io/npy.hpp>
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

/// An .npy file: magic, version, header length (2 bytes for 1.0, 4 otherwise), `header`, `data_bytes` zeros.
std::vector<std::uint8_t> npy_file(const std::string& header, std::size_t data_bytes, int major = 1) {
  std::vector<std::uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  const std::size_t n = header.size();
  b.push_back(static_cast<std::uint8_t>(n & 0xff));
  b.push_back(static_cast<std::uint8_t>((n >> 8) & 0xff));
  if (major > 1) {
    b.push_back(static_cast<std::uint8_t>((n >> 16) & 0xff));
    b.push_back(static_cast<std::uint8_t>((n >> 24) & 0xff));
  }
  std::vector<std::uint8_t> out(b.size() + n + data_bytes, 0);
  std::copy(b.begin(), b.end(), out.begin());
  std::copy(header.begin(), header.end(), out.begin() + static_cast<std::ptrdiff_t>(b.size()));
  return out;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

TEST(Npy, RoundTripsEveryNumpyDType) {
  TempDir dir;
  for (DType t :
       {DType::F64, DType::F32, DType::F16, DType::I64, DType::I32, DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    SCOPED_TRACE(dtype_name(t));
    std::vector<unsigned char> bytes(6 * dtype_size(t));
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 13 + 5);
    if (t == DType::BOOL) bytes = {1, 0, 0, 1, 1, 0};
    const std::string path = dir.file(std::string(dtype_name(t)) + ".npy");
    save_npy(path, TensorRef{t, bytes.data(), {3, 1, 2}});
    const NpyArray a = read_npy(path);
    EXPECT_EQ(a.dtype, t);
    EXPECT_EQ(a.shape, (std::vector<index_t>{3, 1, 2}));
    ASSERT_EQ(a.nbytes(), bytes.size());
    EXPECT_EQ(std::memcmp(a.data(), bytes.data(), bytes.size()), 0);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % kTensorAlignment, 0u);
  }
}

TEST(Npy, WritesWhatNumpyWrites) {
  TempDir dir;
  const std::string path = dir.file("v.npy");
  float v[5] = {1, 2, 3, 4, 5};
  save_npy(path, TensorView<const float, 1>(v, {5}));
  const std::vector<std::uint8_t> b = read_bytes(path);
  ASSERT_GE(b.size(), 10u);
  EXPECT_EQ(std::memcmp(b.data(), "\x93NUMPY\x01\x00", 8), 0);
  const std::size_t hlen = b[8] | (b[9] << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  const std::string header(b.begin() + 10, b.begin() + 10 + static_cast<std::ptrdiff_t>(hlen));
  const std::string want = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }";
  EXPECT_EQ(header.substr(0, want.size()), want);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.find_first_not_of(' ', want.size()), hlen - 1);
  ASSERT_EQ(b.size(), 10 + hlen + sizeof v);
  EXPECT_EQ(std::memcmp(b.data() + 10 + hlen, v, sizeof v), 0);

  double s = 1.5;
  save_npy(dir.file("s.npy"), TensorRef{DType::F64, &s, {}});
  const std::vector<std::uint8_t> sb = read_bytes(dir.file("s.npy"));
  EXPECT_NE(std::string(sb.begin(), sb.end()).find("'shape': (), }"), std::string::npos);
  EXPECT_EQ(read_npy(dir.file("s.npy")).shape.size(), 0u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Npy, LoadNpyConvertsFloatsToTheTensorType) {
  TempDir dir;
  std::uint16_t h[6];
  for (int i = 0; i < 6; ++i) h[i] = float_to_half(0.25f * static_cast<float>(i) - 0.5f);
  save_npy(dir.file("h.npy"), TensorRef{DType::F16, h, {2, 3}});
  const Tensor<float, 2> f = load_npy<float, 2>(dir.file("h.npy"));
  EXPECT_EQ(f(0, 0), -0.5f);
  EXPECT_EQ(f(1, 2), 0.75f);
  Tensor<double, 5> x({1, 3, 2, 2, 2});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.1 * static_cast<double>(i);
  save_npy(dir.file("x.npy"), x);
  const Tensor<float, 5> xf = load_npy<float, 5>(dir.file("x.npy"));
  EXPECT_EQ(xf(0, 2, 1, 1, 1), static_cast<float>(x(0, 2, 1, 1, 1)));
  const Tensor<double, 5> xd = load_npy<double, 5>(dir.file("x.npy"));
  EXPECT_EQ(xd(0, 1, 0, 1, 0), x(0, 1, 0, 1, 0));
  Tensor<std::int64_t, 1> labels({3}, 7);
  save_npy(dir.file("l.npy"), labels.view());
  EXPECT_EQ((load_npy<std::int32_t, 1>(dir.file("l.npy"))(2)), 7);
}

TEST(Npy, LoadNpyChecksRankAndKind) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  Tensor<float, 2> x({3, 4}, 1.0f);
  save_npy<float, 2>(path, x.cview());  // the README's spelling
  expect_error<ShapeError>([&] { load_npy<float, 5>(path); },
                           "npy: '" + path + "': expected a 5-D array, got shape [3, 4]");
  expect_error<DTypeError>([&] { load_npy<std::int64_t, 2>(path); }, "cannot load '<f4' data as I64");
  std::int32_t i[2] = {1, 2};
  save_npy(path, TensorRef{DType::I32, i, {2}});
  expect_error<DTypeError>([&] { load_npy<float, 1>(path); }, "cannot load '<i4' data as F32");
  std::uint16_t b[1] = {0};
  expect_error<DTypeError>([&] { save_npy(path, TensorRef{DType::BF16, b, {1}}); }, "numpy has no BF16 type");
}

TEST(Npy, ReadsVersions2And3AndPython2Shapes) {
  for (int major : {2, 3}) {
    const NpyArray a = parse_npy(npy_file(dict("<f8", "(2, 2)"), 32, major));
    EXPECT_EQ(a.dtype, DType::F64);
    EXPECT_EQ(a.shape, (std::vector<index_t>{2, 2}));
  }
  const NpyArray old = parse_npy(npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (3L, 2L), }", 6));
  EXPECT_EQ(old.shape, (std::vector<index_t>{3, 2}));
  const NpyArray quoted = parse_npy(npy_file("{\"shape\": [4], \"descr\": \"<i2\", \"fortran_order\": False}", 8));
  EXPECT_EQ(quoted.dtype, DType::I16);
  EXPECT_EQ(quoted.shape, (std::vector<index_t>{4}));
}

TEST(Npy, ReportsMissingPathsAndDirectories) {
  TempDir dir;
  const std::string missing = dir.file("nope.npy");
  expect_error<IoError>([&] { read_npy(missing); }, "npy: cannot open '" + missing + "': no such file");
  expect_error<IoError>([&] { load_npy<float, 1>(dir.path().string()); }, "it is a directory");
  float v = 0;
  expect_error<IoError>([&] { save_npy(dir.file("no/dir.npy"), TensorRef{DType::F32, &v, {1}}); }, "cannot write");
}

struct MalformedNpy {
  const char* name;
  std::vector<std::uint8_t> bytes;
  std::type_index type;
  std::string message;
};

std::vector<MalformedNpy> malformed_npy_files() {
  const std::type_index format = typeid(FormatError), dtype = typeid(DTypeError);
  std::vector<std::uint8_t> bad_magic = npy_file(dict("<f4", "(1,)"), 4);
  bad_magic[1] = 'X';
  std::vector<std::uint8_t> version4 = npy_file(dict("<f4", "(1,)"), 4);
  version4[6] = 4;
  std::vector<std::uint8_t> long_header = npy_file(dict("<f4", "(1,)"), 4);
  long_header[8] = 0xff;
  std::vector<std::uint8_t> cut_header = npy_file(dict("<f4", "(1,)"), 0);
  cut_header.resize(30);
  return {
      {"empty file", {}, format, "file is 0 bytes, too short for an .npy header"},
      {"bad magic", bad_magic, format, "not an .npy file (bad magic)"},
      {"unsupported version", version4, format, "unsupported .npy version 4.0, expected 1.0, 2.0 or 3.0"},
      {"header length past eof", long_header, format, "file is truncated: header length 255 exceeds file size"},
      {"truncated header", cut_header, format, "file is truncated: header length 58 exceeds file size 30"},
      {"fortran order", npy_file(dict("<f4", "(2, 3)", "True"), 24), format, "fortran order is not supported"},
      {"big-endian", npy_file(dict(">f4", "(2, 3)"), 24), dtype, "big-endian data ('>f4') is not supported"},
      {"unsupported dtype", npy_file(dict("<c8", "(1,)"), 8), dtype, "unsupported dtype '<c8', expected one of"},
      {"object dtype", npy_file(dict("|O", "(1,)"), 8), dtype, "unsupported dtype '|O'"},
      {"structured dtype", npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4), dtype,
       "structured dtypes are not supported"},
      {"data too short", npy_file(dict("<f4", "(2, 3)"), 20), format,
       "file is truncated: data is 20 bytes, expected 24 for '<f4' shape [2, 3]"},
      {"data too long", npy_file(dict("<f4", "(2, 3)"), 28), format, "data is 28 bytes, expected 24"},
      {"garbage header", npy_file("hello", 0), format, "malformed header: expected '{'"},
      {"unterminated string", npy_file("{'descr", 0), format, "malformed header: unterminated string"},
      {"unterminated dict", npy_file("{'descr': '<f4', ", 0), format, "malformed header: unexpected end of header"},
      {"trailing text", npy_file(dict("<f4", "(1,)") + "x", 4), format, "unexpected characters after the dictionary"},
      {"missing shape", npy_file("{'descr': '<f4', 'fortran_order': False}", 4), format, "missing 'shape'"},
      {"unexpected key", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4), format,
       "unexpected key 'x'"},
      {"duplicate key", npy_file("{'descr': '<f4', 'descr': '<f4'}", 4), format, "key 'descr' appears twice"},
      {"negative size", npy_file(dict("<f4", "(-1, 2)"), 4), format, "'shape' must hold non-negative integers"},
      {"shape not a tuple", npy_file(dict("<f4", "5"), 4), format, "'shape' must be a tuple"},
      {"fortran_order not a bool", npy_file(dict("<f4", "(1,)", "0"), 4), format,
       "'fortran_order' must be True or False"},
      {"huge integer", npy_file(dict("<f4", "(99999999999999999999999,)"), 4), format, "integer too large"},
      {"numel overflow", npy_file(dict("<f4", "(4294967296, 4294967296)"), 4), format, "shape has too many elements"},
      {"nested too deeply", npy_file(dict("<f4", "((((((((((1,),),),),),),),),)"), 4), format, "nested too deeply"},
      {"escape in string", npy_file("{'de\\scr': 1}", 4), format, "escapes in strings are not supported"},
      {"control character", npy_file(std::string("{\x01}"), 4), format, "unexpected character '?'"},
  };
}

TEST(Npy, RejectsMalformedFilesInMemory) {
  for (const MalformedNpy& m : malformed_npy_files()) {
    SCOPED_TRACE(m.name);
    expect_error([&] { parse_npy(m.bytes); }, m.type, m.message);
    expect_error([&] { parse_npy(m.bytes); }, m.type, "npy: '<memory>': ");
  }
}

TEST(Npy, RejectsMalformedFilesOnDisk) {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  for (const MalformedNpy& m : malformed_npy_files()) {
    SCOPED_TRACE(m.name);
    write_bytes(path, m.bytes);
    expect_error([&] { read_npy(path); }, m.type, m.message);
    expect_error([&] { read_npy(path); }, m.type, "npy: '" + path + "': ");
  }
}

}  // namespace
}  // namespace r2plus1d::io
