// The `pyroscope` input: DataKit's [[inputs.pyroscope]] on the host's shared listener.
// POST on every `endpoints` entry (default /ingest) and on the Pyroscope push API path.
#include <tributary/plugin.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <nlohmann/json.hpp>

#include <memory>

#include "pyroscope_sample_conf.inc"

namespace {

struct PyroscopeConfig {
    std::vector<std::string> endpoints{"/ingest"};
    double body_size_limit_mb = 32;
    trib::profiling::PyroscopeOptions options;

    uint64_t body_limit_bytes() const { return uint64_t(body_size_limit_mb * 1024.0 * 1024.0); }
};

[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw trib::StatusError(TRIB_INVALID_ARGUMENT, "inputs.pyroscope: " + key + ": " + why);
}

PyroscopeConfig parse_config(const std::string &text) {
    PyroscopeConfig c;
    nlohmann::json j;
    try {
        j = text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
    } catch (const std::exception &e) {
        throw trib::StatusError(TRIB_INVALID_ARGUMENT,
                                std::string("inputs.pyroscope: config is not JSON: ") + e.what());
    }
    if (!j.is_object()) bad("config", "must be a table");
    for (auto &[k, v] : j.items()) {
        if (k == "endpoints") {
            if (!v.is_array()) bad(k, "must be a list of paths");
            c.endpoints.clear();
            for (auto &e : v) {
                if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>()[0] != '/')
                    bad(k, "every entry must be a path starting with '/'");
                c.endpoints.push_back(e.get<std::string>());
            }
        } else if (k == "body_size_limit_mb") {
            if (!v.is_number() || v.get<double>() <= 0) bad(k, "must be a positive number");
            c.body_size_limit_mb = v.get<double>();
        } else if (k == "generate_metrics") {
            if (!v.is_boolean()) bad(k, "must be true or false");
            c.options.generate_metrics = v.get<bool>();
        } else if (k == "tags") {
            if (!v.is_object()) bad(k, "must be a table of strings");
            for (auto &[tk, tv] : v.items()) {
                if (!tv.is_string()) bad("tags." + tk, "must be a string");
                c.options.tags[tk] = tv.get<std::string>();
            }
        } else if (k == "io_config") {
            if (!v.is_object()) bad(k, "must be a table");
        } else if (k == "election") {
            if (!v.is_boolean()) bad(k, "must be true or false");
        } else {
            // DataKit ignores keys it does not know; so do we, for drop-in configs.
        }
    }
    return c;
}

trib::profiling::PyroscopeOptions options_of(const PyroscopeConfig &c) {
    trib::profiling::PyroscopeOptions o = c.options;
    o.body_limit_bytes = c.body_limit_bytes();
    return o;
}

class PyroscopeInput : public trib::Instance {
  public:
    PyroscopeInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), cfg_(parse_config(config_json)), ingest_(host(), options_of(cfg_)) {}

    void start() override {
        for (auto &ep : cfg_.endpoints)
            host().add_route("POST", ep, cfg_.body_limit_bytes(),
                             [this](const trib::HttpRequest &r) { return ingest_.handle_ingest(r); });
        host().add_route("POST", trib::profiling::PyroscopeIngest::kPushPath, cfg_.body_limit_bytes(),
                         [this](const trib::HttpRequest &r) { return ingest_.handle_push(r); });
    }

  private:
    PyroscopeConfig cfg_;
    trib::profiling::PyroscopeIngest ingest_;
};

} // namespace

TRIB_DEFINE_MODULE(PyroscopeInput, "pyroscope", "0.1.0", TRIB_KIND_INPUT,
                   "DataKit pyroscope input: Pyroscope agents' /ingest uploads and the push API", pyroscope_sample_conf)
