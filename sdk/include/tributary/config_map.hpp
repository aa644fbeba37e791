// A module's config keys, declared once: name, type, default, allowed range or choices, a
// one-line doc and the ENV_INPUT_<INPUT>_<KEY> variable. The same declaration parses the
// JSON table the host hands to create(), documents the keys (`tributary --describe-config`,
// through trib_module_t.config_table) and is held against the module's *.conf.sample by a
// test. Header only, C++17; needs nlohmann/json (Debian nlohmann-json3-dev).
//
// Values from ENV_INPUT_* arrive as text when the host has no type for them; every type
// takes text by one rule, DataKit's: booleans true/false/t/f/1/0 (also TRUE/True/T/F...),
// durations "5s", "1m30s", "500ms" (a bare number is seconds), integers and numbers as
// decimal text, lists and tables as JSON ("[...]", "{...}"), lists also as "a,b,c".
// Errors name the key: "inputs.<name>: key '<key>': <reason>" (the host adds the file).
#ifndef TRIBUTARY_CONFIG_MAP_HPP
#define TRIBUTARY_CONFIG_MAP_HPP

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::config {

// A config value that cannot be used; the message names the key.
struct ConfigError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// ------------------------------------------------------------------ text rules

// Go-style durations: "10s", "1m30s", "500ms", "1.5h", "250us"/"250µs", "100ns"; a bare
// number is seconds. Throws std::invalid_argument on anything else (signs, spaces, "").
inline std::chrono::milliseconds parse_duration(std::string_view text) {
    auto bad = [&](const std::string &why) -> std::invalid_argument {
        return std::invalid_argument("'" + std::string(text) + "' is not a duration (" + why +
                                     "; e.g. \"10s\", \"1m30s\", \"500ms\")");
    };
    if (text.empty()) throw bad("empty");
    double total_ms = 0;
    size_t i = 0;
    bool first = true;
    while (i < text.size()) {
        size_t start = i;
        bool dot = false;
        while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || (text[i] == '.' && !dot))) {
            dot |= text[i] == '.';
            ++i;
        }
        std::string number(text.substr(start, i - start));
        if (number.empty() || number == ".") throw bad("a number must come first");
        double n = std::stod(number);
        size_t unit_start = i;
        while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
        std::string_view unit = text.substr(unit_start, i - unit_start);
        double ms_per_unit;
        if (unit.empty() && first && i == text.size()) ms_per_unit = 1000; // bare number: seconds
        else if (unit == "ns") ms_per_unit = 1e-6;
        else if (unit == "us" || unit == "\xC2\xB5s") ms_per_unit = 1e-3;
        else if (unit == "ms") ms_per_unit = 1;
        else if (unit == "s") ms_per_unit = 1000;
        else if (unit == "m") ms_per_unit = 60000;
        else if (unit == "h") ms_per_unit = 3600000;
        else throw bad(unit.empty() ? "a unit is missing" : "unknown unit '" + std::string(unit) + "'");
        total_ms += n * ms_per_unit;
        first = false;
    }
    if (!(total_ms < 9.0e15)) throw bad("too long");
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

// The shortest Go-style text for a duration: 90000 ms -> "1m30s", 500 -> "500ms", 0 -> "0s".
inline std::string format_duration(std::chrono::milliseconds d) {
    int64_t ms = d.count();
    if (ms == 0) return "0s";
    std::string out;
    if (ms < 0) {
        out = "-";
        ms = -ms;
    }
    if (ms % 1000 != 0 && ms < 1000) return out + std::to_string(ms) + "ms";
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, rest = ms % 1000;
    if (h) out += std::to_string(h) + "h";
    if (m) out += std::to_string(m) + "m";
    if (s || rest) {
        out += std::to_string(s);
        if (rest) {
            std::string frac = std::to_string(rest + 1000).substr(1);
            while (!frac.empty() && frac.back() == '0') frac.pop_back();
            out += "." + frac;
        }
        out += "s";
    }
    return out;
}

// DataKit's (Go strconv.ParseBool) spellings.
inline std::optional<bool> parse_bool(std::string_view text) {
    if (text == "1" || text == "t" || text == "T" || text == "true" || text == "TRUE" || text == "True") return true;
    if (text == "0" || text == "f" || text == "F" || text == "false" || text == "FALSE" || text == "False")
        return false;
    return std::nullopt;
}

// ENV_INPUT_<INPUT>_ for an input name ("pinpoint" -> "ENV_INPUT_PINPOINT_"; '-' and '.' -> '_').
inline std::string env_prefix_of(std::string_view input) {
    std::string p = "ENV_INPUT_";
    for (char c : input) p.push_back(c == '-' || c == '.' ? '_' : (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c);
    return p + "_";
}

// ------------------------------------------------------------------ declarations

enum class Type { Bool, Int, Double, String, Duration, StringList, Table, Section };

inline const char *type_name(Type t) {
    switch (t) {
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Double: return "double";
    case Type::String: return "string";
    case Type::Duration: return "duration";
    case Type::StringList: return "string list";
    case Type::Table: return "table";
    case Type::Section: return "section";
    }
    return "?";
}

class ConfigMap;

// One declared key. The builder methods return *this so a declaration reads as one line.
struct Key {
    std::string name;
    Type type = Type::String;
    nlohmann::json default_value;   // null: no default (absent unless given)
    std::optional<double> min, max; // Int, Double; Duration in milliseconds
    bool min_exclusive = false;
    std::vector<std::string> choices; // String: the value; StringList: every element
    std::string doc;
    std::string env; // ENV_INPUT_<INPUT>_<KEY>; empty for keys inside a sub-table
    std::vector<std::string> aliases;
    bool is_required = false;
    std::string required_hint;
    bool repeated = false;                 // Section: [[...]], a list of tables
    bool string_values = false;            // Table: every value is text (numbers and booleans are written as text)
    std::shared_ptr<const ConfigMap> keys; // Section: its own declared keys
    std::function<std::string(const nlohmann::json &)> rule; // returns the reason a value is refused, or ""
    std::string rule_doc;

    Key &at_least(double v) {
        min = v;
        min_exclusive = false;
        return *this;
    }
    Key &greater_than(double v) {
        min = v;
        min_exclusive = true;
        return *this;
    }
    Key &at_most(double v) {
        max = v;
        return *this;
    }
    Key &within(double lo, double hi) { return at_least(lo).at_most(hi); }
    // Duration bounds as text ("1s").
    Key &at_least(std::string_view duration) { return at_least(double(parse_duration(duration).count())); }
    Key &at_most(std::string_view duration) { return at_most(double(parse_duration(duration).count())); }
    Key &one_of(std::vector<std::string> c) {
        choices = std::move(c);
        return *this;
    }
    Key &required(std::string hint = {}) {
        is_required = true;
        required_hint = std::move(hint);
        return *this;
    }
    Key &alias(std::string a) {
        aliases.push_back(std::move(a));
        return *this;
    }
    // An extra rule on the coerced value; `what` says it in --describe-config ("starts with '/'").
    Key &check(std::string what, std::function<std::string(const nlohmann::json &)> fn) {
        rule_doc = std::move(what);
        rule = std::move(fn);
        return *this;
    }
};

// The coerced values of one table, defaults filled in.
class Values {
  public:
    bool has(std::string_view name) const { return given_.count(std::string(name)) != 0; }
    const nlohmann::json &raw(std::string_view name) const {
        auto it = values_.find(std::string(name));
        if (it == values_.end()) throw std::logic_error("config key '" + std::string(name) + "' is not declared");
        return *it;
    }
    bool boolean(std::string_view name) const { return value<bool>(name); }
    int64_t integer(std::string_view name) const { return value<int64_t>(name); }
    double number(std::string_view name) const { return value<double>(name); }
    std::string string(std::string_view name) const { return value<std::string>(name); }
    std::chrono::milliseconds duration(std::string_view name) const {
        return std::chrono::milliseconds(value<int64_t>(name));
    }
    std::vector<std::string> strings(std::string_view name) const { return value<std::vector<std::string>>(name); }
    const nlohmann::json &table(std::string_view name) const { return raw(name); }
    std::map<std::string, std::string> string_table(std::string_view name) const {
        std::map<std::string, std::string> out;
        const nlohmann::json &t = raw(name);
        if (t.is_object())
            for (auto it = t.begin(); it != t.end(); ++it) out[it.key()] = it->get<std::string>();
        return out;
    }
    // A [section] (always one, defaults when absent) or every [[section]] given.
    const std::vector<Values> &sections(std::string_view name) const {
        auto it = sections_.find(std::string(name));
        if (it == sections_.end()) throw std::logic_error("config section '" + std::string(name) + "' is not declared");
        return it->second;
    }
    const Values &section(std::string_view name) const { return sections(name).at(0); }
    // Keys the table has that are not declared (DataKit ignores them; some modules read them).
    const nlohmann::json &undeclared() const { return undeclared_; }

  private:
    friend class ConfigMap;
    template <class T>
    T value(std::string_view name) const {
        const nlohmann::json &v = raw(name);
        if (v.is_null()) throw std::logic_error("config key '" + std::string(name) + "' has no value and no default");
        return v.get<T>();
    }
    nlohmann::json values_ = nlohmann::json::object();
    std::set<std::string> given_;
    std::map<std::string, std::vector<Values>> sections_;
    nlohmann::json undeclared_ = nlohmann::json::object();
};

class ConfigMap {
  public:
    // `where` starts every error message ("inputs.profile"); env_prefix names the variables
    // of top-level keys ("ENV_INPUT_PROFILE_"), empty for a sub-table.
    explicit ConfigMap(std::string where = {}, std::string env_prefix = {})
        : where_(std::move(where)), env_prefix_(std::move(env_prefix)) {}
    // The table of [[inputs.<name>]]: errors say "inputs.<name>", variables ENV_INPUT_<NAME>_<KEY>.
    static ConfigMap input(std::string_view name) {
        return ConfigMap("inputs." + std::string(name), env_prefix_of(name));
    }

    Key &boolean(std::string name, bool def, std::string doc) { return add(std::move(name), Type::Bool, def, doc); }
    Key &integer(std::string name, std::optional<int64_t> def, std::string doc) {
        return add(std::move(name), Type::Int, def ? nlohmann::json(*def) : nlohmann::json(), doc);
    }
    Key &number(std::string name, std::optional<double> def, std::string doc) {
        return add(std::move(name), Type::Double, def ? nlohmann::json(*def) : nlohmann::json(), doc);
    }
    Key &string(std::string name, std::optional<std::string> def, std::string doc) {
        return add(std::move(name), Type::String, def ? nlohmann::json(*def) : nlohmann::json(), doc);
    }
    // Default as text ("10s"); std::nullopt: no default.
    Key &duration(std::string name, std::optional<std::string> def, std::string doc) {
        return add(std::move(name), Type::Duration,
                   def ? nlohmann::json(int64_t(parse_duration(*def).count())) : nlohmann::json(), doc);
    }
    Key &string_list(std::string name, std::vector<std::string> def, std::string doc) {
        return add(std::move(name), Type::StringList, def, doc);
    }
    // A free-form table (any keys); string_values: every value is text ([inputs.x.tags]).
    Key &table(std::string name, bool string_values, std::string doc) {
        Key &k = add(std::move(name), Type::Table, nlohmann::json::object(), doc);
        k.string_values = string_values;
        return k;
    }
    // A table with its own declared keys: [inputs.x.<name>], or [[inputs.x.<name>]] when repeated.
    Key &section(std::string name, ConfigMap keys, bool repeated, std::string doc) {
        Key &k = add(std::move(name), Type::Section, nlohmann::json(), doc);
        k.repeated = repeated;
        k.keys = std::make_shared<const ConfigMap>(std::move(keys));
        return k;
    }

    const std::vector<Key> &keys() const { return keys_; }
    const std::string &where() const { return where_; }
    const Key *find(std::string_view name) const {
        for (auto &k : keys_)
            if (k.name == name) return &k;
        return nullptr;
    }

    // Parses the JSON text the host hands to create() ("" = an empty table).
    Values parse(std::string_view json_text) const {
        nlohmann::json j = json_text.empty() ? nlohmann::json::object()
                                             : nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) throw ConfigError(where_ + ": config is not a JSON object");
        return parse_object(j);
    }
    // The same for a table already parsed (a JSON object).
    Values parse_object(const nlohmann::json &table) const { return parse_table(table, ""); }

    // The declaration as JSON: {"section": "inputs.x", "keys": [{name, type, default, range,
    // choices, env, doc, ...}]}. What trib_module_t.config_table carries.
    nlohmann::json describe() const {
        nlohmann::json out = {{"section", where_}, {"keys", describe_keys()}};
        return out;
    }
    // describe() as static text for the module descriptor (computed once).
    const char *describe_c_str() const {
        if (described_.empty()) described_ = describe().dump();
        return described_.c_str();
    }

  private:
    Key &add(std::string name, Type type, nlohmann::json def, std::string &doc) {
        if (find(name)) throw std::logic_error("config key '" + name + "' declared twice");
        Key k;
        k.name = std::move(name);
        k.type = type;
        k.default_value = std::move(def);
        k.doc = std::move(doc);
        if (!env_prefix_.empty()) {
            k.env = env_prefix_;
            for (char c : k.name) k.env.push_back(c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c);
        }
        keys_.push_back(std::move(k));
        return keys_.back();
    }

    [[noreturn]] void fail(const std::string &path, const std::string &why) const {
        throw ConfigError((where_.empty() ? std::string() : where_ + ": ") + "key '" + path + "': " + why);
    }

    static std::string trim(std::string_view s) {
        size_t b = s.find_first_not_of(" \t\r\n");
        if (b == std::string_view::npos) return {};
        size_t e = s.find_last_not_of(" \t\r\n");
        return std::string(s.substr(b, e - b + 1));
    }
    static std::string number_text(double v) {
        if (std::floor(v) == v && std::fabs(v) < 9.0e15) return std::to_string(int64_t(v));
        nlohmann::json j = v;
        return j.dump();
    }
    static std::string range_text(const Key &k) {
        if (!k.min && !k.max) return {};
        auto shown = [&](double v) {
            return k.type == Type::Duration ? format_duration(std::chrono::milliseconds(int64_t(v))) : number_text(v);
        };
        if (k.min && k.max) return (k.min_exclusive ? "(" : "[") + shown(*k.min) + ", " + shown(*k.max) + "]";
        if (k.min) return (k.min_exclusive ? "> " : ">= ") + shown(*k.min);
        return "<= " + shown(*k.max);
    }

    nlohmann::json describe_keys() const {
        nlohmann::json arr = nlohmann::json::array();
        for (auto &k : keys_) {
            nlohmann::json d = {{"name", k.name}, {"type", type_name(k.type)}, {"doc", k.doc}};
            if (k.type == Type::Duration && k.default_value.is_number_integer())
                d["default"] = format_duration(std::chrono::milliseconds(k.default_value.get<int64_t>()));
            else if (!k.default_value.is_null()) d["default"] = k.default_value;
            std::string range = range_text(k);
            if (!range.empty()) d["range"] = range;
            if (!k.choices.empty()) d["choices"] = k.choices;
            if (!k.rule_doc.empty()) d["rule"] = k.rule_doc;
            if (!k.env.empty()) d["env"] = k.env;
            if (k.is_required) d["required"] = true;
            if (!k.aliases.empty()) d["aliases"] = k.aliases;
            if (k.type == Type::Table && k.string_values) d["values"] = "string";
            if (k.type == Type::Section) {
                d["repeated"] = k.repeated;
                d["keys"] = k.keys->describe_keys();
            }
            arr.push_back(std::move(d));
        }
        return arr;
    }

    // Text (from the environment) that should be JSON of the given kind.
    nlohmann::json json_text(const nlohmann::json &v, const std::string &path, const char *kind) const {
        nlohmann::json parsed = nlohmann::json::parse(v.get<std::string>(), nullptr, false);
        if (parsed.is_discarded()) fail(path, std::string("expected ") + kind + " (as JSON text), got " + v.dump());
        return parsed;
    }

    nlohmann::json coerce(const Key &k, const nlohmann::json &v, const std::string &path) const {
        switch (k.type) {
        case Type::Bool: {
            if (v.is_boolean()) return v;
            if (v.is_string())
                if (auto b = parse_bool(trim(v.get<std::string>()))) return *b;
            fail(path, "expected true or false (text: true/false/t/f/1/0), got " + v.dump());
        }
        case Type::Int: {
            if (v.is_number_integer()) return v.is_number_unsigned() ? nlohmann::json(v.get<uint64_t>()) : v;
            if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                std::fabs(v.get<double>()) < 9.0e15)
                return int64_t(v.get<double>());
            if (v.is_string()) {
                std::string t = trim(v.get<std::string>());
                try {
                    size_t used = 0;
                    long long n = std::stoll(t, &used);
                    if (used == t.size()) return int64_t(n);
                } catch (const std::exception &) {}
            }
            fail(path, "expected an integer, got " + v.dump());
        }
        case Type::Double: {
            if (v.is_number()) return v.get<double>();
            if (v.is_string()) {
                std::string t = trim(v.get<std::string>());
                try {
                    size_t used = 0;
                    double d = std::stod(t, &used);
                    if (used == t.size() && std::isfinite(d)) return d;
                } catch (const std::exception &) {}
            }
            fail(path, "expected a number, got " + v.dump());
        }
        case Type::String:
            if (v.is_string()) return v;
            fail(path, "expected a string, got " + v.dump());
        case Type::Duration: {
            if (v.is_number()) {
                double s = v.get<double>();
                if (!(s >= 0) || s > 9.0e12) fail(path, "expected a duration such as \"5s\", got " + v.dump());
                return int64_t(std::llround(s * 1000));
            }
            if (!v.is_string()) fail(path, "expected a duration such as \"5s\", got " + v.dump());
            try {
                return int64_t(parse_duration(trim(v.get<std::string>())).count());
            } catch (const std::invalid_argument &e) {
                fail(path, e.what());
            }
        }
        case Type::StringList: {
            nlohmann::json arr = v;
            if (v.is_string()) {
                std::string t = trim(v.get<std::string>());
                if (!t.empty() && t[0] == '[') arr = json_text(t, path, "a list");
                else {
                    arr = nlohmann::json::array();
                    size_t pos = 0;
                    while (pos <= t.size()) {
                        size_t comma = t.find(',', pos);
                        if (comma == std::string::npos) comma = t.size();
                        std::string item = trim(std::string_view(t).substr(pos, comma - pos));
                        if (!item.empty()) arr.push_back(item);
                        pos = comma + 1;
                    }
                }
            }
            if (!arr.is_array()) fail(path, "expected a list of strings, got " + v.dump());
            for (auto &e : arr)
                if (!e.is_string()) fail(path, "expected a list of strings, got " + v.dump());
            return arr;
        }
        case Type::Table: {
            nlohmann::json t = v.is_string() ? json_text(v, path, "a table") : v;
            if (!t.is_object()) fail(path, "expected a table, got " + v.dump());
            if (k.string_values)
                for (auto it = t.begin(); it != t.end(); ++it) {
                    if (it->is_string()) continue;
                    if (it->is_number() || it->is_boolean()) *it = it->dump();
                    else fail(path + "." + it.key(), "expected a string, got " + it->dump());
                }
            return t;
        }
        case Type::Section: break;
        }
        return v;
    }

    void check_limits(const Key &k, const nlohmann::json &v, const std::string &path) const {
        if ((k.min || k.max) && v.is_number()) {
            double d = v.get<double>();
            bool low = k.min && (k.min_exclusive ? !(d > *k.min) : !(d >= *k.min));
            bool high = k.max && !(d <= *k.max);
            if (low || high) {
                std::string shown = k.type == Type::Duration
                                        ? format_duration(std::chrono::milliseconds(v.get<int64_t>()))
                                        : number_text(d);
                fail(path, "must be " + range_words(k) + ", got " + shown);
            }
        }
        if (!k.choices.empty()) {
            auto allowed = [&](const std::string &s) {
                for (auto &c : k.choices)
                    if (c == s) return true;
                return false;
            };
            std::string list;
            for (auto &c : k.choices) list += (list.empty() ? "" : ", ") + c;
            if (v.is_string() && !allowed(v.get<std::string>()))
                fail(path, "unknown value '" + v.get<std::string>() + "' (one of: " + list + ")");
            if (v.is_array())
                for (auto &e : v)
                    if (!allowed(e.get<std::string>()))
                        fail(path, "unknown value '" + e.get<std::string>() + "' (one of: " + list + ")");
        }
        if (k.rule) {
            std::string why = k.rule(v);
            if (!why.empty()) fail(path, why);
        }
    }
    static std::string range_words(const Key &k) {
        auto shown = [&](double v) {
            return k.type == Type::Duration ? format_duration(std::chrono::milliseconds(int64_t(v))) : number_text(v);
        };
        if (k.min && k.max)
            return (k.min_exclusive ? "greater than " + shown(*k.min) + " and at most "
                                    : "from " + shown(*k.min) + " to ") +
                   shown(*k.max);
        if (k.min) return (k.min_exclusive ? "greater than " : "at least ") + shown(*k.min);
        return "at most " + shown(*k.max);
    }

    std::vector<nlohmann::json> section_tables(const Key &k, const nlohmann::json &v, const std::string &path) const {
        nlohmann::json t = v.is_string() ? json_text(v, path, "a table") : v;
        std::string shape = k.repeated ? "[[" + path + "]] tables" : "a table";
        if (t.is_object()) return {t};
        if (!k.repeated || !t.is_array()) fail(path, "expected " + shape + ", got " + v.dump());
        std::vector<nlohmann::json> out;
        for (auto &e : t) {
            if (!e.is_object()) fail(path, "expected " + shape + ", got " + v.dump());
            out.push_back(e);
        }
        return out;
    }

    Values parse_table(const nlohmann::json &table, const std::string &prefix) const {
        Values out;
        std::set<std::string> used;
        for (auto &k : keys_) {
            std::string path = prefix + k.name;
            const nlohmann::json *given = nullptr;
            if (auto it = table.find(k.name); it != table.end()) given = &*it;
            for (auto &a : k.aliases)
                if (!given)
                    if (auto it = table.find(a); it != table.end()) {
                        given = &*it;
                        path = prefix + a;
                    }
            used.insert(k.name);
            for (auto &a : k.aliases) used.insert(a);
            if (given && given->is_null()) given = nullptr;
            if (k.type == Type::Section) {
                std::vector<Values> parsed;
                if (given) {
                    out.given_.insert(k.name);
                    auto tables = section_tables(k, *given, path);
                    for (size_t i = 0; i < tables.size(); ++i)
                        parsed.push_back(k.keys->with_where(where_).parse_table(
                            tables[i], k.repeated ? path + "[" + std::to_string(i) + "]." : path + "."));
                } else if (k.is_required) {
                    fail(path, "required" + (k.required_hint.empty() ? std::string() : " (" + k.required_hint + ")"));
                } else if (!k.repeated) {
                    parsed.push_back(k.keys->with_where(where_).parse_table(nlohmann::json::object(), path + "."));
                }
                out.sections_[k.name] = std::move(parsed);
                out.values_[k.name] = given ? *given : nlohmann::json();
                continue;
            }
            if (!given) {
                if (k.is_required)
                    fail(path, "required" + (k.required_hint.empty() ? std::string() : " (" + k.required_hint + ")"));
                out.values_[k.name] = k.default_value;
                continue;
            }
            nlohmann::json v = coerce(k, *given, path);
            check_limits(k, v, path);
            out.values_[k.name] = std::move(v);
            out.given_.insert(k.name);
        }
        for (auto it = table.begin(); it != table.end(); ++it)
            if (!used.count(it.key())) out.undeclared_[it.key()] = *it;
        return out;
    }

    // A sub-table's keys report errors under the parent's name.
    ConfigMap with_where(const std::string &where) const {
        ConfigMap m = *this;
        m.where_ = where;
        return m;
    }

    std::string where_;
    std::string env_prefix_;
    std::vector<Key> keys_;
    mutable std::string described_;
};

} // namespace trib::config

#endif // TRIBUTARY_CONFIG_MAP_HPP
