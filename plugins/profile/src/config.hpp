// [[inputs.profile]] configuration, read from the JSON the host hands to create().
#pragma once

#include <tributary/config_map.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trib::profile {

struct GoPullConfig {
    std::string url; // scheme://host:port (path ignored)
    std::chrono::milliseconds interval{10000};
    std::string service, env, version;
    std::vector<std::string> enabled_types; // cpu, goroutine, heap, mutex, block
    std::map<std::string, std::string> tags;
    bool tls_open = false;
    std::string tls_ca, tls_cert, tls_key;
    bool insecure_skip_verify = false;
};

struct PyroscopeListenConfig {
    std::string url; // listen address host:port
    std::string service, env, version;
    std::map<std::string, std::string> tags;
    // A request's header must be complete this long after its first byte (or after the
    // connection opens); slow or silent clients are closed, never waited on by a thread.
    std::chrono::milliseconds header_timeout{5000};
    // A keep-alive connection with no request for this long is closed.
    std::chrono::milliseconds idle_timeout{60000};
    // A body that makes no progress for this long is given up (the connection closed).
    std::chrono::milliseconds read_timeout{30000};
    // Open connections beyond this are closed at once.
    size_t max_connections = 4096;
};

struct ProfileConfig {
    std::vector<std::string> endpoints{"/profiling/v1/input"};
    uint64_t body_size_limit_mb = 32;
    bool generate_metrics = true;
    bool metrics_sync = false; // generate_metrics before the upload is answered
    bool election = true;
    std::map<std::string, std::string> tags;
    nlohmann::json io_config = nlohmann::json::object(); // kept for durable delivery
    std::vector<GoPullConfig> go;
    std::vector<PyroscopeListenConfig> pyroscope;

    uint64_t body_limit_bytes() const { return body_size_limit_mb * 1024 * 1024; }
};

inline const std::vector<std::string> kGoProfileTypes{"cpu", "goroutine", "heap", "mutex", "block"};

// Every key of [[inputs.profile]] and its [[go]] / [[pyroscope]] tables, declared once.
const trib::config::ConfigMap &config_map();

// Throws std::invalid_argument naming the key and the reason.
ProfileConfig parse_config(const std::string &json_text);

// The SDK's Go-style durations ("10s", "1m30s", "500ms"; a bare number is seconds).
using trib::config::parse_duration;

} // namespace trib::profile
