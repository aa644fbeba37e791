#include "metrics.hpp"

#include "store/attachment_store.hpp"

#include "spool/delivery_metrics.hpp"

#include <fmt/format.h>

#include <map>

namespace trib::core {

std::string prometheus_name(std::string_view raw) {
    std::string out;
    for (char c : raw) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
        out.push_back(ok ? c : '_');
    }
    if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
    return out;
}

std::string prometheus_label(std::string_view raw) {
    std::string out;
    for (char c : raw) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

namespace {

struct Writer {
    std::string out;
    std::map<std::string, bool> declared;
    void declare(const std::string &name, const char *type, const char *help) {
        if (declared[name]) return;
        declared[name] = true;
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(const std::string &name, const std::string &labels, double v) {
        out += name;
        if (!labels.empty()) out += "{" + labels + "}";
        out += ' ';
        out += fmt::format("{}", v);
        out += '\n';
    }
};

std::string instance_labels(const ModuleInstance &i) {
    return fmt::format("module=\"{}\",instance=\"{}\"", prometheus_label(i.module().name),
                       prometheus_label(i.instance_name()));
}

} // namespace

std::string render_metrics(const std::vector<std::unique_ptr<ModuleInstance>> &inputs,
                           const std::vector<std::unique_ptr<ModuleInstance>> &sink_modules, const Bus &bus,
                           const HttpServer &http_server, const Election *election,
                           const std::vector<LoadedModule> *loaded_modules) {
    Writer w;
    if (loaded_modules) {
        // Every loaded module, with or without a running instance.
        w.declare("tributary_module_info", "gauge", "A loaded module (value 1)");
        for (auto &m : *loaded_modules)
            w.sample("tributary_module_info",
                     fmt::format("module=\"{}\",version=\"{}\",kind=\"{}\",abi=\"{}.{}\",file=\"{}\"",
                                 prometheus_label(m.name), prometheus_label(m.version),
                                 m.kind == TRIB_KIND_SINK ? "sink" : "input", m.abi_major, m.abi_minor,
                                 prometheus_label(m.file)),
                     1);
    }
    struct InputMetric {
        const char *name;
        const char *help;
        uint64_t (*get)(const InstanceStats &);
    };
    static const InputMetric input_metrics[] = {
        {"tributary_input_points_received_total", "Points a module instance offered through emit",
         [](const InstanceStats &s) { return s.received_points.load(); }},
        {"tributary_input_points_emitted_total", "Points the bus accepted from a module instance",
         [](const InstanceStats &s) { return s.emitted_points.load(); }},
        {"tributary_input_points_dropped_total", "Points refused (backpressure or invalid)",
         [](const InstanceStats &s) { return s.dropped_points.load(); }},
        {"tributary_input_backpressure_total", "emit calls answered BACKPRESSURE",
         [](const InstanceStats &s) { return s.backpressure.load(); }},
        {"tributary_input_bytes_emitted_total", "Bytes of points the bus accepted",
         [](const InstanceStats &s) { return s.emitted_bytes.load(); }},
    };
    for (auto &m : input_metrics) {
        w.declare(m.name, "counter", m.help);
        for (auto &i : inputs) w.sample(m.name, instance_labels(*i), static_cast<double>(m.get(i->stats())));
    }
    w.declare("tributary_input_up", "gauge", "1 when the module instance is running");
    for (auto &i : inputs) w.sample("tributary_input_up", instance_labels(*i), i->running() ? 1 : 0);

    struct SinkMetric {
        const char *name;
        const char *type;
        const char *help;
        double (*get)(const SinkWorker &);
    };
    static const SinkMetric sink_metrics[] = {
        {"tributary_sink_points_received_total", "counter", "Points routed to the sink's queue",
         [](const SinkWorker &s) { return double(s.stats().received_points.load()); }},
        {"tributary_sink_points_written_total", "counter", "Points the sink wrote",
         [](const SinkWorker &s) { return double(s.stats().written_points.load()); }},
        {"tributary_sink_points_dropped_total", "counter", "Points the sink dropped (permanent errors, shutdown)",
         [](const SinkWorker &s) { return double(s.stats().dropped_points.load()); }},
        {"tributary_sink_retries_total", "counter", "Writes retried after RETRY/BACKPRESSURE",
         [](const SinkWorker &s) { return double(s.stats().retries.load()); }},
        {"tributary_sink_bytes_written_total", "counter", "Bytes of points the sink wrote",
         [](const SinkWorker &s) { return double(s.stats().written_bytes.load()); }},
        {"tributary_sink_queue_batches", "gauge", "Batches waiting in the sink's queue",
         [](const SinkWorker &s) { return double(s.queue_batches()); }},
        {"tributary_sink_queue_points", "gauge", "Points waiting in the sink's queue",
         [](const SinkWorker &s) { return double(s.queue_points()); }},
        {"tributary_sink_queue_bytes", "gauge", "Bytes waiting in the sink's queue",
         [](const SinkWorker &s) { return double(s.stats().queued_bytes.load()); }},
    };
    for (auto &m : sink_metrics) {
        w.declare(m.name, m.type, m.help);
        for (auto &s : bus.sinks())
            w.sample(m.name,
                     fmt::format("sink=\"{}\",type=\"{}\"", prometheus_label(s->name()), prometheus_label(s->type())),
                     m.get(*s));
    }

    w.declare("tributary_bus_memory_bytes", "gauge", "Bytes of points held by the bus");
    w.sample("tributary_bus_memory_bytes", "", double(bus.memory().used()));
    w.declare("tributary_bus_memory_peak_bytes", "gauge", "Highest bytes held by the bus since start");
    w.sample("tributary_bus_memory_peak_bytes", "", double(bus.memory().peak()));
    w.declare("tributary_bus_memory_limit_bytes", "gauge", "The bus memory ceiling");
    w.sample("tributary_bus_memory_limit_bytes", "", double(bus.memory().limit()));
    w.declare("tributary_bus_points_unrouted_total", "counter", "Points no sink's categories/measurements matched");
    w.sample("tributary_bus_points_unrouted_total", "", double(bus.unrouted_points()));

    const HttpStats &http = http_server.stats();
    w.declare("tributary_http_requests_total", "counter", "Requests on the shared listener");
    w.sample("tributary_http_requests_total", "", double(http.requests.load()));
    w.declare("tributary_http_responses_total", "counter", "Responses by notable status");
    w.sample("tributary_http_responses_total", "code=\"401\"", double(http.status_401.load()));
    w.sample("tributary_http_responses_total", "code=\"403\"", double(http.status_403.load()));
    w.sample("tributary_http_responses_total", "code=\"404\"", double(http.status_404.load()));
    w.sample("tributary_http_responses_total", "code=\"413\"", double(http.status_413.load()));
    w.sample("tributary_http_responses_total", "code=\"429\"", double(http.status_429.load()));
    w.sample("tributary_http_responses_total", "code=\"5xx\"", double(http.status_5xx.load()));
    w.declare("tributary_http_body_bytes_total", "counter", "Request body bytes read for module routes");
    w.sample("tributary_http_body_bytes_total", "", double(http.body_bytes.load()));
    w.declare("tributary_http_handlers_waiting", "gauge",
              "Requests whose body is read, waiting for a handler slot ([http] max_active_handlers)");
    w.sample("tributary_http_handlers_waiting", "", double(http_server.handler_slots().waiting()));
    w.declare("tributary_http_handlers_limit", "gauge", "[http] max_active_handlers in effect");
    w.sample("tributary_http_handlers_limit", "", double(http_server.handler_slots().limit()));
    w.declare("tributary_http_handler_wait_timeouts_total", "counter",
              "Requests answered 503 because no handler slot came free within read_timeout_s");
    w.sample("tributary_http_handler_wait_timeouts_total", "", double(http.handler_wait_timeouts.load()));

    if (const ConnectionStats *c = http_server.connection_stats()) {
        w.declare("tributary_http_connections", "gauge",
                  "Open connections: waiting for their request header (parked) or held by a worker (served)");
        w.sample("tributary_http_connections", "state=\"parked\"", double(c->parked.load()));
        w.sample("tributary_http_connections", "state=\"served\"", double(c->served.load()));
        w.declare("tributary_http_connections_closed_total", "counter",
                  "Connections the listener closed: header timeout (408), evicted for a newer one, refused at the "
                  "limit (503), "
                  "failed TLS handshake");
        w.sample("tributary_http_connections_closed_total", "reason=\"header_timeout\"",
                 double(c->header_timeouts.load()));
        w.sample("tributary_http_connections_closed_total", "reason=\"evicted\"", double(c->evicted.load()));
        w.sample("tributary_http_connections_closed_total", "reason=\"refused\"", double(c->refused.load()));
        w.sample("tributary_http_connections_closed_total", "reason=\"tls_handshake\"",
                 double(c->tls_handshake_failures.load()));
    }
    if (const MemoryBudget *m = http_server.budget()) {
        w.declare("tributary_inflight_memory_bytes", "gauge",
                  "Bytes reserved in the host-wide budget for request bodies and inflated parts in flight");
        w.sample("tributary_inflight_memory_bytes", "", double(m->used()));
        w.declare("tributary_inflight_memory_peak_bytes", "gauge", "Highest in-flight reservation since start");
        w.sample("tributary_inflight_memory_peak_bytes", "", double(m->peak()));
        w.declare("tributary_inflight_memory_limit_bytes", "gauge",
                  "The in-flight budget ([limits] inflight_memory_mb)");
        w.sample("tributary_inflight_memory_limit_bytes", "", double(m->limit()));
        w.declare(
            "tributary_inflight_memory_refused_total", "counter",
            "Reservations refused: budget spent (busy, 429) or one request larger than the budget (too_large, 413)");
        w.sample("tributary_inflight_memory_refused_total", "reason=\"busy\"", double(m->refused_busy()));
        w.sample("tributary_inflight_memory_refused_total", "reason=\"too_large\"", double(m->refused_too_large()));
    }

    if (election) {
        w.declare("tributary_election_leader", "gauge", "1 when this host leads");
        w.sample("tributary_election_leader", fmt::format("backend=\"{}\"", prometheus_label(election->backend())),
                 election->is_leader() ? 1 : 0);
        w.declare("tributary_election_role", "gauge",
                  "1 for this host's election role (leader, follower, candidate, observer)");
        w.sample("tributary_election_role",
                 fmt::format("backend=\"{}\",role=\"{}\"", prometheus_label(election->backend()),
                             prometheus_label(election->role())),
                 1);
    }

    // Module self-metrics (counter_add), inputs and sink modules alike, grouped by family.
    std::map<std::string, std::vector<std::pair<std::string, double>>> families;
    for (auto *list : {&inputs, &sink_modules})
        for (auto &i : *list)
            for (auto &[name, value] : i->counters())
                families["tributary_module_" + prometheus_name(name)].emplace_back(instance_labels(*i), value);
    for (auto &[metric, samples] : families) {
        w.declare(metric, "counter", "Module self-metric (counter_add)");
        for (auto &[labels, value] : samples) w.sample(metric, labels, value);
    }
    // Disk spools (sinks' [sinks.spool], inputs' io_config/storage): drops, retries, quarantine.
    w.out += render_delivery_metrics();
    return w.out;
}

std::string render_attachment_store_metrics(const AttachmentStore &store) {
    Writer w;
    const AttachmentStoreStats &st = store.stats();
    w.declare("tributary_attachments_bytes", "gauge", "Bytes held by the attachment store (<data-dir>/attachments)");
    w.sample("tributary_attachments_bytes", "", double(st.bytes.load()));
    w.declare("tributary_attachments_limit_bytes", "gauge", "The store's size bound ([attachments] max_size_mb)");
    w.sample("tributary_attachments_limit_bytes", "", double(store.config().max_size_bytes));
    w.declare("tributary_attachments_profiles", "gauge", "Profile directories in the attachment store");
    w.sample("tributary_attachments_profiles", "", double(st.profiles.load()));
    w.declare("tributary_attachments_stored_files_total", "counter", "Attachment files written by receiving threads");
    w.sample("tributary_attachments_stored_files_total", "", double(st.stored_files.load()));
    w.declare("tributary_attachments_stored_bytes_total", "counter", "Attachment bytes written");
    w.sample("tributary_attachments_stored_bytes_total", "", double(st.stored_bytes.load()));
    w.declare("tributary_attachments_write_errors_total", "counter",
              "Uploads refused because their attachments could not be written");
    w.sample("tributary_attachments_write_errors_total", "", double(st.write_errors.load()));
    w.declare("tributary_attachments_removed_total", "counter",
              "Profile directories removed by retention, oldest first (reason: size, age)");
    w.sample("tributary_attachments_removed_total", "reason=\"size\"", double(st.removed_for_size.load()));
    w.sample("tributary_attachments_removed_total", "reason=\"age\"", double(st.removed_for_age.load()));
    w.declare("tributary_attachments_removed_bytes_total", "counter", "Bytes removed by retention");
    w.sample("tributary_attachments_removed_bytes_total", "", double(st.removed_bytes.load()));
    return w.out;
}

} // namespace trib::core
