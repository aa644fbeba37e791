// Built-in sink types by name, written out in one table (builtin_sink_table() in
// sink_factory.cpp): file, stdout, dataway, influxdb. A [sinks.spool] sub-table puts any
// sink behind the disk spool (core/spool); [[sinks.relabel]] rules go in front of that.
// Sink *modules* (type = a module's name) are created by the host, not here.
#pragma once

#include "config/config.hpp"
#include "sinks/sink.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::core {

struct SinkContext {
    std::string data_dir;                                         // the host's --data-dir
    std::vector<std::pair<std::string, std::string>> global_tags; // includes `host`
};

// Makes one sink from its [[sinks]] table; throws std::invalid_argument or
// std::runtime_error saying which key is wrong.
using SinkMaker = std::unique_ptr<Sink> (*)(const SinkConfig &, const SinkContext &);

struct BuiltinSinkType {
    std::string_view type; // [[sinks]] type = "..."
    SinkMaker make;
};

// Every built-in sink type, in the order error messages list them.
std::span<const BuiltinSinkType> builtin_sink_table();

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
