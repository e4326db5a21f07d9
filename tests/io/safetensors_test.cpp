#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <r2plus1d/io/safetensors.hpp>

namespace r2plus1d::io {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("r2plus1d_io_" + name)).string();
}

TEST(Safetensors, RoundTripKeepsOrderValuesAndMetadata) {
  const std::string path = temp_path("roundtrip.safetensors");
  Tensor<float, 2> w({2, 3});
  for (index_t i = 0; i < 6; ++i) w.data()[i] = static_cast<float>(i) - 2.5f;
  std::int64_t n = 42;
  StateDict sd;
  sd.add("z.weight", {DType::F32, w.data(), {2, 3}});
  sd.add("a.num_batches_tracked", {DType::I64, &n, {}});
  save_safetensors(path, sd, {{"format", "pt"}});
  const SafetensorsReader r(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.infos()[0].name, "z.weight");
  EXPECT_EQ(r.infos()[1].name, "a.num_batches_tracked");
  EXPECT_EQ(r.metadata().at("format"), "pt");
  const Tensor<double, 2> back = r.tensor<double, 2>("z.weight");
  EXPECT_EQ(back(1, 2), 2.5);
  EXPECT_EQ((r.tensor<std::int64_t, 0>("a.num_batches_tracked")()), 42);
  EXPECT_THROW((r.tensor<float, 3>("z.weight")), ShapeError);
  EXPECT_THROW(r.info("nope"), StateDictError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace r2plus1d::io
