#include <trib_test/http_capture_server.hpp>
#include <trib_test/support.hpp>

#include "core/sinks/dataway_sink.hpp"
#include "core/spool/upstream_http.hpp"

#include <catch2/catch.hpp>

#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/MultipartReader.h>
#include <Poco/Net/NameValueCollection.h>

#include <sstream>

using namespace trib::core;
using trib::test::CapturedRequest;
using trib::test::CaptureServer;

namespace {

const std::string kToken = "tkn_0123456789abcdef0123456789abcdef";

std::unique_ptr<DatawaySink> make_sink(const CaptureServer &srv, nlohmann::json extra = nlohmann::json::object(),
                                       std::vector<std::pair<std::string, std::string>> globals = {{"host", "box1"},
                                                                                                   {"cluster", "c1"}}) {
    nlohmann::json t = {
        {"name", "dw"}, {"type", "dataway"}, {"urls", {srv.base() + "?token=" + kToken}}, {"timeout", "5s"}};
    for (auto &[k, v] : extra.items()) t[k] = v;
    return std::make_unique<DatawaySink>("dw", DatawaySinkConfig::from_json(t), globals);
}

trib::Point metric_point(int i) {
    trib::Point p("cpu", "metric", 1700000000000000000 + i);
    p.tag("host", "box1").tag("cluster", "c1").tag("core", std::to_string(i));
    p.field(trib::Field::Float("usage", 0.5 + i));
    return p;
}

trib::Point profile_point() {
    trib::Point p("profile", "profiling", 1700000000000000000);
    p.tag("service", "shop").tag("language", "golang").tag("host", "box1");
    p.field(trib::Field::String("profile_id", "6f1d2c3a-0000-4000-8000-000000000001"));
    p.field(trib::Field::String("format", "pprof"));
    std::string pprof("\x1f\x8b\x08\x00binary\x00\xff pprof bytes", 22);
    p.attach("cpu.pprof", "application/octet-stream", pprof);
    p.attach("delta-heap.pprof", "application/octet-stream", std::string("heap\x00\x01", 6));
    p.attach(
        "event.json", "application/json",
        std::string(
            R"({"attachments":["cpu.pprof","delta-heap.pprof"],"tags_profiler":"service:shop,language:golang","start":"2023-11-14T22:13:20Z","end":"2023-11-14T22:14:20Z","family":"go","version":"4"})"));
    return p;
}

struct Part {
    std::string name, filename, content_type, data;
};

std::vector<Part> parse_multipart(const CapturedRequest &r) {
    std::string ct = r.header("Content-Type");
    std::string mt;
    Poco::Net::NameValueCollection params;
    Poco::Net::MessageHeader::splitParameters(ct, mt, params);
    REQUIRE(mt == "multipart/form-data");
    std::istringstream in(r.body);
    Poco::Net::MultipartReader reader(in, params.get("boundary"));
    std::vector<Part> parts;
    while (reader.hasNextPart()) {
        Poco::Net::MessageHeader h;
        reader.nextPart(h);
        std::string disp, dv;
        Poco::Net::NameValueCollection dp;
        Poco::Net::MessageHeader::splitParameters(h.get("Content-Disposition"), dv, dp);
        Part p;
        p.name = dp.get("name", "");
        p.filename = dp.get("filename", "");
        p.content_type = h.get("Content-Type", "");
        std::ostringstream os;
        os << reader.stream().rdbuf();
        p.data = os.str();
        parts.push_back(p);
    }
    return parts;
}

} // namespace

TEST_CASE("dataway: point writes are gzipped line protocol on /v1/write/<category> with DataKit's headers",
          "[dataway]") {
    CaptureServer srv;
    auto sink = make_sink(srv);
    std::vector<trib::Point> batch = {metric_point(0), metric_point(1)};
    trib::Point log("nginx", "logging", 1700000000000000005);
    log.field(trib::Field::String("message", "GET / 200"));
    batch.push_back(log);
    trib::Point span("pinpointV2", "tracing", 1700000000000000006);
    span.tag("service", "shop");
    span.field(trib::Field::String("span_id", "42"));
    batch.push_back(span);
    std::string err;
    REQUIRE(sink->write(batch, err) == TRIB_OK);

    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[0].path() == "/v1/write/metric");
    CHECK(reqs[1].path() == "/v1/write/logging");
    CHECK(reqs[2].path() == "/v1/write/tracing");
    for (auto &r : reqs) {
        CHECK(r.method == "POST");
        CHECK(r.query() == "token=" + kToken);
        CHECK(r.header("Content-Type") == "application/line-protocol");
        CHECK(r.header("Content-Encoding") == "gzip");
        CHECK(r.header("Referer") == "DataKit");
        CHECK_THAT(r.header("User-Agent"), Catch::StartsWith("datakit-linux-"));
        CHECK_THAT(r.header("User-Agent"), Catch::Contains("/1.84.0/"));
        CHECK_THAT(r.header("X-Pkg-Id"), Catch::Matches("dk_[0-9a-v]{20}"));
        CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
        CHECK_FALSE(r.has_header("X-Global-Tags")); // sinker off (DataKit's default)
    }
    CHECK(reqs[0].header("X-Pkg-Id") != reqs[1].header("X-Pkg-Id"));
    CHECK(reqs[0].header("X-Points") == "2");
    CHECK(reqs[1].header("X-Points") == "1");
    CHECK(trib::test::gunzip(reqs[0].body) == "cpu,host=box1,cluster=c1,core=0 usage=0.5 1700000000000000000\n"
                                              "cpu,host=box1,cluster=c1,core=1 usage=1.5 1700000000000000001\n");
    CHECK(trib::test::gunzip(reqs[1].body) == "nginx message=\"GET / 200\" 1700000000000000005\n");
}

TEST_CASE("dataway: sinker sends X-Global-Tags per point group", "[dataway]") {
    CaptureServer srv;
    auto sink =
        make_sink(srv, {{"enable_sinker", true}, {"global_customer_keys", {"category", "team"}}, {"gzip", false}});
    std::vector<trib::Point> batch = {metric_point(0), metric_point(1)};
    batch[1].tag("team", "blue");
    std::string err;
    REQUIRE(sink->write(batch, err) == TRIB_OK);
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 2); // two different header values → two requests
    CHECK(reqs[0].header("X-Global-Tags") == "host=box1,cluster=c1,category=M");
    CHECK(reqs[1].header("X-Global-Tags") == "host=box1,cluster=c1,team=blue,category=M");
    CHECK_FALSE(reqs[0].has_header("Content-Encoding"));
    CHECK(reqs[0].body == "cpu,host=box1,cluster=c1,core=0 usage=0.5 1700000000000000000\n");
    CHECK(sink->endpoint_sinker_value() == "cluster=c1,host=box1");
}

TEST_CASE("dataway: profile points upload the original files plus event.json as multipart", "[dataway]") {
    CaptureServer srv;
    auto sink = make_sink(srv, {{"enable_sinker", true}});
    auto p = profile_point();
    std::string err;
    REQUIRE(sink->write({p}, err) == TRIB_OK);
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1);
    auto &r = reqs[0];
    CHECK(r.method == "POST");
    CHECK(r.path() == "/v1/upload/profiling");
    CHECK(r.query() == "token=" + kToken);
    CHECK(r.header("X-Datakit-Version") == "1.84.0");
    CHECK(r.header("X-Global-Tags") == "host=box1");
    CHECK_FALSE(r.has_header("Content-Encoding"));
    auto parts = parse_multipart(r);
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].name == "event");
    CHECK(parts[0].filename == "event.json");
    // The module's event.json goes out byte for byte: the sink knows no event schema, so
    // tags added after emit (the host tag here) reach the point, not the event.
    CHECK(parts[0].data == *p.attachments[2].data);
    CHECK(parts[1].name == "cpu.pprof");
    CHECK(parts[1].filename == "cpu.pprof");
    CHECK(parts[1].data == *p.attachments[0].data); // byte for byte
    CHECK(parts[2].name == "delta-heap.pprof");
    CHECK(parts[2].data == std::string("heap\x00\x01", 6));
}

TEST_CASE("dataway: a profile point without event.json is refused, not rebuilt", "[dataway]") {
    CaptureServer srv;
    auto sink = make_sink(srv);
    auto p = profile_point();
    p.attachments.pop_back(); // event.json
    std::string err;
    CHECK(sink->write({p, metric_point(0)}, err) == TRIB_PERMANENT);
    CHECK_THAT(err, Catch::Contains("no event.json"));
    auto reqs = srv.requests();
    REQUIRE(reqs.size() == 1); // the metric in the same batch still goes out
    CHECK(reqs[0].path() == "/v1/write/metric");
}

TEST_CASE("dataway: status handling (5xx retry, 4xx permanent, every URL written)", "[dataway]") {
    CaptureServer a, b;
    nlohmann::json t = {{"urls", {a.base() + "?token=" + kToken, b.base() + "/ignored/path?token=tkn_other&extra=1"}},
                        {"gzip", false}};
    DatawaySink sink("dw", DatawaySinkConfig::from_json(t), {});
    std::string err;
    REQUIRE(sink.write({metric_point(0)}, err) == TRIB_OK);
    REQUIRE(a.requests().size() == 1);
    REQUIRE(b.requests().size() == 1);
    CHECK(b.requests()[0].uri == "/ignored/path/v1/write/metric?token=tkn_other&extra=1");

    a.script({{503, "busy"}});
    CHECK(sink.write({metric_point(1)}, err) == TRIB_RETRY);
    CHECK_THAT(err, Catch::Contains("503"));
    a.script({{403, R"({"code":403,"errorCode":"dk.beyondDataUsage"})"}});
    CHECK(sink.write({metric_point(2)}, err) == TRIB_PERMANENT);
    CHECK_THAT(err, Catch::Contains("beyondDataUsage"));

    // Port 1 on loopback: connection refused, a transport error.
    DatawaySink down(
        "dw", DatawaySinkConfig::from_json({{"url", "http://127.0.0.1:1?token=" + kToken}, {"timeout", "1s"}}), {});
    CHECK(down.write({metric_point(0)}, err) == TRIB_RETRY);
    CHECK_FALSE(err.empty());
}

TEST_CASE("dataway: large batches are cut at max_raw_body_kb", "[dataway]") {
    CaptureServer srv;
    auto sink = make_sink(srv, {{"max_raw_body_kb", 1}, {"gzip", false}});
    std::vector<trib::Point> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(metric_point(i));
    std::string err;
    REQUIRE(sink->write(batch, err) == TRIB_OK);
    auto reqs = srv.requests();
    REQUIRE(reqs.size() > 3);
    size_t points = 0;
    for (auto &r : reqs) {
        CHECK(r.body.size() <= 1024);
        points += std::stoul(r.header("X-Points"));
    }
    CHECK(points == 100);
}

TEST_CASE("dataway: config errors name the key", "[dataway]") {
    CHECK_THROWS_WITH(DatawaySinkConfig::from_json(nlohmann::json::object()), Catch::Contains("'urls'"));
    CHECK_THROWS_WITH(DatawaySinkConfig::from_json({{"urls", {"ftp://x"}}}), Catch::Contains("scheme"));
    CHECK_THROWS_WITH(DatawaySinkConfig::from_json({{"url", "http://h?token=t"}, {"timeout", "soon"}}),
                      Catch::Contains("'timeout'"));
    CHECK_THROWS_WITH(DatawaySinkConfig::from_json({{"url", "http://h?token=t"}, {"gzip", "yes"}}),
                      Catch::Contains("'gzip'"));
    CHECK(DatawaySink::write_path("execution_log") == "/v1/write/siem_logging");
    CHECK(DatawaySink::write_path("llm") == "/v1/write/langfuse-v2");
}
