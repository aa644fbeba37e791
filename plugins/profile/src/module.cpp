// The `profile` input: DataKit's [[inputs.profile]] (ddtrace uploads on the shared
// listener, Go pprof pull jobs, pyroscope listeners).
#include "config.hpp"
#include "go_pull.hpp"
#include "push.hpp"
#include "pyroscope_listener.hpp"

#include <tributary/plugin.hpp>

#include <memory>

#include "profile_sample_conf.inc"

namespace trib::profile {

class ProfileInput : public trib::Instance {
  public:
    ProfileInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), cfg_(parse_config(config_json)),
          metrics_pool_(cfg_.generate_metrics && !cfg_.metrics_sync
                            ? std::make_unique<profiling::MetricsPool>(host(), "profile")
                            : nullptr),
          push_(host(), cfg_, metrics_pool_.get()) {}

    void start() override {
        for (auto &ep : cfg_.endpoints)
            host().add_route("POST", ep, cfg_.body_limit_bytes(),
                             [this](const trib::HttpRequest &r) { return push_.handle(r); });
        for (auto &g : cfg_.go) {
            pullers_.push_back(std::make_unique<GoPuller>(host(), g, cfg_));
            pullers_.back()->start();
        }
        for (auto &p : cfg_.pyroscope) {
            listeners_.push_back(std::make_unique<PyroscopeListener>(host(), p, cfg_, metrics_pool_.get()));
            listeners_.back()->start();
            host().info("profile: pyroscope listener on " + p.url + " (port " +
                        std::to_string(listeners_.back()->port()) + ")");
        }
    }

    void stop() override {
        for (auto &p : pullers_) p->stop();
        pullers_.clear();
        for (auto &l : listeners_) l->stop();
        listeners_.clear();
        // Last: the requests answered above may have queued metrics.
        if (metrics_pool_) metrics_pool_->stop();
    }

    void on_leadership(bool) override {
        for (auto &p : pullers_) p->leadership_changed();
    }

  private:
    ProfileConfig cfg_;
    std::unique_ptr<profiling::MetricsPool> metrics_pool_;
    PushHandler push_;
    std::vector<std::unique_ptr<GoPuller>> pullers_;
    std::vector<std::unique_ptr<PyroscopeListener>> listeners_;
};

} // namespace trib::profile

TRIB_DEFINE_MODULE_WITH_CONFIG(trib::profile::ProfileInput, "profile", "0.1.0", TRIB_KIND_INPUT,
                               "DataKit profile input: ddtrace profiler uploads and Go pprof pull", profile_sample_conf,
                               trib::profile::config_map().describe_c_str())
