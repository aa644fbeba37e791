#include "cli.hpp"

#include "config/install_paths.hpp"

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
           "                 [--listen HOST:PORT] [--check-config] [--list-plugins] [--version] [--help]\n"
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
           "  --version           print the version\n"
           "\n"
           "Environment: ENV_HTTP_LISTEN, ENV_GLOBAL_HOST_TAGS=k=v,k2=v2, ENV_DEFAULT_ENABLED_INPUTS=a,b,\n"
           "ENV_INPUT_<NAME>_<FIELD>, ENV_ENABLE_ELECTION, ENV_NAMESPACE, TRIBUTARY_LOG_LEVEL.\n";
}

} // namespace trib::core
