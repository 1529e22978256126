// The subcommands of the `wtconv` command (main.cpp parses the arguments).
// Each throws wtconv::Error on any problem; nothing is written to an output
// path unless the whole command succeeded.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace wtconv::cli {

// --device: only "cpu" runs; "cuda" is a clear error (no CUDA path yet).
void check_device(const std::string &device);

// A progress line on stderr, when stderr is a terminal (so that, in scripts,
// stderr holds nothing but an error).
void progress(const char *format, ...) __attribute__((format(printf, 1, 2)));

// wtconv run: one forward of a layer from a safetensors state dict on the
// tensor `input` of a safetensors file, written as the tensor `output`.
struct RunOptions {
    std::string weights, input, output;
    std::optional<std::string> prefix;   // none: the file's only WTConv layer
    std::optional<std::string> wavelet;  // only for files without wt_filter / iwt_filter
    int stride = 1;
    std::string device = "cpu";
};
void run(const RunOptions &options);

// wtconv bench: fused (NCHW and channels-last), staged and a plain
// depthwise k x k conv on the same tensor; a table or JSON lines on stdout.
struct BenchOptions {
    std::optional<std::string> shape;  // "N,C,H,W"; none: the four WTConvNeXt-T stages at batch 1
    std::optional<int> levels;         // none: floor(log2(min(H, W))), WTConvNeXt-T's 5, 4, 3, 2
    int kernel = 5;
    std::string wavelet = "db1";
    std::string device = "cpu";
    bool json = false;
    double min_time = 0.5;  // seconds of runs per measurement
};
void bench(const BenchOptions &options);

// wtconv erf: the layer's impulse response (its exact effective receptive
// field, the layer being linear) next to a plain depthwise conv of about the
// same FLOPs, log scale, as a PNG.
struct ErfOptions {
    int levels = 3, kernel = 5;
    std::string wavelet = "db1";
    std::optional<int> size;     // plane size (odd); none: 2^(levels+1) * kernel + 1
    std::optional<std::string> weights, prefix;  // a trained layer instead of uniform kernels
    int decades = 4;             // of the log colour scale
    std::string out;
};
void erf(const ErfOptions &options);

// Where the erf figure puts its two panels (the tests look at their centres).
struct ErfLayout {
    int width = 0, height = 0;
    int zoom = 1;               // image pixels per plane pixel
    int panel_x[2] = {0, 0}, panel_y = 0, panel_size = 0;  // in image pixels
};
ErfLayout erf_layout(int size);

}  // namespace wtconv::cli
