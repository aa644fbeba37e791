#include "sink_factory.hpp"

#include "host/log.hpp"
#include "sinks/dataway_sink.hpp"
#include "sinks/file_sink.hpp"
#include "sinks/influxdb_sink.hpp"
#include "sinks/relabel_sink.hpp"
#include "sinks/stdout_sink.hpp"
#include "spool/spooled_sink.hpp"

#include <array>
#include <stdexcept>

namespace trib::core {

namespace {

// A sink's own config errors (std::invalid_argument) become errors naming the table.
template <class F>
std::unique_ptr<Sink> naming_source(const SinkConfig &cfg, F &&make) {
    try {
        return make();
    } catch (const std::invalid_argument &e) {
        throw std::runtime_error(cfg.source + ": " + e.what());
    }
}

std::unique_ptr<Sink> make_file_sink(const SinkConfig &cfg, const SinkContext &ctx) {
    std::string root = ctx.data_dir;
    if (cfg.table.contains("path")) {
        if (!cfg.table["path"].is_string()) throw std::runtime_error(cfg.source + ": key 'path': expected a string");
        root = cfg.table["path"].get<std::string>();
    }
    return std::make_unique<FileSink>(cfg.name, root);
}

std::unique_ptr<Sink> make_stdout_sink(const SinkConfig &cfg, const SinkContext &) {
    return std::make_unique<StdoutSink>(cfg.name);
}

std::unique_ptr<Sink> make_dataway_sink(const SinkConfig &cfg, const SinkContext &ctx) {
    return naming_source(cfg, [&]() -> std::unique_ptr<Sink> {
        return std::make_unique<DatawaySink>(cfg.name, DatawaySinkConfig::from_json(cfg.table), ctx.global_tags);
    });
}

std::unique_ptr<Sink> make_influxdb_sink(const SinkConfig &cfg, const SinkContext &) {
    return naming_source(cfg, [&]() -> std::unique_ptr<Sink> {
        return std::make_unique<InfluxDbSink>(cfg.name, InfluxDbSinkConfig::from_json(cfg.table));
    });
}

constexpr std::array<BuiltinSinkType, 4> kBuiltinSinks{{
    {"file", &make_file_sink},
    {"stdout", &make_stdout_sink},
    {"dataway", &make_dataway_sink},
    {"influxdb", &make_influxdb_sink},
}};

const BuiltinSinkType *find_builtin(const std::string &type) {
    for (auto &entry : kBuiltinSinks)
        if (entry.type == type) return &entry;
    return nullptr;
}

} // namespace

std::span<const BuiltinSinkType> builtin_sink_table() { return kBuiltinSinks; }

bool builtin_sink_type_known(const std::string &type) { return find_builtin(type) != nullptr; }

std::vector<std::string> builtin_sink_types() {
    std::vector<std::string> out;
    for (auto &entry : kBuiltinSinks) out.emplace_back(entry.type);
    return out;
}

std::unique_ptr<Sink> wrap_in_spool(std::unique_ptr<Sink> sink, const SinkConfig &cfg, const SinkContext &ctx) {
    if (!cfg.table.is_object() || !cfg.table.contains("spool")) return sink;
    return naming_source(cfg, [&]() -> std::unique_ptr<Sink> {
        SpoolSetup setup = sink_spool_setup(cfg.table.at("spool"), ctx.data_dir, "spool/sinks/" + cfg.name);
        std::string source = "sink " + cfg.name;
        auto log = [source](trib_log_level lvl, const std::string &msg) { log_message(lvl, source, msg); };
        try {
            return std::make_unique<SpooledSink>(std::move(sink), std::move(setup), log);
        } catch (const SpoolError &e) {
            throw std::invalid_argument(std::string("key 'spool': ") + e.what());
        }
    });
}

std::unique_ptr<Sink> wrap_in_relabel(std::unique_ptr<Sink> sink, const SinkConfig &cfg) {
    if (!cfg.relabel) return sink;
    return std::make_unique<RelabelSink>(std::move(sink), cfg.relabel);
}

std::unique_ptr<Sink> make_builtin_sink(const SinkConfig &cfg, const SinkContext &ctx) {
    const BuiltinSinkType *entry = find_builtin(cfg.type);
    if (!entry) throw std::runtime_error(cfg.source + ": key 'type': unknown sink type '" + cfg.type + "'");
    std::unique_ptr<Sink> sink = entry->make(cfg, ctx);
    if (!sink) throw std::runtime_error(cfg.source + ": sink '" + cfg.name + "' could not be created");
    return wrap_in_relabel(wrap_in_spool(std::move(sink), cfg, ctx), cfg);
}

} // namespace trib::core
