#include "spool_config.hpp"

#include "spool/upstream_http.hpp"

#include <cstdio>
#include <filesystem>

namespace trib::core {
namespace {

std::string where(const std::string &table, const char *key) { return "'" + table + "." + key + "'"; }

std::optional<double> number_key(const nlohmann::json &t, const std::string &table, const char *key, double min) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return std::nullopt;
    double v;
    if (it->is_number()) v = it->get<double>();
    else if (it->is_string()) {
        // Environment overrides may deliver numbers as strings.
        try {
            size_t used = 0;
            v = std::stod(it->get<std::string>(), &used);
            if (used != it->get<std::string>().size()) throw std::invalid_argument("");
        } catch (...) {
            throw std::invalid_argument(where(table, key) + " must be a number");
        }
    } else {
        throw std::invalid_argument(where(table, key) + " must be a number");
    }
    if (v < min) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", min);
        throw std::invalid_argument(where(table, key) + " must be at least " + buf);
    }
    return v;
}

std::optional<bool> bool_key(const nlohmann::json &t, const std::string &table, const char *key) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return std::nullopt;
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_string() && (*it == "true" || *it == "false")) return *it == "true";
    throw std::invalid_argument(where(table, key) + " must be true or false");
}

std::optional<std::string> string_key(const nlohmann::json &t, const std::string &table, const char *key) {
    auto it = t.find(key);
    if (it == t.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw std::invalid_argument(where(table, key) + " must be a string");
    return it->get<std::string>();
}

std::filesystem::path resolve(const std::string &path, const std::string &data_dir) {
    std::filesystem::path p(path);
    return p.is_absolute() || data_dir.empty() ? p : std::filesystem::path(data_dir) / p;
}

// Keys both kinds of table share.
void common_keys(const nlohmann::json &t, const std::string &table, SpoolSetup &s) {
    if (auto v = string_key(t, table, "policy")) {
        auto p = parse_spool_full_policy(*v);
        if (!p)
            throw std::invalid_argument(where(table, "policy") + " must be \"reject\" or \"drop_oldest\" (got \"" + *v +
                                        "\")");
        s.spool.policy = *p;
    }
    if (auto v = number_key(t, table, "fsync_interval_ms", 0)) s.spool.fsync_interval_ms = static_cast<uint32_t>(*v);
    if (auto v = number_key(t, table, "fsync_bytes", 0)) s.spool.fsync_bytes = static_cast<uint64_t>(*v);
    if (auto v = number_key(t, table, "segment_mb", 0.0625))
        s.spool.segment_bytes = static_cast<uint64_t>(*v * (1 << 20));
    if (auto v = number_key(t, table, "max_record_mb", 1))
        s.spool.max_record_bytes = static_cast<uint32_t>(*v * (1 << 20));
    if (auto v = number_key(t, table, "retry_initial_ms", 1))
        s.retry.initial_backoff = std::chrono::milliseconds(static_cast<int64_t>(*v));
    if (auto v = number_key(t, table, "retry_max_ms", 1))
        s.retry.max_backoff = std::chrono::milliseconds(static_cast<int64_t>(*v));
    if (auto v = number_key(t, table, "max_attempts", 0)) s.retry.max_attempts = static_cast<uint32_t>(*v);
    if (auto v = number_key(t, table, "workers", 1)) s.workers = static_cast<unsigned>(*v);
    if (auto v = bool_key(t, table, "clear_on_start")) s.spool.clear_on_open = *v;
}

} // namespace

SpoolSetup sink_spool_setup(const nlohmann::json &t, const std::string &data_dir, const std::string &default_dir) {
    const std::string table = "spool";
    if (!t.is_object()) throw std::invalid_argument("'spool' must be a table ([sinks.spool])");
    SpoolSetup s;
    s.spool.dir = resolve(string_key(t, table, "path").value_or(default_dir), data_dir);
    if (auto v = number_key(t, table, "capacity_mb", 0.0625))
        s.spool.capacity_bytes = static_cast<uint64_t>(*v * (1 << 20));
    // A sink's spool is durable per append by default: a sink is where data leaves us.
    common_keys(t, table, s);
    return s;
}

std::optional<SpoolSetup> input_spool_setup(const nlohmann::json &input, const std::string &data_dir,
                                            const std::string &default_dir) {
    if (!input.is_object()) return std::nullopt;
    SpoolSetup s;
    if (auto it = input.find("io_config"); it != input.end() && !it->is_null()) {
        const std::string table = "io_config";
        const nlohmann::json &t = *it;
        if (!t.is_object()) throw std::invalid_argument("'io_config' must be a table");
        s.spool.dir = resolve(string_key(t, table, "cache_path").value_or(default_dir), data_dir);
        s.spool.capacity_bytes = 10240ull << 20; // DataKit's default
        if (auto v = number_key(t, table, "cache_capacity_mb", 0.0625))
            s.spool.capacity_bytes = static_cast<uint64_t>(*v * (1 << 20));
        if (auto v = bool_key(t, table, "clear_cache_on_start")) s.spool.clear_on_open = *v;
        s.workers = 8;
        if (auto v = number_key(t, table, "upload_workers", 1)) s.workers = static_cast<unsigned>(*v);
        // send_retry_count is DataKit's total attempts per upload: here, per delivery to the
        // bus (whose only refusal is backpressure, which is always retried).
        if (auto v = number_key(t, table, "send_retry_count", 0)) s.retry.max_attempts = static_cast<uint32_t>(*v);
        // send_timeout is the per-attempt HTTP timeout of DataKit's upload; here the sinks'
        // own `timeout` applies. It is validated so a typo is still reported.
        if (auto it2 = t.find("send_timeout"); it2 != t.end() && it2->is_string()) {
            try {
                parse_duration(it2->get<std::string>());
            } catch (const std::invalid_argument &e) {
                throw std::invalid_argument(where(table, "send_timeout") + ": " + e.what());
            }
        }
        s.retry.initial_backoff = std::chrono::milliseconds(50);
        s.retry.max_backoff = std::chrono::milliseconds(2000);
        s.spool.fsync_interval_ms = 0; // acknowledged to the client only once durable
        common_keys(t, table, s);
        return s;
    }
    return std::nullopt;
}

} // namespace trib::core
