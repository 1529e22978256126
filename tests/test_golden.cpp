// The layer against golden files made by the paper's own PyTorch module
// (tools/make_golden.py, tests/golden/README.md): for every *.wtgold file,
// build the layer from the stored state_dict and check its forward on the
// stored input against the module's float32 output, on every path the layer
// supports. Also checks that the file reader rejects damaged files.
#include "golden_file.h"
#include "pipelines.h"     // runtime/: the compiled fused variants
#include "shape_string.h"  // runtime/

#include "wtconv/wtconv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifndef WTCONV_GOLDEN_DIR
#error "WTCONV_GOLDEN_DIR must name the tests/golden folder"
#endif

namespace wtconv::testing {
namespace {

namespace fs = std::filesystem;
using detail::shape_string;

std::vector<std::string> golden_files() {
    std::vector<std::string> files;
    std::error_code ec;
    const fs::path dir(WTCONV_GOLDEN_DIR);
    if (!fs::is_directory(dir, ec)) return files;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec) && entry.path().extension() == ".wtgold") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// A meta.* scalar stored as a one-element float tensor.
int meta_int(const std::map<std::string, GoldenTensor> &g, const std::string &name) {
    auto it = g.find(name);
    if (it == g.end()) throw std::runtime_error("golden file lacks '" + name + "'");
    if (it->second.data.size() != 1) throw std::runtime_error("'" + name + "' is not a single value");
    const float v = it->second.data[0];
    if (!(v >= 0 && v <= 1e6f) || v != std::floor(v)) {
        throw std::runtime_error("'" + name + "' = " + std::to_string(v) + " is not a count");
    }
    return int(v);
}

// The optional "meta.wavelet:<name>" tag ("" when absent).
std::string golden_wavelet(const std::map<std::string, GoldenTensor> &g) {
    const std::string tag = "meta.wavelet:";
    auto it = g.lower_bound(tag);
    if (it != g.end() && it->first.compare(0, tag.size(), tag) == 0) return it->first.substr(tag.size());
    return "";
}

bool starts_with(const std::string &s, const std::string &p) { return s.compare(0, p.size(), p) == 0; }

// |ours - ref| <= 1e-5 * (1 + max|ref|) for every element: float32 rounding.
::testing::AssertionResult matches_golden(const std::vector<float> &ours, const GoldenTensor &ref) {
    if (ours.size() != ref.data.size()) {
        return ::testing::AssertionFailure() << "size " << ours.size() << " vs reference " << ref.data.size();
    }
    double max_ref = 0;
    for (float v : ref.data) max_ref = std::max(max_ref, double(std::fabs(v)));
    const double tol = 1e-5 * (1.0 + max_ref);
    size_t worst = 0;
    double worst_err = -1;
    size_t bad = 0;
    for (size_t i = 0; i < ours.size(); i++) {
        double err = std::fabs(double(ours[i]) - double(ref.data[i]));
        if (std::isnan(err)) err = std::numeric_limits<double>::infinity();
        if (err > tol) bad++;
        if (err > worst_err) {
            worst_err = err;
            worst = i;
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();

    // Index of the worst element in the reference's shape.
    std::vector<int64_t> index(ref.shape.size());
    size_t rest = worst;
    for (size_t d = ref.shape.size(); d-- > 0;) {
        const auto extent = size_t(std::max<int64_t>(ref.shape[d], 1));
        index[d] = int64_t(rest % extent);
        rest /= extent;
    }
    return ::testing::AssertionFailure() << bad << " of " << ours.size() << " elements off; worst at "
                                         << shape_string(index) << " (flat " << worst << "): got " << ours[worst]
                                         << ", reference " << ref.data[worst] << ", |diff| " << worst_err
                                         << " > tolerance " << tol << " (max|ref| " << max_ref << ")";
}

TEST(GoldenFiles, FolderHasFiles) {
    EXPECT_FALSE(golden_files().empty()) << "no *.wtgold files in " << WTCONV_GOLDEN_DIR
                                         << " (make them with /usr/bin/python3 tools/make_golden.py)";
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesReferenceModule) {
    const std::string file = GetParam();
    SCOPED_TRACE(file);

    std::map<std::string, GoldenTensor> g;
    ASSERT_NO_THROW(g = read_golden(file));
    std::string prefix;
    ASSERT_NO_THROW(prefix = golden_prefix(g));
    int stride = 0, levels = 0, kernel_size = 0;
    ASSERT_NO_THROW(stride = meta_int(g, "meta.stride"));
    ASSERT_NO_THROW(levels = meta_int(g, "meta.levels"));
    ASSERT_NO_THROW(kernel_size = meta_int(g, "meta.kernel_size"));
    ASSERT_TRUE(g.count("input") && g.count("output")) << "no input or output tensor";
    const GoldenTensor &x = g.at("input");
    const GoldenTensor &ref = g.at("output");
    ASSERT_EQ(x.shape.size(), 4u) << "input shape " << shape_string(x.shape);
    ASSERT_EQ(ref.shape.size(), 4u) << "output shape " << shape_string(ref.shape);

    StateDict sd;
    for (const auto &[name, t] : g) {
        if (starts_with(name, "input") || starts_with(name, "output") || starts_with(name, "meta.")) continue;
        sd[name] = TensorView{t.data.data(), t.shape};
    }

    std::optional<Layer> layer;
    try {
        layer.emplace(Layer::from_state_dict(sd, prefix, stride));
    } catch (const std::exception &e) {
        FAIL() << "from_state_dict(prefix '" << prefix << "', stride " << stride << ") threw: " << e.what();
    }
    EXPECT_EQ(layer->levels(), levels);
    EXPECT_EQ(layer->kernel_size(), kernel_size);
    EXPECT_EQ(layer->stride(), stride);
    EXPECT_EQ(int64_t(layer->channels()), x.shape[1]);
    const std::string wavelet = golden_wavelet(g);
    if (!wavelet.empty()) {
        EXPECT_EQ(layer->is_haar(), wavelet == "db1" || wavelet == "haar") << "wavelet " << wavelet;
    }

    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const auto out = layer->output_shape({N, C, H, W});
    ASSERT_EQ(std::vector<int64_t>(out.begin(), out.end()), ref.shape)
        << "output_shape for input " << shape_string(x.shape);

    std::vector<Path> paths = {Path::automatic, Path::staged};
    // The fused paths this build compiled for the level count (all of 1..8
    // and 1..5 in the default build; narrowed builds compile fewer).
    if (detail::has_fused_variant(false, layer->levels())) paths.push_back(Path::fused_general);
    if (layer->is_haar() && detail::has_fused_variant(true, layer->levels())) paths.push_back(Path::fused_haar);

    for (Path path : paths) {
        SCOPED_TRACE(std::string("path ") + to_string(path));
        std::vector<float> y(ref.data.size(), std::numeric_limits<float>::quiet_NaN());
        try {
            layer->forward(ConstTensor::nchw(x.data.data(), N, C, H, W),
                           Tensor::nchw(y.data(), out[0], out[1], out[2], out[3]), path);
        } catch (const std::exception &e) {
            ADD_FAILURE() << "forward threw: " << e.what();
            continue;
        }
        EXPECT_TRUE(matches_golden(y, ref));
    }
}

// gtest parameter names: letters, digits and underscores only.
std::string test_name(const ::testing::TestParamInfo<std::string> &info) {
    std::string name = fs::path(info.param).stem().string();
    for (char &ch : name) {
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(Files, Golden, ::testing::ValuesIn(golden_files()), test_name);
// An empty folder fails GoldenFiles.FolderHasFiles instead.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Golden);

// ---- the reader rejects damaged files ----------------------------------

class GoldenReader : public ::testing::Test {
protected:
    std::string path_ = (fs::temp_directory_path() / ("wtconv_golden_reader_" +
                                                      std::to_string(reinterpret_cast<uintptr_t>(this)) + ".wtgold"))
                            .string();
    void TearDown() override {
        std::error_code ec;
        fs::remove(path_, ec);
    }
    void write(const std::string &bytes) {
        std::ofstream f(path_, std::ios::binary | std::ios::trunc);
        f.write(bytes.data(), std::streamsize(bytes.size()));
    }
    static std::string u32(uint32_t v) {
        std::string s(4, '\0');
        for (int i = 0; i < 4; i++) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
        return s;
    }
    static std::string i64(int64_t v) {
        std::string s(8, '\0');
        const auto u = uint64_t(v);
        for (int i = 0; i < 8; i++) s[size_t(i)] = char((u >> (8 * i)) & 0xff);
        return s;
    }
    static std::string f32(float v) {
        uint32_t u;
        std::memcpy(&u, &v, 4);
        return u32(u);
    }
    static std::string header(uint32_t count) { return std::string("WTGOLD1\n", 8) + u32(count); }
    // One tensor "a" of shape [2] = {1.5, -2}.
    static std::string tensor_a() { return u32(1) + "a" + u32(1) + i64(2) + f32(1.5f) + f32(-2.0f); }

    void expect_rejected(const std::string &bytes, const std::string &part) {
        write(bytes);
        try {
            read_golden(path_);
            ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
        } catch (const std::runtime_error &e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(part), std::string::npos) << msg;
            EXPECT_NE(msg.find(path_), std::string::npos) << msg;
        }
    }
};

TEST_F(GoldenReader, ReadsAWellFormedFile) {
    // "a" [2], an empty [0, 3] and a scalar (ndim 0, one value).
    write(header(3) + tensor_a() + u32(5) + "empty" + u32(2) + i64(0) + i64(3) + u32(6) + "scalar" + u32(0) +
          f32(7.0f));
    auto g = read_golden(path_);
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g.at("a").shape, (std::vector<int64_t>{2}));
    EXPECT_EQ(g.at("a").data, (std::vector<float>{1.5f, -2.0f}));
    EXPECT_EQ(g.at("empty").shape, (std::vector<int64_t>{0, 3}));
    EXPECT_TRUE(g.at("empty").data.empty());
    EXPECT_TRUE(g.at("scalar").shape.empty());
    EXPECT_EQ(g.at("scalar").data, (std::vector<float>{7.0f}));

    write(header(1) + u32(16) + "meta.prefix:abc." + u32(1) + i64(0));
    EXPECT_EQ(golden_prefix(read_golden(path_)), "abc.");
}

TEST_F(GoldenReader, RejectsDamagedFiles) {
    expect_rejected("", "magic");
    expect_rejected("WTGOLD2\n" + u32(1) + tensor_a(), "magic");
    expect_rejected(header(1), "cannot fit");
    expect_rejected(header(0x7fffffff) + tensor_a(), "cannot fit");
    expect_rejected(header(1) + u32(1000) + "abcdefgh", "name");
    expect_rejected(header(1) + u32(1) + "a" + u32(1000000), "ndim");
    expect_rejected(header(1) + u32(1) + "a" + u32(1) + i64(-3), "negative");
    expect_rejected(header(1) + u32(1) + "a" + u32(1) + i64(3) + f32(1) + f32(2), "truncated");
    expect_rejected(header(1) + u32(1) + "a" + u32(2) + i64(int64_t(1) << 40) + i64(int64_t(1) << 40), "truncated");
    expect_rejected(header(1) + tensor_a() + "x", "trailing");
    expect_rejected(header(2) + tensor_a() + tensor_a(), "duplicate");
    expect_rejected(header(1) + u32(2) + std::string("a\0", 2) + u32(0) + f32(1), "NUL");
}

TEST_F(GoldenReader, PrefixTagMustBeUnique) {
    std::map<std::string, GoldenTensor> g;
    EXPECT_THROW(golden_prefix(g), std::runtime_error);
    g["meta.prefix:"] = {};
    EXPECT_EQ(golden_prefix(g), "");
    g["meta.prefix:x."] = {};
    EXPECT_THROW(golden_prefix(g), std::runtime_error);
}

}  // namespace
}  // namespace wtconv::testing
