// Round trip of the line-protocol encoder: a point built from fuzz bytes is encoded, and the
// line is read back with InfluxDB's own rules (models/points.go: a backslash makes the
// scanner skip the next byte; names unescape `\,` `\ ` (and `\=` in keys and tag values);
// string values unescape `\"` and `\\` only). What comes back must be the same point, up to
// the substitutions line_protocol.hpp documents — and always exactly one line.
#include <tributary/line_protocol.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using Value = std::variant<int64_t, uint64_t, double, bool, std::string>;

struct ReadPoint {
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
    std::vector<std::pair<std::string, Value>> fields;
    int64_t time_ns = 0;
};

[[noreturn]] void fail(const char *why) {
    fprintf(stderr, "round trip: %s\n", why);
    abort();
}

// ---- reading, as InfluxDB does

size_t scan_token(std::string_view s, size_t pos, std::string_view stops) {
    while (pos < s.size()) {
        if (s[pos] == '\\') {
            pos += 2;
            continue;
        }
        if (stops.find(s[pos]) != std::string_view::npos) break;
        ++pos;
    }
    return pos > s.size() ? s.size() : pos;
}

std::string unescape(std::string_view raw, std::string_view escapable) {
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size() && escapable.find(raw[i + 1]) != std::string_view::npos) {
            out.push_back(raw[++i]);
            continue;
        }
        out.push_back(raw[i]);
    }
    return out;
}

ReadPoint read_line(std::string_view line) {
    ReadPoint p;
    size_t pos = scan_token(line, 0, ", ");
    p.measurement = unescape(line.substr(0, pos), ", ");
    while (pos < line.size() && line[pos] == ',') {
        size_t k_end = scan_token(line, pos + 1, "=, ");
        if (k_end >= line.size() || line[k_end] != '=') fail("tag without '='");
        size_t v_end = scan_token(line, k_end + 1, ", ");
        p.tags.emplace_back(unescape(line.substr(pos + 1, k_end - pos - 1), ",= "),
                            unescape(line.substr(k_end + 1, v_end - k_end - 1), ",= "));
        pos = v_end;
    }
    if (pos >= line.size() || line[pos] != ' ') fail("no space before the fields");
    for (char sep = ' '; pos < line.size() && line[pos] == sep; sep = ',') {
        size_t k_end = scan_token(line, pos + 1, "=, ");
        if (k_end >= line.size() || line[k_end] != '=') fail("field without '='");
        std::string key = unescape(line.substr(pos + 1, k_end - pos - 1), ",= ");
        pos = k_end + 1;
        if (pos < line.size() && line[pos] == '"') {
            std::string v;
            size_t i = pos + 1;
            for (; i < line.size() && line[i] != '"'; ++i) {
                if (line[i] == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) ++i;
                else if (line[i] == '\\' && i + 1 < line.size()) {
                    v.push_back(line[i++]); // InfluxDB keeps other escapes as written
                }
                v.push_back(line[i]);
            }
            if (i >= line.size()) fail("unterminated string");
            p.fields.emplace_back(key, v);
            pos = i + 1;
            continue;
        }
        size_t v_end = scan_token(line, pos, ", ");
        std::string raw(line.substr(pos, v_end - pos));
        pos = v_end;
        if (raw == "true" || raw == "false") {
            p.fields.emplace_back(key, raw == "true");
        } else if (!raw.empty() && (raw.back() == 'i' || raw.back() == 'u')) {
            const char *b = raw.data(), *e = raw.data() + raw.size() - 1;
            if (raw.back() == 'i') {
                int64_t v = 0;
                if (std::from_chars(b, e, v).ptr != e) fail("bad integer");
                p.fields.emplace_back(key, v);
            } else {
                uint64_t v = 0;
                if (std::from_chars(b, e, v).ptr != e) fail("bad unsigned");
                p.fields.emplace_back(key, v);
            }
        } else {
            double v = 0;
            if (std::from_chars(raw.data(), raw.data() + raw.size(), v).ptr != raw.data() + raw.size())
                fail("bad float");
            p.fields.emplace_back(key, v);
        }
    }
    if (pos >= line.size() || line[pos] != ' ') fail("no space before the timestamp");
    std::string_view ts = line.substr(pos + 1);
    if (std::from_chars(ts.data(), ts.data() + ts.size(), p.time_ns).ptr != ts.data() + ts.size())
        fail("bad timestamp");
    return p;
}

// ---- what the encoder documents it writes

bool name_special(char c, bool equals) {
    return c == ',' || c == ' ' || (equals && c == '=') || c == '\n' || c == '\r' || c == '\0';
}

// LF, CR and NUL read back as a space; a backslash run before a special character or the
// end reads back doubled (InfluxDB does not unescape `\\` in names).
std::string expected_name(std::string_view s, bool equals) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\\') {
            size_t end = s.find_first_not_of('\\', i);
            size_t run = (end == std::string_view::npos ? s.size() : end) - i;
            bool doubled = end == std::string_view::npos || name_special(s[end], equals);
            out.append(doubled ? 2 * run : run, '\\');
            i += run - 1;
            continue;
        }
        out.push_back(c == '\n' || c == '\r' || c == '\0' ? ' ' : c);
    }
    return out;
}

std::string expected_string(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\0') out += "\\0";
        else out.push_back(c);
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    trib::Point p(in.ConsumeRandomLengthString(64), "metric", in.ConsumeIntegral<int64_t>());
    for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n) {
        std::string k = in.ConsumeRandomLengthString(32);
        p.tags.emplace_back(k, in.ConsumeRandomLengthString(32));
    }
    for (int n = in.ConsumeIntegralInRange(0, 5); n > 0; --n) {
        std::string k = in.ConsumeRandomLengthString(32);
        switch (in.ConsumeIntegralInRange(0, 4)) {
        case 0: p.fields.push_back(trib::Field::Int(k, in.ConsumeIntegral<int64_t>())); break;
        case 1: p.fields.push_back(trib::Field::Uint(k, in.ConsumeIntegral<uint64_t>())); break;
        case 2: p.fields.push_back(trib::Field::Float(k, in.ConsumeFloatingPoint<double>())); break;
        case 3: p.fields.push_back(trib::Field::Bool(k, in.ConsumeBool())); break;
        default: p.fields.push_back(trib::Field::String(k, in.ConsumeRandomLengthString(64))); break;
        }
    }

    std::string line = trib::line_protocol::to_line(p);

    // What the encoder keeps: tags with key and value, fields with a key and a finite value.
    ReadPoint want;
    want.measurement =
        (!p.measurement.empty() && p.measurement[0] == '#' ? "\\" : "") + expected_name(p.measurement, false);
    for (auto &[k, v] : p.tags)
        if (!k.empty() && !v.empty()) want.tags.emplace_back(expected_name(k, true), expected_name(v, true));
    for (auto &f : p.fields) {
        if (f.key.empty() || (f.type == TRIB_FIELD_FLOAT && !std::isfinite(f.f))) continue;
        Value v;
        switch (f.type) {
        case TRIB_FIELD_INT: v = f.i; break;
        case TRIB_FIELD_UINT: v = f.u; break;
        case TRIB_FIELD_FLOAT: v = f.f; break;
        case TRIB_FIELD_BOOL: v = f.b; break;
        default: v = expected_string(f.s); break;
        }
        want.fields.emplace_back(expected_name(f.key, true), v);
    }
    want.time_ns = p.time_ns;

    if (p.measurement.empty() || want.fields.empty()) {
        if (!line.empty()) fail("a point without measurement or fields was written");
        return 0;
    }
    if (line.empty() || line.back() != '\n') fail("no line end");
    std::string_view body(line.data(), line.size() - 1);
    if (body.find('\n') != std::string_view::npos || body.find('\r') != std::string_view::npos ||
        body.find('\0') != std::string_view::npos)
        fail("a line break or NUL inside the line");
    if (body[0] == '#') fail("the line reads as a comment");

    ReadPoint got = read_line(body);
    if (got.measurement != want.measurement) fail("measurement differs");
    if (got.tags != want.tags) fail("tags differ");
    if (got.time_ns != want.time_ns) fail("timestamp differs");
    if (got.fields.size() != want.fields.size()) fail("field count differs");
    for (size_t i = 0; i < got.fields.size(); ++i) {
        if (got.fields[i].first != want.fields[i].first) fail("field key differs");
        const Value &a = got.fields[i].second, &b = want.fields[i].second;
        if (a.index() != b.index()) fail("field type differs");
        if (auto *d = std::get_if<double>(&a)) {
            if (*d != std::get<double>(b)) fail("float differs");
        } else if (a != b) {
            fail("field value differs");
        }
    }
    return 0;
}
