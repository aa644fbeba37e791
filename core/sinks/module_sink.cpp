#include "module_sink.hpp"

#include "host/log.hpp"
#include "store/attachment_store.hpp"

namespace trib::core {

namespace {
bool holds_store_references(const std::vector<trib::Point> &batch) {
    for (auto &p : batch)
        for (auto &a : p.attachments)
            if (!a.data && !a.stored_path.empty()) return true;
    return false;
}
} // namespace

trib_status ModuleSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    if (!instance_.handle()) {
        err = "sink module instance is not running";
        return TRIB_RETRY;
    }
    const LoadedModule &m = instance_.module();
    bool reads_store = m.abi_minor >= 5 && (m.flags & TRIB_MODULE_READS_STORED_ATTACHMENTS);
    const std::vector<trib::Point> *points = &batch;
    std::vector<trib::Point> with_bytes;
    if (!reads_store && holds_store_references(batch)) {
        // The module reads trib_attachment.data only (built for an older minor, or did not
        // declare it reads the store): it gets the bytes, read back from the store.
        with_bytes = batch;
        for (auto &p : with_bytes)
            for (auto &a : p.attachments) {
                if (a.data || a.stored_path.empty()) continue;
                std::string e;
                a.data = attachment_bytes(a, e);
                if (!a.data) {
                    log_warn("sink " + name_, e + " (the sink gets the attachment empty)");
                    a.data = std::make_shared<const std::string>();
                }
            }
        points = &with_bytes;
    }
    trib::BatchView view(*points);
    char buf[1024] = {0};
    trib_status st = m.desc->write(instance_.handle(), view.get(), buf, sizeof buf);
    if (st != TRIB_OK) err = buf[0] ? buf : "write failed";
    return st;
}

} // namespace trib::core
