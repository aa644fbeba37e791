#include "wire.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace trib::nats {

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr))
        throw std::runtime_error("SHA-256 failed");
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || !EVP_DigestInit_ex(static_cast<EVP_MD_CTX *>(ctx_), EVP_sha256(), nullptr))
        throw std::runtime_error("SHA-256 init failed");
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX *>(ctx_)); }
void Sha256::update(std::string_view data) {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX *>(ctx_), data.data(), data.size());
}
std::string Sha256::hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX *>(ctx_), md, &len);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out.push_back(digits[md[i] >> 4]);
        out.push_back(digits[md[i] & 15]);
    }
    return out;
}

std::string subject_token(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) out.push_back(c <= ' ' || c == '.' || c == '*' || c == '>' || c == 0x7f ? '_' : char(c));
    return out.empty() ? "_" : out;
}

std::string header_escape(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '%' || c < 0x20 || c >= 0x7f) {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(char(c));
        }
    }
    return out;
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

std::string header_unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out.push_back(char(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// ------------------------------------------------------------------ writing

namespace {

bool name_break(char c) { return c == '\n' || c == '\r' || c == '\0'; }

// Same rules as the host's file sink: comma and space (and '=' outside measurements)
// escaped, line breaks and NUL as an escaped space, a run of backslashes doubled only
// right before an escaped byte or the token's end, a leading '#' escaped in measurements.
void append_name(std::string &out, std::string_view s, bool escape_equals) {
    auto special = [&](char c) { return c == ',' || c == ' ' || (escape_equals && c == '=') || name_break(c); };
    if (!escape_equals && !s.empty() && s.front() == '#') out.push_back('\\');
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\\') {
            size_t end = s.find_first_not_of('\\', i);
            size_t run = (end == std::string_view::npos ? s.size() : end) - i;
            bool doubled = end == std::string_view::npos || special(s[end]);
            out.append(doubled ? 2 * run : run, '\\');
            i += run - 1;
        } else if (special(c)) {
            out.push_back('\\');
            out.push_back(name_break(c) ? ' ' : c);
        } else {
            out.push_back(c);
        }
    }
}

void append_quoted(std::string &out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\0': out += "\\0"; break;
        default: out.push_back(c);
        }
    }
    out.push_back('"');
}

std::string base64(std::string_view in) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += t[(v >> 6) & 63];
        out += t[v & 63];
    }
    if (size_t rest = in.size() - i) {
        uint32_t v = uint32_t(uint8_t(in[i])) << 16 | (rest == 2 ? uint32_t(uint8_t(in[i + 1])) << 8 : 0);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += rest == 2 ? t[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

template <class T>
void append_number(std::string &out, T v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

bool append_field(std::string &out, const trib::Field &f) {
    if (f.key.empty() || f.type > TRIB_FIELD_BYTES) return false;
    if (f.type == TRIB_FIELD_FLOAT && !std::isfinite(f.f)) return false;
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
    case TRIB_FIELD_FLOAT: append_number(out, f.f); break;
    case TRIB_FIELD_BOOL: out += f.b ? "true" : "false"; break;
    case TRIB_FIELD_STRING: append_quoted(out, f.s); break;
    case TRIB_FIELD_BYTES: append_quoted(out, base64(f.s)); break;
    }
    return true;
}

} // namespace

bool append_line(std::string &out, const trib::Point &p) {
    if (p.measurement.empty()) return false;
    size_t start = out.size();
    append_name(out, p.measurement, false);
    for (auto &kv : p.tags) {
        if (kv.first.empty() || kv.second.empty()) continue; // InfluxDB refuses empty keys and values
        out.push_back(',');
        append_name(out, kv.first, true);
        out.push_back('=');
        append_name(out, kv.second, true);
    }
    bool any = false;
    for (auto &f : p.fields) {
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
    append_number(out, p.time_ns);
    out.push_back('\n');
    return true;
}

// ------------------------------------------------------------------ reading

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

} // namespace trib::nats
