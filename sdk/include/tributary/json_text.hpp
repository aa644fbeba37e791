// JSON text written by hand, for code that emits JSON on a hot path without building a
// document first (one string instead of a tree of nodes). Header only, C++17.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trib {

// Appends `s` as a JSON string literal, quotes included. Bytes that are not valid UTF-8
// become U+FFFD, so the result is always valid JSON (nlohmann's dump() would throw on them).
inline void append_json_string(std::string &out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    out.push_back('"');
    size_t run = 0; // start of the pending run of bytes copied as they are
    size_t i = 0;
    auto flush = [&](size_t upto) { out.append(s.data() + run, upto - run); };
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            // Length of a well-formed sequence starting here (RFC 3629), 0 when ill-formed.
            size_t len = 0;
            auto cont = [&](size_t k) { return i + k < s.size() && (uint8_t(s[i + k]) & 0xc0) == 0x80; };
            uint8_t c1 = i + 1 < s.size() ? uint8_t(s[i + 1]) : 0;
            if (c >= 0xc2 && c <= 0xdf && cont(1)) len = 2;
            else if (c >= 0xe0 && c <= 0xef && cont(1) && cont(2) && !(c == 0xe0 && c1 < 0xa0) &&
                     !(c == 0xed && c1 > 0x9f))
                len = 3;
            else if (c >= 0xf0 && c <= 0xf4 && cont(1) && cont(2) && cont(3) && !(c == 0xf0 && c1 < 0x90) &&
                     !(c == 0xf4 && c1 > 0x8f))
                len = 4;
            if (len) {
                i += len;
                continue;
            }
            flush(i);
            out += "\xef\xbf\xbd";
            run = ++i;
            continue;
        }
        flush(i);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
        run = ++i;
    }
    flush(s.size());
    out.push_back('"');
}

} // namespace trib
