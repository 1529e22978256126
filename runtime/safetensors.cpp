#include "safetensors.h"

#include "shape_string.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace wtconv {
namespace detail {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string &file, const std::string &problem) { throw Error(file + ": " + problem); }

[[noreturn]] void fail_tensor(const std::string &file, const std::string &tensor, const std::string &problem) {
    throw Error(file + ": tensor '" + tensor + "': " + problem);
}

// Every dtype of the format, with its element size. Only the floating ones
// convert to float32; the others are validated (sizes) and listed.
size_t dtype_size(const std::string &dtype) {
    static const std::map<std::string, size_t> sizes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
        {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8},
    };
    auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

// Parses with nlohmann-json, rejecting duplicate keys (the library would
// silently keep the last) and nesting deeper than a header has (top object >
// tensor object > shape array).
json parse_json(const char *header, uint64_t length, const std::string &file) {
    std::vector<std::set<std::string>> keys;  // one set per open object
    auto check = [&](int depth, json::parse_event_t event, json &parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            if (depth >= 3) fail(file, "header nests JSON deeper than a safetensors header can");
            if (event == json::parse_event_t::object_start) keys.emplace_back();
            break;
        case json::parse_event_t::object_end: keys.pop_back(); break;
        case json::parse_event_t::key: {
            const std::string &key = parsed.get_ref<const std::string &>();
            if (!keys.back().insert(key).second) {
                fail(file, (depth == 1 ? "duplicate tensor name '" : "duplicate key '") + key + "' in the header");
            }
            break;
        }
        default: break;
        }
        return true;
    };
    try {
        return json::parse(header, header + length, check);
    } catch (const json::exception &e) {
        std::string what = e.what();
        const size_t bracket = what.find("] ");
        if (what.rfind("[json.exception", 0) == 0 && bracket != std::string::npos) what = what.substr(bracket + 2);
        fail(file, "header is not valid JSON (" + what + ")");
    }
}

uint64_t json_uint(const json &v, const std::string &file, const std::string &tensor, const char *what) {
    if (!v.is_number_unsigned()) {
        fail_tensor(file, tensor, std::string(what) + " must be non-negative integers, got " + v.dump());
    }
    return v.get<uint64_t>();
}

TensorEntry parse_entry(const std::string &name, const json &v, uint64_t data_size, const std::string &file) {
    if (!v.is_object()) fail_tensor(file, name, "header entry must be an object, got " + v.dump());
    for (const char *key : {"dtype", "shape", "data_offsets"}) {
        if (!v.contains(key)) fail_tensor(file, name, std::string("header entry has no '") + key + "'");
    }
    TensorEntry e;
    e.info.name = name;
    const json &dtype = v["dtype"], &shape = v["shape"], &offsets = v["data_offsets"];
    if (!dtype.is_string()) fail_tensor(file, name, "dtype must be a string, got " + dtype.dump());
    e.info.dtype = dtype.get<std::string>();
    e.dtype_size = dtype_size(e.info.dtype);
    if (e.dtype_size == 0) fail_tensor(file, name, "unknown dtype '" + e.info.dtype + "'");

    if (!shape.is_array()) fail_tensor(file, name, "shape must be an array, got " + shape.dump());
    uint64_t elements = 1;
    bool overflow = false;
    for (const json &d : shape) {
        const uint64_t size = json_uint(d, file, name, "shape sizes");
        if (size > uint64_t(INT64_MAX)) fail_tensor(file, name, "shape size " + d.dump() + " is too large");
        e.info.shape.push_back(int64_t(size));
        overflow = overflow || __builtin_mul_overflow(elements, size, &elements);
    }
    if (!offsets.is_array() || offsets.size() != 2) {
        fail_tensor(file, name, "data_offsets must be [begin, end], got " + offsets.dump());
    }
    e.begin = json_uint(offsets[0], file, name, "data_offsets");
    e.end = json_uint(offsets[1], file, name, "data_offsets");
    if (e.begin > e.end) {
        fail_tensor(file, name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                    "] end before they begin");
    }
    if (e.end > data_size) {
        fail_tensor(file, name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                    "] reach past the data, which holds " + std::to_string(data_size) + " bytes");
    }
    uint64_t bytes = 0;
    overflow = overflow || __builtin_mul_overflow(elements, uint64_t(e.dtype_size), &bytes);
    if (overflow || bytes != e.end - e.begin) {
        fail_tensor(file, name,
                    "shape " + shape_string(e.info.shape) + " of " + e.info.dtype + " needs " +
                        (overflow ? std::string("more than 2^64") : std::to_string(bytes)) +
                        " bytes but data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                        "] hold " + std::to_string(e.end - e.begin));
    }
    return e;
}

float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
        const float magnitude = std::ldexp(float(mantissa), -24);
        return sign ? -magnitude : magnitude;
    } else if (exponent == 31) {  // inf or NaN
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

template<typename T>
T load(const unsigned char *p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

uint64_t file_size_of(std::ifstream &in, const std::string &path) {
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (!in || size < 0) fail(path, "cannot determine the file size");
    in.seekg(0);
    return uint64_t(size);
}

void read_exactly(std::ifstream &in, uint64_t offset, char *to, uint64_t bytes, const std::string &path) {
    in.seekg(std::streamoff(offset));
    in.read(to, std::streamsize(bytes));
    if (!in || uint64_t(in.gcount()) != bytes) {
        fail(path, "could not read " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                       " (file changed or unreadable?)");
    }
}

}  // namespace

uint64_t header_length(const unsigned char *first_bytes, size_t size, uint64_t file_size, const std::string &file) {
    if (size < 8 || file_size < 8) {
        fail(file, "truncated: " + std::to_string(file_size) +
                       " bytes, too short for the 8-byte header length (not a safetensors file?)");
    }
    const uint64_t length = load<uint64_t>(first_bytes);
    if (length > kMaxHeaderBytes) {
        fail(file, "header length " + std::to_string(length) + " is over the " + std::to_string(kMaxHeaderBytes) +
                       "-byte limit (not a safetensors file?)");
    }
    if (length > file_size - 8) {
        fail(file, "header length " + std::to_string(length) + " runs past the end of the file (" +
                       std::to_string(file_size) + " bytes): truncated?");
    }
    return length;
}

SafetensorsIndex parse_header(const char *header, uint64_t length, uint64_t file_size, const std::string &file) {
    SafetensorsIndex index;
    index.data_offset = 8 + length;
    index.data_size = file_size - index.data_offset;
    const json root = parse_json(header, length, file);
    if (!root.is_object()) fail(file, "header must be a JSON object, got " + std::string(root.type_name()));
    for (const auto &[name, value] : root.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) fail(file, "__metadata__ must be an object of strings");
            for (const auto &[key, text] : value.items()) {
                if (!text.is_string()) fail(file, "__metadata__ value '" + key + "' is not a string");
                index.metadata[key] = text.get<std::string>();
            }
            continue;
        }
        index.tensors.push_back(parse_entry(name, value, index.data_size, file));
    }
    // The items come in key order; check that no two byte ranges overlap.
    std::vector<const TensorEntry *> by_offset;
    for (const TensorEntry &e : index.tensors) {
        if (e.end > e.begin) by_offset.push_back(&e);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorEntry *a, const TensorEntry *b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); i++) {
        const TensorEntry &a = *by_offset[i - 1], &b = *by_offset[i];
        if (b.begin < a.end) {
            fail_tensor(file, b.info.name,
                        "data_offsets [" + std::to_string(b.begin) + ", " + std::to_string(b.end) +
                            "] overlap those of tensor '" + a.info.name + "' [" + std::to_string(a.begin) + ", " +
                            std::to_string(a.end) + "]");
        }
    }
    return index;
}

std::vector<float> to_float32(const TensorEntry &entry, const unsigned char *bytes, const std::string &file) {
    const std::string &dtype = entry.info.dtype;
    const size_t count = size_t((entry.end - entry.begin) / entry.dtype_size);
    std::vector<float> out(count);
    if (dtype == "F32") {
        if (count) std::memcpy(out.data(), bytes, count * sizeof(float));
    } else if (dtype == "F16") {
        for (size_t i = 0; i < count; i++) out[i] = half_to_float(load<uint16_t>(bytes + 2 * i));
    } else if (dtype == "BF16") {
        for (size_t i = 0; i < count; i++) {
            const uint32_t bits = uint32_t(load<uint16_t>(bytes + 2 * i)) << 16;
            std::memcpy(&out[i], &bits, sizeof bits);
        }
    } else if (dtype == "F64") {
        for (size_t i = 0; i < count; i++) {
            const double v = load<double>(bytes + 8 * i);
            if (std::isfinite(v) && std::fabs(v) > double(FLT_MAX)) {
                fail_tensor(file, entry.info.name,
                            "F64 value " + std::to_string(v) + " (element " + std::to_string(i) +
                                ") is beyond float32's range");
            }
            out[i] = static_cast<float>(v);
        }
    } else {
        fail_tensor(file, entry.info.name,
                    "dtype " + dtype + " cannot be read as float32 (only F32, F16, BF16 and F64 can)");
    }
    return out;
}

SafetensorsIndex parse_file_image(const unsigned char *data, size_t size, const std::string &file) {
    const uint64_t length = header_length(data, size, size, file);
    return parse_header(reinterpret_cast<const char *>(data) + 8, length, size, file);
}

// Opens `path` into `in` and reads and validates its header.
SafetensorsIndex open_index(const std::string &path, std::ifstream &in) {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) fail(path, "cannot open: is a directory");
    in.open(path, std::ios::binary);
    if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
    const uint64_t file_size = file_size_of(in, path);
    unsigned char first[8] = {};
    if (file_size >= 8) read_exactly(in, 0, reinterpret_cast<char *>(first), 8, path);
    const uint64_t length = header_length(first, file_size >= 8 ? 8 : 0, file_size, path);
    std::string header(size_t(length), '\0');
    read_exactly(in, 8, header.data(), length, path);
    return parse_header(header.data(), length, file_size, path);
}

TensorMap read_tensors(const std::string &path, const std::function<bool(const std::string &)> &wanted) {
    std::ifstream in;
    const SafetensorsIndex index = open_index(path, in);
    TensorMap tensors;
    std::vector<unsigned char> bytes;
    for (const TensorEntry &e : index.tensors) {
        if (!wanted(e.info.name)) continue;
        bytes.resize(size_t(e.end - e.begin));
        read_exactly(in, index.data_offset + e.begin, reinterpret_cast<char *>(bytes.data()), bytes.size(), path);
        tensors[e.info.name] = FloatTensor{e.info.shape, to_float32(e, bytes.data(), path)};
    }
    return tensors;
}

void write_file_atomically(const std::string &path, const std::function<void(std::FILE *)> &write) {
    std::string temp = path + ".tmp.XXXXXX";
    const int fd = mkstemp(temp.data());
    if (fd < 0) fail(path, std::string("cannot create a temporary file next to it: ") + std::strerror(errno));
    const mode_t mask = umask(0);  // mkstemp makes 0600; give the file the usual 0666 & ~umask
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    std::FILE *f = fdopen(fd, "wb");
    if (!f) {
        ::close(fd);
        std::remove(temp.c_str());
        fail(path, std::string("cannot write: ") + std::strerror(errno));
    }
    try {
        write(f);
        if (std::fflush(f) != 0 || std::ferror(f)) fail(path, std::string("cannot write: ") + std::strerror(errno));
    } catch (...) {
        std::fclose(f);
        std::remove(temp.c_str());
        throw;
    }
    if (std::fclose(f) != 0) {
        std::remove(temp.c_str());
        fail(path, std::string("cannot write: ") + std::strerror(errno));
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string error = std::strerror(errno);
        std::remove(temp.c_str());
        fail(path, "cannot write (rename of the temporary file failed): " + error);
    }
}

}  // namespace detail

using detail::fail_tensor;

std::vector<TensorInfo> safetensors_index(const std::string &path) {
    std::ifstream in;
    std::vector<TensorInfo> infos;
    for (const detail::TensorEntry &e : detail::open_index(path, in).tensors) infos.push_back(e.info);
    return infos;
}

TensorMap read_safetensors(const std::string &path, const std::string &prefix) {
    return detail::read_tensors(path, [&](const std::string &name) { return name.rfind(prefix, 0) == 0; });
}

void write_safetensors(const std::string &path, const TensorMap &tensors,
                       const std::map<std::string, std::string> &metadata) {
    nlohmann::json header = nlohmann::json::object();
    uint64_t offset = 0;
    for (const auto &[name, t] : tensors) {
        uint64_t count = 1;
        bool overflow = false;
        for (int64_t d : t.shape) {
            if (d < 0) fail_tensor(path, name, "shape " + detail::shape_string(t.shape) + " has a negative size");
            overflow = overflow || __builtin_mul_overflow(count, uint64_t(d), &count);
        }
        if (overflow || count != t.values.size()) {
            fail_tensor(path, name, "shape " + detail::shape_string(t.shape) + " holds " + std::to_string(count) +
                                        " values but the tensor has " + std::to_string(t.values.size()));
        }
        if (name == "__metadata__") fail_tensor(path, name, "the name __metadata__ is reserved");
        header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * count}}};
        offset += 4 * count;
    }
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception &) {
        detail::fail(path, "a tensor name or metadata string is not valid UTF-8");
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // data 8-byte aligned, as the reference writer does
    detail::write_file_atomically(path, [&](std::FILE *f) {
        const uint64_t length = text.size();
        std::fwrite(&length, sizeof length, 1, f);
        std::fwrite(text.data(), 1, text.size(), f);
        for (const auto &entry : tensors) {
            const std::vector<float> &v = entry.second.values;
            if (!v.empty()) std::fwrite(v.data(), sizeof(float), v.size(), f);
        }
    });
}

StateDict state_dict(const TensorMap &tensors) {
    StateDict sd;
    for (const auto &[name, t] : tensors) sd[name] = t.view();
    return sd;
}

}  // namespace wtconv
