// Pyroscope's LabelsSnapshot (jfr_labels.proto) → context id → (key, value) labels.
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>

#include <jfr_labels.pb.h>

#include <algorithm>

namespace trib::profiling {

LabelsSnapshotView LabelsSnapshotView::parse(std::string_view maybe_compressed, const InflateLimit &limit) {
    Inflated raw = inflate(maybe_compressed, limit);
    pyroscope::jfr::labels::LabelsSnapshot snap;
    if (!snap.ParseFromString(raw.data)) throw DecodeError("jfr labels: not a LabelsSnapshot protobuf");
    LabelsSnapshotView out;
    auto lookup = [&](int64_t id) -> std::string {
        auto it = snap.strings().find(id);
        if (it == snap.strings().end())
            throw DecodeError("jfr labels: context refers to unknown string id " + std::to_string(id));
        return it->second;
    };
    for (const auto &[ctx_id, ctx] : snap.contexts()) {
        auto &labels = out.contexts_[ctx_id];
        labels.reserve(size_t(ctx.labels_size()));
        for (const auto &[k, v] : ctx.labels()) labels.emplace_back(lookup(k), lookup(v));
        std::sort(labels.begin(), labels.end());
    }
    return out;
}

const std::vector<std::pair<std::string, std::string>> *LabelsSnapshotView::context(int64_t id) const {
    if (id == 0) return nullptr;
    auto it = contexts_.find(id);
    return it == contexts_.end() ? nullptr : &it->second;
}

} // namespace trib::profiling
