// Reading spool settings from config tables:
//   [sinks.spool]                 path, capacity_mb, policy, fsync_interval_ms, fsync_bytes,
//                                 segment_mb, retry_initial_ms, retry_max_ms, max_attempts, workers
//   [inputs.<x>.io_config]        DataKit: cache_path, cache_capacity_mb, clear_cache_on_start,
//                                 upload_workers, send_timeout, send_retry_count (+ policy, fsync_*)
// pinpoint's [inputs.pinpoint.storage] is not read here: the pinpoint module queues the raw
// gRPC messages on disk itself (as DataKit does), so the host adds no second spool.
#pragma once

#include "spool/spool.hpp"
#include "spool/spool_delivery.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace trib::core {

struct SpoolSetup {
    SpoolOptions spool;
    RetryPolicy retry;
    unsigned workers = 1;
    // A sink's spool hands a backlog to the sink in joined writes of up to these.
    size_t join_max_records = 256;
    uint64_t join_max_bytes = 16ull << 20;
};

// [sinks.spool] of a [[sinks]] table. default_dir: used when `path` is absent; a relative
// `path` is taken relative to data_dir. Throws std::invalid_argument naming the key.
SpoolSetup sink_spool_setup(const nlohmann::json &spool_table, const std::string &data_dir,
                            const std::string &default_dir);

// The input instance's spool, if its table has `io_config`; nullopt otherwise.
// Throws std::invalid_argument naming the key.
std::optional<SpoolSetup> input_spool_setup(const nlohmann::json &input_table, const std::string &data_dir,
                                            const std::string &default_dir);

} // namespace trib::core
