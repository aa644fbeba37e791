#include "connection.hpp"

#include <tributary/config_map.hpp>
#include <tributary/plugin.hpp>

#include <algorithm>
#include <cctype>

namespace trib::nats {

using trib::StatusError;

ConfigReader::ConfigReader(const std::string &json_text, std::vector<std::string> known_keys) {
    cfg_ = nlohmann::json::parse(json_text, nullptr, false);
    if (cfg_.is_discarded() || !cfg_.is_object()) throw StatusError(TRIB_INVALID_ARGUMENT, "config is not a table");
    // Keys the host itself reads from a [[sinks]] or [[inputs.x]] table.
    for (const char *k : {"type", "name", "spool", "categories", "measurements", "tags", "election", "optional"})
        known_keys.push_back(k);
    for (auto &kv : cfg_.items())
        if (std::find(known_keys.begin(), known_keys.end(), kv.key()) == known_keys.end()) {
            std::string list;
            for (auto &k : known_keys) list += (list.empty() ? "" : ", ") + k;
            throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + kv.key() + "': unknown key (known: " + list + ")");
        }
}

std::string ConfigReader::str(const std::string &key, const std::string &def) const {
    auto it = cfg_.find(key);
    if (it == cfg_.end()) return def;
    if (!it->is_string())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': expected a string, got " + it->dump());
    return it->get<std::string>();
}

std::vector<std::string> ConfigReader::str_list(const std::string &key, const std::vector<std::string> &def) const {
    auto it = cfg_.find(key);
    if (it == cfg_.end()) return def;
    if (it->is_string()) return {it->get<std::string>()};
    if (!it->is_array())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': expected a list of strings, got " + it->dump());
    std::vector<std::string> out;
    for (auto &v : *it) {
        if (!v.is_string() || v.get<std::string>().empty())
            throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': expected non-empty strings, got " + v.dump());
        out.push_back(v.get<std::string>());
    }
    return out;
}

int64_t ConfigReader::integer(const std::string &key, int64_t def, int64_t min, int64_t max) const {
    auto it = cfg_.find(key);
    if (it == cfg_.end()) return def;
    if (!it->is_number_integer())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': expected an integer, got " + it->dump());
    int64_t v = it->get<int64_t>();
    if (v < min || v > max)
        throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': " + std::to_string(v) + " is outside " +
                                                     std::to_string(min) + ".." + std::to_string(max));
    return v;
}

bool ConfigReader::boolean(const std::string &key, bool def) const {
    auto it = cfg_.find(key);
    if (it == cfg_.end()) return def;
    if (!it->is_boolean())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': expected true or false, got " + it->dump());
    return it->get<bool>();
}

int64_t ConfigReader::duration_ms(const std::string &key, int64_t def_ms) const {
    auto it = cfg_.find(key);
    if (it == cfg_.end()) return def_ms;
    if (it->is_number()) {
        double s = it->get<double>();
        if (s < 0) throw StatusError(TRIB_INVALID_ARGUMENT, "key '" + key + "': must not be negative");
        return int64_t(s * 1000);
    }
    if (!it->is_string())
        throw StatusError(TRIB_INVALID_ARGUMENT,
                          "key '" + key + "': expected a duration like \"30s\", got " + it->dump());
    std::string t = it->get<std::string>();
    try {
        return trib::config::parse_duration(t).count();
    } catch (const std::invalid_argument &) {
        throw StatusError(TRIB_INVALID_ARGUMENT,
                          "key '" + key + "': '" + t + "' is not a duration (e.g. 500ms, 30s, 2m, 1h)");
    }
}

std::vector<std::string> connection_keys() {
    return {"urls",   "user",     "password", "token",        "credentials_file",         "tls",
            "tls_ca", "tls_cert", "tls_key",  "tls_hostname", "tls_insecure_skip_verify", "connect_timeout"};
}

ConnectionSettings ConnectionSettings::read(const ConfigReader &r) {
    ConnectionSettings s;
    s.urls = r.str_list("urls", {"nats://127.0.0.1:4222"});
    if (s.urls.empty()) throw StatusError(TRIB_INVALID_ARGUMENT, "key 'urls': needs at least one nats://host:port");
    for (auto &u : s.urls)
        if (u.rfind("nats://", 0) != 0 && u.rfind("tls://", 0) != 0)
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'urls': '" + u + "' is not nats://host:port");
    s.user = r.str("user", "");
    s.password = r.str("password", "");
    s.token = r.str("token", "");
    s.credentials_file = r.str("credentials_file", "");
    s.tls_ca = r.str("tls_ca", "");
    s.tls_cert = r.str("tls_cert", "");
    s.tls_key = r.str("tls_key", "");
    s.tls_hostname = r.str("tls_hostname", "");
    s.tls_insecure_skip_verify = r.boolean("tls_insecure_skip_verify", false);
    // nats.c 3.4.1 ignores a tls:// scheme, so such a URL (or any TLS key) turns TLS on.
    bool tls_url = std::any_of(s.urls.begin(), s.urls.end(), [](auto &u) { return u.rfind("tls://", 0) == 0; });
    s.tls = r.boolean("tls", tls_url || !s.tls_ca.empty() || !s.tls_cert.empty());
    for (auto &u : s.urls)
        if (u.rfind("tls://", 0) == 0) u = "nats://" + u.substr(6);
    if (s.tls_cert.empty() != s.tls_key.empty())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key 'tls_cert': tls_cert and tls_key go together");
    if (!s.user.empty() && !s.token.empty())
        throw StatusError(TRIB_INVALID_ARGUMENT, "key 'token': use either user/password or token");
    s.connect_timeout_ms = r.duration_ms("connect_timeout", 5000);
    return s;
}

std::string nats_error(const std::string &what, natsStatus s, jsErrCode jerr) {
    std::string out = what + ": " + natsStatus_GetText(s);
    if (jerr) out += " (JetStream error " + std::to_string(int(jerr)) + ")";
    const char *last = nats_GetLastError(nullptr);
    if (last && *last && std::string(last) != natsStatus_GetText(s)) out += ": " + std::string(last);
    return out;
}

Connection::~Connection() { close(); }

void Connection::close() {
    if (js_) jsCtx_Destroy(js_);
    js_ = nullptr;
    if (nc_) {
        natsConnection_Close(nc_);
        natsConnection_Destroy(nc_);
    }
    nc_ = nullptr;
}

bool Connection::connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

int64_t Connection::max_payload() const { return nc_ ? natsConnection_GetMaxPayload(nc_) : 0; }

bool Connection::connect(std::string &err) {
    if (nc_) return true;
    natsOptions *o = nullptr;
    natsStatus s = natsOptions_Create(&o);
    std::vector<const char *> servers;
    for (auto &u : settings_.urls) servers.push_back(u.c_str());
    auto step = [&](natsStatus st, const char *what) {
        if (s == NATS_OK && st != NATS_OK) {
            s = st;
            err = nats_error(what, st);
        }
    };
    if (s == NATS_OK) {
        step(natsOptions_SetServers(o, servers.data(), int(servers.size())), "urls");
        step(natsOptions_SetTimeout(o, settings_.connect_timeout_ms), "connect_timeout");
        // Reconnect for ever: an outage is waited out by the sink's spool / the input's loop.
        step(natsOptions_SetMaxReconnect(o, -1), "max reconnect");
        step(natsOptions_SetReconnectWait(o, 500), "reconnect wait");
        // Nothing is published while disconnected (the sink checks first), so the
        // reconnect buffer only holds acks in flight.
        step(natsOptions_SetReconnectBufSize(o, 1 << 20), "reconnect buffer");
        if (!settings_.name.empty()) step(natsOptions_SetName(o, settings_.name.c_str()), "name");
        if (!settings_.user.empty())
            step(natsOptions_SetUserInfo(o, settings_.user.c_str(), settings_.password.c_str()), "user");
        if (!settings_.token.empty()) step(natsOptions_SetToken(o, settings_.token.c_str()), "token");
        if (!settings_.credentials_file.empty())
            step(natsOptions_SetUserCredentialsFromFiles(o, settings_.credentials_file.c_str(), nullptr),
                 "credentials_file");
        if (settings_.tls) {
            step(natsOptions_SetSecure(o, true), "tls");
            if (!settings_.tls_ca.empty())
                step(natsOptions_LoadCATrustedCertificates(o, settings_.tls_ca.c_str()), "tls_ca");
            if (!settings_.tls_cert.empty())
                step(natsOptions_LoadCertificatesChain(o, settings_.tls_cert.c_str(), settings_.tls_key.c_str()),
                     "tls_cert");
            if (!settings_.tls_hostname.empty())
                step(natsOptions_SetExpectedHostname(o, settings_.tls_hostname.c_str()), "tls_hostname");
            if (settings_.tls_insecure_skip_verify)
                step(natsOptions_SkipServerVerification(o, true), "tls_insecure_skip_verify");
        }
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nc_, o);
        if (s != NATS_OK) err = nats_error("connect to " + settings_.urls.front(), s);
    }
    if (s == NATS_OK) {
        s = natsConnection_JetStream(&js_, nc_, &jso_);
        if (s != NATS_OK) err = nats_error("JetStream context", s);
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        close();
        return false;
    }
    return true;
}

} // namespace trib::nats
