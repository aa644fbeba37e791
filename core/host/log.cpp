#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace trib::core {

namespace {
std::atomic<int> g_level{TRIB_LOG_INFO};
std::mutex g_mutex;

const char *level_name(trib_log_level l) {
    switch (l) {
    case TRIB_LOG_DEBUG: return "DEBUG";
    case TRIB_LOG_INFO: return "INFO";
    case TRIB_LOG_WARN: return "WARN";
    case TRIB_LOG_ERROR: return "ERROR";
    }
    return "INFO";
}
} // namespace

void set_log_level(trib_log_level level) { g_level = level; }

trib_log_level log_level_from_name(std::string_view n, trib_log_level fallback) {
    if (n == "debug") return TRIB_LOG_DEBUG;
    if (n == "info") return TRIB_LOG_INFO;
    if (n == "warn" || n == "warning") return TRIB_LOG_WARN;
    if (n == "error") return TRIB_LOG_ERROR;
    return fallback;
}

bool log_level_known(std::string_view n) {
    return n == "debug" || n == "info" || n == "warn" || n == "warning" || n == "error";
}

void log_message(trib_log_level level, std::string_view source, std::string_view message) {
    if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    int ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[40];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    std::string line;
    line.reserve(message.size() + source.size() + 48);
    line += ts;
    line += ' ';
    line += level_name(level);
    line += " [";
    line += source;
    line += "] ";
    line += message;
    line += '\n';
    std::lock_guard<std::mutex> lk(g_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace trib::core
