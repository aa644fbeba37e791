// The influxdb sink's requests and status handling, against a local capture server.
// (The same sink against a real InfluxDB is in test/integration/delivery.)
#include <trib_test/http_capture_server.hpp>

#include "core/sinks/influxdb_sink.hpp"

#include <catch2/catch.hpp>

using namespace trib::core;
using trib::test::CaptureServer;

namespace {
trib::Point point(int i) {
    trib::Point p("profile", "profiling", 1700000000123456789 + i);
    p.tag("service", "shop");
    p.field(trib::Field::String("profile_id", "id-" + std::to_string(i)));
    p.field(trib::Field::Uint("big", 18446744073709551615ull));
    p.field(trib::Field::Uint("small", 7));
    p.attach("cpu.pprof", "application/octet-stream", std::string("PPROF"));
    return p;
}
} // namespace

TEST_CASE("influxdb: /write with db, rp, precision and credentials; attachments not written", "[influxdb]") {
    CaptureServer srv;
    srv.set_default(204);
    auto cfg = InfluxDbSinkConfig::from_json({{"url", srv.base()},
                                              {"database", "my db"},
                                              {"retention_policy", "week"},
                                              {"precision", "ms"},
                                              {"username", "u1"},
                                              {"password", "p&w"}});
    InfluxDbSink sink("influx", cfg);
    std::string err;
    REQUIRE(sink.write({point(0)}, err) == TRIB_OK);
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].method == "POST");
    CHECK(reqs[0].uri == "/write?db=my%20db&rp=week&precision=ms&u=u1&p=p%26w");
    CHECK(reqs[0].body == "profile,service=shop profile_id=\"id-0\",big=18446744073709551616,small=7i 1700000000123\n");
    CHECK(reqs[0].body.find("PPROF") == std::string::npos);
}

TEST_CASE("influxdb: token auth header", "[influxdb]") {
    CaptureServer srv;
    srv.set_default(204);
    InfluxDbSink sink("influx", InfluxDbSinkConfig::from_json(
                                    {{"url", srv.base() + "/proxy"}, {"database", "d"}, {"token", "s3cret"}}));
    std::string err;
    REQUIRE(sink.write({point(0)}, err) == TRIB_OK);
    auto r = srv.requests().at(0);
    CHECK(r.uri == "/proxy/write?db=d&precision=n");
    CHECK(r.header("Authorization") == "Token s3cret");
}

TEST_CASE("influxdb: 5xx and network errors retry, 4xx is permanent with InfluxDB's text", "[influxdb]") {
    CaptureServer srv;
    InfluxDbSink sink(
        "influx", InfluxDbSinkConfig::from_json({{"url", srv.base()}, {"database", "d"}, {"create_database", false}}));
    std::string err;
    srv.script({{500, R"({"error":"timeout"})"}});
    CHECK(sink.write({point(0)}, err) == TRIB_RETRY);
    srv.script(
        {{400,
          R"({"error":"partial write: field type conflict: input field \"small\" on measurement \"profile\" is type float, already exists as type integer dropped=1"})"}});
    CHECK(sink.write({point(0)}, err) == TRIB_PERMANENT);
    CHECK_THAT(err, Catch::Contains("HTTP 400: partial write: field type conflict"));
    srv.script({{401, R"({"error":"authorization failed"})"}});
    CHECK(sink.write({point(0)}, err) == TRIB_PERMANENT);
    CHECK_THAT(err, Catch::Contains("authorization failed"));

    InfluxDbSink down(
        "influx", InfluxDbSinkConfig::from_json({{"url", "http://127.0.0.1:1"}, {"database", "d"}, {"timeout", "1s"}}));
    CHECK(down.write({point(0)}, err) == TRIB_RETRY);
}

TEST_CASE("influxdb: a missing database is created once, then the write repeated", "[influxdb]") {
    CaptureServer srv;
    srv.script({{404, R"({"error":"database not found: \"d\""})"}, {200, R"({"results":[{"statement_id":0}]})"}});
    srv.set_default(204);
    InfluxDbSink sink("influx", InfluxDbSinkConfig::from_json({{"url", srv.base()}, {"database", "d"}}));
    std::string err;
    REQUIRE(sink.write({point(0)}, err) == TRIB_OK);
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[1].uri == "/query?q=CREATE%20DATABASE%20%22d%22");
    CHECK(reqs[2].path() == "/write");
}

TEST_CASE("influxdb: big batches are split by max_body_kb", "[influxdb]") {
    CaptureServer srv;
    srv.set_default(204);
    InfluxDbSink sink("influx",
                      InfluxDbSinkConfig::from_json({{"url", srv.base()}, {"database", "d"}, {"max_body_kb", 1}}));
    std::vector<trib::Point> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(point(i));
    std::string err;
    REQUIRE(sink.write(batch, err) == TRIB_OK);
    size_t lines = 0;
    for (auto &r : srv.requests()) {
        CHECK(r.body.size() <= 1024);
        lines += static_cast<size_t>(std::count(r.body.begin(), r.body.end(), '\n'));
    }
    CHECK(lines == 100);
}

TEST_CASE("influxdb: config errors name the key", "[influxdb]") {
    CHECK_THROWS_WITH(InfluxDbSinkConfig::from_json({{"url", "http://h:8086"}}), Catch::Contains("'database'"));
    CHECK_THROWS_WITH(InfluxDbSinkConfig::from_json({{"database", "d"}, {"precision", "weeks"}}),
                      Catch::Contains("'precision'"));
    CHECK_THROWS_WITH(InfluxDbSinkConfig::from_json({{"database", "d"}, {"url", "h:8086"}}),
                      Catch::Contains("not a URL"));
    CHECK_THROWS_WITH(InfluxDbSinkConfig::from_json({{"database", "d"}, {"token", "t"}, {"username", "u"}}),
                      Catch::Contains("either"));
    CHECK(InfluxDbSinkConfig::from_json({{"database", "d"}, {"timeout", "1.5s"}}).timeout ==
          std::chrono::milliseconds(1500));
}
