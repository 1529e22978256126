// The pipelines' scratch allocator (runtime/scratch_allocator.cpp), through
// the Halide runtime entry points the pipelines call.
#include "scratch_allocator.h"

#include "HalideRuntime.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>

namespace {

class ScratchAllocator : public ::testing::Test {
protected:
    void SetUp() override {
        if (!wtconv::detail::scratch_cache_enabled()) {
            GTEST_SKIP() << "the scratch cache is off in sanitizer builds (allocations go straight to the system)";
        }
        wtconv::detail::install_scratch_allocator();
    }
};

bool aligned(void *p, uintptr_t alignment) { return reinterpret_cast<uintptr_t>(p) % alignment == 0; }

TEST_F(ScratchAllocator, BlocksAreAlignedAndWritableWithSlackOnBothSides) {
    for (size_t size : {size_t(1), size_t(100), size_t(4096), size_t(1) << 20}) {
        auto *p = static_cast<unsigned char *>(halide_malloc(nullptr, size));
        ASSERT_NE(p, nullptr);
        EXPECT_TRUE(aligned(p, 64)) << size;
        std::memset(p - 8, 0xAB, size + 16);  // Halide may touch 8 bytes either side
        EXPECT_EQ(p[size - 1], 0xAB);
        halide_free(nullptr, p);
    }
}

TEST_F(ScratchAllocator, AFreedBlockIsHandedOutAgain) {
    void *first = halide_malloc(nullptr, 200000);
    halide_free(nullptr, first);
    void *second = halide_malloc(nullptr, 200000);
    EXPECT_EQ(first, second);
    void *third = halide_malloc(nullptr, 150000);  // the first is in use: a new block
    EXPECT_NE(third, second);
    halide_free(nullptr, second);
    halide_free(nullptr, third);
}

TEST_F(ScratchAllocator, ASmallRequestDoesNotPinALargeBlock) {
    void *large = halide_malloc(nullptr, size_t(8) << 20);
    halide_free(nullptr, large);
    void *small = halide_malloc(nullptr, 1000);
    EXPECT_NE(small, large);
    void *again = halide_malloc(nullptr, size_t(8) << 20);
    EXPECT_EQ(again, large);
    halide_free(nullptr, small);
    halide_free(nullptr, again);
}

TEST_F(ScratchAllocator, BlocksMayBeFreedOnAnotherThread) {
    void *p = halide_malloc(nullptr, 300000);
    std::memset(p, 1, 300000);
    void *reused = nullptr;
    std::thread other([&] {
        halide_free(nullptr, p);                  // kept by the other thread
        reused = halide_malloc(nullptr, 300000);  // and handed out there
        halide_free(nullptr, reused);
    });
    other.join();
    EXPECT_EQ(reused, p);
}

}  // namespace
