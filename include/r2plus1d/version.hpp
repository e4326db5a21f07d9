#pragma once
/// \file
/// The library's version: the one place it is written. CMake's
/// project(VERSION), the pkg-config file, `r2plus1d-extract --version` and
/// `r2plus1d-convert --version` read it from here.

/// Major version: changes that break the API.
#define R2PLUS1D_VERSION_MAJOR 0
/// Minor version: additions.
#define R2PLUS1D_VERSION_MINOR 1
/// Patch version: fixes.
#define R2PLUS1D_VERSION_PATCH 0

/// `x` as a string literal, unexpanded (a helper of R2PLUS1D_VERSION_STRINGIFY).
#define R2PLUS1D_VERSION_STRINGIFY_(x) #x
/// `x` as a string literal after macro expansion (a helper of R2PLUS1D_VERSION).
#define R2PLUS1D_VERSION_STRINGIFY(x) R2PLUS1D_VERSION_STRINGIFY_(x)
/// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
#define R2PLUS1D_VERSION                                                                      \
  R2PLUS1D_VERSION_STRINGIFY(R2PLUS1D_VERSION_MAJOR)                                          \
  "." R2PLUS1D_VERSION_STRINGIFY(R2PLUS1D_VERSION_MINOR) "." R2PLUS1D_VERSION_STRINGIFY( \
      R2PLUS1D_VERSION_PATCH)
/// MAJOR * 10000 + MINOR * 100 + PATCH, for comparisons in `#if`.
#define R2PLUS1D_VERSION_NUMBER (R2PLUS1D_VERSION_MAJOR * 10000 + R2PLUS1D_VERSION_MINOR * 100 + R2PLUS1D_VERSION_PATCH)

namespace r2plus1d {

/// The version as a string, "MAJOR.MINOR.PATCH".
inline constexpr const char* kVersion = R2PLUS1D_VERSION;

}  // namespace r2plus1d
