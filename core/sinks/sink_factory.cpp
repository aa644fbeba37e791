#include "sink_factory.hpp"

#include "sinks/file_sink.hpp"
#include "sinks/relabel_sink.hpp"
#include "sinks/stdout_sink.hpp"

#include <map>
#include <mutex>
#include <stdexcept>

namespace trib::core {

namespace {
struct Registry {
    std::mutex mu;
    std::map<std::string, SinkTypeFactory> types;
    SpoolWrapper spool;
};
Registry &registry() {
    static Registry r;
    return r;
}
} // namespace

SinkTypeRegistrar::SinkTypeRegistrar(const std::string &type, SinkTypeFactory factory) {
    std::lock_guard<std::mutex> lk(registry().mu);
    registry().types[type] = std::move(factory);
}

SpoolRegistrar::SpoolRegistrar(SpoolWrapper wrapper) {
    std::lock_guard<std::mutex> lk(registry().mu);
    registry().spool = std::move(wrapper);
}

bool builtin_sink_type_known(const std::string &type) {
    if (type == "file" || type == "stdout") return true;
    std::lock_guard<std::mutex> lk(registry().mu);
    return registry().types.count(type) != 0;
}

std::vector<std::string> builtin_sink_types() {
    std::vector<std::string> out{"file", "stdout"};
    std::lock_guard<std::mutex> lk(registry().mu);
    for (auto &kv : registry().types) out.push_back(kv.first);
    return out;
}

std::unique_ptr<Sink> wrap_in_spool(std::unique_ptr<Sink> sink, const SinkConfig &cfg, const SinkContext &ctx) {
    if (!cfg.table.is_object() || !cfg.table.contains("spool")) return sink;
    SpoolWrapper w;
    {
        std::lock_guard<std::mutex> lk(registry().mu);
        w = registry().spool;
    }
    if (!w) throw std::runtime_error(cfg.source + ": key 'spool': the disk spool is not available in this build");
    return w(std::move(sink), cfg, ctx);
}

std::unique_ptr<Sink> wrap_in_relabel(std::unique_ptr<Sink> sink, const SinkConfig &cfg) {
    if (!cfg.relabel) return sink;
    return std::make_unique<RelabelSink>(std::move(sink), cfg.relabel);
}

std::unique_ptr<Sink> make_builtin_sink(const SinkConfig &cfg, const SinkContext &ctx) {
    std::unique_ptr<Sink> sink;
    if (cfg.type == "file") {
        std::string root = ctx.data_dir;
        if (cfg.table.contains("path")) {
            if (!cfg.table["path"].is_string())
                throw std::runtime_error(cfg.source + ": key 'path': expected a string");
            root = cfg.table["path"].get<std::string>();
        }
        sink = std::make_unique<FileSink>(cfg.name, root);
    } else if (cfg.type == "stdout") {
        sink = std::make_unique<StdoutSink>(cfg.name);
    } else {
        SinkTypeFactory f;
        {
            std::lock_guard<std::mutex> lk(registry().mu);
            auto it = registry().types.find(cfg.type);
            if (it != registry().types.end()) f = it->second;
        }
        if (!f) throw std::runtime_error(cfg.source + ": key 'type': unknown sink type '" + cfg.type + "'");
        sink = f(cfg, ctx);
        if (!sink) throw std::runtime_error(cfg.source + ": sink '" + cfg.name + "' could not be created");
    }
    return wrap_in_relabel(wrap_in_spool(std::move(sink), cfg, ctx), cfg);
}

} // namespace trib::core
