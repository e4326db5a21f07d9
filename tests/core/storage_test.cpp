#include <gtest/gtest.h>

#include <r2plus1d/core/storage.hpp>
#include <r2plus1d/core/tensor.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <unistd.h>
#endif

namespace r2plus1d {
namespace {

constexpr index_t kFloatsPerMiB = index_t(1) << 18;

// Every test starts from an enabled, empty cache and leaves the default behind.
class StorageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_storage_cache(true);
    release_cached_storage();
  }
  void TearDown() override {
    release_cached_storage();
    set_storage_cache(detail::kStorageCacheDefault);
    set_storage_compact(false);
  }
};

TEST_F(StorageCacheTest, ATensorOfTheSameSizeReusesTheBlock) {
  const StorageCacheStats before = storage_cache_stats();
  const float* first = nullptr;
  {
    Tensor<float, 1> t = Tensor<float, 1>::empty({4 * kFloatsPerMiB});
    first = t.data();
    EXPECT_EQ(storage_cache_stats().live_bytes, before.live_bytes + (std::size_t(4) << 20));
  }
  EXPECT_EQ(storage_cache_stats().kept_bytes, std::size_t(4) << 20);
  Tensor<float, 2> u = Tensor<float, 2>::empty({4, kFloatsPerMiB});  // same bytes, another shape
  EXPECT_EQ(u.data(), first);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(u.data()) % kTensorAlignment, 0u);
  const StorageCacheStats after = storage_cache_stats();
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.kept_bytes, 0u);
}

TEST_F(StorageCacheTest, AReusedBlockIsFilledAsAsked) {
  { Tensor<float, 1> t({2 * kFloatsPerMiB}, 7.0f); }
  Tensor<float, 1> z({2 * kFloatsPerMiB});  // zeros, on the block that held sevens
  EXPECT_EQ(storage_cache_stats().kept_bytes, 0u);
  EXPECT_TRUE(std::all_of(z.data(), z.data() + z.numel(), [](float v) { return v == 0.0f; }));
  Tensor<float, 1> copy(z);  // a copy gets its own block
  EXPECT_NE(copy.data(), z.data());
  EXPECT_TRUE(std::all_of(copy.data(), copy.data() + copy.numel(), [](float v) { return v == 0.0f; }));
}

TEST_F(StorageCacheTest, BlocksAreTakenOnlyByTheirSizeUpToAnEighthLess) {
  constexpr std::size_t MiB = std::size_t(1) << 20;
  const std::size_t base = storage_cache_stats().live_bytes;
  {
    Tensor<float, 1> a = Tensor<float, 1>::empty({4 * kFloatsPerMiB});
    Tensor<float, 1> b = Tensor<float, 1>::empty({2 * kFloatsPerMiB});
  }
  EXPECT_EQ(storage_cache_stats().kept_bytes, 6 * MiB);
  EXPECT_EQ(storage_cache_stats().peak_bytes, base + 6 * MiB);
  {
    Tensor<float, 1> small = Tensor<float, 1>::empty({1000});  // below kStorageCacheMinBytes: not counted
    EXPECT_EQ(storage_cache_stats().live_bytes, base);
    Tensor<float, 1> near = Tensor<float, 1>::empty({4 * kFloatsPerMiB - 1000});  // within 1/8: the 4 MiB block
    EXPECT_EQ(storage_cache_stats().kept_bytes, 2 * MiB);
    EXPECT_EQ(storage_cache_stats().live_bytes, base + 4 * MiB);
    // 3 MiB: the 2 MiB block is too small and no 4 MiB one is left. Beside the
    // live 4 MiB, a fresh block and the kept one would pass the 6 MiB peak, so
    // the kept one goes back first.
    Tensor<float, 1> other = Tensor<float, 1>::empty({3 * kFloatsPerMiB});
    const StorageCacheStats s = storage_cache_stats();
    EXPECT_EQ(s.kept_bytes, 0u);
    EXPECT_EQ(s.live_bytes, base + 7 * MiB);
    EXPECT_EQ(s.peak_bytes, base + 7 * MiB);
  }
  {
    // Kept: 4 and 3 MiB. 2.5 MiB does not take the 3 MiB block (more than 1/8
    // larger); the largest kept block goes back so that a fresh one fits under the peak.
    Tensor<float, 1> t = Tensor<float, 1>::empty({5 * kFloatsPerMiB / 2});
    const StorageCacheStats s = storage_cache_stats();
    EXPECT_EQ(s.kept_bytes, 3 * MiB);
    EXPECT_EQ(s.live_bytes, base + 5 * MiB / 2);
    EXPECT_EQ(s.peak_bytes, base + 7 * MiB);
  }
}

// Whatever the order of allocations and releases, live plus kept never exceeds
// the peak of live bytes, and the peak is the most that was live at once.
TEST_F(StorageCacheTest, NeverKeepsMoreThanThePeakOfLiveBytes) {
  const std::size_t base = storage_cache_stats().live_bytes;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> mib(1, 12), op(0, 2);
  std::vector<Tensor<float, 1>> live;
  std::size_t most_live = base;
  for (int step = 0; step < 400; ++step) {
    if (live.size() == 12) {
      live.erase(live.begin());
    } else if (op(rng) > 0 || live.empty()) {
      live.push_back(Tensor<float, 1>::empty({mib(rng) * kFloatsPerMiB + (step % 3) * 4096}));
    } else {
      const std::size_t i = static_cast<std::size_t>(rng() % live.size());
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    const StorageCacheStats s = storage_cache_stats();
    most_live = std::max(most_live, s.live_bytes);
    ASSERT_LE(s.live_bytes + s.kept_bytes, s.peak_bytes) << "step " << step;
    ASSERT_EQ(s.peak_bytes, most_live) << "step " << step;
  }
  EXPECT_GT(storage_cache_stats().hits, 0u);
  live.clear();
  release_cached_storage();
  const StorageCacheStats s = storage_cache_stats();
  EXPECT_EQ(s.live_bytes, base);
  EXPECT_EQ(s.kept_bytes, 0u);
  EXPECT_EQ(s.kept_blocks, 0u);
  EXPECT_EQ(s.peak_bytes, base);
}

TEST_F(StorageCacheTest, TurnedOffItKeepsNothing) {
  set_storage_cache(false);
  EXPECT_FALSE(storage_cache_stats().enabled);
  { Tensor<float, 1> t = Tensor<float, 1>::empty({4 * kFloatsPerMiB}); }
  EXPECT_EQ(storage_cache_stats().kept_bytes, 0u);
  set_storage_cache(true);
  { Tensor<float, 1> t = Tensor<float, 1>::empty({4 * kFloatsPerMiB}); }
  EXPECT_EQ(storage_cache_stats().kept_bytes, std::size_t(4) << 20);
  set_storage_cache(false);  // turning it off hands back what it kept
  EXPECT_EQ(storage_cache_stats().kept_bytes, 0u);
}

TEST_F(StorageCacheTest, ThreadsAllocateAndReleaseTogether) {
  const std::size_t base = storage_cache_stats().live_bytes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) {
        Tensor<float, 1> a({(1 + (i + t) % 3) * kFloatsPerMiB}, float(t));
        if (a.data()[a.numel() - 1] != float(t)) std::abort();
      }
    });
  for (auto& th : threads) th.join();
  const StorageCacheStats s = storage_cache_stats();
  EXPECT_EQ(s.live_bytes, base);
  EXPECT_LE(s.kept_bytes + s.live_bytes, s.peak_bytes);
}

#if defined(__linux__)
// Resident memory of this process in MiB, from /proc/self/statm.
double resident_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f == nullptr) return -1;
  const int got = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return got == 2 ? double(resident) * double(sysconf(_SC_PAGESIZE)) / double(1 << 20) : -1;
}

// In compact mode a large block freed (the cache off) leaves the process's
// resident memory, also after a larger one was freed (which raises glibc's
// threshold for mapping blocks of their own: through the C library, blocks of
// a few MiB then come from its heap and stay resident after their tensors are
// gone).
TEST_F(StorageCacheTest, CompactModeFreedLargeBlocksLeaveResidentMemory) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "large blocks come from the C library under AddressSanitizer";
  set_storage_cache(false);
  set_storage_compact(true);
  { Tensor<float, 1> big({24 * kFloatsPerMiB}, 1.0f); }
  const double before = resident_mib();
  {
    std::vector<Tensor<float, 1>> blocks;
    for (int i = 0; i < 6; ++i) blocks.emplace_back(Shape<1>{8 * kFloatsPerMiB}, float(i));  // 48 MiB, touched
    EXPECT_GE(resident_mib(), before + 40);
  }
  EXPECT_LE(resident_mib(), before + 8);
}
#endif

}  // namespace
}  // namespace r2plus1d
