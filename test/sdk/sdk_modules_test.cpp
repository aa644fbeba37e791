// The out-of-tree modules (sdk/examples and test/sdk/abi_modules, built by the
// sdk.out_of_tree_build fixture against the installed SDK) loaded with dlopen into the
// SDK's FakeHost: what each one emits, answers and refuses.
#include <catch2/catch.hpp>

#include <tributary/testing/fake_host.hpp>

#include <nlohmann/json.hpp>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using trib::testing::FakeHost;

namespace {

std::string module_path(const std::string &name) { return std::string(TRIB_SDK_EXT_PLUGINS_DIR) + "/" + name + ".so"; }

const trib_module_t *load(const std::string &name) {
    std::string err;
    const trib_module_t *m = FakeHost::load_so(module_path(name), &err);
    INFO("loading " << module_path(name) << ": " << err);
    REQUIRE(m != nullptr);
    return m;
}

const trib::Point *find_point(const std::vector<trib::Point> &pts, std::string_view measurement, size_t nth = 0) {
    for (auto &p : pts)
        if (p.measurement == measurement && nth-- == 0) return &p;
    return nullptr;
}

std::vector<nlohmann::json> read_json_lines(const std::string &path) {
    std::ifstream in(path);
    std::vector<nlohmann::json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/trib-sdk-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

} // namespace

TEST_CASE("example_input descriptor comes from the out-of-tree build", "[sdk][example_input]") {
    const trib_module_t *m = load("example_input");
    CHECK(std::string(m->name) == "example_input");
    CHECK(m->kind == TRIB_KIND_INPUT);
    CHECK(m->abi_major == TRIB_ABI_MAJOR);
    CHECK(m->abi_minor == TRIB_ABI_MINOR_CURRENT);
    CHECK(m->struct_size == sizeof(trib_module_t));
    CHECK(m->write == nullptr);
    // The embedded sample config is the .conf.sample file, byte for byte.
    std::ifstream in(std::string(TRIB_SOURCE_DIR) + "/sdk/examples/example_input/example_input.conf.sample");
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(std::string(m->sample_config) == ss.str());
}

TEST_CASE("example_input refuses bad config naming the key", "[sdk][example_input]") {
    const trib_module_t *m = load("example_input");
    FakeHost host;
    std::string err;
    CHECK(host.create(m, "bad", R"({"interval_ms": -5})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("interval_ms"));
    CHECK(host.create(m, "bad", R"({"interval_ms": "fast"})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("interval_ms"));
    CHECK(host.create(m, "bad", R"({"route": "no-slash"})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("route"));
    CHECK(host.create(m, "bad", "[1,2", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("JSON"));
}

TEST_CASE("example_input emits a metric per timer tick", "[sdk][example_input]") {
    const trib_module_t *m = load("example_input");
    FakeHost host;
    host.set_global_tag("host", "test-host");
    std::string err;
    REQUIRE(host.create(m, "ticker", R"({"interval_ms": 25, "route": "/t/echo", "tags": {"x": "y"}})", &err) ==
            TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    host.fire_timers();
    host.fire_timers();
    auto pts = host.points();
    REQUIRE(pts.size() == 2);
    const trib::Point &p = pts[1];
    CHECK(p.measurement == "example_input");
    CHECK(p.category == "metric");
    CHECK(p.time_ns > 1600000000000000000LL);
    REQUIRE(p.find_tag("instance"));
    CHECK(*p.find_tag("instance") == "ticker");
    REQUIRE(p.find_tag("host"));
    CHECK(*p.find_tag("host") == "test-host");
    REQUIRE(p.find_field("tick"));
    CHECK(p.find_field("tick")->type == TRIB_FIELD_UINT);
    CHECK(p.find_field("tick")->u == 2);
    CHECK(p.find_field("interval_ms")->i == 25);
    CHECK(p.find_field("leader")->b == true);
    CHECK(host.counter("ticks_emitted") == 2);

    SECTION("backpressure skips and counts the tick") {
        host.set_backpressure(true);
        host.fire_timers();
        host.set_backpressure(false);
        host.fire_timers();
        pts = host.points();
        REQUIRE(pts.size() == 3);
        CHECK(pts[2].find_field("tick")->u == 4);
        CHECK(pts[2].find_field("ticks_skipped")->u == 1);
        CHECK(host.counter("ticks_skipped") == 1);
    }
    SECTION("leadership is visible in the next point") {
        host.leadership(false);
        host.fire_timers();
        CHECK(host.points().back().find_field("leader")->b == false);
    }
    host.stop();
}

TEST_CASE("example_input echo route: 200 after emit, 429 on backpressure, 413 over the limit", "[sdk][example_input]") {
    const trib_module_t *m = load("example_input");
    FakeHost host;
    std::string err;
    REQUIRE(host.create(m, "echoer", R"({"route": "/e/echo", "max_body_bytes": 16})", &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    CHECK(host.has_route("POST", "/e/echo"));
    CHECK_FALSE(host.has_route("GET", "/e/echo"));

    auto r = host.http("POST", "/e/echo?service=web%20api&env=prod", "hello world", "text/plain");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"status":"ok"})");
    auto pts = host.points();
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "example_echo");
    CHECK(*pts[0].find_tag("service") == "web api");
    CHECK(*pts[0].find_tag("env") == "prod");
    CHECK(*pts[0].find_tag("instance") == "echoer");
    CHECK(pts[0].find_field("message")->s == "hello world");
    CHECK(pts[0].find_field("body_bytes")->i == 11);
    CHECK(host.counter("echo_requests") == 1);

    host.set_backpressure(true);
    r = host.http("POST", "/e/echo", "busy?");
    CHECK(r.status == 429);
    CHECK(r.header("Retry-After") == "1");
    host.set_backpressure(false);
    CHECK(host.points().size() == 1);

    r = host.http("POST", "/e/echo", std::string(17, 'x'));
    CHECK(r.status == 413);
    r = host.http("POST", "/e/echo?=v", "x");
    CHECK(r.status == 400);
    CHECK(host.points().size() == 1);
    host.stop();
}

TEST_CASE("example_input echo route serves concurrent requests", "[sdk][example_input]") {
    const trib_module_t *m = load("example_input");
    FakeHost host;
    std::string err;
    REQUIRE(host.create(m, "busy", "{}", &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    constexpr int kThreads = 8, kEach = 50;
    std::atomic<int> ok{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                auto r = host.http("POST", "/example/echo?worker=" + std::to_string(t), "n=" + std::to_string(i));
                if (r.status == 200) ++ok;
            }
        });
    for (auto &w : workers) w.join();
    CHECK(ok == kThreads * kEach);
    auto pts = host.points();
    CHECK(pts.size() == size_t(kThreads * kEach));
    std::map<std::string, int> per_worker;
    for (auto &p : pts) per_worker[*p.find_tag("worker")]++;
    CHECK(per_worker.size() == size_t(kThreads));
    for (auto &kv : per_worker) CHECK(kv.second == kEach);
    CHECK(host.counter("echo_requests") == kThreads * kEach);
    host.stop();
}

TEST_CASE("example_sink writes one JSON line per point", "[sdk][example_sink]") {
    const trib_module_t *m = load("example_sink");
    CHECK(m->kind == TRIB_KIND_SINK);
    REQUIRE(m->write != nullptr);
    TempDir dir;
    std::string path = dir.path + "/nested/out.jsonl";
    FakeHost host;
    std::string err;
    REQUIRE(host.create(m, "json", nlohmann::json{{"path", path}, {"name", "json"}}.dump(), &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);

    std::vector<trib::Point> pts;
    trib::Point a("cpu", "metric", 1700000000123456789LL);
    a.tag("host", "h1").tag("space key", "v,=\"");
    a.field(trib::Field::Int("i", -42));
    a.field(trib::Field::Uint("u", 18446744073709551615ULL));
    a.field(trib::Field::Float("f", 0.25));
    a.field(trib::Field::Bool("b", true));
    a.field(trib::Field::String("s", "line\n\"quoted\""));
    a.field(trib::Field::Bytes("raw", std::string("\x00\x01\x02\xff", 4)));
    trib::Point b("profile", "profiling", 1700000000000000001LL);
    b.field(trib::Field::String("profile_id", "abc"));
    b.field(trib::Field::String("bad_utf8", std::string("ok\xc3\x28", 4)));
    b.attach("cpu.pprof", "application/octet-stream", std::string(1234, '\x7f'));
    b.attach("event.json", "application/json", std::string("{}"));
    pts.push_back(a);
    pts.push_back(b);
    trib::BatchView view(pts);
    char errbuf[256] = {0};
    REQUIRE(m->write(host.instance(), view.get(), errbuf, sizeof errbuf) == TRIB_OK);
    REQUIRE(m->write(host.instance(), view.get(), errbuf, sizeof errbuf) == TRIB_OK);
    host.stop();

    auto lines = read_json_lines(path);
    REQUIRE(lines.size() == 4);
    const auto &j = lines[0];
    CHECK(j["measurement"] == "cpu");
    CHECK(j["category"] == "metric");
    CHECK(j["time_ns"].get<int64_t>() == 1700000000123456789LL);
    CHECK(j["tags"]["host"] == "h1");
    CHECK(j["tags"]["space key"] == "v,=\"");
    CHECK(j["fields"]["i"].get<int64_t>() == -42);
    CHECK(j["fields"]["u"].get<uint64_t>() == 18446744073709551615ULL);
    CHECK(j["fields"]["f"].get<double>() == 0.25);
    CHECK(j["fields"]["b"] == true);
    CHECK(j["fields"]["s"] == "line\n\"quoted\"");
    CHECK(j["fields"]["raw"]["base64"] == "AAEC/w==");
    CHECK(j["attachments"].empty());
    const auto &k = lines[1];
    CHECK(k["measurement"] == "profile");
    CHECK(k["fields"]["bad_utf8"] == "ok\xef\xbf\xbd(");
    REQUIRE(k["attachments"].size() == 2);
    CHECK(k["attachments"][0]["name"] == "cpu.pprof");
    CHECK(k["attachments"][0]["size"] == 1234);
    CHECK(k["attachments"][1]["name"] == "event.json");
    CHECK(k["attachments"][1]["content_type"] == "application/json");
    CHECK(k["attachments"][1]["size"] == 2);
    CHECK(lines[2] == lines[0]);
    CHECK(host.counter("lines_written") == 4);
}

TEST_CASE("example_sink config and I/O errors are reported, not crashed on", "[sdk][example_sink]") {
    const trib_module_t *m = load("example_sink");
    FakeHost host;
    std::string err;
    CHECK(host.create(m, "nopath", "{}", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("path"));
    CHECK(host.create(m, "badpath", R"({"path": 3})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("path"));

    TempDir dir;
    std::string blocker = dir.path + "/file";
    std::ofstream(blocker) << "x";
    // The parent "directory" is a regular file: start() must fail with the path in the message.
    REQUIRE(host.create(m, "blocked", nlohmann::json{{"path", blocker + "/out.jsonl"}}.dump(), &err) == TRIB_OK);
    CHECK(host.start(&err) != TRIB_OK);
    CHECK_THAT(err, Catch::Contains(blocker));
}

TEST_CASE("a module built against ABI minor 0 loads and runs in a minor-1 host", "[sdk][abi]") {
    const trib_module_t *m = load("abi_old_minor");
    CHECK(m->abi_major == TRIB_ABI_MAJOR);
    CHECK(m->abi_minor == 0);
    // The 1.0 descriptor ends before on_leadership/health.
    CHECK(m->struct_size < sizeof(trib_module_t));
    CHECK_FALSE(TRIB_HAS_FIELD(trib_module_t, m, on_leadership));
    CHECK_FALSE(TRIB_HAS_FIELD(trib_module_t, m, health));

    FakeHost host;
    host.set_global_tag("host", "h2");
    std::string err;
    REQUIRE(host.create(m, "old", R"({"interval_ms": 30})", &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    host.leadership(false); // must not touch the absent on_leadership slot
    host.fire_timers();
    auto pts = host.points();
    REQUIRE(pts.size() == 1);
    CHECK(pts[0].measurement == "abi_old_minor");
    CHECK(*pts[0].find_tag("built_abi") == "1.0");
    CHECK(*pts[0].find_tag("instance") == "old");
    CHECK(*pts[0].find_tag("host") == "h2");
    CHECK(pts[0].find_field("tick")->i == 1);
    CHECK(pts[0].find_field("module_struct_size")->u == m->struct_size);
    CHECK(pts[0].find_field("host_api_struct_size")->u == sizeof(trib_host_api_t));
    CHECK(pts[0].find_field("host_abi_minor")->u == TRIB_ABI_MINOR_CURRENT);
    host.stop();

    CHECK(host.create(m, "old", R"({"interval_ms": 0})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("interval_ms"));
}

TEST_CASE("a module built for another ABI major is refused by its probe alone", "[sdk][abi]") {
    TempDir dir;
    std::string marker = dir.path + "/called";
    REQUIRE(setenv("TRIB_WRONG_MAJOR_MARKER", marker.c_str(), 1) == 0);
    std::string err;
    CHECK(FakeHost::load_so(module_path("abi_wrong_major"), &err) == nullptr);
    CHECK_THAT(err, Catch::Contains("ABI major"));

    void *h = dlopen(module_path("abi_wrong_major").c_str(), RTLD_NOW | RTLD_LOCAL);
    REQUIRE(h != nullptr);
    auto probe = reinterpret_cast<trib_module_abi_major_fn>(dlsym(h, TRIB_ABI_PROBE_SYMBOL));
    REQUIRE(probe != nullptr);
    CHECK(probe() == 2);
    CHECK_FALSE(fs::exists(marker));

    // The marker really works: calling the entry leaves it (so its absence above means something).
    auto entry = reinterpret_cast<trib_module_entry_fn>(dlsym(h, TRIB_ENTRY_SYMBOL));
    REQUIRE(entry != nullptr);
    entry(TRIB_ABI_MAJOR, TRIB_ABI_MINOR);
    CHECK(fs::exists(marker));
    unsetenv("TRIB_WRONG_MAJOR_MARKER");
}
