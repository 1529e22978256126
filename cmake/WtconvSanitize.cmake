# AddressSanitizer + UndefinedBehaviorSanitizer copies of the runtime, the
# `wtconv` command and the test suites, for tools/sanitize.sh. They compile
# the same sources again with the sanitizers and link the same AOT objects
# (Halide's generated code is not instrumented), so they cost no Halide
# build. Not built by default: `cmake --build <build> --target
# wtconv_sanitized` builds them, `ctest -C Sanitize -L sanitize` runs their
# tests (a plain `ctest` skips them).

set(WTCONV_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_custom_target(wtconv_sanitized)

# The sanitized copy of a library target, when there is one.
function(_wtconv_sanitized_name library out)
    if (library STREQUAL "wtconv_static")
        set(library wtconv_objects)  # its objects are wtconv_objects'
    endif ()
    if (TARGET ${library}_asan)
        set(${out} ${library}_asan PARENT_SCOPE)
    else ()
        set(${out} ${library} PARENT_SCOPE)
    endif ()
endfunction()

# wtconv_sanitized_copy(<target>): <target>_asan, the same sources, include
# directories, definitions and libraries (their sanitized copies where they
# exist), built with the sanitizers. Libraries become static libraries.
function(wtconv_sanitized_copy target)
    get_target_property(type ${target} TYPE)
    get_target_property(sources ${target} SOURCES)
    get_target_property(source_dir ${target} SOURCE_DIR)
    set(absolute "")
    foreach (source IN LISTS sources)
        cmake_path(ABSOLUTE_PATH source BASE_DIRECTORY "${source_dir}")
        list(APPEND absolute "${source}")
    endforeach ()
    if (type STREQUAL "EXECUTABLE")
        add_executable(${target}_asan EXCLUDE_FROM_ALL ${absolute})
    else ()
        add_library(${target}_asan STATIC EXCLUDE_FROM_ALL ${absolute})
    endif ()
    foreach (property IN ITEMS INCLUDE_DIRECTORIES INTERFACE_INCLUDE_DIRECTORIES COMPILE_DEFINITIONS
                               INTERFACE_COMPILE_DEFINITIONS COMPILE_OPTIONS)
        get_target_property(value ${target} ${property})
        if (value)
            set_property(TARGET ${target}_asan PROPERTY ${property} "${value}")
        endif ()
    endforeach ()
    get_target_property(output_name ${target} OUTPUT_NAME)
    if (output_name)
        set_target_properties(${target}_asan PROPERTIES OUTPUT_NAME ${output_name}_asan)
    endif ()
    foreach (property IN ITEMS LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
        get_target_property(libraries ${target} ${property})
        set(mapped "")
        foreach (library IN LISTS libraries)
            _wtconv_sanitized_name("${library}" library)
            list(APPEND mapped "${library}")
        endforeach ()
        if (libraries)
            set_property(TARGET ${target}_asan PROPERTY ${property} "${mapped}")
        endif ()
    endforeach ()
    target_compile_options(${target}_asan PRIVATE ${WTCONV_SANITIZE_FLAGS} -g)
    target_link_options(${target}_asan PUBLIC ${WTCONV_SANITIZE_FLAGS})
    set_target_properties(${target}_asan PROPERTIES POSITION_INDEPENDENT_CODE ON)
    add_dependencies(wtconv_sanitized ${target}_asan)
endfunction()

# wtconv_add_sanitized_test(<test>): the sanitized copy of the test
# executable <test>, registered as test <test>_asan for `ctest -C Sanitize`.
# Extra arguments are test properties (e.g. ENVIRONMENT ...).
function(wtconv_add_sanitized_test name)
    wtconv_sanitized_copy(${name})
    add_test(NAME ${name}_asan COMMAND ${name}_asan CONFIGURATIONS Sanitize)
    set_tests_properties(${name}_asan PROPERTIES LABELS sanitize ${ARGN})
endfunction()

# The runtime, on which every other sanitized copy builds.
wtconv_sanitized_copy(wtconv_objects)
