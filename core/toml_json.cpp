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

std::shared_ptr<cpptoml::table> parse_toml_text(const std::string &text, const std::string &where) {
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
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_toml_text(ss.str(), path);
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
