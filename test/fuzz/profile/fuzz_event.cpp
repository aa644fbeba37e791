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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view event(reinterpret_cast<const char *>(data), size);
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
