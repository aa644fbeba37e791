// The viewer's API in the real host: every parameter's 400, 404s, downloads, retention,
// restart and a corrupted index.
#include "viewer_test_util.hpp"

#include <sched.h>

#include <filesystem>
#include <sstream>

using namespace viewer_test;

namespace {

std::string go_cpu() { return fixture("go-pprof/cpu.pb.gz"); }

} // namespace

TEST_CASE("every API parameter's bad value gets 400 with the reason; unknown ids 404", "[viewer][api]") {
    tt::HostProcess host(host_options());
    int64_t now = now_ns();
    REQUIRE(upload(host, "api-svc", {{"cpu.pprof", go_cpu()}}, now - 10'000'000'000, now) == 200);
    REQUIRE(wait_profiles(host, "api-svc", 1));

    struct Case {
        std::string query, reason;
    };
    const std::vector<Case> bad = {
        {"profiles?from=yesterday", "from:"},
        {"profiles?to=12:00", "to:"},
        {"profiles?from=now&to=now-1h", "from is after to"},
        {"profiles?limit=0", "limit:"},
        {"profiles?limit=abc", "limit:"},
        {"profiles?limit=20000", "limit:"},
        {"profiles?type=cpu%3Bdrop", "type:"},
        {"profiles?tag.=x", "tag"},
        {"profiles?tag.a%22b=x", "tag"},
        {"profiles?colour=red", "unknown parameter 'colour'"},
        {"profiles?service=a&service=b", "given twice"},
        {"flamegraph?type=cpu", "service is required"},
        {"flamegraph?service=api-svc", "type is required"},
        {"flamegraph?service=api-svc&type=cpu&from=x", "from:"},
        {"flamegraph?service=api-svc&type=cpu&to=x", "to:"},
        {"flamegraph?service=api-svc&type=cpu&from=now&to=now-2h", "from is after to"},
        {"flamegraph?service=api-svc&type=cpu&diff=2", "diff:"},
        {"flamegraph?service=api-svc&type=cpu&diff=1", "baseline"},
        {"flamegraph?service=api-svc&type=cpu&diff=1&baseline_from=now-2h", "baseline_from and baseline_to"},
        {"flamegraph?service=api-svc&type=cpu&diff=1&baseline_from=x&baseline_to=now", "baseline_from:"},
        {"flamegraph?service=api-svc&type=cpu&diff=1&baseline_from=now-1h&baseline_to=x", "baseline_to:"},
        {"flamegraph?service=api-svc&type=cpu&diff=1&baseline_from=now&baseline_to=now-1h",
         "baseline_from/baseline_to"},
        {"flamegraph?service=api-svc&type=cpu&diff=1&baseline_version=", "baseline_version is required"},
        {"flamegraph?service=api-svc&type=cpu&baseline_from=now-1h", "only used with diff=1"},
        {"flamegraph?service=api-svc&type=c%20pu", "type:"},
        {"flamegraph?service=api-svc&type=cpu&limit=3", "unknown parameter 'limit'"},
        {"traces?min_duration=fast", "min_duration:"},
        {"traces?status=maybe", "status:"},
        {"traces?from=x", "from:"},
        {"traces?to=x", "to:"},
        {"traces?limit=-1", "limit:"},
        {"traces?tag.k=v", "unknown parameter 'tag.k'"},
        {"trace", "id is required"},
        {"trace?id=1&x=2", "unknown parameter 'x'"},
        {"profile", "id is required"},
        {"profile?id=x&attachment=", "attachment is required"},
        {"services?x=1", "unknown parameter 'x'"},
        // The path forms.
        {"profiles/", "expected /api/v1/profiles/<id>"},
        {"profiles/a/b/c", "expected /api/v1/profiles/<id>"},
        {"profiles/a/", "expected /api/v1/profiles/<id>"},
        {"profiles/a?attachment=b", "unknown parameter 'attachment'"},
        {"traces/", "expected /api/v1/traces/<trace_id>"},
        {"traces/a/b", "expected /api/v1/traces/<trace_id>"},
        {"traces/a?id=b", "unknown parameter 'id'"},
    };
    for (auto &c : bad) {
        auto a = get_json(host, "/api/v1/" + c.query);
        INFO(c.query << " → " << a.status << " " << a.body.dump());
        CHECK(a.status == 400);
        REQUIRE(a.body.is_object());
        CHECK_THAT(a.body.value("error", std::string()), Catch::Contains(c.reason));
    }

    CHECK(get_json(host, "/api/v1/trace?id=no-such-trace").status == 404);
    CHECK(get_json(host, "/api/v1/profile?id=no-such-profile").status == 404);
    auto list = get_json(host, "/api/v1/profiles?service=api-svc&from=now-1h&type=cpu&tag.env=test&limit=5");
    REQUIRE(list.status == 200);
    REQUIRE(list.body["profiles"].size() == 1);
    auto &p = list.body["profiles"][0];
    std::string id = p["id"];
    CHECK(p["service"] == "api-svc");
    CHECK(p["host"] == "viewer-host");
    CHECK(p["env"] == "test");
    CHECK(std::find(p["types"].begin(), p["types"].end(), "cpu") != p["types"].end());
    CHECK(get_json(host, "/api/v1/profiles?service=api-svc&from=0&tag.env=prod").body["profiles"].empty());
    CHECK(get_json(host, "/api/v1/profiles?service=api-svc&from=0&type=wall").body["profiles"].empty());
    CHECK(get_json(host, "/api/v1/profile?id=" + id + "&attachment=nope.pprof").status == 404);
    // The download is the very file the client sent.
    auto dl = tt::http("GET", host.url("/api/v1/profile?id=" + id + "&attachment=cpu.pprof"));
    CHECK(dl.status == 200);
    CHECK(dl.body == go_cpu());
    CHECK_THAT(dl.header("content-disposition"), Catch::Contains("cpu.pprof"));
    // The same by path: /api/v1/profiles/<id>/<attachment> and /api/v1/profiles/<id>.
    auto by_path = tt::http("GET", host.url("/api/v1/profiles/" + id + "/cpu.pprof"));
    CHECK(by_path.status == 200);
    CHECK(by_path.body == go_cpu());
    auto row = get_json(host, "/api/v1/profiles/" + id);
    CHECK(row.status == 200);
    CHECK(row.body["id"] == id);
    CHECK(row.body["service"] == "api-svc");
    CHECK(get_json(host, "/api/v1/profiles/" + id + "/nope.pprof").status == 404);
    CHECK(get_json(host, "/api/v1/profiles/no-such-profile").status == 404);
    CHECK(get_json(host, "/api/v1/traces/no-such-trace").status == 404);
    // The pages are served from the module.
    auto page = tt::http("GET", host.url("/ui/"));
    CHECK(page.status == 200);
    CHECK_THAT(page.body, Catch::Contains("/ui/flame.js"));
    CHECK(tt::http("GET", host.url("/ui/flame.js")).status == 200);
    auto svc = get_json(host, "/api/v1/services");
    REQUIRE(svc.status == 200);
    REQUIRE(svc.body["services"].size() == 1);
    CHECK(svc.body["services"][0]["profiles"] == 1);
}

TEST_CASE("retention removes index rows together with their files in the store", "[viewer][retention]") {
    tt::HostProcess host(host_options("  max_age_hours = 24\n  retention_interval_s = 1\n"));
    int64_t now = now_ns();
    const int64_t day = 86400LL * 1000000000LL;
    REQUIRE(upload(host, "ret-svc", {{"cpu.pprof", go_cpu()}}, now - 3 * day, now - 3 * day + 10'000'000'000) == 200);
    REQUIRE(upload(host, "ret-svc", {{"cpu.pprof", go_cpu()}}, now - 20'000'000'000, now) == 200);
    // Both reach the index and the store; the old one is then expired by the timer.
    std::vector<std::string> ids;
    REQUIRE(tt::wait_until(
        [&] {
            auto pts = host.points("profiling", "profile");
            ids.clear();
            for (auto &p : pts) ids.push_back(p.field_str("profile_id"));
            return ids.size() == 2;
        },
        10s));
    auto store = [&](const std::string &id) { return host.data_dir() + "/attachments/" + id + "/cpu.pprof"; };
    std::string old_id, new_id;
    for (auto &p : host.points("profiling", "profile"))
        (p.time_ns < now - day ? old_id : new_id) = p.field_str("profile_id");
    REQUIRE(!old_id.empty());
    REQUIRE(!new_id.empty());
    INFO(host.log());
    REQUIRE(wait_profiles(host, "ret-svc", 1, 10s));
    auto left = get_json(host, "/api/v1/profiles?service=ret-svc&from=0");
    CHECK(left.body["profiles"][0]["id"] == new_id);
    CHECK(get_json(host, "/api/v1/profile?id=" + old_id).status == 404);
    CHECK(tt::wait_until([&] { return !tt::file_exists(store(old_id)); }, 5s));
    CHECK(tt::file_exists(store(new_id)));
}

TEST_CASE("the index survives a restart; a corrupted index is rebuilt from the store", "[viewer][restart]") {
    tt::HostProcess host(host_options());
    int64_t now = now_ns();
    REQUIRE(upload(host, "rs-svc", {{"cpu.pprof", go_cpu()}}, now - 30'000'000'000, now - 20'000'000'000) == 200);
    REQUIRE(upload(host, "rs-svc", {{"wall.pprof", fixture("ddtrace-nodejs/part-wall.pprof.gz")}}, now - 10'000'000'000,
                   now) == 200);
    REQUIRE(wait_profiles(host, "rs-svc", 2));
    auto before = get_json(host, "/api/v1/flamegraph?service=rs-svc&type=cpu&from=now-1h");
    REQUIRE(before.status == 200);
    CHECK(before.body["profiles"] == 2);

    host.restart();
    REQUIRE(wait_profiles(host, "rs-svc", 2, 5s));
    CHECK(get_json(host, "/api/v1/flamegraph?service=rs-svc&type=cpu&from=now-1h").body["tree"] == before.body["tree"]);

    host.stop();
    std::string db = host.data_dir() + "/state/viewer/viewer/index.db";
    REQUIRE(tt::file_exists(db));
    for (const char *suffix : {"-wal", "-shm"}) std::filesystem::remove(db + suffix);
    tt::write_file(db, std::string(8192, '\x5a') + "not a database");
    host.restart();
    INFO(host.log());
    CHECK(host.running());
    CHECK_THAT(host.log(), Catch::Contains("rebuilt from the attachment store"));
    REQUIRE(wait_profiles(host, "rs-svc", 2, 5s));
    auto after = get_json(host, "/api/v1/flamegraph?service=rs-svc&type=cpu&from=now-1h");
    CHECK(after.body["profiles"] == 2);
    CHECK(after.body["tree"] == before.body["tree"]);
    auto svc = get_json(host, "/api/v1/profiles?service=rs-svc&from=0");
    for (auto &p : svc.body["profiles"]) {
        CHECK(p["host"] == "viewer-host");
        CHECK(p["env"] == "test");
    }
}

// The summarizer is a SCHED_IDLE thread (it must not take CPU from ingestion); on an idle
// host it still decodes every upload without a query asking, and the types it found show.
TEST_CASE("the summarizer runs at idle priority and summarizes uploads without a query", "[viewer][summarizer]") {
    tt::HostProcess host(host_options());
    int64_t now = now_ns();
    for (int i = 0; i < 3; ++i)
        REQUIRE(upload(host, "idle-svc", {{"cpu.pprof", go_cpu()}}, now - (i + 1) * 10'000'000'000LL,
                       now - i * 10'000'000'000LL) == 200);
    INFO(host.log());
    REQUIRE(wait_profiles(host, "idle-svc", 3));
    auto summarized = [&] {
        auto r = tt::http("GET", host.url("/metrics"));
        double n = 0;
        std::istringstream lines(r.body);
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("tributary_module_viewer_profiles_summarized", 0) == 0)
                n += std::stod(line.substr(line.rfind(' ') + 1));
        return n;
    };
    CHECK(tt::wait_until([&] { return summarized() >= 3; }, 15s));
    auto services = get_json(host, "/api/v1/services");
    REQUIRE(services.status == 200);
    REQUIRE(services.body["services"].size() == 1);
    CHECK(services.body["services"][0]["types"] == nlohmann::json::array({"cpu", "samples"}));

    // The thread by its name, and its scheduling policy as the kernel reports it.
    std::vector<int> policies;
    for (auto &task : std::filesystem::directory_iterator("/proc/" + std::to_string(host.pid()) + "/task")) {
        std::string comm = tt::read_file(task.path().string() + "/comm");
        if (comm != "viewer-summary\n") continue;
        policies.push_back(sched_getscheduler(pid_t(std::stoi(task.path().filename().string()))));
    }
    REQUIRE(policies.size() == 1);
    CHECK(policies[0] == SCHED_IDLE);
}
