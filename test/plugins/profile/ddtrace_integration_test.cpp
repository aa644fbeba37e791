// The real dd-trace profiler (npm, Node) → a recording proxy written here → the real
// host (build/bin/tributary with the profile module) → the file sink. The proxy keeps
// an exact copy of every upload, so the attachments the host wrote can be compared byte
// for byte with what the client sent.
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/multipart.hpp>
#include <trib_test/http_capture_server.hpp>
#include <trib_test/support.hpp>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <mutex>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

struct Upload {
    std::string content_type, body;
    int host_status = 0;
};

// Forwards POST /profiling/v1/input to the host and records it; answers the tracer's
// other calls (traces, stats) itself.
class RecordingProxy {
  public:
    explicit RecordingProxy(std::string target) : target_(std::move(target)) {
        Poco::Net::ServerSocket sock(Poco::Net::SocketAddress("127.0.0.1", 0));
        auto *params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(4);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), sock, params);
        server_->start();
    }
    ~RecordingProxy() { server_->stopAll(true); }
    int port() const { return server_->port(); }
    std::vector<Upload> uploads() {
        std::lock_guard<std::mutex> g(mu_);
        return uploads_;
    }

  private:
    struct Handler : Poco::Net::HTTPRequestHandler {
        RecordingProxy &proxy;
        explicit Handler(RecordingProxy &p) : proxy(p) {}
        void handleRequest(Poco::Net::HTTPServerRequest &req, Poco::Net::HTTPServerResponse &resp) override {
            std::string body((std::istreambuf_iterator<char>(req.stream())), std::istreambuf_iterator<char>());
            int status = 200;
            if (req.getURI() == "/profiling/v1/input") {
                auto r = tt::http("POST", proxy.target_ + "/profiling/v1/input", body, req.getContentType());
                status = r.status ? r.status : 502;
                std::lock_guard<std::mutex> g(proxy.mu_);
                proxy.uploads_.push_back(Upload{req.getContentType(), std::move(body), status});
            }
            resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
            resp.setContentLength(2);
            resp.send() << "{}";
        }
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        RecordingProxy &proxy;
        explicit Factory(RecordingProxy &p) : proxy(p) {}
        Poco::Net::HTTPRequestHandler *createRequestHandler(const Poco::Net::HTTPServerRequest &) override {
            return new Handler(proxy);
        }
    };
    std::string target_;
    std::mutex mu_;
    std::vector<Upload> uploads_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

std::string part(const Upload &u, const std::string &name) {
    auto boundary = trib::profiling::multipart_boundary(u.content_type);
    for (auto &p : trib::profiling::parse_multipart(u.body, boundary))
        if (p.name == name) return std::string(p.data);
    return {};
}

void run_ddtrace(const std::string &codec, const std::string &magic) {
    tt::HostOptions opts;
    opts.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    tt::HostProcess host(opts);
    RecordingProxy proxy("http://127.0.0.1:" + std::to_string(host.port()));

    tt::ChildProcess app({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"},
                         {{"NODE_PATH", std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules"},
                          {"DD_PROFILING_ENABLED", "true"},
                          {"DD_TRACE_AGENT_URL", "http://127.0.0.1:" + std::to_string(proxy.port())},
                          {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                          {"DD_PROFILING_DEBUG_UPLOAD_COMPRESSION", codec},
                          {"DD_SERVICE", "int-node"},
                          {"DD_ENV", "ci-" + codec},
                          {"DD_VERSION", "3.1.4"},
                          {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                          {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                          {"APP_SECONDS", "7"}});
    auto rc = app.wait(60s);
    INFO("node log:\n" << app.log() << "\nhost log:\n" << host.log());
    REQUIRE(rc == 0);

    auto uploads = proxy.uploads();
    REQUIRE(uploads.size() >= 2);
    for (auto &u : uploads) CHECK(u.host_status == 200);
    std::vector<tt::LpPoint> points;
    REQUIRE(tt::wait_until(
        [&] {
            points = host.points("profiling", "profile");
            return points.size() >= uploads.size();
        },
        15s));
    CHECK(points.size() == uploads.size());

    for (auto &p : points) {
        CHECK(p.tag("service") == "int-node");
        CHECK(p.tag("env") == "ci-" + codec);
        CHECK(p.tag("version") == "3.1.4");
        CHECK(p.tag("language") == "nodejs");
        CHECK(p.field_str("format") == "pprof");
        std::string dir = host.data_dir() + "/attachments/" + p.field_str("profile_id") + "/";
        std::string wall = tt::read_file(dir + "wall.pprof");
        std::string space = tt::read_file(dir + "space.pprof");
        CHECK(wall.substr(0, magic.size()) == magic);
        CHECK(tt::file_exists(dir + "event.json"));
        // The very bytes of one recorded upload.
        bool matched = false;
        for (auto &u : uploads)
            if (part(u, "wall.pprof") == wall) {
                matched = true;
                CHECK(part(u, "space.pprof") == space);
            }
        CHECK(matched);
    }
    // The metric points follow the answers (the input's metrics pool).
    CHECK(
        tt::wait_until([&] { return host.points("metric", "profiling_metrics").size() >= points.size(); }, 15s, 50ms));
    CHECK(host.points("metric", "profiling_metrics").size() == points.size());
}

} // namespace

TEST_CASE("dd-trace (npm) profiler uploads through the real host, gzip") { run_ddtrace("gzip", "\x1f\x8b"); }

TEST_CASE("dd-trace (npm) profiler uploads through the real host, zstd") { run_ddtrace("zstd", "\x28\xb5\x2f\xfd"); }

TEST_CASE("the sample config (ENV_DEFAULT_ENABLED_INPUTS=profile): replay, 400 and 413 from the real host") {
    tt::HostOptions opts;
    opts.env["ENV_DEFAULT_ENABLED_INPUTS"] = "profile";
    opts.env["ENV_INPUT_PROFILE_BODY_SIZE_LIMIT_MB"] = "2";
    tt::HostProcess host(opts);
    std::string dir = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs/";
    std::string body = tt::read_file(dir + "profiling-input.body.multipart");
    auto r = tt::http("POST", host.url("/profiling/v1/input"), body, "multipart/form-data; boundary=1a8de2bbf9e4d199");
    INFO(host.log());
    CHECK(r.status == 200);
    std::vector<tt::LpPoint> pts;
    REQUIRE(tt::wait_until([&] { return !(pts = host.points("profiling", "profile")).empty(); }, 10s));
    CHECK(pts[0].tag("service") == "acceptance-node");
    CHECK(pts[0].tag("language") == "nodejs");
    std::string att = host.data_dir() + "/attachments/" + pts[0].field_str("profile_id") + "/";
    CHECK(tt::read_file(att + "wall.pprof") == tt::read_file(dir + "part-wall.pprof.gz"));

    auto bad = tt::http("POST", host.url("/profiling/v1/input"), "{}", "application/json");
    CHECK(bad.status == 400);
    CHECK_THAT(bad.body, Catch::Contains("multipart/form-data"));
    // The host answers 413 before reading the body; curl reads that early answer where a
    // client that insists on sending everything first sees a reset.
    tt::TempDir tmp("profile-413");
    tt::write_file(tmp.sub("big"), std::string(3u << 20, 'x'));
    tt::ChildProcess curl({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                           "Content-Type: multipart/form-data; boundary=1a8de2bbf9e4d199", "--data-binary",
                           "@" + tmp.sub("big"), host.url("/profiling/v1/input")});
    REQUIRE(curl.wait(30s).has_value());
    CHECK(curl.log().find("413") != std::string::npos);
    CHECK(host.points("profiling", "profile").size() == 1);
}

// A DataKit deployment's env, unchanged: ENV_DATAWAY alone (no [[sinks]]) sends what the
// real dd-trace profiler uploads to the dataway, token in the query, profile bytes intact.
TEST_CASE("ENV_DATAWAY alone delivers a real dd-trace upload to the dataway") {
    tt::CaptureServer dataway;
    tt::HostOptions opts;
    opts.env["ENV_DEFAULT_ENABLED_INPUTS"] = "profile";
    opts.env["ENV_DATAWAY"] = dataway.base() + "?token=tkn_x";
    tt::HostProcess host(opts);

    tt::ChildProcess app({"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"},
                         {{"NODE_PATH", std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules"},
                          {"DD_PROFILING_ENABLED", "true"},
                          {"DD_TRACE_AGENT_URL", host.url("")},
                          {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                          {"DD_SERVICE", "dw-node"},
                          {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                          {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                          {"APP_SECONDS", "5"}});
    auto rc = app.wait(60s);
    INFO("node log:\n" << app.log() << "\nhost log:\n" << host.log());
    REQUIRE(rc == 0);

    std::vector<tt::CapturedRequest> uploads;
    REQUIRE(tt::wait_until(
        [&] {
            uploads.clear();
            for (auto &r : dataway.requests())
                if (r.path() == "/v1/upload/profiling") uploads.push_back(r);
            return !uploads.empty();
        },
        20s));
    // No implicit file sink once a dataway is declared: the data goes where DataKit's would.
    CHECK(host.points("profiling", "profile").empty());
    for (auto &u : uploads) {
        CHECK(u.query() == "token=tkn_x");
        std::string body = u.header("Content-Encoding") == "gzip" ? trib::profiling::decompress(u.body) : u.body;
        auto boundary = trib::profiling::multipart_boundary(u.header("Content-Type"));
        std::map<std::string, std::string> parts;
        for (auto &p : trib::profiling::parse_multipart(body, boundary)) parts[p.name] = std::string(p.data);
        REQUIRE(parts.count("event"));
        auto event = nlohmann::json::parse(parts["event"]);
        CHECK(event["tags_profiler"].get<std::string>().find("service:dw-node") != std::string::npos);
        REQUIRE(parts.count("wall.pprof"));
        CHECK_FALSE(trib::profiling::decompress(parts["wall.pprof"]).empty()); // a real profile, as sent
    }
}

// As DataKit: an ENV_INPUT_* value that cannot be used turns that input off with a message
// naming the variable and key; the other inputs and the listener keep serving.
TEST_CASE("a bad ENV_INPUT_ value turns that input off; the rest of the host runs") {
    tt::HostOptions opts;
    opts.env["ENV_DEFAULT_ENABLED_INPUTS"] = "profile,pyroscope";
    opts.env["ENV_INPUT_PROFILE_TAGS"] = "[1]";
    opts.wait_ready = false;
    tt::HostProcess host(opts);
    tt::HttpResult health;
    REQUIRE(tt::wait_until([&] { return (health = tt::http("GET", host.url("/health"))).status == 503; }, 30s));
    INFO(host.log());
    CHECK_THAT(health.body, Catch::Contains("ENV_INPUT_PROFILE_TAGS") && Catch::Contains("'tags'"));
    CHECK_THAT(host.log(), Catch::Contains("ENV_INPUT_PROFILE_TAGS"));
    CHECK(tt::http("POST", host.url("/profiling/v1/input"), "x", "text/plain").status == 404);
    // The pyroscope input serves: an empty ingest is its own 400, not the listener's 404.
    CHECK(tt::http("POST", host.url("/ingest?name=app.cpu&format=folded"), "", "text/plain").status == 400);
    CHECK(host.running());
}
