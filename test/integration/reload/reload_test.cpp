// Hot reload in a real host process: conf.d changes three times (an input added, its tag
// changed, then removed) while a client keeps uploading a recorded dd-trace profile to an
// input that does not change; a broken config is refused whole; SIGHUP and POST /-/reload
// both reload; the counters show on /metrics.
#include <trib_test/support.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <regex>
#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

const std::string kFix = TRIB_FIXTURES_DIR;

// The recorded dd-trace-js upload: its body and the Content-Type it was sent with.
struct RecordedUpload {
    std::string body, content_type;
};
RecordedUpload recorded_ddtrace_upload() {
    auto req = nlohmann::json::parse(tt::read_file(kFix + "/ddtrace-nodejs/profiling-input.request.json"));
    RecordedUpload u;
    u.body = tt::read_file(kFix + "/ddtrace-nodejs/profiling-input.body.multipart");
    for (auto &h : req["headers"])
        if (h[0].get<std::string>() == "Content-Type") u.content_type = h[1].get<std::string>();
    return u;
}

// The value of an unlabelled sample on /metrics, -1 when absent.
double metric(const tt::HostProcess &host, const std::string &name) {
    auto r = tt::http("GET", host.url("/metrics"));
    std::smatch m;
    if (!std::regex_search(r.body, m, std::regex("\n" + name + " ([0-9.e+]+)\n"))) return -1;
    return std::stod(m[1]);
}

const char *kProfileConf =
    "[[inputs.profile]]\nendpoints = [\"/profiling/v1/input\"]\n[inputs.profile.tags]\nsrc = \"ddtrace\"\n";

std::string pyroscope_conf(const std::string &stage) {
    return "[[inputs.pyroscope]]\nendpoints = [\"/ingest\"]\n[inputs.pyroscope.tags]\nstage = \"" + stage + "\"\n";
}

// A Pyroscope push of the recorded Node wall profile.
tt::HttpResult pyroscope_push(const tt::HostProcess &host) {
    static const std::string pprof = tt::read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    return tt::http("POST", host.url("/ingest?name=reload.app%7B%7D&spyName=nodespy&format=pprof"), pprof,
                    "application/octet-stream");
}

size_t points_with_tag(const tt::HostProcess &host, const std::string &key, const std::string &value) {
    size_t n = 0;
    for (auto &p : host.points("profiling", "profile")) n += p.tag(key) == value;
    return n;
}

} // namespace

TEST_CASE("conf.d changes three times under load: unchanged input never fails, nothing acknowledged is lost",
          "[reload]") {
    tt::HostOptions o;
    o.conf_d = {{"profile.conf", kProfileConf}};
    tt::HostProcess host(o);
    const std::string conf_d = host.config_dir() + "/conf.d";
    CHECK(pyroscope_push(host).status == 404);

    // A client that keeps uploading to the input no reload touches.
    const RecordedUpload upload = recorded_ddtrace_upload();
    std::atomic<bool> stop{false};
    std::atomic<int> accepted{0}, failed{0};
    std::string first_failure;
    std::thread client([&] {
        while (!stop) {
            auto r = tt::http("POST", host.url("/profiling/v1/input"), upload.body, upload.content_type, {}, 30000);
            if (r.status >= 200 && r.status < 300) accepted++;
            else if (failed++ == 0) first_failure = std::to_string(r.status) + ": " + r.body;
        }
    });
    REQUIRE(tt::wait_until([&] { return accepted > 3; }, 20s));

    // 1. An input added, by SIGHUP.
    tt::write_file(conf_d + "/pyroscope.conf", pyroscope_conf("one"));
    ::kill(host.pid(), SIGHUP);
    CHECK(tt::wait_until([&] { return metric(host, "tributary_config_reload_total") == 1; }, 20s));
    auto pushed = pyroscope_push(host);
    INFO(pushed.body);
    CHECK(pushed.status == 200);

    // 2. Its tag changed, by POST /-/reload: the instance restarts with the new tag.
    tt::write_file(conf_d + "/pyroscope.conf", pyroscope_conf("two"));
    auto reload = tt::http("POST", host.url("/-/reload"), "", "", {}, 60000);
    INFO(reload.body);
    REQUIRE(reload.status == 200);
    auto answer = nlohmann::json::parse(reload.body);
    CHECK(answer["status"] == "applied");
    CHECK(answer["restarted"] == nlohmann::json::array({"pyroscope/0"}));
    CHECK(answer["unchanged"] == 1);
    CHECK(pyroscope_push(host).status == 200);
    CHECK(tt::wait_until([&] { return points_with_tag(host, "stage", "two") >= 1; }, 15s));
    CHECK(points_with_tag(host, "stage", "one") == 1);

    // 3. Removed: its route answers 404 again.
    std::filesystem::remove(conf_d + "/pyroscope.conf");
    reload = tt::http("POST", host.url("/-/reload"), "", "", {}, 60000);
    CHECK(reload.status == 200);
    CHECK(nlohmann::json::parse(reload.body)["removed"] == nlohmann::json::array({"pyroscope/0"}));
    CHECK(pyroscope_push(host).status == 404);

    // A broken config is refused whole, with the file and key named; the old one serves on.
    tt::write_file(conf_d + "/broken.conf", "[[inputs.no_such_input]]\n");
    tt::write_file(conf_d + "/pyroscope.conf", pyroscope_conf("three"));
    reload = tt::http("POST", host.url("/-/reload"), "", "", {}, 60000);
    INFO(reload.body);
    CHECK(reload.status == 400);
    CHECK(reload.body.find("broken.conf") != std::string::npos);
    CHECK(reload.body.find("no_such_input") != std::string::npos);
    CHECK(pyroscope_push(host).status == 404); // the valid part of the refused config was not applied
    CHECK(host.log().find("configuration refused") != std::string::npos);
    CHECK(tt::http("GET", host.url("/-/reload")).status == 405);

    REQUIRE(tt::wait_until([&, before = accepted.load()] { return accepted > before + 3; }, 20s));
    stop = true;
    client.join();
    INFO(first_failure);
    CHECK(failed == 0);
    CHECK(metric(host, "tributary_config_reload_total") == 4);
    CHECK(metric(host, "tributary_config_reload_failures_total") == 1);
    CHECK(metric(host, "tributary_config_last_reload_successful") == 0);
    CHECK(tt::http("GET", host.url("/health")).status == 200);

    // Every acknowledged upload is stored once, after the drain at exit as before it.
    CHECK(host.stop() == 0);
    INFO("accepted " << accepted.load());
    CHECK(points_with_tag(host, "src", "ddtrace") == size_t(accepted.load()));
}

TEST_CASE("a reload applies nothing of [[sinks]] or [http] and says a restart is needed", "[reload]") {
    tt::HostOptions o;
    o.config_text = "[[sinks]]\ntype = \"file\"\n";
    o.conf_d = {{"profile.conf", kProfileConf}};
    tt::HostProcess host(o);
    tt::write_file(host.config_dir() + "/tributary.conf",
                   "[[sinks]]\ntype = \"file\"\ncategories = [\"profiling\"]\n[http]\nmax_body_mb = 8\n");
    auto reload = tt::http("POST", host.url("/-/reload"), "", "", {}, 60000);
    INFO(reload.body);
    REQUIRE(reload.status == 200);
    auto answer = nlohmann::json::parse(reload.body);
    CHECK(answer["unchanged"] == 1);
    CHECK(answer["needs_restart"] == nlohmann::json::array({"[http]", "[[sinks]] 'file' (changed)"}));
    CHECK(host.log().find("not applied by a reload") != std::string::npos);
}
