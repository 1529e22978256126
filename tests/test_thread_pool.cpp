// The pool that runs the pipelines' parallel loops (runtime/thread_pool.cpp):
// every task exactly once, errors returned, nested and concurrent loops,
// workers that have gone to sleep, and the settings from the environment.
#include "thread_pool.h"

#include "wtconv/wtconv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using wtconv::detail::SpinPool;
using namespace std::chrono_literals;

// What a loop's tasks saw: how often each index ran, and on which threads.
struct Record {
    std::vector<std::atomic<int>> runs;
    std::mutex mutex;
    std::set<std::thread::id> threads;
    int min = 0;
    int fail_at = -1;  // this index returns an error
    int error = 0;
    std::chrono::microseconds work{0};  // busy time per task

    explicit Record(int size) : runs(size) {}
};

int record_task(void *, int index, uint8_t *closure) {
    auto *r = reinterpret_cast<Record *>(closure);
    r->runs[index - r->min]++;
    {
        std::lock_guard<std::mutex> lock(r->mutex);
        r->threads.insert(std::this_thread::get_id());
    }
    const auto until = std::chrono::steady_clock::now() + r->work;
    while (std::chrono::steady_clock::now() < until) {
    }
    return index == r->fail_at ? r->error : 0;
}

void expect_each_ran_once(const Record &r) {
    for (size_t i = 0; i < r.runs.size(); i++) EXPECT_EQ(r.runs[i].load(), 1) << "task " << i;
}

TEST(SpinPool, RunsEveryTaskExactlyOnce) {
    SpinPool pool(3, 200us);
    EXPECT_EQ(pool.threads(), 3);
    for (int size : {0, 1, 2, 3, 7, 64, 1000}) {
        for (int min : {0, -5, 17}) {
            Record r(size);
            r.min = min;
            ASSERT_EQ(pool.run(nullptr, record_task, min, size, reinterpret_cast<uint8_t *>(&r)), 0);
            expect_each_ran_once(r);
        }
    }
}

TEST(SpinPool, SharesALoopBetweenThreads) {
    SpinPool pool(2, 100ms);
    Record r(8);
    r.work = 2ms;  // long enough for the worker to take some
    ASSERT_EQ(pool.run(nullptr, record_task, 0, 8, reinterpret_cast<uint8_t *>(&r)), 0);
    expect_each_ran_once(r);
    EXPECT_EQ(r.threads.size(), 2u);
}

TEST(SpinPool, ReturnsTheFirstErrorAndStillRunsEveryTask) {
    SpinPool pool(2, 200us);
    Record r(50);
    r.fail_at = 31;
    r.error = -7;
    EXPECT_EQ(pool.run(nullptr, record_task, 0, 50, reinterpret_cast<uint8_t *>(&r)), -7);
    expect_each_ran_once(r);
    // The pool is usable after a failed loop.
    Record next(50);
    EXPECT_EQ(pool.run(nullptr, record_task, 0, 50, reinterpret_cast<uint8_t *>(&next)), 0);
    expect_each_ran_once(next);
}

TEST(SpinPool, OneThreadRunsEverythingOnTheCaller) {
    SpinPool pool(1, 200us);
    Record r(20);
    ASSERT_EQ(pool.run(nullptr, record_task, 0, 20, reinterpret_cast<uint8_t *>(&r)), 0);
    expect_each_ran_once(r);
    EXPECT_EQ(r.threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

// A task that runs a loop of its own on the same pool.
struct Nested {
    SpinPool *pool;
    std::vector<std::unique_ptr<Record>> inner;
};

int nested_task(void *, int index, uint8_t *closure) {
    auto *n = reinterpret_cast<Nested *>(closure);
    Record &r = *n->inner[index];
    return n->pool->run(nullptr, record_task, 0, int(r.runs.size()), reinterpret_cast<uint8_t *>(&r));
}

TEST(SpinPool, NestedLoopsRunOnTheirCallingThread) {
    SpinPool pool(2, 1ms);
    Nested n{&pool, {}};
    for (int i = 0; i < 6; i++) n.inner.push_back(std::make_unique<Record>(9));
    ASSERT_EQ(pool.run(nullptr, nested_task, 0, 6, reinterpret_cast<uint8_t *>(&n)), 0);
    for (auto &r : n.inner) {
        expect_each_ran_once(*r);
        EXPECT_EQ(r->threads.size(), 1u);
    }
}

TEST(SpinPool, LoopsFromSeveralThreadsAtOnce) {
    SpinPool pool(2, 1ms);
    std::vector<std::thread> callers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; t++) {
        callers.emplace_back([&] {
            for (int rep = 0; rep < 200; rep++) {
                Record r(13);
                if (pool.run(nullptr, record_task, 0, 13, reinterpret_cast<uint8_t *>(&r)) != 0) failures++;
                for (auto &count : r.runs) {
                    if (count.load() != 1) failures++;
                }
            }
        });
    }
    for (std::thread &t : callers) t.join();
    EXPECT_EQ(failures.load(), 0);
}

TEST(SpinPool, WakesWorkersThatWentToSleep) {
    SpinPool pool(2, 0us);  // sleep at once
    for (int rep = 0; rep < 3; rep++) {
        std::this_thread::sleep_for(5ms);
        Record r(8);
        r.work = 2ms;
        ASSERT_EQ(pool.run(nullptr, record_task, 0, 8, reinterpret_cast<uint8_t *>(&r)), 0);
        expect_each_ran_once(r);
        EXPECT_EQ(r.threads.size(), 2u) << "repetition " << rep;
    }
}

TEST(SpinPool, ManyShortLoopsInARow) {
    SpinPool pool(2, 1ms);
    for (int rep = 0; rep < 20000; rep++) {
        Record r(3);
        ASSERT_EQ(pool.run(nullptr, record_task, 0, 3, reinterpret_cast<uint8_t *>(&r)), 0);
        for (auto &count : r.runs) ASSERT_EQ(count.load(), 1) << "loop " << rep;
    }
}

// A setting the environment gets wrong throws an error naming the variable.
template<typename Read>
void expect_rejected(const char *name, const char *value, Read read) {
    ::setenv(name, value, 1);
    try {
        read();
        ADD_FAILURE() << name << "='" << value << "' was accepted";
    } catch (const wtconv::Error &e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(std::string("'") + value + "'"), std::string::npos) << e.what();
    }
    ::unsetenv(name);
}

TEST(SpinPool, SettingsFromTheEnvironment) {
    using namespace wtconv::detail;
    const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
    ::unsetenv("HL_NUM_THREADS");
    EXPECT_EQ(configured_threads(), int(hardware));
    ::setenv("HL_NUM_THREADS", "", 1);
    EXPECT_EQ(configured_threads(), int(hardware));
    ::setenv("HL_NUM_THREADS", "3", 1);
    EXPECT_EQ(configured_threads(), 3);
    ::setenv("HL_NUM_THREADS", "100000", 1);
    EXPECT_EQ(configured_threads(), kMaxThreads);
    for (const char *bad : {"0", "-2", "many", "4x", "99999999999999999999999"}) {
        expect_rejected("HL_NUM_THREADS", bad, configured_threads);
    }

    ::unsetenv("WTCONV_SPIN_US");
    EXPECT_EQ(configured_spin().count(), kDefaultSpinMicros);
    ::setenv("WTCONV_SPIN_US", "0", 1);
    EXPECT_EQ(configured_spin().count(), 0);
    ::setenv("WTCONV_SPIN_US", "250", 1);
    EXPECT_EQ(configured_spin().count(), 250);
    for (const char *bad : {"-1", "1ms", " "}) expect_rejected("WTCONV_SPIN_US", bad, configured_spin);
    ::unsetenv("WTCONV_SPIN_US");

    ::unsetenv("WTCONV_THREAD_POOL");
    EXPECT_FALSE(configured_halide_pool());
    ::setenv("WTCONV_THREAD_POOL", "halide", 1);
    EXPECT_TRUE(configured_halide_pool());
    ::setenv("WTCONV_THREAD_POOL", "spin", 1);
    EXPECT_FALSE(configured_halide_pool());
    for (const char *bad : {"Halide", "openmp"}) expect_rejected("WTCONV_THREAD_POOL", bad, configured_halide_pool);
}

}  // namespace
