// Election backend "etcd": the [election] table made into an EtcdElection.
#pragma once

#include "election/election_factory.hpp"

#include <memory>

namespace trib::core {

// [election] endpoints, namespace, lease_ttl, whitelist, TLS and auth keys and the host's
// name become EtcdElectionOptions. Throws std::runtime_error naming the key that is wrong.
std::unique_ptr<Election> make_etcd_election(const ElectionConfig &config);

} // namespace trib::core
