#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace trib::profile {

namespace {

using trib::config::ConfigMap;
using trib::config::Values;

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw std::invalid_argument("inputs.profile: key '" + key + "': " + why);
}

std::string starts_with_slash(const nlohmann::json &list) {
    for (auto &e : list)
        if (e.get<std::string>().empty() || e.get<std::string>()[0] != '/')
            return "each endpoint must start with '/': " + e.dump();
    return {};
}

ConfigMap build_config_map() {
    auto m = ConfigMap::input("profile");
    m.string_list("endpoints", {"/profiling/v1/input"}, "POST routes for profiler uploads (ddtrace and others)")
        .check("each starts with '/'", starts_with_slash);
    m.boolean("election", true, "take part in the election (pull mode only)");
    m.number("body_size_limit_mb", 32.0, "largest request body in MiB, also what a body or part inflates to")
        .greater_than(0)
        .at_most(4096);
    m.boolean("generate_metrics", true, "derive APM metrics from ddtrace uploads");
    m.boolean("metrics_sync", false,
              "compute the metrics before answering the upload (default: after, on the instance's metrics threads)");
    m.table("io_config", false, "DataKit's upload settings; accepted and kept");
    m.table("tags", true, "added to every profiling point");

    ConfigMap go;
    go.string("url", std::nullopt, "the Go program's pprof address, http(s)://host:port")
        .required("e.g. \"http://localhost:6060\"");
    go.duration("interval", "10s", "pull interval; shorter values are raised to 10s");
    go.string("service", "", "service tag when the program sends none");
    go.string("env", "", "env tag");
    go.string("version", "", "version tag");
    go.string_list("enabled_types", kGoProfileTypes, "profiles to pull").one_of(kGoProfileTypes);
    go.boolean("tls_open", false, "TLS for an https url");
    go.string("tls_ca", "", "PEM CA file for the pprof server");
    go.string("tls_cert", "", "PEM client certificate");
    go.string("tls_key", "", "PEM client key");
    go.boolean("insecure_skip_verify", false, "do not verify the server's certificate");
    go.table("tags", true, "added to the pulled profiles (other string keys of the table are tags too)");
    m.section("go", std::move(go), true, "[[inputs.profile.go]]: pull Go pprof endpoints");

    ConfigMap pyro;
    pyro.string("url", std::nullopt, "listen address host:port").required("the listen address, e.g. \"0.0.0.0:4040\"");
    pyro.string("service", "", "service tag when the agent sends none");
    pyro.string("env", "", "env tag");
    pyro.string("version", "", "version tag");
    pyro.duration("header_timeout", "5s", "a request header must be complete this long after its first byte")
        .greater_than(0);
    pyro.duration("idle_timeout", "60s", "an idle keep-alive connection is closed after this long").greater_than(0);
    pyro.duration("read_timeout", "30s", "a body that makes no progress this long is given up").greater_than(0);
    pyro.integer("max_connections", 4096, "connections beyond this many are closed at once").within(1, 1000000);
    pyro.table("tags", true, "added to the profiles (other string keys of the table are tags too)");
    m.section("pyroscope", std::move(pyro), true, "[[inputs.profile.pyroscope]]: a Pyroscope listener");
    return m;
}

// DataKit's sample puts `tag1 = "val1"` straight into the [[go]] / [[pyroscope]] table.
void add_inline_tags(const Values &v, std::map<std::string, std::string> &tags) {
    const nlohmann::json &extra = v.undeclared();
    for (auto it = extra.begin(); it != extra.end(); ++it)
        if (it->is_string()) tags[it.key()] = it->get<std::string>();
}

GoPullConfig read_go(const Values &v, size_t index) {
    std::string prefix = "go[" + std::to_string(index) + "].";
    GoPullConfig g;
    g.url = v.string("url");
    g.interval = std::max<std::chrono::milliseconds>(v.duration("interval"), std::chrono::seconds(10));
    g.service = v.string("service");
    g.env = v.string("env");
    g.version = v.string("version");
    g.enabled_types.clear();
    for (auto &ty : v.strings("enabled_types"))
        if (std::find(g.enabled_types.begin(), g.enabled_types.end(), ty) == g.enabled_types.end())
            g.enabled_types.push_back(ty);
    if (g.enabled_types.empty()) g.enabled_types = kGoProfileTypes;
    g.tags = v.string_table("tags");
    add_inline_tags(v, g.tags);
    g.tls_open = v.boolean("tls_open");
    g.tls_ca = v.string("tls_ca");
    g.tls_cert = v.string("tls_cert");
    g.tls_key = v.string("tls_key");
    g.insecure_skip_verify = v.boolean("insecure_skip_verify");
    auto scheme_end = g.url.find("://");
    if (scheme_end == std::string::npos) g.url = "http://" + g.url;
    else {
        auto scheme = g.url.substr(0, scheme_end);
        if (scheme != "http" && scheme != "https") bad(prefix + "url", "scheme must be http or https");
    }
    return g;
}

PyroscopeListenConfig read_pyroscope(const Values &v) {
    PyroscopeListenConfig p;
    p.url = v.string("url");
    p.service = v.string("service");
    p.env = v.string("env");
    p.version = v.string("version");
    p.header_timeout = v.duration("header_timeout");
    p.idle_timeout = v.duration("idle_timeout");
    p.read_timeout = v.duration("read_timeout");
    p.max_connections = size_t(v.integer("max_connections"));
    p.tags = v.string_table("tags");
    add_inline_tags(v, p.tags);
    return p;
}

} // namespace

const trib::config::ConfigMap &config_map() {
    static const ConfigMap map = build_config_map();
    return map;
}

ProfileConfig parse_config(const std::string &json_text) {
    Values v = config_map().parse(json_text);
    ProfileConfig c;
    c.endpoints = v.strings("endpoints");
    c.body_size_limit_mb = static_cast<uint64_t>(std::ceil(v.number("body_size_limit_mb")));
    c.generate_metrics = v.boolean("generate_metrics");
    c.metrics_sync = v.boolean("metrics_sync");
    c.election = v.boolean("election");
    c.tags = v.string_table("tags");
    c.io_config = v.table("io_config");
    const auto &go = v.sections("go");
    for (size_t i = 0; i < go.size(); ++i) c.go.push_back(read_go(go[i], i));
    for (auto &p : v.sections("pyroscope")) c.pyroscope.push_back(read_pyroscope(p));
    // Other keys (the host's own, or future DataKit keys) are ignored, as DataKit does.
    return c;
}

} // namespace trib::profile
