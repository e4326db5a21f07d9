// io::read_labelled_list on the layouts datasets ship: `path label` lists
// (0-based), UCF101's trainlist (1-based with classInd.txt) and testlist
// (class from the folder), and class-folder directories; and its errors.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <r2plus1d/io/labelled_list.hpp>

#include "io_test_util.hpp"

namespace {

using r2plus1d::FormatError;
using r2plus1d::IoError;
using r2plus1d::io::read_labelled_list;
using r2plus1d::io::test::expect_error;
using r2plus1d::io::test::TempDir;
namespace fs = std::filesystem;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(LabelledList, ZeroBasedLabelsWithoutAClassIndex) {
  TempDir dir;
  write(dir.file("l.txt"), "# comment\n\na.mp4 0\n  sub/b c.mp4   2 \n/abs/c.mp4 1\r\n");
  const auto l = read_labelled_list(dir.file("l.txt"));
  ASSERT_EQ(l.videos.size(), 3u);
  EXPECT_EQ(l.videos[0].path, (fs::path(dir.file("")) / "a.mp4").string());
  EXPECT_EQ(l.videos[0].label, 0);
  EXPECT_EQ(l.videos[1].path, (fs::path(dir.file("")) / "sub/b c.mp4").string()) << "a path may hold blanks";
  EXPECT_EQ(l.videos[1].label, 2);
  EXPECT_EQ(l.videos[2].path, "/abs/c.mp4");
  EXPECT_TRUE(l.classes.empty());
  EXPECT_EQ(l.num_classes(), 3);
}

TEST(LabelledList, Ucf101TrainAndTestLists) {
  TempDir dir;
  write(dir.file("classInd.txt"), "1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n");
  write(dir.file("trainlist01.txt"), "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c02.avi 3\n");
  write(dir.file("testlist01.txt"), "ApplyLipstick/v_ApplyLipstick_g01_c01.avi\nArchery/v_Archery_g01_c01.avi\n");
  const auto train = read_labelled_list(dir.file("trainlist01.txt"));
  ASSERT_EQ(train.videos.size(), 2u);
  EXPECT_EQ(train.videos[0].label, 0);
  EXPECT_EQ(train.videos[1].label, 2);
  EXPECT_EQ(train.classes, (std::vector<std::string>{"ApplyEyeMakeup", "ApplyLipstick", "Archery"}));
  const auto test = read_labelled_list(dir.file("testlist01.txt"));
  ASSERT_EQ(test.videos.size(), 2u);
  EXPECT_EQ(test.videos[0].label, 1);
  EXPECT_EQ(test.videos[1].label, 2);
  EXPECT_EQ(test.num_classes(), 3);
  // The class index can live elsewhere.
  write(dir.file("lists/t.txt"), "Archery/x.avi 3\n");
  EXPECT_EQ(read_labelled_list(dir.file("lists/t.txt"), dir.file("classInd.txt")).videos[0].label, 2);
}

TEST(LabelledList, ClassFolders) {
  TempDir dir;
  write(dir.file("d/walk/x.mp4"), "");
  write(dir.file("d/walk/deeper/y.mkv"), "");
  write(dir.file("d/run/z.avi"), "");
  write(dir.file("d/run/notes.txt"), "");
  const auto l = read_labelled_list(dir.file("d"));
  EXPECT_EQ(l.classes, (std::vector<std::string>{"run", "walk"}));
  ASSERT_EQ(l.videos.size(), 3u);
  EXPECT_EQ(fs::path(l.videos[0].path).filename(), "z.avi");
  EXPECT_EQ(l.videos[0].label, 0);
  EXPECT_EQ(fs::path(l.videos[1].path).filename(), "y.mkv") << "by path: walk/deeper/ before walk/x";
  EXPECT_EQ(fs::path(l.videos[2].path).filename(), "x.mp4");
  EXPECT_EQ(l.videos[1].label, 1);
  EXPECT_EQ(l.videos[2].label, 1);
}

TEST(LabelledList, ErrorsNameTheFileAndLine) {
  TempDir dir;
  write(dir.file("classInd.txt"), "1 A\n2 B\n");
  write(dir.file("past.txt"), "A/a.avi 1\nB/b.avi 3\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("past.txt")); }, "line 2: label 3 is not one of the 2");
  write(dir.file("zero.txt"), "A/a.avi 0\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("zero.txt")); }, "numbered from 1");
  write(dir.file("unknown.txt"), "C/c.avi\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("unknown.txt")); }, "first folder 'C'");
  write(dir.file("none/l.txt"), "a.mp4\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("none/l.txt")); }, "expected 'path label'");
  write(dir.file("none/neg.txt"), "a.mp4 -1\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("none/neg.txt")); }, "unknown label '-1' (expected a class number, from 0)");
  write(dir.file("named.txt"), "A/a.avi Walk\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("named.txt")); }, "unknown label 'Walk' (expected a class number, 1 to 2)");
  write(dir.file("none/empty.txt"), "# nothing\n\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("none/empty.txt")); }, "names no videos");
  write(dir.file("badind/classInd.txt"), "1 A\n3 C\n");
  write(dir.file("badind/l.txt"), "A/a.avi 1\n");
  expect_error<FormatError>([&] { read_labelled_list(dir.file("badind/l.txt")); }, "line 2: expected '2 ClassName'");
  expect_error<IoError>([&] { read_labelled_list(dir.file("missing.txt")); }, "no such file");
  fs::create_directories(dir.file("emptydir/cls"));
  expect_error<FormatError>([&] { read_labelled_list(dir.file("emptydir")); }, "holds no videos");
}

}  // namespace
