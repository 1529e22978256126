// "[a, b, c]": how error messages (and test failures) print a shape.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

namespace wtconv::detail {

template<typename Sizes>
std::string shape_string(const Sizes &shape) {
    std::ostringstream s;
    s << "[";
    bool first = true;
    for (int64_t d : shape) {
        s << (first ? "" : ", ") << d;
        first = false;
    }
    s << "]";
    return s.str();
}

}  // namespace wtconv::detail
