// tributary: the collector host. See host.hpp for the run order and cli.cpp for flags.
#include "config/cli.hpp"
#include "config/config.hpp"
#include "config/install_paths.hpp"
#include "host/host.hpp"
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
