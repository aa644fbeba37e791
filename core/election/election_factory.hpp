// Election backends behind election/election.hpp, written out in one table
// (election_backend_table() in election_factory.cpp): "none" (this host always leads) and
// "etcd" (election/etcd_backend.cpp).
#pragma once

#include "election/election.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trib::core {

struct ElectionConfig {
    bool enable = false;                             // [election] enable / ENV_ENABLE_ELECTION
    std::string backend = "none";                    // "none" | "etcd" (used only when enable)
    std::vector<std::string> endpoints;              // e.g. ["http://127.0.0.1:2379"]
    std::string ns = "default";                      // [election] namespace / ENV_NAMESPACE
    int lease_ttl_s = 10;                            // [election] lease_ttl (seconds)
    std::vector<std::string> whitelist;              // host names that may lead (node_whitelist; empty = all)
    std::string host_id;                             // this host's identity in the campaign (hostname)
    nlohmann::json table = nlohmann::json::object(); // the whole [election] table
};

// Makes one backend's election from the [election] table; throws std::invalid_argument or
// std::runtime_error saying what is wrong.
using ElectionMaker = std::unique_ptr<Election> (*)(const ElectionConfig &);

struct ElectionBackend {
    std::string_view name; // [election] backend = "..."
    ElectionMaker make;
};

// Every election backend, in the order error messages list them.
std::span<const ElectionBackend> election_backend_table();

bool election_backend_known(const std::string &backend);
std::vector<std::string> election_backends();
// Backend "none" when !cfg.enable. Throws std::runtime_error for an unknown backend or a
// factory failure.
std::unique_ptr<Election> make_election(const ElectionConfig &cfg);

} // namespace trib::core
