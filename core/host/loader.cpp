#include "loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace trib::core {

bool LoadedModule::has_on_leadership() const {
    return desc && TRIB_HAS_FIELD(trib_module_t, desc, on_leadership) && desc->on_leadership;
}
bool LoadedModule::has_health() const { return desc && TRIB_HAS_FIELD(trib_module_t, desc, health) && desc->health; }

bool load_module_file(const std::string &file, LoadedModule &out, std::string &problem) {
    dlerror();
    // Modules are never closed: their code may still be referenced by threads or statics.
    void *h = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        problem = std::string("cannot load: ") + (e ? e : "dlopen failed");
        return false;
    }
    auto probe = reinterpret_cast<trib_module_abi_major_fn>(::dlsym(h, TRIB_ABI_PROBE_SYMBOL));
    if (!probe) {
        problem = "missing symbol " TRIB_ABI_PROBE_SYMBOL " (not a Tributary module?)";
        return false;
    }
    uint32_t major = probe();
    if (major != TRIB_ABI_MAJOR) {
        problem = "built for ABI major " + std::to_string(major) + ", this host speaks ABI major " +
                  std::to_string(TRIB_ABI_MAJOR);
        return false;
    }
    auto entry = reinterpret_cast<trib_module_entry_fn>(::dlsym(h, TRIB_ENTRY_SYMBOL));
    if (!entry) {
        problem = "missing symbol " TRIB_ENTRY_SYMBOL;
        return false;
    }
    const trib_module_t *d = entry(TRIB_ABI_MAJOR, TRIB_ABI_MINOR_CURRENT);
    if (!d) {
        problem = "the module refused this host (" TRIB_ENTRY_SYMBOL " returned NULL)";
        return false;
    }
    if (d->struct_size < offsetof(trib_module_t, write) + sizeof(d->write)) {
        problem = "module descriptor too small (struct_size " + std::to_string(d->struct_size) + ")";
        return false;
    }
    if (d->abi_major != TRIB_ABI_MAJOR) {
        problem = "descriptor says ABI major " + std::to_string(d->abi_major) + ", host speaks " +
                  std::to_string(TRIB_ABI_MAJOR);
        return false;
    }
    if (!d->name || !*d->name) {
        problem = "module has no name";
        return false;
    }
    if (!d->create || !d->start || !d->stop || !d->destroy) {
        problem = std::string("module '") + d->name + "' lacks a lifecycle hook (create/start/stop/destroy)";
        return false;
    }
    if (d->kind != TRIB_KIND_INPUT && d->kind != TRIB_KIND_SINK) {
        problem = std::string("module '") + d->name + "' has unknown kind " + std::to_string(d->kind);
        return false;
    }
    if (d->kind == TRIB_KIND_SINK && !d->write) {
        problem = std::string("sink module '") + d->name + "' has no write hook";
        return false;
    }
    out.file = file;
    out.desc = d;
    out.name = d->name;
    out.version = d->version ? d->version : "";
    out.description = d->description ? d->description : "";
    out.sample_config = d->sample_config ? d->sample_config : "";
    // 1.4: the declared config keys (JSON), for --describe-config.
    if (TRIB_HAS_FIELD(trib_module_t, d, config_table) && d->config_table) out.config_table = d->config_table;
    if (TRIB_HAS_FIELD(trib_module_t, d, flags)) out.flags = d->flags;
    out.kind = static_cast<trib_module_kind>(d->kind);
    out.abi_major = d->abi_major;
    out.abi_minor = d->abi_minor;
    return true;
}

LoadResult load_modules(const std::string &plugins_dir) {
    LoadResult r;
    std::error_code ec;
    if (!fs::is_directory(plugins_dir, ec)) {
        r.problems.push_back(plugins_dir + ": plugins directory does not exist");
        return r;
    }
    std::vector<std::string> files;
    for (auto &e : fs::directory_iterator(plugins_dir, ec))
        if (e.path().extension() == ".so" && (e.is_regular_file() || e.is_symlink()))
            files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    std::set<std::string> names;
    for (auto &f : files) {
        LoadedModule m;
        std::string problem;
        if (!load_module_file(f, m, problem)) {
            r.problems.push_back(f + ": " + problem);
            continue;
        }
        // Names are unique per kind: the `pyroscope` input and a `pyroscope` sink may coexist.
        std::string key = std::string(m.kind == TRIB_KIND_SINK ? "sink:" : "input:") + m.name;
        if (!names.insert(key).second) {
            r.problems.push_back(f + ": " + (m.kind == TRIB_KIND_SINK ? "sink" : "input") + " module name '" + m.name +
                                 "' is already loaded from another file; skipped");
            continue;
        }
        r.modules.push_back(std::move(m));
    }
    return r;
}

} // namespace trib::core
