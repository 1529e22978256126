// Each stage of the layer alone, through memory: the staged baseline (what
// the reference module does), the path for level counts beyond the fused
// variants, and the per-stage tests. Same algorithm functions as the fused
// pipeline, general 2-D filters.
#include "Halide.h"

#include "../schedules/cpu_schedules.h"
#include "wtconv_algorithm.h"

namespace wtconv {

// bands(x, y, band, c, n) = DWT of plane(x, y, c, n); the output extent is
// ceil(w / 2) x ceil(h / 2) of the input's.
class DwtStage : public Halide::Generator<DwtStage> {
public:
    Input<Buffer<float, 4>> plane{"plane"};
    Input<Buffer<float, 4>> analysis{"analysis"};
    Output<Buffer<float, 5>> bands{"bands"};

    void generate() {
        Vars v;
        const bool clamp = using_autoscheduler();  // see input_reader
        Func padded = zero_outside(input_reader(plane, clamp, "plane_in"), {plane.dim(0).extent(), plane.dim(1).extent()},
                                   plane_args(v), "plane_padded");
        Func dwt = general_dwt(padded, input_reader(analysis, clamp, "analysis_in"), analysis.dim(0).extent(), v, "dwt");
        bands(band_args(v)) = dwt(band_args(v));
        plane.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        analysis.set_estimates({{0, 2}, {0, 2}, {0, 4}, {0, 96}});
        bands.set_estimates({{0, 28}, {0, 28}, {0, 4}, {0, 96}, {0, 1}});
        if (!using_autoscheduler()) schedule_stage_cpu(bands, {padded, dwt}, v, get_target());
    }
};

// conv(x, y, band, c, n) = conv_same(bands, weight(., ., band, c)), same size.
class BandConvStage : public Halide::Generator<BandConvStage> {
public:
    Input<Buffer<float, 5>> bands{"bands"};
    Input<Buffer<float, 4>> weight{"weight"};
    Output<Buffer<float, 5>> conv{"conv"};

    void generate() {
        Vars v;
        const bool clamp = using_autoscheduler();  // see input_reader
        Func padded = zero_outside(input_reader(bands, clamp, "bands_in"), {bands.dim(0).extent(), bands.dim(1).extent()},
                                   band_args(v), "bands_padded");
        Func c = band_conv(padded, input_reader(weight, clamp, "weight_in"), weight.dim(0).extent(), v, "band_conv");
        conv(band_args(v)) = c(band_args(v));
        bands.set_estimates({{0, 28}, {0, 28}, {0, 4}, {0, 96}, {0, 1}});
        weight.set_estimates({{0, 5}, {0, 5}, {0, 4}, {0, 96}});
        conv.set_estimates({{0, 28}, {0, 28}, {0, 4}, {0, 96}, {0, 1}});
        if (!using_autoscheduler()) schedule_stage_cpu(conv, {padded, c}, v, get_target());
    }
};

// plane(x, y, c, n) = IDWT of the bands, with `below` (the reconstruction of
// the level below, the bands' size) added to band 0 first, cropped to the
// output's extent.
class IdwtStage : public Halide::Generator<IdwtStage> {
public:
    Input<Buffer<float, 5>> bands{"bands"};
    Input<Buffer<float, 4>> below{"below"};
    Input<Buffer<float, 4>> synthesis{"synthesis"};
    Output<Buffer<float, 4>> plane{"plane"};

    void generate() {
        Vars v;
        const bool clamp = using_autoscheduler();  // see input_reader
        Func bands_in = input_reader(bands, clamp, "bands_in"), below_in = input_reader(below, clamp, "below_in");
        Func z("z");
        z(band_args(v)) = bands_in(band_args(v)) +
                          Halide::select(v.b == 0, below_in(v.x, v.y, v.c, v.n), 0.0f);
        Func z_masked = zero_outside(z, {bands.dim(0).extent(), bands.dim(1).extent()},
                                     band_args(v), "z_masked");
        Func idwt = general_idwt(z_masked, input_reader(synthesis, clamp, "synthesis_in"), synthesis.dim(0).extent(), v, "idwt");
        plane(plane_args(v)) = idwt(plane_args(v));
        bands.set_estimates({{0, 28}, {0, 28}, {0, 4}, {0, 96}, {0, 1}});
        below.set_estimates({{0, 28}, {0, 28}, {0, 96}, {0, 1}});
        synthesis.set_estimates({{0, 2}, {0, 2}, {0, 4}, {0, 96}});
        plane.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        if (!using_autoscheduler()) schedule_stage_cpu(plane, {idwt}, v, get_target());
    }
};

// output = base conv of input (scale and bias folded) + detail(x*s, y*s).
class BaseStage : public Halide::Generator<BaseStage> {
public:
    Input<Buffer<float, 4>> input{"input"};
    Input<Buffer<float, 3>> weight{"weight"};
    Input<Buffer<float, 1>> bias{"bias"};
    Input<Buffer<float, 4>> detail{"detail"};
    Input<int> stride{"stride", 1, 1, 1 << 20};
    Output<Buffer<float, 4>> output{"output"};

    void generate() {
        Vars v;
        const bool clamp = using_autoscheduler();  // see input_reader
        Func padded = zero_outside(input_reader(input, clamp, "input_in"), {input.dim(0).extent(), input.dim(1).extent()},
                                   plane_args(v), "input_padded");
        Func base = strided_base_conv(padded, input_reader(weight, clamp, "weight_in"), input_reader(bias, clamp, "bias_in"),
                                      weight.dim(0).extent(), stride, v, "base");
        output(plane_args(v)) =
            base(plane_args(v)) + input_reader(detail, clamp, "detail_in")(v.x * stride, v.y * stride, v.c, v.n);
        input.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        weight.set_estimates({{0, 5}, {0, 5}, {0, 96}});
        bias.set_estimates({{0, 96}});
        detail.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        stride.set_estimate(1);
        output.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        if (!using_autoscheduler()) schedule_stage_cpu(output, {padded, base}, v, get_target());
    }
};

// A plain depthwise k x k conv with 'same' padding: the yardstick the layer's
// cost is compared with.
class DepthwiseConv : public Halide::Generator<DepthwiseConv> {
public:
    Input<Buffer<float, 4>> input{"input"};
    Input<Buffer<float, 3>> weight{"weight"};
    Output<Buffer<float, 4>> output{"output"};

    void generate() {
        Vars v;
        Func padded = zero_outside(input_reader(input, using_autoscheduler(), "input_in"),
                                   {input.dim(0).extent(), input.dim(1).extent()}, plane_args(v), "input_padded");
        Func no_bias("no_bias");
        no_bias(v.c) = 0.0f;
        Func conv = strided_base_conv(padded, input_reader(weight, using_autoscheduler(), "weight_in"), no_bias,
                                      weight.dim(0).extent(), 1, v, "conv");
        output(plane_args(v)) = conv(plane_args(v));
        input.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        weight.set_estimates({{0, 5}, {0, 5}, {0, 96}});
        output.set_estimates({{0, 56}, {0, 56}, {0, 96}, {0, 1}});
        if (!using_autoscheduler()) schedule_stage_cpu(output, {padded, conv}, v, get_target());
    }
};

}  // namespace wtconv

HALIDE_REGISTER_GENERATOR(wtconv::DwtStage, wtconv_dwt)
HALIDE_REGISTER_GENERATOR(wtconv::BandConvStage, wtconv_band_conv)
HALIDE_REGISTER_GENERATOR(wtconv::IdwtStage, wtconv_idwt)
HALIDE_REGISTER_GENERATOR(wtconv::BaseStage, wtconv_base)
HALIDE_REGISTER_GENERATOR(wtconv::DepthwiseConv, wtconv_depthwise)
