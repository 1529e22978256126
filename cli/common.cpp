#include "commands.h"

#include "wtconv/wtconv.h"

#include <cstdarg>
#include <cstdio>
#include <unistd.h>

namespace wtconv::cli {

void check_device(const std::string &device) {
    if (device == "cuda") {
        throw Error("--device cuda: this build has no CUDA path yet (the CPU pipelines only); use --device cpu");
    }
    if (device != "cpu") throw Error("--device " + device + ": unknown device (cpu or cuda)");
}

void progress(const char *format, ...) {
    static const bool terminal = isatty(fileno(stderr));
    if (!terminal) return;
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
}

}  // namespace wtconv::cli
