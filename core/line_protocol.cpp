#include "line_protocol.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace trib::core {

namespace {

// A newline cannot appear in a name or tag value (it ends the line); it becomes a space,
// as DataKit's point checker does.
void append_escaped(std::string &out, std::string_view s, bool escape_equals) {
    for (char c : s) {
        switch (c) {
        case ',':
        case ' ':
            out.push_back('\\');
            out.push_back(c);
            break;
        case '=':
            if (escape_equals) out.push_back('\\');
            out.push_back(c);
            break;
        case '\n':
        case '\r':
            out += "\\ ";
            break;
        default:
            out.push_back(c);
        }
    }
}

void append_string_value(std::string &out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
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
    append_escaped(out, f.key, true);
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
    case TRIB_FIELD_BOOL:
        out += f.b ? "true" : "false";
        break;
    case TRIB_FIELD_STRING:
        append_string_value(out, f.s);
        break;
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
    append_escaped(out, point.measurement, false);
    for (auto &kv : point.tags) {
        // InfluxDB refuses empty tag keys and values, so such tags are left out.
        if (kv.first.empty() || kv.second.empty()) continue;
        out.push_back(',');
        append_escaped(out, kv.first, true);
        out.push_back('=');
        append_escaped(out, kv.second, true);
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
