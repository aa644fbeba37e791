#include "time_parse.hpp"

#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>

namespace trib::viewer {

std::optional<int64_t> parse_duration_ns(std::string_view s) {
    if (s.empty()) return std::nullopt;
    size_t i = 0;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    std::string num(s.substr(0, i));
    char *end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (!end || *end != '\0' || !std::isfinite(v) || v < 0) return std::nullopt;
    std::string_view unit = s.substr(i);
    double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else if (unit == "d") scale = 86400e9;
    else return std::nullopt;
    double ns = v * scale;
    if (ns > 9.2e18) return std::nullopt;
    return static_cast<int64_t>(ns);
}

std::optional<int64_t> parse_time_ns(std::string_view s, int64_t now) {
    if (s.empty()) return std::nullopt;
    if (s == "now") return now;
    if (s.rfind("now-", 0) == 0) {
        auto d = parse_duration_ns(s.substr(4));
        if (!d) return std::nullopt;
        return now - *d;
    }
    bool digits = true;
    for (char c : s) digits = digits && c >= '0' && c <= '9';
    if (digits) {
        if (s.size() > 15) return std::nullopt; // Unix ms up to the year 33658
        return static_cast<int64_t>(std::strtoll(std::string(s).c_str(), nullptr, 10)) * 1000000;
    }
    try {
        return trib::profiling::parse_rfc3339_ns(s);
    } catch (const trib::profiling::DecodeError &) {
        return std::nullopt;
    }
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace trib::viewer
