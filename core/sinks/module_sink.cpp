#include "module_sink.hpp"

#include "host/log.hpp"
#include "store/attachment_store.hpp"

namespace trib::core {

namespace {
bool holds_store_references(const std::vector<const std::vector<trib::Point> *> &parts) {
    for (auto *batch : parts)
        for (auto &p : *batch)
            for (auto &a : p.attachments)
                if (!a.data && !a.stored_path.empty()) return true;
    return false;
}
} // namespace

trib_status ModuleSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    return write_parts({&batch}, err);
}

std::chrono::milliseconds ModuleSink::write_linger() const {
    if (!instance_.handle()) return std::chrono::milliseconds(0);
    const LoadedModule &m = instance_.module();
    return m.abi_minor >= 5 && (m.flags & TRIB_MODULE_BATCHED_WRITES) ? std::chrono::milliseconds(100)
                                                                      : std::chrono::milliseconds(0);
}

trib_status ModuleSink::write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &err) {
    if (!instance_.handle()) {
        err = "sink module instance is not running";
        return TRIB_RETRY;
    }
    const LoadedModule &m = instance_.module();
    bool reads_store = m.abi_minor >= 5 && (m.flags & TRIB_MODULE_READS_STORED_ATTACHMENTS);
    const std::vector<const std::vector<trib::Point> *> *view_of = &parts;
    std::vector<trib::Point> with_bytes;
    std::vector<const std::vector<trib::Point> *> with_bytes_parts;
    if (!reads_store && holds_store_references(parts)) {
        // The module reads trib_attachment.data only (built for an older minor, or did not
        // declare it reads the store): it gets the bytes, read back from the store.
        for (auto *batch : parts) with_bytes.insert(with_bytes.end(), batch->begin(), batch->end());
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
        with_bytes_parts.push_back(&with_bytes);
        view_of = &with_bytes_parts;
    }
    trib::BatchView view(*view_of);
    char buf[1024] = {0};
    trib_status st = m.desc->write(instance_.handle(), view.get(), buf, sizeof buf);
    if (st != TRIB_OK) err = buf[0] ? buf : "write failed";
    return st;
}

} // namespace trib::core
