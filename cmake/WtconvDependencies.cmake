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

# The safetensors header parser of the runtime.
if (NOT WTCONV_AOT_ONLY)
    find_package(nlohmann_json 3 CONFIG)
endif ()
if (NOT nlohmann_json_FOUND AND NOT WTCONV_AOT_ONLY)
    message(FATAL_ERROR "nlohmann-json (the safetensors header parser) not found: apt-get install nlohmann-json3-dev")
endif ()

if (WTCONV_BUILD_CLI)
    find_package(CLI11 2 CONFIG)
    if (NOT CLI11_FOUND)
        message(FATAL_ERROR "CLI11 (the wtconv command's arguments) not found: apt-get install libcli11-dev "
                            "(or -DWTCONV_BUILD_CLI=OFF)")
    endif ()
    find_path(WTCONV_STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)
    if (NOT WTCONV_STB_INCLUDE_DIR)
        message(FATAL_ERROR "stb (PNG writing for wtconv erf) not found: apt-get install libstb-dev "
                            "(or -DWTCONV_BUILD_CLI=OFF)")
    endif ()
endif ()
