// Reading one ddtrace profiler upload (POST /profiling/v1/input) into DataKit's metadata
// map (spec 1.3) and a ProfileUpload.
#pragma once

#include <tributary/profiling/profile_point.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::profile {

struct UploadFile {
    std::string name;     // attachment name (part name; data[x.pprof] → x.pprof)
    std::string filename; // the part's filename
    std::string content_type;
    std::string_view data; // view into the request body
};

struct ParsedUpload {
    std::map<std::string, std::string> metadata;      // DataKit's metadata map
    std::map<std::string, std::string> profiler_tags; // tags_profiler / tags[] entries, in order of keys
    std::vector<UploadFile> files;
    bool has_event = false;
    std::string_view event_raw;
    bool form_style = false;
    int64_t start_ns = 0, end_ns = 0; // 0 when the upload did not say
};

// Parses the multipart body. Throws profiling::DecodeError with a reason a client can
// read: bad multipart, bad event JSON, no event and no tags[], no profile attachment,
// unparseable times.
ParsedUpload parse_ddtrace_upload(std::string_view body, std::string_view boundary);

// Splits "k:v,k2:v2" (a value without ':' is a key with an empty value).
std::vector<std::pair<std::string, std::string>> split_tag_list(std::string_view s);

struct TagPolicy {
    std::map<std::string, std::string> input_tags;  // override the upload's
    std::map<std::string, std::string> global_tags; // fill missing keys
};

// Builds the ProfileUpload: tags, event_fields, format, files (one copy each), and the
// event (the original one unless the tags changed or there was none).
profiling::ProfileUpload to_profile_upload(const ParsedUpload &parsed, const TagPolicy &policy, int64_t now_ns);

} // namespace trib::profile
