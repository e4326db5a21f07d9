// r2plus1d-extract's output formats (examples/extract_outputs.hpp): the CSV
// header, JSON Lines escaping and numbers, and the readers --merge and
// --labels use on each format.

#include <gtest/gtest.h>

#include "extract_outputs.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace {

namespace fs = std::filesystem;
using r2plus1d::index_t;

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(R2PLUS1D_VIDEO_WORK_DIR) + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

r2plus1d::Tensor<float, 2> rows(index_t n, index_t d) {
  r2plus1d::Tensor<float, 2> y = r2plus1d::Tensor<float, 2>::empty({n, d});
  for (index_t i = 0; i < y.numel(); ++i) y.data()[i] = 0.1f * static_cast<float>(i) - 0.25f;
  return y;
}

TEST(ExtractOutputs, JsonStringsAreEscapedAndValid) {
  EXPECT_EQ(extract::json_string("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(extract::json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 kept
  EXPECT_EQ(extract::json_string("x\xff.npy"), "\"x\xef\xbf\xbd.npy\"");  // not UTF-8: U+FFFD
}

TEST(ExtractOutputs, JsonFloatsReadBackAndNonFiniteIsNull) {
  for (float v : {0.1f, -3.4028235e38f, 1.17549435e-38f, 123456.789f}) {
    const std::string s = extract::json_float(v);
    EXPECT_EQ(std::strtof(s.c_str(), nullptr), v) << s;
  }
  EXPECT_EQ(extract::json_float(std::numeric_limits<float>::quiet_NaN()), "null");
  EXPECT_EQ(extract::json_float(-std::numeric_limits<float>::infinity()), "null");
}

TEST(ExtractOutputs, CsvHasAHeaderNamingTheColumns) {
  EXPECT_EQ(extract::features_csv(rows(1, 3), "f"), "f0,f1,f2\n-0.25,-0.150000006,-0.049999997\n");
  extract::OutputRows o;
  EXPECT_EQ(extract::csv_column_prefix(o), "f");
  o.scores = true;
  EXPECT_EQ(extract::csv_column_prefix(o), "logit");
  o.video_level = true;
  EXPECT_EQ(extract::csv_column_prefix(o), "prob");
}

TEST(ExtractOutputs, JsonlOneObjectPerRow) {
  extract::OutputRows o;
  o.input = "v.mp4";
  o.records = {{0, 0, 0.0, 15, 0.6, 25}, {1, 16, 0.64, 31, 1.24, 25}};
  r2plus1d::Tensor<float, 2> y = rows(2, 2);
  y(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(extract::features_jsonl(y, o),
            "{\"input\":\"v.mp4\",\"clip\":0,\"start_frame\":0,\"end_frame\":15,\"start_time\":0.000000,"
            "\"end_time\":0.600000,\"fps\":25.000000,\"features\":[-0.25,-0.150000006]}\n"
            "{\"input\":\"v.mp4\",\"clip\":1,\"start_frame\":16,\"end_frame\":31,\"start_time\":0.640000,"
            "\"end_time\":1.240000,\"fps\":25.000000,\"features\":[-0.049999997,null]}\n");
  // Class scores: the top classes by softmax probability (of the float log(3): 0.750000004), and the
  // logits with full_scores.
  extract::OutputRows s;
  s.input = "c.npy";
  s.scores = true;
  s.full_scores = true;
  s.topk = 1;
  s.records = {{0}};
  r2plus1d::Tensor<float, 2> z = r2plus1d::Tensor<float, 2>::empty({1, 2});
  z(0, 0) = 0;
  z(0, 1) = std::log(3.0f);
  EXPECT_EQ(extract::features_jsonl(z, s),
            "{\"input\":\"c.npy\",\"clip\":0,\"start_frame\":null,\"end_frame\":null,\"start_time\":null,"
            "\"end_time\":null,\"fps\":null,\"topk\":[{\"label\":\"class 1\",\"index\":1,\"prob\":0.750000004}],"
            "\"logits\":[0,1.09861231]}\n");
}

TEST(ExtractOutputs, ReadersCountRowsAndLoadScoresInEachFormat) {
  const std::string dir = fresh_dir("outputs");
  const r2plus1d::Tensor<float, 2> y = rows(3, 4);
  extract::OutputRows o;
  o.scores = true;
  o.full_scores = true;
  for (const char* format : {"npy", "csv", "jsonl"}) {
    o.format = format;
    const std::string path = dir + "/a." + format;
    extract::write_output(path, y, o);
    EXPECT_EQ(extract::rows_of(path, format), 3) << format;
    const r2plus1d::Tensor<float, 2> back = extract::load_scores(path, format);
    ASSERT_EQ(back.size(0), 3) << format;
    ASSERT_EQ(back.size(1), 4) << format;
    for (index_t i = 0; i < y.numel(); ++i) EXPECT_EQ(back.data()[i], y.data()[i]) << format;
  }
  // A CSV output of an earlier version, without a header; one cut; a JSON line that is not an object.
  std::ofstream(dir + "/old.csv") << "1,2\n3,4\n";
  EXPECT_EQ(extract::rows_of(dir + "/old.csv", "csv"), 2);
  EXPECT_EQ(extract::load_scores(dir + "/old.csv", "csv").size(0), 2);
  std::ofstream(dir + "/cut.csv") << "f0,f1\n1,2\n3,";
  EXPECT_THROW(extract::rows_of(dir + "/cut.csv", "csv"), r2plus1d::IoError);
  std::ofstream(dir + "/bad.jsonl") << "[1,2]\n";
  EXPECT_THROW(extract::rows_of(dir + "/bad.jsonl", "jsonl"), r2plus1d::FormatError);
  o.full_scores = false;
  o.format = "jsonl";
  extract::write_output(dir + "/top.jsonl", y, o);
  EXPECT_THROW(extract::load_scores(dir + "/top.jsonl", "jsonl"), r2plus1d::FormatError);  // no logits in it
}

}  // namespace
