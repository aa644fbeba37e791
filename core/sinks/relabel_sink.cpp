#include "relabel_sink.hpp"

#include "host/log.hpp"
#include "store/attachment_store.hpp"

namespace trib::core {

namespace {
bool ends_with(const std::string &s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
} // namespace

bool RelabelSink::is_pprof_attachment(const trib::Point &p, const trib::Attachment &a) {
    if (!a.data && a.stored_path.empty()) return false;
    if (ends_with(a.name, ".pprof") || ends_with(a.name, ".pb.gz") || ends_with(a.name, ".pprof.gz") ||
        ends_with(a.name, ".pb"))
        return true;
    if (ends_with(a.name, ".json") || a.name == "labels") return false;
    const trib::Field *format = p.find_field("format");
    return format && format->type == TRIB_FIELD_STRING && format->s == "pprof";
}

trib_status RelabelSink::write(const std::vector<trib::Point> &batch, std::string &err) {
    std::vector<trib::Point> out;
    out.reserve(batch.size());
    trib::relabel::PprofEdit edit;
    edit.rules = &rules_->pprof;
    for (auto &p : batch) {
        trib::relabel::Labels tags = p.tags;
        if (!rules_->tags.empty() && !trib::relabel::apply_tag_rules(rules_->tags, tags)) {
            ++points_dropped_;
            continue;
        }
        // A fresh point: its tag index is rebuilt from the rewritten tags.
        trib::Point q(p.measurement, p.category, p.time_ns);
        q.tags = std::move(tags);
        q.fields = p.fields;
        q.attachments = p.attachments;
        if (!rules_->pprof.empty()) {
            for (auto &a : q.attachments) {
                if (!is_pprof_attachment(q, a)) continue;
                std::string load_err;
                auto bytes = attachment_bytes(a, load_err);
                if (!bytes) continue; // retention removed it; the point goes on, the sink reports the gap
                try {
                    trib::relabel::PprofRewriteStats st;
                    std::string rewritten = trib::relabel::rewrite_pprof(*bytes, edit, &st);
                    if (st.changed) {
                        // Rewritten bytes go on in memory (a file sink writes them, as it always wrote
                        // what its rules made).
                        a.data = std::make_shared<const std::string>(std::move(rewritten));
                        a.stored_path.clear();
                        a.stored_size = 0;
                    }
                } catch (const trib::relabel::PprofError &e) {
                    // Sent as it came: a part that is not a readable pprof is not ours to drop.
                    if (pprof_failures_++ == 0)
                        log_warn("sink " + name(), "relabel: attachment '" + a.name + "' left as it was: " + e.what());
                }
            }
        }
        out.push_back(std::move(q));
    }
    if (out.empty()) return TRIB_OK;
    return inner_->write(out, err);
}

} // namespace trib::core
