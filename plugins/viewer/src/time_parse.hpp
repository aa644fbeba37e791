// Times and durations in API query parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trib::viewer {

// "300ms", "1.5s", "2m", "1h", "10us", "1d" → nanoseconds; nullopt when malformed or < 0.
std::optional<int64_t> parse_duration_ns(std::string_view text);

// A point in time as ns since the epoch: RFC3339 ("2026-12-02T10:00:00Z"), Unix
// milliseconds ("1764669600000"), or "now" / "now-<duration>" (e.g. "now-1h").
// nullopt when malformed.
std::optional<int64_t> parse_time_ns(std::string_view text, int64_t now_ns);

int64_t now_ns();

} // namespace trib::viewer
