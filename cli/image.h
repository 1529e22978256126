// A small RGB canvas for the erf figure: rectangles, text (stb_easy_font),
// a colour map, PNG encoding (stb_image_write).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wtconv::cli {

using Rgb = std::array<uint8_t, 3>;

// Viridis, t in [0, 1] (clamped): dark blue to yellow, lightness rising.
Rgb viridis(double t);

class Image {
public:
    Image(int width, int height, Rgb background);
    int width() const { return width_; }
    int height() const { return height_; }
    void fill(int x, int y, int w, int h, Rgb colour);  // clipped to the image
    // Text with its top-left corner at (x, y), `scale` image pixels per font pixel.
    void text(int x, int y, const std::string &s, Rgb colour, int scale = 2);
    static int text_width(const std::string &s, int scale = 2);
    static int text_height(int scale = 2);
    std::string png() const;  // the encoded file

private:
    int width_, height_;
    std::vector<uint8_t> pixels_;  // RGB rows
};

}  // namespace wtconv::cli
