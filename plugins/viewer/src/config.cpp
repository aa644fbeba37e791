#include "config.hpp"

#include <tributary/plugin.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>

namespace trib::viewer {

namespace {
[[noreturn]] void bad(const std::string &key, const std::string &why) {
    throw trib::StatusError(TRIB_INVALID_ARGUMENT, "sinks.viewer: " + key + ": " + why);
}

int64_t positive_int(const std::string &key, const nlohmann::json &v) {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0) bad(key, "must be a positive integer");
    return v.get<int64_t>();
}
} // namespace

ViewerConfig parse_config(const std::string &text) {
    ViewerConfig c;
    nlohmann::json j;
    try {
        j = text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
    } catch (const std::exception &e) {
        bad("config", std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) bad("config", "must be a table");
    for (auto &[k, v] : j.items()) {
        if (k == "attachments_dir") {
            if (!v.is_string() || v.get<std::string>().empty()) bad(k, "must be a non-empty path");
            c.attachments_dir = v.get<std::string>();
        } else if (k == "max_age_hours") c.max_age_hours = positive_int(k, v);
        else if (k == "max_size_mb") c.max_size_mb = positive_int(k, v);
        else if (k == "max_spans") c.max_spans = positive_int(k, v);
        else if (k == "retention_interval_s") c.retention_interval_s = positive_int(k, v);
        else if (k == "max_query_profiles") c.max_query_profiles = positive_int(k, v);
        else if (k == "cache_mb") c.cache_mb = positive_int(k, v);
        // The host's own sink keys (name, type, categories, measurements, spool) pass through.
        else if (k == "name" || k == "type" || k == "categories" || k == "measurements" || k == "spool") continue;
        else
            bad(k, "unknown key (known: attachments_dir, max_age_hours, max_size_mb, max_spans, "
                   "retention_interval_s, max_query_profiles, cache_mb)");
    }
    return c;
}

std::string default_attachments_dir(const std::string &instance_data_dir) {
    namespace fs = std::filesystem;
    fs::path state(instance_data_dir);
    if (state.filename().empty()) state = state.parent_path();
    return (state.parent_path().parent_path().parent_path() / "attachments").string();
}

} // namespace trib::viewer
