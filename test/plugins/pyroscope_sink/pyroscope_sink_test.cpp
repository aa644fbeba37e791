// The pyroscope sink end to end with the real host binary:
//  - against a capture server (Python, here) that records raw requests and answers
//    scripted statuses: request shape and headers, 400 not retried, 503 retried, 429 dropped
//    after max_retries, profiles past max_age dropped or re-stamped;
//  - real dd-trace (Node) and @pyroscope/nodejs agents → host A (file sink + pyroscope sink)
//    → host B running our `pyroscope` input as the receiver (its push and /ingest handlers):
//    B's points carry service_name and the mapped __name__, the pprofs keep the originals'
//    sample totals, span labels are renamed as configured; JFR goes through /ingest as is.
// No Grafana Pyroscope server is available here: the request shapes follow the public push.proto.
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>

#include <push.pb.h>

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <Poco/Base64Decoder.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace trib::test;
using json = nlohmann::json;

namespace {

std::string unbase64(const std::string &s) {
    std::istringstream in(s);
    Poco::Base64Decoder dec(in);
    std::string out((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
    return out;
}

struct Captured {
    std::string path;
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
};

class CaptureServer {
  public:
    // port 0: any free port.
    explicit CaptureServer(const std::string &statuses, int port = 0) : dir_("pyro-capture") {
        proc_ = std::make_unique<ChildProcess>(std::vector<std::string>{
            "python3", std::string(TRIB_TEST_DATA_DIR) + "/plugins/pyroscope_sink/capture_server.py", dir_.sub("port"),
            dir_.sub("requests.jsonl"), statuses, std::to_string(port)});
        REQUIRE(wait_until([&] { return file_exists(dir_.sub("port")); }, 10000ms, 50ms));
        port_ = std::stoi(read_file(dir_.sub("port")));
    }
    ~CaptureServer() { proc_->stop(SIGTERM, 5000ms); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<Captured> requests() const {
        std::vector<Captured> out;
        if (!file_exists(dir_.sub("requests.jsonl"))) return out;
        std::istringstream in(read_file(dir_.sub("requests.jsonl")));
        for (std::string line; std::getline(in, line);) {
            if (line.empty()) continue;
            auto j = json::parse(line);
            Captured c;
            c.path = j["path"];
            c.status = j["status"];
            for (auto &[k, v] : j["headers"].items()) c.headers[k] = v.get<std::string>();
            c.body = unbase64(j["body_b64"]);
            out.push_back(std::move(c));
        }
        return out;
    }

  private:
    TempDir dir_;
    std::unique_ptr<ChildProcess> proc_;
    int port_ = 0;
};

// Host A: receives (pyroscope input, profile input), keeps everything (file sink), and
// forwards profiles (pyroscope sink, `sink_extra` added to its table).
HostOptions forwarding_host(const std::string &url, const std::string &sink_extra) {
    HostOptions o;
    o.config_text = "[bus]\n  retry_initial_ms = 50\n  retry_max_ms = 200\n"
                    "[[sinks]]\n  type = \"file\"\n"
                    "[[sinks]]\n  type = \"pyroscope\"\n  url = \"" +
                    url +
                    "\"\n"
                    "  categories = [\"profiling\"]\n  measurements = [\"profile\"]\n" +
                    sink_extra;
    o.conf_d["pyroscope/pyroscope.conf"] = "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n";
    o.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    return o;
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The @pyroscope/nodejs wall fixture, posted as the agent does, stamped `from` seconds ago.
void upload_wall(HostProcess &host, const std::string &app, int64_t age_s) {
    std::string body = read_file(std::string(TRIB_FIXTURES_DIR) + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    int64_t from = now_s() - age_s;
    auto r = http("POST",
                  host.url("/ingest?format=pprof&name=" + app +
                           "%7Bregion%3Dlocal%2Cotel.scope.name%3Dx%7D&spyName=nodespy&from=" + std::to_string(from) +
                           "&until=" + std::to_string(from + 5) + "&sampleRate=17"),
                  body, "application/octet-stream");
    INFO(r.body << "\n" << host.log());
    REQUIRE(r.status == 200);
}

std::map<std::string, std::string> labels_of(const push::v1::RawProfileSeries &s) {
    std::map<std::string, std::string> m;
    for (auto &l : s.labels()) m[l.name()] = l.value();
    return m;
}

std::string metric_line(HostProcess &host, const std::string &name) {
    auto r = http("GET", host.url("/metrics"));
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("tributary_module_" + name + "{", 0) == 0) return line;
    return {};
}

std::vector<int64_t> totals(const perftools::profiles::Profile &p) {
    std::vector<int64_t> t;
    for (int i = 0; i < p.sample_type_size(); ++i) t.push_back(trib::profiling::sum_sample_values(p, i));
    return t;
}

} // namespace

TEST_CASE("pyroscope sink: request shape and headers; 400 is not retried", "[pyroscope_sink]") {
    CaptureServer cap("400");
    HostProcess host(forwarding_host(cap.url(),
                                     "  tenant_id = \"team-a\"\n  basic_auth = { username = \"u\", password = \"p\" }\n"
                                     "  headers = { \"X-Extra\" = \"1\" }\n"));
    upload_wall(host, "cap-app", 10);
    REQUIRE(wait_until([&] { return cap.requests().size() >= 1; }, 10000ms));
    std::this_thread::sleep_for(1500ms); // the backoff is 50-200 ms: a retry would be here by now
    auto reqs = cap.requests();
    INFO(host.log());
    REQUIRE(reqs.size() == 1);
    auto &r = reqs[0];
    CHECK(r.path == "/push.v1.PusherService/Push");
    CHECK(r.headers["content-type"] == "application/proto");
    CHECK(r.headers["connect-protocol-version"] == "1");
    CHECK(r.headers["x-scope-orgid"] == "team-a");
    CHECK(r.headers["authorization"] == "Basic dTpw");
    CHECK(r.headers["x-extra"] == "1");
    push::v1::PushRequest req;
    REQUIRE(req.ParseFromString(r.body));
    REQUIRE(req.series_size() == 1);
    auto labels = labels_of(req.series(0));
    CHECK(labels["service_name"] == "cap-app");
    CHECK(labels["__name__"] == "wall");
    CHECK(labels["__delta__"] == "false");
    CHECK(labels["region"] == "local");
    CHECK(labels["otel_scope_name"] == "x"); // dots and other characters become `_`
    CHECK(labels.count("spyName") == 0);
    CHECK(labels.size() <= 30);
    for (auto &[k, v] : labels) CHECK(std::regex_match(k, std::regex("[A-Za-z_][A-Za-z0-9_]*")));
    REQUIRE(req.series(0).samples_size() == 1);
    std::string raw = req.series(0).samples(0).raw_profile();
    CHECK(raw.substr(0, 2) == "\x1f\x8b");
    auto sent = trib::profiling::parse_pprof(raw);
    auto orig = trib::profiling::parse_pprof(
        read_file(std::string(TRIB_FIXTURES_DIR) + "/pyroscope-nodejs/ingest-wall.body.pprof.gz"));
    CHECK(totals(sent) == totals(orig));
    CHECK(metric_line(host, "pyroscope_rejected").find("} 1") != std::string::npos);
}

TEST_CASE("pyroscope sink: a dd-trace-js zstd upload goes out as one push of gzip'd series", "[pyroscope_sink]") {
    CaptureServer cap("200");
    HostProcess host(forwarding_host(cap.url(), ""));
    std::string fx = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs-zstd/";
    auto r = http("POST", host.url("/profiling/v1/input"), read_file(fx + "profiling-input.body.multipart"),
                  "multipart/form-data; boundary=71299c74ab72f1fb");
    REQUIRE(r.status / 100 == 2);
    REQUIRE(wait_until([&] { return cap.requests().size() >= 1; }, 10000ms));
    auto reqs = cap.requests();
    REQUIRE(reqs.size() == 1);
    push::v1::PushRequest req;
    REQUIRE(req.ParseFromString(reqs[0].body));
    std::map<std::string, std::string> part_of{
        {"wall", "part-wall.pprof.zst"}, {"memory", "part-space.pprof.zst"}, {"events", "part-events.pprof.zst"}};
    std::set<std::string> names;
    for (auto &s : req.series()) {
        auto labels = labels_of(s);
        names.insert(labels["__name__"]);
        CHECK(labels["service_name"] == "acceptance-node");
        CHECK(labels["env"] == "acceptance");
        std::string raw = s.samples(0).raw_profile();
        CHECK(raw.substr(0, 2) == "\x1f\x8b"); // Pyroscope reads gzip, not zstd
        auto sent = trib::profiling::parse_pprof(raw);
        REQUIRE(part_of.count(labels["__name__"]));
        CHECK(totals(sent) == totals(trib::profiling::parse_pprof(read_file(fx + part_of[labels["__name__"]]))));
        for (auto &smp : sent.sample())
            for (auto &l : smp.label()) {
                const std::string &k = sent.string_table(int(l.key()));
                CHECK(k.find(' ') == std::string::npos);
                if (k == "span_id")
                    CHECK(std::regex_match(sent.string_table(int(l.str())), std::regex("[0-9a-f]{16}")));
            }
    }
    CHECK(names == std::set<std::string>{"wall", "memory", "events"});
}

TEST_CASE("pyroscope sink: 503 is retried until it succeeds, nothing sent twice", "[pyroscope_sink]") {
    CaptureServer cap("503,503,200");
    HostProcess host(forwarding_host(cap.url(), ""));
    upload_wall(host, "retry-app", 10);
    REQUIRE(wait_until([&] { return cap.requests().size() >= 3; }, 10000ms));
    std::this_thread::sleep_for(1000ms);
    auto reqs = cap.requests();
    INFO(host.log());
    REQUIRE(reqs.size() == 3);
    CHECK(reqs[2].status == 200);
    CHECK(reqs[0].body == reqs[1].body);
    CHECK(reqs[1].body == reqs[2].body);
    CHECK(metric_line(host, "pyroscope_pushed_requests").find("} 1") != std::string::npos);
}

TEST_CASE("pyroscope sink: a series answered 429 every time is dropped after max_retries", "[pyroscope_sink]") {
    CaptureServer cap("429");
    HostProcess host(forwarding_host(cap.url(), "  max_retries = 3\n"));
    upload_wall(host, "big-app", 10);
    REQUIRE(wait_until([&] { return cap.requests().size() >= 3; }, 10000ms));
    std::this_thread::sleep_for(1500ms);
    INFO(host.log());
    CHECK(cap.requests().size() == 3);
    CHECK(metric_line(host, "pyroscope_dropped_after_retries").find("} 1") != std::string::npos);
    CHECK(host.log().find("dropped after 3 attempts answered 429") != std::string::npos);
}

TEST_CASE("pyroscope sink: profiles past max_age are re-stamped, or dropped", "[pyroscope_sink]") {
    {
        CaptureServer cap("200");
        HostProcess host(forwarding_host(cap.url(), "  max_age = \"1h\"\n"));
        upload_wall(host, "old-app", 2 * 3600);
        REQUIRE(wait_until([&] { return cap.requests().size() >= 1; }, 10000ms));
        push::v1::PushRequest req;
        REQUIRE(req.ParseFromString(cap.requests()[0].body));
        auto sent = trib::profiling::parse_pprof(req.series(0).samples(0).raw_profile());
        int64_t now_ns = now_s() * 1000000000;
        CHECK(sent.time_nanos() > now_ns - 3600ll * 1000000000); // inside Pyroscope's 1 h window
        CHECK(sent.time_nanos() <= now_ns + 5ll * 1000000000);
        CHECK(metric_line(host, "pyroscope_restamped").find("} 1") != std::string::npos);
    }
    {
        CaptureServer cap("200");
        HostProcess host(forwarding_host(cap.url(), "  max_age = \"1h\"\n  on_too_old = \"drop\"\n"));
        upload_wall(host, "old-app", 2 * 3600);
        upload_wall(host, "new-app", 10);
        REQUIRE(wait_until([&] { return cap.requests().size() >= 1; }, 10000ms));
        std::this_thread::sleep_for(1000ms);
        auto reqs = cap.requests();
        REQUIRE(reqs.size() == 1);
        push::v1::PushRequest req;
        REQUIRE(req.ParseFromString(reqs[0].body));
        CHECK(labels_of(req.series(0))["service_name"] == "new-app");
        CHECK(metric_line(host, "pyroscope_dropped_too_old").find("} 1") != std::string::npos);
    }
}

TEST_CASE("pyroscope sink with [sinks.spool]: an upload taken while Pyroscope is down survives a restart",
          "[pyroscope_sink]") {
    int port = free_port(); // nothing listens there yet: connection refused → retry
    HostOptions o = forwarding_host(
        "http://127.0.0.1:" + std::to_string(port),
        "  [sinks.spool]\n    path = \"spool/pyroscope\"\n    retry_initial_ms = 50\n    retry_max_ms = 200\n");
    o.config_text = "[bus]\n  shutdown_timeout_ms = 500\n" + o.config_text.substr(o.config_text.find("[[sinks]]"));
    HostProcess host(o);
    upload_wall(host, "spooled-app", 10);
    std::this_thread::sleep_for(1000ms);
    host.stop();
    CaptureServer cap("200", port);
    host.restart();
    REQUIRE(wait_until([&] { return cap.requests().size() >= 1; }, 15000ms));
    std::this_thread::sleep_for(500ms);
    auto reqs = cap.requests();
    INFO(host.log());
    REQUIRE(reqs.size() == 1);
    push::v1::PushRequest req;
    REQUIRE(req.ParseFromString(reqs[0].body));
    CHECK(labels_of(req.series(0))["service_name"] == "spooled-app");
}

TEST_CASE("pyroscope sink: a bad sink table is refused naming the key", "[pyroscope_sink]") {
    for (auto [extra, expect] : std::vector<std::pair<std::string, std::string>>{
             {"  on_too_old = \"keep\"\n", "key 'on_too_old'"},
             {"  tenant_id = \"a b\"\n", "key 'tenant_id'"},
             {"  [[sinks.relabel]]\n    action = \"explode\"\n", "relabel[0]: key 'action'"}}) {
        HostOptions o = forwarding_host("http://127.0.0.1:1", extra);
        TempDir d("pyro-check");
        write_file(d.sub("tributary.conf"), o.config_text);
        for (auto &[rel, text] : o.conf_d) write_file(d.sub("conf.d/" + rel), text);
        ChildProcess check({std::string(TRIB_BUILD_DIR) + "/bin/tributary", "--config", d.sub("tributary.conf"),
                            "--plugins-dir", std::string(TRIB_BUILD_DIR) + "/plugins", "--conf-d", d.sub("conf.d"),
                            "--data-dir", d.sub("data"), "--check-config"});
        auto rc = check.wait(30000ms);
        INFO(check.log());
        REQUIRE(rc.has_value());
        CHECK(*rc != 0);
        CHECK(check.log().find(expect) != std::string::npos);
    }
}

namespace {

std::string attachment(const HostProcess &h, const LpPoint &p, const std::string &name) {
    std::string path = h.data_dir() + "/attachments/" + p.field_str("profile_id") + "/" + name;
    return file_exists(path) ? read_file(path) : std::string();
}

// Sample-label keys and values of a pprof: "key=str" for strings, "key#num" for numbers.
std::vector<std::pair<std::string, std::string>> all_labels(const perftools::profiles::Profile &p) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto &s : p.sample())
        for (auto &l : s.label())
            out.emplace_back(p.string_table(int(l.key())),
                             l.str() ? p.string_table(int(l.str())) : "#" + std::to_string(l.num()));
    return out;
}

} // namespace

TEST_CASE("real dd-trace and @pyroscope/nodejs agents → host A → pyroscope sink → host B (our receiver)",
          "[pyroscope_sink][integration]") {
    HostOptions bo;
    bo.conf_d["pyroscope/pyroscope.conf"] =
        "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n  generate_metrics = false\n";
    HostProcess b(bo);
    std::string b_url = b.url("/");
    b_url.pop_back();
    HostProcess a(forwarding_host(b_url, "  [[sinks.relabel]]\n    scope = \"pprof\"\n    action = \"rename\"\n"
                                         "    source_labels = [\"span id\"]\n    target_label = \"dd_span_id\"\n"
                                         "    value_format = \"hex16\"\n"));
    std::string a_url = a.url("/");
    a_url.pop_back();
    std::string node_path = std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules";

    TempDir work("pyro-sink-e2e");
    write_file(work.sub("pyro_app.js"), R"JS(
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init({ serverAddress: process.env.PYRO_URL, appName: 'e2e-node', flushIntervalMs: 1500,
                 tags: { region: 'local', 'deploy.stage': 'ci' } });
Pyroscope.start();
const keep = [];
function burn() {
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * Math.sin(i);
  keep.push(new Array(1000).fill(x));
  if (keep.length > 200) keep.splice(0, 100);
}
const timer = setInterval(burn, 5);
setTimeout(async () => { clearInterval(timer); await Pyroscope.stop(); }, 5000);
)JS");
    ChildProcess pyro({"node", work.sub("pyro_app.js")}, {{"PYRO_URL", a_url}, {"NODE_PATH", node_path}});
    ChildProcess dd({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"},
                    {{"NODE_PATH", node_path},
                     {"APP_SPANS", "1"},
                     {"DD_PROFILING_ENABLED", "true"},
                     {"DD_TRACE_AGENT_URL", a_url},
                     {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                     {"DD_SERVICE", "e2e-dd"},
                     {"DD_ENV", "ci"},
                     {"DD_VERSION", "2.0.1"},
                     {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                     {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                     {"APP_SECONDS", "7"}});

    // JFR goes through /ingest as it is.
    std::string jfr = read_file(std::string(TRIB_FIXTURES_DIR) + "/jfr/acceptance.jfr");
    trib::profiling::MultipartWriter w("e2e-jfr-boundary");
    w.add_file("jfr", "jfr", "application/octet-stream", jfr);
    int64_t from = now_s() - 20;
    auto jr = http("POST",
                   a.url("/ingest?name=java-e2e%7Benv%3Dci%7D&format=jfr&spyName=javaspy&from=" + std::to_string(from) +
                         "&until=" + std::to_string(from + 10)),
                   w.finish(), w.content_type());
    REQUIRE(jr.status == 200);

    auto dd_rc = dd.wait(60s);
    // @pyroscope/nodejs sometimes throws in stop() ("Wall profiler is not started") after its
    // uploads went out: what counts is what host A received (node_count below).
    pyro.wait(30s);
    INFO("dd-trace log:\n" << dd.log() << "\npyroscope agent log:\n" << pyro.log());
    REQUIRE(dd_rc == 0);

    // What host A received and stored (the store is untouched by the sink's rules).
    struct Expected {
        std::string service, name;
        std::vector<int64_t> totals;
    };
    std::vector<Expected> expected;
    bool original_has_root_span = false;
    auto a_points = a.points("profiling", "profile");
    for (auto &p : a_points) {
        std::string service = p.tag("service");
        if (service == "e2e-dd") {
            for (auto [part, name] : std::vector<std::pair<std::string, std::string>>{
                     {"wall.pprof", "wall"}, {"space.pprof", "memory"}, {"events.pprof", "events"}}) {
                std::string bytes = attachment(a, p, part);
                if (bytes.empty()) continue;
                auto prof = trib::profiling::parse_pprof(bytes);
                expected.push_back({service, name, totals(prof)});
                for (auto &[k, v] : all_labels(prof)) original_has_root_span |= k == "local root span id";
            }
        } else if (service == "e2e-node") {
            auto prof = trib::profiling::parse_pprof(attachment(a, p, "auto.pprof"));
            std::string name = trib::profiling::find_sample_type(prof, "wall") >= 0 ? "wall" : "memory";
            expected.push_back({service, name, totals(prof)});
        }
    }
    size_t dd_count = std::count_if(expected.begin(), expected.end(), [](auto &e) { return e.service == "e2e-dd"; });
    size_t node_count = expected.size() - dd_count;
    INFO("host A log:\n" << a.log() << "\nhost B log:\n" << b.log());
    REQUIRE(dd_count >= 2);
    REQUIRE(node_count >= 2);
    CHECK(original_has_root_span);

    // Host B gets one point per forwarded profile, with the same sample totals.
    std::vector<LpPoint> b_points;
    auto forwarded = [&](const std::string &service) {
        // Push series: B's input copies service_name into service; JFR (/ingest): the app name.
        return std::count_if(b_points.begin(), b_points.end(), [&](auto &p) { return p.tag("service") == service; });
    };
    bool all = wait_until(
        [&] {
            b_points = b.points("profiling", "profile");
            return size_t(forwarded("e2e-dd")) >= dd_count && size_t(forwarded("e2e-node")) >= node_count &&
                   forwarded("java-e2e") >= 1;
        },
        30s, 250ms);
    REQUIRE(all);
    CHECK(size_t(forwarded("e2e-dd")) == dd_count);
    CHECK(size_t(forwarded("e2e-node")) == node_count);

    std::multiset<std::tuple<std::string, std::string, std::vector<int64_t>>> want, got;
    for (auto &e : expected) want.insert({e.service, e.name, e.totals});
    bool renamed_span = false, hex_span = false;
    std::regex hex16("[0-9a-f]{16}");
    for (auto &p : b_points) {
        std::string service = p.tag("service");
        if (service == "java-e2e") continue;
        CHECK(p.tag("service_name") == service);
        CHECK(p.field_str("format") == "pprof");
        if (service == "e2e-dd") {
            CHECK(p.tag("env") == "ci");
            CHECK(p.tag("version") == "2.0.1");
        } else {
            CHECK(p.tag("region") == "local");
            CHECK(p.tag("deploy_stage") == "ci");
        }
        auto prof = trib::profiling::parse_pprof(attachment(b, p, "auto.pprof"));
        got.insert({service, p.tag("__name__"), totals(prof)});
        for (auto &[k, v] : all_labels(prof)) {
            CHECK(k.find(' ') == std::string::npos); // Pyroscope's legacy validation would refuse it
            if (k == "span_id") hex_span |= std::regex_match(v, hex16);
            if (k == "dd_span_id") renamed_span |= std::regex_match(v, hex16);
        }
    }
    CHECK(got == want);
    CHECK(hex_span);     // `local root span id` → span_id, 16 hex digits (the sink's default)
    CHECK(renamed_span); // `span id` → dd_span_id by the [[sinks.relabel]] rule

    // JFR: the same bytes on host B.
    for (auto &p : b_points) {
        if (p.tag("service") != "java-e2e") continue;
        CHECK(p.field_str("format") == "jfr");
        CHECK(attachment(b, p, "auto.jfr") == jfr);
    }
}
