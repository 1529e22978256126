# Every external dependency, found once, with a message that says how to get
# it when it is missing (tools/setup.sh installs all of them).

find_package(Halide 21 CONFIG)
if (NOT Halide_FOUND)
    message(FATAL_ERROR
        "Halide 21 not found. Run tools/setup.sh (it makes .venv with the pinned "
        "halide wheel), then configure with -DCMAKE_PREFIX_PATH=<repo>/.venv "
        "-DPython_EXECUTABLE=<repo>/.venv/bin/python.")
endif ()

find_package(Threads REQUIRED)

if (WTCONV_BUILD_TESTS)
    find_package(GTest CONFIG)
    if (NOT GTest_FOUND)
        find_package(GTest)
    endif ()
    if (NOT GTest_FOUND)
        message(FATAL_ERROR "GoogleTest not found: apt-get install libgtest-dev (or -DWTCONV_BUILD_TESTS=OFF)")
    endif ()
endif ()

if (WTCONV_BUILD_BENCH)
    find_package(benchmark CONFIG)
    if (NOT benchmark_FOUND)
        message(FATAL_ERROR "Google Benchmark not found: apt-get install libbenchmark-dev (or -DWTCONV_BUILD_BENCH=OFF)")
    endif ()
endif ()
