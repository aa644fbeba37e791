// libFuzzer target: the ddtrace event / metadata parser. The input is the event JSON; it
// is wrapped in a v4 upload with one profile part, then parsed into a ProfileUpload and
// a profile point.
#include "upload.hpp"

#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>

#include <nlohmann/json.hpp>
#include <tributary/profiling/multipart.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {
// The one-pass event reading agrees with the whole document: the same error, the same text
// for every member it keeps, and only nested members of keys nobody reads left out.
void check_against_document(std::string_view event) {
    std::string doc_error, sax_error;
    trib::profile::EventMembers doc, sax;
    try {
        trib::profiling::check_json_depth(event, "event part"); // as the upload parser does first
        doc = trib::profile::read_event_document(event);
    } catch (const trib::profiling::DecodeError &e) {
        doc_error = e.what();
    }
    if (doc_error.find("nests deeper") != std::string::npos) return;
    try {
        sax = trib::profile::read_event(event);
    } catch (const trib::profiling::DecodeError &e) {
        sax_error = e.what();
    }
    if (sax_error != doc_error) __builtin_trap();
    if (!doc_error.empty()) return;
    if (sax.tags_profiler != doc.tags_profiler) __builtin_trap();
    for (auto &[k, v] : sax.members) {
        auto it = doc.members.find(k);
        if (it == doc.members.end() || it->second != v) __builtin_trap();
    }
    for (auto &[k, v] : doc.members)
        if (!sax.members.count(k) && trib::profile::is_read_metadata_key(k)) __builtin_trap();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view event(reinterpret_cast<const char *>(data), size);
    check_against_document(event);
    trib::profiling::MultipartWriter w("fuzz-boundary-7f3a");
    w.add_file("event", "event.json", "application/json", event);
    w.add_file("wall.pprof", "wall.pprof", "application/octet-stream", "\x1f\x8b");
    std::string body = w.finish();
    try {
        auto parsed = trib::profile::parse_ddtrace_upload(body, w.boundary());
        trib::profile::TagPolicy policy{{{"env", "fuzz"}}, {{"host", "h"}}};
        auto upload = trib::profile::to_profile_upload(parsed, policy, 1);
        auto point = trib::profiling::build_profile_point(upload, "00000000-0000-4000-8000-000000000000");
        if (point.measurement != "profile" || point.attachments.size() != 2) __builtin_trap();
        // What passed the limits: bounded tags, times in order, the event ours and valid.
        if (parsed.profiler_tags.size() > trib::profiling::kMaxClientTags) __builtin_trap();
        if (upload.end_ns < upload.start_ns) __builtin_trap();
        if (point.attachments.back().name != "event.json" || point.attachments.front().name == "event.json")
            __builtin_trap();
        for (auto &[k, v] : point.tags)
            if (!trib::profiling::is_valid_utf8(k) || !trib::profiling::is_valid_utf8(v)) __builtin_trap();
        (void)nlohmann::json::parse(*point.attachments.back().data); // throws (a crash here) unless valid JSON
    } catch (const trib::profiling::DecodeError &) {}
    return 0;
}
