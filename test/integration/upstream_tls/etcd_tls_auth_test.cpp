// The etcd election over TLS with etcd auth, in a real host process against Debian's etcd:
// etcd serves https only and asks for a client certificate (--client-cert-auth), auth is
// enabled with a user for the host. With the right password the host leads; with a wrong
// one it never does, and says why. The password never reaches the log, /metrics or /health.
#include <spool/upstream_http.hpp>
#include "test_pki.hpp"
#include <trib_test/support.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;
using trib::core::UpstreamHttpClient;

namespace {

const std::string kPassword = "etcd-pw-for-trib-7c1e";

// One etcd member: https client port with client-certificate checking, plain peer port.
class TlsEtcd {
  public:
    explicit TlsEtcd(const TestPki &pki) : client_port_(tt::free_port()), peer_port_(tt::free_port()) {
        std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
        tt::ChildOptions o;
        o.argv = {"etcd",
                  "--name",
                  "solo",
                  "--data-dir",
                  dir_.sub("data"),
                  "--listen-client-urls",
                  endpoint(),
                  "--advertise-client-urls",
                  endpoint(),
                  "--listen-peer-urls",
                  peer,
                  "--initial-advertise-peer-urls",
                  peer,
                  "--initial-cluster",
                  "solo=" + peer,
                  "--heartbeat-interval",
                  "50",
                  "--election-timeout",
                  "500",
                  "--cert-file",
                  pki.file("server.pem"),
                  "--key-file",
                  pki.file("server.key"),
                  "--client-cert-auth",
                  "--trusted-ca-file",
                  pki.file("ca.pem"),
                  "--log-level",
                  "warn"};
        o.log_path = dir_.sub("etcd.log");
        proc_ = std::make_unique<tt::ChildProcess>(o);
        trib::core::UpstreamTls tls{pki.file("ca.pem"), pki.file("client.pem"), pki.file("client.key"), false};
        client_ = std::make_unique<UpstreamHttpClient>(trib::core::parse_upstream_url(endpoint()), 5000ms,
                                                       trib::core::make_upstream_tls_context(tls));
        bool up = tt::wait_until(
            [&] {
                return !proc_->running() || post("/v3/kv/range", {{"key", "eA=="}}).status == 200;
            },
            30s, 100ms);
        if (!up || !proc_->running()) throw std::runtime_error("etcd did not come up:\n" + proc_->log());
    }
    ~TlsEtcd() { proc_->stop(SIGTERM, 10000ms); }

    std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(client_port_); }
    trib::core::HttpPostResult post(const std::string &path, const nlohmann::json &body,
                                    const std::string &token = "") {
        std::vector<std::pair<std::string, std::string>> headers;
        if (!token.empty()) headers.emplace_back("Authorization", token);
        return client_->post(path, "application/json", headers, body.dump());
    }
    void must(const std::string &path, const nlohmann::json &body, const std::string &token = "") {
        auto r = post(path, body, token);
        INFO(path << " -> " << r.status << " " << r.body << r.error);
        REQUIRE(r.status == 200);
    }
    // root (required before auth/enable) and the host's user `trib` with the root role.
    void enable_auth() {
        must("/v3/auth/user/add", {{"name", "root"}, {"password", "root-pw"}});
        must("/v3/auth/role/add", {{"name", "root"}});
        must("/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}});
        must("/v3/auth/user/add", {{"name", "trib"}, {"password", kPassword}});
        must("/v3/auth/user/grant", {{"user", "trib"}, {"role", "root"}});
        must("/v3/auth/enable", nlohmann::json::object());
    }
    std::string log() const { return proc_->log(); }

  private:
    tt::TempDir dir_{"trib-etcd-tls"};
    int client_port_, peer_port_;
    std::unique_ptr<tt::ChildProcess> proc_;
    std::unique_ptr<UpstreamHttpClient> client_;
};

tt::HostOptions elected_host(const TestPki &pki, const TlsEtcd &etcd, const std::string &password) {
    tt::HostOptions o;
    o.config_text = "[election]\nenable = true\nbackend = \"etcd\"\nendpoints = [\"" + etcd.endpoint() +
                    "\"]\nnamespace = \"trib-tls\"\nlease_ttl = \"2s\"\n"
                    "tls_ca = \"" +
                    pki.file("ca.pem") + "\"\ntls_cert = \"" + pki.file("client.pem") + "\"\ntls_key = \"" +
                    pki.file("client.key") + "\"\nusername = \"trib\"\npassword = \"" + password + "\"\n";
    return o;
}

std::string role(const tt::HostProcess &host) {
    auto h = tt::http("GET", host.url("/health"));
    auto j = nlohmann::json::parse(h.body, nullptr, false);
    return j.is_object() ? j.value("role", "") : "";
}

} // namespace

TEST_CASE("etcd election over TLS with user/password auth", "[etcd]") {
    TestPki pki;
    TlsEtcd etcd(pki);
    etcd.enable_auth();
    // Auth is really on: a call without a token is refused.
    CHECK(etcd.post("/v3/kv/put", {{"key", "eA=="}, {"value", "eQ=="}}).status != 200);

    {
        tt::HostProcess host(elected_host(pki, etcd, kPassword));
        bool leads = tt::wait_until([&] { return role(host) == "leader"; }, 20s);
        INFO(host.log() << "\netcd:\n" << etcd.log());
        CHECK(leads);
        CHECK(host.log().find(kPassword) == std::string::npos);
        CHECK(tt::http("GET", host.url("/metrics")).body.find(kPassword) == std::string::npos);
        CHECK(tt::http("GET", host.url("/health")).body.find(kPassword) == std::string::npos);
        CHECK(host.stop() == 0);
    }
    {
        tt::HostProcess host(elected_host(pki, etcd, "not-the-password"));
        bool refused =
            tt::wait_until([&] { return host.log().find("authenticating as user 'trib'") != std::string::npos; }, 20s);
        INFO(host.log());
        CHECK(refused);
        CHECK(role(host) != "leader");
        CHECK(host.log().find("not-the-password") == std::string::npos);
    }
}

TEST_CASE("etcd over TLS refuses a host without a client certificate", "[etcd]") {
    TestPki pki;
    TlsEtcd etcd(pki);
    tt::HostOptions o;
    o.config_text = "[election]\nenable = true\nbackend = \"etcd\"\nendpoints = [\"" + etcd.endpoint() +
                    "\"]\nnamespace = \"trib-tls\"\nlease_ttl = \"2s\"\ntls_ca = \"" + pki.file("ca.pem") + "\"\n";
    tt::HostProcess host(o);
    std::this_thread::sleep_for(3s);
    CHECK(role(host) != "leader");
}
