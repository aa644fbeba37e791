// Built-in sink types by name. `file` and `stdout` are here; other built-in types
// (influxdb, dataway) register from their own .cpp with a static
//   static const trib::core::SinkTypeRegistrar reg("influxdb", &make_influxdb_sink);
// and a disk spool registers one SpoolRegistrar that wraps any sink whose table has a
// [sinks.spool] sub-table. The host links trib_core whole, so registrars always run.
// Sink *modules* (type = a module's name) are created by the host, not here.
#pragma once

#include "config/config.hpp"
#include "sinks/sink.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace trib::core {

struct SinkContext {
    std::string data_dir;                                         // the host's --data-dir
    std::vector<std::pair<std::string, std::string>> global_tags; // includes `host`
};

using SinkTypeFactory = std::function<std::unique_ptr<Sink>(const SinkConfig &, const SinkContext &)>;
using SpoolWrapper =
    std::function<std::unique_ptr<Sink>(std::unique_ptr<Sink> inner, const SinkConfig &, const SinkContext &)>;

struct SinkTypeRegistrar {
    SinkTypeRegistrar(const std::string &type, SinkTypeFactory factory);
};
struct SpoolRegistrar {
    explicit SpoolRegistrar(SpoolWrapper wrapper);
};

bool builtin_sink_type_known(const std::string &type);
std::vector<std::string> builtin_sink_types();

// Creates a built-in sink (wrapped in the spool when the table has `spool`). Throws
// std::runtime_error naming cfg.source and the reason.
std::unique_ptr<Sink> make_builtin_sink(const SinkConfig &cfg, const SinkContext &ctx);
// Wraps an already made sink (e.g. a module sink) in the spool when cfg asks for one.
std::unique_ptr<Sink> wrap_in_spool(std::unique_ptr<Sink> sink, const SinkConfig &cfg, const SinkContext &ctx);
// Puts cfg's [[sinks.relabel]] rules in front of a sink (outside its spool, so the spool
// keeps rewritten points); returns the sink itself when there are none.
std::unique_ptr<Sink> wrap_in_relabel(std::unique_ptr<Sink> sink, const SinkConfig &cfg);

} // namespace trib::core
