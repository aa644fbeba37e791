#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/multipart.hpp>

#include <cstring>

namespace trib::profiling {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

size_t find_bytes(std::string_view hay, std::string_view needle, size_t from) {
    if (from > hay.size()) return std::string_view::npos;
    const void *p = memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
    return p ? static_cast<size_t>(static_cast<const char *>(p) - hay.data()) : std::string_view::npos;
}

// Parameters of a header value such as `form-data; name="a"; filename="b.pprof"`.
// Quoted values may contain ';' and backslash escapes.
std::vector<std::pair<std::string, std::string>> header_params(std::string_view v, std::string *first) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t i = 0;
    size_t semi = v.find(';');
    if (first) *first = std::string(trim(v.substr(0, semi)));
    if (semi == std::string_view::npos) return out;
    i = semi + 1;
    while (i < v.size()) {
        while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ';')) ++i;
        size_t eq = v.find('=', i);
        if (eq == std::string_view::npos) break;
        std::string key(trim(v.substr(i, eq - i)));
        for (auto &c : key) c = lower(c);
        i = eq + 1;
        std::string val;
        if (i < v.size() && v[i] == '"') {
            ++i;
            while (i < v.size() && v[i] != '"') {
                if (v[i] == '\\' && i + 1 < v.size()) ++i;
                val.push_back(v[i++]);
            }
            if (i < v.size()) ++i; // closing quote
        } else {
            size_t end = v.find(';', i);
            if (end == std::string_view::npos) end = v.size();
            val = std::string(trim(v.substr(i, end - i)));
            i = end;
        }
        out.emplace_back(std::move(key), std::move(val));
    }
    return out;
}

} // namespace

std::string multipart_boundary(std::string_view content_type) {
    std::string type;
    auto params = header_params(content_type, &type);
    if (!iequals(type, "multipart/form-data")) return {};
    for (auto &kv : params)
        if (kv.first == "boundary") return kv.second;
    return {};
}

std::vector<MultipartPart> parse_multipart(std::string_view body, std::string_view boundary) {
    if (boundary.empty()) throw DecodeError("multipart: empty boundary");
    if (boundary.size() > 200) throw DecodeError("multipart: boundary longer than 200 characters");
    std::string delim = "--";
    delim.append(boundary);

    // The first delimiter may follow a preamble; later ones are preceded by CRLF.
    size_t pos;
    if (body.substr(0, delim.size()) == delim) pos = 0;
    else {
        pos = find_bytes(body, "\n" + delim, 0);
        if (pos == std::string_view::npos) throw DecodeError("multipart: opening boundary not found");
        pos += 1;
    }
    std::string next_delim = "\r\n" + delim;
    std::vector<MultipartPart> parts;
    for (;;) {
        pos += delim.size();
        if (body.substr(pos, 2) == "--") return parts; // closing delimiter
        // Transport padding, then the line break that ends the delimiter line.
        while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
        if (body.substr(pos, 2) == "\r\n") pos += 2;
        else if (body.substr(pos, 1) == "\n") pos += 1;
        else throw DecodeError("multipart: malformed boundary line");

        MultipartPart part;
        // Header lines until an empty line.
        for (;;) {
            size_t eol = body.find('\n', pos);
            if (eol == std::string_view::npos) throw DecodeError("multipart: part headers not terminated");
            std::string_view line = body.substr(pos, eol - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            pos = eol + 1;
            if (line.empty()) break;
            size_t colon = line.find(':');
            if (colon == std::string_view::npos) throw DecodeError("multipart: part header without ':'");
            std::string name(trim(line.substr(0, colon)));
            std::string value(trim(line.substr(colon + 1)));
            if (iequals(name, "Content-Disposition")) {
                for (auto &kv : header_params(value, nullptr)) {
                    if (kv.first == "name") part.name = kv.second;
                    else if (kv.first == "filename") part.filename = kv.second;
                }
            } else if (iequals(name, "Content-Type")) {
                part.content_type = value;
            }
            part.headers.emplace_back(std::move(name), std::move(value));
            if (part.headers.size() > 64) throw DecodeError("multipart: too many part headers");
        }
        size_t end = find_bytes(body, next_delim, pos);
        if (end == std::string_view::npos) {
            // Some writers end lines with a bare LF.
            end = find_bytes(body, "\n" + delim, pos);
            if (end == std::string_view::npos) throw DecodeError("multipart: closing boundary not found");
            part.data = body.substr(pos, end - pos);
            pos = end + 1;
        } else {
            part.data = body.substr(pos, end - pos);
            pos = end + 2;
        }
        parts.push_back(std::move(part));
        if (parts.size() > 4096) throw DecodeError("multipart: too many parts");
    }
}

} // namespace trib::profiling
