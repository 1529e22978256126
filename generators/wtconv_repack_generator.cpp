// Layout change between NCHW and channels-last (NHWC) for dense tensors:
// the runtime runs small NCHW planes through the channels-last pipeline
// (vectors along channels), repacking on the way in and out
// (docs/DESIGN.md, "Small NCHW planes").
//
// Both layouts are seen as (pixel, c, n) with pixel = y * W + x: in NCHW the
// pixels of a plane are contiguous, in NHWC the channels of a pixel are, so
// the repack is one transpose of a pixels x channels matrix per image.
#include "Halide.h"

#include "../schedules/cpu_schedules.h"

namespace wtconv {

class Repack : public Halide::Generator<Repack> {
public:
    // true: NCHW in, channels-last out; false: the reverse.
    GeneratorParam<bool> to_channels_last{"to_channels_last", true};

    Input<Buffer<float, 3>> input{"input"};
    Output<Buffer<float, 3>> output{"output"};

    void generate() {
        Var pixel("pixel"), c("c"), n("n");
        Func read("read");
        read(pixel, c, n) = input(pixel, c, n);
        output(pixel, c, n) = read(pixel, c, n);
        // The channels-last side: channels contiguous, pixels C apart.
        Halide::OutputImageParam channels_last = to_channels_last ? Halide::OutputImageParam(output) : Halide::OutputImageParam(input);
        Halide::OutputImageParam nchw = to_channels_last ? Halide::OutputImageParam(input) : Halide::OutputImageParam(output);
        channels_last.dim(0).set_stride(Halide::Expr());
        channels_last.dim(1).set_stride(1);
        nchw.dim(0).set_stride(1);
        input.set_estimates({{0, 49}, {0, 768}, {0, 1}});
        output.set_estimates({{0, 49}, {0, 768}, {0, 1}});
        schedule_repack_cpu(output, read, pixel, c, n, to_channels_last, get_target());
    }
};

}  // namespace wtconv

HALIDE_REGISTER_GENERATOR(wtconv::Repack, wtconv_repack)
