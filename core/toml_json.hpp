// TOML (cpptoml) to JSON, the form module configs cross the ABI in.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace cpptoml {
class table;
class base;
}

namespace trib::core {

// Integers stay integers, floats floats, dates and times become their TOML text.
nlohmann::json toml_to_json(const std::shared_ptr<cpptoml::base> &value);
nlohmann::json toml_table_to_json(const std::shared_ptr<cpptoml::table> &table);

// Parses a TOML file / text; throws std::runtime_error "<where>: TOML syntax error: ...".
std::shared_ptr<cpptoml::table> parse_toml_file(const std::string &path);
std::shared_ptr<cpptoml::table> parse_toml_text(const std::string &text, const std::string &where);

// "a table", "a string", ... for messages.
std::string json_type_name(const nlohmann::json &v);

} // namespace trib::core
