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

struct PprofSummary; // pprof_reader.hpp
struct JfrProfiles;  // jfr.hpp

struct ProfileFile {
    std::string name;                        // original part/file name, e.g. "wall.pprof"
    std::string content_type;                // as sent (may be empty)
    std::shared_ptr<const std::string> data; // the original bytes, compressed or not
    // The receiver's one-pass read of `data` when it made one (Pyroscope reads labels),
    // so generate_metrics does not decode the file again.
    std::shared_ptr<const PprofSummary> pprof;
    // The same for a JFR recording the receiver decoded (its stats and time span only).
    std::shared_ptr<const JfrProfiles> jfr;
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

using TagMap = std::map<std::string, std::string>;

// Where the tags of a profile point come from: one precedence for the profile input, its Go
// pull and the pyroscope input (highest first):
//   1. overrides  the input's `tags` ([inputs.profile.tags], [inputs.pyroscope.tags]; for a
//                 Go pull the input's, then the pull job's own, which win): always set.
//   2. sent       what `tags` holds on entry: what the client sent (event tags_profiler /
//                 tags[] and metadata, pyroscope name labels, query parameters, series and
//                 pprof labels) or, for a pull, what the job says of its target.
//   3. defaults   the input's configured service / env / version: fill a key that is
//                 missing or empty.
//   4. "unnamed-service" for a service missing or empty after 1-3 (when service_fallback;
//      a global `service` tag never names a profile).
//   5. global     the host's global tags: fill a key no layer above set.
struct ProfileTagLayers {
    const TagMap *defaults = nullptr;
    std::vector<const TagMap *> overrides; // later ones win
    const TagMap *global = nullptr;
    bool service_fallback = true;
};

// Merges the layers into `tags` (layer 2 on entry). True when an override or a global tag
// changed what was sent: an event.json the client sent no longer lists the point's tags.
bool merge_profile_tags(TagMap &tags, const ProfileTagLayers &layers);

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
