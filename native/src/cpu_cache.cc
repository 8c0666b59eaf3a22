// A caching allocator for large CPU tensors.
//
// Why: libtorch's default CPU allocator hands every block back to glibc on free, and glibc gives
// blocks above its mmap threshold (at most 32 MiB) straight back to the kernel. A training step
// allocates the same activation sizes again, so each one page-faults and is zeroed by the kernel
// anew: 200k-780k minor faults per step of resnet-18 width 0.25 at 64 px, batch 128, in plain
// PyTorch on the 2-core development machine (getrusage), whose step fell from ~1.8 s to ~1.1 s
// when jemalloc was made to keep freed pages. Here freed blocks of at least kMinBytes are kept in
// per-size-class free lists and handed out again; smaller ones are allocated and freed plainly.
//
// Bounded: the bytes held free never exceed the cap (WINNOW_CPU_CACHE_MB, default a quarter of
// physical memory); WINNOW_CPU_CACHE_MB=0 (or a value that is not a number) leaves libtorch's
// allocator in place. cpuCacheEmpty() (torch.cpuCache.empty()) gives everything held back to the
// system; the trainer and the embedder call it when they end.
#include "common.h"

#include <c10/core/CPUAllocator.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <map>
#include <vector>

namespace winnow {
namespace {

constexpr size_t kMinBytes = size_t(1) << 18;  // 256 KiB: below this glibc's heap serves blocks well
constexpr size_t kHeader = 64;                 // keeps the data 64-byte aligned, as libtorch's own

// Size classes: 8 per power of two (≤ 12.5% slack), so near-equal shapes share blocks. A block keeps
// its class in its header for life, whatever request it later serves.
size_t sizeClass(size_t n) {
  size_t p = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free;  // size class → header pointers (no empty lists)
  size_t cachedBytes = 0;
  size_t capBytes = 0;
  uint64_t hits = 0, misses = 0;
  bool installed = false;
};
// Never destroyed: tensors may be freed during static destruction at exit.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

// The deleter of every block this allocator made (also its raw_deleter: oneDNN allocates through
// raw_allocate and frees with it). The header holds the size class, 0 for uncached small blocks.
void releaseBlock(void* data) {
  if (!data) return;
  char* base = static_cast<char*>(data) - kHeader;
  size_t cls = *reinterpret_cast<size_t*>(base);
  Cache& c = cache();
  if (cls) {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cachedBytes + cls <= c.capBytes) {
      c.free[cls].push_back(base);
      c.cachedBytes += cls;
      return;
    }
  }
  std::free(base);
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  // libtorch 1.x declares allocate() const, 2.3+ non-const: defining both overrides whichever the
  // headers declare (the other is a plain overload), so one source builds against both.
  c10::DataPtr allocate(size_t n) const { return take(n); }
  c10::DataPtr allocate(size_t n) { return take(n); }
  // Pure virtual since libtorch 2.3; an unused extra method before.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }
  c10::DeleterFnPtr raw_deleter() const override { return &releaseBlock; }

 private:
  c10::DataPtr take(size_t n) const {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (n == 0) return c10::DataPtr(nullptr, nullptr, &releaseBlock, cpu);
    Cache& c = cache();
    size_t cls = n < kMinBytes ? 0 : sizeClass(n);
    void* base = nullptr;
    if (cls) {
      std::lock_guard<std::mutex> lock(c.mu);
      // The smallest held block of at least this class, up to twice its size: a smaller last batch
      // reuses the full batches' blocks instead of adding its own.
      auto it = c.free.lower_bound(cls);
      if (it != c.free.end() && it->first <= 2 * cls) {
        base = it->second.back();
        it->second.pop_back();
        c.cachedBytes -= it->first;
        if (it->second.empty()) c.free.erase(it);
        c.hits++;
      } else {
        c.misses++;
      }
    }
    if (!base) {
      if (posix_memalign(&base, kHeader, (cls ? cls : n) + kHeader) != 0) {
        TORCH_CHECK(false, "CPU out of memory: tried to allocate ", n, " bytes");
      }
      *reinterpret_cast<size_t*>(base) = cls;
    }
    void* data = static_cast<char*>(base) + kHeader;
    return c10::DataPtr(data, data, &releaseBlock, cpu);
  }
};

size_t defaultCapBytes() {
  const char* env = std::getenv("WINNOW_CPU_CACHE_MB");
  if (env && *env) return static_cast<size_t>(std::strtoull(env, nullptr, 10)) << 20;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t(1) << 30;
}

size_t emptyAll() {
  Cache& c = cache();
  std::vector<void*> blocks;
  size_t bytes;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto& kv : c.free) blocks.insert(blocks.end(), kv.second.begin(), kv.second.end());
    c.free.clear();
    bytes = c.cachedBytes;
    c.cachedBytes = 0;
  }
  for (void* b : blocks) std::free(b);
  return bytes;
}

}  // namespace

// Once per process (every worker thread's instance of the addon shares it).
void installCpuCache() {
  static std::once_flag once;
  std::call_once(once, [] {
    Cache& c = cache();
    c.capBytes = defaultCapBytes();
    if (c.capBytes == 0) return;
    c10::SetCPUAllocator(new CachingCPUAllocator(), /*priority=*/1);  // lives for the process
    c.installed = true;
  });
}

}  // namespace winnow

using winnow::Args;

WINNOW_FN(cpuCacheStats, {
  auto& c = winnow::cache();
  auto o = Napi::Object::New(a.env);
  std::lock_guard<std::mutex> lock(c.mu);
  o.Set("enabled", Napi::Boolean::New(a.env, c.installed));
  o.Set("cachedBytes", Napi::Number::New(a.env, static_cast<double>(c.cachedBytes)));
  o.Set("capBytes", Napi::Number::New(a.env, static_cast<double>(c.capBytes)));
  o.Set("hits", Napi::Number::New(a.env, static_cast<double>(c.hits)));
  o.Set("misses", Napi::Number::New(a.env, static_cast<double>(c.misses)));
  return o;
})
WINNOW_FN(cpuCacheEmpty, { return Napi::Number::New(a.env, static_cast<double>(winnow::emptyAll())); })

namespace winnow {
void registerCpuCache(Napi::Env env, Napi::Object exports) {
  installCpuCache();
  WINNOW_EXPORT(cpuCacheStats);
  WINNOW_EXPORT(cpuCacheEmpty);
}
}  // namespace winnow
