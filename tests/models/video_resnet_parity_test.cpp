// torchvision's r2plus1d_18, r3d_18 and mc3_18, and the Caffe2 models'
// r2plus1d_34, against Debian's torchvision on the same weights and clips
// (tests/reference/gen_torchvision.py): state_dict keys, order and shapes,
// class scores in float and double, and in training mode the running
// statistics after the step (BatchNorm momentum 0.9 for r2plus1d_34).

#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include "reference_check.hpp"

namespace r2plus1d {
namespace {

template <class T>
void check(const std::string& name) {
  const io::SafetensorsReader ref(test::reference_file("video_" + name));
  const std::string factory = ref.metadata().at("module");
  const index_t classes = nlohmann::json::parse(ref.metadata().at("ctor")).at("args").at(0).get<index_t>();
  if (factory == "r2plus1d_18") {
    auto m = video::r2plus1d_18<T>(classes);
    test::check_against_reference<T>(m, "video_" + name, "video");
  } else if (factory == "r3d_18") {
    auto m = video::r3d_18<T>(classes);
    test::check_against_reference<T>(m, "video_" + name, "video");
  } else if (factory == "mc3_18") {
    auto m = video::mc3_18<T>(classes);
    test::check_against_reference<T>(m, "video_" + name, "video");
  } else if (factory == "r2plus1d_34") {
    auto m = video::r2plus1d_34<T>(classes);
    test::check_against_reference<T>(m, "video_" + name, "video");
  } else {
    FAIL() << "unknown factory '" << factory << "'";
  }
}

class VideoResNetParity : public ::testing::TestWithParam<std::string> {};
class VideoResNetParityDouble : public ::testing::TestWithParam<std::string> {};

TEST_P(VideoResNetParity, Float) { check<float>(GetParam()); }
TEST_P(VideoResNetParityDouble, Double) { check<double>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Torchvision, VideoResNetParity,
                         ::testing::Values("r2plus1d_18_16x112x112", "r2plus1d_18_odd", "r3d_18_16x112x112",
                                           "r3d_18_odd", "mc3_18_16x112x112", "mc3_18_odd",
                                           "r2plus1d_18_classes10_train", "r2plus1d_34_8x112x112", "r2plus1d_34_odd"),
                         [](const auto& info) { return info.param; });
// Float64 references exist for every case but the full-size clips
// (gen_torchvision.py: the odd-sized clips cover every network in double).
// r2plus1d_34's training step is checked in double only: there torch's float32
// itself strays 4e-4 from its float64 (gen_torchvision.py).
INSTANTIATE_TEST_SUITE_P(Torchvision, VideoResNetParityDouble,
                         ::testing::Values("r2plus1d_18_odd", "r3d_18_odd", "mc3_18_odd", "r2plus1d_18_classes10_train",
                                           "r2plus1d_34_odd", "r2plus1d_34_classes5_train"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace r2plus1d
