// The `wtconv` command end to end (the binary named by $WTCONV_CLI): run
// against golden files of the PyTorch module (tests/golden_safetensors/),
// a round trip through safetensors, bench --json, erf's PNG, and errors:
// one line on stderr, a non-zero status, no output file.
#include "commands.h"  // cli/: erf_layout
#include "scratch_dir.h"

#include "wtconv/safetensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#ifndef WTCONV_GOLDEN_SAFETENSORS_DIR
#error "WTCONV_GOLDEN_SAFETENSORS_DIR must name the tests/golden_safetensors folder"
#endif

namespace wtconv::testing {
namespace {

namespace fs = std::filesystem;

const fs::path &scratch() { return scratch_dir("wtconv_test_cli"); }

std::string golden(const std::string &name) { return std::string(WTCONV_GOLDEN_SAFETENSORS_DIR) + "/" + name; }
std::string temp(const std::string &name) { return (scratch() / name).string(); }

std::string read_text(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Result {
    int status = -1;
    std::string out, err;
};

// Runs `wtconv <args>` (args are shell words, already quoted where needed).
Result wtconv(const std::string &args) {
    const char *cli = std::getenv("WTCONV_CLI");
    if (!cli) {
        ADD_FAILURE() << "WTCONV_CLI is not set (ctest sets it to the wtconv binary)";
        return {};
    }
    const std::string out = temp("stdout.txt"), err = temp("stderr.txt");
    const int raw = std::system(("'" + std::string(cli) + "' " + args + " >'" + out + "' 2>'" + err + "' </dev/null").c_str());
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_text(out), read_text(err)};
}

// An error: non-zero status, exactly one line on stderr holding `part`.
void expect_failure(const Result &r, const std::string &part) {
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

struct GoldenRun {
    const char *name;
    std::string args;  // besides --weights, --input, --output
};

TEST(Cli, RunMatchesThePyTorchModule) {
    const std::vector<GoldenRun> runs = {
        {"layer_db1_k5_L2", ""},
        {"checkpoint_f16", "--prefix stages.1.blocks.10.conv_dw. --stride 2"},
        {"nofilters_bf16_db2", "--wavelet db2 --device cpu"},
    };
    for (const GoldenRun &g : runs) {
        SCOPED_TRACE(g.name);
        const std::string base = golden(g.name), out = temp(std::string(g.name) + ".out.safetensors");
        const Result r = wtconv("run --weights " + base + ".weights.safetensors --input " + base +
                                ".input.safetensors --output " + out + " " + g.args);
        ASSERT_EQ(r.status, 0) << r.err;
        const FloatTensor y = read_safetensors(out).at("output");
        const FloatTensor ref = read_safetensors(base + ".expected.safetensors").at("output");
        ASSERT_EQ(y.shape, ref.shape);
        double top = 0;
        for (float v : ref.values) top = std::max(top, double(std::fabs(v)));
        for (size_t i = 0; i < y.values.size(); i++) {
            ASSERT_LE(std::fabs(y.values[i] - ref.values[i]), 1e-5 * (1 + top)) << "element " << i;
        }
    }
}

TEST(Cli, RunRoundTripMatchesTheLibrary) {
    // The command's output, read back, is bit for bit the library's forward.
    const std::string base = golden("checkpoint_f16"), out = temp("round_trip.safetensors");
    const std::string prefix = "stages.0.blocks.0.conv_dw.";
    // This layer has 4 channels: give it an input of its own, written by the library.
    FloatTensor x{{1, 4, 9, 12}, {}};
    for (int i = 0; i < 4 * 9 * 12; i++) x.values.push_back(std::sin(0.37f * float(i)));
    const std::string in = temp("round_trip_input.safetensors");
    write_safetensors(in, {{"input", x}});
    const Result r = wtconv("run --weights " + base + ".weights.safetensors --prefix " + prefix + " --input " + in +
                            " --output " + out);
    ASSERT_EQ(r.status, 0) << r.err;
    const Layer layer = Layer::from_safetensors(base + ".weights.safetensors", prefix);
    std::vector<float> y(x.values.size());
    layer.forward(ConstTensor::nchw(x.values.data(), 1, 4, 9, 12), Tensor::nchw(y.data(), 1, 4, 9, 12));
    const TensorMap written = read_safetensors(out);
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written.at("output").shape, x.shape);
    EXPECT_EQ(written.at("output").values, y);
}

TEST(Cli, RunErrors) {
    const std::string ckpt = golden("checkpoint_f16.weights.safetensors");
    const std::string input = golden("checkpoint_f16.input.safetensors");
    const std::string out = temp("never.safetensors");
    fs::remove(out);
    const std::string truncated = temp("truncated.safetensors");
    {
        const std::string bytes = read_text(input);
        std::ofstream(truncated, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
    }
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"run --weights " + ckpt + " --input " + input + " --output " + out, "--prefix"},
        {"run --weights " + ckpt + " --prefix nope. --input " + input + " --output " + out, "nope.base_conv.weight"},
        {"run --weights " + temp("missing.safetensors") + " --input " + input + " --output " + out, "cannot open"},
        {"run --weights " + ckpt + " --prefix stages.1.blocks.10.conv_dw. --input " + truncated + " --output " + out,
         "truncated.safetensors"},
        {"run --weights " + ckpt + " --prefix stages.0.blocks.0.conv_dw. --input " + input + " --output " + out,
         "expected [N, C, H, W] with C = 4"},
        {"run --weights " + ckpt + " --prefix stages.1.blocks.10.conv_dw. --input " + ckpt + " --output " + out,
         "no tensor 'input'"},
        {"run --weights " + ckpt + " --prefix stages.1.blocks.10.conv_dw. --input " + input + " --output " + out +
             " --device cuda",
         "CUDA"},
        {"run --weights " + ckpt + " --input " + input + " --output " + out + " --stride 0", "--stride"},
        {"run --weights " + ckpt + " --input " + input + " --output " + temp("no_dir/y.safetensors") +
             " --prefix stages.1.blocks.10.conv_dw.",
         "no_dir"},
        {"run --input " + input + " --output " + out, "--weights"},
        {"fly", "subcommand"},
    };
    for (const auto &[args, part] : cases) {
        SCOPED_TRACE(args);
        expect_failure(wtconv(args), part);
        EXPECT_FALSE(fs::exists(out));
    }
    for (const auto &entry : fs::directory_iterator(scratch())) {
        EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left behind: " << entry.path();
    }
}

TEST(Cli, HelpOnEverySubcommand) {
    for (const std::string sub : {"", "run", "bench", "erf"}) {
        const Result r = wtconv(sub + " --help");
        EXPECT_EQ(r.status, 0) << sub;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
    }
}

std::vector<nlohmann::json> json_lines(const std::string &text) {
    std::vector<nlohmann::json> rows;
    std::stringstream in(text);
    std::string line;
    while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));  // throws if not JSON
    return rows;
}

void expect_bench_rows(const std::vector<nlohmann::json> &rows) {
    for (const nlohmann::json &row : rows) {
        for (const char *field : {"shape", "levels", "kernel", "wavelet", "device", "impl", "ms_median", "gflops", "gbps"}) {
            EXPECT_TRUE(row.contains(field)) << field << " missing in " << row.dump();
        }
        EXPECT_GT(row["ms_median"].get<double>(), 0.0) << row.dump();
        EXPECT_GT(row["gflops"].get<double>(), 0.0) << row.dump();
        EXPECT_GT(row["gbps"].get<double>(), 0.0) << row.dump();
        EXPECT_LT(row["max_error"].get<double>(), 1e-5) << row.dump();
        EXPECT_EQ(row["device"], "cpu");
    }
}

TEST(Cli, BenchJson) {
    const Result r = wtconv("bench --shape 2,4,12,10 --levels 2 --kernel 3 --wavelet sym2 --min-time 0 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::vector<nlohmann::json> rows = json_lines(r.out);
    ASSERT_EQ(rows.size(), 5u) << r.out;
    std::vector<std::string> impls;
    for (const nlohmann::json &row : rows) {
        impls.push_back(row["impl"]);
        EXPECT_EQ(row["shape"], (std::vector<int>{2, 4, 12, 10}));
        EXPECT_EQ(row["levels"], 2);
        EXPECT_EQ(row["kernel"], 3);
        EXPECT_EQ(row["wavelet"], "sym2");
    }
    EXPECT_EQ(impls, (std::vector<std::string>{"fused_nchw", "fused_nhwc", "fused_nchw16c", "staged", "depthwise"}));
    expect_bench_rows(rows);
}

TEST(Cli, BenchDefaultsToTheConvNeXtStages) {
    const Result r = wtconv("bench --min-time 0 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const std::vector<nlohmann::json> rows = json_lines(r.out);
    ASSERT_EQ(rows.size(), 20u);
    const std::vector<std::vector<int>> shapes = {{1, 96, 56, 56}, {1, 192, 28, 28}, {1, 384, 14, 14}, {1, 768, 7, 7}};
    for (size_t i = 0; i < rows.size(); i++) {
        EXPECT_EQ(rows[i]["shape"], shapes[i / 5]);
        EXPECT_EQ(rows[i]["levels"], 5 - int(i / 5));  // WTConvNeXt-T's 5, 4, 3, 2
    }
    expect_bench_rows(rows);
    // The table form.
    const Result table = wtconv("bench --shape 1,2,8,8 --min-time 0");
    ASSERT_EQ(table.status, 0) << table.err;
    EXPECT_NE(table.out.find("fused_nchw"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("vs staged"), std::string::npos) << table.out;
}

TEST(Cli, BenchErrors) {
    expect_failure(wtconv("bench --device cuda"), "CUDA");
    expect_failure(wtconv("bench --shape 1,2,3"), "--shape");
    expect_failure(wtconv("bench --shape 1,2,x,4"), "--shape");
    expect_failure(wtconv("bench --shape 1,4,8,8 --wavelet nope"), "nope");
    expect_failure(wtconv("bench --shape 1,4,8,8 --kernel 0"), "--kernel");
}

// Luma, rising along viridis.
double luma(const unsigned char *p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

// Each panel's centre pixel is as bright as any pixel of the panel.
void expect_centre_max(const std::string &png, int size) {
    int w = 0, h = 0, channels = 0;
    unsigned char *pixels = stbi_load(png.c_str(), &w, &h, &channels, 3);
    ASSERT_NE(pixels, nullptr) << "not a PNG: " << png;
    const cli::ErfLayout at = cli::erf_layout(size);
    EXPECT_EQ(w, at.width);
    EXPECT_EQ(h, at.height);
    for (int panel = 0; panel < 2; panel++) {
        const int cx = at.panel_x[panel] + (size / 2) * at.zoom + at.zoom / 2;
        const int cy = at.panel_y + (size / 2) * at.zoom + at.zoom / 2;
        const double centre = luma(pixels + (size_t(cy) * w + cx) * 3);
        double brightest = 0;
        for (int y = at.panel_y; y < at.panel_y + at.panel_size; y++)
            for (int x = at.panel_x[panel]; x < at.panel_x[panel] + at.panel_size; x++) {
                brightest = std::max(brightest, luma(pixels + (size_t(y) * w + x) * 3));
            }
        EXPECT_EQ(centre, brightest) << "panel " << panel;
        EXPECT_GT(centre, 150) << "panel " << panel << ": the centre is not the top of the colour map";
    }
    stbi_image_free(pixels);
}

TEST(Cli, ErfPngHasItsMaximumAtTheCentre) {
    const std::string png = temp("erf.png");
    Result r = wtconv("erf --levels 3 --kernel 5 --wavelet db1 --size 41 --out " + png);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_centre_max(png, 41);

    // Defaults, and a trained layer from a file.
    r = wtconv("erf --out " + temp("erf_default.png"));
    ASSERT_EQ(r.status, 0) << r.err;
    expect_centre_max(temp("erf_default.png"), 2 * 8 * 5 + 1);
    // A trained layer (with a bias, which is no part of the response): zero far from the centre.
    r = wtconv("erf --weights " + golden("layer_db1_k5_L2.weights.safetensors") + " --size 41 --out " +
               temp("erf_trained.png"));
    ASSERT_EQ(r.status, 0) << r.err;
    int w = 0, h = 0, channels = 0;
    unsigned char *pixels = stbi_load(temp("erf_trained.png").c_str(), &w, &h, &channels, 3);
    ASSERT_NE(pixels, nullptr);
    const cli::ErfLayout at = cli::erf_layout(41);
    const unsigned char *corner = pixels + (size_t(at.panel_y) * w + at.panel_x[0]) * 3;
    EXPECT_EQ(std::vector<int>(corner, corner + 3), (std::vector<int>{68, 1, 84}));  // the bottom of viridis
    stbi_image_free(pixels);

    const std::string never = temp("erf_never.png");
    expect_failure(wtconv("erf --size 40 --out " + never), "odd");
    expect_failure(wtconv("erf --wavelet nope --out " + never), "nope");
    expect_failure(wtconv("erf --out " + temp("no_dir/erf.png")), "no_dir");
    expect_failure(wtconv("erf --levels 2"), "--out");
    EXPECT_FALSE(fs::exists(never));
}

}  // namespace
}  // namespace wtconv::testing
