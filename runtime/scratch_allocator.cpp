#include "scratch_allocator.h"

#include "HalideRuntime.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace wtconv::detail {
namespace {

// Every block starts with a header that records its capacity, so that a
// block freed on another thread than the one that allocated it still knows
// its size. Halide wants vector alignment and 8 readable bytes on each side;
// the header and the rounded-up tail give both.
constexpr size_t kAlign = 128;
constexpr size_t kGranule = 4096;

struct Header {
    size_t capacity;  // usable bytes after the header
};
static_assert(sizeof(Header) <= kAlign);

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

void *user_pointer(void *block) { return static_cast<char *>(block) + kAlign; }
void *block_of(void *user) { return static_cast<char *>(user) - kAlign; }

class ThreadCache {
public:
    ~ThreadCache() {
        for (void *block : free_) std::free(block);
    }

    void *take(size_t size) {
        // Best fit among the kept blocks, but never one more than twice the
        // request (a small array must not pin a large block).
        size_t best = free_.size();
        for (size_t i = 0; i < free_.size(); i++) {
            const size_t cap = capacity(free_[i]);
            if (cap >= size && cap <= 2 * size + kGranule &&
                (best == free_.size() || cap < capacity(free_[best]))) {
                best = i;
            }
        }
        if (best == free_.size()) return nullptr;
        void *block = free_[best];
        free_[best] = free_.back();
        free_.pop_back();
        kept_ -= capacity(block);
        return block;
    }

    void give(void *block) {
        const size_t cap = capacity(block);
        // Over budget: drop the oldest blocks first.
        while (!free_.empty() && kept_ + cap > kScratchCachePerThread) {
            kept_ -= capacity(free_.front());
            std::free(free_.front());
            free_.erase(free_.begin());
        }
        if (cap > kScratchCachePerThread) {
            std::free(block);
            return;
        }
        free_.push_back(block);
        kept_ += cap;
    }

private:
    static size_t capacity(void *block) { return static_cast<Header *>(block)->capacity; }

    std::vector<void *> free_;
    size_t kept_ = 0;
};

ThreadCache &thread_cache() {
    thread_local ThreadCache cache;
    return cache;
}

void *scratch_malloc(void *, size_t size) {
    if (void *block = thread_cache().take(size)) return user_pointer(block);
    const size_t capacity = round_up(size + kAlign, kGranule);  // tail slack for over-reads
    void *block = std::aligned_alloc(kAlign, kAlign + capacity);
    if (block == nullptr) return nullptr;  // Halide reports the out-of-memory error
    static_cast<Header *>(block)->capacity = capacity;
    return user_pointer(block);
}

void scratch_free(void *, void *ptr) {
    if (ptr != nullptr) thread_cache().give(block_of(ptr));
}

}  // namespace

bool scratch_cache_enabled() {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return false;
#endif
#endif
    return true;
}

void install_scratch_allocator() {
    if (!scratch_cache_enabled()) return;
    halide_set_custom_malloc(scratch_malloc);
    halide_set_custom_free(scratch_free);
}

}  // namespace wtconv::detail
