# ctest prefetch_instructions: the archive with wtconv_prefetch_ahead must
# contain prefetch instructions (x86-64: prefetcht0), one loop each for the
# input and the output lines.
execute_process(COMMAND ${OBJDUMP} -d ${ARCHIVE} OUTPUT_VARIABLE disassembly RESULT_VARIABLE status)
if (NOT status EQUAL 0)
    message(FATAL_ERROR "${OBJDUMP} -d ${ARCHIVE} failed (${status})")
endif ()
string(REGEX MATCHALL "prefetcht0" found "${disassembly}")
list(LENGTH found count)
if (count LESS 2)
    message(FATAL_ERROR "${ARCHIVE}: ${count} prefetcht0 instructions in wtconv_prefetch_ahead, expected 2 or more "
                        "(were the prefetches compiled away?)")
endif ()
message(STATUS "${ARCHIVE}: ${count} prefetcht0 instructions")
