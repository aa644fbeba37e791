#include "go_proto_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace trib::pinpoint {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the UTF-8 sequence at s[i] and its code point; 0 when the bytes are not valid UTF-8.
size_t utf8_decode(const std::string &s, size_t i, uint32_t *cp) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        v = (v << 6) | (b(i + k) & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid in Go too.
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < kMin[n] || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) return 0;
    *cp = v;
    return n;
}

void append_hex(std::string &out, const char *prefix, uint32_t v, int min_digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%0*x", min_digits, v);
    out += prefix;
    out += buf;
}

// Go's text-format quoting: control characters, quotes, backslashes and invalid bytes escaped;
// valid UTF-8 kept, except C1 controls (U+0080..U+009F) as \u00XX.
void append_quoted(std::string &out, const std::string &s) {
    out.push_back('"');
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        size_t n = utf8_decode(s, i, &cp);
        if (n == 0) {
            append_hex(out, "\\x", static_cast<unsigned char>(s[i]), 2);
            ++i;
            continue;
        }
        if (cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7f) {
            switch (cp) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: append_hex(out, "\\x", cp, 2);
            }
        } else if (cp >= 0x80 && cp <= 0x9f) {
            append_hex(out, "\\u", cp, 4);
        } else {
            out.append(s, i, n);
        }
        i += n;
    }
    out.push_back('"');
}

// Go's strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form when the decimal
// exponent is below -4 or at least 6 (mantissa "d.ddd", exponent sign and two digits or more).
void append_go_float(std::string &out, double v) {
    if (std::isnan(v)) {
        out += "nan";
        return;
    }
    if (std::isinf(v)) {
        out += v < 0 ? "-inf" : "inf";
        return;
    }
    char sci[64];
    auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
    *r.ptr = '\0';
    const char *e = std::strchr(sci, 'e');
    int exp = e ? std::atoi(e + 1) : 0;
    if (exp < -4 || exp >= 6) {
        out += sci;
        return;
    }
    char fixed[64];
    auto f = std::to_chars(fixed, fixed + sizeof fixed, v, std::chars_format::fixed);
    out.append(fixed, f.ptr);
}

void append_message(std::string &out, const Message &m);

void append_value(std::string &out, const Message &m, const Reflection &r, const FieldDescriptor &f, int index) {
    const bool rep = f.is_repeated();
    switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
        out += std::to_string(rep ? r.GetRepeatedInt32(m, &f, index) : r.GetInt32(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_INT64:
        out += std::to_string(rep ? r.GetRepeatedInt64(m, &f, index) : r.GetInt64(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_UINT32:
        out += std::to_string(rep ? r.GetRepeatedUInt32(m, &f, index) : r.GetUInt32(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_UINT64:
        out += std::to_string(rep ? r.GetRepeatedUInt64(m, &f, index) : r.GetUInt64(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
        append_go_float(out, rep ? r.GetRepeatedDouble(m, &f, index) : r.GetDouble(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_FLOAT:
        append_go_float(out, rep ? r.GetRepeatedFloat(m, &f, index) : r.GetFloat(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_BOOL:
        out += (rep ? r.GetRepeatedBool(m, &f, index) : r.GetBool(m, &f)) ? "true" : "false";
        break;
    case FieldDescriptor::CPPTYPE_ENUM: {
        int v = rep ? r.GetRepeatedEnumValue(m, &f, index) : r.GetEnumValue(m, &f);
        const auto *ev = f.enum_type()->FindValueByNumber(v);
        out += ev ? ev->name() : std::to_string(v);
        break;
    }
    case FieldDescriptor::CPPTYPE_STRING:
        append_quoted(out, rep ? r.GetRepeatedString(m, &f, index) : r.GetString(m, &f));
        break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
        out.push_back('{');
        append_message(out, rep ? r.GetRepeatedMessage(m, &f, index) : r.GetMessage(m, &f));
        out.push_back('}');
        break;
    }
}

void append_message(std::string &out, const Message &m) {
    const auto *d = m.GetDescriptor();
    const Reflection &r = *m.GetReflection();
    bool first = true;
    auto emit = [&](const FieldDescriptor &f, int index) {
        if (!first) out.push_back(' ');
        first = false;
        out += f.name();
        out.push_back(':');
        append_value(out, m, r, f, index);
    };
    for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor &f = *d->field(i);
        if (f.is_repeated()) {
            for (int k = 0, n = r.FieldSize(m, &f); k < n; ++k) emit(f, k);
        } else if (r.HasField(m, &f)) { // proto3 scalars: set and not zero
            emit(f, -1);
        }
    }
}

} // namespace

std::string go_proto_text(const Message &m) {
    std::string out;
    append_message(out, m);
    return out;
}

} // namespace trib::pinpoint
