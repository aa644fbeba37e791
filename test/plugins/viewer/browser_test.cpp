// The viewer in headless Chromium (Debian's chromium driven by puppeteer-core) on a host
// that received uploads from the real dd-trace and @pyroscope/nodejs agents and spans
// from pinpoint-node-agent. The steps and checks are in browser_test.js; screenshots go
// to <build>/test/plugins/viewer/screenshots/.
#include "viewer_test_util.hpp"

#include <filesystem>

using namespace viewer_test;

TEST_CASE("the viewer's pages in headless Chromium over data from three real agents", "[viewer][browser]") {
    const std::string node_path = std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules";
    int pinpoint_port = tt::free_port();
    auto o = host_options();
    o.conf_d["pyroscope/pyroscope.conf"] = "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n";
    o.conf_d["pinpoint/pinpoint.conf"] =
        "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pinpoint_port) + "\"\n";
    tt::HostProcess host(o);
    std::string base = host.url("/");
    base.pop_back();

    // dd-trace's profiler in the profile tests' app (a CPU-bound `work`), ending by itself.
    tt::ChildProcess dd({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"},
                        {{"NODE_PATH", node_path},
                         {"DD_PROFILING_ENABLED", "true"},
                         {"DD_TRACE_AGENT_URL", base},
                         {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                         {"DD_SERVICE", "viewer-dd"},
                         {"DD_ENV", "browser"},
                         {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                         {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                         {"APP_SECONDS", "6"}});
    // Pinpoint spans and Pyroscope profiles from one app, under one service name.
    int app_port = tt::free_port();
    std::string pp = std::to_string(pinpoint_port);
    tt::ChildProcess shop({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/viewer/apps/shop.js"},
                          {{"NODE_PATH", node_path},
                           {"APP_PORT", std::to_string(app_port)},
                           {"SERVICE", "viewer-shop"},
                           {"PYRO_URL", base},
                           {"PINPOINT_COLLECTOR_IP", "127.0.0.1"},
                           {"PINPOINT_COLLECTOR_TCP_PORT", pp},
                           {"PINPOINT_COLLECTOR_STAT_PORT", pp},
                           {"PINPOINT_COLLECTOR_SPAN_PORT", pp},
                           {"PINPOINT_AGENT_ID", "viewer-shop-1"},
                           {"PINPOINT_APPLICATION_NAME", "viewer-shop"},
                           {"PINPOINT_SAMPLING_RATE", "1"}});
    std::string app_url = "http://127.0.0.1:" + std::to_string(app_port);
    REQUIRE(tt::wait_until([&] { return tt::http("GET", app_url + "/down").status == 200; }, 30s, 200ms));
    for (int i = 0; i < 3; ++i) REQUIRE(tt::http("GET", app_url + "/up").body == "up");

    auto has = [&](const std::string &query, const char *list) {
        auto a = get_json(host, query);
        return a.status == 200 && !a.body[list].empty();
    };
    bool ready = tt::wait_until(
        [&] {
            return has("/api/v1/profiles?service=viewer-dd&from=now-10m", "profiles") &&
                   has("/api/v1/profiles?service=viewer-shop&from=now-10m", "profiles") &&
                   has("/api/v1/traces?service=viewer-shop&resource=/up&from=now-10m", "traces");
        },
        40s, 500ms);
    INFO("host log:\n" << host.log() << "\ndd-trace app:\n" << dd.log() << "\nshop app:\n" << shop.log());
    REQUIRE(ready);

    std::string shots = std::string(TRIB_BUILD_DIR) + "/test/plugins/viewer/screenshots";
    std::filesystem::remove_all(shots);
    std::filesystem::create_directories(shots);
    tt::ChildProcess browser({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/viewer/browser_test.js", base, shots},
                             {{"NODE_PATH", node_path}});
    auto rc = browser.wait(120s);
    INFO("browser test:\n" << browser.log());
    CHECK(rc == 0);
    for (const char *name : {"1-flamegraph", "2-zoomed", "3-search", "4-diff", "6-waterfall", "7-span-profiles"})
        CHECK(tt::file_exists(shots + "/" + name + ".png"));
    shop.stop();
}
