// Issue 11, the host's side: hostile input sent to a real `tributary` process. Each case
// checks the answer, that /health still answers, that the host's VmHWM stays under the
// documented bound, and that uploads accepted before the attack are all in the file sink.
#include <catch2/catch.hpp>
#include <trib_test/support.hpp>
#include <tributary/profiling/multipart.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tt = trib::test;
using namespace std::chrono_literals;

namespace {

// README "## Limits": the host's peak RSS under attack with default limits.
constexpr uint64_t kVmHwmBoundKb = 300 * 1024;

const std::string kFixtures = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs/";
const std::string kUploadType = "multipart/form-data; boundary=1a8de2bbf9e4d199";

uint64_t vmhwm_kb(pid_t pid) { return tt::peak_rss_kb(pid); }

// A host with the profile input on its sample config.
tt::HostOptions profile_host(std::map<std::string, std::string> env = {}, std::string config = "") {
    tt::HostOptions o;
    o.env = std::move(env);
    o.env["ENV_DEFAULT_ENABLED_INPUTS"] = "profile";
    o.config_text = std::move(config);
    return o;
}

// The recorded dd-trace (nodejs) upload, as the client sent it.
int post_recorded_upload(tt::HostProcess &host) {
    static const std::string body = tt::read_file(kFixtures + "profiling-input.body.multipart");
    return tt::http("POST", host.url("/profiling/v1/input"), body, kUploadType).status;
}

// /health answers 200, the peak RSS is under the bound, and every accepted upload is a
// profile point in the file sink.
void check_host_survived(tt::HostProcess &host, size_t accepted_uploads) {
    INFO(host.log());
    REQUIRE(host.running());
    auto health = tt::http("GET", host.url("/health"));
    CHECK(health.status == 200);
    uint64_t hwm = vmhwm_kb(host.pid());
    INFO("VmHWM " << hwm << " kB");
    CHECK(hwm > 0);
    CHECK(hwm < kVmHwmBoundKb);
    CHECK(tt::wait_until([&] { return host.points("profiling", "profile").size() == accepted_uploads; }, 15s));
    CHECK(host.points("profiling", "profile").size() == accepted_uploads);
}

// A raw TCP connection to the host, for what an HTTP client library would not send.
class RawConnection {
  public:
    explicit RawConnection(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
            throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
    }
    ~RawConnection() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawConnection(const RawConnection &) = delete;
    RawConnection &operator=(const RawConnection &) = delete;

    bool send_all(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }
    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
    // Everything until the peer closes or `timeout` passes.
    std::string read_until_closed(std::chrono::milliseconds timeout) {
        std::string out;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                closed_ = true;
                break;
            }
            out.append(buf, static_cast<size_t>(n));
        }
        return out;
    }
    bool closed() const { return closed_; }
    // One whole response (header, then Content-Length bytes of body); empty on timeout or close.
    std::string read_response(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            size_t end = pending_.find("\r\n\r\n");
            if (end != std::string::npos) {
                size_t body = 0, cl = pending_.find("Content-Length: ");
                if (cl != std::string::npos && cl < end) body = std::stoul(pending_.substr(cl + 16));
                if (pending_.size() >= end + 4 + body) {
                    std::string r = pending_.substr(0, end + 4 + body);
                    pending_.erase(0, end + 4 + body);
                    return r;
                }
            }
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::string();
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                closed_ = true;
                return std::string();
            }
            pending_.append(buf, static_cast<size_t>(n));
        }
    }

  private:
    std::string pending_;
    int fd_ = -1;
    bool closed_ = false;
};

double metric(const std::string &text, const std::string &name_and_labels) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
    return -1;
}

// `tributary --check-config` on a config dir; returns (exit code, output).
std::pair<int, std::string> check_config(const std::string &config_file,
                                         const std::map<std::string, std::string> &env = {},
                                         std::chrono::milliseconds timeout = 30s) {
    tt::ChildProcess p({TRIB_BUILD_DIR "/bin/tributary", "--check-config", "--config", config_file, "--plugins-dir",
                        TRIB_BUILD_DIR "/plugins"},
                       env);
    auto code = p.wait(timeout);
    if (!code) p.stop(SIGKILL, 1s);
    return {code ? *code : -1, p.log()};
}

} // namespace

TEST_CASE("defect 1: configs nested 30,000 deep are refused with the limit, not a crash", "[config_depth]") {
    tt::TempDir dir("hostile-depth");
    std::string deep = "x = " + std::string(30000, '[') + std::string(30000, ']') + "\n";
    tt::write_file(dir.sub("tributary.conf"), deep);
    auto [code, out] = check_config(dir.sub("tributary.conf"));
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains(dir.sub("tributary.conf")) && Catch::Contains("nested deeper than 64"));

    // Inline tables and a deep conf.d file are bounded the same way.
    std::string tables = "[[inputs.profile]]\n  t = ";
    for (int i = 0; i < 30000; ++i) tables += "{a=";
    tables += "1" + std::string(30000, '}') + "\n";
    tt::write_file(dir.sub("tributary.conf"), "");
    tt::write_file(dir.sub("conf.d/deep.conf"), tables);
    std::tie(code, out) = check_config(dir.sub("tributary.conf"));
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("deep.conf") && Catch::Contains("nested deeper than 64"));

    // A JSON value from the environment, 30,000 deep (an env string stays under 128 KiB).
    std::filesystem::remove(dir.sub("conf.d/deep.conf"));
    std::tie(code, out) = check_config(
        dir.sub("tributary.conf"), {{"ENV_DEFAULT_ENABLED_INPUTS", "profile"},
                                    {"ENV_INPUT_PROFILE_EXTRA", std::string(30000, '[') + std::string(30000, ']')}});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("ENV_INPUT_PROFILE_EXTRA") && Catch::Contains("nested deeper than 64"));

    // A running host: uploads before and after a client-side attack are unaffected.
    tt::HostProcess host(profile_host());
    REQUIRE(post_recorded_upload(host) == 200);
    check_host_survived(host, 1);
}

TEST_CASE("defect 2: a line break in a client string cannot forge a point", "[line_protocol]") {
    tt::HostProcess host(profile_host());
    REQUIRE(post_recorded_upload(host) == 200);

    std::string event = tt::read_file(kFixtures + "part-event.json");
    // The client's own runtime-id key (not the one in tags_profiler) becomes the string field.
    const std::string tagged = "runtime-id:afbe3baf-443c-41c8-91e7-5b6cd9f28c1d,";
    REQUIRE(event.find(tagged) != std::string::npos);
    event.erase(event.find(tagged), tagged.size());
    while (!event.empty() && event.back() != '}') event.pop_back();
    event.pop_back();
    event += ",\"runtime-id\":\"rid\\nFORGED,host=x value=1i 1700000000000000000\\r\\n\\u0000end\"}";
    trib::profiling::MultipartWriter w("hostile-lp");
    w.add_file("event", "event.json", "application/json", event);
    w.add_file("wall.pprof", "wall.pprof", "application/octet-stream", tt::read_file(kFixtures + "part-wall.pprof.gz"));
    auto r = tt::http("POST", host.url("/profiling/v1/input"), w.finish(), w.content_type());
    INFO(r.body);
    CHECK(r.status == 200);

    check_host_survived(host, 2);
    for (auto &p : host.points("profiling")) CHECK(p.measurement != "FORGED");
    // The raw file: every line is one point, and the escapes are there as written.
    std::string lp = tt::read_file(host.data_dir() + "/points/profiling/profile.lp");
    CHECK(lp.find("\nFORGED") == std::string::npos);
    CHECK(lp.find('\r') == std::string::npos);
    CHECK(lp.find('\0') == std::string::npos);
    INFO(lp);
    bool found = false;
    for (auto &p : host.points("profiling", "profile"))
        if (p.has_field("runtime_id") &&
            p.field_str("runtime_id") == "rid\\nFORGED,host=x value=1i 1700000000000000000\\r\\n\\0end")
            found = true;
    CHECK(found);
}

TEST_CASE("defect 3: bodies in flight are bounded host-wide: 429 while spent, 413 past the budget", "[memory_budget]") {
    // Default budget (128 MiB); the profile route may take 200 MiB so the budget is what bounds.
    tt::HostProcess host(profile_host({{"ENV_INPUT_PROFILE_BODY_SIZE_LIMIT_MB", "200"}}));
    REQUIRE(post_recorded_upload(host) == 200);
    const uint64_t mib = 1 << 20;
    auto header = [&](uint64_t len) {
        return "POST /profiling/v1/input HTTP/1.1\r\nHost: x\r\nContent-Type: " + kUploadType +
               "\r\nContent-Length: " + std::to_string(len) + "\r\n\r\n";
    };
    {
        // Four uploads of 32 MiB, all but their last byte sent, hold the whole budget (and
        // 128 MiB of the host's memory) until they finish.
        std::vector<std::unique_ptr<RawConnection>> slow;
        for (int i = 0; i < 4; ++i) {
            slow.push_back(std::make_unique<RawConnection>(host.port()));
            REQUIRE(slow.back()->send_all(header(32 * mib) + std::string(32 * mib - 1, 'x')));
        }
        tt::HttpResult m;
        REQUIRE(tt::wait_until(
            [&] {
                m = tt::http("GET", host.url("/metrics"));
                return metric(m.body, "tributary_inflight_memory_bytes") == double(128 * mib);
            },
            10s));
        CHECK(metric(m.body, "tributary_inflight_memory_limit_bytes") == double(128 * mib));

        // The next one is told to come back: 429 with Retry-After, and nothing is stored.
        auto busy = tt::http("POST", host.url("/profiling/v1/input"), std::string(8 * mib, 'y'), kUploadType);
        CHECK(busy.status == 429);
        CHECK(busy.header("retry-after") == "1");
        CHECK_THAT(busy.body, Catch::Contains("inflight_memory_mb"));
        // /health is not a body: it answers while the budget is spent.
        CHECK(tt::http("GET", host.url("/health")).status == 200);
    }
    // The slow clients went away: their reservations are back.
    CHECK(tt::wait_until(
        [&] { return metric(tt::http("GET", host.url("/metrics")).body, "tributary_inflight_memory_bytes") == 0; },
        10s));

    // One body larger than the whole budget can never fit: 413, not a retry.
    {
        RawConnection big(host.port());
        REQUIRE(big.send_all(header(150 * mib)));
        big.shutdown_write();
        std::string answer = big.read_until_closed(10s);
        CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 413") && Catch::Contains("inflight_memory_mb"));
    }
    auto m = tt::http("GET", host.url("/metrics"));
    CHECK(metric(m.body, "tributary_inflight_memory_refused_total{reason=\"busy\"}") >= 1);
    CHECK(metric(m.body, "tributary_inflight_memory_refused_total{reason=\"too_large\"}") >= 1);

    REQUIRE(post_recorded_upload(host) == 200);
    check_host_survived(host, 2);
}

TEST_CASE("defect 6: 1,000 idle or slow connections do not block new clients", "[idle_connections]") {
    // The test itself holds ~1,000 sockets.
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    REQUIRE(nofile.rlim_cur > 2200);

    tt::HostProcess host(profile_host({}, "[http]\n  idle_timeout_s = 2\n"));
    REQUIRE(post_recorded_upload(host) == 200);
    size_t accepted = 1;
    static const std::string upload = tt::read_file(kFixtures + "profiling-input.body.multipart");

    auto new_clients_answered_fast = [&] {
        auto t0 = std::chrono::steady_clock::now();
        auto health = tt::http("GET", host.url("/health"), "", "", {}, 1000);
        CHECK(health.status == 200);
        auto up = tt::http("POST", host.url("/profiling/v1/input"), upload, kUploadType, {}, 1000);
        CHECK(up.status == 200);
        if (up.status == 200) ++accepted;
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    };

    std::vector<std::unique_ptr<RawConnection>> conns;
    for (int i = 0; i < 1000; ++i) conns.push_back(std::make_unique<RawConnection>(host.port()));
    new_clients_answered_fast();

    // 1,000 more that send only the start of a request line: the oldest idle ones make room.
    std::vector<std::unique_ptr<RawConnection>> slow;
    for (int i = 0; i < 1000; ++i) {
        slow.push_back(std::make_unique<RawConnection>(host.port()));
        slow.back()->send_all("GET /hea");
    }
    new_clients_answered_fast();
    conns.clear();

    // A header must arrive within header_timeout_s (5 s by default): then 408 and closed.
    std::string answer = slow.back()->read_until_closed(8s);
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 408"));
    CHECK(slow.back()->closed());
    slow.clear();

    // Keep-alive works, and an idle keep-alive connection is closed after idle_timeout_s.
    {
        RawConnection keep(host.port());
        REQUIRE(keep.send_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
        auto t0 = std::chrono::steady_clock::now();
        std::string both = keep.read_until_closed(6s);
        auto waited = std::chrono::steady_clock::now() - t0;
        size_t first = both.find("HTTP/1.1 200");
        CHECK(first != std::string::npos);
        CHECK(both.find("HTTP/1.1 200", first + 1) != std::string::npos);
        CHECK(keep.closed());
        CHECK(waited >= 1500ms);
        CHECK(waited < 5s);
    }
    auto m = tt::http("GET", host.url("/metrics"));
    CHECK(metric(m.body, "tributary_http_connections_closed_total{reason=\"header_timeout\"}") >= 1);
    // 2,000 were opened against max_connections = 1024: the oldest idle ones made room.
    CHECK(metric(m.body, "tributary_http_connections_closed_total{reason=\"evicted\"}") >= 900);
    check_host_survived(host, accepted);
}

TEST_CASE("1,000 idle keep-alive connections: a new client's upload is answered in < 1 s, and each of them "
          "is still served",
          "[keepalive_idle]") {
    rlimit nofile{};
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
    REQUIRE(nofile.rlim_cur > 1200);

    tt::HostProcess host(profile_host());
    size_t accepted = 0;
    static const std::string upload = tt::read_file(kFixtures + "profiling-input.body.multipart");
    // 1,000 clients each make a request and keep the connection open, idle.
    std::vector<std::unique_ptr<RawConnection>> conns;
    const std::string health = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 1000; ++i) {
        conns.push_back(std::make_unique<RawConnection>(host.port()));
        REQUIRE(conns.back()->send_all(health));
    }
    size_t answered = 0;
    for (auto &c : conns) answered += c->read_response(10s).rfind("HTTP/1.1 200", 0) == 0;
    REQUIRE(answered == 1000);

    auto t0 = std::chrono::steady_clock::now();
    auto up = tt::http("POST", host.url("/profiling/v1/input"), upload, kUploadType, {}, 1000);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(up.status == 200);
    if (up.status == 200) ++accepted;
    CHECK(took < 1s);

    // None of the idle ones was dropped to make room: each is answered again.
    answered = 0;
    for (auto &c : conns) REQUIRE(c->send_all(health));
    for (auto &c : conns) answered += c->read_response(10s).rfind("HTTP/1.1 200", 0) == 0;
    CHECK(answered == 1000);
    auto m = tt::http("GET", host.url("/metrics"));
    CHECK(metric(m.body, "tributary_http_connections_closed_total{reason=\"evicted\"}") <= 0);
    conns.clear();
    check_host_survived(host, accepted);
}

TEST_CASE("defect 10: conf.d symlink loops load each file once and say so", "[conf_d_loops]") {
    tt::HostOptions opts;
    opts.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    tt::HostProcess host(opts);
    namespace fs = std::filesystem;
    std::string conf_d = host.config_dir() + "/conf.d";
    fs::create_directory_symlink(".", conf_d + "/self");
    fs::create_directory_symlink("..", conf_d + "/profile/up");
    fs::create_symlink("profile/profile.conf", conf_d + "/again.conf");

    auto t0 = std::chrono::steady_clock::now();
    auto [code, out] = check_config(host.config_dir() + "/tributary.conf", {}, 20s);
    INFO(out);
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("1 input instance(s)"));
    CHECK_THAT(out, Catch::Contains("already read"));

    // Restarted on the looping conf.d: one instance, ready, uploads stored.
    REQUIRE(post_recorded_upload(host) == 200);
    host.restart();
    auto health = tt::http("GET", host.url("/health"));
    CHECK(health.body.find("\"instance\":\"1\"") == std::string::npos);
    REQUIRE(post_recorded_upload(host) == 200);
    check_host_survived(host, 2);
}

TEST_CASE("defect 11: --check-config refuses what start refuses; a failed input makes /health not ready",
          "[check_config]") {
    tt::TempDir dir("hostile-check");
    tt::write_file(dir.sub("tributary.conf"), "");
    auto [code, out] = check_config(dir.sub("tributary.conf"), {{"ENV_DEFAULT_ENABLED_INPUTS", "profile"},
                                                                {"ENV_INPUT_PROFILE_BODY_SIZE_LIMIT_MB", "-5"}});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("body_size_limit_mb") && Catch::Contains("inputs.profile"));

    tt::write_file(dir.sub("tributary.conf"), "[[sinks]]\n  type = \"influxdb\"\n  url = \"http://127.0.0.1:8086\"\n"
                                              "  database = \"d\"\n  token = \"t\"\n  password = \"p\"\n");
    std::tie(code, out) = check_config(dir.sub("tributary.conf"));
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("sinks[0]") && Catch::Contains("token"));

    tt::write_file(dir.sub("tributary.conf"), "");
    std::tie(code, out) = check_config(dir.sub("tributary.conf"), {{"ENV_HTTP_LISTEN", "999.1.1.1:99999"}});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("ENV_HTTP_LISTEN") && Catch::Contains("999.1.1.1:99999"));
    std::tie(code, out) = check_config(dir.sub("tributary.conf"), {{"ENV_HTTP_LISTEN", "999.1.1.1:9999"}});
    INFO(out);
    CHECK(code == 1);
    CHECK_THAT(out, Catch::Contains("ENV_HTTP_LISTEN") && Catch::Contains("not an address"));

    // Two instances on one endpoint: the second cannot start, so the host is not ready and
    // says why; the first one still takes uploads.
    std::string two = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n"
                      "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    tt::HostOptions opts;
    opts.conf_d["profile.conf"] = two;
    opts.wait_ready = false;
    tt::HostProcess host(opts);
    tt::HttpResult health;
    REQUIRE(tt::wait_until([&] { return (health = tt::http("GET", host.url("/health"))).status != 0; }, 30s));
    REQUIRE(tt::wait_until(
        [&] { return (health = tt::http("GET", host.url("/health"))).body.find("failed") != std::string::npos; }, 30s));
    CHECK(health.status == 503);
    CHECK_THAT(health.body, Catch::Contains("profile/1") && Catch::Contains("already registered"));
    CHECK(post_recorded_upload(host) == 200);
    host.stop();

    // The same with `optional = true` on the second: ready, the failure still listed.
    opts.conf_d["profile.conf"] = two + "  optional = true\n";
    opts.wait_ready = true;
    tt::HostProcess optional_host(opts);
    health = tt::http("GET", optional_host.url("/health"));
    CHECK(health.status == 200);
    CHECK_THAT(health.body, Catch::Contains("\"optional\":true"));
    REQUIRE(post_recorded_upload(optional_host) == 200);
    check_host_survived(optional_host, 1);
}
