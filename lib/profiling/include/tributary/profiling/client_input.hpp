// Bounds and clean-up for what clients send, shared by the profile and pyroscope inputs.
// Each check throws a DecodeError (HTTP 400) or TooLargeError (HTTP 413) whose message
// names the limit, so a client can tell what to change.
#pragma once

#include <tributary/profiling/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace trib::profiling {

// JSON from clients (the ddtrace event, metrics.json, sample_type_config) may nest this
// deep; deeper is refused before any parser or printer recurses on it.
constexpr size_t kMaxJsonDepth = 64;
// Tags a client may send for one point (tags_profiler entries, Pyroscope name labels and
// query parameters, Push series labels). DataKit and Pyroscope cap labels alike.
constexpr size_t kMaxClientTags = 64;
// Client times (ddtrace start/end, Pyroscope from/until, pprof time_nanos) must fall in
// [2000-01-01T00:00:00Z, the collector's clock + 1 day].
constexpr int64_t kEarliestClientTimeNs = 946'684'800'000'000'000LL;
constexpr int64_t kMaxClientClockSkewNs = 86'400'000'000'000LL;

// Throws DecodeError naming `what` and kMaxJsonDepth when `json` nests arrays/objects
// deeper than max_depth (strings are skipped; the text need not be valid JSON).
void check_json_depth(std::string_view json, std::string_view what, size_t max_depth = kMaxJsonDepth);

// Throws DecodeError naming `what` when count > kMaxClientTags.
void check_tag_count(size_t count, std::string_view what);

// Throws DecodeError naming `what` when ns is outside the client time window above.
void check_client_time(int64_t ns, std::string_view what);

// Text with every invalid UTF-8 sequence (overlong, surrogate, truncated, > U+10FFFF)
// replaced by U+FFFD; valid text comes back unchanged.
std::string to_valid_utf8(std::string_view text);
bool is_valid_utf8(std::string_view text);

// Appends a code point (at most U+10FFFF, not a surrogate) as UTF-8.
void append_utf8(std::string &out, uint32_t code_point);

} // namespace trib::profiling
