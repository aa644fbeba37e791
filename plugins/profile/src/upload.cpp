#include "upload.hpp"

#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/language.hpp>
#include <tributary/profiling/multipart.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
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

// The event's top-level members in one pass over its bytes, no document built: a recorded
// dd-trace event is mostly a nested "info" object nobody reads, and building it (std::map
// nodes), writing nested members back to text and nlohmann's byte-at-a-time lexer cost more
// than the rest of the upload's parsing. The scanner accepts exactly what nlohmann's parser
// accepts (RFC 8259, UTF-8 checked, a leading BOM skipped, numbers that overflow a double
// refused, anything after a NUL that follows the value ignored); the unit test and the event fuzzer hold it to that. Scalars and arrays of
// scalars are written as stringify() writes them; a nested value is skipped, unless its key
// is read, when the caller falls back to the document.
class EventScanner {
  public:
    explicit EventScanner(std::string_view raw) : p_(raw.data()), end_(raw.data() + raw.size()) {}

    enum class Outcome { members, not_json, not_object, needs_document };

    Outcome scan(EventMembers &out) {
        if (end_ - p_ >= 1 && uint8_t(*p_) == 0xEF) {
            if (end_ - p_ < 3 || uint8_t(p_[1]) != 0xBB || uint8_t(p_[2]) != 0xBF) return Outcome::not_json;
            p_ += 3;
        }
        ws();
        if (p_ < end_ && *p_ == '{') {
            ++p_;
            if (!root_members(out)) return Outcome::not_json;
        } else {
            if (!value(nullptr)) return Outcome::not_json;
            ws();
            return at_end() ? Outcome::not_object : Outcome::not_json;
        }
        ws();
        if (!at_end()) return Outcome::not_json;
        if (needs_document_) return Outcome::needs_document;
        return tags_profiler_bad_ ? Outcome::needs_document : Outcome::members;
    }

  private:
    // A top-level value as metadata text; kind says which.
    enum class Kind { scalar, scalar_array, nested };

    // nlohmann's lexer takes a NUL byte where a token may start for the end of the input.
    bool at_end() const { return p_ == end_ || *p_ == '\0'; }
    void ws() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
    }
    bool lit(std::string_view word) {
        if (size_t(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
        p_ += word.size();
        return true;
    }
    static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    bool hex4(unsigned &cp) {
        if (end_ - p_ < 4) return false;
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex(p_[i]);
            if (h < 0) return false;
            cp = cp * 16 + unsigned(h);
        }
        p_ += 4;
        return true;
    }
    // A string after its opening quote; its value into `text` when asked for.
    bool string(std::string *text) {
        const char *run = p_; // bytes copied as they are, up to the next escape
        auto flush = [&] {
            if (text) text->append(run, size_t(p_ - run));
        };
        while (p_ < end_) {
            uint8_t c = uint8_t(*p_);
            if (c == '"') {
                flush();
                ++p_;
                return true;
            }
            if (c == '\\') {
                flush();
                if (++p_ >= end_) return false;
                char e = *p_++;
                char plain = 0;
                switch (e) {
                case '"': plain = '"'; break;
                case '\\': plain = '\\'; break;
                case '/': plain = '/'; break;
                case 'b': plain = '\b'; break;
                case 'f': plain = '\f'; break;
                case 'n': plain = '\n'; break;
                case 'r': plain = '\r'; break;
                case 't': plain = '\t'; break;
                case 'u': {
                    unsigned cp;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        unsigned lo;
                        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                        p_ += 2;
                        if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return false;
                    }
                    if (text) profiling::append_utf8(*text, cp);
                    break;
                }
                default: return false;
                }
                if (plain && text) text->push_back(plain);
                run = p_;
                continue;
            }
            if (c < 0x20) return false;
            if (c < 0x80) {
                ++p_;
                continue;
            }
            // RFC 3629 sequences, as nlohmann's lexer checks them.
            auto cont = [&](ptrdiff_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
                return end_ - p_ > k && uint8_t(p_[k]) >= lo && uint8_t(p_[k]) <= hi;
            };
            size_t len = 0;
            if (c >= 0xC2 && c <= 0xDF) len = cont(1) ? 2 : 0;
            else if (c == 0xE0) len = cont(1, 0xA0) && cont(2) ? 3 : 0;
            else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = cont(1) && cont(2) ? 3 : 0;
            else if (c == 0xED) len = cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
            else if (c == 0xF0) len = cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
            else if (c >= 0xF1 && c <= 0xF3) len = cont(1) && cont(2) && cont(3) ? 4 : 0;
            else if (c == 0xF4) len = cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
            if (!len) return false;
            p_ += len;
        }
        return false;
    }
    // A number; its metadata text (what nlohmann's dump() writes of it) when asked for.
    bool number(std::string *text) {
        const char *start = p_;
        bool negative = p_ < end_ && *p_ == '-';
        if (negative) ++p_;
        auto digits = [&] {
            const char *d = p_;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
            return p_ - d;
        };
        if (p_ >= end_) return false;
        if (*p_ == '0') ++p_;
        else if (*p_ >= '1' && *p_ <= '9') digits();
        else return false;
        bool integer = true, exponent = false;
        if (p_ < end_ && *p_ == '.') {
            ++p_;
            integer = false;
            if (digits() == 0) return false;
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            integer = false;
            exponent = true;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            if (digits() == 0) return false;
        }
        // A number nobody reads (inside a nested member) needs no conversion unless it could
        // overflow a double: only an exponent, or more than 300 digits, can.
        if (!text && !exponent && p_ - start <= 300) return true;
        std::string token(start, size_t(p_ - start));
        if (integer) {
            // As nlohmann: an integer that fits int64 / uint64 stays one, else it is a double.
            errno = 0;
            char *e = nullptr;
            if (negative) {
                long long v = std::strtoll(token.c_str(), &e, 10);
                if (errno == 0 && *e == 0) {
                    if (text) *text = std::to_string(v);
                    return true;
                }
            } else {
                unsigned long long v = std::strtoull(token.c_str(), &e, 10);
                if (errno == 0 && *e == 0) {
                    if (text) *text = std::to_string(v);
                    return true;
                }
            }
        }
        double d = std::strtod(token.c_str(), nullptr);
        if (!std::isfinite(d)) return false; // nlohmann: "number overflow"
        if (text) *text = nlohmann::json(d).dump();
        return true;
    }
    // Any value below the top level, checked and skipped; nested containers iteratively.
    bool value(std::string *scalar_text, Kind *kind = nullptr) {
        if (kind) *kind = Kind::scalar;
        if (p_ >= end_) return false;
        last_was_string_ = *p_ == '"';
        switch (*p_) {
        case '"': ++p_; return string(scalar_text);
        case 't':
            if (scalar_text) *scalar_text = "true";
            return lit("true");
        case 'f':
            if (scalar_text) *scalar_text = "false";
            return lit("false");
        case 'n':
            if (scalar_text) scalar_text->clear();
            return lit("null");
        case '{':
        case '[':
            if (kind) *kind = Kind::nested;
            return container();
        default: return number(scalar_text);
        }
    }
    // An object or array at p_, to its end: a stack of what is open.
    bool container() {
        std::vector<char> open;
        for (;;) {
            if (p_ >= end_) return false;
            char c = *p_;
            if (c == '{' || c == '[') {
                ++p_;
                open.push_back(c);
                ws();
                if (p_ < end_ && *p_ == (c == '{' ? '}' : ']')) {
                    ++p_;
                    open.pop_back();
                } else if (c == '{') {
                    if (!key_then_colon()) return false;
                    continue; // the member's value
                } else {
                    continue; // the first element
                }
            } else if (!value(nullptr)) {
                return false;
            }
            // After a value: a comma and the next, or the ends of what it closes.
            for (;;) {
                if (open.empty()) return true;
                ws();
                if (p_ >= end_) return false;
                char in = open.back();
                if (*p_ == ',') {
                    ++p_;
                    ws();
                    if (in == '{' && !key_then_colon()) return false;
                    break;
                }
                if (*p_ != (in == '{' ? '}' : ']')) return false;
                ++p_;
                open.pop_back();
            }
            ws();
        }
    }
    bool key_then_colon(std::string *key = nullptr) {
        if (p_ >= end_ || *p_ != '"') return false;
        ++p_;
        if (!string(key)) return false;
        ws();
        if (p_ >= end_ || *p_ != ':') return false;
        ++p_;
        ws();
        return true;
    }
    // After an element of the top-level object or an array: a comma (more follow), the close
    // (the end), or an error.
    enum class Next { more, closed, bad };
    Next after_element(char close) {
        ws();
        if (p_ >= end_) return Next::bad;
        if (*p_ == close) {
            ++p_;
            return Next::closed;
        }
        if (*p_ != ',') return Next::bad;
        ++p_;
        return Next::more;
    }
    // The top-level array's text: scalars joined with ','; nested when an element nests.
    bool root_array(std::string &text, Kind &kind) {
        ++p_; // '['
        kind = Kind::scalar_array;
        ws();
        if (p_ < end_ && *p_ == ']') {
            ++p_;
            return true;
        }
        std::string item;
        for (;;) {
            ws();
            Kind k;
            item.clear();
            if (!value(kind == Kind::nested ? nullptr : &item, &k)) return false;
            if (k == Kind::nested) kind = Kind::nested;
            else if (kind != Kind::nested) {
                if (!text.empty()) text.push_back(','); // as stringify(): empty leading items add no comma
                text += item;
            }
            if (Next n = after_element(']'); n != Next::more) return n == Next::closed;
        }
    }
    bool root_members(EventMembers &out) {
        ws();
        if (p_ < end_ && *p_ == '}') {
            ++p_;
            return true;
        }
        std::string key, text;
        for (;;) {
            key.clear();
            text.clear();
            if (!key_then_colon(&key)) return false;
            Kind kind;
            if (p_ < end_ && *p_ == '[') {
                if (!root_array(text, kind)) return false;
            } else if (!value(&text, &kind)) {
                return false;
            }
            if (key == "tags_profiler") {
                // The last one counts, as in a document; one that is not a string is an error.
                bool is_string = kind == Kind::scalar && last_was_string_;
                tags_profiler_bad_ = !is_string;
                if (is_string) out.tags_profiler = text;
            } else if (kind == Kind::nested) {
                if (is_read_metadata_key(key)) needs_document_ = true;
                out.members.erase(key); // a later member of the key replaces an earlier one
            } else {
                out.members[key] = text;
            }
            if (Next n = after_element('}'); n != Next::more) return n == Next::closed;
            ws();
        }
    }

    const char *p_, *end_;
    bool needs_document_ = false, tags_profiler_bad_ = false, last_was_string_ = false;
};

} // namespace

EventMembers read_event(std::string_view raw) {
    EventMembers members;
    switch (EventScanner(raw).scan(members)) {
    case EventScanner::Outcome::members: return members;
    case EventScanner::Outcome::not_json: throw DecodeError("event part is not valid JSON (or not UTF-8)");
    case EventScanner::Outcome::not_object: throw DecodeError("event part is not a JSON object");
    case EventScanner::Outcome::needs_document: break;
    }
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
