#include "delivery_metrics.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace trib::core {
namespace {

struct Entry {
    std::string owner, name;
    const Spool *spool;
    const SpoolDelivery *delivery;
};

struct Registry {
    std::mutex mu;
    uint64_t next = 1;
    std::map<uint64_t, Entry> entries;
};

Registry &registry() {
    static Registry r;
    return r;
}

std::string label(const std::string &s) {
    std::string out;
    for (char c : s) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

struct Metric {
    const char *name;
    const char *type;
    const char *help;
    std::function<uint64_t(const SpoolStats &, const DeliveryStats &)> value;
};

} // namespace

DeliveryMetricsRegistration::DeliveryMetricsRegistration(std::string owner, std::string name, const Spool *spool,
                                                         const SpoolDelivery *delivery) {
    auto &r = registry();
    std::lock_guard<std::mutex> lk(r.mu);
    id_ = r.next++;
    r.entries[id_] = Entry{std::move(owner), std::move(name), spool, delivery};
}

DeliveryMetricsRegistration::~DeliveryMetricsRegistration() {
    if (!id_) return;
    auto &r = registry();
    std::lock_guard<std::mutex> lk(r.mu);
    r.entries.erase(id_);
}

DeliveryMetricsRegistration &DeliveryMetricsRegistration::operator=(DeliveryMetricsRegistration &&o) noexcept {
    if (this != &o) {
        this->~DeliveryMetricsRegistration();
        id_ = o.id_;
        o.id_ = 0;
    }
    return *this;
}

std::string render_delivery_metrics() {
    static const std::vector<Metric> metrics = {
        {"tributary_spool_appended_records_total", "counter", "Records appended to the spool.",
         [](auto &s, auto &) { return s.appended_records; }},
        {"tributary_spool_appended_bytes_total", "counter", "Payload bytes appended to the spool.",
         [](auto &s, auto &) { return s.appended_bytes; }},
        {"tributary_spool_acked_records_total", "counter", "Records delivered and acknowledged.",
         [](auto &s, auto &) { return s.acked_records; }},
        {"tributary_spool_rejected_appends_total", "counter",
         "Appends refused because the spool was full (policy reject).",
         [](auto &s, auto &) { return s.rejected_appends; }},
        {"tributary_spool_dropped_records_total", "counter",
         "Undelivered records deleted to make room (policy drop_oldest).",
         [](auto &s, auto &) { return s.dropped_records; }},
        {"tributary_spool_dropped_bytes_total", "counter", "Bytes deleted to make room (policy drop_oldest).",
         [](auto &s, auto &) { return s.dropped_bytes; }},
        {"tributary_spool_quarantined_records_total", "counter", "Damaged regions (bad length or checksum) skipped.",
         [](auto &s, auto &) { return s.quarantined_records; }},
        {"tributary_spool_quarantined_bytes_total", "counter", "Damaged bytes skipped.",
         [](auto &s, auto &) { return s.quarantined_bytes; }},
        {"tributary_spool_set_aside_records_total", "counter",
         "Records refused for good by the sink, kept in quarantine/.",
         [](auto &s, auto &) { return s.set_aside_records; }},
        {"tributary_spool_torn_tail_bytes_total", "counter", "Bytes of a torn last record cut at open.",
         [](auto &s, auto &) { return s.torn_tail_bytes; }},
        {"tributary_spool_fsyncs_total", "counter", "fsync calls.", [](auto &s, auto &) { return s.fsyncs; }},
        {"tributary_spool_disk_bytes", "gauge", "Bytes of segment files on disk.",
         [](auto &s, auto &) { return s.disk_bytes; }},
        {"tributary_spool_pending_bytes", "gauge", "Bytes not yet delivered.",
         [](auto &s, auto &) { return s.pending_bytes; }},
        {"tributary_spool_segments", "gauge", "Segment files.", [](auto &s, auto &) { return s.segments; }},
        {"tributary_delivery_records_total", "counter", "Spool records delivered.",
         [](auto &, auto &d) { return d.delivered_records; }},
        {"tributary_delivery_points_total", "counter", "Points delivered from the spool.",
         [](auto &, auto &d) { return d.delivered_points; }},
        {"tributary_delivery_retries_total", "counter", "Failed delivery attempts that were retried.",
         [](auto &, auto &d) { return d.retries; }},
        {"tributary_delivery_permanent_failures_total", "counter",
         "Records given up (refused for good, out of attempts, undecodable).",
         [](auto &, auto &d) { return d.permanent_failures; }},
    };
    struct Snapshot {
        std::string owner, name;
        SpoolStats s;
        DeliveryStats d;
    };
    std::vector<Snapshot> snaps;
    {
        auto &r = registry();
        std::lock_guard<std::mutex> lk(r.mu);
        for (auto &[id, e] : r.entries)
            snaps.push_back({e.owner, e.name, e.spool ? e.spool->stats() : SpoolStats{},
                             e.delivery ? e.delivery->stats() : DeliveryStats{}});
    }
    if (snaps.empty()) return {};
    std::string out;
    for (auto &m : metrics) {
        out += std::string("# HELP ") + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.type + "\n";
        for (auto &s : snaps)
            out += std::string(m.name) + "{owner=\"" + label(s.owner) + "\",name=\"" + label(s.name) + "\"} " +
                   std::to_string(m.value(s.s, s.d)) + "\n";
    }
    return out;
}

} // namespace trib::core
