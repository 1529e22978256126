// wtconv: the WTConv2d forward pass ("Wavelet Convolutions for Large
// Receptive Fields", ECCV 2024) on the CPU and on CUDA GPUs (NCHW), compiled
// ahead of time with Halide.
// User code needs only this header and libwtconv.
//
//   wtconv::StateDict sd = ...;                 // views of the PyTorch tensors
//   auto layer = wtconv::Layer::from_state_dict(sd, "stages.0.blocks.1.conv_dw.");
//   layer.forward(wtconv::ConstTensor::nchw(x, N, C, H, W),
//                 wtconv::Tensor::nchw(y, N, C, Ho, Wo));
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

// Symbols of the shared library's API (everything else in it is hidden).
#define WTCONV_API __attribute__((visibility("default")))

namespace wtconv {

// Every error the library reports. The message names the tensor or argument
// at fault and the shapes involved.
class WTCONV_API Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A read-only view of one named float32 tensor of a state dict (row-major,
// contiguous), e.g. a PyTorch tensor's data_ptr() and its shape.
struct TensorView {
    const float *data = nullptr;
    std::vector<int64_t> shape;
};

// PyTorch state_dict keys (with any prefix) -> tensors. Not owned: the
// layer copies what it needs at construction.
using StateDict = std::map<std::string, TensorView>;

// Channels per block of the channel-blocked layout (oneDNN's nChw16c).
constexpr int64_t kChannelBlock = 16;

// A 4-D float32 view of an (N, C, H, W) tensor. With channel_block 0,
// element (n, c, h, w) is at
// data[n * strides[0] + c * strides[1] + h * strides[2] + w * strides[3]]
// (strides in elements). Any positive strides: contiguous NCHW, a crop of a
// larger tensor, a channel slice, ...
// With channel_block == kChannelBlock the channels are blocked (oneDNN's
// nChw16c, the layout its fastest depthwise convs use): element
// (n, c, h, w) is at data[n * strides[0] + (c / 16) * strides[1] +
// h * strides[2] + w * strides[3] + c % 16], the 16 channels of a block
// contiguous, strides[1] the stride between blocks. The last block is
// padded to 16 channels: forward() reads x's pad lanes (keep them finite;
// oneDNN keeps them zero) and writes y's (zeros, for finite x).
template<typename T>
struct BasicTensor {
    T *data = nullptr;
    std::array<int64_t, 4> shape{};    // N, C, H, W
    std::array<int64_t, 4> strides{};  // in elements
    int64_t channel_block = 0;         // 0 or kChannelBlock

    // A contiguous NCHW tensor.
    static BasicTensor nchw(T *data, int64_t n, int64_t c, int64_t h, int64_t w) {
        return {data, {n, c, h, w}, {c * h * w, h * w, w, 1}};
    }
    // A contiguous channels-last tensor (NHWC in memory, PyTorch's
    // memory_format=torch.channels_last); shape is still N, C, H, W.
    static BasicTensor nhwc(T *data, int64_t n, int64_t c, int64_t h, int64_t w) {
        return {data, {n, c, h, w}, {h * w * c, 1, w * c, c}};
    }
    // A contiguous channel-blocked tensor (nChw16c): N x ceil(C / 16) x H x
    // W x 16 floats in memory; shape is still N, C, H, W.
    static BasicTensor nchw16c(T *data, int64_t n, int64_t c, int64_t h, int64_t w) {
        const int64_t blocks = (c + kChannelBlock - 1) / kChannelBlock;
        return {data, {n, c, h, w}, {blocks * h * w * kChannelBlock, h * w * kChannelBlock, w * kChannelBlock, kChannelBlock},
                kChannelBlock};
    }
    // The number of channel blocks (channel-blocked tensors).
    int64_t channel_blocks() const { return (shape[1] + kChannelBlock - 1) / kChannelBlock; }
    // This view as a read-only one.
    template<typename U = T, typename = std::enable_if_t<!std::is_const_v<U>>>
    operator BasicTensor<const U>() const {
        return {data, shape, strides, channel_block};
    }
};

using ConstTensor = BasicTensor<const float>;
using Tensor = BasicTensor<float>;

// What a layer is, for building one from scratch.
struct Config {
    int channels = 0;
    int kernel_size = 5;
    int levels = 1;
    std::string wavelet = "db1";  // any PyWavelets discrete wavelet name
    int stride = 1;
    bool bias = true;
};

// Which compiled pipeline runs a forward.
enum class Path {
    automatic,      // the fastest one that covers the layer
    fused_haar,     // one fused pipeline, Haar taps as constants (levels 1..5)
    fused_general,  // one fused pipeline, any filters (levels 1..8)
    staged,         // every stage through memory, any level count
};
WTCONV_API const char *to_string(Path path);

// Memory layout a pipeline runs. forward() picks the one that matches the
// input (vectors along width for NCHW, along channels for channels-last and
// channel-blocked); the output may be in any (or any strided view).
// Channel-blocked tensors run the channels-last pipelines, one block of 16
// channels per task, which then read and write contiguous planes: 1.1-1.6x
// faster than channels-last on 28 x 28 to 512 x 512 planes
// (docs/PERFORMANCE.md, step 28).
enum class Layout { nchw, channels_last, nchw16c };
WTCONV_API const char *to_string(Layout layout);

struct Variant {
    Path path;
    Layout layout;
    int levels;
    std::string isa;  // the CPU variant the dispatcher picks here: avx512, avx2 or sse41; "cuda_sm80" on CUDA
};

// Where a CUDA forward runs. Both handles are the caller's and stay theirs
// (never destroyed by the library).
struct CudaExecution {
    void *context = nullptr;  // CUcontext; null: the primary context of `device` (retained by the library)
    void *stream = nullptr;   // CUstream (a cudaStream_t is one); null: the legacy default stream
    int device = 0;           // CUDA device ordinal, used only when context is null
};

// Whether CUDA forwards can run here: libcuda.so.1 loads, the driver
// initialises and a device exists. If not and `why` is given, *why says
// what is missing. Never throws.
WTCONV_API bool cuda_available(std::string *why = nullptr);

class WTCONV_API Layer {
public:
    // From PyTorch-named tensors (SPEC.md): base_conv.weight [C,1,k,k],
    // base_conv.bias [C] (optional), base_scale.weight [1,C,1,1],
    // wavelet_convs.{i}.weight [4C,1,k,k], wavelet_scale.{i}.weight
    // [1,4C,1,1], wt_filter / iwt_filter [4C,1,F,F], each key prefixed with
    // `prefix`. Kernel size, levels and bias come from the tensors. Without
    // the filter tensors, `wavelet` names the PyWavelets wavelet to use.
    static Layer from_state_dict(const StateDict &tensors, const std::string &prefix = "",
                                 int stride = 1,
                                 const std::optional<std::string> &wavelet = std::nullopt);

    // From a config and the learned tensors (the same names, without the
    // filters: those come from config.wavelet). Shapes must match the config.
    static Layer from_config(const Config &config, const StateDict &tensors,
                             const std::string &prefix = "");

    // From a .safetensors file holding a PyTorch state dict (a layer or a
    // whole checkpoint): the tensors `prefix` + the names above, as
    // from_state_dict takes them (F16, BF16 and F64 converted to float32).
    // list_layers (wtconv/safetensors.h) lists a checkpoint's prefixes.
    static Layer from_safetensors(const std::string &path, const std::string &prefix = "", int stride = 1,
                                  const std::optional<std::string> &wavelet = std::nullopt);

    // The names of the wavelets the library knows (PyWavelets' discrete ones).
    static std::vector<std::string> wavelets();

    Layer(Layer &&) noexcept;
    Layer &operator=(Layer &&) noexcept;
    ~Layer();

    int channels() const;
    int kernel_size() const;
    int levels() const;
    int stride() const;
    int filter_size() const;  // F of the analysis filters
    bool has_bias() const;
    bool is_haar() const;     // filters are exactly the reference's db1 / haar ones

    // Output shape for an input of shape {N, C, H, W}.
    std::array<int64_t, 4> output_shape(const std::array<int64_t, 4> &input_shape) const;

    // y = layer(x). x: [N, C, H, W]; y: [N, C, (H-1)/s+1, (W-1)/s+1]; x and
    // y must not overlap. Safe to call from several threads at once (while
    // one call's parallel loop has the library's worker threads, a loop of
    // a concurrent call runs on its calling thread alone; docs/DESIGN.md,
    // "Runtime").
    void forward(const ConstTensor &x, const Tensor &y, Path path = Path::automatic) const;

    // The pipeline and CPU variant that forward(.., path) runs for an input
    // in `layout`. (The staged path always runs NCHW, and so do layers of
    // fewer than 16 channels in channels-last tensors: the tensor is then
    // repacked. Channel-blocked tensors run any channel count.)
    Variant variant(Path path = Path::automatic, Layout layout = Layout::nchw) const;

    // The pipeline and CPU variant that forward(x, y, path) runs for these
    // tensors: variant(path, layout_for(x, y)), except that small NCHW planes
    // (dense planes, at least 16 channels and pixels, at most a build-set
    // pixel count, 56 x 56 by default) run the channels-last pipeline, with the
    // tensors repacked on the way in and out (layout channels_last then), and
    // large channels-last planes (more than 24 576 pixels, Haar, a multiple of
    // 16 channels, more than 16, unit channel stride in x and y) run the
    // channel-blocked pipeline, copied block by block (layout nchw16c then).
    // Throws wtconv::Error, naming the tensor, for tensors forward refuses.
    Variant variant_for(const ConstTensor &x, const Tensor &y, Path path = Path::automatic) const;

    // y = layer(x) on a CUDA device, NCHW only. x and y are DEVICE pointers
    // (float32, any positive strides with width stride 1, e.g. views at an
    // offset inside larger allocations) in `exec`'s context; nothing is
    // copied between host and device. Kernels are queued on exec.stream in
    // order with the caller's work; the call returns without synchronising
    // (y is ready when the stream reaches that point). Weights are uploaded
    // at the first forward in each context and freed with the layer.
    // Throws wtconv::Error without a usable CUDA device (see cuda_available),
    // for unsupported views, and for paths with no CUDA variant (staged).
    void forward_cuda(const ConstTensor &x, const Tensor &y, const CudaExecution &exec = {},
                      Path path = Path::automatic) const;

    // The CUDA pipeline forward_cuda(.., path) runs: layout nchw, isa "cuda_sm80".
    Variant variant_cuda(Path path = Path::automatic) const;

    // The layout forward() runs for this input and output.
    static Layout layout_for(const ConstTensor &x, const Tensor &y);

private:
    struct Impl;
    explicit Layer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace wtconv
