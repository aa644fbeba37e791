// The `pyroscope` input: DataKit's [[inputs.pyroscope]] on the host's shared listener.
// POST on every `endpoints` entry (default /ingest) and on the Pyroscope push API path.
#include <tributary/config_map.hpp>
#include <tributary/plugin.hpp>
#include <tributary/profiling/metrics_pool.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <nlohmann/json.hpp>

#include <memory>

#include "pyroscope_sample_conf.inc"

namespace {

struct PyroscopeConfig {
    std::vector<std::string> endpoints{"/ingest"};
    double body_size_limit_mb = 32;
    bool metrics_sync = false;
    trib::profiling::PyroscopeOptions options;

    uint64_t body_limit_bytes() const { return uint64_t(body_size_limit_mb * 1024.0 * 1024.0); }
};

// Every key once (type, default, bounds, doc, ENV_INPUT_PYROSCOPE_<KEY>); the sample
// pyroscope.conf.sample names each of them (test sdk.declared_config).
const trib::config::ConfigMap &config_map() {
    static const trib::config::ConfigMap map = [] {
        auto m = trib::config::ConfigMap::input("pyroscope");
        m.string_list("endpoints", {"/ingest"}, "POST routes for Pyroscope agents' /ingest uploads")
            .check("every entry starts with '/'", [](const nlohmann::json &v) {
                for (auto &e : v)
                    if (e.get<std::string>().empty() || e.get<std::string>()[0] != '/')
                        return "every entry must be a path starting with '/', got " + e.dump();
                return std::string();
            });
        m.number("body_size_limit_mb", 32.0, "largest request body in MiB (also what a body or profile inflates to)")
            .greater_than(0);
        m.boolean("generate_metrics", true, "derive profiling_metrics points from the uploads");
        m.boolean(
            "metrics_sync", false,
            "compute the metrics before answering the upload (default: after, on the instance's metrics threads)");
        m.table("io_config", false, "DataKit's upload settings; accepted and kept");
        m.table("tags", true, "added to every profiling point");
        return m;
    }();
    return map;
}

PyroscopeConfig parse_config(const std::string &text) {
    trib::config::Values v = config_map().parse(text);
    PyroscopeConfig c;
    c.endpoints = v.strings("endpoints");
    c.body_size_limit_mb = v.number("body_size_limit_mb");
    c.options.generate_metrics = v.boolean("generate_metrics");
    c.metrics_sync = v.boolean("metrics_sync");
    c.options.tags = v.string_table("tags");
    return c;
}

trib::profiling::PyroscopeOptions options_of(const PyroscopeConfig &c, trib::profiling::MetricsPool *pool) {
    trib::profiling::PyroscopeOptions o = c.options;
    o.body_limit_bytes = c.body_limit_bytes();
    o.metrics_pool = pool;
    return o;
}

class PyroscopeInput : public trib::Instance {
  public:
    PyroscopeInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), cfg_(parse_config(config_json)),
          metrics_pool_(cfg_.options.generate_metrics && !cfg_.metrics_sync
                            ? std::make_unique<trib::profiling::MetricsPool>(host(), "pyroscope")
                            : nullptr),
          ingest_(host(), options_of(cfg_, metrics_pool_.get())) {}

    void start() override {
        for (auto &ep : cfg_.endpoints)
            host().add_route("POST", ep, cfg_.body_limit_bytes(),
                             [this](const trib::HttpRequest &r) { return ingest_.handle_ingest(r); });
        host().add_route("POST", trib::profiling::PyroscopeIngest::kPushPath, cfg_.body_limit_bytes(),
                         [this](const trib::HttpRequest &r) { return ingest_.handle_push(r); });
    }

    // The host removed the routes before this: what they queued is emitted now.
    void stop() override {
        if (metrics_pool_) metrics_pool_->stop();
    }

  private:
    PyroscopeConfig cfg_;
    std::unique_ptr<trib::profiling::MetricsPool> metrics_pool_;
    trib::profiling::PyroscopeIngest ingest_;
};

} // namespace

TRIB_DEFINE_MODULE_WITH_CONFIG(PyroscopeInput, "pyroscope", "0.1.0", TRIB_KIND_INPUT,
                               "DataKit pyroscope input: Pyroscope agents' /ingest uploads and the push API",
                               pyroscope_sample_conf, config_map().describe_c_str())
