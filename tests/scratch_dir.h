// A fresh folder for one test process's files: <tmp>/<name>_<pid>, emptied
// at first use.
#pragma once

#include <filesystem>
#include <string>
#include <unistd.h>

namespace wtconv::testing {

inline const std::filesystem::path &scratch_dir(const std::string &name) {
    static const std::filesystem::path dir = [&] {
        std::filesystem::path d = std::filesystem::temp_directory_path() / (name + "_" + std::to_string(getpid()));
        std::filesystem::remove_all(d);
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

}  // namespace wtconv::testing
