#include "cli.hpp"

#include "config/install_paths.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace trib::core {

CliOptions parse_cli(const std::vector<std::string> &args) {
    CliOptions o;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        std::optional<std::string> inline_value;
        if (arg.rfind("--", 0) == 0) {
            size_t eq = arg.find('=');
            if (eq != std::string::npos) {
                inline_value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
            }
        }
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) throw std::invalid_argument("flag " + arg + " needs a value");
            return args[++i];
        };
        auto no_value = [&] {
            if (inline_value) throw std::invalid_argument("flag " + arg + " takes no value");
        };
        if (arg == "--config") o.config_file = value();
        else if (arg == "--conf-d") o.conf_d = value();
        else if (arg == "--plugins-dir") o.plugins_dir = value();
        else if (arg == "--data-dir") o.data_dir = value();
        else if (arg == "--listen") o.listen = value();
        else if (arg == "--describe-config") o.describe_config = value();
        else if (arg == "--check-config") {
            no_value();
            o.check_config = true;
        } else if (arg == "--list-plugins") {
            no_value();
            o.list_plugins = true;
        } else if (arg == "--version") {
            no_value();
            o.version = true;
        } else if (arg == "--help" || arg == "-h") {
            no_value();
            o.help = true;
        } else throw std::invalid_argument("unknown flag " + args[i] + " (see --help)");
    }
    return o;
}

std::string cli_usage() {
    const DefaultPaths installed = installed_paths();
    return "usage: tributary [--config FILE] [--conf-d DIR] [--plugins-dir DIR] [--data-dir DIR]\n"
           "                 [--listen HOST:PORT] [--check-config] [--list-plugins] [--describe-config MODULE]\n"
           "                 [--version] [--help]\n"
           "\n"
           "  --config FILE       tributary.conf (inputs in conf.d/ beside it; installed default:\n"
           "                      " +
           installed.config_file +
           " when it exists)\n"
           "  --conf-d DIR        directory of [[inputs.<name>]] *.conf files (recursive)\n"
           "  --plugins-dir DIR   where modules (*.so) are loaded from (default: ../plugins beside the binary\n"
           "                      in a build tree, else " +
           installed.plugins_dir +
           ")\n"
           "  --data-dir DIR      file sink output, spools and module state (default: ./data in a build tree,\n"
           "                      else " +
           installed.data_dir +
           ")\n"
           "  --listen HOST:PORT  shared HTTP listener (default 0.0.0.0:9529)\n"
           "  --check-config      validate the configuration and exit (1 with every error)\n"
           "  --list-plugins      print name, version, kind, ABI version and file of every module\n"
           "  --describe-config MODULE\n"
           "                      print the config keys MODULE declares: name, type, default, range, env, doc\n"
           "  --version           print the version\n"
           "\n"
           "Environment: ENV_HTTP_LISTEN, ENV_GLOBAL_HOST_TAGS=k=v,k2=v2, ENV_DEFAULT_ENABLED_INPUTS=a,b,\n"
           "ENV_INPUT_<NAME>_<FIELD>, ENV_ENABLE_ELECTION, ENV_NAMESPACE, TRIBUTARY_LOG_LEVEL.\n";
}

namespace {

using nlohmann::json;
using Row = std::array<std::string, 6>; // key, type, default, range, env, doc

std::string shown_default(const json &k) {
    if (!k.contains("default")) return k.value("required", false) ? "(required)" : "-";
    const json &d = k["default"];
    if (d.is_string()) return d.get<std::string>().empty() ? "\"\"" : "\"" + d.get<std::string>() + "\"";
    return d.dump();
}

std::string shown_range(const json &k) {
    std::string out = k.value("range", std::string());
    auto add = [&](const std::string &part) { out += (out.empty() ? "" : "; ") + part; };
    if (k.contains("choices") && k["choices"].is_array()) {
        std::string list;
        for (auto &c : k["choices"]) list += (list.empty() ? "" : ", ") + c.get<std::string>();
        add("one of: " + list);
    }
    if (k.contains("rule")) add(k["rule"].get<std::string>());
    if (k.contains("aliases") && k["aliases"].is_array())
        for (auto &a : k["aliases"]) add("alias " + a.get<std::string>());
    return out.empty() ? "-" : out;
}

void collect_rows(const json &keys, const std::string &prefix, std::vector<Row> &rows) {
    if (!keys.is_array()) throw std::invalid_argument("config table: 'keys' is not a list");
    for (auto &k : keys) {
        if (!k.is_object() || !k.contains("name") || !k["name"].is_string())
            throw std::invalid_argument("config table: a key without a name");
        std::string name = prefix + k["name"].get<std::string>();
        std::string type = k.value("type", std::string("?"));
        bool section = type == "section";
        if (section) type = k.value("repeated", false) ? "[[table]]" : "[table]";
        else if (type == "table" && k.value("values", std::string()) == "string") type = "table of strings";
        rows.push_back(Row{name, type, section ? "-" : shown_default(k), shown_range(k),
                           k.value("env", std::string("-")), k.value("doc", std::string())});
        if (section && k.contains("keys"))
            collect_rows(k["keys"], name + (k.value("repeated", false) ? "[]." : "."), rows);
    }
}

} // namespace

std::string describe_config_text(const std::string &module, const std::string &config_table_json) {
    json table = json::parse(config_table_json, nullptr, false);
    if (table.is_discarded() || !table.is_object())
        throw std::invalid_argument("module " + module + ": its config table is not a JSON object");
    std::vector<Row> rows{Row{"KEY", "TYPE", "DEFAULT", "RANGE", "ENV", "DOC"}};
    collect_rows(table.value("keys", json::array()), "", rows);
    std::array<size_t, 5> width{};
    for (auto &r : rows)
        for (size_t i = 0; i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
    std::string out = "[[" + table.value("section", "inputs." + module) + "]] keys of module " + module + "\n";
    for (auto &r : rows) {
        std::string line;
        for (size_t i = 0; i < width.size(); ++i) line += r[i] + std::string(width[i] - r[i].size() + 2, ' ');
        out += line + r[5] + "\n";
    }
    return out;
}

} // namespace trib::core
