// /metrics: the host's own counters in Prometheus text format.
#pragma once

#include "bus/bus.hpp"
#include "election/election.hpp"
#include "host/instance.hpp"
#include "net/http_server.hpp"

#include <memory>
#include <string>
#include <vector>

namespace trib::core {

class AttachmentStore;

// Prometheus metric name from a module's counter name: [a-zA-Z0-9_:], not starting with
// a digit.
std::string prometheus_name(std::string_view raw);
// A label value with \\, \" and \n escaped.
std::string prometheus_label(std::string_view raw);

std::string render_metrics(const std::vector<std::unique_ptr<ModuleInstance>> &inputs,
                           const std::vector<std::unique_ptr<ModuleInstance>> &sink_modules, const Bus &bus,
                           const HttpServer &http_server, const Election *election,
                           const std::vector<LoadedModule> *loaded_modules = nullptr);

// The attachment store's gauges and counters (size, profiles, retention removals).
std::string render_attachment_store_metrics(const AttachmentStore &store);

} // namespace trib::core
