// The bad-input table: every input a caller or a file can get wrong, the exact
// exception type it raises (core/error.hpp) and words its message must hold
// (what was expected and what was found). Also: NaN and Inf propagate as in
// PyTorch instead of crashing, and zero-size batches give empty outputs.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "../io/io_test_util.hpp"

namespace r2plus1d {
namespace {

using io::test::TempDir;
using io::test::write_bytes;

struct BadInput {
  const char* name;
  std::type_index type;
  std::vector<std::string> words;  // each must appear in the message
  std::function<void()> run;
};

const char* type_name(std::type_index t) {
  if (t == typeid(ShapeError)) return "ShapeError";
  if (t == typeid(OptionError)) return "OptionError";
  if (t == typeid(IoError)) return "IoError";
  if (t == typeid(FormatError)) return "FormatError";
  if (t == typeid(DTypeError)) return "DTypeError";
  if (t == typeid(StateDictError)) return "StateDictError";
  if (t == typeid(Error)) return "Error";
  return "(not a library exception)";
}

void check(const BadInput& c) {
  SCOPED_TRACE(c.name);
  try {
    c.run();
  } catch (const Error& e) {
    const std::string what = e.what();
    std::cout << "[bad input] " << c.name << " | " << type_name(typeid(e)) << " | " << what << "\n";
    EXPECT_EQ(std::type_index(typeid(e)), c.type)
        << "expected " << type_name(c.type) << ", got " << type_name(typeid(e)) << ": " << what;
    for (const std::string& w : c.words)
      EXPECT_NE(what.find(w), std::string::npos) << "message '" << what << "' lacks '" << w << "'";
    EXPECT_EQ(what.find('\n'), std::string::npos) << "message spans lines: " << what;
    EXPECT_LT(what.size(), 1000u) << "message too long to read";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a non-library exception escaped: " << e.what();
    return;
  }
  ADD_FAILURE() << "nothing was thrown";
}

std::vector<std::uint8_t> u64le(std::uint64_t v) {
  std::vector<std::uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}

/// A safetensors file from a JSON header text and a data section.
std::vector<std::uint8_t> safetensors_bytes(const std::string& header, std::size_t data_bytes) {
  const std::vector<std::uint8_t> size = u64le(header.size());
  std::vector<std::uint8_t> b(size.size() + header.size() + data_bytes, 0);
  std::copy(size.begin(), size.end(), b.begin());
  std::copy(header.begin(), header.end(), b.begin() + static_cast<std::ptrdiff_t>(size.size()));
  return b;
}

Tensor<float, 5> input(Shape<5> s, float v = 0.5f) { return Tensor<float, 5>(s, v); }

class BadInputTable : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(BadInputTable, ShapesAndOptions) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(3, 4, 3));
  nn::Conv3d<float> conv_t(nn::Conv3dOptions(3, 4, {3, 1, 1}));
  nn::Conv3d<float> conv_s(nn::Conv3dOptions(3, 4, {1, 3, 3}).stride({1, 2, 2}));
  nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(3));
  nn::Linear<float> fc(nn::LinearOptions(512, 10));
  Generator gen(1);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  const std::vector<BadInput> table = {
      {"wrong channel count (Conv3d)", typeid(ShapeError), {"input has 4 channels, expected 3", "weight [4, 3, 3, 3, 3]"},
       [&] { conv(input({1, 4, 5, 8, 8}).cview()); }},
      {"wrong channel count (BatchNorm3d)", typeid(ShapeError), {"expected input with 3 channels, got 2"},
       [&] { bn(input({2, 2, 2, 2, 2}).cview()); }},
      {"wrong channel count (R2Plus1DNet)", typeid(ShapeError),
       {"input has 4 channels, expected 3", "(N, 3, T, H, W)", "[1, 4, 2, 8, 8]"},
       [&] { net(input({1, 4, 2, 8, 8}).cview()); }},
      {"channels-last clip (R2Plus1DNet)", typeid(ShapeError),
       {"input has 16 channels, expected 3", "[1, 16, 8, 8, 3]", "channels-last", "permute(0, 4, 1, 2, 3)"},
       [&] { net(input({1, 16, 8, 8, 3}).cview()); }},
      {"wrong feature count (Linear)", typeid(ShapeError), {"input has 256 features, expected 512"},
       [&] { fc(Tensor<float, 2>({2, 256}).cview()); }},
      {"temporal size too small for an unpadded kernel", typeid(ShapeError),
       {"input size (2, 8, 8)", "smaller than the dilated kernel (3, 1, 1)", "[1, 3, 2, 8, 8]"},
       [&] { conv_t(input({1, 3, 2, 8, 8}).cview()); }},
      {"spatial size too small for an unpadded kernel", typeid(ShapeError),
       {"input size (4, 2, 9)", "smaller than the dilated kernel (1, 3, 3)"},
       [&] { conv_s(input({1, 3, 4, 2, 9}).cview()); }},
      {"zero temporal size (Conv3d)", typeid(ShapeError), {"input size (0, 8, 8)", "smaller than the dilated kernel (3, 3, 3)"},
       [&] { conv(input({1, 3, 0, 8, 8}).cview()); }},
      {"zero channels (Conv3d)", typeid(ShapeError), {"input has 0 channels, expected 3"},
       [&] { conv(input({1, 0, 4, 8, 8}).cview()); }},
      {"zero-size clip (R2Plus1DNet)", typeid(ShapeError), {"non-empty input", "[1, 3, 4, 0, 8]"},
       [&] { net(input({1, 3, 4, 0, 8}).cview()); }},
      {"empty batch (R2Plus1DNet)", typeid(ShapeError), {"non-empty input", "[0, 3, 4, 8, 8]"},
       [&] { net(input({0, 3, 4, 8, 8}).cview()); }},
      {"zero spatial size (AdaptiveAvgPool3d)", typeid(ShapeError), {"non-zero channel and spatial sizes"},
       [&] { nn::AdaptiveAvgPool3d<float>(Triple{1, 1, 1})(input({1, 3, 0, 2, 2}).cview()); }},
      {"negative size in a tensor shape", typeid(ShapeError), {"negative size", "[1, -3]"},
       [&] { Tensor<float, 2>(Shape<2>{1, -3}); }},
      {"batch statistics from one value per channel", typeid(ShapeError), {"more than 1 value per channel"},
       [&] {
         nn::BatchNorm3d<float> b(nn::BatchNorm3dOptions(3));
         b(input({1, 3, 1, 1, 1}).cview());
       }},
      {"zero out_channels", typeid(OptionError), {"positive in_channels and out_channels", "got 3 and 0"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 0, 3)); }},
      {"negative in_channels", typeid(OptionError), {"got -1 and 4"}, [&] { nn::Conv3d<float>(nn::Conv3dOptions(-1, 4, 3)); }},
      {"zero kernel size", typeid(OptionError), {"positive kernel_size", "got (0, 3, 3)"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, {0, 3, 3})); }},
      {"zero stride", typeid(OptionError), {"positive stride", "got (1, 0, 1)"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 3).stride({1, 0, 1})); }},
      {"negative padding", typeid(OptionError), {"non-negative padding", "got (0, -1, 0)"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 3).padding({0, -1, 0})); }},
      {"zero dilation", typeid(OptionError), {"positive dilation"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 3).dilation(0)); }},
      {"zero groups", typeid(OptionError), {"positive groups, got 0"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 3).groups(0)); }},
      {"groups that do not divide the channels", typeid(OptionError), {"divisible by groups", "in_channels 3", "groups 2"},
       [&] { nn::Conv3d<float>(nn::Conv3dOptions(3, 4, 3).groups(2)); }},
      {"ops::conv3d groups that do not divide the input channels", typeid(ShapeError),
       {"input has 3 channels, expected 4"},
       [&] {
         Tensor<float, 5> w({4, 2, 1, 1, 1});
         ops::conv3d<float>(input({1, 3, 2, 2, 2}).cview(), w.cview(), nullptr, ops::Conv3dParams{1, 0, 1, 2});
       }},
      {"zero num_features (BatchNorm3d)", typeid(OptionError), {"positive num_features, got 0"},
       [&] { nn::BatchNorm3d<float>(nn::BatchNorm3dOptions(0)); }},
      {"negative eps (BatchNorm3d)", typeid(OptionError), {"non-negative eps"},
       [&] { nn::BatchNorm3d<float>(nn::BatchNorm3dOptions(3).eps(-1)); }},
      {"zero out_features (Linear)", typeid(OptionError), {"positive in_features and out_features"},
       [&] { nn::Linear<float>(nn::LinearOptions(512, 0)); }},
      {"negative output size (AdaptiveAvgPool3d)", typeid(OptionError), {"non-negative output_size"},
       [&] { nn::AdaptiveAvgPool3d<float>(Triple{1, -1, 1}); }},
      {"zero layer size", typeid(OptionError), {"layer_size >= 1, got 0"},
       [&] { R2Plus1DNet<float>({2, 0, 2, 2}); }},
      {"zero threads", typeid(OptionError), {"positive thread count, got 0"}, [&] { set_num_threads(0); }},
  };
  for (const BadInput& c : table) check(c);
}

TEST_F(BadInputTable, Files) {
  const std::string rank4 = dir.file("rank4.npy"), i64 = dir.file("i64.npy");
  io::save_npy(rank4, Tensor<float, 4>({3, 4, 8, 8}));
  io::save_npy(i64, Tensor<std::int64_t, 5>({1, 3, 1, 1, 1}));
  std::vector<std::uint8_t> npy = io::test::read_bytes(rank4);
  write_bytes(dir.file("truncated.npy"), std::vector<std::uint8_t>(npy.begin(), npy.end() - 100));
  std::vector<std::uint8_t> be = npy;
  const std::string le = "'<f4'";
  auto pos = std::search(be.begin(), be.end(), le.begin(), le.end());
  ASSERT_NE(pos, be.end());
  pos[1] = '>';
  write_bytes(dir.file("big_endian.npy"), be);

  nn::Conv3d<float> conv(nn::Conv3dOptions(2, 2, 1));
  StateDict good = conv.state_dict();
  io::save_safetensors(dir.file("conv.safetensors"), good);
  Tensor<std::int64_t, 5> iw({2, 2, 1, 1, 1});
  Tensor<float, 1> bias({2});
  StateDict int_weight;
  int_weight.add("weight", nn::detail::ref_of(iw));
  int_weight.add("bias", nn::detail::ref_of(bias));
  io::save_safetensors(dir.file("int_weight.safetensors"), int_weight);
  std::vector<std::uint8_t> st = io::test::read_bytes(dir.file("conv.safetensors"));
  write_bytes(dir.file("truncated.safetensors"), std::vector<std::uint8_t>(st.begin(), st.end() - 3));
  write_bytes(dir.file("overlap.safetensors"),
              safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                12));
  write_bytes(dir.file("f8.safetensors"),
              safetensors_bytes(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1));
  std::vector<std::uint8_t> huge = u64le(100'000'001);
  huge.resize(64, ' ');
  write_bytes(dir.file("huge_header.safetensors"), huge);
  write_bytes(dir.file("short_header.safetensors"), safetensors_bytes("{\"a\"", 0));
  // A 200 KB header whose shape nests 100,000 levels deep (printing it recursed off the stack).
  const std::string deep(100'000, '[');
  write_bytes(dir.file("deep_shape.safetensors"),
              safetensors_bytes(R"({"a":{"dtype":"F32","shape":)" + deep + std::string(100'000, ']') +
                                    R"(,"data_offsets":[0,4]}})",
                                4));
  write_bytes(dir.file("deep_unclosed.safetensors"), safetensors_bytes(R"({"a":)" + deep, 0));
  // Nested just as deep as allowed, around 50,000 numbers: an ordinary error
  // about the shape, its excerpt cut short.
  const auto ok_depth = static_cast<std::size_t>(io::kMaxHeaderDepth - 2);
  std::string numbers = "1";
  for (int i = 1; i < 50'000; ++i) numbers += ",1";
  write_bytes(dir.file("deep_ok.safetensors"),
              safetensors_bytes(R"({"a":{"dtype":"F32","shape":)" + std::string(ok_depth, '[') + numbers +
                                    std::string(ok_depth, ']') + R"(,"data_offsets":[0,4]}})",
                                4));
  // What torch.save writes: a zip archive, or (before PyTorch 1.6, or with
  // _use_new_zipfile_serialization=False) a pickle starting with its protocol.
  std::vector<std::uint8_t> zip = {'P', 'K', 3, 4, 0, 0, 8, 0, 0, 0};
  zip.resize(600, 0);
  write_bytes(dir.file("model.pth"), zip);
  std::vector<std::uint8_t> pickle = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
  pickle.resize(600, 0);
  write_bytes(dir.file("legacy.pth"), pickle);
  // Tensor names with a NUL and with a quote: messages escape them, so that no name is cut or ambiguous.
  write_bytes(dir.file("nul_name.safetensors"),
              safetensors_bytes(R"({"weight":{"dtype":"F32","shape":[2,2,1,1,1],"data_offsets":[0,16]},)"
                                R"("bias\u0000":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
                                24));
  write_bytes(dir.file("nul_overlap.safetensors"),
              safetensors_bytes(R"({"x\u0000y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("it's":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                12));

  Tensor<float, 5> w5({2, 2, 1, 1, 1});
  Tensor<float, 4> w4({2, 2, 1, 1});
  Tensor<float, 1> extra({1});
  StateDict missing, unexpected, misshaped;
  missing.add("weight", nn::detail::ref_of(w5));
  unexpected.add("weight", nn::detail::ref_of(w5));
  unexpected.add("bias", nn::detail::ref_of(bias));
  unexpected.add("extra", nn::detail::ref_of(extra));
  misshaped.add("weight", nn::detail::ref_of(w4));
  misshaped.add("bias", nn::detail::ref_of(bias));

  const std::string nope = dir.file("nope.npy"), d = dir.path().string();
  const std::vector<BadInput> table = {
      {"rank-4 .npy into load_npy<float, 5>", typeid(ShapeError), {"expected a 5-D array, got shape [3, 4, 8, 8]"},
       [&] { io::load_npy<float, 5>(rank4); }},
      {"int64 .npy into load_npy<float, 5>", typeid(DTypeError), {"cannot load '<i8' data as F32"},
       [&] { io::load_npy<float, 5>(i64); }},
      {"big-endian .npy", typeid(DTypeError), {"big-endian", "'>f4'", "expected little-endian"},
       [&] { io::read_npy(dir.file("big_endian.npy")); }},
      {"truncated .npy", typeid(FormatError), {"file is truncated", "expected 3072"},
       [&] { io::read_npy(dir.file("truncated.npy")); }},
      {".npy path that does not exist", typeid(IoError), {"nope.npy", "no such file"}, [&] { io::read_npy(nope); }},
      {".npy path that is a directory", typeid(IoError), {"it is a directory"}, [&] { io::load_npy<float, 5>(d); }},
      {"safetensors path that does not exist", typeid(IoError), {"nope.safetensors", "no such file"},
       [&] { io::SafetensorsReader r(dir.file("nope.safetensors")); }},
      {"safetensors path that is a directory", typeid(IoError), {"it is a directory"},
       [&] { io::load_safetensors(d); }},
      {"truncated safetensors", typeid(FormatError), {"run past the end"},
       [&] { io::SafetensorsReader r(dir.file("truncated.safetensors")); }},
      {"safetensors header longer than 100 MB", typeid(FormatError),
       {"header length 100000001 exceeds the limit of 100000000 bytes"},
       [&] { io::SafetensorsReader r(dir.file("huge_header.safetensors")); }},
      {"safetensors header cut short", typeid(FormatError), {"not valid JSON"},
       [&] { io::SafetensorsReader r(dir.file("short_header.safetensors")); }},
      {"safetensors shape nested 100,000 levels deep", typeid(FormatError),
       {"header nests arrays and objects deeper than 32 levels", "at byte 58 ", "a valid header needs 3"},
       [&] { io::SafetensorsReader r(dir.file("deep_shape.safetensors")); }},
      {"safetensors header opening 100,000 arrays it never closes", typeid(FormatError), {"deeper than 32 levels"},
       [&] { io::SafetensorsReader r(dir.file("deep_unclosed.safetensors")); }},
      {"safetensors shape nested as deep as allowed", typeid(FormatError),
       {"\"shape\" must be an array of non-negative integers, got [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1,1,1,", "1,1..."},
       [&] { io::SafetensorsReader r(dir.file("deep_ok.safetensors")); }},
      {"PyTorch checkpoint (zip) read as safetensors", typeid(FormatError),
       {"a PyTorch checkpoint (torch.save's zip archive), not a safetensors file", "tools/convert_checkpoint.py"},
       [&] { io::SafetensorsReader r(dir.file("model.pth")); }},
      {"PyTorch checkpoint (legacy pickle) read as safetensors", typeid(FormatError),
       {"a PyTorch checkpoint (a pickle", "not a safetensors file", "tools/convert_checkpoint.py"},
       [&] { io::load_safetensors(dir.file("legacy.pth")); }},
      {".npy read as safetensors", typeid(FormatError), {"this is a NumPy .npy array, not a safetensors file"},
       [&] { io::SafetensorsReader r(rank4); }},
      {"tensor name with a NUL", typeid(StateDictError),
       {"missing keys (1): 'bias'; unexpected keys (1): 'bias\\x00'"},
       [&] { conv.load_state_dict(io::SafetensorsReader(dir.file("nul_name.safetensors"))); }},
      {"tensor names with a NUL and a quote that overlap", typeid(FormatError),
       {"'x\\x00y' and 'it\\'s' overlap"},
       [&] { io::SafetensorsReader r(dir.file("nul_overlap.safetensors")); }},
      {"overlapping data offsets", typeid(FormatError), {"'a' and 'b' overlap", "[0, 8]", "[4, 12]"},
       [&] { io::SafetensorsReader r(dir.file("overlap.safetensors")); }},
      {"unsupported safetensors dtype", typeid(DTypeError), {"unsupported dtype \"F8_E4M3\"", "expected one of"},
       [&] { io::SafetensorsReader r(dir.file("f8.safetensors")); }},
      {"integer tensor read as float", typeid(DTypeError), {"'weight' holds I64 elements, cannot load them as F32"},
       [&] {
         io::SafetensorsReader r(dir.file("int_weight.safetensors"));
         r.tensor<float, 5>("weight");
       }},
      {"integer weights loaded into a float module", typeid(StateDictError),
       {"'weight' has dtype I64, expected F32"},
       [&] { conv.load_state_dict(io::SafetensorsReader(dir.file("int_weight.safetensors"))); }},
      {"missing key", typeid(StateDictError), {"missing keys (1): 'bias'"}, [&] { conv.load_state_dict(missing); }},
      {"extra key", typeid(StateDictError), {"unexpected keys (1): 'extra'"}, [&] { conv.load_state_dict(unexpected); }},
      {"mis-shaped key", typeid(StateDictError), {"'weight' has shape [2, 2, 1, 1], expected [2, 2, 1, 1, 1]"},
       [&] { conv.load_state_dict(misshaped); }},
      {"tensor of the wrong rank from safetensors", typeid(ShapeError), {"'bias' is a 1-D tensor [2], expected a 2-D"},
       [&] { io::SafetensorsReader(dir.file("conv.safetensors")).tensor<float, 2>("bias"); }},
      {"absent tensor name", typeid(StateDictError), {"no tensor named 'nope'"},
       [&] { io::SafetensorsReader(dir.file("conv.safetensors")).tensor<float, 1>("nope"); }},
      {"write into a directory that does not exist", typeid(IoError), {"cannot write", "no_dir/x.npy"},
       [&] { io::save_npy(dir.file("no_dir/x.npy"), Tensor<float, 1>({1})); }},
  };
  for (const BadInput& c : table) check(c);
}

// A file of another network's weights misses and adds hundreds of keys: the
// message counts them all and names only the first few of each kind.
TEST(StateDictErrors, KeyListsAreCapped) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(2, 2, 1));
  Tensor<float, 1> t({1});
  StateDict other;
  for (int i = 0; i < 335; ++i) other.add("layer" + std::to_string(i) + ".conv1.0.0.weight", nn::detail::ref_of(t));
  try {
    conv.load_state_dict(other);
    FAIL() << "nothing was thrown";
  } catch (const StateDictError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("missing keys (2): 'weight', 'bias'; unexpected keys (335): 'layer0.conv1.0.0.weight', "
                        "'layer1.conv1.0.0.weight', 'layer2.conv1.0.0.weight', 'layer3.conv1.0.0.weight', "
                        "'layer4.conv1.0.0.weight' and 330 more"),
              std::string::npos)
        << what;
    EXPECT_LT(what.size(), 400u) << what;
  }
  // Long names are cut in messages too.
  StateDict long_name;
  long_name.add("weight", nn::detail::ref_of(t));
  long_name.add("bias", nn::detail::ref_of(t));
  long_name.add(std::string(100'000, 'k'), nn::detail::ref_of(t));
  try {
    conv.load_state_dict(long_name);
    FAIL() << "nothing was thrown";
  } catch (const StateDictError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("...' (100000 bytes)"), std::string::npos) << what.substr(0, 400);
    EXPECT_LT(what.size(), 600u);
  }
}

TEST(StateDictErrors, QuoteEscapesWhatCouldCutOrSplitAMessage) {
  EXPECT_EQ(quote("conv1.weight"), "'conv1.weight'");
  EXPECT_EQ(quote(std::string("a\0b\n\x7f", 5)), "'a\\x00b\\x0a\\x7f'");
  EXPECT_EQ(quote("it's a\\b"), "'it\\'s a\\\\b'");
  EXPECT_EQ(quote("\xc3\xa9t\xc3\xa9"), "'\xc3\xa9t\xc3\xa9'");  // UTF-8 kept
  const std::string cut = quote(std::string(kMaxQuotedBytes - 1, 'x') + "\xc3\xa9" + "tail");
  EXPECT_EQ(cut, "'" + std::string(kMaxQuotedBytes - 1, 'x') + "...' (205 bytes)");  // never half a character
}

// PyTorch propagates NaN and Inf through every layer; so must we, without a crash.
TEST(NonFinite, ConvPropagatesNaNOverItsReceptiveField) {
  Generator gen(3);
  nn::Conv3d<float> conv(nn::Conv3dOptions(3, 4, 3).padding(1), gen);
  Tensor<float, 5> x({1, 3, 4, 6, 6});
  x(0, 0, 1, 2, 2) = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float, 5> y = conv(x.cview());
  int nans = 0;
  for (index_t o = 0; o < 4; ++o)
    for (index_t d = 0; d < 4; ++d)
      for (index_t h = 0; h < 6; ++h)
        for (index_t w = 0; w < 6; ++w) {
          const bool covered = std::abs(d - 1) <= 1 && std::abs(h - 2) <= 1 && std::abs(w - 2) <= 1;
          EXPECT_EQ(std::isnan(y(0, o, d, h, w)), covered) << o << " " << d << " " << h << " " << w;
          nans += std::isnan(y(0, o, d, h, w)) ? 1 : 0;
        }
  EXPECT_EQ(nans, 108);  // torch.nn.Conv3d(3, 4, 3, padding=1) on the same input: 108 of 576
}

TEST(NonFinite, InfinitiesFollowIeeeArithmetic) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(2, 1, 1).bias(false));
  conv.weight().fill(1.0f);
  Tensor<float, 5> x({1, 2, 1, 1, 3});
  const float inf = std::numeric_limits<float>::infinity();
  x(0, 0, 0, 0, 0) = inf;   // inf + 0 = inf
  x(0, 0, 0, 0, 1) = inf;   // inf + -inf = nan
  x(0, 1, 0, 0, 1) = -inf;
  x(0, 1, 0, 0, 2) = -inf;  // -inf
  const Tensor<float, 5> y = conv(x.cview());
  EXPECT_EQ(y(0, 0, 0, 0, 0), inf);
  EXPECT_TRUE(std::isnan(y(0, 0, 0, 0, 1)));
  EXPECT_EQ(y(0, 0, 0, 0, 2), -inf);
  // relu: torch.relu(nan) is nan, relu(inf) is inf, relu(-inf) is 0.
  const Tensor<float, 5> r = nn::ReLU<float>()(y.cview());
  EXPECT_EQ(r(0, 0, 0, 0, 0), inf);
  EXPECT_TRUE(std::isnan(r(0, 0, 0, 0, 1)));
  EXPECT_EQ(r(0, 0, 0, 0, 2), 0.0f);
  // The average of anything with a NaN is NaN; of +inf values, +inf.
  const Tensor<float, 5> p = nn::AdaptiveAvgPool3d<float>(Triple{1, 1, 1})(r.cview());
  EXPECT_TRUE(std::isnan(p(0, 0, 0, 0, 0)));
  // BatchNorm (eval) and Linear are elementwise / dot products: NaN in, NaN out.
  nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(1));
  bn.eval();
  const Tensor<float, 5> b = bn(y.cview());
  EXPECT_EQ(b(0, 0, 0, 0, 0), inf);
  EXPECT_TRUE(std::isnan(b(0, 0, 0, 0, 1)));
  nn::Linear<float> fc(nn::LinearOptions(2, 1));
  Tensor<float, 2> v({1, 2});
  v(0, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(fc(v.cview())(0, 0)));
}

TEST(NonFinite, NaNPixelMakesOnlyItsClipNaNInTheNetwork) {
  Generator gen(5);
  R2Plus1DNet<float> net({1, 1, 1, 1}, gen);
  net.eval();
  Tensor<float, 5> x({2, 3, 2, 16, 16}, 0.25f);
  x(1, 2, 1, 7, 9) = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float, 2> y = net(x.cview());
  for (index_t f = 0; f < 512; ++f) EXPECT_TRUE(std::isfinite(y(0, f))) << f;
  int nans = 0;
  for (index_t f = 0; f < 512; ++f) nans += std::isnan(y(1, f)) ? 1 : 0;
  EXPECT_EQ(nans, 512);  // torch: every pooled feature averages a NaN position
}

TEST(ZeroSize, EmptyBatchGivesEmptyOutputAsTorch) {
  nn::Conv3d<float> conv(nn::Conv3dOptions(3, 4, 3));
  const Tensor<float, 5> y = conv(input({0, 3, 4, 8, 8}).cview());
  EXPECT_EQ(y.shape(), (Shape<5>{0, 4, 2, 6, 6}));  // torch: torch.Size([0, 4, 2, 6, 6])
  nn::BatchNorm3d<float> bn(nn::BatchNorm3dOptions(3));
  bn.eval();
  EXPECT_EQ(bn(input({0, 3, 2, 2, 2}).cview()).shape(), (Shape<5>{0, 3, 2, 2, 2}));
}

}  // namespace
}  // namespace r2plus1d
