#pragma once
// Helpers shared by the io tests: a private temporary directory, file bytes,
// and a check that a call throws exactly the expected exception type with a
// message containing a given substring.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <r2plus1d/core/error.hpp>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace r2plus1d::io::test {

/// A fresh directory under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("r2plus1d_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

/// Runs `f` and expects an exception of exactly type `expected` whose message contains `substring`.
template <class F>
void expect_error(F&& f, std::type_index expected, const std::string& substring) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::type_index(typeid(e)), expected) << "wrong exception type for: " << e.what();
    EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)
        << "message '" << e.what() << "' does not contain '" << substring << "'";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a non-library exception escaped: " << e.what();
    return;
  }
  ADD_FAILURE() << "nothing was thrown; expected a message containing '" << substring << "'";
}

/// expect_error with the type as a template argument.
template <class E, class F>
void expect_error(F&& f, const std::string& substring) {
  expect_error(std::forward<F>(f), std::type_index(typeid(E)), substring);
}

}  // namespace r2plus1d::io::test
