// Traces in the real host: spans replayed from the recorded pinpoint-node-agent session are
// served by /api/v1/traces and /api/v1/traces/<trace_id> (and trace?id=), and survive a
// restart and a corrupted index file (spans are kept in their own file).
#include "viewer_test_util.hpp"

#include "test_helpers.hpp"

#include <filesystem>

using namespace viewer_test;

TEST_CASE("traces by path survive a restart and a corrupted index", "[viewer][traces][restart]") {
    int pinpoint_port = tt::free_port();
    // The recorded spans are old: a long max_age keeps retention from removing them.
    tt::HostOptions o = host_options("  max_age_hours = 1000000\n");
    o.conf_d["pinpoint/pinpoint.conf"] =
        "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pinpoint_port) + "\"\n";
    tt::HostProcess host(o);
    {
        pinpoint_test::RawClient c("127.0.0.1:" + std::to_string(pinpoint_port));
        for (auto &res : pinpoint_test::replay(c, pinpoint_test::recorded_messages()))
            REQUIRE(res.code == grpc::StatusCode::OK);
    }
    nlohmann::json traces;
    REQUIRE(tt::wait_until(
        [&] {
            traces = get_json(host, "/api/v1/traces?limit=100").body["traces"];
            return traces.is_array() && traces.size() == 4; // the session's four traces
        },
        15s));

    std::map<std::string, nlohmann::json> before;
    for (auto &t : traces) {
        std::string id = t["trace_id"];
        auto by_path = get_json(host, "/api/v1/traces/" + id);
        REQUIRE(by_path.status == 200);
        CHECK(by_path.body["trace_id"] == id);
        CHECK(by_path.body["span_count"] == t["spans"]);
        CHECK(by_path.body["spans"].size() >= 1);
        // The query form is the same answer.
        CHECK(get_json(host, "/api/v1/trace?id=" + id).body == by_path.body);
        before[id] = by_path.body;
    }
    // A trace of the /up → /down pair has its child span nested under the root.
    bool nested = false;
    for (auto &[id, t] : before)
        for (auto &root : t["spans"]) nested = nested || !root["children"].empty();
    CHECK(nested);

    host.restart();
    for (auto &[id, t] : before) CHECK(get_json(host, "/api/v1/traces/" + id).body == t);

    host.stop();
    std::string db = host.data_dir() + "/state/viewer/viewer/index.db";
    REQUIRE(tt::file_exists(db));
    REQUIRE(tt::file_exists(host.data_dir() + "/state/viewer/viewer/spans.db"));
    for (const char *suffix : {"-wal", "-shm"}) std::filesystem::remove(db + suffix);
    tt::write_file(db, std::string(8192, '\x5a') + "not a database");
    host.restart();
    INFO(host.log());
    CHECK_THAT(host.log(), Catch::Contains("rebuilt from the attachment store"));
    for (auto &[id, t] : before) CHECK(get_json(host, "/api/v1/traces/" + id).body == t);
    auto listed = get_json(host, "/api/v1/traces?limit=100").body["traces"];
    CHECK(listed.size() == 4);
    // The services rows of the spans come back with the rebuilt index.
    bool traced_service = false;
    auto services = get_json(host, "/api/v1/services").body;
    INFO(services.dump());
    for (auto &s : services["services"]) traced_service = traced_service || s.value("traces", 0) > 0;
    CHECK(traced_service);
}
