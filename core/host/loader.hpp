// Loads modules: every *.so in the plugins dir, RTLD_NOW|RTLD_LOCAL, ABI-major probe first,
// never unloaded. A module that cannot be used is one log line naming its file and the
// reason; the others load.
#pragma once

#include <tributary/plugin.h>

#include <string>
#include <vector>

namespace trib::core {

struct LoadedModule {
    std::string file;
    const trib_module_t *desc = nullptr;
    std::string name, version, description, sample_config;
    std::string config_table; // ABI 1.4: declared config keys as JSON; empty when the module has none
    trib_module_kind kind = TRIB_KIND_INPUT;
    uint32_t abi_major = 0, abi_minor = 0;
    uint32_t flags = 0; // ABI 1.5: TRIB_MODULE_* bits; 0 for older modules

    bool has_on_leadership() const;
    bool has_health() const;
};

struct LoadResult {
    std::vector<LoadedModule> modules;
    std::vector<std::string> problems; // "<file>: <reason>"
};

LoadResult load_modules(const std::string &plugins_dir);
// One module file; false with `problem` set when it is refused.
bool load_module_file(const std::string &file, LoadedModule &out, std::string &problem);

} // namespace trib::core
