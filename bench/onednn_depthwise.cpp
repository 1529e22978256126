#include "onednn_depthwise.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

namespace wtconv::bench {

using tag = dnnl::memory::format_tag;

struct OneDnnDepthwise::Impl {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    dnnl::convolution_forward conv;
    dnnl::memory src, weights, dst;
    std::string name;
};

namespace {

struct Candidate {
    dnnl::convolution_forward conv;
    dnnl::memory src, weights, dst;
    std::string name;
};

Candidate make(const dnnl::engine &engine, int n, int c, int h, int w, int k, tag layout, const char *layout_name) {
    const int before = (k - 1) / 2, after = k - 1 - before;  // PyTorch 'same'
    dnnl::memory::desc src_md({n, c, h, w}, dnnl::memory::data_type::f32, layout);
    dnnl::memory::desc dst_md({n, c, h, w}, dnnl::memory::data_type::f32, layout);
    dnnl::memory::desc wei_md({c, 1, 1, k, k}, dnnl::memory::data_type::f32, tag::any);
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, wei_md, dst_md, {1, 1}, {before, before}, {after, after});
    dnnl::convolution_forward::primitive_desc pd(desc, engine);
    Candidate cand{dnnl::convolution_forward(pd), dnnl::memory(pd.src_desc(), engine),
                   dnnl::memory(pd.weights_desc(), engine), dnnl::memory(pd.dst_desc(), engine),
                   std::string(layout_name) + " " + pd.impl_info_str()};
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    for (dnnl::memory *m : {&cand.src, &cand.weights}) {
        float *p = static_cast<float *>(m->get_data_handle());
        for (size_t i = 0; i < m->get_desc().get_size() / sizeof(float); i++) p[i] = u(rng);
    }
    return cand;
}

double median_seconds(Candidate &c, dnnl::stream &stream, int runs) {
    std::vector<double> t;
    for (int i = 0; i < runs + 2; i++) {
        auto start = std::chrono::steady_clock::now();
        c.conv.execute(stream, {{DNNL_ARG_SRC, c.src}, {DNNL_ARG_WEIGHTS, c.weights}, {DNNL_ARG_DST, c.dst}});
        stream.wait();
        if (i >= 2) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
    return t[t.size() / 2];
}

}  // namespace

OneDnnDepthwise::OneDnnDepthwise(int n, int c, int h, int w, int k) : impl_(new Impl) {
    // Pick the fastest layout by a short race (the table then reports it).
    double best = 1e30;
    for (auto [layout, label] : {std::pair{tag::any, "any"}, {tag::nhwc, "nhwc"}, {tag::nChw16c, "nChw16c"}}) {
        Candidate cand = make(impl_->engine, n, c, h, w, k, layout, label);
        const double t = median_seconds(cand, impl_->stream, 15);
        if (t < best) {
            best = t;
            impl_->conv = cand.conv;
            impl_->src = cand.src;
            impl_->weights = cand.weights;
            impl_->dst = cand.dst;
            impl_->name = cand.name;
        }
    }
}

OneDnnDepthwise::~OneDnnDepthwise() = default;

void OneDnnDepthwise::run() {
    impl_->conv.execute(impl_->stream,
                        {{DNNL_ARG_SRC, impl_->src}, {DNNL_ARG_WEIGHTS, impl_->weights}, {DNNL_ARG_DST, impl_->dst}});
    impl_->stream.wait();
}

const std::string &OneDnnDepthwise::name() const { return impl_->name; }

}  // namespace wtconv::bench
