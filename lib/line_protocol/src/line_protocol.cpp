#include <tributary/line_protocol.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace trib::line_protocol {

namespace {

// Names (measurement, tag keys and values, field keys) are unquoted tokens. A line break or
// NUL cannot stand in one (it would end or corrupt the line): each becomes an escaped space,
// as DataKit's point checker does. InfluxDB's scanner skips the byte after every backslash,
// so a run of backslashes right before an escaped character or the end of the token is
// doubled; otherwise it would swallow the separator and shift every following key.
// A measurement that starts with '#' is escaped, or the line would read as a comment.
bool is_name_break(char c) { return c == '\n' || c == '\r' || c == '\0'; }

// Bytes that stop the bulk copy of a name: what is escaped, plus '\\' (runs of it are
// handled apart). Index 1 adds '=' (tag keys and values, field keys).
struct NameStops {
    bool stop[2][256] = {};
    NameStops() {
        for (int e = 0; e < 2; ++e) {
            for (unsigned char c : {',', ' ', '\\', '\n', '\r', '\0'}) stop[e][c] = true;
            if (e) stop[e][static_cast<unsigned char>('=')] = true;
        }
    }
};
const NameStops kNameStops;

void append_name(std::string &out, std::string_view s, bool escape_equals) {
    const bool *stop = kNameStops.stop[escape_equals ? 1 : 0];
    auto needs_escape = [&](char c) { return c == ',' || c == ' ' || (escape_equals && c == '=') || is_name_break(c); };
    if (!escape_equals && !s.empty() && s.front() == '#') out.push_back('\\');
    size_t i = 0;
    while (i < s.size()) {
        // Plain bytes go in one append; most names have none to escape.
        size_t j = i;
        while (j < s.size() && !stop[static_cast<unsigned char>(s[j])]) ++j;
        out.append(s.data() + i, j - i);
        if (j == s.size()) break;
        char c = s[j];
        if (c == '\\') {
            size_t run_end = s.find_first_not_of('\\', j);
            size_t run = (run_end == std::string_view::npos ? s.size() : run_end) - j;
            bool before_special = run_end == std::string_view::npos || needs_escape(s[run_end]);
            out.append(before_special ? 2 * run : run, '\\');
            i = j + run;
            continue;
        }
        out.push_back('\\');
        out.push_back(is_name_break(c) ? ' ' : c);
        i = j + 1;
    }
}

// String field values are double-quoted: `"` and `\` are escaped (InfluxDB unescapes both).
// A raw LF or CR inside the quotes is legal to InfluxDB but splits the line for every
// line-oriented reader, which is how a client string could forge a point of its own; they
// are written as the two-character escapes \n and \r, and NUL as \0. InfluxDB stores
// those escapes as written (it unescapes only \" and \\); nothing can break out of the value.
void append_string_value(std::string &out, std::string_view s) {
    static const auto stops = [] {
        std::array<bool, 256> t{};
        for (unsigned char c : {'"', '\\', '\n', '\r', '\0'}) t[c] = true;
        return t;
    }();
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    size_t i = 0;
    while (i < s.size()) {
        // Plain bytes go in one append (a JSON message field is kilobytes with a few quotes).
        size_t j = i;
        while (j < s.size() && !stops[static_cast<unsigned char>(s[j])]) ++j;
        out.append(s.data() + i, j - i);
        if (j == s.size()) break;
        switch (char c = s[j]) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\0': out += "\\0"; break;
        default: out.push_back('\\'); out.push_back(c);
        }
        i = j + 1;
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

bool append_line(std::string &out, const trib::Point &point) {
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

std::string to_line(const trib::Point &point) {
    std::string out;
    append_line(out, point);
    return out;
}

// Reading: the inverse of append_line.

namespace {

struct LineReader {
    std::string_view s;
    size_t pos = 0;
    size_t line_no = 0;

    [[noreturn]] void fail(const std::string &what) const {
        throw std::runtime_error("line protocol line " + std::to_string(line_no) + ": " + what);
    }

    // Reads a name token up to an unescaped separator in `stops`. Inverse of append_name:
    // a run of backslashes before an escapable byte (or the end) was doubled, plus one
    // more when that byte itself was escaped; elsewhere backslashes are literal.
    std::string name(std::string_view stops, bool escape_equals) {
        auto escapable = [&](char c) { return c == ',' || c == ' ' || (escape_equals && c == '='); };
        std::string out;
        while (pos < s.size()) {
            char c = s[pos];
            if (c == '\\') {
                size_t end = s.find_first_not_of('\\', pos);
                if (end == std::string_view::npos) end = s.size();
                size_t run = end - pos;
                pos = end;
                if (end < s.size() && escapable(s[end])) {
                    out.append(run / 2, '\\');
                    if (run % 2 == 1) {
                        out.push_back(s[end]); // the escaped separator is part of the name
                        ++pos;
                    }
                } else if (end == s.size()) {
                    out.append(run / 2, '\\');
                } else {
                    out.append(run, '\\');
                }
                continue;
            }
            if (stops.find(c) != std::string_view::npos) break;
            out.push_back(c);
            ++pos;
        }
        return out;
    }

    void expect(char c) {
        if (pos >= s.size() || s[pos] != c) fail(std::string("expected '") + c + "' at byte " + std::to_string(pos));
        ++pos;
    }

    std::string quoted() {
        expect('"');
        std::string out;
        while (pos < s.size()) {
            char c = s[pos++];
            if (c == '"') return out;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos >= s.size()) break;
            char e = s[pos++];
            switch (e) {
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case '0': out.push_back('\0'); break;
            default: out.push_back(e); // \" and \\ (and anything else literally)
            }
        }
        fail("unterminated string field");
    }

    trib::Field field_value(std::string key) {
        if (pos < s.size() && s[pos] == '"') return trib::Field::String(std::move(key), quoted());
        size_t end = s.find_first_of(", ", pos);
        if (end == std::string_view::npos) end = s.size();
        std::string_view tok = s.substr(pos, end - pos);
        pos = end;
        if (tok == "true") return trib::Field::Bool(std::move(key), true);
        if (tok == "false") return trib::Field::Bool(std::move(key), false);
        if (tok.empty()) fail("empty value for field '" + key + "'");
        char last = tok.back();
        if (last == 'i' || last == 'u') {
            std::string_view digits = tok.substr(0, tok.size() - 1);
            if (last == 'i') {
                int64_t v = 0;
                auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
                if (r.ec != std::errc() || r.ptr != digits.data() + digits.size())
                    fail("bad integer for '" + key + "'");
                return trib::Field::Int(std::move(key), v);
            }
            uint64_t v = 0;
            auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
            if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) fail("bad unsigned for '" + key + "'");
            return trib::Field::Uint(std::move(key), v);
        }
        double v = 0;
        auto r = std::from_chars(tok.data(), tok.data() + tok.size(), v);
        if (r.ec != std::errc() || r.ptr != tok.data() + tok.size()) fail("bad value for field '" + key + "'");
        return trib::Field::Float(std::move(key), v);
    }
};

} // namespace

std::vector<trib::Point> parse_lines(std::string_view text, const std::string &category) {
    std::vector<trib::Point> out;
    size_t line_no = 0;
    size_t start = 0;
    while (start < text.size()) {
        // String fields never hold a raw LF (written as \n), so lines split on LF.
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        ++line_no;
        if (line.empty()) continue;
        LineReader r{line, 0, line_no};
        trib::Point p;
        p.category = category;
        if (line.size() > 1 && line[0] == '\\' && line[1] == '#') r.pos = 1; // escaped leading '#'
        p.measurement = r.name(", ", false);
        if (p.measurement.empty()) r.fail("empty measurement");
        while (r.pos < line.size() && line[r.pos] == ',') {
            ++r.pos;
            std::string k = r.name("=", true);
            r.expect('=');
            std::string v = r.name(", ", true);
            p.tags.emplace_back(std::move(k), std::move(v));
        }
        r.expect(' ');
        for (;;) {
            std::string k = r.name("=", true);
            r.expect('=');
            p.fields.push_back(r.field_value(std::move(k)));
            if (r.pos < line.size() && line[r.pos] == ',') {
                ++r.pos;
                continue;
            }
            break;
        }
        r.expect(' ');
        std::string_view ts = line.substr(r.pos);
        auto res = std::from_chars(ts.data(), ts.data() + ts.size(), p.time_ns);
        if (res.ec != std::errc() || res.ptr != ts.data() + ts.size()) r.fail("bad timestamp");
        out.push_back(std::move(p));
    }
    return out;
}

} // namespace trib::line_protocol
