// r2plus1d-extract's output directory (examples/extract_index.hpp and
// extract_output_dir.hpp): CSV written and read back, the rows kept per
// output and the index rebuilt from them, reserved names, the lock and the
// recorded settings.

#include <gtest/gtest.h>

#include "extract_index.hpp"
#include "extract_output_dir.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Rows = std::vector<std::vector<std::string>>;

std::string fresh_dir(const std::string& name) {
  const std::string dir = std::string(R2PLUS1D_VIDEO_WORK_DIR) + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ExtractIndex, CsvReadsWhatItWrites) {
  EXPECT_EQ(extract::csv_field("a.mp4"), "a.mp4");
  EXPECT_EQ(extract::csv_field("a,b.mp4"), "\"a,b.mp4\"");
  const std::vector<std::string> odd = {"a,\"b\".mp4", "line\nbreak", "cr\r", "", "plain"};
  const std::string text = extract::csv_line(odd) + extract::csv_line({"x", "y"});
  EXPECT_EQ(extract::parse_csv(text), (Rows{odd, {"x", "y"}}));
  EXPECT_EQ(extract::parse_csv("a,b\r\nc,d\r\n"), (Rows{{"a", "b"}, {"c", "d"}}));
  // A last record cut short (no line end, or inside quotes) is dropped.
  EXPECT_EQ(extract::parse_csv("a,b\nc,d"), (Rows{{"a", "b"}}));
  EXPECT_EQ(extract::parse_csv("a,b\n\"c\nd,e\n"), (Rows{{"a", "b"}}));
}

TEST(ExtractIndex, RowsOfVideosAndClips) {
  EXPECT_EQ(extract::index_rows("a,1.mp4", "out/a.npy", {{0, 0, 0.0, 15, 0.6, 25}, {1, 16, 0.64, 31, 1.24, 25}}),
            "\"a,1.mp4\",out/a.npy,0,0,0.000000,15,0.600000,25.000000\n"
            "\"a,1.mp4\",out/a.npy,1,16,0.640000,31,1.240000,25.000000\n");
  EXPECT_EQ(extract::index_rows("c.npy", "c.npy", {{0, -1, -1}}), "c.npy,c.npy,0,,,,,\n");
}

TEST(ExtractIndex, IndexRecordsAreTheRowsAfterTheHeader) {
  const std::string text = std::string(extract::kIndexHeader) +
                           "\nvideo,video.npy,0,,,,,\n1.2,3.4\na,a.npy,0,0,0.000000,15,0.600000,25.000000\n";
  EXPECT_EQ(extract::index_records(text), (Rows{{"video", "video.npy", "0", "", "", "", "", ""},
                                               {"a", "a.npy", "0", "0", "0.000000", "15", "0.600000", "25.000000"}}));
}

TEST(ExtractIndex, FiveFieldRowsOfEarlierVersionsAreReadWithoutTheirEnds) {
  const std::string text = "video,output,clip,start_frame,start_time\na,a.npy,1,16,0.640000\nc.npy,c.npy,0,,\n";
  EXPECT_EQ(extract::index_records(text), (Rows{{"a", "a.npy", "1", "16", "0.640000", "", "", ""},
                                               {"c.npy", "c.npy", "0", "", "", "", "", ""}}));
}

TEST(ExtractIndex, AnOutputCountsAsDoneOnlyWithItsRows) {
  const std::string dir = fresh_dir("ledger");
  const extract::Ledger ledger(dir, dir + "/.r2plus1d-extract/rows");
  using State = extract::Ledger::State;
  EXPECT_EQ(ledger.state("sub/a.npy"), State::absent);
  const std::string staged = ledger.stage("sub/a.npy", extract::index_rows("v/sub/a.mp4", "o", {{0, 0, 0.0}}));
  fs::create_directories(dir + "/sub");
  std::ofstream(dir + "/sub/a.npy") << "features";
  EXPECT_EQ(ledger.state("sub/a.npy"), State::unfinished);  // stopped between the output's rename and the rows'
  ledger.commit(staged, "sub/a.npy");
  EXPECT_EQ(ledger.state("sub/a.npy"), State::done);
  std::ofstream(dir + "/b.npy") << "someone else's";
  EXPECT_EQ(ledger.state("b.npy"), State::foreign);
}

TEST(ExtractIndex, TheIndexIsRebuiltFromTheRowsOfOutputsThatExist) {
  const std::string dir = fresh_dir("rebuild");
  const extract::Ledger ledger(dir, dir + "/.r2plus1d-extract/rows");
  for (const char* name : {"b.npy", "a.npy", "gone.npy"}) {
    const std::string staged = ledger.stage(name, extract::index_rows(std::string(name) + ".mp4", name, {{0, 0, 0.0}}));
    std::ofstream(dir + "/" + name) << "x";
    ledger.commit(staged, name);
  }
  fs::remove(dir + "/gone.npy");
  const std::string index = dir + "/index.csv";
  EXPECT_EQ(ledger.write_index(index, nullptr), 2u);
  EXPECT_EQ(slurp(index), std::string(extract::kIndexHeader) + "\na.npy.mp4,a.npy,0,0,0.000000,,,\n"
                                                               "b.npy.mp4,b.npy,0,0,0.000000,,,\n");
  const std::vector<std::string> shard = {"b.npy"};
  EXPECT_EQ(ledger.write_index(dir + "/index.0-of-2.csv", &shard), 1u);
  const std::vector<std::string> none;
  EXPECT_EQ(ledger.write_index(dir + "/index.1-of-2.csv", &none), 0u);
  EXPECT_FALSE(fs::exists(dir + "/index.1-of-2.csv"));  // no rows, no index
}

TEST(ExtractIndex, AnIndexWithoutRowsFilesIsAdopted) {
  const std::string dir = fresh_dir("adopt");
  std::ofstream(dir + "/a.npy") << "x";
  std::ofstream(dir + "/index.csv") << extract::kIndexHeader << "\n"
                                    << extract::index_rows("a.mp4", dir + "/a.npy", {{0, 0, 0.0}, {1, 16, 0.64}})
                                    << extract::index_rows("gone.mp4", dir + "/gone.npy", {{0, 0, 0.0}}) << "a.mp4,cut";
  const extract::Ledger ledger(dir, dir + "/.r2plus1d-extract/rows");
  ledger.adopt(dir + "/index.csv");
  EXPECT_EQ(ledger.state("a.npy"), extract::Ledger::State::done);
  EXPECT_FALSE(fs::exists(ledger.rows_path("gone.npy")));
  EXPECT_EQ(ledger.write_index(dir + "/index.csv", nullptr), 2u);
  // Each shard's index is adopted by its own run, after another shard's.
  std::ofstream(dir + "/b.npy") << "x";
  std::ofstream(dir + "/index.1-of-2.csv") << extract::kIndexHeader << "\n"
                                           << extract::index_rows("b.mp4", dir + "/b.npy", {{0, 0, 0.0}});
  ledger.adopt(dir + "/index.1-of-2.csv");
  EXPECT_EQ(ledger.state("b.npy"), extract::Ledger::State::done);
}

TEST(ExtractOutputDir, TheToolsOwnNamesAreReserved) {
  for (const char* name : {"index.csv", "index.0-of-4.csv", "index.12-of-100.csv", ".r2plus1d-extract/x.npy"})
    EXPECT_TRUE(extract::OutputDir::reserved(name)) << name;
  for (const char* name : {"index.npy", "index.mp4.csv", "index.a-of-4.csv", "sub/index.csv", "index.0-of-.csv",
                           ".r2plus1d-extract.csv"})
    EXPECT_FALSE(extract::OutputDir::reserved(name)) << name;
}

TEST(ExtractOutputDir, OneProcessPerIndex) {
  const std::string dir = fresh_dir("lock");
  const extract::OutputDir first(dir, "index.csv");
  EXPECT_THROW(extract::OutputDir(dir, "index.csv"), r2plus1d::IoError);
  const extract::OutputDir shard(dir, "index.0-of-2.csv");  // shards side by side
}

TEST(ExtractOutputDir, OtherSettingsAreRefusedUnlessOverwrite) {
  const std::string dir = fresh_dir("settings");
  const extract::OutputDir out(dir, "index.csv");
  const extract::Settings s8 = {{"clip-len", "8"}, {"weights-file", "a.safetensors"}};
  EXPECT_FALSE(out.check_settings(s8, false));
  EXPECT_FALSE(out.check_settings({{"clip-len", "8"}, {"weights-file", "moved.safetensors"}}, false));
  try {
    out.check_settings({{"clip-len", "4"}, {"weights-file", "a.safetensors"}}, false);
    ADD_FAILURE() << "other settings were accepted";
  } catch (const r2plus1d::OptionError& e) {
    EXPECT_NE(std::string(e.what()).find("--clip-len 8 there, 4 here"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(out.check_settings({{"clip-len", "4"}, {"weights-file", "a.safetensors"}}, true));
  EXPECT_FALSE(out.check_settings({{"clip-len", "4"}, {"weights-file", "a.safetensors"}}, false));
}

TEST(ExtractOutputDir, SettingsRecordedLaterReadAsTheirDefaults) {
  const std::string dir = fresh_dir("later_settings");
  const extract::OutputDir out(dir, "index.csv");
  EXPECT_FALSE(out.check_settings({{"clip-len", "8"}}, false));  // a directory from before --crops
  EXPECT_FALSE(out.check_settings({{"clip-len", "8"}, {"crops", "1"}, {"video-level", "no"}}, false));
  try {
    out.check_settings({{"clip-len", "8"}, {"crops", "3"}, {"video-level", "no"}}, false);
    ADD_FAILURE() << "--crops 3 was accepted where the outputs have one crop";
  } catch (const r2plus1d::OptionError& e) {
    EXPECT_NE(std::string(e.what()).find("--crops (none) there, 3 here"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(out.check_settings({{"clip-len", "8"}, {"crops", "3"}, {"video-level", "yes"}}, true));
  EXPECT_THROW(out.check_settings({{"clip-len", "8"}, {"crops", "1"}, {"video-level", "yes"}}, false),
               r2plus1d::OptionError);
}

}  // namespace
