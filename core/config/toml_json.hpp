// TOML (cpptoml) to JSON, the form module configs cross the ABI in.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>

#include <memory>
#include <cstdint>
#include <string>
#include <string_view>

namespace cpptoml {
class table;
class base;
} // namespace cpptoml

namespace trib::core {

// Integers stay integers, floats floats, dates and times become their TOML text.
nlohmann::json toml_to_json(const std::shared_ptr<cpptoml::base> &value);
nlohmann::json toml_table_to_json(const std::shared_ptr<cpptoml::table> &table);

// Config text is nested at most this deep (arrays, inline tables, dotted table names; JSON
// values from the environment): cpptoml, the TOML->JSON conversion and nlohmann's dump all
// recurse, and a file nested 30,000 deep would overflow the stack.
constexpr size_t kMaxConfigDepth = 64;
// A config file larger than this is refused before it is parsed.
constexpr uint64_t kMaxConfigFileBytes = 4ull << 20;

// Parses a TOML file / text; throws std::runtime_error "<where>: TOML syntax error: ...",
// "<where>: line N: nested deeper than 64 levels ..." or "<path>: file larger than ...".
std::shared_ptr<cpptoml::table> parse_toml_file(const std::string &path);
std::shared_ptr<cpptoml::table> parse_toml_text(const std::string &text, const std::string &where);

// Throws std::runtime_error naming `where` and the line when TOML text nests deeper than
// kMaxConfigDepth. A linear scan that does not recurse, run before cpptoml sees the text.
void check_toml_depth(std::string_view text, const std::string &where);

// nlohmann's parse with nesting bounded (its dump and older destructors recurse): for
// every JSON the host reads from outside (env values, client events a sink rewrites, server
// answers). Throws std::invalid_argument (the nesting) or nlohmann's parse_error (syntax).
template <class Json = nlohmann::json>
Json parse_json_bounded(std::string_view text, size_t max_depth = kMaxConfigDepth) {
    return Json::parse(text, [max_depth](int depth, typename Json::parse_event_t, Json &) {
        // nlohmann counts from 0: the outermost value is depth 0.
        if (depth >= static_cast<int>(max_depth))
            throw std::invalid_argument("JSON nested deeper than " + std::to_string(max_depth) + " levels");
        return true;
    });
}

// "a table", "a string", ... for messages.
std::string json_type_name(const nlohmann::json &v);

} // namespace trib::core
