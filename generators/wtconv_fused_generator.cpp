// The whole WTConv2d forward pass (all levels, DWT -> band conv -> IDWT, plus
// the base conv and the stride) as ONE Halide pipeline.
//
// Compile-time parameters: `levels` (the Funcs of each level are distinct) and
// `haar` (the fast path: Haar taps folded to constants; otherwise the 2-D
// filters come from the wt_filter / iwt_filter inputs, any size F). Kernel
// size k, filter size F, stride and all tensor sizes are run-time values.
#include "Halide.h"

#include "../schedules/cpu_schedules.h"
#include "wtconv_algorithm.h"

#include "../include/wtconv/wtconv.h"  // kChannelBlock: the channels of a block in the blocked layout

#include <stdexcept>

#ifdef WTCONV_GPU_SCHEDULES
// Only the CUDA generator binary (generators/CMakeLists.txt) carries the GPU
// schedules, so that editing them rebuilds the CUDA variants alone.
#include "../schedules/gpu_schedules.h"
#endif

namespace wtconv {

using Halide::OutputImageParam;

class FusedForward : public Halide::Generator<FusedForward> {
public:
    GeneratorParam<int> levels{"levels", 1, 1, 16};
    GeneratorParam<bool> haar{"haar", false};
    // Memory layout of input and output: NCHW (width innermost) or
    // channels-last NHWC (channels innermost). Only the buffer strides and
    // the schedule differ; the Funcs are always (x, y, c, n).
    GeneratorParam<bool> channels_last{"channels_last", false};
    // GPU targets only: the one-launch plan with every level in shared memory
    // (planes up to kGpuPlaneMax) or the tiled plan for any plane size
    // (schedules/gpu_schedules.h).
    GeneratorParam<bool> gpu_plane{"gpu_plane", true};
    // The plane width the variant is tuned for: the WTConvNeXt-T stage plane
    // of its level count (generators/CMakeLists.txt, wtconv_typical_plane),
    // or 512 for the large-plane variants.
    // The hand schedules size their pixel tiles for it, and with the stage's
    // channel count it tells the autoschedulers what is typical. Sizes stay
    // run-time values unless `fixed_plane`.
    GeneratorParam<int> typical_plane{"typical_plane", 56, 1, 1 << 12};
    // Haar channels-last CPU variants only: a plane variant, which takes
    // typical_plane x typical_plane input and output planes, k = 5 and
    // stride 1 only. Every size is then a compile-time constant, which folds
    // the bounds of every loop nest, and the convs whose pixel tile covers a
    // whole row skip the taps over zero padding columns too (stencil_taps).
    // The runtime runs the WTConvNeXt-T stage planes through them.
    GeneratorParam<bool> fixed_plane{"fixed_plane", false};
    // Haar channels-last CPU variants only: a large-plane variant, which
    // reads the input in place (no padded copy) and computes level 1 (its
    // bands and band convs) and the base conv a strip of output rows at a
    // time (schedules/cpu_schedules.h, kChannelsLastStripRows); level 2's
    // DWT computes level 1's LL band from the input itself (over the whole
    // plane, or in the strips when level 2 is the last level:
    // channels_last_strip_levels). The runtime runs
    // planes of more than kChannelsLastStripMinPixels pixels with stride 1
    // through them.
    GeneratorParam<bool> large_planes{"large_planes", false};
    // Large-plane variants only: a huge-plane variant, which computes level
    // 2 in the strips too (its bands sliding like level 1's); level 3 then
    // reads level 2's LL band from an array of its own, computed over the
    // whole plane from the input. On planes whose level-2 arrays no longer
    // stay in L3 this spares four passes through memory (2048 x 2048 0.75,
    // 1448 x 1448 0.88; 1280 x 1280 and smaller 1.0-1.06: PERFORMANCE.md,
    // step 39). The runtime runs planes of more than
    // kChannelsLastHugeMinPixels pixels with stride 1 through them.
    GeneratorParam<bool> huge_planes{"huge_planes", false};
    // Haar channels-last CPU variants only: the input and output are dense
    // channel-blocked views (oneDNN's nChw16c, as runtime/pipelines.cpp
    // views it: kChannelBlock channels per pixel, then pixels, rows and
    // blocks back to back). Every stride is then a constant multiple of the
    // plane size, so the loops step through pixels by immediate offsets
    // instead of a run-time stride (2.5-4 % faster; PERFORMANCE.md, step
    // 37). The runtime runs dense blocked tensors through the plane,
    // large-plane and huge-plane variants built so.
    GeneratorParam<bool> channel_blocked{"channel_blocked", false};

    // input(x, y, c, n): NCHW float32.
    Input<Buffer<float, 4>> input{"input"};
    // base_weight(kx, ky, c) and base_bias(c), base_scale folded in.
    Input<Buffer<float, 3>> base_weight{"base_weight"};
    Input<Buffer<float, 1>> base_bias{"base_bias"};
    // band_weight(kx, ky, band, c, level - 1), wavelet_scale folded in.
    Input<Buffer<float, 5>> band_weight{"band_weight"};
    // analysis / synthesis (j, i, band, c): the wt_filter / iwt_filter
    // tensors as they lie in memory. Unused by the Haar fast path.
    Input<Buffer<float, 4>> analysis{"analysis"};
    Input<Buffer<float, 4>> synthesis{"synthesis"};
    Input<int> stride{"stride", 1, 1, 1 << 20};
    Output<Buffer<float, 4>> output{"output"};

    void generate() {
        Vars v;
        const int L = levels;
        if (huge_planes && !large_planes) {
            throw std::runtime_error("wtconv_fused: huge-plane variants are large-plane variants");
        }
        if ((fixed_plane || large_planes || channel_blocked) && !(haar && channels_last && hand_cpu_schedule())) {
            throw std::runtime_error("wtconv_fused: plane, large-plane and channel-blocked variants are Haar "
                                     "channels-last CPU variants");
        }
        Expr k = base_weight.dim(0).extent();
        Expr taps = analysis.dim(0).extent();            // analysis filter size F
        Expr synthesis_taps = synthesis.dim(0).extent();  // may differ from F

        const bool clamp = using_autoscheduler();  // see input_reader
        Func base_w = input_reader(base_weight, clamp, "base_weight_in");
        Func base_b = input_reader(base_bias, clamp, "base_bias_in");
        Func band_w = input_reader(band_weight, clamp, "band_weight_in");
        Func analysis_f = input_reader(analysis, clamp, "analysis_in");
        Func synthesis_f = input_reader(synthesis, clamp, "synthesis_in");

        // Channels-last variants also run channel-blocked tensors (nChw16c):
        // the runtime hands the pipeline a view whose images are blocks of
        // `input.dim(2).extent()` channels (image n holds block n % blocks of
        // image n / blocks, which the nested layout makes one dimension),
        // with the weights of all blocks. Plain tensors have one block.
        Expr wc;
        if (channels_last) {
            Expr block = input.dim(2).extent();
            wc = v.c + block * (v.n % (base_weight.dim(2).extent() / block));
        }

        Extent extent{input.dim(0).extent(), input.dim(1).extent()};
        std::vector<Extent> extents = {extent};
        Func input_f = input_reader(input, clamp, "input_in");
        Func input_padded = zero_outside(input_f, extent, plane_args(v), "input_padded");

        std::vector<Func> dwt, bands, conv;
        Func ll = input_padded;
        if (large_planes || fixed_plane) {
            // Large-plane and plane variants read the input itself (masked)
            // in the base conv and level 1's DWT. On large planes a copy
            // would add a pass through memory; in plane variants, whose
            // sizes are constants, the boundary tests fold into the edge
            // tiles (28x28 and 56x56 0.89-0.94 of the copy, 7x7 0.97,
            // 14x14 the same; PERFORMANCE.md, step 36). In the variants
            // for any size they did not (14x14 1.20, 7x7 1.03; step 29's
            // tried-and-dropped).
            ll = zero_outside(input_f, extent, plane_args(v), "input_masked");
        }
        const Func base_source = ll;
        for (int l = 1; l <= L; l++) {
            const std::string s = std::to_string(l);
            extents.push_back(half_extent(extents.back()));
            dwt.push_back(haar ? haar_dwt(ll, v, "dwt_" + s)
                               : general_dwt(ll, analysis_f, taps, v, "dwt_" + s, wc));
            bands.push_back(zero_outside(dwt.back(), extents[l], band_args(v), "bands_" + s));
            Func next_ll("ll_" + s);
            // Level l's LL band from a DWT of its own (`own_dwt`: the same
            // float operations as band 0 of bands_l), where the next level
            // reads it over the whole plane but bands_l is computed in strips.
            auto ll_band_of = [&](const Func &own_dwt) {
                Func ll_bands = zero_outside(own_dwt, extents[l], band_args(v), "bands_" + s + "_ll");
                next_ll(v.x, v.y, v.c, v.n) = ll_bands(v.x, v.y, 0, v.c, v.n);
            };
            if (l == 1 && L > 1 && level_one_in_strips()) {
                // The strips hold level 1's bands a few rows at a time, but
                // level 2 reads level 1's LL band over the whole plane: a
                // DWT of its own gives it (the same float operations as
                // band 0 of bands_1).
                // (The large-plane variants' level 1 already reads the
                // input masked, over the whole plane.)
                Func plane = large_planes ? ll : zero_outside(input_f, extent, plane_args(v), "input_plane");
                level_one_ll_dwt = haar ? haar_dwt(plane, v, "dwt_1_ll") : general_dwt(plane, analysis_f, taps, v, "dwt_1_ll", wc);
                ll_band_of(level_one_ll_dwt);
                level_one_ll = next_ll;
            } else if (l == 2 && L > 2 && huge_planes) {
                // Level 2 in the strips too, but level 3 reads level 2's LL
                // band over the whole plane: a DWT of level_one_ll (inline,
                // from the input) of its own gives it.
                ll_band_of(haar_dwt(ll, v, "dwt_2_ll"));
                level_two_ll = next_ll;
            } else {
                next_ll(v.x, v.y, v.c, v.n) = bands.back()(v.x, v.y, 0, v.c, v.n);
            }
            ll = next_ll;
            Func weights("band_weight_" + s);
            weights(v.x, v.y, v.b, v.c) = band_w(v.x, v.y, v.b, v.c, l - 1);
            conv.push_back(band_conv(bands.back(), weights, k, v, "band_conv_" + s, tap_limits(extents[l], l), wc));
        }

        // Plane and large-plane variants run stride 1 only (a requirement
        // below). As a constant it also gives bounds that Halide can prove
        // monotonic along the rows.
        const Expr output_stride = fixed_plane || large_planes ? Expr(1) : Expr(stride);
        std::vector<Func> idwt(L), z_masked(L);
        Func from_below;  // r: the reconstruction of the level below, cropped
        for (int l = L; l >= 1; l--) {
            const std::string s = std::to_string(l);
            Func z("z_" + s);
            if (l == L) {
                z(v.x, v.y, v.b, v.c, v.n) = conv[l - 1](v.x, v.y, v.b, v.c, v.n);
            } else {
                z(v.x, v.y, v.b, v.c, v.n) =
                    conv[l - 1](v.x, v.y, v.b, v.c, v.n) +
                    Halide::select(v.b == 0, from_below(v.x, v.y, v.c, v.n), 0.0f);
            }
            z_masked[l - 1] = zero_outside(z, extents[l], band_args(v), "z_masked_" + s);
            // Level 1 writes the output grid: only the pixels a stride keeps.
            Expr step = l == 1 ? output_stride : Expr(1);
            idwt[l - 1] = haar ? haar_idwt(z_masked[l - 1], v, "idwt_" + s, step)
                               : general_idwt(z_masked[l - 1], synthesis_f, synthesis_taps, v, "idwt_" + s, step, wc);
            if (l > 1) from_below = zero_outside(idwt[l - 1], extents[l - 1], plane_args(v),
                                      "r_" + std::to_string(l - 1));
        }

        Func base = strided_base_conv(base_source, base_w, base_b, k, output_stride, v, "base",
                                      tap_limits(extent, 0), wc);
        // Output pixels lie inside the input plane, where level 1's IDWT needs
        // no mask; it is already on the output's (strided) grid.
        Expr sum = base(v.x, v.y, v.c, v.n) + idwt[0](v.x, v.y, v.c, v.n);
        Func prefetch_token;
        if (large_planes && channel_blocked && !huge_planes && hand_cpu_schedule()) {
            // The call always returns 0; testing it keeps it alive. Halide
            // folds the select into an added select(token == 0, 0, 1): a
            // broadcast and an add per output vector, and a sum of -0.0
            // comes out +0.0 (equal values). Huge planes come from DRAM,
            // where it gained nothing (1024 x 1024 1.00-1.03; PERFORMANCE.md,
            // step 42).
            prefetch_token = prefetch_ahead(v);
            sum = Halide::select(prefetch_token(v.x / kStencilPixels, v.y, v.n) == 0, sum, sum + 1.0f);
        }
        output(v.x, v.y, v.c, v.n) = sum;

        if (channels_last) {
            // Channels innermost in memory: the tensors, and the weights (the
            // runtime lays them out so once, at load) so that a vector of
            // channels reads one tap of consecutive channels.
            for (auto [buffer, c_dim] : std::vector<std::pair<OutputImageParam, int>>{
                     {input, 2}, {output, 2}, {base_weight, 2}, {band_weight, 3}, {analysis, 3}, {synthesis, 3}}) {
                buffer.dim(0).set_stride(Expr());
                buffer.dim(c_dim).set_stride(1);
            }
        }
        if (channel_blocked) {
            const int block = int(kChannelBlock);
            for (OutputImageParam buffer : {OutputImageParam(input), OutputImageParam(output)}) {
                buffer.dim(0).set_stride(block);
                buffer.dim(1).set_stride(block * buffer.dim(0).extent());
                buffer.dim(2).set_extent(block);
                buffer.dim(3).set_stride(block * buffer.dim(0).extent() * buffer.dim(1).extent());
            }
        }
        // The runtime's tensors start at 0 in every dimension; known to the
        // compiler, pixel parities and halvings fold in the schedules.
        for (int d = 0; d < 4; d++) {
            input.dim(d).set_min(0);
            output.dim(d).set_min(0);
        }
        if (fixed_plane) {
            for (int d = 0; d < 2; d++) {
                input.dim(d).set_extent(typical_plane);
                output.dim(d).set_extent(typical_plane);
                base_weight.dim(d).set_extent(kUnrolledKernel);
                band_weight.dim(d).set_extent(kUnrolledKernel);
            }
        }
        if (fixed_plane || large_planes) {
            add_requirement(stride == 1, "wtconv_fused (plane or large-plane variant): stride 1 only, got ", stride);
        }
        set_estimates();
        if (!using_autoscheduler()) {
            const Func padded_input = large_planes || fixed_plane ? Func() : input_padded;  // see base_source
            FusedFuncs funcs{output, base, padded_input, dwt, bands, conv, z_masked, idwt, haar, int(typical_plane)};
            funcs.stride_one_only = fixed_plane || large_planes;
            if (large_planes) {
                funcs.strip_rows = kChannelsLastStripRows;
                funcs.plane_rows = output.dim(1).extent();
                funcs.strip_levels = channels_last_strip_levels(L, huge_planes);
            }
            funcs.level_two_ll = level_two_ll;
            funcs.prefetch_ahead = prefetch_token;
            funcs.level_one_ll = level_one_ll;
            funcs.level_one_ll_dwt = level_one_ll_dwt;
            funcs.kernel = k;
            if (level_one_in_strips() && !channels_last) {
                // Planes that fit in cache whole run as one strip: the halo
                // rows would only add work there.
                funcs.strip_rows = Halide::select(input.dim(0).extent() * input.dim(1).extent() > kStripMinPixels,
                                                  kStripRows, Halide::max(output.dim(1).extent(), 1));
            }
            if (get_target().has_gpu_feature()) {
#ifdef WTCONV_GPU_SCHEDULES
                if (channels_last) throw std::runtime_error("wtconv_fused: GPU variants are NCHW only");
                if (gpu_plane) {
                    add_requirement(input.dim(0).extent() <= kGpuPlaneMax && input.dim(1).extent() <= kGpuPlaneMax,
                                    "wtconv_fused (CUDA plane plan): planes up to ", kGpuPlaneMax, " x ",
                                    kGpuPlaneMax, ", got ", input.dim(0).extent(), " x ", input.dim(1).extent());
                }
                schedule_fused_gpu(funcs, v, gpu_plane);
#else
                throw std::runtime_error("wtconv_fused: GPU schedules are in the CUDA generator binary only");
#endif
            } else if (channels_last) {
                schedule_fused_cpu_channels_last(funcs, v, input.dim(2).extent(), input.dim(3).extent(),
                                                 input.dim(0).extent() * input.dim(1).extent(), stride, get_target());
            } else {
                schedule_fused_cpu(funcs, v, stride, get_target());
            }
        }
    }

private:
    Func level_one_ll, level_one_ll_dwt;  // see level_one_in_strips
    Func level_two_ll;                    // see huge_planes

    // A call to wtconv_prefetch_ahead (runtime/prefetch_ahead.cpp) per
    // output tile of kStencilPixels pixels, x the tile's index: it prefetches
    // the input and output lines the pipeline reads and writes a few rows
    // later. Halide's own prefetch emits prefetchnta, whose lines skip L2
    // (PERFORMANCE.md, step 42). The call takes the pipeline's own buffer
    // arguments, named after their parameters (`input.buffer`; the output's
    // is `output$1.buffer` and so on in the second and later targets of a
    // multi-target build).
    Func prefetch_ahead(const Vars &v) {
        using namespace Halide::Internal;
        const Halide::Type buffer = Halide::type_of<halide_buffer_t *>();
        const Halide::ImageParam in_param = input;
        const OutputImageParam out_param = output;
        Expr in = Variable::make(buffer, in_param.name() + ".buffer", in_param.parameter());
        Expr out = Variable::make(buffer, out_param.name() + ".buffer", out_param.parameter());
        Func token("prefetch_ahead");
        token(v.x, v.y, v.n) = Call::make(Halide::Int(32), "wtconv_prefetch_ahead",
                                          {in, out, v.x * kStencilPixels, kStencilPixels, v.y, v.n}, Call::Extern);
        return token;
    }

    // The hand CPU schedules (schedules/cpu_schedules.h) place the Funcs.
    bool hand_cpu_schedule() const { return !using_autoscheduler() && !get_target().has_gpu_feature(); }

    // The hand CPU schedules compute levels 0 and 1 a strip of output rows
    // at a time (schedules/cpu_schedules.h) in NCHW (kStripRows) and in the
    // channels-last large-plane variants (kChannelsLastStripRows).
    bool level_one_in_strips() const {
        return hand_cpu_schedule() && (!channels_last || large_planes);
    }

    // The valid region a conv's taps at `level` (0: the base conv) are
    // restricted to (stencil_taps), where the schedule runs the taps-row
    // loop per output row: the hand channels-last CPU schedule. Its rows;
    // in plane variants also its columns where one pixel tile covers the
    // level's row, so that every tap's column is a constant.
    TapLimits tap_limits(const Extent &source, int level) {
        if (!channels_last || !hand_cpu_schedule()) return {};
        Expr cols;
        if (fixed_plane) {
            int width = typical_plane;
            for (int l = 0; l < level; l++) width = (width + 1) / 2;
            const int task_vectors = channels_last_task_vectors(get_target(), haar, typical_plane, large_planes);
            if (width <= channels_last_register_tile(typical_plane, level, task_vectors, get_target())) cols = source.w;
        }
        return {source.h, cols};
    }

    // The channel count of the WTConvNeXt-T stage of typical_plane: the
    // stages keep channels x plane width = 96 x 56 (192 x 28, 384 x 14,
    // 768 x 7).
    int typical_channels() const { return 96 * 56 / typical_plane; }

    void set_estimates() {
        const int L = levels;
        const int size = typical_plane, channels = typical_channels();
        input.set_estimates({{0, size}, {0, size}, {0, channels}, {0, 1}});
        base_weight.set_estimates({{0, 5}, {0, 5}, {0, channels}});
        base_bias.set_estimates({{0, channels}});
        band_weight.set_estimates({{0, 5}, {0, 5}, {0, 4}, {0, channels}, {0, L}});
        analysis.set_estimates({{0, 2}, {0, 2}, {0, 4}, {0, channels}});
        synthesis.set_estimates({{0, 2}, {0, 2}, {0, 4}, {0, channels}});
        stride.set_estimate(1);
        output.set_estimates({{0, size}, {0, size}, {0, channels}, {0, 1}});
    }
};

}  // namespace wtconv

HALIDE_REGISTER_GENERATOR(wtconv::FusedForward, wtconv_fused)
