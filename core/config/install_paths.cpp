#include "install_paths.hpp"

#include <cstdlib>
#include <filesystem>

#ifndef TRIB_INSTALL_PLUGINS_DIR
#error "TRIB_INSTALL_PLUGINS_DIR, TRIB_INSTALL_DATA_DIR and TRIB_INSTALL_CONFIG_FILE come from core/CMakeLists.txt"
#endif

namespace trib::core {
namespace fs = std::filesystem;

DefaultPaths installed_paths() {
    return DefaultPaths{TRIB_INSTALL_PLUGINS_DIR, TRIB_INSTALL_DATA_DIR, TRIB_INSTALL_CONFIG_FILE};
}

namespace {

DefaultPaths compute_default_paths() {
    DefaultPaths d;
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    fs::path tree = ec ? fs::path() : exe.parent_path().parent_path();
    if (!tree.empty() && fs::exists(tree / "CMakeCache.txt", ec)) {
        d.plugins_dir = (tree / "plugins").string();
        d.data_dir = "data";
        return d;
    }
    std::string root;
    if (const char *r = std::getenv("TRIBUTARY_INSTALL_ROOT")) root = r;
    while (!root.empty() && root.back() == '/') root.pop_back();
    d = installed_paths();
    d.plugins_dir = root + d.plugins_dir;
    d.data_dir = root + d.data_dir;
    d.config_file = root + d.config_file;
    return d;
}

} // namespace

const DefaultPaths &default_paths() {
    static const DefaultPaths paths = compute_default_paths();
    return paths;
}

} // namespace trib::core
