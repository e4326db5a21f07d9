// r2plus1d-extract's dataset helpers (examples/extract_dataset.hpp and
// extract_inputs.hpp, extract_video_level.hpp): clip sampling and padding,
// uniform clips and crops, batching, --shard parsing and the inputs a
// directory gives.

#include <gtest/gtest.h>

#include "extract_dataset.hpp"
#include "extract_inputs.hpp"
#include "extract_video_level.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using r2plus1d::index_t;

struct Sampled {
  std::vector<index_t> batch_sizes;
  std::vector<extract::ClipRecord> records;
  std::vector<std::vector<float>> first_values;  // per clip, frame t's value (each frame is constant)
};

// Pushes `frames` frames (frame j filled with the value j) through a sampler.
Sampled sample(index_t frames, index_t clip_len, index_t step, index_t batch, index_t* padded = nullptr) {
  Sampled run;
  extract::ClipSampler s(clip_len, step, batch, 2, 3, [&](const r2plus1d::Tensor<float, 5>& x, std::vector<extract::ClipRecord> r) {
    run.batch_sizes.push_back(x.size(0));
    for (index_t n = 0; n < x.size(0); ++n) {
      std::vector<float> v;
      for (index_t t = 0; t < x.size(2); ++t) v.push_back(x(n, 2, t, 1, 2));
      run.first_values.push_back(v);
    }
    run.records.insert(run.records.end(), r.begin(), r.end());
  });
  for (index_t j = 0; j < frames; ++j)
    if (s.wanted(j)) s.push(j, std::vector<float>(3 * 2 * 3, static_cast<float>(j)), 100 + j, 0.5 * static_cast<double>(j));
  const index_t p = s.flush();
  if (padded != nullptr) *padded = p;
  return run;
}

TEST(ExtractDataset, ClipsEveryStepFrames) {
  index_t padded = -1;
  const Sampled r = sample(40, 8, 12, 2, &padded);
  EXPECT_EQ(padded, 0);
  ASSERT_EQ(r.records.size(), 3u);  // starts 0, 12, 24; 36 + 8 > 40
  EXPECT_EQ(r.batch_sizes, (std::vector<index_t>{2, 1}));
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(r.records[k].clip, static_cast<index_t>(k));
    EXPECT_EQ(r.records[k].start_frame, 100 + 12 * static_cast<index_t>(k));
    EXPECT_DOUBLE_EQ(r.records[k].start_time, 6.0 * static_cast<double>(k));
    EXPECT_EQ(r.records[k].end_frame, 100 + 12 * static_cast<index_t>(k) + 7);  // the last frame, inclusive
    EXPECT_DOUBLE_EQ(r.records[k].end_time, 6.0 * static_cast<double>(k) + 3.5);
    for (index_t t = 0; t < 8; ++t) EXPECT_EQ(r.first_values[k][static_cast<std::size_t>(t)], float(12 * k + t));
  }
}

// Pushes `frames` frames (frame j filled with j, source frame j / repeat) through a uniform sampler.
Sampled sample_uniform(index_t frames, index_t clip_len, index_t clips, index_t batch, index_t repeat,
                       index_t* padded) {
  Sampled run;
  extract::UniformClipSampler s(clip_len, clips, batch, 2, 3,
                                [&](const r2plus1d::Tensor<float, 5>& x, std::vector<extract::ClipRecord> r) {
                                  run.batch_sizes.push_back(x.size(0));
                                  for (index_t n = 0; n < x.size(0); ++n) {
                                    std::vector<float> v;
                                    for (index_t t = 0; t < x.size(2); ++t) v.push_back(x(n, 2, t, 1, 2));
                                    run.first_values.push_back(v);
                                  }
                                  run.records.insert(run.records.end(), r.begin(), r.end());
                                });
  for (index_t j = 0; j < frames; ++j)
    s.push(std::vector<float>(3 * 2 * 3, static_cast<float>(j / repeat)), 100 + j / repeat, static_cast<double>(j));
  *padded = s.flush();
  return run;
}

TEST(ExtractDataset, UniformClips) {
  index_t padded = -1;
  const Sampled r = sample_uniform(40, 8, 5, 2, 1, &padded);  // linspace(0, 32, 5)
  EXPECT_EQ(padded, 0);
  ASSERT_EQ(r.records.size(), 5u);
  EXPECT_EQ(r.batch_sizes, (std::vector<index_t>{2, 2, 1}));
  for (std::size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(r.records[k].clip, static_cast<index_t>(k));
    EXPECT_EQ(r.records[k].start_frame, 100 + 8 * static_cast<index_t>(k));
    EXPECT_EQ(r.records[k].end_frame, 100 + 8 * static_cast<index_t>(k) + 7);
    EXPECT_DOUBLE_EQ(r.records[k].end_time, 8.0 * static_cast<double>(k) + 7);
    for (index_t t = 0; t < 8; ++t) EXPECT_EQ(r.first_values[k][static_cast<std::size_t>(t)], float(8 * k + t));
  }
  // Frames repeated by resampling (each source frame twice) are kept once and counted twice.
  const Sampled twice = sample_uniform(10, 4, 2, 4, 2, &padded);  // starts 0, 6
  ASSERT_EQ(twice.records.size(), 2u);
  EXPECT_EQ(twice.records[1].start_frame, 103);
  EXPECT_EQ(twice.records[1].end_frame, 104);  // sampled frames 6..9 show source frames 3, 3, 4, 4
  EXPECT_DOUBLE_EQ(twice.records[1].end_time, 8.0);
  EXPECT_EQ(twice.first_values[1], (std::vector<float>{3, 3, 4, 4}));
  // Shorter than one clip: one clip, padded with the last frame.
  const Sampled short_ = sample_uniform(3, 8, 5, 4, 1, &padded);
  EXPECT_EQ(padded, 3);
  ASSERT_EQ(short_.records.size(), 1u);
  EXPECT_EQ(short_.first_values[0], (std::vector<float>{0, 1, 2, 2, 2, 2, 2, 2}));
  EXPECT_EQ(short_.records[0].end_frame, 102);  // a padded clip ends on its last frame

}

TEST(ExtractDataset, CropsOfEachClipInOrder) {
  std::vector<index_t> batches;
  std::vector<extract::ClipRecord> records;
  std::vector<float> corner;  // each crop's (0, 0, 0, 0) value
  extract::CropBatcher crops(r2plus1d::io::three_crops(2, 3, 2), 2, 4,
                             [&](const r2plus1d::Tensor<float, 5>& x, std::vector<extract::ClipRecord> r) {
                               batches.push_back(x.size(0));
                               EXPECT_EQ(x.size(3), 2);
                               EXPECT_EQ(x.size(4), 2);
                               for (index_t n = 0; n < x.size(0); ++n) corner.push_back(x(n, 0, 0, 0, 0));
                               records.insert(records.end(), r.begin(), r.end());
                             });
  r2plus1d::Tensor<float, 5> clips = r2plus1d::Tensor<float, 5>::empty({2, 1, 1, 2, 3});
  for (index_t i = 0; i < clips.numel(); ++i) clips.data()[i] = static_cast<float>(i);
  crops.add(clips, {{0, 10, 0.0}, {1, 20, 1.0}});
  crops.flush();
  EXPECT_EQ(batches, (std::vector<index_t>{4, 2}));
  EXPECT_EQ(corner, (std::vector<float>{0, 0, 1, 6, 6, 7}));  // crops at columns 0, round(0.5) = 0, 1
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[2].start_frame, 10);
  EXPECT_EQ(records[3].start_frame, 20);
}

TEST(ExtractDataset, OverlappingClips) {
  const Sampled r = sample(10, 4, 2, 8);
  ASSERT_EQ(r.records.size(), 4u);  // 0, 2, 4, 6
  EXPECT_EQ(r.first_values[3], (std::vector<float>{6, 7, 8, 9}));
  EXPECT_EQ(r.records[3].end_frame, 109);
  // Shorter than one clip: one clip, padded, ending on the last frame pushed.
  index_t padded = -1;
  const Sampled short_ = sample(3, 8, 8, 4, &padded);
  EXPECT_EQ(padded, 3);
  ASSERT_EQ(short_.records.size(), 1u);
  EXPECT_EQ(short_.records[0].end_frame, 102);
  EXPECT_DOUBLE_EQ(short_.records[0].end_time, 1.0);
}

TEST(ExtractDataset, ShortStreamIsPaddedWithItsLastFrame) {
  index_t padded = 0;
  const Sampled r = sample(3, 8, 8, 4, &padded);
  EXPECT_EQ(padded, 3);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.first_values[0], (std::vector<float>{0, 1, 2, 2, 2, 2, 2, 2}));
}

TEST(ExtractDataset, ParseShard) {
  EXPECT_EQ(extract::parse_shard("0/4"), (std::pair<long, long>{0, 4}));
  EXPECT_EQ(extract::parse_shard("3/4"), (std::pair<long, long>{3, 4}));
  for (const char* bad : {"4/4", "-1/4", "1", "1/", "/2", "a/b", "1/0", "1/2x", " 1/2"})
    EXPECT_THROW(extract::parse_shard(bad), r2plus1d::OptionError) << bad;
}

TEST(ExtractDataset, DirectoriesGiveTheirVideosRecursivelyWithTheirTree) {
  const std::string dir = std::string(R2PLUS1D_VIDEO_WORK_DIR) + "/expand";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/sub/deeper");
  for (const char* f : {"b.MP4", "a.mkv", "notes.txt", "c.npy", "sub/d.avi", "sub/a.mkv", "sub/deeper/e.webm"})
    std::ofstream(dir + "/" + f) << "x";
  std::vector<std::string> paths, names;
  for (const auto& in : extract::expand_inputs({dir, dir + "/c.npy", dir + "/a.mkv"})) {
    paths.push_back(in.path);
    names.push_back(in.name);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{dir + "/a.mkv", dir + "/b.MP4", dir + "/sub/a.mkv", dir + "/sub/d.avi",
                                             dir + "/sub/deeper/e.webm", dir + "/c.npy"}));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "sub/a", "sub/d", "sub/deeper/e", "c"}));
}

}  // namespace
