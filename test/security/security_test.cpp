// Listener security against the real host (build/bin/tributary) and real agents:
//   - TLS on the shared listener: dd-trace (npm) and @pyroscope/nodejs upload over https
//     with a test CA (NODE_EXTRA_CA_CERTS); plain HTTP to the TLS port gets nothing;
//   - mTLS: a client without a certificate is refused, one with a CA-signed one served;
//   - certificates re-read by HttpServer::reload_tls() on a listener that stays open;
//   - tokens: @pyroscope/nodejs with authToken / basic auth accepted, without it 401 and
//     nothing stored; the recorded dd-trace upload with and without DD-API-KEY; admin
//     tokens on /metrics; no secret in the log, /metrics or /health;
//   - allow_cidrs: dd-trace refused (403) outside the list, accepted inside it;
//   - a Unix socket: dd-trace with DD_TRACE_AGENT_URL=unix:///… uploads through it;
//   - pinpoint: a plain port for pinpoint-node-agent beside a TLS port for a gRPC TLS
//     client (the bench client), and PERMISSION_DENIED for applications not allowed.
#include "net/http_server.hpp"

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

const std::string kNodePath = std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules";

// Runs a command to completion; its output on failure.
std::string run(const std::vector<std::string> &argv, std::chrono::milliseconds timeout = 60s) {
    tt::ChildProcess p(argv);
    auto rc = p.wait(timeout);
    if (!rc || *rc != 0) throw std::runtime_error("command failed: " + argv[0] + " " + argv[1] + "\n" + p.log());
    return p.log();
}

// A test CA and certificates it signs (EC P-256: quick to make), valid for 127.0.0.1.
struct Pki {
    tt::TempDir dir{"trib-pki"};
    std::string ca() const { return dir.sub("ca.pem"); }
    std::string cert(const std::string &name) const { return dir.sub(name + ".pem"); }
    std::string key(const std::string &name) const { return dir.sub(name + ".key"); }

    Pki() {
        run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", dir.sub("ca.key"), "-out", ca(), "-days", "2", "-subj", "/CN=tributary-test-ca"});
        tt::write_file(dir.sub("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        tt::write_file(dir.sub("client.ext"), "extendedKeyUsage=clientAuth\n");
        issue("server-a", "server.ext");
        issue("server-b", "server.ext");
        issue("client", "client.ext");
    }
    void issue(const std::string &name, const std::string &ext) {
        run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             key(name), "-out", dir.sub(name + ".csr"), "-subj", "/CN=" + name});
        run({"openssl", "x509", "-req", "-in", dir.sub(name + ".csr"), "-CA", ca(), "-CAkey", dir.sub("ca.key"),
             "-CAcreateserial", "-out", cert(name), "-days", "2", "-extfile", dir.sub(ext)});
    }
};

const Pki &pki() {
    static Pki p;
    return p;
}

// curl over https (tt::http is plain HTTP only). status 0 = no HTTP answer; `verbose`
// gets curl's -v trace (certificate subject, TLS errors).
struct CurlResult {
    int status = 0;
    std::string body, verbose;
};
CurlResult curl(const std::string &url, const std::vector<std::string> &extra = {}) {
    tt::TempDir tmp("trib-curl");
    std::vector<std::string> argv = {"curl", "-sv",           "--max-time", "10",
                                     "-o",   tmp.sub("body"), "-w",         "\nHTTPCODE:%{http_code}\n"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    tt::ChildOptions o;
    o.argv = argv;
    o.log_path = tmp.sub("log");
    tt::ChildProcess p(o);
    p.wait(20s);
    CurlResult r;
    r.verbose = p.log();
    // stdout (-w) and stderr (-v) share the log; 000 when there was no HTTP answer.
    auto at = r.verbose.find("HTTPCODE:");
    if (at != std::string::npos) r.status = std::atoi(r.verbose.c_str() + at + 9);
    if (tt::file_exists(tmp.sub("body"))) r.body = tt::read_file(tmp.sub("body"));
    return r;
}

std::string https_url(const tt::HostProcess &h, const std::string &path) {
    return "https://127.0.0.1:" + std::to_string(h.port()) + path;
}

std::string tls_http_config(const std::string &extra = "") {
    return "[http]\n  tls_cert = \"" + pki().cert("server-a") + "\"\n  tls_key = \"" + pki().key("server-a") + "\"\n" +
           extra;
}

// Starts a host whose TCP listener speaks TLS: ready once GET /health over https is 200.
void start_tls_host(tt::HostProcess &host, tt::HostOptions opts, const std::vector<std::string> &curl_auth = {}) {
    opts.wait_ready = false;
    host.start(std::move(opts));
    std::vector<std::string> args = {"--cacert", pki().ca()};
    args.insert(args.end(), curl_auth.begin(), curl_auth.end());
    bool ready = tt::wait_until([&] { return curl(https_url(host, "/health"), args).status == 200; }, 30s, 200ms);
    INFO(host.log());
    REQUIRE(ready);
}

// The dd-trace profiler in the Node app the profile tests use; runs `seconds` then exits.
std::unique_ptr<tt::ChildProcess> start_ddtrace(const std::string &agent_url, const std::string &service,
                                                std::map<std::string, std::string> extra_env = {}, int seconds = 5) {
    std::map<std::string, std::string> env = {{"NODE_PATH", kNodePath},
                                              {"DD_PROFILING_ENABLED", "true"},
                                              {"DD_TRACE_AGENT_URL", agent_url},
                                              {"DD_PROFILING_UPLOAD_PERIOD", "2"},
                                              {"DD_SERVICE", service},
                                              {"DD_REMOTE_CONFIGURATION_ENABLED", "false"},
                                              {"DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"},
                                              {"APP_SECONDS", std::to_string(seconds)}};
    for (auto &kv : extra_env) env[kv.first] = kv.second;
    return std::make_unique<tt::ChildProcess>(
        std::vector<std::string>{"node", std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/ddtrace_app/app.js"}, env);
}

// @pyroscope/nodejs with `options` (a JS object literal body) for a few seconds.
std::unique_ptr<tt::ChildProcess> start_pyroscope(const tt::TempDir &work, const std::string &name,
                                                  const std::string &server, const std::string &options,
                                                  std::map<std::string, std::string> extra_env = {}) {
    tt::write_file(work.sub(name + ".js"), R"JS(
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init(Object.assign({ serverAddress: process.env.PYRO_URL, flushIntervalMs: 1000 }, )JS" +
                                               options + R"JS());
Pyroscope.start();
const keep = [];
function burn() {
  let x = 0;
  for (let i = 0; i < 1e6; i++) x += Math.sqrt(i) * Math.sin(i);
  keep.push(new Array(100).fill(x));
  if (keep.length > 200) keep.splice(0, 100);
}
const timer = setInterval(burn, 5);
setTimeout(async () => { clearInterval(timer); await Pyroscope.stop(); }, 3500);
)JS");
    std::map<std::string, std::string> env = {{"PYRO_URL", server}, {"NODE_PATH", kNodePath}};
    for (auto &kv : extra_env) env[kv.first] = kv.second;
    return std::make_unique<tt::ChildProcess>(std::vector<std::string>{"node", work.sub(name + ".js")}, env);
}

size_t points_of_service(const tt::HostProcess &h, const std::string &service) {
    auto pts = h.points("profiling", "profile");
    return static_cast<size_t>(
        std::count_if(pts.begin(), pts.end(), [&](auto &p) { return p.tag("service") == service; }));
}

// tributary_http_responses_total{code="<code>"} from /metrics text.
double responses_with(const std::string &metrics, const std::string &code) {
    std::string key = "tributary_http_responses_total{code=\"" + code + "\"} ";
    auto at = metrics.find(key);
    return at == std::string::npos ? -1 : std::atof(metrics.c_str() + at + key.size());
}

const char *kProfileConf = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
const char *kPyroscopeConf = "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n";

} // namespace

TEST_CASE("TLS listener: dd-trace and @pyroscope/nodejs upload over https", "[security][tls]") {
    tt::HostOptions o;
    o.config_text = tls_http_config();
    o.conf_d["profile/profile.conf"] = kProfileConf;
    o.conf_d["pyroscope/pyroscope.conf"] = kPyroscopeConf;
    tt::HostProcess host;
    start_tls_host(host, o);
    tt::TempDir work("sec-tls");

    std::string base = "https://127.0.0.1:" + std::to_string(host.port());
    auto dd = start_ddtrace(base, "tls-ddtrace", {{"NODE_EXTRA_CA_CERTS", pki().ca()}});
    auto pyro =
        start_pyroscope(work, "pyro", base, "{ appName: 'tls-pyroscope' }", {{"NODE_EXTRA_CA_CERTS", pki().ca()}});
    bool got = tt::wait_until(
        [&] { return points_of_service(host, "tls-ddtrace") >= 1 && points_of_service(host, "tls-pyroscope") >= 1; },
        30s, 250ms);
    INFO("host log:\n" << host.log() << "\ndd-trace log:\n" << dd->log() << "\npyroscope log:\n" << pyro->log());
    CHECK(got);
    dd->wait(30s);
    pyro->wait(30s);

    // Plain HTTP to the TLS port gets no HTTP answer.
    CHECK(tt::http("GET", "http://127.0.0.1:" + std::to_string(host.port()) + "/health", "", "", {}, 3000).status == 0);
}

TEST_CASE("mTLS: a client without a certificate is refused, one with a CA-signed certificate is served",
          "[security][tls]") {
    tt::HostOptions o;
    o.config_text = tls_http_config("  tls_client_ca = \"" + pki().ca() + "\"\n  tls_min_version = \"1.3\"\n");
    tt::HostProcess host;
    std::vector<std::string> client = {"--cert", pki().cert("client"), "--key", pki().key("client")};
    start_tls_host(host, o, client);
    auto without = curl(https_url(host, "/health"), {"--cacert", pki().ca()});
    CHECK(without.status == 0);
    std::vector<std::string> with = {"--cacert", pki().ca()};
    with.insert(with.end(), client.begin(), client.end());
    CHECK(curl(https_url(host, "/health"), with).status == 200);
    // tls_min_version = "1.3": a TLS 1.2 client is refused.
    auto tls12 = with;
    tls12.insert(tls12.end(), {"--tls-max", "1.2"});
    CHECK(curl(https_url(host, "/health"), tls12).status == 0);
    // A self-signed client certificate (not from tls_client_ca) is refused too.
    tt::TempDir other("sec-other");
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
         other.sub("k.pem"), "-out", other.sub("c.pem"), "-days", "1", "-subj", "/CN=stranger"});
    CHECK(curl(https_url(host, "/health"),
               {"--cacert", pki().ca(), "--cert", other.sub("c.pem"), "--key", other.sub("k.pem")})
              .status == 0);
    // The refusals are counted.
    auto metrics = curl(https_url(host, "/metrics"), with);
    CHECK(metrics.status == 200);
    CHECK_THAT(metrics.body, Catch::Contains("tributary_http_connections_closed_total{reason=\"tls_handshake\"} 3"));
}

TEST_CASE("reload_tls: new connections get the new certificate, the listener stays", "[security][tls]") {
    tt::TempDir dir("sec-reload");
    // The file names stay; their content changes, as with a renewed certificate.
    tt::write_file(dir.sub("cert.pem"), tt::read_file(pki().cert("server-a")));
    tt::write_file(dir.sub("key.pem"), tt::read_file(pki().key("server-a")));
    trib::core::HttpListenerConfig cfg;
    cfg.header_timeout = 1s;
    cfg.tls.cert = dir.sub("cert.pem");
    cfg.tls.key = dir.sub("key.pem");
    trib::core::HttpServer server("127.0.0.1", 0, cfg, nullptr, [](const std::string &, const std::string &path) {
        std::optional<trib::core::BuiltinResponse> r;
        if (path == "/health") r = trib::core::BuiltinResponse{200, "text/plain", "ok\n"};
        if (path == "/big")
            r = trib::core::BuiltinResponse{200, "application/octet-stream", std::string(3u << 20, 'b')};
        return r;
    });
    server.start();
    std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/health";
    auto before = curl(url, {"--cacert", pki().ca()});
    CHECK(before.status == 200);
    CHECK_THAT(before.verbose, Catch::Contains("CN=server-a"));
    // A response far larger than a TLS record and the socket buffer arrives whole.
    auto big = curl("https://127.0.0.1:" + std::to_string(server.port()) + "/big", {"--cacert", pki().ca()});
    CHECK(big.status == 200);
    CHECK(big.body == std::string(3u << 20, 'b'));

    tt::write_file(dir.sub("cert.pem"), tt::read_file(pki().cert("server-b")));
    tt::write_file(dir.sub("key.pem"), tt::read_file(pki().key("server-b")));
    std::string err;
    REQUIRE(server.reload_tls(cfg.tls, err));
    auto after = curl(url, {"--cacert", pki().ca()});
    CHECK(after.status == 200);
    CHECK_THAT(after.verbose, Catch::Contains("CN=server-b"));

    // A client that connects and never starts its handshake is parked (no thread) and
    // closed at the header timeout, as a plain one is.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto t0 = std::chrono::steady_clock::now();
    char byte;
    CHECK(::recv(fd, &byte, 1, 0) == 0); // closed, not timed out on our side
    CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    ::close(fd);
    CHECK(server.connection_stats()->header_timeouts.load() == 1);
    CHECK(server.connection_stats()->served.load() == 0);

    // A broken key is refused whole; the working certificate stays.
    tt::write_file(dir.sub("key.pem"), "not a key\n");
    CHECK_FALSE(server.reload_tls(cfg.tls, err));
    CHECK_THAT(err, Catch::Contains("tls_key"));
    CHECK(curl(url, {"--cacert", pki().ca()}).status == 200);
    server.stop();
}

TEST_CASE("host: SIGHUP re-reads renewed certificate files; the listener stays open", "[security][tls][reload]") {
    tt::TempDir dir("sec-host-reload");
    tt::write_file(dir.sub("cert.pem"), tt::read_file(pki().cert("server-a")));
    tt::write_file(dir.sub("key.pem"), tt::read_file(pki().key("server-a")));
    tt::HostOptions o;
    o.config_text =
        "[http]\n  tls_cert = \"" + dir.sub("cert.pem") + "\"\n  tls_key = \"" + dir.sub("key.pem") + "\"\n";
    tt::HostProcess host;
    start_tls_host(host, o);
    CHECK_THAT(curl(https_url(host, "/health"), {"--cacert", pki().ca()}).verbose, Catch::Contains("CN=server-a"));

    tt::write_file(dir.sub("cert.pem"), tt::read_file(pki().cert("server-b")));
    tt::write_file(dir.sub("key.pem"), tt::read_file(pki().key("server-b")));
    REQUIRE(::kill(host.pid(), SIGHUP) == 0);
    INFO(host.log());
    REQUIRE(tt::wait_until([&] { return host.log().find("listener certificates re-read") != std::string::npos; }, 10s));
    auto after = curl(https_url(host, "/health"), {"--cacert", pki().ca()});
    CHECK(after.status == 200);
    CHECK_THAT(after.verbose, Catch::Contains("CN=server-b"));
    CHECK(host.stop() == 0);
}

TEST_CASE("tokens: @pyroscope/nodejs with authToken or basic auth accepted, without 401; DD-API-KEY; admin tokens; "
          "no secret in the log, /metrics or /health",
          "[security][tokens]") {
    const std::string pyro_token = "pyro-tok-5c1a9e";
    const std::string dd_key = "dd-key-77b0f3";
    const std::string admin = "admin-tok-e41d";
    const std::string basic_user = "alice";
    tt::TempDir work("sec-tokens");
    tt::write_file(work.sub("dd.tokens"), "# the agents' API key\n" + dd_key + "\n");
    tt::HostOptions o;
    o.config_text = "[http]\n  admin_tokens = [\"" + admin + "\"]\n";
    o.conf_d["profile/profile.conf"] =
        std::string(kProfileConf) + "  auth_tokens_file = \"" + work.sub("dd.tokens") + "\"\n";
    o.conf_d["pyroscope/pyroscope.conf"] = std::string(kPyroscopeConf) + "  auth_tokens = [\"" + pyro_token + "\"]\n";
    tt::HostProcess host(o);

    std::string base = host.url("/");
    base.pop_back();
    auto bearer = start_pyroscope(work, "bearer", base,
                                  "{ appName: 'tok-bearer', tenantID: 'team-a', authToken: '" + pyro_token + "' }");
    auto basic = start_pyroscope(work, "basic", base,
                                 "{ appName: 'tok-basic', basicAuthUser: '" + basic_user + "', basicAuthPassword: '" +
                                     pyro_token + "' }");
    auto none = start_pyroscope(work, "none", base, "{ appName: 'tok-none' }");
    auto wrong = start_pyroscope(work, "wrong", base, "{ appName: 'tok-wrong', authToken: 'not-" + pyro_token + "' }");
    bearer->wait(30s);
    basic->wait(30s);
    none->wait(30s);
    wrong->wait(30s);
    bool got = tt::wait_until(
        [&] { return points_of_service(host, "tok-bearer") > 0 && points_of_service(host, "tok-basic") > 0; }, 10s,
        200ms);
    auto metrics = tt::http("GET", host.url("/metrics"), "", "", {{"Authorization", "Bearer " + admin}});
    INFO("host log:\n" << host.log() << "\nnone log:\n" << none->log());
    CHECK(got);
    for (auto &p : host.points("profiling", "profile"))
        if (p.tag("service") == "tok-bearer") CHECK(p.tag("tenant") == "team-a"); // X-Scope-OrgID
    CHECK(points_of_service(host, "tok-none") == 0);

    CHECK(points_of_service(host, "tok-wrong") == 0);
    REQUIRE(metrics.status == 200);
    CHECK(responses_with(metrics.body, "401") >= 2); // the agents without a valid token were refused

    // The recorded dd-trace upload, replayed with and without DD-API-KEY.
    std::string dir = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs/";
    std::string body = tt::read_file(dir + "profiling-input.body.multipart");
    std::string ct = "multipart/form-data; boundary=1a8de2bbf9e4d199";
    auto refused = tt::http("POST", host.url("/profiling/v1/input"), body, ct);
    CHECK(refused.status == 401);
    CHECK(refused.header("www-authenticate").find("Bearer") != std::string::npos);
    CHECK(tt::http("POST", host.url("/profiling/v1/input"), body, ct, {{"DD-API-KEY", "wrong"}}).status == 401);
    CHECK(points_of_service(host, "acceptance-node") == 0);
    CHECK(tt::http("POST", host.url("/profiling/v1/input"), body, ct, {{"DD-API-KEY", dd_key}}).status == 200);
    CHECK(tt::wait_until([&] { return points_of_service(host, "acceptance-node") == 1; }, 10s));
    // A token of another input does not open this one.
    CHECK(tt::http("POST", host.url("/profiling/v1/input"), body, ct, {{"Authorization", "Bearer " + pyro_token}})
              .status == 401);

    // /health open, /metrics needs the admin token (an input's token is not enough).
    auto health = tt::http("GET", host.url("/health"));
    CHECK(health.status == 200);
    CHECK(tt::http("GET", host.url("/metrics")).status == 401);
    CHECK(tt::http("GET", host.url("/metrics"), "", "", {{"DD-API-KEY", dd_key}}).status == 401);
    CHECK(tt::http("POST", host.url("/-/reload"), "", "", {}).status == 401);
    metrics = tt::http("GET", host.url("/metrics"), "", "", {{"Authorization", "Bearer " + admin}});
    CHECK(metrics.status == 200);

    host.stop();
    std::string log = host.log();
    std::string basic_b64 = "YWxpY2U6"; // base64("alice:") — the start of the Basic credentials
    for (const std::string &secret : {pyro_token, dd_key, admin, basic_b64}) {
        INFO("secret " << secret);
        CHECK(log.find(secret) == std::string::npos);
        CHECK(metrics.body.find(secret) == std::string::npos);
        CHECK(health.body.find(secret) == std::string::npos);
    }
}

TEST_CASE("allow_cidrs: dd-trace refused (403) outside the list, accepted inside it", "[security][cidr]") {
    tt::HostOptions outside, inside;
    outside.conf_d["profile/profile.conf"] =
        std::string(kProfileConf) + "  allow_cidrs = [\"10.0.0.0/8\", \"fd00::/8\"]\n";
    inside.conf_d["profile/profile.conf"] =
        std::string(kProfileConf) + "  allow_cidrs = [\"10.0.0.0/8\", \"127.0.0.0/8\", \"::1/128\"]\n";
    tt::HostProcess refused_host(outside), accepted_host(inside);
    auto refused = start_ddtrace("http://127.0.0.1:" + std::to_string(refused_host.port()), "cidr-out", {}, 4);
    auto accepted = start_ddtrace("http://127.0.0.1:" + std::to_string(accepted_host.port()), "cidr-in", {}, 4);
    refused->wait(40s);
    accepted->wait(40s);
    bool got = tt::wait_until([&] { return points_of_service(accepted_host, "cidr-in") >= 1; }, 10s);
    INFO("accepted host log:\n" << accepted_host.log() << "\nrefused host log:\n" << refused_host.log());
    CHECK(got);
    CHECK(points_of_service(refused_host, "cidr-out") == 0);
    auto metrics = tt::http("GET", refused_host.url("/metrics"));
    CHECK(responses_with(metrics.body, "403") >= 1);
    // /health is not behind any input's list.
    CHECK(tt::http("GET", refused_host.url("/health")).status == 200);
}

TEST_CASE("Unix socket: dd-trace with DD_TRACE_AGENT_URL=unix:///… uploads through it", "[security][unix]") {
    tt::TempDir sock_dir("sec-unix");
    std::string sock = sock_dir.sub("apm.socket");
    tt::HostOptions o;
    o.config_text = "[http]\n  listen_unix = \"" + sock + "\"\n  listen_unix_mode = \"0660\"\n";
    o.conf_d["profile/profile.conf"] = kProfileConf;
    tt::HostProcess host(o);
    struct stat st {};
    REQUIRE(::stat(sock.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0660);

    auto dd = start_ddtrace("unix://" + sock, "unix-ddtrace", {}, 4);
    dd->wait(40s);
    bool got = tt::wait_until([&] { return points_of_service(host, "unix-ddtrace") >= 1; }, 10s);
    INFO("host log:\n" << host.log() << "\ndd-trace log:\n" << dd->log());
    CHECK(got);
    // Same routes and the host's own ones on the socket.
    auto health = run({"curl", "-s", "--unix-socket", sock, "http://localhost/health"});
    CHECK_THAT(health, Catch::Contains("\"ready\""));
    host.stop();
    CHECK_FALSE(tt::file_exists(sock)); // removed at shutdown
}

TEST_CASE("pinpoint: node agent on the plain port, a gRPC TLS client on the TLS port, allow-lists",
          "[security][pinpoint]") {
    const std::string client = std::string(TRIB_BUILD_DIR) + "/bench/bin/trib_bench_pinpoint_client";
    const std::string fixtures = std::string(TRIB_FIXTURES_DIR) + "/pinpoint-nodejs/bin";
    REQUIRE(tt::file_exists(client));
    int plain = tt::free_port(), tls = tt::free_port();
    auto conf = [&](const std::string &allowed) {
        return "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(plain) +
               "\"\n  tls_address = \"127.0.0.1:" + std::to_string(tls) + "\"\n  tls_cert = \"" +
               pki().cert("server-a") + "\"\n  tls_key = \"" + pki().key("server-a") + "\"\n  allow_applications = [" +
               allowed + "]\n";
    };
    tt::TempDir app_dir("sec-pp");
    tt::write_file(app_dir.sub("app.js"), R"JS(
require('pinpoint-node-agent');
const http = require('http');
const port = Number(process.env.APP_PORT);
http.createServer((req, res) => res.end('ok')).listen(port, '127.0.0.1');
)JS");
    auto run_node_agent = [&](int app_port) {
        std::string pp = std::to_string(plain);
        auto app = std::make_unique<tt::ChildProcess>(
            std::vector<std::string>{"node", app_dir.sub("app.js")},
            std::map<std::string, std::string>{{"NODE_PATH", kNodePath},
                                               {"APP_PORT", std::to_string(app_port)},
                                               {"PINPOINT_COLLECTOR_IP", "127.0.0.1"},
                                               {"PINPOINT_COLLECTOR_TCP_PORT", pp},
                                               {"PINPOINT_COLLECTOR_STAT_PORT", pp},
                                               {"PINPOINT_COLLECTOR_SPAN_PORT", pp},
                                               {"PINPOINT_AGENT_ID", "sec-node"},
                                               {"PINPOINT_APPLICATION_NAME", "sec-node-app"},
                                               {"PINPOINT_SAMPLING_RATE", "1"}});
        std::string url = "http://127.0.0.1:" + std::to_string(app_port) + "/x";
        REQUIRE(tt::wait_until([&] { return tt::http("GET", url).status == 200; }, 30s, 200ms));
        for (int i = 0; i < 3; ++i) tt::http("GET", url);
        return app;
    };
    auto bench = [&](const std::vector<std::string> &extra) {
        std::vector<std::string> argv = {client, "--fixtures-bin", fixtures, "--streams", "1", "--duration", "0.5"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        tt::ChildProcess p(argv);
        auto rc = p.wait(60s);
        return std::make_pair(rc.value_or(-1), p.log());
    };

    SECTION("allowed: both ports work") {
        tt::HostOptions o;
        o.conf_d["pinpoint/pinpoint.conf"] = conf("\"sec-node-app\", \"bench-app\"");
        tt::HostProcess host(o);
        auto app = run_node_agent(tt::free_port());
        bool traces = tt::wait_until([&] { return !host.points("tracing", "pinpointV2").empty(); }, 20s, 250ms);
        INFO("host log:\n" << host.log() << "\napp log:\n" << app->log());
        CHECK(traces);
        auto [rc, log] = bench({"--target", "127.0.0.1:" + std::to_string(tls), "--tls-ca", pki().ca()});
        INFO("bench client:\n" << log);
        CHECK(rc == 0);
        CHECK_THAT(log, Catch::Contains("\"OK\":1"));
        // The TLS port does not speak plain gRPC.
        auto plain_to_tls = bench({"--target", "127.0.0.1:" + std::to_string(tls)});
        CHECK(plain_to_tls.first != 0);
    }
    SECTION("application not on allow_applications: PERMISSION_DENIED, nothing stored") {
        tt::HostOptions o;
        o.conf_d["pinpoint/pinpoint.conf"] = conf("\"someone-else\"");
        tt::HostProcess host(o);
        auto app = run_node_agent(tt::free_port());
        auto [rc, log] =
            bench({"--target", "127.0.0.1:" + std::to_string(tls), "--tls-ca", pki().ca(), "--app", "sec-node-app"});
        INFO("bench client:\n" << log);
        CHECK(rc != 0);
        CHECK_THAT(log, Catch::Contains("(code 7)")); // PERMISSION_DENIED
        CHECK_THAT(log, Catch::Contains("applicationname sec-node-app is not allowed"));
        std::this_thread::sleep_for(3s); // the agent's spans would have arrived by now
        INFO("host log:\n" << host.log() << "\napp log:\n" << app->log());
        CHECK(host.points("tracing", "pinpointV2").empty());
    }
}
