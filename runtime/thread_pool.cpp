#include "thread_pool.h"

#include "wtconv/wtconv.h"  // Error

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace wtconv::detail {
namespace {

// A spin-wait hint: frees the core's shared resources while polling.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// A whole number of at least `lowest` from the environment, or `fallback`
// where the variable is unset or empty; anything else is an error that
// names the variable (as WTCONV_CPU_ISA's, cpu_isa.cpp).
long env_whole_number(const char *name, long fallback, long lowest) {
    const char *text = std::getenv(name);
    if (text == nullptr || *text == '\0') return fallback;
    char *end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || value < lowest) {
        throw Error(std::string("environment variable ") + name + " is '" + text + "': expected a whole number of " +
                    std::to_string(lowest) + " or more");
    }
    return value;
}

}  // namespace

SpinPool::SpinPool(int threads, std::chrono::microseconds spin) : spin_(spin) {
    for (int i = 1; i < threads; i++) workers_.emplace_back([this] { work(); });
}

SpinPool::~SpinPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread &t : workers_) t.join();
}

bool SpinPool::claim(uint64_t generation, int &index) {
    uint64_t w = claims_.load(std::memory_order_acquire);
    for (;;) {
        const uint64_t next = w & kIndexMask, size = (w >> kIndexBits) & kIndexMask;
        if (generation_of(w) != generation || next >= size) return false;
        if (claims_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
            index = int(next);
            return true;
        }
    }
}

void SpinPool::run_claimed(uint64_t generation) {
    int index = 0;
    while (claim(generation, index)) {
        // A claimed task keeps its loop running, so the fields are its loop's.
        const int result = task_(user_context_, min_ + index, closure_);
        if (result != 0) {
            int none = 0;
            first_error_.compare_exchange_strong(none, result, std::memory_order_relaxed);
        }
        unfinished_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void SpinPool::work() {
    // Loops started before this thread got going are its to join: it
    // starts from the generation the pool was made with.
    uint64_t seen = 0;
    for (;;) {
        // Spin for a while: the next loop usually follows within microseconds.
        const auto give_up = std::chrono::steady_clock::now() + spin_;
        uint64_t now = generation_of(claims_.load(std::memory_order_acquire));
        for (int polls = 0; now == seen && !stopping_.load(std::memory_order_relaxed); polls++) {
            if ((polls & 255) == 0 && std::chrono::steady_clock::now() >= give_up) {
                // Then sleep. sleepers_ goes up before the last look at the
                // word, and run() looks at sleepers_ after publishing it
                // (both sequentially consistent): one of them sees the other.
                std::unique_lock<std::mutex> lock(mutex_);
                sleepers_.fetch_add(1);
                wake_.wait(lock, [&] { return stopping_.load() || generation_of(claims_.load()) != seen; });
                sleepers_.fetch_sub(1);
                break;
            }
            cpu_relax();
            now = generation_of(claims_.load(std::memory_order_acquire));
        }
        if (stopping_.load()) return;
        seen = generation_of(claims_.load(std::memory_order_acquire));
        run_claimed(seen);
    }
}

int SpinPool::run_part(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
    task_ = task;
    user_context_ = user_context;
    closure_ = closure;
    min_ = min;
    first_error_.store(0, std::memory_order_relaxed);
    unfinished_.store(size, std::memory_order_relaxed);
    const uint64_t generation = next_generation(generation_of(claims_.load(std::memory_order_relaxed)));
    claims_.store(word(generation, uint64_t(size), 0));  // publishes the fields above
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_all();
    }
    run_claimed(generation);
    while (unfinished_.load(std::memory_order_acquire) > 0) cpu_relax();
    return first_error_.load(std::memory_order_relaxed);
}

int SpinPool::run(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
    if (size <= 0) return 0;
    // Another loop is running (a nested one, or one from another thread),
    // or there is nobody to share with: this thread runs the tasks alone.
    if (workers_.empty() || size == 1 || busy_.exchange(true, std::memory_order_acquire)) {
        int first_error = 0;
        for (int i = 0; i < size; i++) {
            const int result = task(user_context, min + i, closure);
            if (result != 0 && first_error == 0) first_error = result;
        }
        return first_error;
    }
    int first_error = 0;
    for (int done = 0; done < size; done += kMaxTasksPerLoop) {
        const int part = std::min(size - done, kMaxTasksPerLoop);
        const int result = run_part(user_context, task, min + done, part, closure);
        if (result != 0 && first_error == 0) first_error = result;
    }
    busy_.store(false, std::memory_order_release);
    return first_error;
}

int configured_threads() {
    const long hardware = std::max(1u, std::thread::hardware_concurrency());
    return int(std::min(env_whole_number("HL_NUM_THREADS", hardware, 1), long(kMaxThreads)));
}

std::chrono::microseconds configured_spin() {
    return std::chrono::microseconds(env_whole_number("WTCONV_SPIN_US", kDefaultSpinMicros, 0));
}

bool configured_halide_pool() {
    const char *text = std::getenv("WTCONV_THREAD_POOL");
    if (text == nullptr || *text == '\0' || std::string(text) == "spin") return false;
    if (std::string(text) == "halide") return true;
    throw Error(std::string("environment variable WTCONV_THREAD_POOL is '") + text + "': expected spin or halide");
}

namespace {

SpinPool &process_pool() {
    // Never destroyed (see install_thread_pool).
    static SpinPool *pool = new SpinPool(configured_threads(), configured_spin());
    return *pool;
}

int pool_do_par_for(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
    return process_pool().run(user_context, task, min, size, closure);
}

}  // namespace

void install_thread_pool() {
    if (configured_halide_pool()) return;
    // Built here, so that a malformed setting throws from the forward that
    // installs the pool, not from inside a Halide pipeline's parallel loop.
    process_pool();
    halide_set_custom_do_par_for(pool_do_par_for);
}

}  // namespace wtconv::detail
