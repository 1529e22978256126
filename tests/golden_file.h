// Reader for the golden reference files in tests/golden/ (*.wtgold), made by
// tools/make_golden.py with the paper's PyTorch module. Format (little-endian):
//
//   8 bytes   magic "WTGOLD1\n"
//   uint32    tensor count
//   per tensor:
//     uint32  name length, then the name (UTF-8, no NUL)
//     uint32  ndim, then ndim x int64 dims
//     prod(dims) x float32 values (row-major, contiguous)
//
// Everything read is validated against the file size; any problem throws
// std::runtime_error naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace wtconv::testing {

struct GoldenTensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
};

// The name of the zero-element tensor that carries the state-dict key prefix.
inline constexpr const char *kGoldenPrefixTag = "meta.prefix:";

namespace golden_detail {

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "float must be IEEE-754 binary32");

inline bool host_is_little_endian() {
    const uint32_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

class Reader {
public:
    Reader(const std::string &path, std::vector<unsigned char> bytes) : path_(path), bytes_(std::move(bytes)) {}

    [[noreturn]] void fail(const std::string &what) const {
        throw std::runtime_error("golden file '" + path_ + "': " + what + " (at byte " + std::to_string(pos_) +
                                 " of " + std::to_string(bytes_.size()) + ")");
    }

    size_t remaining() const { return bytes_.size() - pos_; }

    void need(uint64_t n, const std::string &what) const {
        if (n > remaining()) {
            fail("truncated: " + what + " needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                 " left");
        }
    }

    uint32_t u32(const std::string &what) {
        need(4, what);
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) v |= uint32_t(bytes_[pos_ + i]) << (8 * i);
        pos_ += 4;
        return v;
    }

    int64_t i64(const std::string &what) {
        need(8, what);
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= uint64_t(bytes_[pos_ + i]) << (8 * i);
        pos_ += 8;
        int64_t s;
        std::memcpy(&s, &v, 8);
        return s;
    }

    std::string str(uint64_t n, const std::string &what) {
        need(n, what);
        std::string s(reinterpret_cast<const char *>(bytes_.data() + pos_), size_t(n));
        pos_ += size_t(n);
        return s;
    }

    void floats(std::vector<float> &out, uint64_t count, const std::string &what) {
        if (count > remaining() / 4) {
            fail("truncated: " + what + " needs " + std::to_string(count) + " float32 values, " +
                 std::to_string(remaining()) + " bytes left");
        }
        out.resize(size_t(count));
        if (count == 0) return;
        if (host_is_little_endian()) {
            std::memcpy(out.data(), bytes_.data() + pos_, size_t(count) * 4);
        } else {
            for (uint64_t i = 0; i < count; i++) {
                uint32_t v = 0;
                for (int b = 0; b < 4; b++) v |= uint32_t(bytes_[pos_ + 4 * i + b]) << (8 * b);
                std::memcpy(&out[size_t(i)], &v, 4);
            }
        }
        pos_ += size_t(count) * 4;
    }

    bool at_end() const { return pos_ == bytes_.size(); }

private:
    std::string path_;
    std::vector<unsigned char> bytes_;
    size_t pos_ = 0;
};

}  // namespace golden_detail

// Reads a whole golden file: tensor name -> tensor.
inline std::map<std::string, GoldenTensor> read_golden(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("golden file '" + path + "': cannot open");
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("golden file '" + path + "': read error");

    golden_detail::Reader r(path, std::move(bytes));
    static const char kMagic[8] = {'W', 'T', 'G', 'O', 'L', 'D', '1', '\n'};
    if (r.str(8, "magic") != std::string(kMagic, 8)) r.fail("bad magic: not a WTGOLD1 file");

    const uint32_t count = r.u32("tensor count");
    // Each tensor takes at least 8 bytes (name length and ndim).
    if (uint64_t(count) > r.remaining() / 8) {
        r.fail("tensor count " + std::to_string(count) + " cannot fit in the file");
    }

    std::map<std::string, GoldenTensor> tensors;
    for (uint32_t t = 0; t < count; t++) {
        const std::string which = "tensor " + std::to_string(t);
        const uint32_t name_len = r.u32(which + " name length");
        std::string name = r.str(name_len, which + " name");
        if (name.find('\0') != std::string::npos) r.fail(which + " name contains a NUL byte");
        const std::string label = which + " '" + name + "'";

        const uint32_t ndim = r.u32(label + " ndim");
        if (uint64_t(ndim) > r.remaining() / 8) {
            r.fail(label + " ndim " + std::to_string(ndim) + " cannot fit in the file");
        }
        GoldenTensor g;
        g.shape.reserve(ndim);
        uint64_t elements = 1;
        bool has_zero = false;
        for (uint32_t d = 0; d < ndim; d++) {
            const int64_t dim = r.i64(label + " dim " + std::to_string(d));
            if (dim < 0) r.fail(label + " has negative dim " + std::to_string(dim));
            g.shape.push_back(dim);
            if (dim == 0) has_zero = true;
        }
        if (has_zero) {
            elements = 0;
        } else {
            for (int64_t dim : g.shape) {
                // Every element is 4 bytes, so a count beyond remaining()/4 is
                // already an error; checking before multiplying avoids overflow.
                if (uint64_t(dim) > (r.remaining() / 4) / elements) {
                    r.fail("truncated: " + label + " has more elements than the file holds");
                }
                elements *= uint64_t(dim);
            }
        }
        r.floats(g.data, elements, label + " data");
        if (!tensors.emplace(name, std::move(g)).second) r.fail("duplicate tensor name '" + name + "'");
    }
    if (!r.at_end()) r.fail(std::to_string(r.remaining()) + " trailing bytes after the last tensor");
    return tensors;
}

// The state-dict key prefix a golden file stores in the name of its
// zero-element "meta.prefix:<prefix>" tensor ("" for none).
inline std::string golden_prefix(const std::map<std::string, GoldenTensor> &tensors) {
    const std::string tag = kGoldenPrefixTag;
    std::string found;
    int matches = 0;
    for (auto it = tensors.lower_bound(tag); it != tensors.end() && it->first.compare(0, tag.size(), tag) == 0;
         ++it) {
        found = it->first.substr(tag.size());
        matches++;
    }
    if (matches != 1) {
        throw std::runtime_error("golden tensors: expected exactly one '" + tag + "<prefix>' tensor, found " +
                                 std::to_string(matches));
    }
    return found;
}

}  // namespace wtconv::testing
