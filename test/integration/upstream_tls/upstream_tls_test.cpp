// Upstreams over TLS with a real host process: the dataway sink delivers to a local HTTPS
// capture server (Python's http.server + ssl) trusting a test CA and showing a client
// certificate; an upstream the CA does not vouch for gets nothing; insecure_skip_verify
// delivers and warns. Secrets in the URL never reach the host's log, /metrics or /health.
#include "test_pki.hpp"
#include <trib_test/support.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

const std::string kFix = TRIB_FIXTURES_DIR;
const std::string kHere = TRIB_UPSTREAM_TLS_TEST_DIR;
const std::string kToken = "tkn_upstream_secret_4f2a";

// The HTTPS capture server on a free port; requests() reads what it recorded.
class CaptureServer {
  public:
    CaptureServer(const TestPki &pki, bool require_client_cert)
        : port_(tt::free_port()), out_(dir_.sub("requests.jsonl")) {
        std::vector<std::string> argv = {"python3", kHere + "/tls_capture_server.py",
                                         "--port",  std::to_string(port_),
                                         "--cert",  pki.file("server.pem"),
                                         "--key",   pki.file("server.key"),
                                         "--out",   out_};
        if (require_client_cert) {
            argv.push_back("--client-ca");
            argv.push_back(pki.file("ca.pem"));
        }
        proc_ = std::make_unique<tt::ChildProcess>(argv);
        if (!tt::wait_until([&] { return proc_->log().find("listening") != std::string::npos || !proc_->running(); },
                            20s) ||
            !proc_->running())
            throw std::runtime_error("capture server did not start:\n" + proc_->log());
    }
    ~CaptureServer() { proc_->stop(SIGTERM, 5000ms); }
    int port() const { return port_; }
    std::vector<nlohmann::json> requests() const {
        std::vector<nlohmann::json> out;
        if (!tt::file_exists(out_)) return out;
        std::string text = tt::read_file(out_);
        size_t pos = 0;
        while (pos < text.size()) {
            size_t nl = text.find('\n', pos);
            if (nl == std::string::npos) break;
            out.push_back(nlohmann::json::parse(text.substr(pos, nl - pos)));
            pos = nl + 1;
        }
        return out;
    }
    std::vector<nlohmann::json> uploads() const {
        std::vector<nlohmann::json> out;
        for (auto &r : requests())
            if (r["path"] == "/v1/upload/profiling") out.push_back(r);
        return out;
    }

  private:
    tt::TempDir dir_{"trib-capture"};
    int port_;
    std::string out_;
    std::unique_ptr<tt::ChildProcess> proc_;
};

tt::HostOptions host_with_dataway(int port, const std::string &tls_keys) {
    tt::HostOptions o;
    // Debug: retried writes are logged with their reason, and no secret may be in those either.
    o.config_text = "log_level = \"debug\"\n[bus]\nshutdown_timeout_ms = 2000\nretry_max_ms = 500\n"
                    "[[sinks]]\ntype = \"dataway\"\nurl = \"https://127.0.0.1:" +
                    std::to_string(port) + "?token=" + kToken + "\"\n" + tls_keys;
    o.conf_d = {{"profile.conf", "[[inputs.profile]]\n"}};
    return o;
}

// The recorded dd-trace-js upload, sent to the host.
int upload_recorded_profile(const tt::HostProcess &host) {
    auto req = nlohmann::json::parse(tt::read_file(kFix + "/ddtrace-nodejs/profiling-input.request.json"));
    std::string type;
    for (auto &h : req["headers"])
        if (h[0] == "Content-Type") type = h[1];
    return tt::http("POST", host.url("/profiling/v1/input"),
                    tt::read_file(kFix + "/ddtrace-nodejs/profiling-input.body.multipart"), type)
        .status;
}

void check_no_secret_exposed(const tt::HostProcess &host) {
    CHECK(host.log().find(kToken) == std::string::npos);
    CHECK(tt::http("GET", host.url("/metrics")).body.find(kToken) == std::string::npos);
    CHECK(tt::http("GET", host.url("/health")).body.find(kToken) == std::string::npos);
}

} // namespace

TEST_CASE("dataway sink over https: test CA and client certificate", "[dataway]") {
    TestPki pki;
    CaptureServer upstream(pki, true);
    tt::HostProcess host(host_with_dataway(upstream.port(), "tls_ca = \"" + pki.file("ca.pem") + "\"\ntls_cert = \"" +
                                                                pki.file("client.pem") + "\"\ntls_key = \"" +
                                                                pki.file("client.key") + "\"\n"));
    REQUIRE(upload_recorded_profile(host) == 200);
    REQUIRE(tt::wait_until([&] { return !upstream.uploads().empty(); }, 20s));
    auto up = upstream.uploads().front();
    CHECK(up["client_cert"] == true);
    CHECK(up["query"] == "token=" + kToken);
    CHECK(up["headers"]["content-type"].get<std::string>().rfind("multipart/form-data", 0) == 0);
    CHECK(up["body_len"].get<int>() > 10000);
    check_no_secret_exposed(host);
    CHECK(host.stop() == 0);
}

TEST_CASE("an upstream certificate the configured CA did not sign gets nothing", "[dataway]") {
    TestPki pki;
    CaptureServer upstream(pki, false);
    tt::HostProcess host(host_with_dataway(upstream.port(), "tls_ca = \"" + pki.file("other-ca.pem") + "\"\n"));
    REQUIRE(upload_recorded_profile(host) == 200);
    bool refused =
        tt::wait_until([&] { return host.log().find("certificate verify failed") != std::string::npos; }, 20s);
    INFO(host.log());
    CHECK(refused);
    CHECK(upstream.requests().empty());
    check_no_secret_exposed(host);
}

TEST_CASE("insecure_skip_verify delivers without a CA and warns loudly", "[dataway]") {
    TestPki pki;
    CaptureServer upstream(pki, false);
    tt::HostProcess host(host_with_dataway(upstream.port(), "insecure_skip_verify = true\n"));
    CHECK(host.log().find("INSECURE: dataway sink 'dataway' has insecure_skip_verify = true") != std::string::npos);
    REQUIRE(upload_recorded_profile(host) == 200);
    CHECK(tt::wait_until([&] { return !upstream.uploads().empty(); }, 20s));
    check_no_secret_exposed(host);
}

TEST_CASE("an unreadable tls_ca keeps the sink from starting, named on /health", "[dataway]") {
    tt::HostOptions o = host_with_dataway(1, "tls_ca = \"/nonexistent/ca.pem\"\n");
    o.wait_ready = false;
    tt::HostProcess host(o);
    REQUIRE(tt::wait_until([&] { return tt::http("GET", host.url("/health")).status == 503; }, 20s));
    auto health = tt::http("GET", host.url("/health"));
    CHECK(health.body.find("key 'tls_ca'") != std::string::npos);
    check_no_secret_exposed(host);
}

// The pyroscope sink (a module, its own Poco client) over https too: Grafana Cloud and most
// Pyroscope deployments behind an ingress speak https only.
TEST_CASE("pyroscope sink over https: test CA and client certificate; a CA that did not sign gets nothing",
          "[pyroscope]") {
    TestPki pki;
    CaptureServer upstream(pki, true);
    auto host_options = [&](const std::string &tls_keys) {
        tt::HostOptions o;
        o.config_text = "log_level = \"debug\"\n[bus]\nshutdown_timeout_ms = 2000\nretry_max_ms = 500\n[[sinks]]\ntype "
                        "= \"pyroscope\"\n"
                        "url = \"https://127.0.0.1:" +
                        std::to_string(upstream.port()) + "\"\n" + tls_keys;
        o.conf_d = {{"profile.conf", "[[inputs.profile]]\n"}};
        return o;
    };
    {
        tt::HostProcess host(host_options("tls_ca = \"" + pki.file("ca.pem") + "\"\ntls_cert = \"" +
                                          pki.file("client.pem") + "\"\ntls_key = \"" + pki.file("client.key") +
                                          "\"\n"));
        REQUIRE(upload_recorded_profile(host) == 200);
        auto pushes = [&] {
            std::vector<nlohmann::json> out;
            for (auto &r : upstream.requests())
                if (r["path"] == "/push.v1.PusherService/Push") out.push_back(r);
            return out;
        };
        INFO(host.log());
        REQUIRE(tt::wait_until([&] { return !pushes().empty(); }, 20s));
        auto push = pushes().front();
        CHECK(push["client_cert"] == true);
        CHECK(push["headers"]["content-type"] == "application/proto");
        CHECK(push["body_len"].get<int>() > 1000);
        CHECK(host.stop() == 0);
    }
    size_t before = upstream.requests().size();
    tt::HostProcess host(host_options("tls_ca = \"" + pki.file("other-ca.pem") + "\"\n"));
    REQUIRE(upload_recorded_profile(host) == 200);
    INFO(host.log());
    CHECK(tt::wait_until([&] { return host.log().find("certificate verify failed") != std::string::npos; }, 20s));
    CHECK(upstream.requests().size() == before);
}

namespace {

// curl with the test CA; its stdout (and any error) as text.
std::string curl_with_ca(const TestPki &pki, std::vector<std::string> args) {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "--cacert", pki.file("ca.pem")};
    argv.insert(argv.end(), args.begin(), args.end());
    tt::ChildProcess c(argv);
    c.wait(20s);
    return c.log();
}

} // namespace

TEST_CASE("influxdb sink over https to influxd serving TLS", "[influxdb]") {
    TestPki pki;
    tt::TempDir dir("trib-influx-tls");
    const int port = tt::free_port(), rpc_port = tt::free_port();
    tt::write_file(dir.sub("influxdb.conf"),
                   "reporting-disabled = true\nbind-address = \"127.0.0.1:" + std::to_string(rpc_port) +
                       "\"\n"
                       "[meta]\n  dir = \"" +
                       dir.sub("meta") +
                       "\"\n"
                       "[data]\n  dir = \"" +
                       dir.sub("data") + "\"\n  wal-dir = \"" + dir.sub("wal") +
                       "\"\n"
                       "  query-log-enabled = false\n"
                       "[http]\n  bind-address = \"127.0.0.1:" +
                       std::to_string(port) +
                       "\"\n  log-enabled = false\n"
                       "  https-enabled = true\n  https-certificate = \"" +
                       pki.file("server.pem") +
                       "\"\n"
                       "  https-private-key = \"" +
                       pki.file("server.key") +
                       "\"\n"
                       "[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n");
    tt::ChildProcess influxd(
        tt::ChildOptions{{"influxd", "-config", dir.sub("influxdb.conf")}, {}, false, "", dir.sub("influxd.log")});
    const std::string base = "https://127.0.0.1:" + std::to_string(port);
    REQUIRE(tt::wait_until(
        [&] {
            return curl_with_ca(pki, {"-o", "/dev/null", "-w", "%{http_code}", base + "/ping"}) == "204";
        },
        30s, 200ms));

    tt::HostOptions o;
    o.config_text = "[[sinks]]\ntype = \"influxdb\"\nurl = \"" + base + "\"\ndatabase = \"trib_tls\"\ntls_ca = \"" +
                    pki.file("ca.pem") + "\"\n";
    o.conf_d = {{"profile.conf", "[[inputs.profile]]\n"}};
    tt::HostProcess host(o);
    REQUIRE(upload_recorded_profile(host) == 200);
    std::string answer;
    CHECK(tt::wait_until(
        [&] {
            answer = curl_with_ca(pki, {"-G", base + "/query", "--data-urlencode", "db=trib_tls", "--data-urlencode",
                                        "q=SELECT count(*) FROM profile"});
            return answer.find("\"name\":\"profile\"") != std::string::npos;
        },
        20s, 500ms));
    INFO(answer << "\n" << host.log());
    CHECK(host.stop() == 0);
    influxd.stop(SIGTERM, 10000ms);
}
