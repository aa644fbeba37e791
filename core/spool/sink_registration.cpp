// Registers the delivering sink types (influxdb, dataway) and the disk spool wrapper
// ([sinks.spool]) with the host's sink factory.
#include "spool/spooled_sink.hpp"

#include "host/log.hpp"
#include "sinks/dataway_sink.hpp"
#include "sinks/influxdb_sink.hpp"
#include "sinks/sink_factory.hpp"

#include <stdexcept>

namespace trib::core {
namespace {

template <class F>
auto with_source(const SinkConfig &cfg, F &&make) {
    try {
        return make();
    } catch (const std::invalid_argument &e) {
        throw std::runtime_error(cfg.source + ": " + e.what());
    }
}

const SinkTypeRegistrar influxdb_registrar("influxdb", [](const SinkConfig &cfg, const SinkContext &) {
    return with_source(cfg, [&]() -> std::unique_ptr<Sink> {
        return std::make_unique<InfluxDbSink>(cfg.name, InfluxDbSinkConfig::from_json(cfg.table));
    });
});

const SinkTypeRegistrar dataway_registrar("dataway", [](const SinkConfig &cfg, const SinkContext &ctx) {
    return with_source(cfg, [&]() -> std::unique_ptr<Sink> {
        return std::make_unique<DatawaySink>(cfg.name, DatawaySinkConfig::from_json(cfg.table), ctx.global_tags);
    });
});

const SpoolRegistrar spool_registrar([](std::unique_ptr<Sink> inner, const SinkConfig &cfg, const SinkContext &ctx) {
    return with_source(cfg, [&]() -> std::unique_ptr<Sink> {
        SpoolSetup setup = sink_spool_setup(cfg.table.at("spool"), ctx.data_dir, "spool/sinks/" + cfg.name);
        std::string source = "sink " + cfg.name;
        auto log = [source](trib_log_level lvl, const std::string &msg) { log_message(lvl, source, msg); };
        try {
            return std::make_unique<SpooledSink>(std::move(inner), std::move(setup), log);
        } catch (const SpoolError &e) {
            throw std::invalid_argument(std::string("key 'spool': ") + e.what());
        }
    });
});

} // namespace
} // namespace trib::core
