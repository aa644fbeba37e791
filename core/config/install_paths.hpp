// Compiled-in default paths. Run from a build tree (build/bin/tributary, CMakeCache.txt one
// level up) the host keeps the build layout: modules in build/plugins, data in ./data, no
// default config. Anywhere else it is installed and uses the paths CMake compiled in from
// its install prefix (for the Debian package: /usr/lib/tributary/plugins, /var/lib/tributary,
// /etc/tributary/tributary.conf).
//
// TRIBUTARY_INSTALL_ROOT=<dir> puts <dir> in front of the installed paths, so a test can run
// a package unpacked into a temporary root (dpkg-deb -x) without installing it.
#pragma once

#include <string>

namespace trib::core {

struct DefaultPaths {
    std::string plugins_dir; // where modules are loaded from
    std::string data_dir;    // file sink output, spools, module state
    std::string config_file; // read when --config is not given and the file exists; empty: none
};

// The compiled-in installed paths, without TRIBUTARY_INSTALL_ROOT (for --help).
DefaultPaths installed_paths();

// What this process uses: computed once from /proc/self/exe and the environment.
const DefaultPaths &default_paths();

} // namespace trib::core
