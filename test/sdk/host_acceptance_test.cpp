// Issue 2 acceptance, run against the real host binary: the SDK examples and the two ABI
// test modules, built out of tree against the installed SDK (fixture
// sdk.out_of_tree_build), are dropped into one plugins dir next to the in-tree profile,
// pyroscope and pinpoint modules, and the unchanged host loads them.
#include <catch2/catch.hpp>

#include <trib_test/support.hpp>
#include <tributary/plugin.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace trib::test;

namespace {

const std::vector<std::string> kOutOfTreeModules = {"example_input", "example_sink", "abi_old_minor",
                                                    "abi_wrong_major"};
const std::vector<std::string> kInTreeModules = {"profile", "pyroscope", "pinpoint"};

std::string machine_hostname() {
    char buf[256] = {0};
    REQUIRE(gethostname(buf, sizeof buf - 1) == 0);
    return buf;
}

std::vector<nlohmann::json> json_lines(const std::string &path, const std::string &measurement) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded()) FAIL("example_sink wrote a line that is not JSON: " << line);
        if (j.value("measurement", "") == measurement) out.push_back(std::move(j));
    }
    return out;
}

// Every module .so the test loads: out-of-tree ones always, in-tree ones when built.
struct PluginsDir {
    TempDir dir{"trib-sdk-plugins"};
    std::vector<std::string> in_tree_present;
    PluginsDir() {
        for (auto &m : kOutOfTreeModules) {
            std::string src = std::string(TRIB_SDK_EXT_PLUGINS_DIR) + "/" + m + ".so";
            REQUIRE(fs::exists(src));
            fs::create_symlink(src, dir.sub(m + ".so"));
        }
        for (auto &m : kInTreeModules) {
            std::string src = std::string(TRIB_BUILD_DIR) + "/plugins/" + m + ".so";
            if (!fs::exists(src)) continue;
            fs::create_symlink(src, dir.sub(m + ".so"));
            in_tree_present.push_back(m);
        }
    }
};

} // namespace

TEST_CASE("out-of-tree SDK modules run in the real host next to the built-in inputs", "[sdk][host]") {
    PluginsDir plugins;
    TempDir scratch("trib-sdk-host");
    const std::string json_path = scratch.sub("json/points.jsonl");
    const std::string wrong_major_marker = scratch.sub("wrong_major_called");

    HostOptions opts;
    opts.plugins_dir = plugins.dir.path();
    // With [[sinks]] present the default file sink must be listed explicitly.
    opts.config_text = "[[sinks]]\n"
                       "  name = \"files\"\n"
                       "  type = \"file\"\n"
                       "\n"
                       "[[sinks]]\n"
                       "  name = \"json_lines\"\n"
                       "  type = \"example_sink\"\n"
                       "  path = \"" +
                       json_path + "\"\n";
    opts.conf_d["example_input/example_input.conf"] = "[[inputs.example_input]]\n"
                                                      "  interval_ms = 100\n"
                                                      "  route = \"/example/echo\"\n"
                                                      "  [inputs.example_input.tags]\n"
                                                      "    owner = \"sdk-test\"\n"
                                                      "\n"
                                                      "[[inputs.example_input]]\n"
                                                      "  interval_ms = 100\n"
                                                      "  route = \"/example/echo2\"\n"
                                                      "  [inputs.example_input.tags]\n"
                                                      "    owner = \"second\"\n";
    opts.conf_d["abi_old_minor/abi_old_minor.conf"] = "[[inputs.abi_old_minor]]\n"
                                                      "  interval_ms = 100\n"
                                                      "  [inputs.abi_old_minor.tags]\n"
                                                      "    generation = \"old\"\n";
    for (auto &m : plugins.in_tree_present) {
        if (m == "pinpoint")
            opts.conf_d["pinpoint/pinpoint.conf"] =
                "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(free_port()) + "\"\n";
        else opts.conf_d[m + "/" + m + ".conf"] = "[[inputs." + m + "]]\n";
    }
    opts.env["ENV_GLOBAL_HOST_TAGS"] = "team=sdk,region=test-1";
    opts.env["TRIB_WRONG_MAJOR_MARKER"] = wrong_major_marker;

    HostProcess host(opts);
    // Waits for pred; on timeout fails with what was awaited and the host's log so far.
    auto eventually = [&](const char *what, std::function<bool()> pred, std::chrono::milliseconds timeout) {
        if (!wait_until(std::move(pred), timeout))
            FAIL("timed out waiting for " << what << "\nhost log:\n" << host.log());
    };

    // /health: ready.
    auto health = http("GET", host.url("/health"));
    INFO("GET /health: " << health.status << " " << health.body);
    REQUIRE(health.status == 200);
    auto hj = nlohmann::json::parse(health.body, nullptr, false);
    REQUIRE_FALSE(hj.is_discarded());
    CHECK(hj.value("ready", false) == true);

    // The wrong-major module: one log line naming its file and the reason; none of its
    // code but the probe ran.
    {
        std::string log = host.log();
        std::istringstream lines(log);
        std::string line, refusal;
        while (std::getline(lines, line))
            if (line.find("abi_wrong_major.so") != std::string::npos) refusal = line;
        INFO("host log:\n" << log);
        REQUIRE_FALSE(refusal.empty());
        CHECK(std::regex_search(refusal, std::regex("ABI|abi")));
        CHECK(std::regex_search(refusal, std::regex(R"(major\D*2)")));
        CHECK_FALSE(fs::exists(wrong_major_marker));
    }

    // Timer points from both example_input instances and from the minor-0 module reach
    // the file sink.
    const std::string hostname = machine_hostname();
    auto file_points = [&](const std::string &m) { return host.points("metric", m); };
    eventually(
        "timer points of both example_input instances and abi_old_minor in the file sink",
        [&] {
            auto pts = file_points("example_input");
            bool first = false, second = false;
            for (auto &p : pts) {
                first |= p.tag("owner") == "sdk-test";
                second |= p.tag("owner") == "second";
            }
            return first && second && !file_points("abi_old_minor").empty();
        },
        15000ms);

    for (auto &p : file_points("example_input")) {
        CHECK(p.tag("team") == "sdk");
        CHECK(p.tag("region") == "test-1");
        CHECK(p.tag("host") == hostname);
        CHECK((p.tag("owner") == "sdk-test" || p.tag("owner") == "second"));
        CHECK(p.field_uint("tick") >= 1);
        CHECK(p.field_int("interval_ms") == 100);
        CHECK(p.field_bool("leader") == true);
    }
    {
        auto old = file_points("abi_old_minor");
        REQUIRE_FALSE(old.empty());
        CHECK(old[0].tag("built_abi") == "1.0");
        CHECK(old[0].tag("generation") == "old");
        CHECK(old[0].tag("team") == "sdk");
        CHECK(old[0].tag("host") == hostname);
        // It ran with its 1.0 descriptor inside a host that hands out the current table.
        CHECK(old[0].field_uint("host_abi_minor") == TRIB_ABI_MINOR_CURRENT);
        CHECK(old[0].field_uint("host_api_struct_size") == sizeof(trib_host_api_t));
        CHECK(old[0].field_uint("module_struct_size") < sizeof(trib_module_t));
    }

    // The same points reach the example sink's JSON file, with the same tags.
    eventually(
        "example_input points in the example sink's file",
        [&] { return !json_lines(json_path, "example_input").empty(); }, 10000ms);
    for (auto &j : json_lines(json_path, "example_input")) {
        CHECK(j["category"] == "metric");
        CHECK(j["tags"]["team"] == "sdk");
        CHECK(j["tags"]["region"] == "test-1");
        CHECK(j["tags"]["host"] == hostname);
        CHECK((j["tags"]["owner"] == "sdk-test" || j["tags"]["owner"] == "second"));
        CHECK(j["fields"]["tick"].get<uint64_t>() >= 1);
    }

    // The echo route on the shared listener: 200 once emitted; the point reaches both sinks.
    auto echo = http("POST", host.url("/example/echo?case=acceptance"), "hello from the test", "text/plain");
    CHECK(echo.status == 200);
    auto echo2 = http("POST", host.url("/example/echo2?case=acceptance2"), "second instance", "text/plain");
    CHECK(echo2.status == 200);
    eventually(
        "both echo points in both sinks",
        [&] {
            return host.points("metric", "example_echo").size() >= 2 &&
                   json_lines(json_path, "example_echo").size() >= 2;
        },
        10000ms);
    for (auto &p : host.points("metric", "example_echo")) {
        if (p.tag("case") == "acceptance") {
            CHECK(p.field_str("message") == "hello from the test");
            CHECK(p.tag("owner") == "sdk-test");
        } else {
            CHECK(p.tag("case") == "acceptance2");
            CHECK(p.field_str("message") == "second instance");
            CHECK(p.tag("owner") == "second");
        }
        CHECK(p.tag("team") == "sdk");
        CHECK(p.tag("host") == hostname);
    }
    for (auto &j : json_lines(json_path, "example_echo")) CHECK(j["tags"]["team"] == "sdk");

    // Over the route's body limit (max_body_bytes, 64 KiB by default): 413 from the host,
    // before the module. The host answers without reading the rest of the body and closes;
    // curl, like real agents, reads that early answer, where a client that insists on
    // sending the whole body first may only see the reset.
    {
        const std::string big = scratch.sub("big.txt");
        write_file(big, std::string(70 * 1024, 'x'));
        ChildProcess curl({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: text/plain",
                           "--data-binary", "@" + big, host.url("/example/echo")});
        auto rc = curl.wait(20000ms);
        INFO("curl: " << curl.log());
        REQUIRE(rc.has_value());
        CHECK(curl.log().find("413") == 0);
        CHECK(host.points("metric", "example_echo").size() == 2);
    }

    // /metrics names every module that loaded.
    auto metrics = http("GET", host.url("/metrics"));
    REQUIRE(metrics.status == 200);
    std::vector<std::string> loaded = {"example_input", "example_sink", "abi_old_minor"};
    for (auto &m : plugins.in_tree_present) loaded.push_back(m);
    for (auto &m : loaded) {
        INFO("module " << m << " in /metrics:\n" << metrics.body);
        CHECK(metrics.body.find("\"" + m + "\"") != std::string::npos);
    }

    // SIGTERM drains: afterwards every timer point is in both sinks.
    REQUIRE(host.stop(SIGTERM) == 0);
    size_t in_file = file_points("example_input").size();
    size_t in_json = json_lines(json_path, "example_input").size();
    CHECK(in_file > 0);
    CHECK(in_file == in_json);
    CHECK_FALSE(fs::exists(wrong_major_marker));
}

TEST_CASE("--list-plugins shows the out-of-tree modules with their ABI versions", "[sdk][host]") {
    PluginsDir plugins;
    ChildProcess list(
        {std::string(TRIB_BUILD_DIR) + "/bin/tributary", "--list-plugins", "--plugins-dir", plugins.dir.path()});
    auto rc = list.wait(30000ms);
    REQUIRE(rc.has_value());
    std::string out = list.log();
    INFO(out);
    // Issue 2: name, version, kind, ABI version and file, in that order.
    // The examples are built against the current SDK, so they report its minor.
    const std::string current_abi = "1\\." + std::to_string(TRIB_ABI_MINOR_CURRENT);
    CHECK(std::regex_search(
        out, std::regex(R"(example_input\s+1\.0\.0\s+input\s+)" + current_abi + R"(\s+\S*example_input\.so)")));
    CHECK(std::regex_search(
        out, std::regex(R"(example_sink\s+1\.0\.0\s+sink\s+)" + current_abi + R"(\s+\S*example_sink\.so)")));
    CHECK(std::regex_search(out, std::regex(R"(abi_old_minor\s+1\.0\.0\s+input\s+1\.0\s+\S*abi_old_minor\.so)")));
    // The wrong-major module is named with its reason rather than silently skipped.
    CHECK(std::regex_search(out, std::regex(R"(abi_wrong_major\.so.*major 2)")));
}
