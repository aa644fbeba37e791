// The one `profile` point schema both the profile and the pyroscope inputs emit.
#pragma once

#include <tributary/plugin.hpp>
#include <tributary/profiling/compression.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trib::profiling {

struct ProfileFile {
    std::string name;                        // original part/file name, e.g. "wall.pprof"
    std::string content_type;                // as sent (may be empty)
    std::shared_ptr<const std::string> data; // the original bytes, compressed or not
};

struct ProfileUpload {
    // host, service, env, version, language, runtime, runtime_os, runtime_arch,
    // runtime_version, profiler_version, every tags_profiler entry, ...
    std::map<std::string, std::string> tags;
    // String fields: runtime_id, pid, library_ver, ...
    std::map<std::string, std::string> event_fields;
    int64_t start_ns = 0, end_ns = 0;
    std::string format;   // "pprof" | "jfr" | "collapse"
    std::string profiler; // e.g. "ddtrace", "pyroscope", "pprof"
    std::vector<ProfileFile> files;
    std::string event_json; // the event.json to attach; empty = build_event_json(*this)
    // How far each file may inflate when read (generate_metrics), and the host budget.
    InflateLimit inflate;
};

// Gives every file a distinct, valid UTF-8 name that is not "event.json" (the event's
// own attachment): a repeat becomes "wall-2.pprof", a client's "event.json" "event-2.json".
// True when a name changed (an event listing the old names must be rebuilt).
bool make_attachment_names_unique(std::vector<ProfileFile> &files);

// A random UUID v4 (lowercase, 36 characters).
std::string new_profile_id();

// Measurement "profile", category "profiling", time = start. Tags: upload.tags (service
// defaults to unnamed-service). Fields: profile_id, format, start, end, duration (all
// three in µs), __file_size (sum of file bytes), then every event_fields entry as a
// string. Attachments: every file, then "event.json".
trib::Point build_profile_point(const ProfileUpload &upload, const std::string &profile_id);

// DataKit's rewritten event (spec 1.5 step 5): format, profiler, attachments, language,
// tags_profiler ("k:v,..." of every tag), start, end (RFC3339Nano or null).
std::string build_event_json(const ProfileUpload &upload);

// RFC3339 / RFC3339Nano ("2026-11-22T03:03:01.860Z", "...+08:00") → ns since the epoch.
// Throws DecodeError on anything else.
int64_t parse_rfc3339_ns(std::string_view text);
// ns since the epoch → RFC3339Nano in UTC, trailing zeros of the fraction dropped (Go's
// time.RFC3339Nano).
std::string format_rfc3339_nano(int64_t ns);

} // namespace trib::profiling
