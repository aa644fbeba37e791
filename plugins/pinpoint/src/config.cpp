#include "config.hpp"

#include <tributary/config_map.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace trib::pinpoint {
namespace {

using nlohmann::json;
using trib::config::ConfigMap;

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw std::invalid_argument("inputs.pinpoint: key '" + key + "': " + why);
}

ConfigMap build_config_map() {
    auto m = ConfigMap::input("pinpoint");
    m.string("address", "0.0.0.0:9991", "the gRPC collector's address (span, agent, stat, metadata); \"\" = default");
    m.boolean("keep_rare_resource", false, "DataKit's rare-resource keeping switch (accepted)");
    m.boolean("del_message", false, "leave the raw message out of trace points");
    m.table("close_resource", false, "service -> regular expressions of resources to drop (\"*\" = any service)");
    ConfigMap sampler;
    sampler.number("sampling_rate", std::nullopt, "share of traces kept; absent = every trace").within(0, 1);
    m.section("sampler", std::move(sampler), false, "global sampling (ENV_INPUT_PINPOINT_SAMPLER: a bare rate)");
    m.table("tags", true, "added to every point of this instance (by the host)");
    ConfigMap storage;
    storage.string("path", "", "disk queue directory (relative: inside the instance's data dir); \"\" = none")
        .alias("storage"); // DataKit's ENV_INPUT_PINPOINT_STORAGE example spells it `storage`
    storage.integer("capacity", 5120, "disk queue size in MB").at_least(1);
    m.section("storage", std::move(storage), false, "received messages are queued on disk before processing");
    m.integer("trace_wait_ms", 30000, "how long spans and chunks wait for the rest of their trace").at_least(0);
    m.integer("trace_memory_mb", 32, "memory the input holds for received spans (past it, RESOURCE_EXHAUSTED)")
        .at_least(1);
    m.integer("max_span_events", 20000, "a span or chunk with more events is refused").at_least(1);
    m.integer("max_message_mb", 16, "gRPC receive limit per message").within(1, 1024);
    m.integer("receive_memory_mb", 16, "gRPC receive buffers of all connections (past it, agents wait)")
        .within(1, 4096);
    m.integer("metadata_max_entries", 2000000, "API/SQL/string metadata entries kept").at_least(0);
    m.string_list("allow_cidrs", {}, "source networks allowed to send (empty = any)");
    m.string_list("allow_applications", {}, "applicationname headers allowed (empty = any)");
    m.string_list("allow_agent_ids", {}, "agentid headers allowed (empty = any)");
    m.string("tls_address", "", "a second port serving the same services over TLS");
    m.string("tls_cert", "", "PEM certificate chain for tls_address");
    m.string("tls_key", "", "PEM private key for tls_address");
    m.string("tls_client_ca", "", "PEM CAs; set = clients must present a certificate");
    return m;
}

// `sampler` may be a bare rate (ENV_INPUT_PINPOINT_SAMPLER=0.3, DataKit's spelling) instead
// of the [inputs.pinpoint.sampler] table.
void sampler_as_table(json &root) {
    auto it = root.find("sampler");
    if (it == root.end()) return;
    bool bare =
        it->is_number() ||
        (it->is_string() && (it->get<std::string>().empty() || it->get<std::string>().find('{') == std::string::npos));
    if (bare) *it = json{{"sampling_rate", *it}};
}

} // namespace

const trib::config::ConfigMap &config_map() {
    static const ConfigMap map = build_config_map();
    return map;
}

Config parse_config(const std::string &json_text, const EnvLookup &env) {
    json root = json_text.empty() ? json::object() : json::parse(json_text, nullptr, false);
    if (root.is_discarded() || !root.is_object())
        throw std::invalid_argument("inputs.pinpoint: config is not a JSON object");
    // ENV_INPUT_PINPOINT_SAMPLER beats the file; it is read here because the host cannot
    // give a bare rate the type of the file's [sampler] table.
    if (env)
        if (const char *s = env("ENV_INPUT_PINPOINT_SAMPLER"); s && *s) root["sampler"] = std::string(s);
    sampler_as_table(root);
    trib::config::Values v = config_map().parse_object(root);

    Config c;
    c.address = v.string("address");
    c.keep_rare_resource = v.boolean("keep_rare_resource");
    c.del_message = v.boolean("del_message");
    const json &rules = v.table("close_resource");
    for (auto r = rules.begin(); r != rules.end(); ++r) {
        CloseResourceRule rule;
        rule.service = r.key();
        if (!r.value().is_array()) bad("close_resource." + r.key(), "expected a list of regular expressions");
        for (auto &p : r.value()) {
            if (!p.is_string()) bad("close_resource." + r.key(), "expected a string, got " + p.dump());
            std::string pat = p.get<std::string>();
            try {
                rule.regexes.emplace_back(pat, std::regex::ECMAScript | std::regex::optimize);
                rule.patterns.push_back(std::move(pat));
            } catch (const std::regex_error &e) {
                c.warnings.push_back("pinpoint: close_resource." + r.key() + ": pattern '" + pat +
                                     "' skipped, not a regular expression: " + e.what());
            }
        }
        c.close_resource.push_back(std::move(rule));
    }
    if (const auto &sampler = v.section("sampler"); sampler.has("sampling_rate"))
        c.sampling_rate = sampler.number("sampling_rate");
    c.storage_path = v.section("storage").string("path");
    c.storage_capacity_mb = uint64_t(v.section("storage").integer("capacity"));
    c.trace_wait_ms = uint64_t(v.integer("trace_wait_ms"));
    c.trace_memory_mb = uint64_t(v.integer("trace_memory_mb"));
    c.max_span_events = uint64_t(v.integer("max_span_events"));
    c.max_message_mb = uint64_t(v.integer("max_message_mb"));
    c.receive_memory_mb = uint64_t(v.integer("receive_memory_mb"));
    c.metadata_max_entries = uint64_t(v.integer("metadata_max_entries"));
    try {
        c.allow_cidrs = access::CidrList(v.strings("allow_cidrs"));
    } catch (const std::invalid_argument &e) {
        bad("allow_cidrs", e.what());
    }
    for (auto &a : v.strings("allow_applications")) c.allow_applications.insert(a);
    for (auto &a : v.strings("allow_agent_ids")) c.allow_agent_ids.insert(a);
    c.tls_address = v.string("tls_address");
    c.tls_cert = v.string("tls_cert");
    c.tls_key = v.string("tls_key");
    c.tls_client_ca = v.string("tls_client_ca");

    if (c.tls_cert.empty() != c.tls_key.empty()) bad("tls_cert", "set tls_cert and tls_key together");
    if (!c.tls_cert.empty() && c.tls_address.empty()) bad("tls_address", "needed with tls_cert (the TLS port)");
    if (c.tls_cert.empty() && !c.tls_address.empty()) bad("tls_address", "needs tls_cert and tls_key");
    if (!c.tls_client_ca.empty() && c.tls_cert.empty()) bad("tls_client_ca", "needs tls_cert and tls_key");
    // DataKit's sample ships `address = ""`: the default port, as DataKit listens then. With a
    // TLS port configured, an empty `address` means TLS only.
    if (c.address.empty() && c.tls_address.empty()) c.address = Config{}.address;
    return c;
}

} // namespace trib::pinpoint
