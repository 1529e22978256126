// safetensors files: PyTorch tensors in and out of wtconv.
//
//   // Python: safetensors.torch.save_file(model.state_dict(), "model.safetensors")
//   for (const std::string &prefix : wtconv::list_layers("model.safetensors")) ...
//   auto layer = wtconv::Layer::from_safetensors("model.safetensors", "stages.2.blocks.4.conv_dw.");
//   wtconv::TensorMap x = wtconv::read_safetensors("input.safetensors");
//   wtconv::write_safetensors("output.safetensors", {{"output", y}});
//
// Every file is validated in full before any of its bytes is used: the
// header length (within the file, at most 100 MB), the JSON (well formed, no
// duplicate names), every dtype, shape and byte range (shape x dtype size
// equals the range, ranges inside the data and not overlapping). Every
// problem is a wtconv::Error naming the file, the tensor and the problem.
#pragma once

#include "wtconv/wtconv.h"

namespace wtconv {

// A float32 tensor that owns its values (row-major, contiguous).
struct FloatTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;

    TensorView view() const { return {values.data(), shape}; }
};

// Tensor name -> tensor, as in a PyTorch state dict.
using TensorMap = std::map<std::string, FloatTensor>;

// What a file's header says about one tensor.
struct TensorInfo {
    std::string name;
    std::string dtype;  // as in the file: "F32", "F16", "BF16", "F64", "I64", ...
    std::vector<int64_t> shape;
};

// Every tensor of the file, from its (validated) header, in name order.
WTCONV_API std::vector<TensorInfo> safetensors_index(const std::string &path);

// The tensors whose names start with `prefix` (all by default) as float32:
// F32 as stored, F16, BF16 and F64 converted (an F64 value beyond float32's
// range is an error); any other dtype among them is an error.
WTCONV_API TensorMap read_safetensors(const std::string &path, const std::string &prefix = "");

// Writes `tensors` as F32, with optional string metadata. Nothing appears at
// `path` unless the whole file was written (a temporary file is renamed).
WTCONV_API void write_safetensors(const std::string &path, const TensorMap &tensors,
                                  const std::map<std::string, std::string> &metadata = {});

// Views of the tensors (valid while `tensors` lives), for Layer::from_state_dict.
WTCONV_API StateDict state_dict(const TensorMap &tensors);

// The prefixes of the WTConv layers in a file: those that carry a complete
// set of WTConv keys (base_conv.weight, base_scale.weight, matching
// wavelet_convs.{i} / wavelet_scale.{i}, both filters or neither), in
// natural order ("blocks.2." before "blocks.10."). "" for a bare layer.
WTCONV_API std::vector<std::string> list_layers(const std::string &path);

}  // namespace wtconv
