// nats.round_trip: edge host (profile input, file sink + nats sink) → nats-server -js →
// central host (nats input, file sink). The central host's points equal the edge's
// (measurement, category, tags, typed fields, time) and its attachments are byte-identical,
// including a 1.5 MB one that crossed in chunks; the central host is restarted mid-stream
// (SIGTERM: what its input held half-assembled goes back to the server) and nothing is
// missed (the durable consumer keeps its place; redeliveries are counted).
#include "nats_test_util.hpp"

#include <atomic>
#include <thread>

using namespace nats_test;

TEST_CASE("nats round trip: edge → JetStream → central, central restarted mid-stream", "[nats][round_trip]") {
    NatsServer server;
    tt::HostOptions edge_opts = edge_host_options(server);
    tt::HostProcess edge(edge_opts);

    tt::HostOptions central_opts;
    central_opts.conf_d["nats/nats.conf"] = "[[inputs.nats]]\n  urls = [\"" + server.url() +
                                            "\"]\n  stream = \"TRIBUTARY\"\n  durable = \"central\"\n"
                                            "  subjects = [\"tributary.>\"]\n  ack_wait = \"2s\"\n  batch = 64\n";
    tt::HostProcess central(central_opts);
    INFO("edge log:\n" << edge.log() << "\ncentral log:\n" << central.log());

    // Recorded uploads of the real dd-trace (Node, gzip and zstd) and two with a 1.5 MB file.
    std::vector<std::pair<std::string, std::string>> uploads;
    for (auto *d : {"ddtrace-nodejs", "ddtrace-nodejs-zstd"}) {
        std::string dir = std::string(TRIB_FIXTURES_DIR) + "/" + d + "/";
        std::string body = tt::read_file(dir + "profiling-input.body.multipart");
        std::string req = tt::read_file(dir + "profiling-input.request.json");
        size_t b = req.find("boundary=");
        REQUIRE(b != std::string::npos);
        size_t e = req.find('"', b);
        uploads.emplace_back(body, "multipart/form-data; " + req.substr(b, e - b));
    }
    std::atomic<size_t> sent{0};
    auto send = [&](size_t n) {
        for (size_t i = 0; i < n; ++i) {
            auto &[body, type] = uploads[i % uploads.size()];
            auto r = tt::http("POST", edge.url("/profiling/v1/input"), body, type);
            REQUIRE(r.status == 200);
            ++sent;
        }
    };
    send(60);
    auto big1 = upload_with_large_part(1536 * 1024, 1);
    REQUIRE(tt::http("POST", edge.url("/profiling/v1/input"), big1.first, big1.second).status == 200);
    // Central is mid-stream (some points in, the rest still to come): stop it while the
    // edge keeps publishing, start it again.
    REQUIRE(tt::wait_until([&] { return count_points(central.data_dir(), "profile") > 0; }, 30s, 100ms));
    std::thread more([&] { send(60); });
    size_t before_stop = count_points(central.data_dir(), "profile");
    CHECK(central.stop() == 0);
    std::this_thread::sleep_for(1s);
    central.restart();
    more.join();
    std::printf("nats round trip: central had %zu of 122 profile points when it was stopped\n", before_stop);
    auto big2 = upload_with_large_part(1200 * 1024, 2);
    REQUIRE(tt::http("POST", edge.url("/profiling/v1/input"), big2.first, big2.second).status == 200);

    auto edge_points = [&] { return file_sink_points(edge.data_dir()); };
    REQUIRE(tt::wait_until([&] { return count_points(edge.data_dir(), "profile") == 122; }, 30s, 200ms));
    std::map<std::string, int> want, got;
    bool all = tt::wait_until(
        [&] {
            want.clear();
            for (auto &[cat, p] : edge_points()) want[point_key(cat, p)]++;
            got.clear();
            for (auto &[cat, p] : file_sink_points(central.data_dir())) got[point_key(cat, p)]++;
            for (auto &[k, n] : want)
                if (!got.count(k) || got[k] < n) return false;
            return got.size() == want.size();
        },
        60s, 500ms);
    size_t missing = 0, dups = 0;
    for (auto &[k, n] : want) {
        if (!got.count(k) || got[k] < n) {
            if (++missing <= 5) UNSCOPED_INFO("central lacks: " << k);
        } else if (got[k] > n) {
            dups += size_t(got[k] - n);
        }
    }
    for (auto &[k, n] : got) {
        INFO("central has a point the edge never stored: " << k);
        CHECK(want.count(k) == 1);
    }
    std::printf("nats round trip: edge stored %zu distinct points, central %zu; %zu missing, %zu redelivered "
                "duplicate(s) after the restart\n",
                want.size(), got.size(), missing, dups);
    CHECK(all);
    CHECK(missing == 0);

    auto edge_files = file_sink_attachments(edge.data_dir());
    auto central_files = file_sink_attachments(central.data_dir());
    REQUIRE(edge_files.size() >= 122 * 3);
    size_t big = 0;
    for (auto &[key, bytes] : edge_files) {
        INFO("attachment " << key.first << "/" << key.second);
        auto it = central_files.find(key);
        REQUIRE(it != central_files.end());
        CHECK(it->second == bytes);
        big += key.second == "big.bin";
    }
    CHECK(big == 2);
    CHECK(central_files.size() == edge_files.size());
}
