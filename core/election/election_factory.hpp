// Election backends behind core/election.hpp. Backend "none" (always leader) is built in;
// other backends (etcd) register a factory from their own .cpp file with a static
//   static const trib::core::ElectionBackendRegistrar reg("etcd", &make_etcd_election);
// (the host links trib_core whole, so such registrars always run).
#pragma once

#include "election/election.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
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

using ElectionFactory = std::function<std::unique_ptr<Election>(const ElectionConfig &)>;

struct ElectionBackendRegistrar {
    ElectionBackendRegistrar(const std::string &backend, ElectionFactory factory);
};

bool election_backend_known(const std::string &backend);
// Backend "none" when !cfg.enable. Throws std::runtime_error for an unknown backend or a
// factory failure.
std::unique_ptr<Election> make_election(const ElectionConfig &cfg);

} // namespace trib::core
