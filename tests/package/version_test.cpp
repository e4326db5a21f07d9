// The version macros of r2plus1d/version.hpp agree with CMake's project(VERSION),
// which reads them; R2PLUS1D_CMAKE_VERSION is PROJECT_VERSION.
#include <gtest/gtest.h>

#include <r2plus1d/r2plus1d.hpp>

#include <string>

namespace r2plus1d {
namespace {

TEST(Version, MacrosAgreeWithCMake) {
  const std::string v = std::to_string(R2PLUS1D_VERSION_MAJOR) + "." + std::to_string(R2PLUS1D_VERSION_MINOR) + "." +
                        std::to_string(R2PLUS1D_VERSION_PATCH);
  EXPECT_EQ(v, R2PLUS1D_CMAKE_VERSION);
  EXPECT_EQ(std::string(R2PLUS1D_VERSION), R2PLUS1D_CMAKE_VERSION);
  EXPECT_EQ(std::string(kVersion), R2PLUS1D_CMAKE_VERSION);
  static_assert(R2PLUS1D_VERSION_NUMBER ==
                    R2PLUS1D_VERSION_MAJOR * 10000 + R2PLUS1D_VERSION_MINOR * 100 + R2PLUS1D_VERSION_PATCH,
                "R2PLUS1D_VERSION_NUMBER");
}

}  // namespace
}  // namespace r2plus1d
