// The threads that run the pipelines' parallel loops. Halide's own pool
// puts an idle worker to sleep after a few dozen polls, and on a virtual
// machine waking it again takes long enough to show: the worker started
// each forward late and the calling thread waited for it at the end (3-20 %
// of a forward on the 2-vCPU benchmark machine; docs/PERFORMANCE.md, step
// 43). These workers
// keep spinning for a while after each parallel loop (OpenMP runtimes,
// oneDNN's among them, do the same), so that back-to-back forwards find
// them awake, and sleep after that.
//
// Settings, read once when the first pipeline runs (a malformed value is a
// wtconv::Error that names the variable; unset or empty: the default):
// - HL_NUM_THREADS (Halide's own variable): threads per parallel loop,
//   the calling thread included (default: the machine's hardware threads;
//   at most kMaxThreads, as Halide's pool).
// - WTCONV_SPIN_US: how long an idle worker spins before it sleeps, in
//   microseconds (default kDefaultSpinMicros; 0 sleeps at once).
// - WTCONV_THREAD_POOL: spin (default, this pool) or halide (Halide's own
//   pool, for programs that size it with halide_set_num_threads).
#pragma once

#include "HalideRuntime.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace wtconv::detail {

constexpr int kDefaultSpinMicros = 1000;
constexpr int kMaxThreads = 256;

// A pool of `threads - 1` workers; the calling thread runs tasks too.
// One parallel loop at a time: a loop started while another is running
// (from another thread, or nested inside a task) runs its tasks on its
// own calling thread, in order.
class SpinPool {
public:
    SpinPool(int threads, std::chrono::microseconds spin);
    ~SpinPool();
    SpinPool(const SpinPool &) = delete;
    SpinPool &operator=(const SpinPool &) = delete;

    // halide_do_par_for's contract: runs task(user_context, i, closure) for
    // i in [min, min + size), returns the first nonzero result (every task
    // still runs) or 0.
    int run(void *user_context, halide_task_t task, int min, int size, uint8_t *closure);

    int threads() const { return int(workers_.size()) + 1; }

private:
    // The running loop's tasks are claimed from one atomic word: the loop's
    // generation, its task count and the next task, so that a claim made
    // by a worker late for a finished loop fails instead of taking a task
    // of the next one (whose fields it could not read consistently).
    static constexpr int kIndexBits = 20;
    static constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
    static constexpr int kMaxTasksPerLoop = int(kIndexMask);  // larger loops run in parts
    static uint64_t word(uint64_t generation, uint64_t size, uint64_t next) {
        return generation << (2 * kIndexBits) | size << kIndexBits | next;
    }
    static uint64_t generation_of(uint64_t w) { return w >> (2 * kIndexBits); }
    // The loop after `generation`, wrapping within the word's 24 generation
    // bits (unwrapped, loop 2^24 would publish generation 0 and its caller,
    // claiming for 2^24, would leave every task to the workers).
    static uint64_t next_generation(uint64_t generation) {
        return (generation + 1) & ((uint64_t(1) << (64 - 2 * kIndexBits)) - 1);
    }

    // Claims the next task of loop `generation`: false once it has none
    // left (or a newer loop has started).
    bool claim(uint64_t generation, int &index);
    void run_claimed(uint64_t generation);
    int run_part(void *user_context, halide_task_t task, int min, int size, uint8_t *closure);
    void work();

    const std::chrono::microseconds spin_;
    // The running loop's fields, written before its word is published and
    // stable until its last task has finished.
    halide_task_t task_ = nullptr;
    void *user_context_ = nullptr;
    uint8_t *closure_ = nullptr;
    int min_ = 0;
    std::atomic<uint64_t> claims_{0};
    std::atomic<int> unfinished_{0};
    std::atomic<int> first_error_{0};
    std::atomic<bool> busy_{false};
    // Sleeping workers wait on wake_ for a new generation or stopping_.
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> workers_;
};

// Threads per parallel loop from HL_NUM_THREADS, else the machine's.
int configured_threads();
// Idle workers' spin from WTCONV_SPIN_US, else kDefaultSpinMicros.
std::chrono::microseconds configured_spin();

// True where WTCONV_THREAD_POOL is "halide", false where it is "spin",
// unset or empty.
bool configured_halide_pool();

// Runs the pipelines' parallel loops on one process-wide SpinPool (built
// from the settings above on first use, never destroyed: workers may still
// be waiting when static destructors run).
void install_thread_pool();

}  // namespace wtconv::detail
