// pinpoint-node-agent 0.8.7 (npm) in an express app whose /up calls /down with
// http.request, all three collector ports on the module's one port, sampling every trace.
// Runs against the real host binary when it is built (build/bin/tributary), and against
// pinpoint.so in a FakeHost in any case.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <thread>

#include "test_helpers.hpp"
#include "trace_checks.hpp"

using namespace pinpoint_test;
using namespace std::chrono_literals;

namespace {

const char *kApp = R"JS(
require('pinpoint-node-agent');
const http = require('http');
const express = require('express');
const port = Number(process.env.APP_PORT);
const app = express();
app.get('/down', (req, res) => { res.send('down'); });
app.get('/up', (req, res) => {
  const call = http.request({ host: '127.0.0.1', port, path: '/down', method: 'GET' }, (resp) => {
    resp.resume();
    resp.on('end', () => res.send('up'));
  });
  call.on('error', (e) => res.status(502).send(String(e)));
  call.end();
});
app.listen(port, '127.0.0.1', () => console.log('app listening on ' + port));
)JS";

std::unique_ptr<trib::test::ChildProcess> start_app(const trib::test::TempDir &dir, int collector_port, int app_port) {
    trib::test::write_file(dir.sub("app.js"), kApp);
    std::string pp = std::to_string(collector_port);
    trib::test::ChildOptions o;
    o.argv = {"node", dir.sub("app.js")};
    o.env = {{"NODE_PATH", TRIB_SOURCE_DIR "/test/clients/node_modules"},
             {"APP_PORT", std::to_string(app_port)},
             {"PINPOINT_COLLECTOR_IP", "127.0.0.1"},
             {"PINPOINT_COLLECTOR_TCP_PORT", pp},
             {"PINPOINT_COLLECTOR_STAT_PORT", pp},
             {"PINPOINT_COLLECTOR_SPAN_PORT", pp},
             {"PINPOINT_AGENT_ID", "pp-node-it"},
             {"PINPOINT_APPLICATION_NAME", "pp-node-app"},
             {"PINPOINT_SAMPLING_RATE", "1"}};
    o.log_path = dir.sub("app.log");
    auto child = std::make_unique<trib::test::ChildProcess>(o);
    bool up = trib::test::wait_until(
        [&] { return trib::test::http("GET", "http://127.0.0.1:" + std::to_string(app_port) + "/down").status == 200; },
        30s, 200ms);
    if (!up) throw std::runtime_error("node app did not start:\n" + child->log());
    return child;
}

constexpr int kRequests = 5;

size_t complete_traces(const std::vector<trib::Point> &pts) {
    size_t n = 0;
    for (auto &[id, t] : group_traces(pts)) {
        int entries = 0;
        for (auto *p : t.points) entries += tag(*p, "span_type") == "entry";
        if (entries == 2) ++n;
    }
    return n;
}

void check_session(const std::vector<trib::Point> &pts, const std::string &app_log) {
    INFO("node app log:\n" << app_log);
    // The readiness probes (GET /down) make single-span traces of their own; the /up
    // requests make the two-span traces under test.
    size_t up_traces = 0;
    for (auto &[id, t] : group_traces(pts)) {
        CHECK(id.rfind("pp-node-it^", 0) == 0);
        bool has_up =
            std::any_of(t.points.begin(), t.points.end(), [](auto *p) { return str_field(*p, "resource") == "/up"; });
        if (!has_up) {
            for (auto *p : t.points)
                if (tag(*p, "span_type") == "entry") CHECK(str_field(*p, "resource") == "/down");
            continue;
        }
        ++up_traces;
        check_up_down_trace(id, t);
    }
    CHECK(up_traces == size_t(kRequests));
    // Agent stats every ~5 s.
    std::vector<int64_t> times;
    for (auto &p : pts)
        if (p.measurement == "pp-agentStats") {
            times.push_back(p.time_ns);
            CHECK(tag(p, "agent_id") == "pp-node-it");
            CHECK(p.find_field("JvmMemoryHeapUsed") != nullptr);
            CHECK(p.find_field("JvmCpuLoad") != nullptr);
        }
    REQUIRE(times.size() >= 2);
    std::sort(times.begin(), times.end());
    for (size_t i = 1; i < times.size(); ++i) {
        double gap_s = double(times[i] - times[i - 1]) / 1e9;
        CHECK(gap_s > 3.5);
        CHECK(gap_s < 7.5);
    }
}

void drive_requests(int app_port) {
    for (int i = 0; i < kRequests; ++i) {
        auto r = trib::test::http("GET", "http://127.0.0.1:" + std::to_string(app_port) + "/up");
        REQUIRE(r.status == 200);
        REQUIRE(r.body == "up");
    }
}

trib::Point from_lp(const trib::test::LpPoint &lp, const std::string &category) {
    trib::Point p(lp.measurement, category, lp.time_ns);
    for (auto &kv : lp.tags) p.tag(kv.first, kv.second);
    for (auto &[k, v] : lp.fields) {
        if (auto *i = std::get_if<int64_t>(&v)) p.field(trib::Field::Int(k, *i));
        else if (auto *u = std::get_if<uint64_t>(&v)) p.field(trib::Field::Uint(k, *u));
        else if (auto *d = std::get_if<double>(&v)) p.field(trib::Field::Float(k, *d));
        else if (auto *b = std::get_if<bool>(&v)) p.field(trib::Field::Bool(k, *b));
        else p.field(trib::Field::String(k, std::get<std::string>(v)));
    }
    return p;
}

} // namespace

TEST_CASE("pinpoint-node-agent against pinpoint.so", "[pinpoint][node]") {
    Running r;
    REQUIRE(r.status == TRIB_OK);
    trib::test::TempDir dir("pp-node");
    int app_port = trib::test::free_port();
    auto app = start_app(dir, r.port, app_port);
    drive_requests(app_port);
    // Traces arrive within moments; stats every 5 s: wait for two of them.
    bool ok = trib::test::wait_until(
        [&] {
            auto pts = r.host.points();
            size_t stats =
                std::count_if(pts.begin(), pts.end(), [](auto &p) { return p.measurement == "pp-agentStats"; });
            return complete_traces(pts) >= size_t(kRequests) && stats >= 3;
        },
        25s, 200ms);
    auto pts = r.host.points();
    CHECK(ok);
    check_session(pts, app->log());
}

TEST_CASE("pinpoint-node-agent against the real host", "[pinpoint][node][host]") {
    const std::string host_bin = TRIB_BUILD_DIR "/bin/tributary";
    struct stat st {};
    if (::stat(host_bin.c_str(), &st) != 0) {
        WARN("skipped: " << host_bin << " is not built");
        return;
    }
    int pp_port = trib::test::free_port();
    trib::test::HostOptions o;
    o.conf_d["pinpoint/pinpoint.conf"] =
        "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pp_port) + "\"\n";
    trib::test::HostProcess host(o);
    trib::test::TempDir dir("pp-node-host");
    int app_port = trib::test::free_port();
    auto app = start_app(dir, pp_port, app_port);
    drive_requests(app_port);
    auto collect = [&] {
        std::vector<trib::Point> pts;
        for (auto &lp : host.points("tracing", "pinpointV2")) pts.push_back(from_lp(lp, "tracing"));
        for (auto &lp : host.points("metric", "pp-agentStats")) pts.push_back(from_lp(lp, "metric"));
        return pts;
    };
    bool ok = trib::test::wait_until(
        [&] {
            auto pts = collect();
            size_t stats =
                std::count_if(pts.begin(), pts.end(), [](auto &p) { return p.measurement == "pp-agentStats"; });
            return complete_traces(pts) >= size_t(kRequests) && stats >= 3;
        },
        30s, 250ms);
    INFO("host log:\n" << host.log());
    CHECK(ok);
    check_session(collect(), app->log());
}
