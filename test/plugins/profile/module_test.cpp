// The built profile.so in a FakeHost: push answers, golden replays of recorded uploads,
// generate_metrics.
#include "module_fixture.hpp"

#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <thread>

using namespace profile_test;
using trib::profiling::MultipartWriter;

namespace {

struct Recorded {
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string path;
    std::string body;
};

Recorded recorded(const std::string &dir) {
    auto req = nlohmann::json::parse(fixture(dir + "/profiling-input.request.json"));
    Recorded r;
    r.path = req["path"];
    for (auto &h : req["headers"]) {
        std::string name = h[0], value = h[1];
        if (name == "Content-Type") r.content_type = value;
        else r.headers.emplace_back(name, value);
    }
    r.body = fixture(dir + "/profiling-input.body.multipart");
    return r;
}

const trib::Point &only(const std::vector<trib::Point> &pts, const std::string &measurement) {
    const trib::Point *found = nullptr;
    for (auto &p : pts)
        if (p.measurement == measurement) {
            REQUIRE(found == nullptr);
            found = &p;
        }
    REQUIRE(found != nullptr);
    return *found;
}

const trib::Attachment &attachment(const trib::Point &p, const std::string &name) {
    for (auto &a : p.attachments)
        if (a.name == name) return a;
    FAIL("no attachment " << name);
    throw std::logic_error("unreachable");
}

std::string tag(const trib::Point &p, const std::string &k) {
    auto *v = p.find_tag(k);
    return v ? *v : std::string("<absent>");
}

// A dd-trace-go style v4 upload built from the Go fixtures.
std::string go_v4_upload(MultipartWriter &w, const std::string &event) {
    w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", fixture("go-pprof/cpu.pb.gz"));
    w.add_file("delta-heap.pprof", "delta-heap.pprof", "application/octet-stream", fixture("go-pprof/heap.pb.gz"));
    w.add_file("event", "event.json", "application/json", event);
    return w.finish();
}

const char *kGoEvent =
    R"({"attachments":["cpu.pprof","delta-heap.pprof"],"start":"2026-11-22T03:03:30Z","end":"2026-11-22T03:03:40Z",)"
    R"("family":"go","version":"4","tags_profiler":"service:go-app,env:staging,version:2.0,runtime:go,)"
    R"(profiler_version:v1.60.0,runtime_version:go1.19.8,runtime_os:linux,runtime_arch:amd64,runtime-id:rid-1,process_id:77"})";

} // namespace

TEST_CASE("golden: recorded dd-trace-js uploads become the expected points") {
    for (std::string dir : {"ddtrace-nodejs", "ddtrace-nodejs-zstd"}) {
        INFO(dir);
        Instance inst;
        auto rec = recorded(dir);
        auto resp = inst.host.http("POST", rec.path, rec.body, rec.content_type, rec.headers);
        REQUIRE(resp.status == 200);
        CHECK(resp.body.empty());
        auto pts = inst.points_when(2);
        std::string rendered = render(pts);
        std::string ref_path = std::string(PROFILE_GOLDEN_DIR) + "/" + dir + ".reference";
        if (const char *upd = std::getenv("TRIB_UPDATE_GOLDEN"); upd && std::string(upd) == "1") {
            std::ofstream(ref_path, std::ios::binary) << rendered;
            WARN("rewrote " << ref_path);
        }
        CHECK(rendered == read_file(ref_path));

        // What a user checks, spelled out.
        auto &p = only(pts, "profile");
        CHECK(tag(p, "service") == "acceptance-node");
        CHECK(tag(p, "env") == "acceptance");
        CHECK(tag(p, "version") == "1.0.0");
        CHECK(tag(p, "language") == "nodejs");
        CHECK(tag(p, "runtime") == "nodejs");
        CHECK(tag(p, "runtime_os") == "linux");
        CHECK(tag(p, "runtime_arch") == "x64");
        CHECK(tag(p, "runtime_version") == "v20.20.2");
        CHECK(tag(p, "profiler_version") == "5.132.0");
        // The expected values, read from the event the client sent.
        auto ev = nlohmann::json::parse(fixture(dir + "/part-event.json"));
        std::string tp = ev["tags_profiler"];
        auto tag_in_event = [&](const std::string &k) {
            auto pos = tp.find(k + ":");
            REQUIRE(pos != std::string::npos);
            return tp.substr(pos + k.size() + 1, tp.find(',', pos) - pos - k.size() - 1);
        };
        CHECK(p.find_field("runtime_id")->s == tag_in_event("runtime-id"));
        CHECK(p.find_field("pid")->s == tag_in_event("process_id"));
        CHECK(p.find_field("format")->s == "pprof");
        int64_t start = trib::profiling::parse_rfc3339_ns(ev["start"].get<std::string>());
        int64_t end = trib::profiling::parse_rfc3339_ns(ev["end"].get<std::string>());
        CHECK(p.time_ns == start);
        CHECK(p.find_field("start")->i == start / 1000);
        CHECK(p.find_field("duration")->i == (end - start) / 1000);
        std::string ext = dir == "ddtrace-nodejs" ? ".gz" : ".zst";
        CHECK(*attachment(p, "wall.pprof").data == fixture(dir + "/part-wall.pprof" + ext));
        CHECK(*attachment(p, "space.pprof").data == fixture(dir + "/part-space.pprof" + ext));
        CHECK(*attachment(p, "events.pprof").data == fixture(dir + "/part-events.pprof" + ext));
        // No tag changed (no input or global tags here): the client's own event is kept.
        CHECK(*attachment(p, "event.json").data == fixture(dir + "/part-event.json"));
        auto &m = only(pts, "profiling_metrics");
        CHECK(tag(m, "language") == "nodejs");
        CHECK(m.find_field("prof_nodejs_cpu_cores")->f > 0);
    }
}

TEST_CASE("input tags override, global tags fill, and the event is rewritten") {
    Instance inst(R"({"tags":{"env":"from-input","team":"core"}})");
    inst.host.set_global_tag("host", "collector-1");
    inst.host.set_global_tag("service", "global-must-not-win");
    auto rec = recorded("ddtrace-nodejs");
    REQUIRE(inst.host.http("POST", rec.path, rec.body, rec.content_type).status == 200);
    auto pts = inst.host.points();
    auto &p = only(pts, "profile");
    CHECK(tag(p, "env") == "from-input");
    CHECK(tag(p, "team") == "core");
    CHECK(tag(p, "host") == "collector-1");
    CHECK(tag(p, "service") == "acceptance-node");
    auto ev = nlohmann::json::parse(*attachment(p, "event.json").data);
    CHECK(ev["language"] == "nodejs");
    CHECK(ev["format"] == "pprof");
    CHECK(ev["start"] == "2026-11-22T03:03:01.86Z");
    CHECK(ev["attachments"] == nlohmann::json::array({"space.pprof", "events.pprof", "wall.pprof"}));
    std::string tp = ev["tags_profiler"];
    CHECK(tp.find("env:from-input") != std::string::npos);
    CHECK(tp.find("host:collector-1") != std::string::npos);
    CHECK(tp.find("team:core") != std::string::npos);
}

TEST_CASE("dd-trace-go v4 upload: Go metrics from the pprofs") {
    Instance inst;
    MultipartWriter w("go-boundary-1");
    auto body = go_v4_upload(w, kGoEvent);
    auto resp = inst.host.http("POST", "/profiling/v1/input", body, w.content_type());
    REQUIRE(resp.status == 200);
    auto pts = inst.points_when(2);
    auto &p = only(pts, "profile");
    CHECK(tag(p, "language") == "golang");
    CHECK(tag(p, "service") == "go-app");
    CHECK(tag(p, "version") == "2.0");
    CHECK(p.find_field("duration")->i == 10'000'000);
    CHECK(p.find_field("__file_size")->i ==
          int64_t(fixture("go-pprof/cpu.pb.gz").size() + fixture("go-pprof/heap.pb.gz").size()));
    auto &m = only(pts, "profiling_metrics");
    // go tool pprof -raw sums: cpu 3280000000 ns over D = 10 s; inuse 8122 / 24539857.
    CHECK(m.find_field("prof_go_cpu_cores")->f == Approx(0.328));
    CHECK(m.find_field("prof_go_lifetime_heap_objects")->f == 8122);
    CHECK(m.find_field("prof_go_lifetime_heap_bytes")->f == 24539857);
    CHECK(tag(m, "service") == "go-app");
}

TEST_CASE("generate_metrics = false emits the profile point only") {
    Instance inst(R"({"generate_metrics": false})");
    MultipartWriter w("go-boundary-2");
    auto body = go_v4_upload(w, kGoEvent);
    REQUIRE(inst.host.http("POST", "/profiling/v1/input", body, w.content_type()).status == 200);
    auto pts = inst.host.points();
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "profile");
}

TEST_CASE("old form style (dd-trace-go v1): tags[], recording-start/-end, types[N], data[N]") {
    Instance inst;
    MultipartWriter w("form-style");
    for (auto t : {"service:legacy-go", "env:old", "runtime:go", "runtime-id:legacy-rid", "host:app-host"})
        w.add_field("tags[]", t);
    w.add_field("recording-start", "2026-11-22T03:00:00Z");
    w.add_field("recording-end", "2026-11-22T03:01:00Z");
    w.add_field("format", "pprof");
    w.add_field("types[0]", "cpu");
    w.add_file("data[0]", "pprof-data", "application/octet-stream", fixture("go-pprof/cpu.pb.gz"));
    w.add_file("data[heap.pprof]", "pprof-data", "application/octet-stream", fixture("go-pprof/heap.pb.gz"));
    auto body = w.finish();
    auto resp = inst.host.http("POST", "/profiling/v1/input", body, w.content_type());
    REQUIRE(resp.status == 200);
    auto pts = inst.points_when(2);
    auto &p = only(pts, "profile");
    CHECK(tag(p, "service") == "legacy-go");
    CHECK(tag(p, "language") == "golang");
    CHECK(tag(p, "host") == "app-host");
    CHECK(p.find_field("runtime_id")->s == "legacy-rid");
    CHECK(p.find_field("duration")->i == 60'000'000);
    CHECK(p.time_ns == 1795316400000000000LL);
    CHECK(*attachment(p, "cpu.pprof").data == fixture("go-pprof/cpu.pb.gz"));
    CHECK(*attachment(p, "heap.pprof").data == fixture("go-pprof/heap.pb.gz"));
    // There was no event part: DataKit's event is built.
    auto ev = nlohmann::json::parse(*attachment(p, "event.json").data);
    CHECK(ev["language"] == "golang");
    CHECK(ev["end"] == "2026-11-22T03:01:00Z");
    auto &m = only(pts, "profiling_metrics");
    CHECK(m.find_field("prof_go_cpu_cores")->f == Approx(3.28 / 60));
}

TEST_CASE("Content-Encoding: gzip on the whole body is undone, unknown codings get 415") {
    Instance inst;
    auto rec = recorded("ddtrace-nodejs");
    auto resp = inst.host.http("POST", rec.path, gzip_of(rec.body), rec.content_type, {{"Content-Encoding", "gzip"}});
    CHECK(resp.status == 200);
    auto pts = inst.points_when(2);
    CHECK(*attachment(only(pts, "profile"), "wall.pprof").data == fixture("ddtrace-nodejs/part-wall.pprof.gz"));
    inst.host.clear_points();
    resp = inst.host.http("POST", rec.path, rec.body, rec.content_type, {{"Content-Encoding", "br"}});
    CHECK(resp.status == 415);
    resp = inst.host.http("POST", rec.path, "\x1f\x8b junk", rec.content_type, {{"Content-Encoding", "gzip"}});
    CHECK(resp.status == 400);
    CHECK(inst.host.points().empty());
}

TEST_CASE("over body_size_limit_mb: 413 and nothing emitted") {
    Instance inst(R"({"body_size_limit_mb": 1})");
    MultipartWriter w("big");
    w.add_file("event", "event.json", "application/json", kGoEvent);
    w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", std::string((1u << 20) + 10, 'x'));
    auto resp = inst.host.http("POST", "/profiling/v1/input", w.finish(), w.content_type());
    CHECK(resp.status == 413);
    CHECK(inst.host.points().empty());
}

TEST_CASE("bad requests: 400 with the reason, nothing emitted") {
    Instance inst;
    SECTION("not multipart") {
        auto r = inst.host.http("POST", "/profiling/v1/input", "{}", "application/json");
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("multipart/form-data"));
    }
    SECTION("no content type") {
        auto r = inst.host.http("POST", "/profiling/v1/input", "x");
        CHECK(r.status == 400);
    }
    SECTION("broken multipart") {
        auto r =
            inst.host.http("POST", "/profiling/v1/input", "--b\r\nContent-Disposition: form-data; name=x\r\n\r\nabc",
                           "multipart/form-data; boundary=b");
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("closing boundary"));
    }
    SECTION("no profile part") {
        MultipartWriter w("b1");
        w.add_file("event", "event.json", "application/json", kGoEvent);
        auto r = inst.host.http("POST", "/profiling/v1/input", w.finish(), w.content_type());
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("no profile attachment"));
    }
    SECTION("bad event JSON") {
        MultipartWriter w("b2");
        auto body = go_v4_upload(w, R"({"start": "2026-11-22T03:03:30Z", )");
        auto r = inst.host.http("POST", "/profiling/v1/input", body, w.content_type());
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("event part is not valid JSON"));
    }
    SECTION("event JSON that is not an object") {
        MultipartWriter w("b3");
        auto body = go_v4_upload(w, "[1,2]");
        auto r = inst.host.http("POST", "/profiling/v1/input", body, w.content_type());
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("not a JSON object"));
    }
    SECTION("bad start time") {
        MultipartWriter w("b4");
        auto body =
            go_v4_upload(w, R"({"start":"yesterday","end":"2026-11-22T03:03:40Z","tags_profiler":"service:x"})");
        auto r = inst.host.http("POST", "/profiling/v1/input", body, w.content_type());
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("start"));
    }
    SECTION("neither event nor tags[]") {
        MultipartWriter w("b5");
        w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", fixture("go-pprof/cpu.pb.gz"));
        auto r = inst.host.http("POST", "/profiling/v1/input", w.finish(), w.content_type());
        CHECK(r.status == 400);
        CHECK_THAT(r.body, Catch::Contains("not a profiler upload"));
    }
    CHECK(inst.host.points().empty());
}

TEST_CASE("backpressure: 429 with Retry-After, then 200 once the bus drains") {
    Instance inst;
    auto rec = recorded("ddtrace-nodejs");
    inst.host.set_backpressure(true);
    auto r = inst.host.http("POST", rec.path, rec.body, rec.content_type);
    CHECK(r.status == 429);
    CHECK_FALSE(r.header("Retry-After").empty());
    CHECK(inst.host.points().empty());
    inst.host.set_backpressure(false);
    CHECK(inst.host.http("POST", rec.path, rec.body, rec.content_type).status == 200);
    CHECK(inst.points_when(2).size() == 2);
}

TEST_CASE("a corrupt pprof costs the metrics, not the upload") {
    Instance inst;
    MultipartWriter w("b6");
    w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", std::string("\x1f\x8b\x08 not really gzip"));
    w.add_file("event", "event.json", "application/json", kGoEvent);
    auto r = inst.host.http("POST", "/profiling/v1/input", w.finish(), w.content_type());
    CHECK(r.status == 200);
    auto pts = inst.host.points();
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "profile");
    bool logged = false;
    for (auto &l : inst.host.logs()) logged |= l.message.find("generate_metrics") != std::string::npos;
    CHECK(logged);
}

TEST_CASE("metrics_sync: the same profiling_metrics point before the answer as after it") {
    auto rec = recorded("ddtrace-nodejs");
    Instance sync(R"({"metrics_sync": true})");
    REQUIRE(sync.host.http("POST", rec.path, rec.body, rec.content_type).status == 200);
    auto now = sync.host.points(); // emitted with the profile point, before the 200
    REQUIRE(now.size() == 2);
    Instance pooled;
    REQUIRE(pooled.host.http("POST", rec.path, rec.body, rec.content_type).status == 200);
    auto later = pooled.points_when(2);
    REQUIRE(later.size() == 2);
    CHECK(render({only(now, "profiling_metrics")}) == render({only(later, "profiling_metrics")}));
}

TEST_CASE("metrics pool: a burst of uploads gets every metric point, in the pool or inline when it is full") {
    auto rec = recorded("ddtrace-nodejs");
    Instance inst;
    constexpr size_t kUploads = 150; // more than the queue holds (64)
    std::vector<std::thread> clients;
    std::atomic<size_t> ok{0};
    for (int c = 0; c < 3; ++c)
        clients.emplace_back([&] {
            for (size_t i = 0; i < kUploads / 3; ++i)
                ok += inst.host.http("POST", rec.path, rec.body, rec.content_type).status == 200;
        });
    for (auto &t : clients) t.join();
    REQUIRE(ok == kUploads);
    inst.host.stop(); // the pool finishes what is queued before stop() returns
    auto pts = inst.host.points();
    size_t metrics = 0;
    for (auto &p : pts) metrics += p.measurement == "profiling_metrics";
    CHECK(pts.size() == 2 * kUploads);
    CHECK(metrics == kUploads);
    CHECK(inst.host.counter("profile_metrics_dropped") == 0);
}

TEST_CASE("endpoints: every configured path is served with the body limit") {
    Instance inst(R"({"endpoints":["/profiling/v1/input","/custom/profiles"],"body_size_limit_mb":2})");
    CHECK(inst.host.has_route("POST", "/profiling/v1/input"));
    CHECK(inst.host.has_route("POST", "/custom/profiles"));
    auto rec = recorded("ddtrace-nodejs");
    CHECK(inst.host.http("POST", "/custom/profiles", rec.body, rec.content_type).status == 200);
    CHECK(inst.host.http("POST", "/custom/profiles", std::string(3u << 20, 'a'), rec.content_type).status == 413);
}

TEST_CASE("a bad config fails create() with the key and the reason") {
    trib::testing::FakeHost host;
    std::string err;
    CHECK(host.create(profile_module(), "bad", R"({"body_size_limit_mb":"lots"})", &err) != TRIB_OK);
    CHECK_THAT(err, Catch::Contains("body_size_limit_mb"));
    CHECK(host.create(profile_module(), "bad", R"({"go":[{"interval":"10s"}]})", &err) != TRIB_OK);
    CHECK_THAT(err, Catch::Contains("url"));
    CHECK(host.create(profile_module(), "bad", R"({"go":[{"url":"http://x","enabled_types":["cpu","disk"]}]})", &err) !=
          TRIB_OK);
    CHECK_THAT(err, Catch::Contains("disk"));
    CHECK(host.create(profile_module(), "bad", "not json", &err) != TRIB_OK);
}

TEST_CASE("the module describes itself with DataKit's sample config") {
    auto *m = profile_module();
    CHECK(std::string(m->name) == "profile");
    CHECK(m->kind == TRIB_KIND_INPUT);
    std::string sample = m->sample_config;
    CHECK_THAT(sample, Catch::Contains("[[inputs.profile]]"));
    CHECK_THAT(sample, Catch::Contains("endpoints = [\"/profiling/v1/input\"]"));
    CHECK_THAT(sample, Catch::Contains("[[inputs.profile.go]]"));
}

TEST_CASE("dd-trace-java style upload: JVM metrics through the JFR decoder") {
    Instance inst;
    MultipartWriter w("java-b");
    w.add_file("event", "event.json", "application/json",
               R"({"attachments":["main.jfr"],"start":"2026-11-22T03:00:00Z","end":"2026-11-22T03:00:05Z",)"
               R"("family":"java","version":"4","tags_profiler":"service:java-app,language:jvm,runtime:jvm"})");
    w.add_file("main", "main.jfr", "application/octet-stream", fixture("jfr/acceptance.jfr"));
    auto r = inst.host.http("POST", "/profiling/v1/input", w.finish(), w.content_type());
    REQUIRE(r.status == 200);
    auto pts = inst.points_when(2);
    auto &p = only(pts, "profile");
    CHECK(tag(p, "language") == "java");
    CHECK(p.find_field("format")->s == "jfr");
    CHECK(attachment(p, "main").data->size() == fixture("jfr/acceptance.jfr").size());
    auto &m = only(pts, "profiling_metrics");
    CHECK(tag(m, "language") == "java");
    REQUIRE(m.find_field("prof_jvm_cpu_cores"));
    CHECK(m.find_field("prof_jvm_cpu_cores")->f > 0);
}

TEST_CASE("[[inputs.profile.pyroscope]]: its own listener serves /ingest") {
    Instance inst(
        R"({"tags":{"from_input":"1"},"pyroscope":[{"url":"127.0.0.1:0","service":"pyro-svc","env":"dev","tags":{"k":"v"}}]})");
    int port = 0;
    for (auto &l : inst.host.logs())
        if (auto pos = l.message.find("(port "); pos != std::string::npos) port = std::stoi(l.message.substr(pos + 6));
    REQUIRE(port > 0);
    auto req = nlohmann::json::parse(fixture("pyroscope-nodejs/ingest-wall.request.json"));
    std::string body = fixture("pyroscope-nodejs/ingest-wall.body.pprof.gz");
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    Poco::Net::HTTPRequest hr(Poco::Net::HTTPRequest::HTTP_POST, "/ingest?" + req["query_raw"].get<std::string>(),
                              Poco::Net::HTTPMessage::HTTP_1_1);
    hr.setContentType("application/octet-stream");
    hr.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(hr).write(body.data(), static_cast<std::streamsize>(body.size()));
    Poco::Net::HTTPResponse resp;
    std::istream &in = session.receiveResponse(resp);
    std::string answer((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(answer);
    REQUIRE(resp.getStatus() == 200);
    auto pts = inst.host.points();
    auto &p = only(pts, "profile");
    CHECK(tag(p, "language") == "nodejs");
    CHECK(tag(p, "k") == "v");
    CHECK(tag(p, "from_input") == "1");
    bool has_body = false;
    for (auto &a : p.attachments) has_body |= *a.data == body;
    CHECK(has_body);

    // Anything but the ingest routes is 404 there.
    Poco::Net::HTTPClientSession s2("127.0.0.1", static_cast<Poco::UInt16>(port));
    Poco::Net::HTTPRequest get(Poco::Net::HTTPRequest::HTTP_GET, "/", Poco::Net::HTTPMessage::HTTP_1_1);
    s2.sendRequest(get);
    Poco::Net::HTTPResponse r2;
    s2.receiveResponse(r2);
    CHECK(r2.getStatus() == 404);
}

TEST_CASE("[[inputs.profile.pyroscope]] on a taken port fails start() with the address") {
    Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
    std::string url = "127.0.0.1:" + std::to_string(taken.address().port());
    trib::testing::FakeHost host;
    std::string err;
    REQUIRE(host.create(profile_module(), "p", R"({"pyroscope":[{"url":")" + url + R"("}]})", &err) == TRIB_OK);
    CHECK(host.start(&err) != TRIB_OK);
    CHECK_THAT(err, Catch::Contains(url));
    host.stop();
}
