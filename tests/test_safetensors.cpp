// safetensors I/O: round trips, dtype conversions, layers from files, and a
// table of malformed files, each answered by a wtconv::Error that names the
// file, the tensor and the problem (never a crash: the sanitizer build runs
// this suite too).
#include "random_layer.h"
#include "safetensors.h"  // runtime/: the parser's internals
#include "scratch_dir.h"

#include "wtconv/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

namespace wtconv::testing {
namespace {

namespace fs = std::filesystem;

const fs::path &scratch() { return scratch_dir("wtconv_test_safetensors"); }

std::string write_bytes(const std::string &name, const std::string &bytes) {
    const std::string path = (scratch() / name).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
}

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &v, 8);
    return s;
}

// A file with this header text and data.
std::string file_bytes(const std::string &header, const std::string &data) { return le64(header.size()) + header + data; }

template<typename T>
std::string raw(const std::vector<T> &values) {
    return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

// Expects `f` to throw wtconv::Error whose message holds every one of `parts`.
template<typename F>
void expect_error(F &&f, const std::vector<std::string> &parts) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one mentioning '" << parts.front() << "'";
    } catch (const Error &e) {
        const std::string message = e.what();
        for (const std::string &part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
    }
}

TEST(Safetensors, RoundTrip) {
    Random rnd(1);
    TensorMap tensors = {{"a.weight", {{2, 3, 4}, rnd.nonzero_vector(24)}},
                         {"scalar", {{}, {3.5f}}},
                         {"empty", {{0, 5}, {}}},
                         {"ünïcode name", {{3}, {1.0f, -0.0f, std::numeric_limits<float>::infinity()}}}};
    const std::string path = (scratch() / "round_trip.safetensors").string();
    write_safetensors(path, tensors, {{"format", "pt"}});
    EXPECT_EQ(fs::file_size(path) % 8, 0u);  // 8 + header padded to 8 + float data

    const TensorMap back = read_safetensors(path);
    ASSERT_EQ(back.size(), tensors.size());
    for (const auto &[name, t] : tensors) {
        ASSERT_TRUE(back.count(name)) << name;
        EXPECT_EQ(back.at(name).shape, t.shape) << name;
        ASSERT_EQ(back.at(name).values.size(), t.values.size()) << name;
        for (size_t i = 0; i < t.values.size(); i++) {  // bit for bit (-0.0 too)
            EXPECT_EQ(std::signbit(back.at(name).values[i]), std::signbit(t.values[i])) << name;
            EXPECT_EQ(back.at(name).values[i], t.values[i]) << name;
        }
    }
    EXPECT_EQ(read_safetensors(path, "a.").size(), 1u);
    const std::vector<TensorInfo> index = safetensors_index(path);
    ASSERT_EQ(index.size(), 4u);
    EXPECT_EQ(index[0].name, "a.weight");
    EXPECT_EQ(index[0].dtype, "F32");
}

TEST(Safetensors, ConvertsF16BF16F64) {
    const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555};
    const std::vector<uint16_t> bf16 = {0x3f80, 0xc040, 0x0000, 0xff80};
    const std::vector<double> f64 = {1.0, -2.5e-3, 1e30, -0.0};
    const std::string header = R"({"h":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},)"
                               R"("b":{"dtype":"BF16","shape":[2,2],"data_offsets":[14,22]},)"
                               R"("d":{"dtype":"F64","shape":[4],"data_offsets":[22,54]},)"
                               R"("__metadata__":{"format":"pt"}})";
    const std::string path = write_bytes("dtypes.safetensors", file_bytes(header, raw(f16) + raw(bf16) + raw(f64)));
    const TensorMap t = read_safetensors(path);
    const std::vector<float> h = t.at("h").values, b = t.at("b").values, d = t.at("d").values;
    EXPECT_EQ(h[0], 1.0f);
    EXPECT_EQ(h[1], -2.0f);
    EXPECT_EQ(h[2], 65504.0f);
    EXPECT_EQ(h[3], std::ldexp(1.0f, -24));  // the smallest subnormal
    EXPECT_TRUE(std::signbit(h[4]) && h[4] == 0.0f);
    EXPECT_EQ(h[5], std::numeric_limits<float>::infinity());
    EXPECT_NEAR(h[6], 1.0f / 3.0f, 1e-3f);
    EXPECT_EQ(b[0], 1.0f);
    EXPECT_EQ(b[1], -3.0f);
    EXPECT_EQ(b[2], 0.0f);
    EXPECT_EQ(b[3], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(t.at("b").shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(d[0], 1.0f);
    EXPECT_EQ(d[1], float(-2.5e-3));
    EXPECT_EQ(d[2], float(1e30));
    EXPECT_TRUE(std::signbit(d[3]));
}

// A malformed file and the parts its error message must hold (besides the file name).
struct Malformed {
    const char *name;
    std::string bytes;
    std::vector<std::string> parts;
};

std::vector<Malformed> malformed_files() {
    const std::string f32x2 = raw(std::vector<float>{1, 2});
    auto entry = [](const std::string &name, const std::string &body) { return "\"" + name + "\":{" + body + "}"; };
    auto one = [&](const std::string &body) { return "{" + entry("t", body) + "}"; };
    return {
        {"empty", "", {"truncated"}},
        {"truncated_length", std::string("\x10\x00\x00", 3), {"truncated"}},
        {"length_past_end", le64(100) + "{}", {"header length 100", "past the end"}},
        {"huge_length", le64(uint64_t(1) << 62) + "{}", {"over the 100000000-byte limit"}},
        {"huge_length_max", le64(~uint64_t(0)) + "{}", {"limit"}},
        {"bad_json", file_bytes(R"({"t": {"dtype": )", ""), {"not valid JSON"}},
        {"not_utf8", file_bytes("{\"\xff\xfe\":1}", ""), {"not valid JSON"}},
        {"not_an_object", file_bytes("[1, 2]", ""), {"must be a JSON object"}},
        {"entry_not_object", file_bytes(R"({"t": 5})", ""), {"tensor 't'", "must be an object"}},
        {"unknown_dtype", file_bytes(one(R"("dtype":"F17","shape":[2],"data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "unknown dtype 'F17'"}},
        {"dtype_not_string", file_bytes(one(R"("dtype":4,"shape":[2],"data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "dtype must be a string"}},
        {"missing_shape", file_bytes(one(R"("dtype":"F32","data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "no 'shape'"}},
        {"negative_size", file_bytes(one(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "non-negative integers"}},
        {"fractional_size", file_bytes(one(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "non-negative integers"}},
        {"shape_disagrees", file_bytes(one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), f32x2),
         {"tensor 't'", "shape [3] of F32 needs 12 bytes", "hold 8"}},
        {"shape_overflows",
         file_bytes(one(R"("dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8])"),
                    f32x2),
         {"tensor 't'", "more than 2^64"}},
        {"offsets_past_data", file_bytes(one(R"("dtype":"F32","shape":[250],"data_offsets":[0,1000])"), f32x2),
         {"tensor 't'", "reach past the data, which holds 8 bytes"}},
        {"offsets_reversed", file_bytes(one(R"("dtype":"F32","shape":[0],"data_offsets":[8,0])"), f32x2),
         {"tensor 't'", "end before they begin"}},
        {"offsets_not_pair", file_bytes(one(R"("dtype":"F32","shape":[2],"data_offsets":[0])"), f32x2),
         {"tensor 't'", "data_offsets must be [begin, end]"}},
        {"offsets_overlap",
         file_bytes("{" + entry("a", R"("dtype":"F32","shape":[2],"data_offsets":[0,8])") + "," +
                        entry("b", R"("dtype":"F32","shape":[2],"data_offsets":[4,12])") + "}",
                    f32x2 + f32x2),
         {"tensor 'b'", "overlap those of tensor 'a'"}},
        {"duplicate_name",
         file_bytes("{" + entry("a", R"("dtype":"F32","shape":[2],"data_offsets":[0,8])") + "," +
                        entry("a", R"("dtype":"F32","shape":[2],"data_offsets":[8,16])") + "}",
                    f32x2 + f32x2),
         {"duplicate tensor name 'a'"}},
        {"duplicate_key", file_bytes(one(R"("dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8])"), f32x2),
         {"duplicate key 'dtype'"}},
        {"deep_nesting", file_bytes(std::string(5000, '[') + std::string(5000, ']'), ""), {"deeper"}},
        {"bad_metadata", file_bytes(R"({"__metadata__":{"a":1}})", ""), {"__metadata__"}},
    };
}

TEST(Safetensors, MalformedFilesGiveClearErrors) {
    for (const Malformed &m : malformed_files()) {
        SCOPED_TRACE(m.name);
        const std::string path = write_bytes(std::string(m.name) + ".safetensors", m.bytes);
        std::vector<std::string> parts = m.parts;
        parts.push_back(path);
        expect_error([&] { read_safetensors(path); }, parts);
        expect_error([&] { safetensors_index(path); }, parts);
        expect_error([&] { list_layers(path); }, parts);
        expect_error([&] { Layer::from_safetensors(path); }, parts);
        // The in-memory parser (the fuzzer's entry point) agrees.
        std::vector<std::string> memory_parts = m.parts;
        memory_parts.push_back("memory");
        expect_error([&] {
            detail::parse_file_image(reinterpret_cast<const unsigned char *>(m.bytes.data()), m.bytes.size(), "memory");
        }, memory_parts);
    }
}

TEST(Safetensors, ReadErrors) {
    const std::string missing = (scratch() / "no_such_file.safetensors").string();
    expect_error([&] { read_safetensors(missing); }, {missing, "cannot open"});
    expect_error([&] { read_safetensors(scratch().string()); }, {scratch().string(), "is a directory"});

    const std::string ints = write_bytes(
        "ints.safetensors", file_bytes(R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", le64(7)));
    EXPECT_EQ(safetensors_index(ints).at(0).dtype, "I64");  // listed, valid
    expect_error([&] { read_safetensors(ints); }, {ints, "tensor 'n'", "dtype I64 cannot be read as float32"});

    const std::string big = write_bytes("f64_range.safetensors",
                                        file_bytes(R"({"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                                                   raw(std::vector<double>{1e300})));
    expect_error([&] { read_safetensors(big); }, {big, "tensor 'd'", "beyond float32's range"});
}

TEST(Safetensors, WritesAtomically) {
    const std::string path = (scratch() / "kept.safetensors").string();
    write_safetensors(path, {{"x", {{2}, {1, 2}}}});
    const auto before = fs::file_size(path);
    // A bad tensor: an error, and the old file is left as it was.
    expect_error([&] { write_safetensors(path, {{"x", {{3}, {1, 2}}}}); }, {path, "tensor 'x'", "holds 3 values"});
    EXPECT_EQ(fs::file_size(path), before);
    const std::string nowhere = (scratch() / "no_dir" / "y.safetensors").string();
    expect_error([&] { write_safetensors(nowhere, {{"x", {{2}, {1, 2}}}}); }, {nowhere, "cannot create"});
    for (const auto &entry : fs::directory_iterator(scratch())) {
        EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << "left behind: " << entry.path();
    }
}

// A random layer's state dict as a TensorMap (any prefix).
TensorMap layer_tensors(const RandomLayer &layer, const std::string &prefix, bool filters = true) {
    TensorMap t;
    for (const auto &[name, values] : layer.data) {
        if (!filters && (name == "wt_filter" || name == "iwt_filter")) continue;
        t[prefix + name] = {layer.shapes.at(name), values};
    }
    return t;
}

TEST(Safetensors, LayerFromFileMatchesStateDict) {
    Random rnd(2);
    const RandomLayer spec = random_layer({5, 3, 3, 1, "sym2", true}, rnd);
    const std::string prefix = "stages.1.blocks.2.conv_dw.";
    const std::string path = (scratch() / "layer.safetensors").string();
    write_safetensors(path, layer_tensors(spec, prefix));

    const Layer from_file = Layer::from_safetensors(path, prefix, 2);
    const Layer direct = spec.make_layer();
    EXPECT_EQ(from_file.levels(), 3);
    EXPECT_EQ(from_file.kernel_size(), 3);
    EXPECT_EQ(from_file.stride(), 2);
    const int N = 2, C = 5, H = 11, W = 9;
    const std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
    std::vector<float> a(size_t(N) * C * 6 * 5), b(size_t(N) * C * H * W);
    from_file.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(a.data(), N, C, 6, 5));
    direct.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(b.data(), N, C, H, W));
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < 6; y++)
                for (int xx = 0; xx < 5; xx++) {
                    ASSERT_EQ(a[((size_t(n) * C + c) * 6 + y) * 5 + xx],
                              b[((size_t(n) * C + c) * H + 2 * y) * W + 2 * xx]);
                }
}

TEST(Safetensors, ListsLayersInNaturalOrder) {
    Random rnd(3);
    const RandomLayer spec = random_layer({2, 3, 2, 1, "db1", false}, rnd);
    TensorMap t;
    for (const char *prefix : {"stages.0.blocks.10.conv_dw.", "stages.0.blocks.2.conv_dw.", "head."}) {
        const TensorMap layer = layer_tensors(spec, prefix);
        t.insert(layer.begin(), layer.end());
    }
    // Incomplete sets are not layers: a missing scale, a scale without its conv, a lone filter.
    TensorMap partial = layer_tensors(spec, "partial.a.");
    partial.erase("partial.a.base_scale.weight");
    t.insert(partial.begin(), partial.end());
    partial = layer_tensors(spec, "partial.b.");
    partial["partial.b.wavelet_scale.2.weight"] = partial["partial.b.wavelet_scale.0.weight"];
    t.insert(partial.begin(), partial.end());
    partial = layer_tensors(spec, "partial.c.");
    partial.erase("partial.c.iwt_filter");
    t.insert(partial.begin(), partial.end());
    t["norm.weight"] = {{2}, {1, 1}};
    const std::string path = (scratch() / "checkpoint.safetensors").string();
    write_safetensors(path, t);
    EXPECT_EQ(list_layers(path),
              (std::vector<std::string>{"head.", "stages.0.blocks.2.conv_dw.", "stages.0.blocks.10.conv_dw."}));

    // A bare layer (no prefix), filters left out: listed as "".
    const std::string bare = (scratch() / "bare.safetensors").string();
    write_safetensors(bare, layer_tensors(spec, "", false));
    EXPECT_EQ(list_layers(bare), std::vector<std::string>{""});
}

TEST(Safetensors, MissingOrMisshapenLayerKeys) {
    Random rnd(4);
    const RandomLayer spec = random_layer({3, 5, 2, 1, "db1", true}, rnd);
    const std::string p = "blocks.0.conv_dw.";
    struct Case {
        const char *name;
        std::function<void(TensorMap &)> damage;
        std::vector<std::string> parts;
    };
    const std::vector<Case> cases = {
        {"missing_scale", [&](TensorMap &t) { t.erase(p + "base_scale.weight"); },
         {"missing tensor 'blocks.0.conv_dw.base_scale.weight'"}},
        {"misshapen_band_conv", [&](TensorMap &t) { t[p + "wavelet_convs.1.weight"] = {{12, 1, 5, 4}, std::vector<float>(240)}; },
         {"'blocks.0.conv_dw.wavelet_convs.1.weight'", "[12, 1, 5, 4]", "expected [12, 1, 5, 5]"}},
        {"misshapen_base", [&](TensorMap &t) { t[p + "base_conv.weight"] = {{3, 5, 5}, std::vector<float>(75)}; },
         {"'blocks.0.conv_dw.base_conv.weight'", "[3, 5, 5]"}},
        {"lone_filter", [&](TensorMap &t) { t.erase(p + "iwt_filter"); }, {"wt_filter", "iwt_filter"}},
        {"scale_without_conv", [&](TensorMap &t) { t[p + "wavelet_scale.2.weight"] = {{1, 12, 1, 1}, std::vector<float>(12)}; },
         {"'blocks.0.conv_dw.wavelet_scale.2.weight'", "no matching"}},
        {"misshapen_filter", [&](TensorMap &t) { t[p + "wt_filter"] = {{12, 1, 3, 3}, std::vector<float>(108)}; },
         {"'blocks.0.conv_dw.wt_filter'", "F even"}},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.name);
        TensorMap t = layer_tensors(spec, p);
        c.damage(t);
        const std::string path = (scratch() / (std::string(c.name) + ".safetensors")).string();
        write_safetensors(path, t);
        std::vector<std::string> parts = c.parts;
        parts.push_back(path);
        expect_error([&] { Layer::from_safetensors(path, p); }, parts);
    }
    // The wrong prefix: the error lists the file's layers.
    const std::string path = (scratch() / "prefixed.safetensors").string();
    write_safetensors(path, layer_tensors(spec, p));
    expect_error([&] { Layer::from_safetensors(path, "blocks.1.conv_dw."); },
                 {path, "no tensor 'blocks.1.conv_dw.base_conv.weight'", "'blocks.0.conv_dw.'"});
    expect_error([&] { Layer::from_safetensors(path); }, {path, "no tensor 'base_conv.weight'"});
    // Without filters, a wavelet name is needed.
    write_safetensors(path, layer_tensors(spec, p, false));
    expect_error([&] { Layer::from_safetensors(path, p); }, {path, "wavelet"});
    EXPECT_EQ(Layer::from_safetensors(path, p, 1, "db1").is_haar(), true);
}

}  // namespace
}  // namespace wtconv::testing
