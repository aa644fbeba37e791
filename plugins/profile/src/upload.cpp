#include "upload.hpp"

#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/language.hpp>
#include <tributary/profiling/multipart.hpp>

#include <nlohmann/json.hpp>

#include <optional>

namespace trib::profile {

using profiling::check_client_time;
using profiling::check_json_depth;
using profiling::check_tag_count;
using profiling::DecodeError;

std::vector<std::pair<std::string, std::string>> split_tag_list(std::string_view s) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t comma = s.find(',', pos);
        if (comma == std::string_view::npos) comma = s.size();
        std::string_view item = s.substr(pos, comma - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) {
            size_t colon = item.find(':');
            if (colon == std::string_view::npos) out.emplace_back(std::string(item), std::string());
            else out.emplace_back(std::string(item.substr(0, colon)), std::string(item.substr(colon + 1)));
        }
        pos = comma + 1;
    }
    return out;
}

namespace {

bool is_event_part(const profiling::MultipartPart &p) {
    return p.name == "event" || p.name == "event.json" || (p.name.empty() && p.filename == "event.json");
}

// A JSON scalar as metadata text; anything else as compact JSON (depth already bounded).
std::string scalar_text(const nlohmann::json &v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "";
    return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// JSON value → DataKit's metadata string (an array's elements joined with ',').
// Not recursive: an element that is itself an array or object is written as JSON.
std::string stringify(const nlohmann::json &v) {
    if (!v.is_array()) return scalar_text(v);
    std::string out;
    for (auto &x : v) {
        if (!out.empty()) out.push_back(',');
        out += scalar_text(x);
    }
    return out;
}

void add_if_absent(std::map<std::string, std::string> &m, const std::string &k, const std::string &v) {
    auto it = m.find(k);
    if (it == m.end()) m.emplace(k, v);
    else if (it->second.empty()) it->second = v;
}

} // namespace

bool is_read_metadata_key(std::string_view k) {
    static constexpr std::string_view kRead[] = {"host",
                                                 "service",
                                                 "env",
                                                 "runtime",
                                                 "runtime_os",
                                                 "runtime_arch",
                                                 "runtime_version",
                                                 "profiler_version",
                                                 "language",
                                                 "family",
                                                 "runtime-id",
                                                 "runtime_id",
                                                 "process_id",
                                                 "pid",
                                                 "library_ver",
                                                 "format",
                                                 "recording-start",
                                                 "start",
                                                 "recording-end",
                                                 "end"};
    for (auto r : kRead)
        if (r == k) return true;
    return false;
}

EventMembers read_event_document(std::string_view raw) {
    auto ev = nlohmann::json::parse(raw, nullptr, false);
    if (ev.is_discarded()) throw DecodeError("event part is not valid JSON (or not UTF-8)");
    if (!ev.is_object()) throw DecodeError("event part is not a JSON object");
    EventMembers out;
    for (auto &[k, v] : ev.items()) {
        if (k == "tags_profiler") {
            if (!v.is_string()) throw DecodeError("event field 'tags_profiler' is not a string");
            out.tags_profiler = v.get<std::string>();
        } else {
            out.members[k] = stringify(v);
        }
    }
    return out;
}

namespace {

// The event's top-level members in one SAX pass, with no document built: a recorded
// dd-trace event is mostly a nested "info" object nobody reads, and building it (and
// writing it back as text) cost more than the rest of the upload's parsing. Scalars and
// arrays of scalars are written as stringify() writes them; a nested value is skipped,
// unless its key is read, when the caller falls back to the document.
class EventReader {
  public:
    using json = nlohmann::json;
    bool null() { return scalar(std::string()); }
    bool boolean(bool v) { return scalar(v ? "true" : "false"); }
    bool number_integer(json::number_integer_t v) { return scalar(std::to_string(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return scalar(std::to_string(v)); }
    bool number_float(json::number_float_t v, const std::string &) { return scalar(json(v).dump()); }
    bool string(std::string &v) {
        if (depth_ == 1 && key_ == "tags_profiler") {
            tags_profiler_ = std::move(v);
            have_tags_profiler_ = true;
            tags_profiler_bad_ = false;
            return true;
        }
        return scalar(std::move(v));
    }
    bool binary(json::binary_t &) { return true; }
    bool start_object(std::size_t) { return open(false); }
    bool start_array(std::size_t) { return open(true); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string &k) {
        if (depth_ == 1) key_ = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) { return false; }

    // The members, or nullopt when a key that is read holds nested JSON.
    std::optional<EventMembers> result() {
        if (!root_object_) throw DecodeError("event part is not a JSON object");
        if (needs_document_) return std::nullopt;
        if (tags_profiler_bad_) throw DecodeError("event field 'tags_profiler' is not a string");
        EventMembers out;
        out.members = std::move(members_);
        if (have_tags_profiler_) out.tags_profiler = std::move(tags_profiler_);
        return out;
    }

  private:
    bool scalar(std::string text) {
        if (depth_ == 1) member(std::move(text));
        else if (depth_ == 2 && in_array_ && !array_nested_) {
            if (array_items_++) array_text_.push_back(',');
            array_text_ += text;
        }
        return true;
    }
    void member(std::string text) {
        if (key_ == "tags_profiler") {
            // A value other than a string, unless a later one of the key is a string.
            tags_profiler_bad_ = true;
            have_tags_profiler_ = true;
            return;
        }
        members_[key_] = std::move(text);
    }
    bool open(bool array) {
        if (depth_ == 0) root_object_ = !array;
        else if (depth_ == 1) {
            in_array_ = array;
            array_nested_ = !array;
            array_items_ = 0;
            array_text_.clear();
        } else if (depth_ == 2 && in_array_) {
            array_nested_ = true;
        }
        ++depth_;
        return true;
    }
    bool close() {
        --depth_;
        if (depth_ == 1) {
            if (key_ == "tags_profiler") {
                tags_profiler_bad_ = true;
                have_tags_profiler_ = true;
            } else if (!array_nested_) {
                members_[key_] = std::move(array_text_);
            } else {
                if (is_read_metadata_key(key_)) needs_document_ = true;
                members_.erase(key_); // a later member of the key replaces an earlier one
            }
            array_text_.clear();
            in_array_ = false;
        }
        return true;
    }

    int depth_ = 0;
    bool root_object_ = false;
    std::string key_;
    bool in_array_ = false, array_nested_ = false;
    size_t array_items_ = 0;
    std::string array_text_;
    std::map<std::string, std::string> members_;
    std::string tags_profiler_;
    bool have_tags_profiler_ = false, tags_profiler_bad_ = false;
    bool needs_document_ = false;
};

} // namespace

EventMembers read_event(std::string_view raw) {
    EventReader reader;
    if (!nlohmann::json::sax_parse(raw, &reader)) throw DecodeError("event part is not valid JSON (or not UTF-8)");
    if (auto members = reader.result()) return std::move(*members);
    return read_event_document(raw);
}

namespace {

// Go v1 form style names files data[cpu.pprof] or data[0] with types[0]=cpu.
std::string attachment_name(const profiling::MultipartPart &p, const std::map<std::string, std::string> &fields) {
    std::string name = p.name.empty() ? p.filename : p.name;
    if (name.size() > 6 && name.rfind("data[", 0) == 0 && name.back() == ']') {
        std::string inner = name.substr(5, name.size() - 6);
        if (inner.find('.') != std::string::npos) return inner;
        auto t = fields.find("types[" + inner + "]");
        if (t != fields.end() && !t->second.empty()) {
            std::string type = t->second;
            for (auto &c : type)
                if (c == ',') c = '-';
            return type + ".pprof";
        }
    }
    if (name.empty()) name = "unnamed";
    return name;
}

int64_t parse_time(const std::map<std::string, std::string> &md, std::initializer_list<const char *> keys) {
    for (const char *k : keys) {
        auto it = md.find(k);
        if (it == md.end() || it->second.empty()) continue;
        try {
            return profiling::parse_rfc3339_ns(it->second);
        } catch (const DecodeError &e) {
            throw DecodeError(std::string("field '") + k + "': " + e.what());
        }
    }
    return 0;
}

} // namespace

ParsedUpload parse_ddtrace_upload(std::string_view body, std::string_view boundary) {
    auto parts = profiling::parse_multipart(body, boundary);
    ParsedUpload out;

    // Form values first: a part without a filename is a field (spec 1.3).
    std::map<std::string, std::string> fields;
    std::vector<std::string> tags_list;
    for (auto &p : parts) {
        if (!p.filename.empty() || is_event_part(p)) continue;
        if (p.name == "tags[]") {
            tags_list.emplace_back(p.data);
            continue;
        }
        auto &slot = fields[p.name];
        if (!slot.empty()) slot.push_back(',');
        slot.append(p.data);
    }

    for (auto &p : parts) {
        if (is_event_part(p) && !out.has_event) {
            out.has_event = true;
            out.event_raw = p.data;
            continue;
        }
        // A second event-like part is a client file like any other: it is kept (under a
        // suffixed name), never dropped or taken for the event.
        if (p.filename.empty() && !is_event_part(p)) continue;
        out.files.push_back(UploadFile{attachment_name(p, fields), p.filename, p.content_type, p.data});
    }

    if (!tags_list.empty()) {
        check_tag_count(tags_list.size(), "the tags[] fields");
        out.form_style = true;
        // Each tags[] value is one k:v pair, split at the first ':' (a value may hold ',').
        for (auto &t : tags_list) {
            size_t colon = t.find(':');
            std::string k = colon == std::string::npos ? t : t.substr(0, colon);
            std::string v = colon == std::string::npos ? std::string() : t.substr(colon + 1);
            out.metadata[k] = v;
            out.profiler_tags[k] = v;
        }
        for (auto &[k, v] : fields) add_if_absent(out.metadata, k, v);
    } else if (out.has_event) {
        // Bounded before parsing: nothing below may recurse deeper than the limit.
        check_json_depth(out.event_raw, "event part");
        EventMembers ev = read_event(out.event_raw);
        if (ev.tags_profiler) {
            auto profiler_tags = split_tag_list(*ev.tags_profiler);
            check_tag_count(profiler_tags.size(), "event field 'tags_profiler'");
            for (auto &[k, v] : profiler_tags) {
                out.metadata[k] = v;
                out.profiler_tags[k] = v;
            }
        }
        for (auto &[k, v] : ev.members) add_if_absent(out.metadata, k, v);
        for (auto &[k, v] : fields) add_if_absent(out.metadata, k, v);
    } else {
        throw DecodeError("no 'event' part and no 'tags[]' field: not a profiler upload");
    }

    if (out.files.empty()) throw DecodeError("no profile attachment in the upload");
    out.start_ns = parse_time(out.metadata, {"recording-start", "start"});
    out.end_ns = parse_time(out.metadata, {"recording-end", "end"});
    if (out.start_ns) check_client_time(out.start_ns, "the recording start");
    if (out.end_ns) check_client_time(out.end_ns, "the recording end");
    if (out.start_ns && out.end_ns && out.start_ns > out.end_ns)
        throw DecodeError("the recording start is after its end");
    return out;
}

namespace {
std::string get(const std::map<std::string, std::string> &m, const char *k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
}

std::string format_of(const ParsedUpload &p) {
    std::string f = get(p.metadata, "format");
    if (f == "pprof" || f == "jfr") return f;
    // DataKit: the extension of a file's field name, then of its filename.
    auto ends = [](const std::string &s, std::string_view suf) {
        return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
    };
    for (auto &file : p.files)
        for (const std::string *n : {&file.name, &file.filename}) {
            if (ends(*n, ".jfr")) return "jfr";
            if (ends(*n, ".pprof")) return "pprof";
        }
    return "unknown";
}
} // namespace

profiling::ProfileUpload to_profile_upload(const ParsedUpload &p, const TagPolicy &policy, int64_t now_ns) {
    profiling::ProfileUpload u;
    const auto &md = p.metadata;

    // Tags: every profiler tag (tags_profiler / tags[]), and the well-known keys from
    // the rest of the metadata.
    for (auto &[k, v] : p.profiler_tags) u.tags[k] = v;
    for (const char *k :
         {"host", "service", "env", "runtime", "runtime_os", "runtime_arch", "runtime_version", "profiler_version"})
        if (!u.tags.count(k) && !get(md, k).empty()) u.tags[k] = get(md, k);
    u.tags["language"] = profiling::detect_language({get(md, "language"), get(md, "runtime"), get(md, "family")});
    // `format` is a field of the point; a tag of the same name would shadow it.
    u.tags.erase("format");
    bool changed =
        profiling::merge_profile_tags(u.tags, {.overrides = {&policy.input_tags}, .global = &policy.global_tags});

    auto field = [&](const char *name, std::initializer_list<const char *> keys) {
        for (const char *k : keys)
            if (auto v = get(md, k); !v.empty()) {
                u.event_fields[name] = v;
                return;
            }
    };
    field("runtime_id", {"runtime-id", "runtime_id"});
    field("pid", {"process_id", "pid"});
    field("library_ver", {"profiler_version", "library_ver"});

    u.format = format_of(p);
    u.profiler = "ddtrace";
    u.end_ns = p.end_ns ? p.end_ns : now_ns;
    u.start_ns = p.start_ns ? p.start_ns : u.end_ns;
    // Only a start was sent, later than our clock: no negative duration.
    if (u.end_ns < u.start_ns) u.end_ns = u.start_ns;

    u.files.reserve(p.files.size());
    for (auto &f : p.files)
        u.files.push_back(profiling::ProfileFile{f.name, f.content_type, std::make_shared<const std::string>(f.data)});
    // Two parts of one name, or a client part called event.json, are all kept.
    if (profiling::make_attachment_names_unique(u.files)) changed = true;

    if (p.has_event && !changed) u.event_json = std::string(p.event_raw);
    else u.event_json = profiling::build_event_json(u);
    return u;
}

} // namespace trib::profile
