// nats.sink: the real host with the nats sink and a real nats-server -js.
//  - real dd-trace (npm) profile uploads, real pinpoint-node-agent spans and stats, and
//    one upload with a 1.5 MB file: a consumer written here with libnats reads every point
//    and every attachment back, equal to what the host's file sink stored beside it, the
//    large one in chunks below the server's 1 MB max_payload;
//  - the server killed for 20 s under load and restarted: every point of every upload the
//    host answered 2xx arrives (duplicates are counted and printed).
#include "nats_test_util.hpp"

#include <atomic>
#include <thread>

using namespace nats_test;

namespace {

const char *kPinpointApp = R"JS(
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

size_t count_of(const std::vector<std::pair<std::string, tt::LpPoint>> &pts, const std::string &measurement) {
    size_t n = 0;
    for (auto &p : pts) n += p.second.measurement == measurement;
    return n;
}

// Every file-sink point is in the stream (at least once), and nothing else is.
void check_points_match(const std::vector<std::pair<std::string, tt::LpPoint>> &stored, const StreamContent &got,
                        size_t &duplicates) {
    std::map<std::string, int> want;
    for (auto &[cat, p] : stored) want[point_key(cat, p)]++;
    duplicates = 0;
    size_t missing = 0;
    for (auto &[k, n] : want) {
        auto it = got.points.find(k);
        if (it == got.points.end() || it->second < n) {
            if (++missing <= 5) UNSCOPED_INFO("missing in the stream: " << k);
            continue;
        }
        if (it->second > n) duplicates += size_t(it->second - n);
    }
    CHECK(missing == 0);
    for (auto &[k, n] : got.points) {
        INFO("in the stream but not stored by the host: " << k);
        CHECK(want.count(k) == 1);
    }
}

} // namespace

TEST_CASE("nats sink: real dd-trace and pinpoint-node-agent traffic, every point and attachment read back",
          "[nats][sink]") {
    NatsServer server;
    int pp_port = tt::free_port();
    tt::HostOptions opts = edge_host_options(server);
    opts.conf_d["pinpoint/pinpoint.conf"] =
        "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pp_port) + "\"\n";
    tt::HostProcess host(opts);
    INFO("host log:\n" << host.log());

    // pinpoint-node-agent in an express app: /up calls /down.
    tt::TempDir dir("nats-pp");
    tt::write_file(dir.sub("app.js"), kPinpointApp);
    int app_port = tt::free_port();
    std::string pp = std::to_string(pp_port);
    tt::ChildOptions po;
    po.argv = {"node", dir.sub("app.js")};
    po.env = {{"NODE_PATH", TRIB_SOURCE_DIR "/test/clients/node_modules"},
              {"APP_PORT", std::to_string(app_port)},
              {"PINPOINT_COLLECTOR_IP", "127.0.0.1"},
              {"PINPOINT_COLLECTOR_TCP_PORT", pp},
              {"PINPOINT_COLLECTOR_STAT_PORT", pp},
              {"PINPOINT_COLLECTOR_SPAN_PORT", pp},
              {"PINPOINT_AGENT_ID", "nats-pp"},
              {"PINPOINT_APPLICATION_NAME", "nats-pp-app"},
              {"PINPOINT_SAMPLING_RATE", "1"}};
    po.log_path = dir.sub("app.log");
    auto pp_app = std::make_unique<tt::ChildProcess>(po);
    std::string app_url = "http://127.0.0.1:" + std::to_string(app_port);
    REQUIRE(tt::wait_until([&] { return tt::http("GET", app_url + "/down").status == 200; }, 30s, 200ms));

    // The real dd-trace profiler, uploading every 2 s while the pinpoint app serves.
    tt::ChildProcess dd({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"},
                        {{"NODE_PATH", std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules"},
                         {"DD_PROFILING_ENABLED", "true"},
                         {"DD_TRACE_AGENT_URL", "http://127.0.0.1:" + std::to_string(host.port())},
                         {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                         {"DD_SERVICE", "nats-node"},
                         {"DD_ENV", "nats-ci"},
                         {"DD_VERSION", "1.2.3"},
                         {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                         {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                         {"APP_SECONDS", "5"}});
    for (int i = 0; i < 5; ++i) REQUIRE(tt::http("GET", app_url + "/up").status == 200);

    // One upload carrying a 1.5 MB file: above the server's 1 MB max_payload.
    auto [big_body, big_type] = upload_with_large_part(1536 * 1024, 7);
    auto r = tt::http("POST", host.url("/profiling/v1/input"), big_body, big_type);
    REQUIRE(r.status == 200);

    REQUIRE(dd.wait(60s) == 0);
    // Traces, then at least two agent-stat rounds (every 5 s).
    REQUIRE(tt::wait_until(
        [&] {
            auto pts = file_sink_points(host.data_dir());
            return count_of(pts, "pinpointV2") >= 10 && count_of(pts, "pp-agentStats") >= 2 &&
                   count_of(pts, "profile") >= 3;
        },
        40s, 250ms));
    pp_app->stop(SIGTERM, 5000ms);
    pp_app.reset();

    // Both sinks settle on the same points (each has its own queue; the file sink buffers).
    std::vector<std::pair<std::string, tt::LpPoint>> stored;
    StreamContent got;
    bool settled = tt::wait_until(
        [&] {
            stored = file_sink_points(host.data_dir());
            got = read_stream(server.url(), "TRIBUTARY", "tributary");
            std::map<std::string, int> want;
            for (auto &[cat, p] : stored) want[point_key(cat, p)]++;
            return want == got.points;
        },
        30s, 1000ms);
    CHECK(settled);
    UNSCOPED_INFO("stream: " << got.messages << " messages, " << got.chunks << " chunks, largest "
                             << got.largest_message << " bytes; host stored " << stored.size() << " points");
    size_t dups = 0;
    check_points_match(stored, got, dups);
    CHECK(dups == 0);
    CHECK(count_of(got.point_list, "profile") >= 3);
    CHECK(count_of(got.point_list, "pinpointV2") >= 10);
    CHECK(count_of(got.point_list, "pp-agentStats") >= 2);
    for (auto &[cat, p] : got.point_list)
        if (p.measurement == "profile" && p.tag("service") == "nats-node") {
            CHECK(cat == "profiling");
            CHECK(p.tag("env") == "nats-ci");
        }

    // Attachments: byte-identical to what the file sink stored, the large one chunked.
    auto files = file_sink_attachments(host.data_dir());
    REQUIRE(files.size() >= 3 * 3);
    size_t big_seen = 0;
    for (auto &[key, bytes] : files) {
        INFO("attachment " << key.first << "/" << key.second);
        auto it = got.attachments.find(key);
        REQUIRE(it != got.attachments.end());
        CHECK(it->second == bytes);
        if (key.second == "big.bin") {
            ++big_seen;
            CHECK(bytes.size() == 1536 * 1024);
        }
    }
    CHECK(got.attachments.size() == files.size());
    CHECK(big_seen == 1);
    CHECK(got.chunked_attachments >= 1);
    CHECK(got.bad_chunk_sets == 0);
    CHECK(got.largest_message <= 1024 * 1024);
}

TEST_CASE("nats sink: the server killed for 20 s under load, every 2xx upload arrives once it is back",
          "[nats][sink][outage]") {
    NatsServer server;
    tt::HostOptions opts = edge_host_options(server);
    tt::HostProcess host(opts);
    INFO("host log:\n" << host.log());

    std::string dir = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs/";
    std::string body = tt::read_file(dir + "profiling-input.body.multipart");
    std::atomic<bool> stop{false};
    std::atomic<size_t> ok{0}, refused{0};
    std::thread load([&] {
        while (!stop) {
            auto r = tt::http("POST", host.url("/profiling/v1/input"), body,
                              "multipart/form-data; boundary=1a8de2bbf9e4d199");
            (r.status / 100 == 2 ? ok : refused)++;
            std::this_thread::sleep_for(20ms);
        }
    });
    std::this_thread::sleep_for(3s);
    server.kill();
    size_t ok_at_kill = ok;
    std::this_thread::sleep_for(20s);
    size_t ok_during_outage = ok - ok_at_kill;
    server.start();
    std::this_thread::sleep_for(3s);
    stop = true;
    load.join();
    UNSCOPED_INFO(ok << " uploads answered 2xx (" << ok_during_outage << " while the server was down), " << refused
                     << " refused");
    CHECK(ok_during_outage > 100); // the spool took the load while JetStream was gone

    std::vector<std::pair<std::string, tt::LpPoint>> stored;
    StreamContent got;
    REQUIRE(tt::wait_until([&] { return count_points(host.data_dir(), "profile") == ok; }, 30s, 500ms));
    bool arrived = tt::wait_until(
        [&] {
            stored = file_sink_points(host.data_dir());
            got = read_stream(server.url(), "TRIBUTARY", "tributary");
            std::map<std::string, int> want;
            for (auto &[cat, p] : stored) want[point_key(cat, p)]++;
            for (auto &[k, n] : want)
                if (!got.points.count(k) || got.points[k] < n) return false;
            return true;
        },
        60s, 2000ms);
    CHECK(arrived);
    size_t dups = 0;
    check_points_match(stored, got, dups);
    size_t att_dups = 0;
    for (auto &[k, n] : got.attachment_copies) att_dups += size_t(n - 1);
    std::printf("nats outage: %zu uploads 2xx, %zu during the 20 s outage; stream holds %zu points, %zu duplicate "
                "point(s), %zu duplicate attachment(s)\n",
                size_t(ok), ok_during_outage, got.point_list.size(), dups, att_dups);
    CHECK(count_of(got.point_list, "profile") >= size_t(ok));
    auto files = file_sink_attachments(host.data_dir());
    for (auto &[key, bytes] : files) {
        auto it = got.attachments.find(key);
        INFO("attachment " << key.first << "/" << key.second);
        REQUIRE(it != got.attachments.end());
        CHECK(it->second == bytes);
    }
}
