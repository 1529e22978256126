// Scratch memory for the pipelines' intermediate arrays. Halide allocates
// every per-task array (padded planes, bands, ...) on each call; from the
// system allocator those blocks come back as fresh pages (mmap), and the
// page faults cost more than the arithmetic on small planes. This allocator
// keeps freed blocks per thread and hands them out again, so a steady
// stream of forwards allocates nothing after the first.
#pragma once

#include <cstddef>

namespace wtconv::detail {

// Installs the allocator into the Halide runtime (once, before the first
// pipeline runs).
void install_scratch_allocator();

// False in AddressSanitizer builds: there every array comes straight from
// the system allocator, so that ASan sees each one's exact bounds.
bool scratch_cache_enabled();

// Bytes a thread keeps for reuse at most; blocks beyond it go back to the
// system.
constexpr size_t kScratchCachePerThread = size_t(256) << 20;

}  // namespace wtconv::detail
