// Reading one ddtrace profiler upload (POST /profiling/v1/input) into DataKit's metadata
// map (spec 1.3) and a ProfileUpload.
#pragma once

#include <tributary/profiling/profile_point.hpp>

#include <cstdint>
#include <map>
#include <optional>
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

// What the metadata takes from an event part: its top-level members as DataKit's metadata
// text (a scalar as itself, an array's elements joined with ',', null as "", nested JSON as
// compact JSON; the last of a repeated key wins) and tags_profiler.
struct EventMembers {
    std::map<std::string, std::string> members;
    std::optional<std::string> tags_profiler;
};

// The metadata keys the upload reads (to_profile_upload, its format and times). Add a key
// here before reading it: read_event leaves out nested members of other keys.
bool is_read_metadata_key(std::string_view key);

// The event in one SAX pass, no document built; the members whose values nest are left out
// unless is_read_metadata_key. Throws DecodeError as read_event_document does.
EventMembers read_event(std::string_view raw);

// The event read as a whole document: every member. What read_event falls back to when a
// read key holds nested JSON, and the reference the tests and the fuzzer hold it to.
EventMembers read_event_document(std::string_view raw);

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
