#include "election_factory.hpp"

#include "election/election_none.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

namespace trib::core {

namespace {
std::map<std::string, ElectionFactory> &registry() {
    static std::map<std::string, ElectionFactory> r;
    return r;
}
std::mutex &registry_mutex() {
    static std::mutex m;
    return m;
}
} // namespace

ElectionBackendRegistrar::ElectionBackendRegistrar(const std::string &backend, ElectionFactory factory) {
    std::lock_guard<std::mutex> lk(registry_mutex());
    registry()[backend] = std::move(factory);
}

bool election_backend_known(const std::string &backend) {
    if (backend == "none") return true;
    std::lock_guard<std::mutex> lk(registry_mutex());
    return registry().count(backend) != 0;
}

std::unique_ptr<Election> make_election(const ElectionConfig &cfg) {
    if (!cfg.enable || cfg.backend == "none") return std::make_unique<NoneElection>();
    ElectionFactory f;
    {
        std::lock_guard<std::mutex> lk(registry_mutex());
        auto it = registry().find(cfg.backend);
        if (it != registry().end()) f = it->second;
    }
    if (!f) throw std::runtime_error("election backend '" + cfg.backend + "' is not available in this build");
    auto e = f(cfg);
    if (!e) throw std::runtime_error("election backend '" + cfg.backend + "' could not be created");
    return e;
}

} // namespace trib::core
