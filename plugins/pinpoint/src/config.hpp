// The `[[inputs.pinpoint]]` table (DataKit's keys plus a few of ours), parsed from the JSON
// the host hands to create().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <tributary/access.hpp>
#include <string>
#include <vector>

namespace trib::config {
class ConfigMap;
}

namespace trib::pinpoint {

struct CloseResourceRule {
    std::string service; // "*" = any service
    std::vector<std::string> patterns;
    std::vector<std::regex> regexes;
};

struct Config {
    std::string address = "0.0.0.0:9991"; // also what DataKit's sample `address = ""` means
    bool keep_rare_resource = false;
    bool del_message = false;
    std::vector<CloseResourceRule> close_resource;
    // What parsing skipped, for the log (a close_resource pattern that does not compile is
    // skipped with a warning naming it, as DataKit does; the instance still starts).
    std::vector<std::string> warnings;
    std::optional<double> sampling_rate; // absent = keep every trace

    // [storage]: received messages are queued on disk before processing.
    std::string storage_path; // empty = no durable queue
    uint64_t storage_capacity_mb = 5120;

    // Tributary's own keys (not in DataKit).
    uint64_t trace_wait_ms = 30000;   // how long pieces wait for the rest of their trace
    uint64_t trace_memory_mb = 32;    // memory bound of what the input holds (README "Memory bound")
    uint64_t max_span_events = 20000; // a span or chunk with more events is refused
    uint64_t max_message_mb = 16;     // gRPC receive limit
    uint64_t receive_memory_mb = 16;  // gRPC's receive buffers, all connections (README "Memory bound")
    uint64_t metadata_max_entries = 2000000;

    // Who may send (PERMISSION_DENIED otherwise). Empty = anyone.
    access::CidrList allow_cidrs;             // the peer's address
    std::set<std::string> allow_applications; // the `applicationname` header
    std::set<std::string> allow_agent_ids;    // the `agentid` header

    // TLS: with tls_cert + tls_key, `tls_address` serves the same services over TLS (and
    // `address` stays plain, for agents without TLS such as pinpoint-node-agent; set
    // `address = ""` for TLS only). tls_client_ca: clients must present a certificate.
    std::string tls_address;
    std::string tls_cert, tls_key, tls_client_ca;
};

using EnvLookup = std::function<const char *(const char *)>;

// Every key of [[inputs.pinpoint]], declared once (tributary/config_map.hpp).
const trib::config::ConfigMap &config_map();

// Throws std::invalid_argument naming the key and the reason. `env` reads the
// ENV_INPUT_PINPOINT_* variables whose names do not map 1:1 onto a key (SAMPLER).
Config parse_config(const std::string &json_text, const EnvLookup &env);

} // namespace trib::pinpoint
