// tributary: the collector host. See host.hpp for the run order and cli.cpp for flags.
#include "config/cli.hpp"
#include "config/config.hpp"
#include "config/install_paths.hpp"
#include "host/host.hpp"
#include "host/loader.hpp"
#include "host/log.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

int main(int argc, char **argv) {
    // SIGTERM/SIGINT (stop) and SIGHUP (reload) are taken synchronously by the control
    // thread (sigtimedwait); block them before any thread starts so no other thread receives them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    // glibc gives each busy thread its own malloc arena; with one HTTP thread per
    // connection that made RSS grow far past the bus ceiling under overload (bench/).
    // Two arenas keep it flat; MALLOC_ARENA_MAX in the environment still wins.
    if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);

    // Every open connection is a descriptor ([http] max_connections, 1024 by default, plus
    // the modules' own listeners); the usual soft limit of 1024 would refuse clients first.
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    trib::core::CliOptions cli;
    try {
        cli = trib::core::parse_cli(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "tributary: %s\n%s", e.what(), trib::core::cli_usage().c_str());
        return 2;
    }
    if (cli.help) {
        std::fputs(trib::core::cli_usage().c_str(), stdout);
        return 0;
    }
    if (cli.version) {
        std::printf("tributary %s (module ABI %d.%d)\n", trib::core::host_version(), TRIB_ABI_MAJOR,
                    TRIB_ABI_MINOR_CURRENT);
        return 0;
    }
    // Installed, the host reads /etc/tributary/tributary.conf (and conf.d/ beside it) when
    // no --config is given; a build tree keeps running without a config file.
    const auto &defaults = trib::core::default_paths();
    std::error_code ec;
    if (!cli.config_file && !defaults.config_file.empty() && std::filesystem::exists(defaults.config_file, ec))
        cli.config_file = defaults.config_file;
    if (cli.describe_config) {
        std::vector<std::string> ignored; // only the plugins dir matters here
        auto cfg = trib::core::load_host_config(cli, trib::core::current_env(), defaults.plugins_dir, ignored);
        auto loaded = trib::core::load_modules(cfg.plugins_dir);
        // An input and a sink may share a name (pyroscope): every one that declares a table is printed.
        std::string names, without_table;
        int printed = 0;
        for (auto &m : loaded.modules) {
            names += (names.empty() ? "" : ", ") + m.name;
            if (m.name != *cli.describe_config) continue;
            if (m.config_table.empty()) {
                without_table += (without_table.empty() ? "" : ", ") + m.file;
                continue;
            }
            try {
                std::fputs(((printed++ ? "\n" : "") + trib::core::describe_config_text(m.name, m.config_table)).c_str(),
                           stdout);
            } catch (const std::exception &e) {
                std::fprintf(stderr, "tributary: %s: %s\n", m.file.c_str(), e.what());
                return 1;
            }
        }
        if (printed) return 0;
        if (!without_table.empty())
            std::fprintf(stderr,
                         "tributary: module %s (%s) declares no config table (built before module ABI 1.4 or "
                         "without tributary/config_map.hpp)\n",
                         cli.describe_config->c_str(), without_table.c_str());
        else
            std::fprintf(stderr, "tributary: no module named '%s' in %s (loaded: %s)\n", cli.describe_config->c_str(),
                         cfg.plugins_dir.c_str(), names.empty() ? "none" : names.c_str());
        return 1;
    }
    int code = 1;
    auto *app = new trib::core::HostApp(cli, trib::core::current_env(), defaults.plugins_dir);
    try {
        code = app->run();
    } catch (const std::exception &e) {
        trib::core::log_error("host", std::string("fatal: ") + e.what());
        std::fflush(nullptr);
        _exit(1);
    }
    if (!app->drained_cleanly()) {
        // A sink is stuck in write(): unwinding would wait for it forever.
        std::fflush(nullptr);
        _exit(code ? code : 1);
    }
    delete app;
    // Everything is drained and flushed. Skip static destructors: Poco's connection pool
    // would wait out idle keep-alive connections before the process could exit.
    std::fflush(nullptr);
    _exit(code);
}
