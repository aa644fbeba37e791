// The host's configuration: tributary.conf + environment + flags (flags beat env, env beats
// the file), and the inputs' [[inputs.<name>]] tables from conf.d/**/*.conf (with the
// ENV_DEFAULT_ENABLED_INPUTS and ENV_INPUT_<NAME>_<FIELD> rules) as JSON objects.
// Every error message names the file or variable, the key and the reason.
#pragma once

#include "config/cli.hpp"
#include "election/election_factory.hpp"
#include "net/access_control.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace trib::relabel {
struct Rules;
}

namespace trib::core {

using Env = std::map<std::string, std::string>;
Env current_env();

struct BusConfig {
    uint64_t max_memory_bytes = 64ull << 20;           // [bus] max_memory_mb
    std::chrono::milliseconds shutdown_timeout{30000}; // [bus] shutdown_timeout_ms: drain limit at exit
    std::chrono::milliseconds retry_initial{100};      // [bus] retry_initial_ms
    std::chrono::milliseconds retry_max{5000};         // [bus] retry_max_ms
    // A sink that fell behind gets what queued meanwhile in one write (up to these), so a
    // sink that waits per write (acks, fsync, a request) pays that wait once per backlog.
    size_t max_write_points = 1000;         // [bus] max_write_points
    uint64_t max_write_bytes = 16ull << 20; // [bus] max_write_mb
};

// [attachments]: the host's attachment store under <data-dir>/attachments (used when a file
// sink is configured): retention by size and age, oldest profiles removed first.
struct AttachmentsConfig {
    uint64_t max_size_bytes = 10240ull << 20;    // max_size_mb
    std::chrono::seconds max_age{7 * 24 * 3600}; // max_age ("168h", "7d"-style durations)
};

// [http] tls_*: TLS on the TCP listener (the Unix socket stays plain: its file mode guards it).
struct HttpTlsConfig {
    std::string cert;                // tls_cert: PEM certificate chain
    std::string key;                 // tls_key: PEM private key
    std::string client_ca;           // tls_client_ca: PEM CAs; set = clients must present a certificate
    std::string min_version = "1.2"; // tls_min_version: "1.2" or "1.3"
    bool enabled() const { return !cert.empty(); }
};

// The shared listener ([http]). See connection_front.hpp for how idle clients are parked.
struct HttpListenerConfig {
    uint64_t max_body_bytes = 64ull << 20;          // max_body_mb: default route body limit (413)
    size_t max_connections = 1024;                  // max_connections: open at once, parked + served
    std::chrono::milliseconds header_timeout{5000}; // header_timeout_s: connect → full request header (408)
    std::chrono::milliseconds idle_timeout{10000};  // idle_timeout_s: keep-alive wait for the next request
    std::chrono::milliseconds read_timeout{30000};  // read_timeout_s: longest pause inside a request body
    // max_active_handlers: module handlers running at once (0 = 4 per CPU core, at least 16).
    // A request whose body is read waits for one (up to read_timeout, then 503): what a
    // handler holds while it works (copies, inflated parts, inline metrics) is then bounded
    // by this count, not by the number of busy connections.
    size_t max_active_handlers = 0;
    HttpTlsConfig tls;
    std::string listen_unix;          // listen_unix: a Unix socket path serving the same routes
    unsigned listen_unix_mode = 0660; // listen_unix_mode: "0660" (octal text)
    std::string listen_unix_group;    // listen_unix_group: group owning the socket file
    // admin_tokens / admin_tokens_file: required on /metrics and /-/* paths (/health stays open).
    std::shared_ptr<const AccessPolicy> admin;
};

struct SinkConfig {
    std::string name;
    std::string type;
    std::vector<std::string> categories;   // empty = all
    std::vector<std::string> measurements; // empty = all
    nlohmann::json table;                  // the whole [[sinks]] table, for the sink itself
    std::string source;                    // "<file>: sinks[<i>]" for messages
    bool optional = false;                 // `optional = true`: failing to start does not make /health unready
    // [[sinks.relabel]] rules (a host key: the sink's own table does not carry it); null = none.
    std::shared_ptr<const trib::relabel::Rules> relabel;
};

struct HostConfig {
    std::string config_file; // empty: none given
    std::string conf_d;      // empty: none
    std::string listen = "0.0.0.0:9529";
    std::string listen_source = "listen"; // where `listen` came from, for messages
    std::string data_dir = "data";
    std::string plugins_dir;
    std::string log_level = "info";
    HttpListenerConfig http;
    // [limits] inflight_memory_mb: request bodies and inflated parts held at once, host-wide
    // (memory_budget.hpp); past it clients get 429, one request larger than it 413.
    uint64_t inflight_memory_bytes = 128ull << 20;
    std::vector<std::pair<std::string, std::string>> global_tags; // includes `host`
    BusConfig bus;
    AttachmentsConfig attachments;
    ElectionConfig election;
    std::vector<SinkConfig> sinks; // never empty after loading: default one file sink
    bool sinks_defaulted = false;
};

// Splits "HOST:PORT" ("[v6]:PORT", ":PORT" = all interfaces); false when malformed.
bool split_listen(const std::string &listen, std::string &host, uint16_t &port);

// Reads everything but the inputs. Problems are appended to `errors`; the result holds
// defaults where a value was wrong. default_plugins_dir: used when neither flag nor file
// sets one.
HostConfig load_host_config(const CliOptions &cli, const Env &env, const std::string &default_plugins_dir,
                            std::vector<std::string> &errors);

// What the config layer needs to know about a loaded input module.
struct InputModuleInfo {
    std::string name;
    std::string sample_config; // TOML with [[inputs.<name>]]
};

struct InputConfig {
    std::string module;
    std::string instance;                                  // "0", "1", ... per module, in file order
    nlohmann::json table;                                  // the [[inputs.<name>]] table after env overrides
    std::vector<std::pair<std::string, std::string>> tags; // the table's `tags`
    bool election = true;                                  // the table's `election` (default true)
    bool optional = false; // the table's `optional`: a failed start leaves /health ready
    // auth_tokens / auth_tokens_file / allow_cidrs: checked by the listener on this instance's
    // routes. The token keys are taken out of `table` (modules never see secrets); allow_cidrs
    // stays for modules that run their own server (pinpoint).
    std::shared_ptr<const AccessPolicy> access;
    std::string source; // file (or env variable) it came from
    // Set when an ENV_INPUT_<NAME>_<FIELD> value cannot be used: as DataKit does, that
    // instance stays off (reported like a failed start) and the rest of the host runs.
    std::string disabled_reason;
};

// Reads conf.d/**/*.conf, applies ENV_DEFAULT_ENABLED_INPUTS and ENV_INPUT_<NAME>_<FIELD>.
// Unknown input names are errors naming the file and key; warnings are for the log.
std::vector<InputConfig> load_input_configs(const HostConfig &host, const std::vector<InputModuleInfo> &modules,
                                            const Env &env, std::vector<std::string> &errors,
                                            std::vector<std::string> &warnings);

// ENV_INPUT_<NAME>_<FIELD> value converted to the type `key` has in `current` (or in the
// module's sample); throws std::invalid_argument naming the variable and the key.
nlohmann::json convert_env_value(const std::string &variable, const std::string &key, const std::string &value,
                                 const nlohmann::json *existing);

} // namespace trib::core
