// "WtconvSafe": a thin autoscheduler registered by the generator binary that
// runs one of Halide's autoschedulers (the plugin loaded with -p, named by
// autoscheduler.base=<name>) and then makes the schedule it chose valid for
// every output size.
//
// Why: Halide's CPU autoschedulers tile the pipeline output with splits whose
// tail strategy is ShiftInwards (Mullapudi2016: Auto, i.e. ShiftInwards on a
// pure definition; Adams2019 and Li2018: ShiftInwards on stages that write an
// output). ShiftInwards needs every split's extent to be at least its factor,
// so an output plane smaller than a tile (a 7x7 deep level is fine, a 1x1 or
// 3x3 test plane or 1..15 channels are not) makes the pipeline fail with
// "Output buffer output is accessed at -4, which is before the min (0)". The
// estimates only tell the autoscheduler the typical size; sizes are run-time
// values here and may be anything.
//
// What this does, for each output Func, after the base autoscheduler ran:
// - the pure definition is specialized on "every ShiftInwards / RoundUp
//   split of the output fits" (the exact condition, in terms of the output
//   buffer's extents), so typical sizes run the autoscheduler's schedule
//   unchanged (specialize() copies the schedule so far);
// - in the fallback (any smaller size), and in every update definition of an
//   output, those splits become GuardWithIf, which is legal everywhere.
// Intermediate Funcs need nothing: a larger region of them is only more work,
// and the pipeline reads its inputs through clamped boundary conditions. The
// weights and filters are read at their own extents, which splits of the
// output never enlarge once the output's splits are guarded.
//
// Usage (CMake): PLUGINS Halide::Mullapudi2016 PARAMS autoscheduler=WtconvSafe
// autoscheduler.base=Mullapudi2016 autoscheduler.parallelism=2 ... Every
// other autoscheduler.* parameter goes to the base autoscheduler.
#include "Halide.h"

#include <map>
#include <sstream>
#include <string>

namespace wtconv {
namespace {

using Halide::Expr;
using Halide::Func;
using Halide::TailStrategy;
using Halide::Internal::Split;

bool needs_full_extent(TailStrategy tail) {
    // Auto on a pure definition of an output is ShiftInwards; on an update, RoundUp.
    return tail == TailStrategy::ShiftInwards || tail == TailStrategy::RoundUp || tail == TailStrategy::Auto ||
           tail == TailStrategy::ShiftInwardsAndBlend || tail == TailStrategy::RoundUpAndBlend;
}

// The condition under which every split of a stage of `f` that needs the
// full factor gets it. Extents of the split and fused loop variables are
// tracked from the output buffer's extents. RoundUp also needs the factor to
// divide the extent.
Expr splits_fit(const Func &f, const std::vector<Split> &splits) {
    std::map<std::string, Expr> extent;
    const Halide::OutputImageParam buffer = f.output_buffer();
    for (int i = 0; i < f.dimensions(); i++) extent[f.args()[i].name()] = buffer.dim(i).extent();
    Expr fits = Halide::Internal::const_true();
    for (const Split &s : splits) {
        if (s.split_type == Split::SplitVar) {
            Expr old = extent.count(s.old_var) ? extent[s.old_var] : Expr();
            if (needs_full_extent(s.tail) && !s.exact) {
                if (!old.defined()) return Halide::Internal::const_false();  // an RVar or unknown: always guard
                fits = fits && old >= s.factor;
                if (s.tail == TailStrategy::RoundUp || s.tail == TailStrategy::RoundUpAndBlend) {
                    fits = fits && old % s.factor == 0;
                }
            }
            if (old.defined()) {
                extent[s.outer] = (old + s.factor - 1) / s.factor;
                extent[s.inner] = s.factor;
            }
        } else if (s.split_type == Split::FuseVars) {
            if (extent.count(s.outer) && extent.count(s.inner)) extent[s.old_var] = extent[s.outer] * extent[s.inner];
        } else if (extent.count(s.old_var)) {  // RenameVar
            extent[s.outer] = extent[s.old_var];
        }
    }
    return Halide::Internal::simplify(fits);
}

int guard_splits(std::vector<Split> &splits) {
    int changed = 0;
    for (Split &s : splits) {
        if (s.split_type == Split::SplitVar && needs_full_extent(s.tail)) {
            s.tail = TailStrategy::GuardWithIf;
            changed++;
        }
    }
    return changed;
}

// Anderson2021 sometimes leaves a serial loop between the GPU block loops of
// a small pure Func (e.g. blocks over y and c with the x tiles serial in
// between), which Halide rejects ("Funcs cannot be scheduled in between GPU
// block loops"). Moving such loops inside the innermost block loop is a
// reorder of pure loops: always legal, same values. Returns the loops moved.
int gather_gpu_loops(std::vector<Halide::Internal::Dim> &dims, Halide::Internal::ForType gpu) {
    using Halide::Internal::ForType;
    int innermost = -1, outermost = -1;
    for (int i = 0; i < int(dims.size()); i++) {
        if (dims[i].for_type == gpu) {
            if (innermost < 0) innermost = i;
            outermost = i;
        }
    }
    int moved = 0;
    for (int i = innermost + 1; innermost >= 0 && i < outermost; i++) {
        const bool serial = dims[i].for_type == ForType::Serial || dims[i].for_type == ForType::Unrolled;
        if (dims[i].for_type != gpu && serial && dims[i].is_pure()) {
            Halide::Internal::Dim d = dims[i];
            dims.erase(dims.begin() + i);
            dims.insert(dims.begin() + innermost, d);  // just inside the innermost GPU loop
            innermost++;
            moved++;
        }
    }
    return moved;
}

int repair_gpu_nesting(const Halide::Pipeline &pipeline) {
    std::vector<Halide::Internal::Function> outputs;
    for (Func f : pipeline.outputs()) outputs.push_back(f.function());
    int moved = 0;
    for (auto &[name, function] : Halide::Internal::build_environment(outputs)) {
        Halide::Internal::Function f = function;
        std::vector<Halide::Internal::Definition> definitions = {f.definition()};
        for (size_t u = 0; u < f.updates().size(); u++) definitions.push_back(f.update(int(u)));
        for (Halide::Internal::Definition &d : definitions) {
            moved += gather_gpu_loops(d.schedule().dims(), Halide::Internal::ForType::GPUBlock);
            moved += gather_gpu_loops(d.schedule().dims(), Halide::Internal::ForType::GPUThread);
        }
    }
    return moved;
}

void wtconv_safe(const Halide::Pipeline &pipeline, const Halide::Target &target,
                 const Halide::AutoschedulerParams &params, Halide::AutoSchedulerResults *results) {
    Halide::AutoschedulerParams base;
    for (const auto &[key, value] : params.extra) {
        if (key == "base") {
            base.name = value;
        } else {
            base.extra[key] = value;
        }
    }
    if (base.name.empty() || base.name == "WtconvSafe") {
        throw Halide::CompileError("autoscheduler=WtconvSafe needs autoscheduler.base=<Mullapudi2016|Adams2019|Li2018|...>");
    }
    *results = pipeline.apply_autoscheduler(target, base);

    std::ostringstream note;
    note << "\n        // WtconvSafe (generators/wtconv_autoscheduler.cpp) after " << base.name
         << ", so that outputs smaller than the tiles work:\n";
    if (target.has_gpu_feature()) {
        note << "        //   " << repair_gpu_nesting(pipeline)
             << " serial loop(s) moved from between GPU block or thread loops to inside them.\n";
    }
    for (Func f : pipeline.outputs()) {
        Halide::Internal::Function function_handle = f.function();
        Halide::Internal::Definition &pure = function_handle.definition();
        const Expr fits = splits_fit(f, pure.schedule().splits());
        int guarded = 0;
        if (!Halide::Internal::is_const_one(fits)) {
            if (!Halide::Internal::is_const_zero(fits)) {
                f.specialize(fits);  // a copy of the schedule so far, taken when the tiles fit
                note << "        //   " << f.name() << ".specialize(" << fits << ") keeps the schedule above;\n";
            }
            guarded += guard_splits(pure.schedule().splits());
        }
        Halide::Internal::Function function = f.function();
        for (size_t u = 0; u < function.updates().size(); u++) {
            guarded += guard_splits(function.update(int(u)).schedule().splits());
        }
        note << "        //   " << f.name() << ": " << guarded
             << " split(s) of the output set to TailStrategy::GuardWithIf"
             << (Halide::Internal::is_const_one(fits) ? "" : " in the fallback") << ".\n";
    }
    results->schedule_source += note.str();
    results->autoscheduler_params = params;
}

struct Register {
    Register() { Halide::Pipeline::add_autoscheduler("WtconvSafe", wtconv_safe); }
} register_wtconv_safe;

}  // namespace
}  // namespace wtconv
