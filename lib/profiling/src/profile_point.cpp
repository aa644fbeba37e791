#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <tributary/json_text.hpp>

#include <cstdio>
#include <ctime>
#include <random>
#include <set>

namespace trib::profiling {

std::string new_profile_id() {
    thread_local std::mt19937_64 rng([] {
        std::random_device rd;
        return (uint64_t(rd()) << 32) ^ rd();
    }());
    uint64_t hi = rng(), lo = rng();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // variant 10
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(hi >> 32), unsigned((hi >> 16) & 0xffff),
                  unsigned(hi & 0xffff), unsigned(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
}

bool make_attachment_names_unique(std::vector<ProfileFile> &files) {
    std::set<std::string> taken{"event.json"};
    bool renamed = false;
    for (auto &f : files) {
        if (!is_valid_utf8(f.name)) {
            f.name = to_valid_utf8(f.name);
            renamed = true;
        }
        if (taken.insert(f.name).second) continue;
        // "wall.pprof" → "wall-2.pprof", "event.json" → "event-2.json"
        size_t dot = f.name.rfind('.');
        if (dot == 0 || dot == std::string::npos) dot = f.name.size();
        std::string stem = f.name.substr(0, dot), ext = f.name.substr(dot);
        for (size_t n = 2;; ++n) {
            std::string candidate = stem + "-" + std::to_string(n) + ext;
            if (taken.insert(candidate).second) {
                f.name = std::move(candidate);
                break;
            }
        }
        renamed = true;
    }
    return renamed;
}

bool merge_profile_tags(TagMap &tags, const ProfileTagLayers &layers) {
    auto missing = [&](const std::string &k) {
        auto it = tags.find(k);
        return it == tags.end() || it->second.empty();
    };
    if (layers.defaults)
        for (auto &[k, v] : *layers.defaults)
            if (!v.empty() && missing(k)) tags[k] = v;
    if (layers.service_fallback && missing("service")) tags["service"] = "unnamed-service";
    bool changed = false;
    for (const TagMap *overrides : layers.overrides)
        for (auto &[k, v] : *overrides) {
            auto [it, inserted] = tags.try_emplace(k, v);
            if (!inserted && it->second == v) continue;
            it->second = v;
            changed = true;
        }
    if (layers.global)
        for (auto &[k, v] : *layers.global)
            if (tags.try_emplace(k, v).second) changed = true;
    return changed;
}

trib::Point build_profile_point(const ProfileUpload &u, const std::string &profile_id) {
    trib::Point p("profile", "profiling", u.start_ns);
    // Client text reaches sinks that require UTF-8 (line protocol, JSON): replace what is not.
    p.tags.reserve(u.tags.size() + 1);
    for (auto &[k, v] : u.tags) p.tag(to_valid_utf8(k), to_valid_utf8(v));
    if (!p.find_tag("service") || p.find_tag("service")->empty()) p.tag("service", "unnamed-service");

    int64_t file_size = 0;
    for (auto &f : u.files) file_size += f.data ? static_cast<int64_t>(f.data->size()) : 0;
    p.field(Field::String("profile_id", profile_id));
    p.field(Field::String("format", u.format.empty() ? "unknown" : u.format));
    p.field(Field::Int("start", u.start_ns / 1000));
    p.field(Field::Int("end", u.end_ns / 1000));
    p.field(Field::Int("duration", (u.end_ns - u.start_ns) / 1000));
    p.field(Field::Int("__file_size", file_size));
    for (auto &[k, v] : u.event_fields) p.field(Field::String(to_valid_utf8(k), to_valid_utf8(v)));

    for (auto &f : u.files) p.attach(to_valid_utf8(f.name), to_valid_utf8(f.content_type), f.data);
    p.attach("event.json", "application/json",
             std::make_shared<const std::string>(u.event_json.empty() ? build_event_json(u) : u.event_json));
    return p;
}

// Written by hand: an ordered_json document cost more than the rest of the point. The text
// is what nlohmann's dump() of the same members writes, with U+FFFD for bytes that are not
// UTF-8 (tags may hold client bytes).
std::string build_event_json(const ProfileUpload &u) {
    std::string out;
    out.reserve(256);
    out += "{\"format\":";
    append_json_string(out, u.format.empty() ? "unknown" : u.format);
    out += ",\"profiler\":";
    append_json_string(out, u.profiler);
    out += ",\"attachments\":[";
    for (size_t i = 0; i < u.files.size(); ++i) {
        if (i) out.push_back(',');
        append_json_string(out, u.files[i].name);
    }
    out += "],\"language\":";
    auto lang = u.tags.find("language");
    append_json_string(out, lang == u.tags.end() ? "unknown" : lang->second);
    std::string tp;
    for (auto &[k, v] : u.tags) {
        if (!tp.empty()) tp.push_back(',');
        tp += k;
        tp.push_back(':');
        tp += v;
    }
    out += ",\"tags_profiler\":";
    append_json_string(out, tp);
    out += ",\"start\":";
    if (u.start_ns) append_json_string(out, format_rfc3339_nano(u.start_ns));
    else out += "null";
    out += ",\"end\":";
    if (u.end_ns) append_json_string(out, format_rfc3339_nano(u.end_ns));
    else out += "null";
    out.push_back('}');
    return out;
}

namespace {
int digits(std::string_view s, size_t pos, size_t n) {
    if (pos + n > s.size()) throw DecodeError("bad time '" + std::string(s) + "': too short");
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') throw DecodeError("bad time '" + std::string(s) + "': digit expected");
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
} // namespace

int64_t parse_rfc3339_ns(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
    int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
    int h = digits(s, 11, 2), mi = digits(s, 14, 2), se = digits(s, 17, 2);
    if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        throw DecodeError("bad time '" + std::string(s) + "': not RFC3339");
    // int64 nanoseconds since the epoch end in 2262; before 1970 no profiler uploads.
    if (y < 1970 || y > 2261) throw DecodeError("bad time '" + std::string(s) + "': year out of range");
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        throw DecodeError("bad time '" + std::string(s) + "': field out of range");
    size_t pos = 19;
    int64_t frac_ns = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int64_t scale = 100000000;
        size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            frac_ns += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start) throw DecodeError("bad time '" + std::string(s) + "': empty fraction");
    }
    int64_t offset_s = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) ++pos;
    else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
        if (s[pos + 3] != ':') throw DecodeError("bad time '" + std::string(s) + "': bad zone offset");
        offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
        pos += 6;
    } else throw DecodeError("bad time '" + std::string(s) + "': zone missing");
    if (pos != s.size()) throw DecodeError("bad time '" + std::string(s) + "': trailing characters");
    int64_t secs = days_from_civil(y, unsigned(mo), unsigned(d)) * 86400 + h * 3600 + mi * 60 + se - offset_s;
    return secs * 1000000000LL + frac_ns;
}

// By hand, not gmtime_r + strftime + snprintf: it runs for every upload (twice when the event
// is rebuilt) and the C library's way was ~1 % of the host's CPU.
std::string format_rfc3339_nano(int64_t ns) {
    int64_t secs = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        --secs;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    // civil_from_days (H. Hinnant's algorithm), the inverse of days_from_civil above.
    const int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned day = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2);

    std::string out;
    out.reserve(32);
    auto put = [&](int64_t v, int width) {
        char b[24];
        int n = 0;
        do {
            b[n++] = char('0' + v % 10);
            v /= 10;
        } while (v > 0 || n < width);
        while (n) out.push_back(b[--n]);
    };
    if (year < 0) {
        out.push_back('-');
        put(-year, 4);
    } else {
        put(year, 4);
    }
    out.push_back('-');
    put(month, 2);
    out.push_back('-');
    put(day, 2);
    out.push_back('T');
    put(rem / 3600, 2);
    out.push_back(':');
    put(rem / 60 % 60, 2);
    out.push_back(':');
    put(rem % 60, 2);
    if (frac) {
        int width = 9;
        while (frac % 10 == 0) {
            frac /= 10;
            --width;
        }
        out.push_back('.');
        put(frac, width);
    }
    out.push_back('Z');
    return out;
}

} // namespace trib::profiling
