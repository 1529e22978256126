// oneDNN's depthwise k x k convolution (groups = C, 'same' padding), the
// CPU yardstick: for a shape, the fastest of the layouts oneDNN offers
// (its own choice, channels-last, 16-channel blocked), timed on execute()
// only, conversions excluded.
#pragma once

#include <memory>
#include <string>

namespace wtconv::bench {

class OneDnnDepthwise {
public:
    OneDnnDepthwise(int n, int c, int h, int w, int k);
    ~OneDnnDepthwise();
    void run();                     // one execute() on the chosen layout
    const std::string &name() const;  // layout and oneDNN implementation, e.g. "nChw16c jit_dw:avx512_core"

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace wtconv::bench
