#include <tributary/line_protocol.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace trib::line_protocol {

namespace {

// Names (measurement, tag keys and values, field keys) are unquoted tokens. A line break or
// NUL cannot stand in one (it would end or corrupt the line): each becomes an escaped space,
// as DataKit's point checker does. InfluxDB's scanner skips the byte after every backslash,
// so a run of backslashes right before an escaped character or the end of the token is
// doubled; otherwise it would swallow the separator and shift every following key.
// A measurement that starts with '#' is escaped, or the line would read as a comment.
bool is_name_break(char c) { return c == '\n' || c == '\r' || c == '\0'; }

// The first of the bytes `Stops` at or after i, sixteen bytes at a time where SSE2 is there
// (x86-64 always): most of a line is plain bytes between a few stops, and a byte-wise table
// walk was the encoder's main cost.
template <char... Stops>
size_t find_any(std::string_view s, size_t i) {
#if defined(__SSE2__)
    for (; i + 16 <= s.size(); i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s.data() + i));
        const __m128i hit = (_mm_cmpeq_epi8(v, _mm_set1_epi8(Stops)) | ...);
        if (int mask = _mm_movemask_epi8(hit)) return i + size_t(__builtin_ctz(unsigned(mask)));
    }
#endif
    while (i < s.size() && ((s[i] != Stops) && ...)) ++i;
    return i;
}

// Where a name's plain run ends: at a byte that is escaped, or at '\\' (runs of it are
// handled apart); '=' counts in tag keys and values and field keys.
size_t name_stop(std::string_view s, size_t i, bool escape_equals) {
    return escape_equals ? find_any<',', ' ', '\\', '\n', '\r', '\0', '='>(s, i)
                         : find_any<',', ' ', '\\', '\n', '\r', '\0'>(s, i);
}

// The encoder writes through a pointer into room reserved for the line's longest possible
// form (every byte escaped), then trims: no capacity check or size update per token.

// Longest form of a name: each byte escaped, plus the '#' escape of a measurement.
size_t name_bound(std::string_view s) { return 2 * s.size() + 1; }

char *put(char *p, std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

char *write_name(char *p, std::string_view s, bool escape_equals) {
    auto needs_escape = [&](char c) { return c == ',' || c == ' ' || (escape_equals && c == '=') || is_name_break(c); };
    if (!escape_equals && !s.empty() && s.front() == '#') *p++ = '\\';
    size_t i = 0;
    while (i < s.size()) {
        // Plain bytes go in one copy; most names have none to escape.
        size_t j = name_stop(s, i, escape_equals);
        p = put(p, s.substr(i, j - i));
        if (j == s.size()) break;
        char c = s[j];
        if (c == '\\') {
            size_t run_end = s.find_first_not_of('\\', j);
            size_t run = (run_end == std::string_view::npos ? s.size() : run_end) - j;
            bool before_special = run_end == std::string_view::npos || needs_escape(s[run_end]);
            size_t n = before_special ? 2 * run : run;
            std::memset(p, '\\', n);
            p += n;
            i = j + run;
            continue;
        }
        *p++ = '\\';
        *p++ = is_name_break(c) ? ' ' : c;
        i = j + 1;
    }
    return p;
}

// String field values are double-quoted: `"` and `\` are escaped (InfluxDB unescapes both).
// A raw LF or CR inside the quotes is legal to InfluxDB but splits the line for every
// line-oriented reader, which is how a client string could forge a point of its own; they
// are written as the two-character escapes \n and \r, and NUL as \0. InfluxDB stores
// those escapes as written (it unescapes only \" and \\); nothing can break out of the value.
size_t string_value_bound(std::string_view s) { return 2 * s.size() + 2; }

char *write_string_value(char *p, std::string_view s) {
    *p++ = '"';
    size_t i = 0;
    while (i < s.size()) {
        // Plain bytes go in one copy (a JSON message field is kilobytes with a few quotes).
        size_t j = find_any<'"', '\\', '\n', '\r', '\0'>(s, i);
        p = put(p, s.substr(i, j - i));
        if (j == s.size()) break;
        char c = s[j];
        *p++ = '\\';
        *p++ = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\0' ? '0' : c;
        i = j + 1;
    }
    *p++ = '"';
    return p;
}

size_t base64_size(size_t n) { return (n + 2) / 3 * 4; }

// Base64 in double quotes (no byte of it needs escaping).
char *write_base64_value(char *p, std::string_view in) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    *p++ = '"';
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
        *p++ = table[(v >> 18) & 63];
        *p++ = table[(v >> 12) & 63];
        *p++ = table[(v >> 6) & 63];
        *p++ = table[v & 63];
    }
    size_t rest = in.size() - i;
    if (rest) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16;
        if (rest == 2) v |= uint32_t(uint8_t(in[i + 1])) << 8;
        *p++ = table[(v >> 18) & 63];
        *p++ = table[(v >> 12) & 63];
        *p++ = rest == 2 ? table[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p++ = '"';
    return p;
}

constexpr size_t kNumberBound = 32; // to_chars of any int64, uint64 or double, plus a suffix

template <class T>
char *write_number(char *p, T v) {
    return std::to_chars(p, p + kNumberBound, v).ptr;
}

bool representable(const trib::Field &f) {
    if (f.key.empty()) return false;
    if (f.type == TRIB_FIELD_FLOAT && !std::isfinite(f.f)) return false;
    return f.type <= TRIB_FIELD_BYTES;
}

size_t field_bound(const trib::Field &f) {
    size_t value = f.type == TRIB_FIELD_STRING  ? string_value_bound(f.s)
                   : f.type == TRIB_FIELD_BYTES ? base64_size(f.s.size()) + 2
                                                : kNumberBound;
    return 1 + name_bound(f.key) + 1 + value; // separator, key, '=', value
}

// Writes `key=value` of a representable field.
char *write_field(char *p, const trib::Field &f) {
    p = write_name(p, f.key, true);
    *p++ = '=';
    switch (f.type) {
    case TRIB_FIELD_INT:
        p = write_number(p, f.i);
        *p++ = 'i';
        break;
    case TRIB_FIELD_UINT:
        p = write_number(p, f.u);
        *p++ = 'u';
        break;
    case TRIB_FIELD_FLOAT: p = write_number(p, f.f); break; // shortest round-trip
    case TRIB_FIELD_BOOL: p = put(p, f.b ? "true" : "false"); break;
    case TRIB_FIELD_STRING: p = write_string_value(p, f.s); break;
    case TRIB_FIELD_BYTES: p = write_base64_value(p, f.s); break;
    }
    return p;
}

} // namespace

bool append_line(std::string &out, const trib::Point &point) {
    if (point.measurement.empty()) return false;
    size_t bound = name_bound(point.measurement) + 1 + kNumberBound + 1;
    bool any = false;
    for (auto &kv : point.tags) bound += 2 + name_bound(kv.first) + name_bound(kv.second);
    for (auto &f : point.fields)
        if (representable(f)) {
            bound += field_bound(f);
            any = true;
        }
    if (!any) return false;
    const size_t start = out.size();
    out.resize(start + bound);
    char *const begin = out.data() + start;
    char *p = write_name(begin, point.measurement, false);
    for (auto &kv : point.tags) {
        // InfluxDB refuses empty tag keys and values, so such tags are left out.
        if (kv.first.empty() || kv.second.empty()) continue;
        *p++ = ',';
        p = write_name(p, kv.first, true);
        *p++ = '=';
        p = write_name(p, kv.second, true);
    }
    char separator = ' ';
    for (auto &f : point.fields) {
        if (!representable(f)) continue;
        *p++ = separator;
        separator = ',';
        p = write_field(p, f);
    }
    *p++ = ' ';
    p = write_number(p, point.time_ns);
    *p++ = '\n';
    out.resize(start + size_t(p - begin));
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
