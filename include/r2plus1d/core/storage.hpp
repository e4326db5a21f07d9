#pragma once
/// \file
/// Where tensors keep their elements: 64-byte aligned blocks, with whole huge
/// pages asked for inside large ones, and a cache that keeps large blocks
/// after their tensor is gone so the next tensor of that size reuses them.
///
/// A forward pass allocates the same activation sizes in the same order every
/// time. Handed back to the C library, a block of several MiB is unmapped, and
/// the next pass pays for the kernel to map and zero it again (r2plus1d_18
/// runs 1% faster with the cache with 1 thread, 5% with 2). The cache holds such blocks instead, and never holds
/// more than the largest amount of tensor storage that was ever in use at once
/// (live plus cached stays under that peak), so it does not raise the peak
/// memory of a program; it only keeps it. release_cached_storage() hands the
/// cached blocks back. set_storage_compact() maps large blocks from the
/// kernel instead, for training.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace r2plus1d {

/// Alignment of every tensor's storage, in bytes (a cache line; enough for AVX-512).
inline constexpr std::size_t kTensorAlignment = 64;

namespace detail {
struct AlignedFree {
  void operator()(void* p) const noexcept { std::free(p); }
};

/// Size of a transparent huge page, and the smallest allocation that asks for them.
inline constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;
inline constexpr std::size_t kHugePageMinBytes = kHugePageBytes;

/// The whole huge pages inside [addr, addr + bytes), as [first, last) addresses
/// (empty, first == last, when the block holds none or is below kHugePageMinBytes).
struct AddressRange {
  std::uintptr_t first = 0, last = 0;
};
inline AddressRange huge_page_interior(std::uintptr_t addr, std::size_t bytes) noexcept {
  if (bytes < kHugePageMinBytes) return {};
  const std::uintptr_t lo = (addr + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  const std::uintptr_t hi = (addr + bytes) / kHugePageBytes * kHugePageBytes;
  return hi > lo ? AddressRange{lo, hi} : AddressRange{};
}

/// Asks Linux to back the whole 2 MiB pages inside [p, p + bytes) with
/// transparent huge pages (where the system allows them on request). A fresh
/// activation buffer is then mapped in a few faults per 2 MiB instead of 512,
/// and read through fewer TLB entries. Only whole pages inside the block are
/// advised, so no memory is added; the advice is a hint and its failure is
/// harmless.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
  const AddressRange r = huge_page_interior(reinterpret_cast<std::uintptr_t>(p), bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (r.last > r.first) (void)madvise(reinterpret_cast<void*>(r.first), r.last - r.first, MADV_HUGEPAGE);
#else
  (void)r;
#endif
}

/// `bytes` rounded up to a whole number of kTensorAlignment.
inline std::size_t aligned_size(std::size_t bytes) noexcept {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

/// A fresh kTensorAlignment-aligned block of at least `bytes` (null for 0),
/// released with std::free (AlignedFree).
inline void* aligned_alloc_bytes(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t rounded = aligned_size(bytes);
  void* p = std::aligned_alloc(kTensorAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  advise_huge_pages(p, rounded);
  return p;
}

/// Blocks from this size up go through the cache; smaller ones go straight to
/// the C library, which keeps them in its own free lists anyway.
inline constexpr std::size_t kStorageCacheMinBytes = std::size_t(1) << 20;

/// Whether this is an AddressSanitizer build: the cache then starts disabled
/// (a reused block would hide a use after free from the sanitizer), and large
/// blocks come from the C library, whose blocks the sanitizer guards.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif
/// Whether the cache starts enabled.
inline constexpr bool kStorageCacheDefault = !kAddressSanitizer;

/// A block and its true size (a cached block may be a little larger than
/// asked), and whether it was mapped from the kernel (large_alloc).
struct StorageBlock {
  void* data = nullptr;
  std::size_t bytes = 0;
  bool mapped = false;
};

/// A block of kStorageCacheMinBytes or more, from the C library, or with
/// `mapped` (Linux, outside AddressSanitizer builds) mapped from the kernel
/// itself, to be unmapped when freed (large_free), so that its memory leaves
/// the process with it.
inline StorageBlock large_alloc(std::size_t bytes, bool mapped) {
#if defined(__linux__)
  if (mapped && !kAddressSanitizer) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    advise_huge_pages(p, bytes);
    return {p, bytes, true};
  }
#endif
  (void)mapped;
  return {aligned_alloc_bytes(bytes), bytes, false};
}
/// Frees a block of large_alloc.
inline void large_free(const StorageBlock& b) noexcept {
#if defined(__linux__)
  if (b.mapped) {
    (void)munmap(b.data, b.bytes);
    return;
  }
#endif
  std::free(b.data);
}

/// The process-wide cache of large blocks. Thread-safe. Blocks of at least
/// kStorageCacheMinBytes are counted as live from allocate to release. A
/// released block is kept (when the cache is enabled); allocate takes the
/// smallest kept block of the asked size up to 1/8 more. On a miss it frees
/// kept blocks, largest first, until live + kept + the new block fit under
/// the peak of live bytes, and only then asks the C library.
class StorageCache {
 public:
  /// The one cache; never destroyed, so tensors in static storage may outlive
  /// every other static object.
  static StorageCache& instance() {
    static StorageCache* const cache = new StorageCache();
    return *cache;
  }

  StorageBlock allocate(std::size_t bytes) {
    if (bytes == 0) return {};
    const std::size_t rounded = aligned_size(bytes);
    if (rounded < kStorageCacheMinBytes) return {aligned_alloc_bytes(rounded), rounded, false};
    std::vector<StorageBlock> evicted;
    bool mapped = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = kept_.lower_bound(rounded);
      if (it != kept_.end() && it->first <= rounded + rounded / 8) {
        const StorageBlock b = it->second;
        kept_.erase(it);
        kept_bytes_ -= b.bytes;
        live_bytes_ += b.bytes;
        ++hits_;
        return b;
      }
      while (!kept_.empty() && live_bytes_ + kept_bytes_ + rounded > peak_bytes_) {
        auto last = std::prev(kept_.end());
        evicted.push_back(last->second);
        kept_bytes_ -= last->first;
        kept_.erase(last);
      }
      live_bytes_ += rounded;  // counted before the allocation, undone if it throws
      ++misses_;
      if (live_bytes_ + kept_bytes_ > peak_bytes_) peak_bytes_ = live_bytes_ + kept_bytes_;
      mapped = compact_;
    }
    for (const StorageBlock& e : evicted) large_free(e);
    try {
      return large_alloc(rounded, mapped);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_bytes_ -= rounded;
      throw;
    }
  }

  void release(const StorageBlock& b) noexcept {
    if (b.data == nullptr) return;
    if (b.bytes < kStorageCacheMinBytes) {
      std::free(b.data);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live_bytes_ -= b.bytes;
      if (enabled_) {
        try {
          kept_.emplace(b.bytes, b);
          kept_bytes_ += b.bytes;
          return;
        } catch (...) {  // no memory for the map's node: free the block instead
        }
      }
    }
    large_free(b);
  }

  /// Frees every kept block, and lowers the peak to what is live now.
  void clear() noexcept {
    std::multimap<std::size_t, StorageBlock> kept;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      kept.swap(kept_);
      kept_bytes_ = 0;
      peak_bytes_ = live_bytes_;
    }
    for (auto& [bytes, b] : kept) large_free(b);
  }

  /// Whether large blocks allocated from now on are mapped from the kernel (set_storage_compact).
  void set_compact(bool on) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    compact_ = on;
  }

  void set_enabled(bool on) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      enabled_ = on;
    }
    if (!on) clear();
  }

  struct Stats {
    bool enabled = false;
    std::size_t live_bytes = 0, kept_bytes = 0, peak_bytes = 0, kept_blocks = 0;
    std::size_t hits = 0, misses = 0;
  };
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {enabled_, live_bytes_, kept_bytes_, peak_bytes_, kept_.size(), hits_, misses_};
  }

 private:
  StorageCache() = default;

  mutable std::mutex mutex_;
  std::multimap<std::size_t, StorageBlock> kept_;  // kept blocks by size
  bool enabled_ = kStorageCacheDefault;
  bool compact_ = false;
  std::size_t live_bytes_ = 0, kept_bytes_ = 0, peak_bytes_ = 0;
  std::size_t hits_ = 0, misses_ = 0;
};

/// A tensor's deleter: hands its block back to the cache.
struct StorageRelease {
  std::size_t bytes = 0;
  bool mapped = false;
  void operator()(void* p) const noexcept { StorageCache::instance().release({p, bytes, mapped}); }
};

}  // namespace detail

/// What the storage cache holds: whether it is on, the bytes of large blocks
/// (kStorageCacheMinBytes and up) in tensors now, kept for reuse, and the
/// peak of the two together, and how many allocations reused a kept block.
using StorageCacheStats = detail::StorageCache::Stats;
/// The storage cache's figures now (see StorageCacheStats).
inline StorageCacheStats storage_cache_stats() { return detail::StorageCache::instance().stats(); }

/// Hands every kept block back to the C library (after a burst of work, say).
inline void release_cached_storage() noexcept { detail::StorageCache::instance().clear(); }

/// Turns the storage cache on or off (off releases what it keeps). It is on by
/// default, except in AddressSanitizer builds.
inline void set_storage_cache(bool enabled) noexcept { detail::StorageCache::instance().set_enabled(enabled); }

/// With `on`, large blocks (kStorageCacheMinBytes and up) allocated from now
/// on are mapped from the kernel and unmapped when freed (on Linux, outside
/// AddressSanitizer builds; elsewhere nothing changes), so that resident
/// memory follows the tensors in use: for training, whose varied sizes leave
/// freed blocks of a few MiB resident in the C library's heap (glibc raises
/// its mmap threshold to the largest block freed, up to 32 MiB): one training
/// step of r2plus1d_18 on 8 clips peaked 330 MB higher in resident memory
/// than in memory in use. Off by default: a forward pass that alternates
/// sizes reuses the heap's pages, where fresh mappings are faulted in again
/// (r2plus1d_18's layer1 and layer2 took 7-10% longer with it on).
inline void set_storage_compact(bool on) noexcept { detail::StorageCache::instance().set_compact(on); }

}  // namespace r2plus1d
