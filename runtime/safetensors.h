// The safetensors parser, converters and writer behind wtconv/safetensors.h.
// Needs no Halide: the fuzzer (fuzz/) compiles safetensors.cpp alone.
//
// A file is: 8 bytes, the little-endian header length n; n bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// ..., "__metadata__": {"key": "value"}}); then the data, every range
// relative to its start.
#pragma once

#include "wtconv/safetensors.h"

#include <cstdio>
#include <fstream>
#include <functional>

namespace wtconv::detail {

// The largest header accepted (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorEntry {
    TensorInfo info;
    size_t dtype_size = 0;         // bytes per element
    uint64_t begin = 0, end = 0;  // byte range in the data section
};

struct SafetensorsIndex {
    uint64_t data_offset = 0;  // 8 + header length
    uint64_t data_size = 0;
    std::vector<TensorEntry> tensors;  // name order
    std::map<std::string, std::string> metadata;
};

// The header length from the file's first 8 bytes (`size` of them may be
// fewer), checked against the file size and the limit.
uint64_t header_length(const unsigned char *first_bytes, size_t size, uint64_t file_size, const std::string &file);

// Parses and validates the JSON header (`length` bytes) of a file of
// `file_size` bytes. `file` names the file in errors.
SafetensorsIndex parse_header(const char *header, uint64_t length, uint64_t file_size, const std::string &file);

// One tensor's bytes (entry.end - entry.begin of them) as float32.
std::vector<float> to_float32(const TensorEntry &entry, const unsigned char *bytes, const std::string &file);

// The index of a whole file held in memory (the fuzzer's entry point).
SafetensorsIndex parse_file_image(const unsigned char *data, size_t size, const std::string &file);

// Opens `path` into `in` and reads and validates its header.
SafetensorsIndex open_index(const std::string &path, std::ifstream &in);

// The tensors of a file that `wanted` names, as float32.
TensorMap read_tensors(const std::string &path, const std::function<bool(const std::string &)> &wanted);

// Calls write(f) on a temporary file next to `path`, then renames it to
// `path`; on any error (write throws, or an I/O error) removes it and throws.
void write_file_atomically(const std::string &path, const std::function<void(std::FILE *)> &write);

}  // namespace wtconv::detail
