#include "config.hpp"

#include "config/install_paths.hpp"
#include "config/toml_json.hpp"
#include "host/log.hpp"
#include "spool/upstream_http.hpp"

#include <tributary/relabel/relabel.hpp>

#include <cpptoml.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <stdexcept>

extern char **environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace trib::core {

Env current_env() {
    Env env;
    for (char **e = environ; e && *e; ++e) {
        std::string kv(*e);
        size_t eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return env;
}

bool split_listen(const std::string &listen, std::string &host, uint16_t &port) {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string p = listen.substr(colon + 1);
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), ::isdigit)) return false;
    unsigned long v = std::stoul(p);
    if (v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    if (host.empty()) host = "0.0.0.0";
    return true;
}

namespace {

std::string machine_hostname() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

bool parse_bool_text(std::string v, bool &out) {
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    if (v == "true" || v == "1" || v == "on" || v == "yes" || v == "t") {
        out = true;
        return true;
    }
    if (v == "false" || v == "0" || v == "off" || v == "no" || v == "f" || v.empty()) {
        out = false;
        return true;
    }
    return false;
}

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return std::string();
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string &s) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t c = s.find(',', pos);
        if (c == std::string::npos) c = s.size();
        std::string item = trim(s.substr(pos, c - pos));
        if (!item.empty()) out.push_back(item);
        pos = c + 1;
    }
    return out;
}

// Typed reads from a JSON table, recording "<where>: key '<k>': expected ..." errors.
struct TableReader {
    const json &t;
    std::string where;
    std::vector<std::string> &errors;

    bool has(const char *k) const { return t.is_object() && t.contains(k); }
    void known_keys(std::initializer_list<const char *> keys) const {
        for (auto it = t.begin(); it != t.end(); ++it) {
            bool known = false;
            std::string list;
            for (const char *k : keys) {
                known |= it.key() == k;
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            if (!known) errors.push_back(where + ": key '" + it.key() + "': unknown key (known: " + list + ")");
        }
    }
    void bad(const std::string &k, const std::string &expected) const {
        errors.push_back(where + ": key '" + k + "': expected " + expected + ", got " + json_type_name(t.at(k)));
    }
    void str(const char *k, std::string &out) const {
        if (!has(k)) return;
        if (t.at(k).is_string()) out = t.at(k).get<std::string>();
        else bad(k, "a string");
    }
    void boolean(const char *k, bool &out) const {
        if (!has(k)) return;
        if (t.at(k).is_boolean()) out = t.at(k).get<bool>();
        else bad(k, "a boolean");
    }
    bool positive_int(const char *k, int64_t &out) const {
        if (!has(k)) return false;
        if (t.at(k).is_number_integer() && t.at(k).get<int64_t>() > 0) {
            out = t.at(k).get<int64_t>();
            return true;
        }
        errors.push_back(where + ": key '" + k + "': expected a positive integer");
        return false;
    }
    void string_list(const char *k, std::vector<std::string> &out) const {
        if (!has(k)) return;
        const json &v = t.at(k);
        if (!v.is_array()) return bad(k, "a list of strings");
        std::vector<std::string> tmp;
        for (auto &e : v) {
            if (!e.is_string()) return bad(k, "a list of strings");
            tmp.push_back(e.get<std::string>());
        }
        out = std::move(tmp);
    }
    void string_table(const char *k, std::vector<std::pair<std::string, std::string>> &out) const {
        if (!has(k)) return;
        const json &v = t.at(k);
        if (!v.is_object()) return bad(k, "a table of strings");
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!it.value().is_string()) {
                errors.push_back(where + ": key '" + std::string(k) + "." + it.key() + "': expected a string, got " +
                                 json_type_name(it.value()));
                continue;
            }
            out.emplace_back(it.key(), it.value().get<std::string>());
        }
    }
};

// Tokens (inline list and/or a file, one a line) and an address allow-list; null when the
// table sets none of them. Errors name the key and file, never a token.
std::shared_ptr<const AccessPolicy> read_access(const TableReader &r, const char *tokens_key, const char *file_key,
                                                const char *cidrs_key) {
    auto policy = std::make_shared<AccessPolicy>();
    r.string_list(tokens_key, policy->tokens);
    std::string file;
    r.str(file_key, file);
    if (!file.empty()) {
        try {
            for (auto &t : access::read_token_file(file)) policy->tokens.push_back(t);
        } catch (const std::exception &e) {
            r.errors.push_back(r.where + ": key '" + file_key + "': " + e.what());
        }
    }
    for (auto &t : policy->tokens)
        if (t.empty()) {
            r.errors.push_back(r.where + ": key '" + tokens_key + "': empty token");
            break;
        }
    if (cidrs_key) {
        std::vector<std::string> cidrs;
        r.string_list(cidrs_key, cidrs);
        try {
            policy->allow = access::CidrList(cidrs);
        } catch (const std::exception &e) {
            r.errors.push_back(r.where + ": key '" + cidrs_key + "': " + e.what());
        }
    }
    if (policy->empty()) return nullptr;
    return policy;
}

void set_tag(std::vector<std::pair<std::string, std::string>> &tags, const std::string &k, const std::string &v) {
    for (auto &kv : tags)
        if (kv.first == k) {
            kv.second = v;
            return;
        }
    tags.emplace_back(k, v);
}

void read_election(const json &t, const std::string &where, ElectionConfig &e, std::vector<std::string> &errors) {
    if (!t.is_object()) {
        errors.push_back(where + ": key 'election': expected a table, got " + json_type_name(t));
        return;
    }
    TableReader r{t, where + ": [election]", errors};
    e.table = t;
    r.boolean("enable", e.enable);
    r.str("backend", e.backend);
    r.string_list("endpoints", e.endpoints);
    r.str("namespace", e.ns);
    if (r.has("lease_ttl")) {
        // A duration ("5s", "1500ms") or a number of seconds; etcd counts whole seconds.
        const json &v = t.at("lease_ttl");
        try {
            std::chrono::milliseconds ttl{0};
            if (v.is_number()) ttl = std::chrono::milliseconds(static_cast<int64_t>(v.get<double>() * 1000));
            else if (v.is_string()) ttl = parse_duration(v.get<std::string>());
            else throw std::invalid_argument("expected a duration such as \"5s\", got " + json_type_name(v));
            if (ttl < std::chrono::seconds(1)) throw std::invalid_argument("must be at least 1s");
            e.lease_ttl_s = static_cast<int>((ttl.count() + 999) / 1000);
        } catch (const std::invalid_argument &ex) {
            errors.push_back(where + ": [election] key 'lease_ttl': " + ex.what());
        }
    }
    // Host names allowed to lead (DataKit's node_whitelist); empty: every host.
    r.string_list("whitelist", e.whitelist);
    r.string_list("node_whitelist", e.whitelist);
    if (e.backend != "none" && e.backend != "etcd")
        errors.push_back(where + ": [election] key 'backend': unknown backend '" + e.backend + "' (none, etcd)");
}

void read_sinks(const json &v, const std::string &where, HostConfig &cfg, std::vector<std::string> &errors) {
    if (!v.is_array()) {
        errors.push_back(where + ": key 'sinks': expected [[sinks]] tables, got " + json_type_name(v));
        return;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < v.size(); ++i) {
        std::string src = where + ": sinks[" + std::to_string(i) + "]";
        const json &t = v[i];
        if (!t.is_object()) {
            errors.push_back(src + ": expected a table");
            continue;
        }
        SinkConfig s;
        s.table = t;
        s.source = src;
        TableReader r{t, src, errors};
        r.str("type", s.type);
        if (s.type.empty()) {
            errors.push_back(src + ": key 'type': missing (file, stdout, influxdb, dataway or a sink module's name)");
            continue;
        }
        s.name = s.type;
        r.str("name", s.name);
        r.string_list("categories", s.categories);
        r.string_list("measurements", s.measurements);
        // A host key: the sink itself never sees it.
        r.boolean("optional", s.optional);
        s.table.erase("optional");
        if (t.contains("relabel")) {
            try {
                auto rules = std::make_shared<trib::relabel::Rules>(trib::relabel::parse_rules(t.at("relabel")));
                if (!rules->empty()) s.relabel = std::move(rules);
            } catch (const trib::relabel::RuleError &e) {
                errors.push_back(src + ": " + e.what());
            }
            s.table.erase("relabel");
        }
        if (t.contains("spool") && !t.at("spool").is_object())
            errors.push_back(src + ": key 'spool': expected a table ([sinks.spool]), got " +
                             json_type_name(t.at("spool")));
        if (!names.insert(s.name).second) {
            errors.push_back(src + ": key 'name': sink name '" + s.name + "' is used twice");
            continue;
        }
        cfg.sinks.push_back(std::move(s));
    }
}

// DataKit's upstream as a DataKit deployment declares it: `[dataway] urls` in the main
// config, ENV_DATAWAY (comma-separated URLs) over it, ENV_DATAWAY_MAX_RAW_BODY_SIZE (bytes)
// and ENV_DATAWAY_ENABLE_SINKER. It becomes a `dataway` sink named "dataway"; a [[sinks]]
// table of type "dataway" named so takes the env URLs instead of a second sink. With it,
// the file sink is no longer the implicit default (the data goes where DataKit's would).
void add_datakit_dataway(const json &file, const std::string &where, const Env &env, HostConfig &cfg,
                         std::vector<std::string> &errors) {
    json table = json::object();
    std::string source;
    if (file.contains("dataway")) {
        const json &d = file.at("dataway");
        if (!d.is_object()) {
            errors.push_back(where + ": key 'dataway': expected a table, got " + json_type_name(d));
            return;
        }
        table = d;
        source = where + ": [dataway]";
        if (table.contains("max_raw_body_size")) {
            const json &v = table.at("max_raw_body_size");
            if (!v.is_number_integer() || v.get<int64_t>() < 1)
                errors.push_back(source + " key 'max_raw_body_size': expected a positive number of bytes");
            else table["max_raw_body_kb"] = (v.get<int64_t>() + 1023) / 1024;
            table.erase("max_raw_body_size");
        }
    }
    auto env_get = [&](const char *k) -> const std::string * {
        auto it = env.find(k);
        return it == env.end() || trim(it->second).empty() ? nullptr : &it->second;
    };
    if (auto v = env_get("ENV_DATAWAY")) {
        table["urls"] = split_list(*v);
        source = "ENV_DATAWAY";
    }
    if (source.empty()) return; // no DataKit upstream declared
    if (auto v = env_get("ENV_DATAWAY_MAX_RAW_BODY_SIZE")) {
        try {
            size_t used = 0;
            long long bytes = std::stoll(trim(*v), &used);
            if (used != trim(*v).size() || bytes < 1) throw std::invalid_argument("not positive");
            table["max_raw_body_kb"] = (bytes + 1023) / 1024;
        } catch (const std::exception &) {
            errors.push_back("ENV_DATAWAY_MAX_RAW_BODY_SIZE: value '" + *v + "': expected a positive number of bytes");
        }
    }
    if (auto v = env_get("ENV_DATAWAY_ENABLE_SINKER")) {
        bool b = false;
        if (parse_bool_text(*v, b)) table["enable_sinker"] = b;
        else errors.push_back("ENV_DATAWAY_ENABLE_SINKER: value '" + *v + "': expected true or false");
    }
    if (!table.contains("urls") || !table.at("urls").is_array() || table.at("urls").empty()) {
        errors.push_back(source + ": key 'urls': expected a list of dataway URLs such as "
                                  "[\"https://openway.guance.com?token=tkn_...\"]");
        return;
    }
    for (auto &s : cfg.sinks)
        if (s.type == "dataway" && s.name == "dataway") {
            s.table["urls"] = table["urls"];
            s.table.erase("url");
            s.source += " (urls from " + source + ")";
            return;
        }
    table["type"] = "dataway";
    table["name"] = "dataway";
    SinkConfig s;
    s.type = "dataway";
    s.name = "dataway";
    s.table = std::move(table);
    s.source = source;
    cfg.sinks.push_back(std::move(s));
}

} // namespace

namespace {

void read_http_security(const TableReader &r, HttpListenerConfig &http) {
    r.str("tls_cert", http.tls.cert);
    r.str("tls_key", http.tls.key);
    r.str("tls_client_ca", http.tls.client_ca);
    r.str("tls_min_version", http.tls.min_version);
    if (http.tls.min_version != "1.2" && http.tls.min_version != "1.3")
        r.errors.push_back(r.where + ": key 'tls_min_version': expected \"1.2\" or \"1.3\", got \"" +
                           http.tls.min_version + "\"");
    if (http.tls.cert.empty() != http.tls.key.empty())
        r.errors.push_back(r.where + ": keys 'tls_cert' and 'tls_key': set both or neither");
    if (!http.tls.client_ca.empty() && http.tls.cert.empty())
        r.errors.push_back(r.where + ": key 'tls_client_ca': needs tls_cert and tls_key");
    r.str("listen_unix", http.listen_unix);
    std::string mode;
    r.str("listen_unix_mode", mode);
    if (!mode.empty()) {
        if (mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos)
            r.errors.push_back(r.where + ": key 'listen_unix_mode': expected octal text like \"0660\", got \"" + mode +
                               "\"");
        else http.listen_unix_mode = static_cast<unsigned>(std::stoul(mode, nullptr, 8));
    }
    r.str("listen_unix_group", http.listen_unix_group);
    http.admin = read_access(r, "admin_tokens", "admin_tokens_file", nullptr);
}

} // namespace

HostConfig load_host_config(const CliOptions &cli, const Env &env, const std::string &default_plugins_dir,
                            std::vector<std::string> &errors) {
    HostConfig cfg;
    cfg.plugins_dir = default_plugins_dir;
    cfg.data_dir = default_paths().data_dir;
    json file = json::object();
    std::string where = "tributary.conf";
    if (cli.config_file) {
        cfg.config_file = *cli.config_file;
        where = cfg.config_file;
        try {
            file = toml_table_to_json(parse_toml_file(cfg.config_file));
        } catch (const std::exception &e) {
            errors.push_back(e.what());
        }
        fs::path conf_d = fs::path(cfg.config_file).parent_path() / "conf.d";
        if (conf_d.parent_path().empty()) conf_d = fs::path(".") / "conf.d";
        cfg.conf_d = conf_d.string();
    }

    // ---- the file
    static const std::set<std::string> known_keys = {"listen", "data_dir", "plugins_dir", "global_tags",
                                                     "bus",    "election", "sinks",       "log_level",
                                                     "http",   "limits",   "dataway",     "attachments"};
    for (auto it = file.begin(); it != file.end(); ++it)
        if (!known_keys.count(it.key()))
            errors.push_back(where + ": key '" + it.key() +
                             "': unknown key (known: listen, data_dir, plugins_dir, "
                             "log_level, [global_tags], [http], [limits], [bus], [attachments], [election], [dataway], "
                             "[[sinks]])");
    TableReader top{file, where, errors};
    top.str("listen", cfg.listen);
    if (file.contains("listen")) cfg.listen_source = where + ": key 'listen'";
    top.str("data_dir", cfg.data_dir);
    top.str("plugins_dir", cfg.plugins_dir);
    top.str("log_level", cfg.log_level);
    top.string_table("global_tags", cfg.global_tags);
    if (file.contains("http")) {
        const json &h = file.at("http");
        if (!h.is_object()) errors.push_back(where + ": key 'http': expected a table, got " + json_type_name(h));
        else {
            TableReader r{h, where + ": [http]", errors};
            r.known_keys({"max_body_mb", "max_connections", "header_timeout_s", "idle_timeout_s", "read_timeout_s",
                          "max_active_handlers", "tls_cert", "tls_key", "tls_client_ca", "tls_min_version",
                          "listen_unix", "listen_unix_mode", "listen_unix_group", "admin_tokens", "admin_tokens_file"});
            read_http_security(r, cfg.http);
            int64_t v = 0;
            if (r.positive_int("max_body_mb", v)) cfg.http.max_body_bytes = static_cast<uint64_t>(v) << 20;
            if (r.positive_int("max_connections", v)) cfg.http.max_connections = static_cast<size_t>(v);
            if (r.positive_int("header_timeout_s", v)) cfg.http.header_timeout = std::chrono::seconds(v);
            if (r.positive_int("idle_timeout_s", v)) cfg.http.idle_timeout = std::chrono::seconds(v);
            if (r.positive_int("read_timeout_s", v)) cfg.http.read_timeout = std::chrono::seconds(v);
            if (r.positive_int("max_active_handlers", v)) cfg.http.max_active_handlers = static_cast<size_t>(v);
        }
    }
    if (file.contains("limits")) {
        const json &l = file.at("limits");
        if (!l.is_object()) errors.push_back(where + ": key 'limits': expected a table, got " + json_type_name(l));
        else {
            TableReader r{l, where + ": [limits]", errors};
            r.known_keys({"inflight_memory_mb"});
            int64_t v = 0;
            if (r.positive_int("inflight_memory_mb", v)) cfg.inflight_memory_bytes = static_cast<uint64_t>(v) << 20;
        }
    }
    if (file.contains("bus")) {
        const json &b = file.at("bus");
        if (!b.is_object()) errors.push_back(where + ": key 'bus': expected a table, got " + json_type_name(b));
        else {
            TableReader r{b, where + ": [bus]", errors};
            int64_t v = 0;
            if (r.positive_int("max_memory_mb", v)) cfg.bus.max_memory_bytes = static_cast<uint64_t>(v) << 20;
            if (r.positive_int("shutdown_timeout_ms", v)) cfg.bus.shutdown_timeout = std::chrono::milliseconds(v);
            if (r.positive_int("retry_initial_ms", v)) cfg.bus.retry_initial = std::chrono::milliseconds(v);
            if (r.positive_int("retry_max_ms", v)) cfg.bus.retry_max = std::chrono::milliseconds(v);
            if (r.positive_int("max_write_points", v)) cfg.bus.max_write_points = static_cast<size_t>(v);
            if (r.positive_int("max_write_mb", v)) cfg.bus.max_write_bytes = static_cast<uint64_t>(v) << 20;
        }
    }
    if (file.contains("attachments")) {
        const json &a = file.at("attachments");
        if (!a.is_object()) errors.push_back(where + ": key 'attachments': expected a table, got " + json_type_name(a));
        else {
            TableReader r{a, where + ": [attachments]", errors};
            r.known_keys({"max_size_mb", "max_age"});
            int64_t v = 0;
            if (r.positive_int("max_size_mb", v)) cfg.attachments.max_size_bytes = static_cast<uint64_t>(v) << 20;
            if (r.has("max_age")) {
                const json &d = a.at("max_age");
                try {
                    if (!d.is_string())
                        throw std::invalid_argument("expected a duration such as \"168h\", got " + json_type_name(d));
                    auto age = parse_duration(d.get<std::string>());
                    if (age < std::chrono::seconds(1)) throw std::invalid_argument("must be at least 1s");
                    cfg.attachments.max_age = std::chrono::duration_cast<std::chrono::seconds>(age);
                } catch (const std::invalid_argument &ex) {
                    errors.push_back(where + ": [attachments] key 'max_age': " + ex.what());
                }
            }
        }
    }
    if (file.contains("election")) read_election(file.at("election"), where, cfg.election, errors);
    if (file.contains("sinks")) read_sinks(file.at("sinks"), where, cfg, errors);
    if (!cfg.log_level.empty() && log_level_known(cfg.log_level) == false)
        errors.push_back(where + ": key 'log_level': unknown level '" + cfg.log_level + "' (debug, info, warn, error)");

    // ---- the environment
    auto env_get = [&](const char *k) -> const std::string * {
        auto it = env.find(k);
        return it == env.end() ? nullptr : &it->second;
    };
    if (auto v = env_get("ENV_HTTP_LISTEN"); v && !v->empty()) {
        cfg.listen = *v;
        cfg.listen_source = "ENV_HTTP_LISTEN";
    }
    if (auto v = env_get("ENV_GLOBAL_HOST_TAGS")) {
        for (auto &item : split_list(*v)) {
            size_t eq = item.find('=');
            if (eq == std::string::npos || eq == 0)
                errors.push_back("ENV_GLOBAL_HOST_TAGS: item '" + item + "': expected key=value");
            else set_tag(cfg.global_tags, trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
        }
    }
    if (auto v = env_get("ENV_ENABLE_ELECTION")) {
        bool b = false;
        if (parse_bool_text(*v, b)) cfg.election.enable = b;
        else errors.push_back("ENV_ENABLE_ELECTION: value '" + *v + "': expected true or false");
    }
    if (auto v = env_get("ENV_NAMESPACE"); v && !v->empty()) cfg.election.ns = *v;
    if (auto v = env_get("ENV_ELECTION_NODE_WHITELIST"); v && !trim(*v).empty()) {
        // As DataKit: a JSON list '["node-a","node-b"]' or node-a,node-b.
        const std::string text = trim(*v);
        if (text.front() == '[') {
            json list;
            try {
                list = parse_json_bounded(text);
            } catch (const std::exception &) {
                list = nullptr;
            }
            bool ok = list.is_array();
            std::vector<std::string> names;
            if (ok)
                for (auto &item : list) {
                    if (!item.is_string()) {
                        ok = false;
                        break;
                    }
                    names.push_back(item.get<std::string>());
                }
            if (ok) cfg.election.whitelist = std::move(names);
            else
                errors.push_back("ENV_ELECTION_NODE_WHITELIST: value '" + text +
                                 "': expected a JSON list of host names or name,name");
        } else {
            cfg.election.whitelist = split_list(text);
        }
    }
    if (auto v = env_get("TRIBUTARY_LOG_LEVEL"); v && !v->empty()) cfg.log_level = *v;
    add_datakit_dataway(file, where, env, cfg, errors);

    // ---- the flags
    if (cli.listen) {
        cfg.listen = *cli.listen;
        cfg.listen_source = "--listen";
    }
    if (cli.data_dir) cfg.data_dir = *cli.data_dir;
    if (cli.plugins_dir) cfg.plugins_dir = *cli.plugins_dir;
    if (cli.conf_d) cfg.conf_d = *cli.conf_d;

    // DataKit elects through its dataway; we elect through etcd. Every host leading at once
    // would run each pull job N times, so an election without a backend is refused.
    if (cfg.election.enable && cfg.election.backend == "none")
        errors.push_back(std::string(cfg.config_file.empty() ? "election" : cfg.config_file) +
                         ": election is enabled ([election] enable or ENV_ENABLE_ELECTION) but no backend is "
                         "configured: set [election] backend = \"etcd\" and endpoints = [\"http://HOST:2379\"], "
                         "or turn election off");

    std::string h;
    uint16_t p = 0;
    // `listen = ""` with [http] listen_unix: the Unix socket only.
    bool unix_only = cfg.listen.empty() && !cfg.http.listen_unix.empty();
    if (!unix_only && !split_listen(cfg.listen, h, p))
        errors.push_back(cfg.listen_source + ": '" + cfg.listen + "' is not HOST:PORT (port 1-65535)");

    bool has_host = false;
    for (auto &kv : cfg.global_tags) has_host |= kv.first == "host";
    if (!has_host) cfg.global_tags.emplace_back("host", machine_hostname());
    for (auto &kv : cfg.global_tags)
        if (kv.first == "host") cfg.election.host_id = kv.second;

    if (cfg.sinks.empty()) {
        SinkConfig s;
        s.name = "file";
        s.type = "file";
        s.table = json{{"name", "file"}, {"type", "file"}};
        s.source = "default sink";
        cfg.sinks.push_back(std::move(s));
        cfg.sinks_defaulted = true;
    }
    return cfg;
}

// ------------------------------------------------------------------ inputs

json convert_env_value(const std::string &variable, const std::string &key, const std::string &value,
                       const json *existing) {
    auto fail = [&](const std::string &why) { throw std::invalid_argument(variable + ": key '" + key + "': " + why); };
    auto parse_json = [&](const char *expected) -> json {
        try {
            return parse_json_bounded(value);
        } catch (const std::exception &e) {
            fail(std::string("expected ") + expected + " as JSON: " + e.what());
        }
        return json();
    };
    if (existing && !existing->is_null()) {
        if (existing->is_object()) {
            json j = parse_json("a table (JSON object)");
            if (!j.is_object()) fail("expected a table (JSON object), got " + json_type_name(j));
            return j;
        }
        if (existing->is_array()) {
            json j = parse_json("a list (JSON array)");
            if (!j.is_array()) fail("expected a list (JSON array), got " + json_type_name(j));
            return j;
        }
        if (existing->is_boolean()) {
            bool b = false;
            if (!parse_bool_text(value, b)) fail("expected a boolean, got '" + value + "'");
            return b;
        }
        if (existing->is_number_integer()) {
            try {
                size_t used = 0;
                long long v = std::stoll(trim(value), &used);
                if (used != trim(value).size()) throw std::invalid_argument("trailing");
                return static_cast<int64_t>(v);
            } catch (const std::exception &) {
                fail("expected an integer, got '" + value + "'");
            }
        }
        if (existing->is_number_float()) {
            try {
                size_t used = 0;
                double v = std::stod(trim(value), &used);
                if (used != trim(value).size()) throw std::invalid_argument("trailing");
                return v;
            } catch (const std::exception &) {
                fail("expected a number, got '" + value + "'");
            }
        }
        return value; // strings (and dates) stay text
    }
    // A key the config does not have yet: a JSON table or list when it parses as one.
    std::string t = trim(value);
    if (!t.empty() && (t.front() == '{' || t.front() == '[')) {
        try {
            return parse_json_bounded(t);
        } catch (const std::exception &e) {
            fail(std::string("looks like JSON but does not parse: ") + e.what());
        }
    }
    return value;
}

namespace {

std::string env_name_of(const std::string &module) {
    std::string n;
    for (char c : module)
        n.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return n;
}

// conf.d/**/*.conf, following symlinks, but each directory and each file (by device and
// inode) once: `self -> .` or `up -> ..` would otherwise loop for ever. Bounded in depth,
// file count and total size so a misplaced link cannot make loading unbounded.
constexpr size_t kMaxConfDirDepth = 16;
constexpr size_t kMaxConfFiles = 1000;
constexpr uint64_t kMaxConfTotalBytes = 64ull << 20;

std::vector<std::string> list_conf_files(const std::string &root, std::vector<std::string> &errors,
                                         std::vector<std::string> &warnings) {
    std::vector<std::string> files;
    std::set<std::pair<dev_t, ino_t>> seen_dirs, seen_files;
    uint64_t total_bytes = 0;
    struct Pending {
        fs::path dir;
        size_t depth;
    };
    std::vector<Pending> pending{{fs::path(root), 0}};
    while (!pending.empty()) {
        Pending cur = std::move(pending.back());
        pending.pop_back();
        struct stat st {};
        if (::stat(cur.dir.c_str(), &st) != 0) continue;
        if (!seen_dirs.insert({st.st_dev, st.st_ino}).second) {
            warnings.push_back(cur.dir.string() + ": directory already read (a symlink loop?); skipped");
            continue;
        }
        if (cur.depth > kMaxConfDirDepth) {
            errors.push_back(cur.dir.string() + ": conf.d nested deeper than " + std::to_string(kMaxConfDirDepth) +
                             " directories");
            continue;
        }
        std::error_code ec;
        std::vector<fs::path> entries;
        for (auto it = fs::directory_iterator(cur.dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
            entries.push_back(it->path());
        if (ec) errors.push_back(cur.dir.string() + ": cannot read directory: " + ec.message());
        std::sort(entries.begin(), entries.end());
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
            struct stat est {};
            if (::stat(it->c_str(), &est) != 0) continue; // dangling link
            if (S_ISDIR(est.st_mode)) {
                pending.push_back({*it, cur.depth + 1});
            } else if (S_ISREG(est.st_mode) && it->extension() == ".conf") {
                if (!seen_files.insert({est.st_dev, est.st_ino}).second) {
                    warnings.push_back(it->string() + ": same file as one already read; skipped");
                    continue;
                }
                total_bytes += static_cast<uint64_t>(est.st_size);
                if (files.size() >= kMaxConfFiles || total_bytes > kMaxConfTotalBytes) {
                    errors.push_back(root + ": more than " + std::to_string(kMaxConfFiles) + " files or " +
                                     std::to_string(kMaxConfTotalBytes >> 20) + " MiB of *.conf; stopped at " +
                                     it->string());
                    return files;
                }
                files.push_back(it->string());
            }
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

// Collects the [[inputs.<name>]] tables of one parsed file.
void collect_inputs(const json &doc, const std::string &file, const std::set<std::string> &known,
                    std::map<std::string, std::vector<std::pair<json, std::string>>> &out,
                    std::vector<std::string> &errors, std::vector<std::string> &warnings) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
        if (it.key() != "inputs") {
            warnings.push_back(file + ": key '" + it.key() + "' ignored (conf.d files hold [[inputs.<name>]] tables)");
            continue;
        }
        if (!it.value().is_object()) {
            errors.push_back(file + ": key 'inputs': expected [[inputs.<name>]] tables");
            continue;
        }
        for (auto in = it.value().begin(); in != it.value().end(); ++in) {
            const std::string &name = in.key();
            if (!known.count(name)) {
                std::string avail;
                for (auto &k : known) avail += (avail.empty() ? "" : ", ") + k;
                errors.push_back(file + ": key 'inputs." + name + "': no input module named '" + name +
                                 "' is loaded (loaded inputs: " + (avail.empty() ? "none" : avail) + ")");
                continue;
            }
            if (in.value().is_object()) out[name].emplace_back(in.value(), file);
            else if (in.value().is_array()) {
                for (auto &t : in.value()) {
                    if (t.is_object()) out[name].emplace_back(t, file);
                    else errors.push_back(file + ": key 'inputs." + name + "': expected a table");
                }
            } else {
                errors.push_back(file + ": key 'inputs." + name + "': expected [[inputs." + name + "]] tables");
            }
        }
    }
}

} // namespace

std::vector<InputConfig> load_input_configs(const HostConfig &host, const std::vector<InputModuleInfo> &modules,
                                            const Env &env, std::vector<std::string> &errors,
                                            std::vector<std::string> &warnings) {
    std::set<std::string> known;
    std::map<std::string, const InputModuleInfo *> by_name;
    for (auto &m : modules) {
        known.insert(m.name);
        by_name[m.name] = &m;
    }

    std::map<std::string, std::vector<std::pair<json, std::string>>> tables;
    std::vector<std::string> module_order; // first appearance, for stable instance order
    if (!host.conf_d.empty()) {
        std::error_code ec;
        if (fs::is_directory(host.conf_d, ec)) {
            for (auto &f : list_conf_files(host.conf_d, errors, warnings)) {
                try {
                    collect_inputs(toml_table_to_json(parse_toml_file(f)), f, known, tables, errors, warnings);
                } catch (const std::exception &e) {
                    errors.push_back(e.what());
                }
            }
        } else if (!host.config_file.empty() || !host.conf_d.empty()) {
            if (fs::exists(host.conf_d, ec)) errors.push_back(host.conf_d + ": conf.d is not a directory");
        }
    }

    // ENV_DATAKIT_INPUTS: DataKit's way to hand input configs to a container (a ConfigMap in
    // an env variable): TOML text of [[inputs.<name>]] tables, read as one more conf.d file.
    if (auto it = env.find("ENV_DATAKIT_INPUTS"); it != env.end() && !trim(it->second).empty()) {
        try {
            collect_inputs(toml_table_to_json(parse_toml_text(it->second, "ENV_DATAKIT_INPUTS")), "ENV_DATAKIT_INPUTS",
                           known, tables, errors, warnings);
        } catch (const std::exception &e) {
            errors.push_back(e.what());
        }
    }

    // ENV_DEFAULT_ENABLED_INPUTS: the sample config for inputs that have no table.
    if (auto it = env.find("ENV_DEFAULT_ENABLED_INPUTS"); it != env.end()) {
        for (auto &name : split_list(it->second)) {
            auto m = by_name.find(name);
            if (m == by_name.end()) {
                warnings.push_back("ENV_DEFAULT_ENABLED_INPUTS: input '" + name + "' is not loaded; skipped");
                continue;
            }
            if (tables.count(name)) continue;
            std::string src = "ENV_DEFAULT_ENABLED_INPUTS (sample config of " + name + ")";
            try {
                json doc = toml_table_to_json(parse_toml_text(m->second->sample_config, src));
                size_t before = tables[name].size();
                std::map<std::string, std::vector<std::pair<json, std::string>>> found;
                collect_inputs(doc, src, known, found, errors, warnings);
                for (auto &t : found[name]) tables[name].push_back(t);
                if (tables[name].size() == before) tables[name].emplace_back(json::object(), src);
            } catch (const std::exception &e) {
                errors.push_back(e.what());
            }
        }
    }

    // ENV_INPUT_<NAME>_<FIELD> on every instance of that input.
    std::vector<InputConfig> out;
    for (auto &m : modules) {
        auto t = tables.find(m.name);
        if (t == tables.end()) continue;
        json sample_table = json::object();
        try {
            json doc = toml_table_to_json(parse_toml_text(m.sample_config, m.name + " sample config"));
            if (doc.contains("inputs") && doc["inputs"].contains(m.name)) {
                const json &s = doc["inputs"][m.name];
                if (s.is_array() && !s.empty()) sample_table = s[0];
                else if (s.is_object()) sample_table = s;
            }
        } catch (const std::exception &) {
            // A module with an unreadable sample simply gives no type hints.
        }
        std::string prefix = "ENV_INPUT_" + env_name_of(m.name) + "_";
        size_t index = 0;
        for (auto &[table_in, source] : t->second) {
            InputConfig ic;
            ic.module = m.name;
            ic.instance = std::to_string(index++);
            ic.table = table_in;
            ic.source = source;
            std::map<std::string, std::string> env_keys; // key -> the ENV_INPUT_ variable that set it
            for (auto &[var, value] : env) {
                if (var.rfind(prefix, 0) != 0 || var.size() == prefix.size()) continue;
                std::string key = var.substr(prefix.size());
                std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
                env_keys[key] = var;
                const json *existing = nullptr;
                if (ic.table.contains(key)) existing = &ic.table[key];
                else if (sample_table.contains(key)) existing = &sample_table[key];
                try {
                    ic.table[key] = convert_env_value(var, key, value, existing);
                } catch (const std::exception &e) {
                    ic.disabled_reason += (ic.disabled_reason.empty() ? "" : "; ") + std::string(e.what());
                }
            }
            std::string where = ic.source + ": [[inputs." + m.name + "]]";
            std::vector<std::string> table_errors;
            TableReader r{ic.table, where, table_errors};
            r.string_table("tags", ic.tags);
            r.boolean("election", ic.election);
            // A host key, like `election`, but one the module never needs to see.
            r.boolean("optional", ic.optional);
            ic.table.erase("optional");
            ic.access = read_access(r, "auth_tokens", "auth_tokens_file", "allow_cidrs");
            ic.table.erase("auth_tokens");
            ic.table.erase("auth_tokens_file");
            // A wrong host key from the environment turns the instance off; from a file it is
            // a configuration error, as before.
            for (auto &e : table_errors) {
                std::string var;
                for (auto &[key, v] : env_keys)
                    if (e.find("key '" + key + "'") != std::string::npos) var = v;
                if (var.empty()) errors.push_back(e);
                else ic.disabled_reason += (ic.disabled_reason.empty() ? "" : "; ") + var + ": " + e;
            }
            out.push_back(std::move(ic));
        }
    }
    return out;
}

} // namespace trib::core
