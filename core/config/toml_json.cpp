#include "toml_json.hpp"

#include <cpptoml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace trib::core {

namespace {
template <class T>
std::string to_text(const T &v) {
    std::ostringstream ss;
    ss << v;
    return ss.str();
}
} // namespace

nlohmann::json toml_table_to_json(const std::shared_ptr<cpptoml::table> &table) {
    nlohmann::json out = nlohmann::json::object();
    if (!table) return out;
    for (auto &kv : *table) out[kv.first] = toml_to_json(kv.second);
    return out;
}

nlohmann::json toml_to_json(const std::shared_ptr<cpptoml::base> &v) {
    if (!v) return nullptr;
    if (v->is_table()) return toml_table_to_json(v->as_table());
    if (v->is_table_array()) {
        nlohmann::json arr = nlohmann::json::array();
        for (auto &t : v->as_table_array()->get()) arr.push_back(toml_table_to_json(t));
        return arr;
    }
    if (v->is_array()) {
        nlohmann::json arr = nlohmann::json::array();
        for (auto &e : v->as_array()->get()) arr.push_back(toml_to_json(e));
        return arr;
    }
    if (auto s = v->as<std::string>()) return s->get();
    if (auto i = v->as<int64_t>()) return i->get();
    if (auto d = v->as<double>()) return d->get();
    if (auto b = v->as<bool>()) return b->get();
    if (auto x = v->as<cpptoml::offset_datetime>()) return to_text(x->get());
    if (auto x = v->as<cpptoml::local_datetime>()) return to_text(x->get());
    if (auto x = v->as<cpptoml::local_date>()) return to_text(x->get());
    if (auto x = v->as<cpptoml::local_time>()) return to_text(x->get());
    return nullptr;
}

void check_toml_depth(std::string_view text, const std::string &where) {
    size_t depth = 0; // open [ and { inside values
    size_t line = 1;
    bool line_start = true; // only whitespace so far on this line
    auto too_deep = [&] {
        throw std::runtime_error(where + ": line " + std::to_string(line) + ": nested deeper than " +
                                 std::to_string(kMaxConfigDepth) + " levels (arrays, inline tables or table names)");
    };
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\n') {
            ++line;
            line_start = true;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') continue;
        bool at_line_start = line_start;
        line_start = false;
        if (c == '#') {
            while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
            continue;
        }
        if (c == '"' || c == '\'') {
            // Strings: basic (backslash escapes), literal, and their triple-quoted multi-line
            // forms. Brackets inside do not nest.
            const std::string quote3(3, c);
            bool multi = text.substr(i, 3) == quote3;
            size_t j = i + (multi ? 3 : 1);
            for (; j < text.size(); ++j) {
                if (text[j] == '\n') {
                    if (!multi) break; // unterminated: cpptoml reports it
                    ++line;
                }
                if (c == '"' && text[j] == '\\') {
                    ++j;
                    if (j < text.size() && text[j] == '\n') ++line;
                    continue;
                }
                if (text[j] == c && (!multi || text.substr(j, 3) == quote3)) break;
            }
            i = multi ? j + 2 : j;
            if (i < text.size() && text[i] == '\n') --i; // let the loop count the line
            continue;
        }
        if (depth == 0 && at_line_start && c == '[') {
            // A table header, [a.b] or [[a.b]]: its name's parts nest tables too.
            size_t parts = 1;
            while (i + 1 < text.size() && text[i + 1] != '\n' && text[i + 1] != '#')
                if (text[++i] == '.') ++parts;
            if (parts > kMaxConfigDepth) too_deep();
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > kMaxConfigDepth) too_deep();
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        } else if (c == '.' && depth == 0) {
            // A dotted key (a.b.c = 1) nests tables as well: count this key's parts.
            size_t parts = 2;
            size_t j = i + 1;
            for (; j < text.size() && text[j] != '=' && text[j] != '\n'; ++j)
                if (text[j] == '.') ++parts;
            if (parts > kMaxConfigDepth) too_deep();
            i = j - 1;
        }
    }
}

std::shared_ptr<cpptoml::table> parse_toml_text(const std::string &text, const std::string &where) {
    check_toml_depth(text, where);
    std::istringstream in(text);
    try {
        cpptoml::parser p(in);
        return p.parse();
    } catch (const cpptoml::parse_exception &e) {
        throw std::runtime_error(where + ": TOML syntax error: " + e.what());
    }
}

std::shared_ptr<cpptoml::table> parse_toml_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read file");
    std::string text;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<size_t>(in.gcount()));
        if (text.size() > kMaxConfigFileBytes)
            throw std::runtime_error(path + ": file larger than " + std::to_string(kMaxConfigFileBytes >> 20) +
                                     " MiB; not a config file?");
    }
    return parse_toml_text(text, path);
}

std::string json_type_name(const nlohmann::json &v) {
    switch (v.type()) {
    case nlohmann::json::value_t::object: return "a table";
    case nlohmann::json::value_t::array: return "a list";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a float";
    default: return "null";
    }
}

} // namespace trib::core
