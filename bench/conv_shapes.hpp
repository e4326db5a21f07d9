#pragma once
// Every distinct convolution of torchvision's r2plus1d_18 and of the seed's
// R2Plus1DNet (2, 2, 2, 2) on one 1x3x16x112x112 clip (XNNPACK-style: real
// network shapes in a table). `uses` counts the layer's occurrences per
// forward pass, per network, so the table also shows where the time goes.

#include <r2plus1d/r2plus1d.hpp>

#include <string>

namespace r2plus1d::bench {

struct ConvShape {
  const char* name;
  Shape<5> input;
  Shape<5> weight;
  Triple stride;
  Triple padding;
  int uses_r2plus1d_18;  // occurrences in one forward of r2plus1d_18
  int uses_seed;         // occurrences in one forward of R2Plus1DNet (2, 2, 2, 2)
};

// clang-format off
inline const ConvShape kConvShapes[] = {
  // name                      input                  weight                   stride      padding    tv seed
  {"stem.spatial",            {1, 3, 16, 112, 112}, {45, 3, 1, 7, 7},       {1, 2, 2}, {0, 3, 3},  1, 1},
  {"stem.temporal",           {1, 45, 16, 56, 56},  {64, 45, 3, 1, 1},      {1, 1, 1}, {1, 0, 0},  1, 1},
  {"l1.spatial 64->144",      {1, 64, 16, 56, 56},  {144, 64, 1, 3, 3},     {1, 1, 1}, {0, 1, 1},  4, 4},
  {"l1.temporal 144->64",     {1, 144, 16, 56, 56}, {64, 144, 3, 1, 1},     {1, 1, 1}, {1, 0, 0},  4, 4},
  {"l2.spatial/2 64->230",    {1, 64, 16, 56, 56},  {230, 64, 1, 3, 3},     {1, 2, 2}, {0, 1, 1},  1, 1},
  {"l2.temporal/2 230->128",  {1, 230, 16, 28, 28}, {128, 230, 3, 1, 1},    {2, 1, 1}, {1, 0, 0},  1, 1},
  {"l2.spatial 128->230",     {1, 128, 8, 28, 28},  {230, 128, 1, 3, 3},    {1, 1, 1}, {0, 1, 1},  1, 0},
  {"l2.temporal 230->128",    {1, 230, 8, 28, 28},  {128, 230, 3, 1, 1},    {1, 1, 1}, {1, 0, 0},  1, 0},
  {"l2.spatial 128->288",     {1, 128, 8, 28, 28},  {288, 128, 1, 3, 3},    {1, 1, 1}, {0, 1, 1},  2, 3},
  {"l2.temporal 288->128",    {1, 288, 8, 28, 28},  {128, 288, 3, 1, 1},    {1, 1, 1}, {1, 0, 0},  2, 3},
  {"l2.downsample 64->128",   {1, 64, 16, 56, 56},  {128, 64, 1, 1, 1},     {2, 2, 2}, {0, 0, 0},  1, 0},
  {"l3.spatial/2 128->460",   {1, 128, 8, 28, 28},  {460, 128, 1, 3, 3},    {1, 2, 2}, {0, 1, 1},  1, 1},
  {"l3.temporal/2 460->256",  {1, 460, 8, 14, 14},  {256, 460, 3, 1, 1},    {2, 1, 1}, {1, 0, 0},  1, 1},
  {"l3.spatial 256->460",     {1, 256, 4, 14, 14},  {460, 256, 1, 3, 3},    {1, 1, 1}, {0, 1, 1},  1, 0},
  {"l3.temporal 460->256",    {1, 460, 4, 14, 14},  {256, 460, 3, 1, 1},    {1, 1, 1}, {1, 0, 0},  1, 0},
  {"l3.spatial 256->576",     {1, 256, 4, 14, 14},  {576, 256, 1, 3, 3},    {1, 1, 1}, {0, 1, 1},  2, 3},
  {"l3.temporal 576->256",    {1, 576, 4, 14, 14},  {256, 576, 3, 1, 1},    {1, 1, 1}, {1, 0, 0},  2, 3},
  {"l3.downsample 128->256",  {1, 128, 8, 28, 28},  {256, 128, 1, 1, 1},    {2, 2, 2}, {0, 0, 0},  1, 0},
  {"l4.spatial/2 256->921",   {1, 256, 4, 14, 14},  {921, 256, 1, 3, 3},    {1, 2, 2}, {0, 1, 1},  1, 1},
  {"l4.temporal/2 921->512",  {1, 921, 4, 7, 7},    {512, 921, 3, 1, 1},    {2, 1, 1}, {1, 0, 0},  1, 1},
  {"l4.spatial 512->921",     {1, 512, 2, 7, 7},    {921, 512, 1, 3, 3},    {1, 1, 1}, {0, 1, 1},  1, 0},
  {"l4.temporal 921->512",    {1, 921, 2, 7, 7},    {512, 921, 3, 1, 1},    {1, 1, 1}, {1, 0, 0},  1, 0},
  {"l4.spatial 512->1152",    {1, 512, 2, 7, 7},    {1152, 512, 1, 3, 3},   {1, 1, 1}, {0, 1, 1},  2, 3},
  {"l4.temporal 1152->512",   {1, 1152, 2, 7, 7},   {512, 1152, 3, 1, 1},   {1, 1, 1}, {1, 0, 0},  2, 3},
  {"l4.downsample 256->512",  {1, 256, 4, 14, 14},  {512, 256, 1, 1, 1},    {2, 2, 2}, {0, 0, 0},  1, 0},
  // the seed's shortcut is a (2+1)D conv with kernel 1: spatial stride (1,2,2), temporal (2,1,1)
  {"seed.ds2.spatial 64->42",   {1, 64, 16, 56, 56},  {42, 64, 1, 1, 1},    {1, 2, 2}, {0, 0, 0},  0, 1},
  {"seed.ds2.temporal 42->128", {1, 42, 16, 28, 28},  {128, 42, 1, 1, 1},   {2, 1, 1}, {0, 0, 0},  0, 1},
  {"seed.ds3.spatial 128->85",  {1, 128, 8, 28, 28},  {85, 128, 1, 1, 1},   {1, 2, 2}, {0, 0, 0},  0, 1},
  {"seed.ds3.temporal 85->256", {1, 85, 8, 14, 14},   {256, 85, 1, 1, 1},   {2, 1, 1}, {0, 0, 0},  0, 1},
  {"seed.ds4.spatial 256->170", {1, 256, 4, 14, 14},  {170, 256, 1, 1, 1},  {1, 2, 2}, {0, 0, 0},  0, 1},
  {"seed.ds4.temporal 170->512",{1, 170, 4, 7, 7},    {512, 170, 1, 1, 1},  {2, 1, 1}, {0, 0, 0},  0, 1},
};
// clang-format on

/// Found when the library has no ops::conv3d_algorithm (the C ellipsis makes
/// it the last choice of overload resolution): no name.
inline const char* conv3d_algorithm(...) { return nullptr; }

/// What a conv of this shape runs on: the name ops::conv3d_algorithm gives
/// (found through the Conv3dParams argument where the library has it), else
/// the convolution kernels' family (conv_kernels_name).
inline const char* conv_algorithm_name(const ConvShape& c) {
  const ops::Conv3dParams p{c.stride, c.padding, Triple(1), 1};
  const char* name = conv3d_algorithm(c.input, c.weight, p);
  return name != nullptr ? name : conv_kernels_name();
}

/// Found when the library has no ops::conv2plus1d_algorithm: no name.
inline std::string conv2plus1d_algorithm(...) { return {}; }

/// Whether t is the temporal conv that follows the spatial conv s in one
/// (2+1)D pair of the table: s's output is t's input.
inline bool is_pair(const ConvShape& s, const ConvShape& t) {
  const ops::Conv3dParams p{s.stride, s.padding, Triple(1), 1};
  return s.weight[2] == 1 && t.weight[3] == 1 && t.weight[4] == 1 && t.weight[2] > 1 &&
         ops::conv3d_output_shape(s.input, s.weight, p) == t.input;
}

/// What the pair s -> t runs on in a network, where the two stream as one
/// (ops::conv2plus1d_algorithm), with its weights' transforms kept between
/// calls when `cached` (set_weight_cache); empty where the library does not say.
inline std::string pair_algorithm_name(const ConvShape& s, const ConvShape& t, bool cached = false) {
  const ops::Conv3dParams ps{s.stride, s.padding, Triple(1), 1}, pt{t.stride, t.padding, Triple(1), 1};
  return cached ? conv2plus1d_algorithm(s.input, s.weight, ps, t.weight, pt, true)
                : conv2plus1d_algorithm(s.input, s.weight, ps, t.weight, pt);
}

}  // namespace r2plus1d::bench
