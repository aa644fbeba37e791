// The viewer sink's [[sinks]] table.
#pragma once

#include <cstdint>
#include <string>

namespace trib::viewer {

struct ViewerConfig {
    std::string attachments_dir; // empty until resolved: <data-dir>/attachments
    int64_t max_age_hours = 168;
    int64_t max_size_mb = 10240;
    int64_t max_spans = 2000000;
    int64_t retention_interval_s = 60;
    int64_t max_query_profiles = 5000;
    int64_t cache_mb = 256; // SQLite page cache of the index
};

// Parses the sink table (JSON). Throws trib::StatusError(INVALID_ARGUMENT) naming the key.
ViewerConfig parse_config(const std::string &json_text);

// The attachment store of the file sink that shares this host's data dir: the instance
// state dir is <data-dir>/state/<module>/<instance>, the store <data-dir>/attachments.
std::string default_attachments_dir(const std::string &instance_data_dir);

} // namespace trib::viewer
