#include "image.h"

#include "wtconv/wtconv.h"

#include <algorithm>
#include <cmath>

#include <stb_easy_font.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>

namespace wtconv::cli {

Rgb viridis(double t) {
    // matplotlib's viridis at t = 0, 1/8, ..., 1, linearly interpolated.
    static const double stops[9][3] = {{68, 1, 84},    {71, 44, 122},   {59, 81, 139},   {44, 113, 142},
                                       {33, 144, 141}, {39, 173, 129},  {92, 200, 99},   {170, 220, 50},
                                       {253, 231, 37}};
    if (!(t > 0)) t = 0;  // NaN too
    if (t > 1) t = 1;
    const double f = t * 8;
    const int i = std::min(int(f), 7);
    const double u = f - i;
    Rgb c;
    for (int k = 0; k < 3; k++) c[k] = uint8_t(std::lround(stops[i][k] * (1 - u) + stops[i + 1][k] * u));
    return c;
}

Image::Image(int width, int height, Rgb background)
    : width_(width), height_(height), pixels_(size_t(width) * height * 3) {
    fill(0, 0, width, height, background);
}

void Image::fill(int x, int y, int w, int h, Rgb colour) {
    const int x0 = std::max(x, 0), y0 = std::max(y, 0);
    const int x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++) std::copy(colour.begin(), colour.end(), &pixels_[(size_t(j) * width_ + i) * 3]);
}

void Image::text(int x, int y, const std::string &s, Rgb colour, int scale) {
    // stb_easy_font emits axis-aligned quads: 4 vertices of (x, y, z, rgba).
    struct Vertex {
        float x, y, z;
        unsigned char rgba[4];
    };
    std::vector<Vertex> quads(s.size() * 70 + 16);
    std::string copy = s;
    const int n = stb_easy_font_print(0, 0, copy.data(), nullptr, quads.data(), int(quads.size() * sizeof(Vertex)));
    for (int q = 0; q < n; q++) {
        const Vertex *v = &quads[size_t(q) * 4];
        const float qx0 = std::min(v[0].x, v[2].x), qx1 = std::max(v[0].x, v[2].x);
        const float qy0 = std::min(v[0].y, v[2].y), qy1 = std::max(v[0].y, v[2].y);
        fill(x + int(qx0 * scale), y + int(qy0 * scale), int((qx1 - qx0) * scale), int((qy1 - qy0) * scale), colour);
    }
}

int Image::text_width(const std::string &s, int scale) {
    std::string copy = s;
    return stb_easy_font_width(copy.data()) * scale;
}

int Image::text_height(int scale) { return 7 * scale; }  // capitals; descenders reach 9

std::string Image::png() const {
    std::string out;
    auto append = [](void *context, void *data, int size) {
        static_cast<std::string *>(context)->append(static_cast<const char *>(data), size_t(size));
    };
    if (!stbi_write_png_to_func(append, &out, width_, height_, 3, pixels_.data(), width_ * 3)) {
        throw Error("PNG encoding failed");
    }
    return out;
}

}  // namespace wtconv::cli
