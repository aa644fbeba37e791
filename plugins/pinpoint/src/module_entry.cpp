// pinpoint.so: DataKit's `pinpoint` input (see collector.hpp for the data path, server.hpp
// for the gRPC side).
#include <tributary/config_map.hpp>
#include <tributary/plugin.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "collector.hpp"
#include "config.hpp"
#include "durable_queue.hpp"
#include "metadata.hpp"
#include "server.hpp"

#include "pinpoint_conf_sample.inc"

namespace trib::pinpoint {

class PinpointInput : public trib::Instance {
  public:
    PinpointInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : trib::Instance(api, ctx, std::move(name)),
          cfg_(parse_config(config_json, [](const char *k) { return std::getenv(k); })),
          meta_(cfg_.metadata_max_entries) {
        collector_ = std::make_unique<Collector>(
            cfg_, meta_, [this](const std::vector<trib::Point> &pts) { return host().emit(pts); },
            [this](trib_log_level l, const std::string &m) { host().log(l, m); },
            [this](std::string_view n, double d) { host().counter_add(n, d); });
    }

    void start() override {
        for (auto &w : cfg_.warnings) host().log(TRIB_LOG_WARN, w);
        std::string data = host().data_dir();
        meta_.open(data.empty() ? std::string() : data + "/metadata");
        if (!data.empty()) collector_->load_backlog(data + "/backlog.log");
        Dispatch dispatch = [this](MessageKind k, std::string_view b, const std::shared_ptr<const CallHeaders> &h) {
            return collector_->handle(k, b, h);
        };
        if (!cfg_.storage_path.empty()) {
            std::filesystem::path p(cfg_.storage_path);
            if (p.is_relative() && !data.empty()) p = std::filesystem::path(data) / p;
            queue_ = std::make_unique<DurableQueue>(
                p.lexically_normal().string(), cfg_.storage_capacity_mb << 20,
                [this](MessageKind k, std::string_view b, const std::shared_ptr<const CallHeaders> &h, uint64_t src) {
                    return collector_->handle(k, b, h, src);
                },
                [this](trib_log_level l, const std::string &m) { host().log(l, m); },
                [this] { return collector_->oldest_unfinished_source(); });
            queue_->start();
            dispatch = [this](MessageKind k, std::string_view b, const std::shared_ptr<const CallHeaders> &h) {
                return queue_->push(k, b, *h);
            };
        }
        server_ = std::make_unique<GrpcServer>(
            cfg_, std::move(dispatch), [this](trib_log_level l, const std::string &m) { host().log(l, m); },
            [this] { return collector_->host_ready(); });
        server_->start();
        timer_ = host().start_timer(1000, [this] { collector_->tick(); });
        if (!cfg_.address.empty())
            host().info("pinpoint: gRPC collector listening on " + cfg_.address + " (port " +
                        std::to_string(server_->port()) + ")");
        if (!cfg_.tls_address.empty())
            host().info("pinpoint: gRPC collector listening with TLS on " + cfg_.tls_address + " (port " +
                        std::to_string(server_->tls_port()) + ")");
    }

    void stop() override {
        if (timer_) host().stop_timer(timer_);
        timer_ = 0;
        if (server_) server_->stop(2000);
        if (queue_) queue_->stop();
        collector_->flush_all();
        std::string data = host().data_dir();
        if (!data.empty()) collector_->save_backlog(data + "/backlog.log");
        if (queue_) queue_->commit();
        meta_.close();
    }

    std::string health() override {
        if (collector_->backlogged()) return "host backpressure: points waiting for retry";
        return {};
    }

  private:
    Config cfg_;
    MetadataStore meta_;
    std::unique_ptr<Collector> collector_;
    std::unique_ptr<DurableQueue> queue_;
    std::unique_ptr<GrpcServer> server_;
    uint64_t timer_ = 0;
};

} // namespace trib::pinpoint

TRIB_DEFINE_MODULE_WITH_CONFIG(trib::pinpoint::PinpointInput, "pinpoint", "0.1.0", TRIB_KIND_INPUT,
                               "Pinpoint gRPC collector (DataKit's pinpoint input): traces and agent stats",
                               pinpoint_conf_sample, trib::pinpoint::config_map().describe_c_str())
