#include "line_protocol.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace trib::core {

namespace {

// Names (measurement, tag keys and values, field keys) are unquoted tokens. A line break or
// NUL cannot stand in one (it would end or corrupt the line): each becomes an escaped space,
// as DataKit's point checker does. InfluxDB's scanner skips the byte after every backslash,
// so a run of backslashes right before an escaped character or the end of the token is
// doubled; otherwise it would swallow the separator and shift every following key.
// A measurement that starts with '#' is escaped, or the line would read as a comment.
bool is_name_break(char c) { return c == '\n' || c == '\r' || c == '\0'; }

void append_name(std::string &out, std::string_view s, bool escape_equals) {
    auto needs_escape = [&](char c) { return c == ',' || c == ' ' || (escape_equals && c == '=') || is_name_break(c); };
    if (!escape_equals && !s.empty() && s.front() == '#') out.push_back('\\');
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\\') {
            size_t run_end = s.find_first_not_of('\\', i);
            size_t run = (run_end == std::string_view::npos ? s.size() : run_end) - i;
            bool before_special = run_end == std::string_view::npos || needs_escape(s[run_end]);
            out.append(before_special ? 2 * run : run, '\\');
            i += run - 1;
            continue;
        }
        if (needs_escape(c)) {
            out.push_back('\\');
            out.push_back(is_name_break(c) ? ' ' : c);
            continue;
        }
        out.push_back(c);
    }
}

// String field values are double-quoted: `"` and `\` are escaped (InfluxDB unescapes both).
// A raw LF or CR inside the quotes is legal to InfluxDB but splits the line for every
// line-oriented reader, which is how a client string could forge a point of its own; they
// are written as the two-character escapes \n and \r, and NUL as \0. InfluxDB stores
// those escapes as written (it unescapes only \" and \\); nothing can break out of the value.
void append_string_value(std::string &out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        switch (c) {
        case '"':
        case '\\':
            out.push_back('\\');
            out.push_back(c);
            break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\0': out += "\\0"; break;
        default: out.push_back(c);
        }
    }
    out.push_back('"');
}

void append_base64(std::string &out, std::string_view in) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
        out.push_back(table[(v >> 18) & 63]);
        out.push_back(table[(v >> 12) & 63]);
        out.push_back(table[(v >> 6) & 63]);
        out.push_back(table[v & 63]);
    }
    size_t rest = in.size() - i;
    if (rest == 1) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16;
        out.push_back(table[(v >> 18) & 63]);
        out.push_back(table[(v >> 12) & 63]);
        out += "==";
    } else if (rest == 2) {
        uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
        out.push_back(table[(v >> 18) & 63]);
        out.push_back(table[(v >> 12) & 63]);
        out.push_back(table[(v >> 6) & 63]);
        out.push_back('=');
    }
}

template <class T>
void append_number(std::string &out, T v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// Appends `key=value`; false (nothing appended) when the value has no line-protocol form.
bool append_field(std::string &out, const trib::Field &f) {
    if (f.key.empty()) return false;
    if (f.type == TRIB_FIELD_FLOAT && !std::isfinite(f.f)) return false;
    if (f.type > TRIB_FIELD_BYTES) return false;
    append_name(out, f.key, true);
    out.push_back('=');
    switch (f.type) {
    case TRIB_FIELD_INT:
        append_number(out, f.i);
        out.push_back('i');
        break;
    case TRIB_FIELD_UINT:
        append_number(out, f.u);
        out.push_back('u');
        break;
    case TRIB_FIELD_FLOAT: {
        // Shortest round-trip; a float that looks integral stays a float to readers.
        append_number(out, f.f);
        break;
    }
    case TRIB_FIELD_BOOL: out += f.b ? "true" : "false"; break;
    case TRIB_FIELD_STRING: append_string_value(out, f.s); break;
    case TRIB_FIELD_BYTES: {
        std::string b64;
        append_base64(b64, f.s);
        append_string_value(out, b64);
        break;
    }
    }
    return true;
}

} // namespace

bool append_line_protocol(std::string &out, const trib::Point &point) {
    if (point.measurement.empty()) return false;
    size_t start = out.size();
    append_name(out, point.measurement, false);
    for (auto &kv : point.tags) {
        // InfluxDB refuses empty tag keys and values, so such tags are left out.
        if (kv.first.empty() || kv.second.empty()) continue;
        out.push_back(',');
        append_name(out, kv.first, true);
        out.push_back('=');
        append_name(out, kv.second, true);
    }
    bool any = false;
    for (auto &f : point.fields) {
        size_t before = out.size();
        out.push_back(any ? ',' : ' ');
        if (append_field(out, f)) any = true;
        else out.resize(before);
    }
    if (!any) {
        out.resize(start);
        return false;
    }
    out.push_back(' ');
    append_number(out, point.time_ns);
    out.push_back('\n');
    return true;
}

std::string to_line_protocol(const trib::Point &point) {
    std::string out;
    append_line_protocol(out, point);
    return out;
}

} // namespace trib::core
