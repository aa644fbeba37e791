#include "election_factory.hpp"

#include "election/election_none.hpp"
#include "election/etcd_backend.hpp"

#include <array>
#include <stdexcept>

namespace trib::core {

namespace {

std::unique_ptr<Election> make_none_election(const ElectionConfig &) { return std::make_unique<NoneElection>(); }

constexpr std::array<ElectionBackend, 2> kElectionBackends{{
    {"none", &make_none_election},
    {"etcd", &make_etcd_election},
}};

const ElectionBackend *find_backend(const std::string &name) {
    for (auto &entry : kElectionBackends)
        if (entry.name == name) return &entry;
    return nullptr;
}

} // namespace

std::span<const ElectionBackend> election_backend_table() { return kElectionBackends; }

bool election_backend_known(const std::string &backend) { return find_backend(backend) != nullptr; }

std::vector<std::string> election_backends() {
    std::vector<std::string> out;
    for (auto &entry : kElectionBackends) out.emplace_back(entry.name);
    return out;
}

std::unique_ptr<Election> make_election(const ElectionConfig &cfg) {
    if (!cfg.enable) return make_none_election(cfg);
    const ElectionBackend *entry = find_backend(cfg.backend);
    if (!entry) throw std::runtime_error("unknown election backend '" + cfg.backend + "'");
    auto e = entry->make(cfg);
    if (!e) throw std::runtime_error("election backend '" + cfg.backend + "' could not be created");
    return e;
}

} // namespace trib::core
