#include "config.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <stdexcept>

namespace trib::pinpoint {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw std::invalid_argument("pinpoint: config key '" + key + "': " + why);
}

// Environment overrides arrive as strings; TOML gives typed values. Accept both.
bool as_bool(const json &v, const std::string &key) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_string()) {
        std::string s = v.get<std::string>();
        for (auto &c : s) c = char(std::tolower((unsigned char)c));
        if (s == "true" || s == "1" || s == "on" || s == "yes") return true;
        if (s == "false" || s == "0" || s == "off" || s == "no" || s.empty()) return false;
    }
    if (v.is_number_integer()) return v.get<int64_t>() != 0;
    bad(key, "expected a boolean, got " + v.dump());
}

double as_double(const json &v, const std::string &key) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
        const std::string s = v.get<std::string>();
        try {
            size_t used = 0;
            double d = std::stod(s, &used);
            if (used == s.size()) return d;
        } catch (const std::exception &) {}
    }
    bad(key, "expected a number, got " + v.dump());
}

uint64_t as_uint(const json &v, const std::string &key) {
    double d = as_double(v, key);
    if (!(d >= 0) || d > 9.0e15 || std::floor(d) != d) bad(key, "expected a non-negative integer, got " + v.dump());
    return uint64_t(d);
}

std::string as_string(const json &v, const std::string &key) {
    if (v.is_string()) return v.get<std::string>();
    bad(key, "expected a string, got " + v.dump());
}

// A list of strings, or (from ENV_INPUT_*) one comma-separated string.
std::vector<std::string> as_string_list(const json &v, const std::string &key) {
    std::vector<std::string> out;
    if (v.is_string()) {
        std::string s = v.get<std::string>();
        size_t pos = 0;
        while (pos <= s.size()) {
            size_t comma = s.find(',', pos);
            if (comma == std::string::npos) comma = s.size();
            std::string item = s.substr(pos, comma - pos);
            item.erase(0, item.find_first_not_of(" \t"));
            item.erase(item.find_last_not_of(" \t") + 1);
            if (!item.empty()) out.push_back(item);
            pos = comma + 1;
        }
        return out;
    }
    if (!v.is_array()) bad(key, "expected a list of strings, got " + v.dump());
    for (auto &e : v) out.push_back(as_string(e, key));
    return out;
}

// Tables may come from TOML (an object) or from an ENV_INPUT_* JSON string.
json as_table(const json &v, const std::string &key) {
    if (v.is_object()) return v;
    if (v.is_string()) {
        json parsed = json::parse(v.get<std::string>(), nullptr, false);
        if (parsed.is_object()) return parsed;
        bad(key, "expected a table or a JSON object, got " + v.dump());
    }
    bad(key, "expected a table, got " + v.dump());
}

void parse_sampler(Config &c, const json &v) {
    double rate;
    if (v.is_object() || (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>()[0] == '{')) {
        json t = as_table(v, "sampler");
        if (!t.contains("sampling_rate")) return;
        rate = as_double(t["sampling_rate"], "sampler.sampling_rate");
    } else {
        rate = as_double(v, "sampler"); // ENV_INPUT_PINPOINT_SAMPLER=0.3
    }
    if (!(rate >= 0.0 && rate <= 1.0)) bad("sampler.sampling_rate", "must be within [0, 1]");
    c.sampling_rate = rate;
}

} // namespace

Config parse_config(const std::string &json_text, const EnvLookup &env) {
    Config c;
    json root = json_text.empty() ? json::object() : json::parse(json_text, nullptr, false);
    if (root.is_discarded() || !root.is_object()) throw std::invalid_argument("pinpoint: config is not a JSON object");

    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string &key = it.key();
        const json &v = it.value();
        if (key == "address") {
            c.address = as_string(v, key);
        } else if (key == "keep_rare_resource") {
            c.keep_rare_resource = as_bool(v, key);
        } else if (key == "del_message") {
            c.del_message = as_bool(v, key);
        } else if (key == "close_resource") {
            json t = as_table(v, key);
            for (auto r = t.begin(); r != t.end(); ++r) {
                CloseResourceRule rule;
                rule.service = r.key();
                if (!r.value().is_array()) bad("close_resource." + r.key(), "expected a list of regular expressions");
                for (auto &p : r.value()) {
                    std::string pat = as_string(p, "close_resource." + r.key());
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
        } else if (key == "sampler") {
            parse_sampler(c, v);
        } else if (key == "storage") {
            json t = as_table(v, key);
            // DataKit's TOML says `path`; its ENV_INPUT_PINPOINT_STORAGE example says `storage`.
            if (t.contains("path")) c.storage_path = as_string(t["path"], "storage.path");
            else if (t.contains("storage")) c.storage_path = as_string(t["storage"], "storage.storage");
            if (t.contains("capacity")) c.storage_capacity_mb = as_uint(t["capacity"], "storage.capacity");
            if (c.storage_capacity_mb == 0) bad("storage.capacity", "must be positive (MB)");
        } else if (key == "trace_wait_ms") {
            c.trace_wait_ms = as_uint(v, key);
        } else if (key == "trace_memory_mb") {
            c.trace_memory_mb = as_uint(v, key);
            if (c.trace_memory_mb == 0) bad(key, "must be positive");
        } else if (key == "max_span_events") {
            c.max_span_events = as_uint(v, key);
            if (c.max_span_events == 0) bad(key, "must be positive");
        } else if (key == "max_message_mb") {
            c.max_message_mb = as_uint(v, key);
            if (c.max_message_mb == 0 || c.max_message_mb > 1024) bad(key, "must be within 1..1024");
        } else if (key == "metadata_max_entries") {
            c.metadata_max_entries = as_uint(v, key);
        } else if (key == "allow_cidrs") {
            try {
                c.allow_cidrs = access::CidrList(as_string_list(v, key));
            } catch (const std::invalid_argument &e) {
                bad(key, e.what());
            }
        } else if (key == "allow_applications") {
            for (auto &a : as_string_list(v, key)) c.allow_applications.insert(a);
        } else if (key == "allow_agent_ids") {
            for (auto &a : as_string_list(v, key)) c.allow_agent_ids.insert(a);
        } else if (key == "tls_address") {
            c.tls_address = as_string(v, key);
        } else if (key == "tls_cert") {
            c.tls_cert = as_string(v, key);
        } else if (key == "tls_key") {
            c.tls_key = as_string(v, key);
        } else if (key == "tls_client_ca") {
            c.tls_client_ca = as_string(v, key);
        }
        // `tags` and `election` belong to the host; other keys are ignored as DataKit does.
    }

    // ENV_INPUT_PINPOINT_SAMPLER holds a bare rate for the key sampler.sampling_rate; the
    // environment beats the file.
    if (env) {
        if (const char *s = env("ENV_INPUT_PINPOINT_SAMPLER"); s && *s) parse_sampler(c, json(std::string(s)));
    }
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
