// The pyroscope module (the built pyroscope.so, loaded like the host loads it) against
// recorded agent uploads, a JFR recording, folded text and push requests built here.
#include "test_util.hpp"

#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>
#include <tributary/testing/fake_host.hpp>

#include <push.pb.h>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

using trib::testing::FakeHost;
using namespace pyro_test;

namespace {

const std::string kFix = TRIB_FIXTURES_DIR;

const trib_module_t *module() {
    static const trib_module_t *m = [] {
        std::string err;
        auto *d = FakeHost::load_so(std::string(TRIB_BUILD_DIR) + "/plugins/pyroscope.so", &err);
        INFO(err);
        REQUIRE(d != nullptr);
        return d;
    }();
    return m;
}

struct Running {
    FakeHost host;
    explicit Running(const std::string &cfg = "{}") {
        std::string err;
        REQUIRE(host.create(module(), "pyroscope", cfg, &err) == TRIB_OK);
        REQUIRE(host.start(&err) == TRIB_OK);
    }
    ~Running() { host.stop(); }
};

struct Recorded {
    std::string query, content_type;
};
Recorded recorded(const std::string &json_path) {
    auto j = nlohmann::json::parse(read_file(json_path));
    Recorded r;
    r.query = j["query_raw"].get<std::string>();
    for (auto &h : j["headers"])
        if (h[0] == "content-type") r.content_type = h[1].get<std::string>();
    return r;
}

// The points once `n` have arrived: a profiling_metrics point is emitted by the module's
// metrics pool after the upload is answered.
std::vector<trib::Point> points_when(FakeHost &host, size_t n) {
    trib::test::wait_until([&] { return host.points().size() >= n; }, std::chrono::seconds(10),
                           std::chrono::milliseconds(2));
    return host.points();
}

const trib::Point *find_point(const std::vector<trib::Point> &pts, const std::string &measurement) {
    for (auto &p : pts)
        if (p.measurement == measurement) return &p;
    return nullptr;
}

const trib::Attachment *attachment(const trib::Point &p, const std::string &name) {
    for (auto &a : p.attachments)
        if (a.name == name) return &a;
    return nullptr;
}

std::string tag(const trib::Point &p, const std::string &k) {
    auto *v = p.find_tag(k);
    return v ? *v : "<none>";
}

} // namespace

TEST_CASE("module: routes, sample config, config errors", "[pyroscope]") {
    REQUIRE(std::string(module()->name) == "pyroscope");
    CHECK(std::string(module()->sample_config).find("[[inputs.pyroscope]]") != std::string::npos);
    {
        Running r;
        CHECK(r.host.has_route("POST", "/ingest"));
        CHECK(r.host.has_route("POST", "/push.v1.PusherService/Push"));
    }
    {
        Running r(R"({"endpoints":["/ingest","/pyroscope/ingest"],"io_config":{"cache_capacity_mb":10}})");
        CHECK(r.host.has_route("POST", "/pyroscope/ingest"));
    }
    FakeHost h;
    std::string err;
    CHECK(h.create(module(), "pyroscope", R"({"body_size_limit_mb":"big"})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK(err.find("body_size_limit_mb") != std::string::npos);
    CHECK(h.create(module(), "pyroscope", R"({"endpoints":"ingest"})", &err) == TRIB_INVALID_ARGUMENT);
}

TEST_CASE("@pyroscope/nodejs 0.6.4 raw pprof uploads (recorded)", "[pyroscope][golden]") {
    Running r;
    for (std::string kind : {"wall", "heap"}) {
        auto rec = recorded(kFix + "/pyroscope-nodejs/ingest-" + kind + ".request.json");
        auto body = read_file(kFix + "/pyroscope-nodejs/ingest-" + kind + ".body.pprof.gz");
        r.host.clear_points();
        auto resp = r.host.http("POST", "/ingest?" + rec.query, body, rec.content_type);
        INFO(resp.body);
        REQUIRE(resp.status == 200);
        CHECK(resp.body.empty());
        auto pts = points_when(r.host, 2);
        auto *p = find_point(pts, "profile");
        REQUIRE(p);
        CHECK(p->category == "profiling");
        CHECK(tag(*p, "service") == "acceptance.nodejs");
        CHECK(tag(*p, "language") == "nodejs");
        CHECK(tag(*p, "otel.scope.name") == "com.grafana.pyroscope/nodejs");
        CHECK(tag(*p, "process.runtime.version") == "20.20.2");
        CHECK(tag(*p, "region") == "local");
        CHECK(tag(*p, "script") == "pyroscope_app");
        CHECK(p->time_ns == 1795316562LL * 1'000'000'000);
        auto *a = attachment(*p, "auto.pprof");
        REQUIRE(a);
        CHECK(*a->data == body); // bytes as uploaded
        REQUIRE(attachment(*p, "event.json"));
        auto ev = nlohmann::json::parse(*attachment(*p, "event.json")->data);
        CHECK(ev["profiler"] == "pyroscope");
        CHECK(ev["format"] == "pprof");
        CHECK(ev["attachments"] == nlohmann::json::array({"auto.pprof"}));
        auto *m = find_point(pts, "profiling_metrics");
        REQUIRE(m);
        CHECK(m->find_field(kind == "wall" ? "prof_nodejs_wall_time" : "prof_nodejs_lifetime_heap_bytes"));
        check_golden("nodejs-0.6.4-" + kind, render(pts));
    }
}

TEST_CASE("global host tags reach event.json's tags_profiler, filling missing keys only", "[pyroscope]") {
    // The module writes event.json in its final form (sinks forward it unchanged), so the
    // host's global tags are in tags_profiler; the agent's own service is not overridden.
    FakeHost host;
    host.set_global_tag("host", "box1");
    host.set_global_tag("service", "from-global");
    std::string err;
    REQUIRE(host.create(module(), "pyroscope", R"({"tags":{"team":"blue"}})", &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    auto rec = recorded(kFix + "/pyroscope-nodejs/ingest-wall.request.json");
    auto resp = host.http("POST", "/ingest?" + rec.query,
                          read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz"), rec.content_type);
    REQUIRE(resp.status == 200);
    auto pts = host.points();
    host.stop();
    auto *p = find_point(pts, "profile");
    REQUIRE(p);
    REQUIRE(attachment(*p, "event.json"));
    auto ev = nlohmann::json::parse(*attachment(*p, "event.json")->data);
    std::string tp = ev["tags_profiler"];
    INFO(tp);
    CHECK(tp.find("host:box1") != std::string::npos);
    CHECK(tp.find("team:blue") != std::string::npos);
    CHECK(tp.find("service:acceptance.nodejs") != std::string::npos);
    CHECK(tp.find("from-global") == std::string::npos);
    CHECK(tag(*p, "service") == "acceptance.nodejs");
    CHECK(tag(*p, "host") == "box1");
}

TEST_CASE("@pyroscope/nodejs 0.6.1 multipart uploads (recorded)", "[pyroscope][golden]") {
    Running r;
    for (std::string kind : {"wall", "heap"}) {
        auto rec = recorded(kFix + "/pyroscope-nodejs-0.6.1-multipart/ingest-" + kind + ".request.json");
        auto body = read_file(kFix + "/pyroscope-nodejs-0.6.1-multipart/ingest-" + kind + ".body.multipart");
        auto part = read_file(kFix + "/pyroscope-nodejs-0.6.1-multipart/ingest-" + kind + ".part-profile.pprof.gz");
        r.host.clear_points();
        auto resp = r.host.http("POST", "/ingest?" + rec.query, body, rec.content_type);
        INFO(resp.body);
        REQUIRE(resp.status == 200);
        auto pts = points_when(r.host, 2);
        auto *p = find_point(pts, "profile");
        REQUIRE(p);
        CHECK(tag(*p, "service") == "acceptance.nodejs");
        CHECK(tag(*p, "otel.scope.version") == "0.6.1");
        REQUIRE(attachment(*p, "auto.pprof"));
        CHECK(*attachment(*p, "auto.pprof")->data == part);
        check_golden("nodejs-0.6.1-multipart-" + kind, render(pts));
    }
}

TEST_CASE("JFR posted the way the Pyroscope Java agent posts it", "[pyroscope][jfr][golden]") {
    Running r;
    auto jfr = gzip_of(read_file(kFix + "/jfr/acceptance.jfr"), 1);
    trib::profiling::MultipartWriter w("pyroscope-java-boundary");
    w.add_file("jfr", "jfr", "application/octet-stream", jfr);
    auto body = w.finish();
    auto resp = r.host.http("POST",
                            "/ingest?name=java.app%7Bservice%3Dbilling%2Cenv%3Dprod%7D&from=1795316625&until=1795316630"
                            "&format=jfr&spyName=javaspy&units=samples&aggregationType=sum&sampleRate=100",
                            body, w.content_type());
    INFO(resp.body);
    REQUIRE(resp.status == 200);
    auto pts = points_when(r.host, 2);
    auto *p = find_point(pts, "profile");
    REQUIRE(p);
    CHECK(tag(*p, "service") == "billing");
    CHECK(tag(*p, "name") == "java.app");
    CHECK(tag(*p, "language") == "java");
    CHECK(tag(*p, "env") == "prod");
    auto *a = attachment(*p, "auto.jfr");
    REQUIRE(a);
    CHECK(*a->data == jfr); // the JFR exactly as the agent sent it
    auto decoded = trib::profiling::decode_jfr(*a->data);
    // The busy program's hot method is among the top CPU leaf frames.
    std::map<std::string, int64_t> leaves;
    for (auto &s : decoded.cpu.sample()) {
        for (auto &l : decoded.cpu.location())
            if (l.id() == s.location_id(0))
                for (auto &f : decoded.cpu.function())
                    if (f.id() == l.line(0).function_id()) leaves[decoded.cpu.string_table(f.name())] += s.value(0);
    }
    std::vector<std::pair<int64_t, std::string>> top;
    for (auto &[k, v] : leaves) top.emplace_back(v, k);
    std::sort(top.rbegin(), top.rend());
    top.resize(std::min<size_t>(top.size(), 5));
    bool busy = false;
    for (auto &t : top) busy |= t.second.rfind("Busy.", 0) == 0;
    CHECK(busy);
    auto *m = find_point(pts, "profiling_metrics");
    REQUIRE(m);
    CHECK(m->find_field("prof_jvm_cpu_cores"));
    check_golden("jfr-multipart", render(pts));

    // A corrupt JFR is a 400 with the reason, and nothing is emitted.
    r.host.clear_points();
    trib::profiling::MultipartWriter bad("b");
    bad.add_file("jfr", "jfr", "application/octet-stream",
                 gzip_of(read_file(kFix + "/jfr/acceptance.jfr").substr(0, 5000), 1));
    auto badbody = bad.finish();
    auto br = r.host.http("POST", "/ingest?name=java.app&format=jfr&spyName=javaspy", badbody, bad.content_type());
    CHECK(br.status == 400);
    CHECK(br.body.find("jfr") != std::string::npos);
    CHECK(r.host.points().empty());
}

TEST_CASE("folded and lines text uploads", "[pyroscope][golden]") {
    Running r;
    std::string folded = "main;work;spin 30\nmain;idle 10\nmain;work;spin 2\n";
    auto resp = r.host.http(
        "POST",
        "/ingest?name=folded.app%7Bteam%3Dcore%7D&from=1795316000&until=1795316010&spyName=ebpfspy&sampleRate=100",
        folded, "text/plain");
    INFO(resp.body);
    REQUIRE(resp.status == 200);
    auto pts = r.host.points();
    auto *p = find_point(pts, "profile");
    REQUIRE(p);
    CHECK(tag(*p, "team") == "core");
    CHECK(tag(*p, "language") == "ebpf");
    auto prof = trib::profiling::parse_pprof(*attachment(*p, "auto.pprof")->data);
    CHECK(trib::profiling::sum_sample_values(prof, 0) == 42);
    CHECK(trib::profiling::sum_sample_values(prof, 1) == 42 * 10'000'000LL);
    CHECK(prof.sample_size() == 2);
    check_golden("folded", render(pts));

    r.host.clear_points();
    auto lr =
        r.host.http("POST", "/ingest?name=lines.app&format=lines&from=1795316000&until=1795316010", "a;b\na;b\na;c\n");
    REQUIRE(lr.status == 200);
    auto lp = trib::profiling::parse_pprof(*attachment(r.host.points().at(0), "auto.pprof")->data);
    CHECK(trib::profiling::sum_sample_values(lp, 0) == 3);

    CHECK(r.host.http("POST", "/ingest?name=x", "main;work notanumber\n", "text/plain").status == 400);
}

TEST_CASE("Go multipart upload names the file from sample_type_config", "[pyroscope]") {
    Running r;
    auto heap = read_file(kFix + "/go-pprof/heap.pb.gz");
    trib::profiling::MultipartWriter w("go-boundary");
    w.add_file("profile", "profile.pprof", "application/octet-stream", heap);
    w.add_file(
        "sample_type_config", "sample_type_config.json", "application/octet-stream",
        R"({"alloc_objects":{"units":"objects","cumulative":true},"alloc_space":{"units":"bytes","cumulative":true},)"
        R"("inuse_objects":{"units":"objects","aggregation":"average"},"inuse_space":{"units":"bytes","aggregation":"average"}})");
    auto body = w.finish();
    auto resp =
        r.host.http("POST",
                    "/ingest?name=go.app%7B__session_id__%3D0123456789abcdef%2Cotel.scope.name%3Dpyroscope-go%7D"
                    "&from=1795316000000000000&until=1795316015000000000&spyName=gospy&sampleRate=100",
                    body, w.content_type());
    INFO(resp.body);
    REQUIRE(resp.status == 200);
    auto pts = r.host.points();
    auto *p = find_point(pts, "profile");
    REQUIRE(p);
    CHECK(tag(*p, "language") == "golang");
    CHECK(tag(*p, "__session_id__") == "0123456789abcdef");
    CHECK(p->time_ns == 1795316000000000000LL); // ns by magnitude
    REQUIRE(attachment(*p, "delta-heap.pprof"));
    CHECK(*attachment(*p, "delta-heap.pprof")->data == heap);
    CHECK(trib::profiling::go_profile_file_name(R"({"goroutine":{}})") == "goroutines.pprof");
    CHECK(trib::profiling::go_profile_file_name(R"({"contentions":{"display-name":"block_count"},"delay":{}})") ==
          "delta-block.pprof");
    CHECK(trib::profiling::go_profile_file_name(R"({"contentions":{"display-name":"mutex_count"}})") ==
          "delta-mutex.pprof");
}

TEST_CASE("answers: 400 bad name, 413 too large, 415 trie, 429 backpressure", "[pyroscope]") {
    Running r(R"({"body_size_limit_mb":0.01})");
    auto gz = read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    CHECK(
        r.host.http("POST", "/ingest?name=bad%20app%7Bx%3D1%7D&format=pprof", gz, "application/octet-stream").status ==
        400);
    CHECK(r.host.http("POST", "/ingest?name=app%7Bx%3D1", gz, "application/octet-stream").status == 400);
    CHECK(r.host.http("POST", "/ingest?format=pprof", gz, "application/octet-stream").status == 400);
    CHECK(r.host.http("POST", "/ingest?name=app&format=pprof", std::string(20000, 'x'), "application/octet-stream")
              .status == 413);
    auto trie = r.host.http("POST", "/ingest?name=app&format=trie", "xx", "binary/octet-stream+trie");
    CHECK(trie.status == 415);
    CHECK(trie.body.find("trie") != std::string::npos);
    CHECK(r.host.http("POST", "/ingest?name=app&format=pprof", "not a pprof", "binary/octet-stream").status == 400);
    CHECK(r.host.http("POST", "/ingest?name=app&from=yesterday", gz, "application/octet-stream").status == 400);
    CHECK(r.host.points().empty());

    r.host.set_backpressure(true);
    auto bp = r.host.http("POST", "/ingest?name=app&format=pprof", gz, "binary/octet-stream");
    CHECK(bp.status == 429);
    CHECK(bp.header("Retry-After") == "1");
    r.host.set_backpressure(false);
    CHECK(r.host.http("POST", "/ingest?name=app&format=pprof", gz, "binary/octet-stream").status == 200);
}

TEST_CASE("push API: proto, gzip and JSON PushRequests; Connect errors", "[pyroscope][golden]") {
    Running r;
    auto cpu = read_file(kFix + "/go-pprof/cpu.pb.gz");
    auto heap = read_file(kFix + "/go-pprof/heap.pb.gz");
    push::v1::PushRequest req;
    auto add_series = [&](const std::string &type, const std::string &raw) {
        auto *s = req.add_series();
        for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{"__name__", type},
                                                                            {"service_name", "push.go.app"},
                                                                            {"__spy_name__", "gospy"},
                                                                            {"env", "staging"},
                                                                            {"k8s.pod.name", "api-7d9"}}) {
            auto *l = s->add_labels();
            l->set_name(k);
            l->set_value(v);
        }
        s->add_samples()->set_raw_profile(raw);
    };
    add_series("process_cpu", cpu);
    add_series("memory", heap);
    std::string bin = req.SerializeAsString();

    auto resp = r.host.http("POST", "/push.v1.PusherService/Push", gzip_of(bin, 1), "application/proto",
                            {{"Content-Encoding", "gzip"}, {"Connect-Protocol-Version", "1"}});
    INFO(resp.body);
    REQUIRE(resp.status == 200);
    auto pts = points_when(r.host, 4);
    std::vector<const trib::Point *> profiles;
    for (auto &p : pts)
        if (p.measurement == "profile") profiles.push_back(&p);
    REQUIRE(profiles.size() == 2);
    CHECK(tag(*profiles[0], "service") == "push.go.app");
    CHECK(tag(*profiles[0], "language") == "golang");
    CHECK(tag(*profiles[0], "k8s.pod.name") == "api-7d9");
    REQUIRE(attachment(*profiles[0], "cpu.pprof"));
    CHECK(*attachment(*profiles[0], "cpu.pprof")->data == cpu);
    REQUIRE(attachment(*profiles[1], "delta-heap.pprof"));
    check_golden("push-proto-gzip", render(pts));

    // proto3 JSON of the same request
    r.host.clear_points();
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(req, &json).ok());
    auto jr = r.host.http("POST", "/push.v1.PusherService/Push", json, "application/json");
    INFO(jr.body);
    REQUIRE(jr.status == 200);
    CHECK(r.host.points().size() >= 2);

    auto bad = r.host.http("POST", "/push.v1.PusherService/Push", "\xff\xff\xff", "application/proto");
    CHECK(bad.status == 400);
    auto err = nlohmann::json::parse(bad.body);
    CHECK(err["code"] == "invalid_argument");
    CHECK(!err["message"].get<std::string>().empty());

    push::v1::PushRequest junk;
    junk.add_series()->add_samples()->set_raw_profile("definitely not pprof");
    auto bj = r.host.http("POST", "/push.v1.PusherService/Push", junk.SerializeAsString(), "application/proto");
    CHECK(bj.status == 400);
    CHECK(r.host.http("POST", "/push.v1.PusherService/Push", bin, "text/plain").status == 415);

    r.host.set_backpressure(true);
    auto bp = r.host.http("POST", "/push.v1.PusherService/Push", bin, "application/proto");
    CHECK(bp.status == 429);
    CHECK(nlohmann::json::parse(bp.body)["code"] == "resource_exhausted");
}

TEST_CASE("metrics_sync: the same profiling_metrics point before the answer as after it", "[pyroscope]") {
    auto rec = recorded(kFix + "/pyroscope-nodejs/ingest-wall.request.json");
    auto body = read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    Running sync(R"({"metrics_sync": true})");
    REQUIRE(sync.host.http("POST", "/ingest?" + rec.query, body, rec.content_type).status == 200);
    auto now = sync.host.points(); // emitted with the profile point, before the 200
    REQUIRE(now.size() == 2);
    Running pooled;
    REQUIRE(pooled.host.http("POST", "/ingest?" + rec.query, body, rec.content_type).status == 200);
    auto later = points_when(pooled.host, 2);
    REQUIRE(later.size() == 2);
    auto *a = find_point(now, "profiling_metrics"), *b = find_point(later, "profiling_metrics");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(render({*a}) == render({*b}));
    CHECK(b->find_field("prof_nodejs_wall_time"));
    CHECK(sync.host.counter("pyroscope_metrics_inline") == 0);
}

TEST_CASE("name and time parsing", "[pyroscope]") {
    using trib::profiling::parse_app_name;
    auto n = parse_app_name("my-app.prod{__session_id__=ab12,otel.scope.name=x/y,k-8=v 1}");
    CHECK(n.app == "my-app.prod");
    REQUIRE(n.labels.size() == 3);
    CHECK(n.labels[1] == std::make_pair(std::string("otel.scope.name"), std::string("x/y")));
    CHECK(n.labels[2].first == "k-8");
    CHECK(parse_app_name("app{}").labels.empty());
    CHECK_THROWS_AS(parse_app_name("{a=b}"), trib::profiling::DecodeError);
    CHECK_THROWS_AS(parse_app_name("app{a}"), trib::profiling::DecodeError);
    CHECK_THROWS_AS(parse_app_name("app{a b=c}"), trib::profiling::DecodeError);
    CHECK_THROWS_AS(parse_app_name("app{a=b}x"), trib::profiling::DecodeError);
    using trib::profiling::pyroscope_time_to_ns;
    CHECK(pyroscope_time_to_ns("1795316562") == 1795316562000000000LL);
    CHECK(pyroscope_time_to_ns("1795316562123") == 1795316562123000000LL);
    CHECK(pyroscope_time_to_ns("1795316562123456") == 1795316562123456000LL);
    CHECK(pyroscope_time_to_ns("1795316562123456789") == 1795316562123456789LL);
    CHECK_THROWS(pyroscope_time_to_ns("-5"));
}
