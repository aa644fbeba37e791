// The real host binary with the test modules: health, metrics, tags, attachments, sinks,
// backpressure, shutdown with points in flight, config errors.
#include <catch2/catch.hpp>
#include <tributary/plugin.h>
#include <trib_test/support.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

using namespace trib::test;

namespace {

const std::string kPlugins = TRIB_CORE_TEST_PLUGINS;

HostOptions base_options() {
    HostOptions o;
    o.plugins_dir = kPlugins;
    return o;
}

std::string lp_batch(int first, int n, const std::string &measurement = "m") {
    std::string body;
    for (int i = first; i < first + n; ++i)
        body += measurement + " seq=" + std::to_string(i) + "i " + std::to_string(1700000000000000000LL + i) + "\n";
    return body;
}

// Value of the first sample of `metric` whose labels contain `label_part`.
double metric_value(const std::string &text, const std::string &metric, const std::string &label_part = "") {
    size_t pos = 0;
    while ((pos = text.find(metric, pos)) != std::string::npos) {
        size_t eol = text.find('\n', pos);
        std::string line = text.substr(pos, eol - pos);
        bool at_line_start = pos == 0 || text[pos - 1] == '\n';
        pos = eol;
        if (!at_line_start) continue;
        if (line.size() > metric.size() && line[metric.size()] != '{' && line[metric.size()] != ' ') continue;
        if (!label_part.empty() && line.find(label_part) == std::string::npos) continue;
        return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return -1;
}

struct CheckResult {
    int code;
    std::string output;
};

// Runs `tributary --check-config` with the given config files.
CheckResult check_config(const std::string &config_text, const std::map<std::string, std::string> &conf_d,
                         const std::map<std::string, std::string> &env = {}) {
    TempDir d;
    write_file(d.sub("tributary.conf"), config_text);
    for (auto &kv : conf_d) write_file(d.sub("conf.d/" + kv.first), kv.second);
    std::map<std::string, std::string> e = env;
    ChildOptions co;
    co.argv = {TRIB_BUILD_DIR "/bin/tributary",
               "--config",
               d.sub("tributary.conf"),
               "--plugins-dir",
               kPlugins,
               "--check-config"};
    co.env = e;
    co.env["PATH"] = "/usr/bin:/bin";
    co.replace_env = true;
    ChildProcess p(co);
    auto st = p.wait(30000ms);
    return {st.value_or(-1), p.log()};
}

} // namespace

TEST_CASE("host: /health, /metrics, global and instance tags, state dir", "[core][host]") {
    HostOptions o = base_options();
    o.env["ENV_GLOBAL_HOST_TAGS"] = "zone=z1,team=core";
    o.conf_d["test/a.conf"] = R"(
[[inputs.test_input]]
  path = "/a"
  [inputs.test_input.tags]
    service = "svc-a"
    team = "instance-team"
[[inputs.test_input]]
  path = "/b"
)";
    HostProcess host(o);

    auto health = http("GET", host.url("/health"));
    REQUIRE(health.status == 200);
    CHECK_THAT(health.body, Catch::Contains("\"live\":true"));
    CHECK_THAT(health.body, Catch::Contains("\"ready\":true"));
    CHECK_THAT(health.body, Catch::Contains("\"role\":\"leader\""));
    CHECK(health.header("content-type") == "application/json");

    auto r = http("POST", host.url("/a"), "cpu,own=1 v=1i 1000\ncpu,team=point-team v=2i 2000\n");
    REQUIRE(r.status == 200);
    r = http("POST", host.url("/b"), "cpu v=3i 3000\n");
    REQUIRE(r.status == 200);
    CHECK(http("POST", host.url("/nope"), "x v=1i\n").status == 404);
    CHECK(http("GET", host.url("/a")).status == 405);

    std::vector<LpPoint> pts;
    REQUIRE(wait_until([&] { return (pts = host.points("metric", "cpu")).size() == 3; }, 10000ms));
    std::map<int64_t, LpPoint> by_v;
    for (auto &p : pts) by_v[p.field_int("v")] = p;
    // Instance tags and global tags; the point's own tag wins, then the instance's.
    CHECK(by_v[1].tag("service") == "svc-a");
    CHECK(by_v[1].tag("team") == "instance-team");
    CHECK(by_v[1].tag("zone") == "z1");
    CHECK(by_v[1].tag("own") == "1");
    CHECK_FALSE(by_v[1].tag("host").empty());
    CHECK(by_v[2].tag("team") == "point-team");
    CHECK(by_v[3].tag("team") == "core");
    CHECK_FALSE(by_v[3].has_tag("service"));
    CHECK(by_v[1].time_ns == 1000);

    auto leader = http("GET", host.url("/a/leader"));
    CHECK(leader.status == 200);
    CHECK_THAT(leader.body, Catch::StartsWith("leader 1 "));
    CHECK_THAT(leader.body, Catch::EndsWith(host.data_dir() + "/state/test_input/0"));
    CHECK(file_exists(host.data_dir() + "/state/test_input/1"));

    auto metrics = http("GET", host.url("/metrics"));
    REQUIRE(metrics.status == 200);
    INFO(metrics.body);
    CHECK(metric_value(metrics.body, "tributary_input_points_emitted_total", "instance=\"0\"") == 2);
    CHECK(metric_value(metrics.body, "tributary_input_points_emitted_total", "instance=\"1\"") == 1);
    CHECK(metric_value(metrics.body, "tributary_module_requests", "module=\"test_input\",instance=\"0\"") == 1);
    CHECK(metric_value(metrics.body, "tributary_sink_points_written_total", "sink=\"file\"") == 3);
    CHECK(metric_value(metrics.body, "tributary_bus_memory_limit_bytes") == 64.0 * 1024 * 1024);
    CHECK(metric_value(metrics.body, "tributary_http_responses_total", "code=\"404\"") == 1);
    // Every loaded module is listed, the sink module without any instance too.
    CHECK(metric_value(metrics.body, "tributary_module_info",
                       "module=\"test_input\",version=\"1.0.0\",kind=\"input\",abi=\"1." +
                           std::to_string(TRIB_ABI_MINOR_CURRENT) + "\"") == 1);
    CHECK(metric_value(metrics.body, "tributary_module_info", "module=\"test_sink\"") == 1);

    CHECK(host.stop() == 0);
}

TEST_CASE("host: attachments land under attachments/<profile_id>/ with names that cannot escape", "[core][host]") {
    HostOptions o = base_options();
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    std::string bytes("\x00\x01profile-bytes\xff", 16);
    auto r = http("POST", host.url("/test/emit?attach=cpu.pprof&profile_id=abc123"), bytes);
    REQUIRE(r.status == 200);
    r = http("POST", host.url("/test/emit?attach=..%2F..%2Fescape&profile_id=..%2Fup"), "evil");
    REQUIRE(r.status == 200);
    std::vector<LpPoint> pts;
    REQUIRE(wait_until([&] { return (pts = host.points("profiling", "profile")).size() == 2; }, 10000ms));
    CHECK(read_file(host.data_dir() + "/attachments/abc123/cpu.pprof") == bytes);
    auto files = list_files(host.data_dir());
    INFO([&] {
        std::string s;
        for (auto &f : files) s += f + "\n";
        return s;
    }());
    // Everything stayed inside the data dir, under attachments/.
    CHECK(file_exists(host.data_dir() + "/attachments/.._up/.._.._escape"));
    CHECK(read_file(host.data_dir() + "/attachments/.._up/.._.._escape") == "evil");
    CHECK(host.stop() == 0);
}

TEST_CASE("host: [attachments] max_size_mb bounds the store under a stream of uploads, oldest first",
          "[core][host][store]") {
    HostOptions o = base_options();
    o.config_text = "[attachments]\nmax_size_mb = 5\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    const size_t upload_bytes = 300 * 1024;
    const std::string root = host.data_dir() + "/attachments";
    auto store_bytes = [&] {
        uint64_t n = 0;
        for (auto &f : list_files(root)) n += std::filesystem::file_size(root + "/" + f);
        return n;
    };
    for (int i = 0; i < 40; ++i) {
        std::string body(upload_bytes, char('a' + i % 26));
        auto r = http("POST", host.url("/test/emit?attach=cpu.pprof&profile_id=u" + std::to_string(100 + i)), body);
        REQUIRE(r.status == 200);
        // Under 5 MB plus the one upload in hand, after every upload.
        CHECK(store_bytes() <= (5u << 20) + upload_bytes);
    }
    // The newest uploads are kept (a run without gaps), the oldest went first.
    std::set<std::string> left;
    for (auto &e : std::filesystem::directory_iterator(root)) left.insert(e.path().filename());
    REQUIRE(left.size() >= 15);
    REQUIRE(left.size() < 40);
    for (int i = 140 - int(left.size()); i < 140; ++i) CHECK(left.count("u" + std::to_string(i)));
    CHECK(read_file(root + "/u139/cpu.pprof") == std::string(upload_bytes, char('a' + 39 % 26)));
    // Points of removed profiles are not rewritten: all 40 lines are there.
    std::vector<LpPoint> pts;
    REQUIRE(wait_until([&] { return (pts = host.points("profiling", "profile")).size() == 40; }, 10000ms));
    auto metrics = http("GET", host.url("/metrics")).body;
    CHECK(metric_value(metrics, "tributary_attachments_removed_total", "reason=\"size\"") == 40 - left.size());
    CHECK(metric_value(metrics, "tributary_attachments_bytes") == store_bytes());
    CHECK(metric_value(metrics, "tributary_attachments_limit_bytes") == 5.0 * 1024 * 1024);
    CHECK(host.stop() == 0);
}

TEST_CASE("host: stored attachments reach a second file sink and a sink module byte for byte", "[core][host][store]") {
    TempDir work;
    HostOptions o = base_options();
    o.config_text = "[[sinks]]\ntype = \"file\"\n[[sinks]]\nname = \"copy\"\ntype = \"file\"\npath = \"" +
                    work.sub("copy") + "\"\n[[sinks]]\nname = \"mod\"\ntype = \"test_sink\"\npath = \"" +
                    work.sub("mod.lp") + "\"\nattachments_dir = \"" + work.sub("mod-att") + "\"\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    std::string bytes;
    for (int i = 0; i < 70000; ++i) bytes.push_back(char(i * 7 % 251));
    REQUIRE(http("POST", host.url("/test/emit?attach=wall.pprof&profile_id=xyz"), bytes).status == 200);
    // The sinks write on their own threads: wait for the whole file, not its first byte.
    auto holds = [&](const std::string &path) {
        return wait_until([&] { return file_exists(path) && read_file(path) == bytes; }, 10000ms);
    };
    CHECK(read_file(host.data_dir() + "/attachments/xyz/wall.pprof") == bytes);
    CHECK(holds(work.sub("copy/attachments/xyz/wall.pprof")));
    CHECK(holds(work.sub("mod-att/xyz/wall.pprof")));
    CHECK(host.stop() == 0);
}

TEST_CASE("host: a blocked sink does not stop the file sink; nothing is lost once it moves", "[core][host]") {
    TempDir work;
    write_file(work.sub("block"), "");
    HostOptions o = base_options();
    o.config_text = "[[sinks]]\nname = \"slow\"\ntype = \"test_sink\"\npath = \"" + work.sub("slow.lp") +
                    "\"\nblock_file = \"" + work.sub("block") + "\"\n[[sinks]]\ntype = \"file\"\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    for (int i = 0; i < 5; ++i) REQUIRE(http("POST", host.url("/test/emit"), lp_batch(i * 100, 100)).status == 200);
    REQUIRE(wait_until([&] { return host.points("metric", "m").size() == 500; }, 10000ms));
    CHECK_FALSE(file_exists(work.sub("slow.lp")));
    auto metrics = http("GET", host.url("/metrics")).body;
    CHECK(metric_value(metrics, "tributary_sink_queue_points", "sink=\"slow\"") > 0);
    std::remove(work.sub("block").c_str());
    CHECK(wait_until(
        [&] {
            return file_exists(work.sub("slow.lp")) &&
                   parse_line_protocol(read_file(work.sub("slow.lp"))).size() == 500;
        },
        10000ms));
    CHECK(host.stop() == 0);
}

TEST_CASE("host: a full bus answers 429 with Retry-After and memory stays under the ceiling", "[core][host]") {
    TempDir work;
    write_file(work.sub("block"), "");
    HostOptions o = base_options();
    o.config_text = "[bus]\nmax_memory_mb = 1\n[[sinks]]\nname = \"slow\"\ntype = \"test_sink\"\npath = \"" +
                    work.sub("slow.lp") + "\"\nblock_file = \"" + work.sub("block") + "\"\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    std::set<int> accepted;
    bool saw_429 = false;
    std::string retry_after;
    for (int b = 0; b < 200 && !saw_429; ++b) {
        auto r = http("POST", host.url("/test/emit"), lp_batch(b * 200, 200));
        if (r.status == 200) {
            for (int i = b * 200; i < b * 200 + 200; ++i) accepted.insert(i);
        } else {
            REQUIRE(r.status == 429);
            saw_429 = true;
            retry_after = r.header("retry-after");
        }
    }
    REQUIRE(saw_429);
    CHECK(retry_after == "1");
    auto metrics = http("GET", host.url("/metrics")).body;
    double peak = metric_value(metrics, "tributary_bus_memory_peak_bytes");
    CHECK(peak > 0);
    CHECK(peak <= 1024.0 * 1024);
    CHECK(metric_value(metrics, "tributary_input_backpressure_total", "module=\"test_input\"") >= 1);

    std::remove(work.sub("block").c_str());
    std::vector<LpPoint> got;
    REQUIRE(wait_until(
        [&] {
            return file_exists(work.sub("slow.lp")) &&
                   (got = parse_line_protocol(read_file(work.sub("slow.lp")))).size() == accepted.size();
        },
        15000ms));
    std::set<int> seqs;
    for (auto &p : got) seqs.insert(static_cast<int>(p.field_int("seq")));
    CHECK(seqs == accepted);
    // Memory freed: new points are accepted again.
    CHECK(http("POST", host.url("/test/emit"), lp_batch(1000000, 10)).status == 200);
    CHECK(host.stop() == 0);
}

TEST_CASE("host: SIGTERM with points in flight: every accepted point is in the sinks after exit", "[core][host]") {
    // A slow second sink guarantees points are still queued when SIGTERM arrives.
    TempDir work;
    HostOptions o = base_options();
    o.config_text = "[[sinks]]\ntype = \"file\"\n[[sinks]]\nname = \"slow\"\ntype = \"test_sink\"\npath = \"" +
                    work.sub("slow.lp") + "\"\ndelay_ms = 30\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::set<int> accepted;
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c)
        clients.emplace_back([&, c] {
            for (int b = 0; !stop; ++b) {
                int first = (c * 100000 + b) * 100;
                auto r = http("POST", host.url("/test/emit"), lp_batch(first, 100), "", {}, 5000);
                if (r.status == 200) {
                    std::lock_guard<std::mutex> lk(mu);
                    for (int i = first; i < first + 100; ++i) accepted.insert(i);
                } else if (r.status == 0) {
                    break; // the host closed its listener
                }
            }
        });
    REQUIRE(wait_until(
        [&] {
            std::lock_guard<std::mutex> lk(mu);
            return accepted.size() >= 5000;
        },
        20000ms, 10ms));
    double queued =
        metric_value(http("GET", host.url("/metrics")).body, "tributary_sink_queue_points", "sink=\"slow\"");
    int status = host.stop(SIGTERM);
    stop = true;
    for (auto &t : clients) t.join();
    CHECK(status == 0);
    CHECK(queued > 0);
    auto check_all = [&](const std::vector<LpPoint> &pts, const char *sink) {
        std::set<int> written;
        for (auto &p : pts) written.insert(static_cast<int>(p.field_int("seq")));
        INFO(sink << ": accepted " << accepted.size() << ", written " << written.size());
        for (int s : accepted)
            if (!written.count(s)) FAIL("accepted point seq=" << s << " is missing from sink " << sink);
        CHECK(written.size() >= accepted.size());
    };
    check_all(read_points(host.data_dir(), "metric", "m"), "file");
    check_all(parse_line_protocol(read_file(work.sub("slow.lp"))), "slow");
    CHECK_THAT(host.log(), Catch::Contains("stopped"));
}

TEST_CASE("host: a failing create is one log line naming the file; the other instance runs", "[core][host]") {
    HostOptions o = base_options();
    // optional: the host is ready without it (otherwise /health says not ready, see below).
    o.conf_d["t.conf"] =
        "[[inputs.test_input]]\n  fail_create = true\n  optional = true\n[[inputs.test_input]]\n  path = \"/ok\"\n";
    HostProcess host(o);
    CHECK(http("POST", host.url("/ok"), "x v=1i 1\n").status == 200);
    std::string log = host.log();
    CHECK_THAT(log, Catch::Contains("trib_core_test_input.so") && Catch::Contains("fail_create is set"));
    CHECK(host.stop() == 0);
}

TEST_CASE("host: body limit gives 413", "[core][host]") {
    HostOptions o = base_options();
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n  max_body_bytes = 1000\n";
    HostProcess host(o);
    CHECK(http("POST", host.url("/test/emit"), std::string(2000, 'x')).status == 413);
    CHECK(http("POST", host.url("/test/emit"), "x v=1i 1\n").status == 200);
    CHECK(host.stop() == 0);
}

TEST_CASE("check-config: errors name the file or variable and key; exit 1", "[core][host][config]") {
    auto ok = check_config("", {});
    INFO(ok.output);
    CHECK(ok.code == 0);

    auto syntax = check_config("[bus\n", {});
    CHECK(syntax.code == 1);
    CHECK_THAT(syntax.output, Catch::Contains("tributary.conf") && Catch::Contains("TOML syntax error"));

    auto unknown = check_config("", {{"x/in.conf", "[[inputs.nosuch]]\n"}});
    CHECK(unknown.code == 1);
    CHECK_THAT(unknown.output, Catch::Contains("x/in.conf") && Catch::Contains("inputs.nosuch"));

    auto bad_env = check_config("", {{"t.conf", "[[inputs.test_input]]\n"}}, {{"ENV_INPUT_TEST_INPUT_TAGS", "[1]"}});
    CHECK(bad_env.code == 1);
    CHECK_THAT(bad_env.output, Catch::Contains("ENV_INPUT_TEST_INPUT_TAGS") && Catch::Contains("'tags'"));

    auto bad_sink = check_config("[[sinks]]\ntype = \"carrier-pigeon\"\n", {});
    CHECK(bad_sink.code == 1);
    CHECK_THAT(bad_sink.output, Catch::Contains("carrier-pigeon"));
}

TEST_CASE("host: flags beat env, env beats the file (listen address)", "[core][host][config]") {
    // HostProcess passes --listen; ENV_HTTP_LISTEN and the file name other ports.
    int env_port = free_port();
    HostOptions o = base_options();
    o.config_text = "listen = \"127.0.0.1:" + std::to_string(free_port()) + "\"\n";
    o.env["ENV_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(env_port);
    HostProcess host(o);
    CHECK(http("GET", host.url("/health")).status == 200);
    CHECK(http("GET", "http://127.0.0.1:" + std::to_string(env_port) + "/health", "", "", {}, 1000).status == 0);
    CHECK(host.stop() == 0);

    // Without the flag, env beats the file.
    TempDir d;
    int file_port = free_port();
    env_port = free_port();
    write_file(d.sub("tributary.conf"), "listen = \"127.0.0.1:" + std::to_string(file_port) + "\"\n");
    ChildOptions co;
    co.argv = {TRIB_BUILD_DIR "/bin/tributary",
               "--config",
               d.sub("tributary.conf"),
               "--plugins-dir",
               kPlugins,
               "--data-dir",
               d.sub("data")};
    co.env = {{"ENV_HTTP_LISTEN", "127.0.0.1:" + std::to_string(env_port)}, {"PATH", "/usr/bin:/bin"}};
    co.replace_env = true;
    ChildProcess p(co);
    CHECK(wait_until(
        [&] {
            return http("GET", "http://127.0.0.1:" + std::to_string(env_port) + "/health", "", "", {}, 500).status ==
                   200;
        },
        10000ms, 50ms));
    CHECK(http("GET", "http://127.0.0.1:" + std::to_string(file_port) + "/health", "", "", {}, 500).status == 0);
    CHECK(p.stop(SIGTERM) == 0);
}

TEST_CASE("host: ENV_DEFAULT_ENABLED_INPUTS starts an input from its sample config", "[core][host][config]") {
    HostOptions o = base_options();
    o.env["ENV_DEFAULT_ENABLED_INPUTS"] = "test_input";
    o.env["ENV_INPUT_TEST_INPUT_TAGS"] = R"({"from":"env"})";
    HostProcess host(o);
    REQUIRE(http("POST", host.url("/test/emit"), "x v=1i 1\n").status == 200);
    std::vector<LpPoint> pts;
    REQUIRE(wait_until([&] { return (pts = host.points("metric", "x")).size() == 1; }, 10000ms));
    CHECK(pts[0].tag("from") == "env");
    CHECK(host.stop() == 0);
}

TEST_CASE("host: --list-plugins prints name, version, kind, ABI and file", "[core][host]") {
    ChildProcess p({TRIB_BUILD_DIR "/bin/tributary", "--list-plugins", "--plugins-dir", kPlugins});
    REQUIRE(p.wait(20000ms) == 0);
    std::string out = p.log();
    CHECK_THAT(out, Catch::Contains("test_input") && Catch::Contains("1.0.0") && Catch::Contains("input") &&
                        Catch::Contains("1." + std::to_string(TRIB_ABI_MINOR_CURRENT)) &&
                        Catch::Contains("trib_core_test_input.so"));
    CHECK_THAT(out, Catch::Contains("test_sink") && Catch::Contains("sink"));
}

TEST_CASE("host: keep-alive connections and chunked bodies from many clients at once", "[core][host][http]") {
    HostOptions o = base_options();
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    const int clients = 16, requests = 20;
    std::atomic<int> ok{0}, reused{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(host.port()));
            session.setKeepAlive(true);
            for (int r = 0; r < requests; ++r) {
                Poco::Net::HTTPRequest req("POST", "/test/emit", Poco::Net::HTTPMessage::HTTP_1_1);
                req.setKeepAlive(true);
                std::string body = lp_batch((c * requests + r) * 10, 10, "ka");
                if (r % 2) req.setChunkedTransferEncoding(true);
                else req.setContentLength(static_cast<std::streamsize>(body.size()));
                std::ostream &os = session.sendRequest(req);
                // Two writes so a chunked body really arrives in more than one chunk.
                os.write(body.data(), 7);
                os.flush();
                os.write(body.data() + 7, static_cast<std::streamsize>(body.size() - 7));
                Poco::Net::HTTPResponse resp;
                std::istream &is = session.receiveResponse(resp);
                std::string text;
                Poco::StreamCopier::copyToString(is, text);
                if (resp.getStatus() == 200 && text == "10\n") ok++;
                if (resp.getKeepAlive()) reused++;
            }
        });
    for (auto &t : threads) t.join();
    CHECK(ok == clients * requests);
    CHECK(reused == clients * requests);
    std::vector<LpPoint> pts;
    CHECK(wait_until([&] { return (pts = host.points("metric", "ka")).size() == size_t(clients * requests * 10); },
                     10000ms));
    std::set<int64_t> seqs;
    for (auto &p : pts) seqs.insert(p.field_int("seq"));
    CHECK(seqs.size() == size_t(clients * requests * 10));
    CHECK(host.stop() == 0);
}

TEST_CASE("host: a route taken by another instance fails that instance's start only", "[core][host]") {
    HostOptions o = base_options();
    o.conf_d["t.conf"] =
        "[[inputs.test_input]]\n  path = \"/same\"\n[[inputs.test_input]]\n  path = \"/same\"\n  optional = true\n";
    HostProcess host(o);
    CHECK(http("POST", host.url("/same"), "x v=1i 1\n").status == 200);
    CHECK_THAT(host.log(), Catch::Contains("test_input/1") && Catch::Contains("already registered by test_input/0"));
    auto health = http("GET", host.url("/health"));
    CHECK(health.status == 200);
    CHECK_THAT(health.body, Catch::Contains("\"instance\":\"0\""));
    CHECK_THAT(health.body, !Catch::Contains("\"instance\":\"1\""));
    CHECK(host.stop() == 0);
}

TEST_CASE("configs/tributary.conf, the shipped sample, is valid", "[core][host][config]") {
    ChildProcess p({TRIB_BUILD_DIR "/bin/tributary", "--config", TRIB_SOURCE_DIR "/configs/tributary.conf",
                    "--plugins-dir", kPlugins, "--check-config"});
    auto st = p.wait(20000ms);
    INFO(p.log());
    CHECK(st == 0);
}

TEST_CASE("host: a listen address in use is a clear error and exit 1", "[core][host]") {
    HostProcess first(base_options());
    HostOptions o = base_options();
    o.extra_args = {"--listen", "127.0.0.1:" + std::to_string(first.port())}; // the last --listen wins
    HostProcess second;
    CHECK_THROWS_WITH(second.start(o), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port())) &&
                                           Catch::Contains("exited with status 1"));
    CHECK(first.stop() == 0);
}

TEST_CASE("HostProcess: restart keeps data dir and port; kill9 reports the signal", "[core][host][support]") {
    HostOptions o = base_options();
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    int port = host.port();
    std::string data = host.data_dir();
    REQUIRE(http("POST", host.url("/test/emit"), "r v=1i 1\n").status == 200);
    host.restart();
    CHECK(host.port() == port);
    CHECK(host.data_dir() == data);
    REQUIRE(http("POST", host.url("/test/emit"), "r v=2i 2\n").status == 200);
    CHECK(wait_until([&] { return host.points("metric", "r").size() == 2; }, 10000ms));
    host.kill9();
    CHECK(host.stop() == 128 + SIGKILL);
    CHECK_FALSE(host.running());
}

TEST_CASE("host: stdout sink and routing by category and measurement", "[core][host]") {
    HostOptions o = base_options();
    o.config_text = "[[sinks]]\nname = \"console\"\ntype = \"stdout\"\nmeasurements = [\"shown\"]\n"
                    "[[sinks]]\ntype = \"file\"\ncategories = [\"tracing\"]\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    REQUIRE(http("POST", host.url("/test/emit?category=tracing"), "shown,k=v x=1i 11\nhidden x=2i 12\n").status == 200);
    REQUIRE(http("POST", host.url("/test/emit?category=metric"), "shown x=3i 13\n").status == 200);
    std::vector<LpPoint> traced;
    REQUIRE(wait_until([&] { return (traced = host.points("tracing")).size() == 2; }, 10000ms));
    CHECK(host.points("metric").empty());
    CHECK(wait_until([&] { return host.log().find("shown,k=v,") != std::string::npos; }, 10000ms));
    CHECK(host.stop() == 0);
    std::string log = host.log();
    CHECK(log.find("hidden") == std::string::npos);
    CHECK(log.find(" x=3i 13\n") != std::string::npos);
}

TEST_CASE("host: while draining at shutdown /health answers 503 and the drain waits for a slow sink", "[core][host]") {
    TempDir work;
    write_file(work.sub("block"), "");
    HostOptions o = base_options();
    o.config_text = "[bus]\nshutdown_timeout_ms = 20000\n[[sinks]]\nname = \"slow\"\ntype = \"test_sink\"\npath = \"" +
                    work.sub("slow.lp") + "\"\nblock_file = \"" + work.sub("block") + "\"\n";
    o.conf_d["t.conf"] = "[[inputs.test_input]]\n";
    HostProcess host(o);
    REQUIRE(http("POST", host.url("/test/emit"), lp_batch(0, 50)).status == 200);
    ::kill(host.pid(), SIGTERM);
    CHECK(wait_until([&] { return http("GET", host.url("/health"), "", "", {}, 1000).status == 503; }, 10000ms, 20ms));
    CHECK(host.running()); // still draining: the sink is blocked
    std::remove(work.sub("block").c_str());
    CHECK(host.stop() == 0);
    CHECK(parse_line_protocol(read_file(work.sub("slow.lp"))).size() == 50);
}
