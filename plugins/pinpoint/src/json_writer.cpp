#include "json_writer.hpp"

#include <google/protobuf/descriptor.h>
#include <tributary/json_text.hpp>

#include <charconv>
#include <cmath>
#include <deque>
#include <vector>

namespace trib::pinpoint {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Protobuf strings are UTF-8 already; the SDK's writer also keeps the JSON valid if not.
void append_string(std::string_view s, std::string &out) { trib::append_json_string(out, s); }

void append_base64(std::string_view s, std::string &out) {
    static const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.push_back('"');
    size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        uint32_t v = uint32_t(uint8_t(s[i])) << 16 | uint32_t(uint8_t(s[i + 1])) << 8 | uint8_t(s[i + 2]);
        out.push_back(tbl[v >> 18]);
        out.push_back(tbl[(v >> 12) & 63]);
        out.push_back(tbl[(v >> 6) & 63]);
        out.push_back(tbl[v & 63]);
    }
    if (i < s.size()) {
        uint32_t v = uint32_t(uint8_t(s[i])) << 16 | (i + 1 < s.size() ? uint32_t(uint8_t(s[i + 1])) << 8 : 0);
        out.push_back(tbl[v >> 18]);
        out.push_back(tbl[(v >> 12) & 63]);
        out.push_back(i + 1 < s.size() ? tbl[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    out.push_back('"');
}

template <class T>
void append_number(T v, std::string &out) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_double(double d, std::string &out) {
    if (std::isnan(d)) {
        out += "\"NaN\"";
        return;
    }
    if (std::isinf(d)) {
        out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        return;
    }
    append_number(d, out); // shortest round-trip form
}

bool is_wrapper(const google::protobuf::Descriptor *d) { return d->file()->name() == "google/protobuf/wrappers.proto"; }

void append_object(const Message &m, std::string &out, int skip_field, size_t depth);

void append_value(const Message &m, const Reflection *r, const FieldDescriptor *f, int index, std::string &out,
                  size_t depth) {
    const bool rep = index >= 0;
    switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
        append_number(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out);
        break;
    case FieldDescriptor::CPPTYPE_UINT32:
        append_number(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out);
        break;
    case FieldDescriptor::CPPTYPE_INT64:
        out.push_back('"');
        append_number(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out);
        out.push_back('"');
        break;
    case FieldDescriptor::CPPTYPE_UINT64:
        out.push_back('"');
        append_number(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out);
        out.push_back('"');
        break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
        append_double(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
        break;
    case FieldDescriptor::CPPTYPE_FLOAT:
        append_double(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
        break;
    case FieldDescriptor::CPPTYPE_BOOL:
        out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
        break;
    case FieldDescriptor::CPPTYPE_ENUM: {
        const auto *e = rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f);
        append_string(e->name(), out);
        break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
        std::string scratch;
        const std::string &s =
            rep ? r->GetRepeatedStringReference(m, f, index, &scratch) : r->GetStringReference(m, f, &scratch);
        if (f->type() == FieldDescriptor::TYPE_BYTES) append_base64(s, out);
        else append_string(s, out);
        break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
        const Message &sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
        if (is_wrapper(sub.GetDescriptor())) {
            const FieldDescriptor *vf = sub.GetDescriptor()->FindFieldByNumber(1);
            append_value(sub, sub.GetReflection(), vf, -1, out, depth + 1);
        } else {
            append_object(sub, out, 0, depth + 1);
        }
        break;
    }
    }
}

// The set fields of each nesting level, kept per thread: a list per message rendered was
// most of the allocations a span message costs (deque: deeper levels never move a list).
std::vector<const FieldDescriptor *> &fields_at(size_t depth) {
    thread_local std::deque<std::vector<const FieldDescriptor *>> lists;
    while (lists.size() <= depth) lists.emplace_back();
    return lists[depth];
}

void append_object(const Message &m, std::string &out, int skip_field, size_t depth) {
    const Reflection *r = m.GetReflection();
    std::vector<const FieldDescriptor *> &fields = fields_at(depth);
    fields.clear();
    r->ListFields(m, &fields); // set fields, by field number
    out.push_back('{');
    bool first = true;
    for (const FieldDescriptor *f : fields) {
        if (f->number() == skip_field) continue;
        if (!first) out.push_back(',');
        first = false;
        append_string(f->name(), out);
        out.push_back(':');
        if (f->is_repeated()) {
            out.push_back('[');
            int n = r->FieldSize(m, f);
            for (int i = 0; i < n; ++i) {
                if (i) out.push_back(',');
                append_value(m, r, f, i, out, depth);
            }
            out.push_back(']');
        } else {
            append_value(m, r, f, -1, out, depth);
        }
    }
    out.push_back('}');
}

} // namespace

void append_json(const Message &m, std::string &out, int skip_field) { append_object(m, out, skip_field, 0); }

} // namespace trib::pinpoint
