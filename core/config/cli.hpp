// Command-line flags. Flags beat environment variables, which beat files.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace trib::core {

struct CliOptions {
    std::optional<std::string> config_file;
    std::optional<std::string> conf_d;
    std::optional<std::string> plugins_dir;
    std::optional<std::string> data_dir;
    std::optional<std::string> listen;
    std::optional<std::string> describe_config; // --describe-config MODULE
    bool check_config = false;
    bool list_plugins = false;
    bool version = false;
    bool help = false;
};

// Throws std::invalid_argument naming the flag on an unknown flag or a missing value.
// Accepts "--flag value" and "--flag=value".
CliOptions parse_cli(const std::vector<std::string> &args);
std::string cli_usage();

// The text `--describe-config <module>` prints: one row per declared key (name, type,
// default, range, env, doc) from the module's config table (JSON, trib_module_t.config_table).
// Throws std::invalid_argument when the table is not the JSON config_map.hpp writes.
std::string describe_config_text(const std::string &module, const std::string &config_table_json);

} // namespace trib::core
