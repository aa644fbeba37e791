#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trib::profile {

namespace {

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw std::invalid_argument("inputs.profile: key '" + key + "': " + why);
}

std::string str(const nlohmann::json &v, const std::string &key) {
    if (!v.is_string()) bad(key, "expected a string, got " + v.dump());
    return v.get<std::string>();
}

bool boolean(const nlohmann::json &v, const std::string &key) {
    if (v.is_boolean()) return v.get<bool>();
    // ENV_INPUT_* overrides may arrive as strings.
    if (v.is_string()) {
        auto s = v.get<std::string>();
        if (s == "true") return true;
        if (s == "false") return false;
    }
    bad(key, "expected true or false, got " + v.dump());
}

std::map<std::string, std::string> string_map(const nlohmann::json &v, const std::string &key) {
    if (!v.is_object()) bad(key, "expected a table of strings");
    std::map<std::string, std::string> out;
    for (auto &[k, x] : v.items()) {
        if (x.is_string()) out[k] = x.get<std::string>();
        else if (x.is_number() || x.is_boolean()) out[k] = x.dump();
        else bad(key + "." + k, "expected a string");
    }
    return out;
}

std::vector<std::string> string_list(const nlohmann::json &v, const std::string &key) {
    nlohmann::json arr = v;
    if (v.is_string()) {
        // ENV_INPUT_PROFILE_ENDPOINTS may be JSON text or a comma list.
        auto s = v.get<std::string>();
        arr = nlohmann::json::parse(s, nullptr, false);
        if (!arr.is_array()) {
            arr = nlohmann::json::array();
            size_t pos = 0;
            while (pos <= s.size()) {
                size_t c = s.find(',', pos);
                if (c == std::string::npos) c = s.size();
                if (c > pos) arr.push_back(s.substr(pos, c - pos));
                pos = c + 1;
            }
        }
    }
    if (!arr.is_array()) bad(key, "expected a list of strings");
    std::vector<std::string> out;
    for (auto &x : arr) out.push_back(str(x, key + "[]"));
    return out;
}

std::vector<nlohmann::json> tables(const nlohmann::json &v, const std::string &key) {
    if (v.is_object()) return {v};
    if (!v.is_array()) bad(key, "expected [[" + key + "]] tables");
    std::vector<nlohmann::json> out;
    for (auto &t : v) {
        if (!t.is_object()) bad(key, "expected [[" + key + "]] tables");
        out.push_back(t);
    }
    return out;
}

GoPullConfig parse_go(const nlohmann::json &t, size_t index) {
    std::string prefix = "go[" + std::to_string(index) + "].";
    GoPullConfig g;
    g.enabled_types = kGoProfileTypes;
    for (auto &[k, v] : t.items()) {
        if (k == "url") g.url = str(v, prefix + k);
        else if (k == "interval") {
            if (v.is_number()) g.interval = std::chrono::milliseconds(static_cast<int64_t>(v.get<double>() * 1000));
            else g.interval = parse_duration(str(v, prefix + k));
        } else if (k == "service") g.service = str(v, prefix + k);
        else if (k == "env") g.env = str(v, prefix + k);
        else if (k == "version") g.version = str(v, prefix + k);
        else if (k == "enabled_types") {
            auto types = string_list(v, prefix + k);
            if (!types.empty()) g.enabled_types.clear();
            for (auto &ty : types) {
                if (std::find(kGoProfileTypes.begin(), kGoProfileTypes.end(), ty) == kGoProfileTypes.end())
                    bad(prefix + k, "unknown profile type '" + ty + "' (cpu, goroutine, heap, mutex, block)");
                if (std::find(g.enabled_types.begin(), g.enabled_types.end(), ty) == g.enabled_types.end())
                    g.enabled_types.push_back(ty);
            }
        } else if (k == "tags")
            for (auto &[tk, tv] : string_map(v, prefix + k)) g.tags[tk] = tv;
        else if (k == "tls_open") g.tls_open = boolean(v, prefix + k);
        else if (k == "tls_ca") g.tls_ca = str(v, prefix + k);
        else if (k == "tls_cert") g.tls_cert = str(v, prefix + k);
        else if (k == "tls_key") g.tls_key = str(v, prefix + k);
        else if (k == "insecure_skip_verify") g.insecure_skip_verify = boolean(v, prefix + k);
        else if (v.is_string()) g.tags[k] = v.get<std::string>(); // DataKit's sample puts `tag1 = "val1"` inline
    }
    if (g.url.empty()) bad(prefix + "url", "required (e.g. \"http://localhost:6060\")");
    auto scheme_end = g.url.find("://");
    if (scheme_end == std::string::npos) g.url = "http://" + g.url;
    else {
        auto scheme = g.url.substr(0, scheme_end);
        if (scheme != "http" && scheme != "https") bad(prefix + "url", "scheme must be http or https");
    }
    if (g.interval < std::chrono::seconds(10)) g.interval = std::chrono::seconds(10);
    return g;
}

// A Go-style duration string ("5s", "1m") that must be positive.
std::chrono::milliseconds positive_duration(const nlohmann::json &v, const std::string &key) {
    std::chrono::milliseconds d{0};
    try {
        d = parse_duration(str(v, key));
    } catch (const std::invalid_argument &e) {
        bad(key, e.what());
    }
    if (d.count() <= 0) bad(key, "must be a positive duration such as \"5s\"");
    return d;
}

PyroscopeListenConfig parse_pyroscope(const nlohmann::json &t, size_t index) {
    std::string prefix = "pyroscope[" + std::to_string(index) + "].";
    PyroscopeListenConfig p;
    for (auto &[k, v] : t.items()) {
        if (k == "url") p.url = str(v, prefix + k);
        else if (k == "service") p.service = str(v, prefix + k);
        else if (k == "env") p.env = str(v, prefix + k);
        else if (k == "version") p.version = str(v, prefix + k);
        else if (k == "tags")
            for (auto &[tk, tv] : string_map(v, prefix + k)) p.tags[tk] = tv;
        else if (k == "header_timeout") p.header_timeout = positive_duration(v, prefix + k);
        else if (k == "idle_timeout") p.idle_timeout = positive_duration(v, prefix + k);
        else if (k == "read_timeout") p.read_timeout = positive_duration(v, prefix + k);
        else if (k == "max_connections") {
            if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1000000)
                bad(prefix + k, "must be an integer from 1 to 1000000");
            p.max_connections = size_t(v.get<int64_t>());
        } else if (v.is_string()) p.tags[k] = v.get<std::string>();
    }
    if (p.url.empty()) bad(prefix + "url", "required: the listen address, e.g. \"0.0.0.0:4040\"");
    return p;
}

} // namespace

std::chrono::milliseconds parse_duration(const std::string &text) {
    if (text.empty()) return std::chrono::milliseconds(0);
    double total_ms = 0;
    size_t i = 0;
    bool any = false;
    while (i < text.size()) {
        size_t start = i;
        while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
        if (i == start) throw std::invalid_argument("bad duration '" + text + "'");
        double n = std::stod(text.substr(start, i - start));
        size_t ustart = i;
        while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z'))) ++i;
        std::string unit = text.substr(ustart, i - ustart);
        double mul;
        if (unit.empty() && !any && i == text.size()) mul = 1000; // bare number: seconds
        else if (unit == "ns") mul = 1e-6;
        else if (unit == "us") mul = 1e-3;
        else if (unit == "ms") mul = 1;
        else if (unit == "s") mul = 1000;
        else if (unit == "m") mul = 60000;
        else if (unit == "h") mul = 3600000;
        else throw std::invalid_argument("bad duration '" + text + "': unknown unit '" + unit + "'");
        total_ms += n * mul;
        any = true;
    }
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

ProfileConfig parse_config(const std::string &json_text) {
    ProfileConfig c;
    auto j = nlohmann::json::parse(json_text.empty() ? std::string("{}") : json_text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::invalid_argument("inputs.profile: config is not a JSON object");
    for (auto &[k, v] : j.items()) {
        if (k == "endpoints") {
            c.endpoints = string_list(v, k);
            for (auto &e : c.endpoints)
                if (e.empty() || e[0] != '/') bad(k, "each endpoint must start with '/': '" + e + "'");
        } else if (k == "body_size_limit_mb") {
            double mb = 0;
            if (v.is_number()) mb = v.get<double>();
            else if (v.is_string()) {
                try {
                    mb = std::stod(v.get<std::string>());
                } catch (...) {
                    bad(k, "expected a number of MiB");
                }
            } else bad(k, "expected a number of MiB");
            if (!(mb > 0) || mb > 4096) bad(k, "must be between 1 and 4096");
            c.body_size_limit_mb = static_cast<uint64_t>(std::ceil(mb));
        } else if (k == "generate_metrics") c.generate_metrics = boolean(v, k);
        else if (k == "election") c.election = boolean(v, k);
        else if (k == "tags") c.tags = string_map(v, k);
        else if (k == "io_config") {
            if (!v.is_object()) bad(k, "expected a table");
            c.io_config = v;
        } else if (k == "go") {
            auto ts = tables(v, k);
            for (size_t i = 0; i < ts.size(); ++i) c.go.push_back(parse_go(ts[i], i));
        } else if (k == "pyroscope") {
            auto ts = tables(v, k);
            for (size_t i = 0; i < ts.size(); ++i) c.pyroscope.push_back(parse_pyroscope(ts[i], i));
        }
        // Other keys (the host's own, e.g. `election` tables, or future DataKit keys) are ignored.
    }
    return c;
}

} // namespace trib::profile
