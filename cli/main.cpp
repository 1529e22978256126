// wtconv: run, benchmark and look at WTConv2d layers from the command line.
//
//   wtconv run --weights W.safetensors [--prefix P] [--stride S] [--wavelet NAME]
//              --input X.safetensors --output Y.safetensors [--device cpu|cuda]
//   wtconv bench [--shape N,C,H,W] [--levels L] [--kernel K] [--wavelet W] [--device cpu|cuda] [--json]
//   wtconv erf [--levels L] [--kernel K] [--wavelet W] [--size S] --out erf.png
//
// Exit status 0 on success; on any error, one line on stderr and non-zero.
#include "commands.h"

#include "wtconv/wtconv.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

using namespace wtconv::cli;

// An option that stays unset (std::nullopt) unless given.
template<typename T>
CLI::Option *add_optional(CLI::App *app, const std::string &name, std::optional<T> &value, const std::string &help) {
    return app->add_option_function<T>(name, [&value](const T &v) { value = v; }, help);
}

void add_device(CLI::App *app, std::string &device) {
    app->add_option("--device", device, "cpu (default) or cuda (not built yet: a clear error)")
        ->check(CLI::IsMember({"cpu", "cuda"}));
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"wtconv: the WTConv2d layer (Halide, ahead-of-time compiled) from the command line"};
    app.require_subcommand(1);
    app.option_defaults()->always_capture_default();  // --help shows every default
    app.failure_message([](const CLI::App *, const CLI::Error &e) {
        return "wtconv: error: " + std::string(e.what()) + " (see --help)\n";
    });

    RunOptions run;
    CLI::App *run_app = app.add_subcommand(
        "run", "One forward of a layer from a safetensors state dict on the tensor 'input' of a safetensors "
               "file; writes the tensor 'output'");
    run_app->add_option("--weights", run.weights, "safetensors file: a WTConv2d state dict or a whole checkpoint")
        ->required();
    add_optional(run_app, "--prefix", run.prefix,
                 "key prefix of the layer, e.g. stages.2.blocks.4.conv_dw. (default: the file's only WTConv layer)");
    run_app->add_option("--stride", run.stride, "stride (not in the state dict)")->check(CLI::PositiveNumber);
    add_optional(run_app, "--wavelet", run.wavelet, "PyWavelets name, only for files without wt_filter/iwt_filter");
    run_app->add_option("--input", run.input, "safetensors file with a float tensor 'input' [N, C, H, W]")->required();
    run_app->add_option("--output", run.output, "safetensors file to write, with the float32 tensor 'output'")
        ->required();
    add_device(run_app, run.device);

    BenchOptions bench;
    CLI::App *bench_app = app.add_subcommand(
        "bench", "Time the fused forward, the staged baseline and a plain depthwise KxK conv on the same tensor "
                 "(default: the four WTConvNeXt-T stages at batch 1)");
    add_optional(bench_app, "--shape", bench.shape, "N,C,H,W (default: 1,96,56,56 1,192,28,28 1,384,14,14 1,768,7,7)");
    add_optional(bench_app, "--levels", bench.levels, "wavelet levels (default: floor(log2(min(H, W))): 5, 4, 3, 2)");
    bench_app->add_option("--kernel", bench.kernel, "kernel size K");
    bench_app->add_option("--wavelet", bench.wavelet, "PyWavelets name");
    bench_app->add_option("--min-time", bench.min_time, "seconds of runs per measurement")
        ->check(CLI::Range(0.0, 600.0));
    bench_app->add_flag("--json", bench.json,
                        "one JSON object per row: shape, levels, kernel, wavelet, device, impl, ms_median, gflops, "
                        "gbps (and variant, isa, max_error)");
    add_device(bench_app, bench.device);

    ErfOptions erf;
    CLI::App *erf_app = app.add_subcommand(
        "erf", "Draw the layer's effective receptive field (its exact impulse response, log scale) next to a "
               "plain depthwise conv of about the same FLOPs, as a PNG");
    erf_app->add_option("--levels", erf.levels, "wavelet levels");
    erf_app->add_option("--kernel", erf.kernel, "kernel size K");
    erf_app->add_option("--wavelet", erf.wavelet, "PyWavelets name");
    add_optional(erf_app, "--size", erf.size, "plane size, odd (default: 2^(levels+1) * K + 1)");
    add_optional(erf_app, "--weights", erf.weights, "draw a trained layer from this safetensors file instead");
    add_optional(erf_app, "--prefix", erf.prefix, "its key prefix (with --weights)");
    erf_app->add_option("--decades", erf.decades, "decades of the log colour scale");
    erf_app->add_option("--out", erf.out, "PNG file to write")->required();

    try {
        app.parse(argc, argv);
        if (*run_app) wtconv::cli::run(run);
        if (*bench_app) wtconv::cli::bench(bench);
        if (*erf_app) wtconv::cli::erf(erf);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "wtconv: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
