// Hostile input to the profile and pyroscope inputs (issue 11, the module side), each
// sent to a real host process (build/bin/tributary with the built modules) as a careless
// or hostile client would. Every case checks the answer, that /health still answers,
// that the host's peak RSS (VmHWM) stays under kMaxPeakRssMb, and that the uploads
// accepted before the bad request are all in the file sink.
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <trib_test/support.hpp>

#include <push.pb.h>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

const std::string kFix = TRIB_FIXTURES_DIR;
// The bound the issue sets for one host with default limits under these requests.
constexpr long kMaxPeakRssMb = 300;

// Peak resident set of a process in MiB (VmHWM in /proc/<pid>/status).
long peak_rss_mb(pid_t pid) { return long(trib::test::peak_rss_kb(pid) / 1024); }

// zstd of `size` zero bytes, compressed a MiB at a time (a decompression bomb).
std::string zstd_zeros(size_t size) {
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx *)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 19);
    ZSTD_CCtx_setPledgedSrcSize(cctx.get(), size);
    const std::string zeros(1u << 20, '\0');
    std::string out(ZSTD_CStreamOutSize(), '\0'), result;
    for (size_t done = 0; done < size;) {
        size_t n = std::min(zeros.size(), size - done);
        done += n;
        ZSTD_inBuffer in{zeros.data(), n, 0};
        ZSTD_EndDirective mode = done == size ? ZSTD_e_end : ZSTD_e_continue;
        for (;;) {
            ZSTD_outBuffer ob{out.data(), out.size(), 0};
            size_t left = ZSTD_compressStream2(cctx.get(), &ob, &in, mode);
            REQUIRE(!ZSTD_isError(left));
            result.append(out.data(), ob.pos);
            if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
        }
    }
    return result;
}

struct Part {
    std::string name, filename, data;
};

// A ddtrace upload: the event part, then the file parts.
std::pair<std::string, std::string> ddtrace_body(const std::string &event, const std::vector<Part> &files) {
    trib::profiling::MultipartWriter w("hostile-7d41a9");
    w.add_file("event", "event.json", "application/json", event);
    for (auto &f : files) w.add_file(f.name, f.filename, "application/octet-stream", f.data);
    return {w.finish(), w.content_type()};
}

std::string fixture_event() { return tt::read_file(kFix + "/ddtrace-nodejs/part-event.json"); }
std::string wall_pprof() { return tt::read_file(kFix + "/ddtrace-nodejs/part-wall.pprof.gz"); }

// The profile and pyroscope inputs on the shared listener (default limits), the file sink.
class Collector {
  public:
    explicit Collector(std::string tributary_conf = "", std::map<std::string, std::string> extra_conf_d = {}) {
        tt::HostOptions o;
        o.config_text = std::move(tributary_conf);
        o.conf_d = {{"profile.conf", "[[inputs.profile]]\n"}, {"pyroscope.conf", "[[inputs.pyroscope]]\n"}};
        for (auto &[k, v] : extra_conf_d) o.conf_d[k] = v;
        host.start(std::move(o));
    }

    tt::HttpResult post(const std::string &path, const std::string &body, const std::string &content_type,
                        const std::map<std::string, std::string> &headers = {}) {
        return tt::http("POST", host.url(path), body, content_type, headers, 60000);
    }

    // A well-formed upload from the recorded Node profiler; it must be accepted.
    void accepted_upload() {
        auto [body, type] = ddtrace_body(fixture_event(), {{"wall.pprof", "wall.pprof", wall_pprof()}});
        auto r = post("/profiling/v1/input", body, type);
        INFO(r.body);
        REQUIRE(r.status == 200);
        ++accepted_;
    }
    // The answer to the rest of the case: counts an accepted (200) upload.
    void count_if_accepted(const tt::HttpResult &r) {
        if (r.status == 200) ++accepted_;
    }

    std::vector<tt::LpPoint> profiles() const { return host.points("profiling", "profile"); }

    // /health answers, nothing accepted is missing, the peak RSS stayed bounded.
    void check_still_well() {
        auto health = tt::http("GET", host.url("/health"), "", "", {}, 5000);
        CHECK(health.status == 200);
        CHECK(host.running());
        bool all_there = tt::wait_until([&] { return int(profiles().size()) >= accepted_; }, 15s);
        CHECK(all_there);
        CHECK(int(profiles().size()) == accepted_);
        for (auto &p : profiles()) {
            std::string dir = host.data_dir() + "/attachments/" + p.field_str("profile_id");
            CHECK(tt::file_exists(dir + "/event.json"));
        }
        long peak = peak_rss_mb(host.pid());
        INFO("host VmHWM " << peak << " MiB");
        CHECK(peak > 0);
        CHECK(peak < kMaxPeakRssMb);
    }

    tt::HostProcess host;

  private:
    int accepted_ = 0;
};

std::string nested(size_t depth, const std::string &open, const std::string &leaf, const std::string &close) {
    std::string s;
    s.reserve(depth * (open.size() + close.size()) + leaf.size());
    for (size_t i = 0; i < depth; ++i) s += open;
    s += leaf;
    for (size_t i = 0; i < depth; ++i) s += close;
    return s;
}

} // namespace

TEST_CASE("a deeply nested event is refused with 400 naming the depth limit", "[json_depth]") {
    Collector c;
    c.accepted_upload();
    // The 90 KB body: 40,000 nested arrays with the recorded wall profile.
    auto [arrays, type] =
        ddtrace_body("{\"x\":" + nested(40000, "[", "", "]") + "}", {{"wall.pprof", "wall.pprof", wall_pprof()}});
    auto r = c.post("/profiling/v1/input", arrays, type);
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find("64 levels") != std::string::npos);
    // 100,000 nested objects (nlohmann's dump() recursion).
    auto objects = ddtrace_body(nested(100000, "{\"a\":", "1", "}"), {{"wall.pprof", "wall.pprof", wall_pprof()}});
    r = c.post("/profiling/v1/input", objects.first, objects.second);
    CHECK(r.status == 400);
    CHECK(r.body.find("64 levels") != std::string::npos);
    // 64 levels are still accepted.
    auto ok = ddtrace_body("{\"x\":" + nested(63, "[", "1", "]") + ",\"tags_profiler\":\"service:deep\"}",
                           {{"wall.pprof", "wall.pprof", wall_pprof()}});
    r = c.post("/profiling/v1/input", ok.first, ok.second);
    INFO(r.body);
    CHECK(r.status == 200);
    c.count_if_accepted(r);
    c.check_still_well();
}

TEST_CASE("decompression bombs are refused with 413 and bounded memory", "[bombs]") {
    Collector c;
    c.accepted_upload();
    // A zstd part that inflates to 2 GiB, in an upload whose event names Node (metrics on).
    const std::string bomb = zstd_zeros(size_t(2) << 30);
    INFO("bomb of " << bomb.size() << " bytes");
    auto [body, type] = ddtrace_body(fixture_event(), {{"wall.pprof", "wall.pprof", bomb}});
    std::vector<std::future<tt::HttpResult>> parallel;
    for (int i = 0; i < 6; ++i)
        parallel.push_back(
            std::async(std::launch::async, [&, b = body, t = type] { return c.post("/profiling/v1/input", b, t); }));
    for (auto &f : parallel) {
        auto r = f.get();
        INFO(r.body);
        // 413 for good; 429 only if the in-flight budget was spent by the others.
        CHECK((r.status == 413 || r.status == 429));
        if (r.status == 413) CHECK(r.body.find("limit") != std::string::npos);
        if (r.status == 429) CHECK(!r.header("retry-after").empty());
    }
    // The whole body zstd-encoded: inflates past body_size_limit_mb.
    auto encoded = c.post("/profiling/v1/input", zstd_zeros(size_t(200) << 20), type, {{"Content-Encoding", "zstd"}});
    CHECK(encoded.status == 413);

    // A Connect Push body of a few KB that inflates to 200 MiB: past the 32 MiB limit.
    auto push = c.post("/push.v1.PusherService/Push", zstd_zeros(size_t(200) << 20), "application/proto",
                       {{"Content-Encoding", "zstd"}});
    INFO(push.body);
    CHECK(push.status == 413);
    CHECK(push.body.find("resource_exhausted") != std::string::npos);

    // A Push sample whose raw profile is a bomb.
    push::v1::PushRequest req;
    auto *series = req.add_series();
    auto *label = series->add_labels();
    label->set_name("service_name");
    label->set_value("bomb");
    series->add_samples()->set_raw_profile(bomb);
    auto sample_bomb = c.post("/push.v1.PusherService/Push", req.SerializeAsString(), "application/proto");
    CHECK(sample_bomb.status == 413);

    // A Pyroscope /ingest pprof body that is a bomb.
    auto ingest = c.post("/ingest?name=bomb.app&spyName=nodespy&format=pprof", bomb, "application/octet-stream");
    CHECK(ingest.status == 413);
    c.check_still_well();
}

TEST_CASE("a 10 MiB folded body is converted in bounded memory", "[folded]") {
    Collector c;
    c.accepted_upload();
    std::string folded;
    int64_t total = 0;
    for (int i = 0; folded.size() < (10u << 20); ++i) {
        folded += "main;server;handler_" + std::to_string(i % 1000) + ";work_" + std::to_string(i % 5000) + ";leaf_" +
                  std::to_string(i) + " " + std::to_string(i % 7 + 1) + "\n";
        total += i % 7 + 1;
    }
    auto started = std::chrono::steady_clock::now();
    for (int round = 0; round < 3; ++round) {
        auto r = c.post("/ingest?name=folded.app&from=1795316000&until=1795316010&format=folded&spyName=ebpfspy",
                        folded, "text/plain");
        INFO(r.body);
        REQUIRE(r.status == 200);
        c.count_if_accepted(r);
    }
    CHECK(std::chrono::steady_clock::now() - started < 60s);
    REQUIRE(tt::wait_until([&] { return c.profiles().size() == 4; }, 15s));
    // The pprof holds every sample of the body.
    for (auto &p : c.profiles()) {
        if (p.tag("service") != "folded.app") continue;
        auto pprof = tt::read_file(c.host.data_dir() + "/attachments/" + p.field_str("profile_id") + "/auto.pprof");
        auto prof = trib::profiling::parse_pprof(pprof);
        CHECK(trib::profiling::sum_sample_values(prof, 0) == total);
        break;
    }
    // 32 MiB of folded lines that each add a new stack and new frames: the pprof would
    // pass body_size_limit_mb, so it is refused with 413, not built.
    std::string wide;
    for (int i = 0; wide.size() < (31u << 20); ++i) wide += "a" + std::to_string(i) + ";b" + std::to_string(i) + " 1\n";
    auto r = c.post("/ingest?name=wide.app&from=1795316000&until=1795316010&format=folded", wide, "text/plain");
    INFO(r.body);
    // 413 from the pprof size bound (or from the host's in-flight budget, 413 or 429,
    // should the host's budget be smaller than this request needs).
    CHECK((r.status == 413 || r.status == 429));
    if (r.status == 413 && r.body.find("budget") == std::string::npos)
        CHECK(r.body.find("limit of 33554432 bytes") != std::string::npos);
    c.check_still_well();
}

TEST_CASE("an upload larger than the bus ceiling is accepted: its bytes go to the store, not the bus", "[permanent]") {
    Collector c("[bus]\nmax_memory_mb = 2\n");
    c.accepted_upload();
    std::string noise(3u << 20, '\0');
    uint64_t x = 88172645463325252ULL;
    for (auto &ch : noise) { // incompressible, so nothing shrinks it
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ch = char(x);
    }
    auto [body, type] = ddtrace_body(fixture_event(), {{"big.pprof", "big.pprof", noise}});
    auto r = c.post("/profiling/v1/input", body, type);
    INFO(r.body);
    CHECK(r.status == 200);
    c.count_if_accepted(r);
    c.check_still_well();
    bool found = false;
    for (auto &p : c.profiles()) {
        std::string f = c.host.data_dir() + "/attachments/" + p.field_str("profile_id") + "/big.pprof";
        if (tt::file_exists(f)) {
            found = true;
            CHECK(tt::read_file(f) == noise);
        }
    }
    CHECK(found);
}

TEST_CASE("too many tags are refused fast with 400", "[tags]") {
    Collector c;
    c.accepted_upload();
    std::string tags = "service:many";
    for (int i = 0; i < 100000; ++i) tags += ",k" + std::to_string(i) + ":v";
    auto started = std::chrono::steady_clock::now();
    auto [body, type] =
        ddtrace_body("{\"tags_profiler\":\"" + tags + "\"}", {{"wall.pprof", "wall.pprof", wall_pprof()}});
    auto r = c.post("/profiling/v1/input", body, type);
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find("at most 64") != std::string::npos);

    push::v1::PushRequest req;
    auto *series = req.add_series();
    for (int i = 0; i < 100000; ++i) {
        auto *l = series->add_labels();
        l->set_name("label_" + std::to_string(i));
        l->set_value("v");
    }
    series->add_samples()->set_raw_profile(wall_pprof());
    auto push = c.post("/push.v1.PusherService/Push", req.SerializeAsString(), "application/proto");
    INFO(push.body);
    CHECK(push.status == 400);
    CHECK(push.body.find("at most 64") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 10s);

    // 60 labels in the Pyroscope name pass; 70 do not.
    auto name_with = [](int n) {
        std::string s = "labels.app%7B";
        for (int i = 0; i < n; ++i) s += (i ? "%2C" : "") + std::string("l") + std::to_string(i) + "%3Dv";
        return s + "%7D";
    };
    auto pprof = tt::read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    auto ok =
        c.post("/ingest?name=" + name_with(60) + "&spyName=nodespy&format=pprof", pprof, "application/octet-stream");
    INFO(ok.body);
    CHECK(ok.status == 200);
    c.count_if_accepted(ok);
    CHECK(c.post("/ingest?name=" + name_with(70) + "&spyName=nodespy&format=pprof", pprof, "application/octet-stream")
              .status == 400);
    c.check_still_well();
}

TEST_CASE("invalid UTF-8 from clients is replaced, never a 500", "[utf8]") {
    Collector c;
    c.accepted_upload();
    auto pprof = tt::read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    auto r =
        c.post("/ingest?name=utf8.app%7Bk%3D%FF%7D&spyName=nodespy&format=pprof", pprof, "application/octet-stream");
    INFO(r.body);
    CHECK(r.status == 200);
    c.count_if_accepted(r);

    auto [body, type] = ddtrace_body(fixture_event(), {{"\xFF\xFE\xFD", "\xFF\xFE\xFD", wall_pprof()}});
    auto d = c.post("/profiling/v1/input", body, type);
    INFO(d.body);
    CHECK(d.status == 200);
    c.count_if_accepted(d);

    // An event that is not UTF-8: 400 with our message, not a parser's text.
    auto bad = ddtrace_body("{\"tags_profiler\":\"service:\xFF\"}", {{"wall.pprof", "wall.pprof", wall_pprof()}});
    auto b = c.post("/profiling/v1/input", bad.first, bad.second);
    CHECK(b.status == 400);
    CHECK(b.body.find("[json.exception") == std::string::npos);

    REQUIRE(tt::wait_until([&] { return c.profiles().size() == 3; }, 15s));
    bool saw_label = false, saw_file = false;
    for (auto &p : c.profiles()) {
        if (p.tag("service") == "utf8.app") {
            CHECK(p.tag("k") == "\xEF\xBF\xBD");
            saw_label = true;
        }
        auto files = tt::list_files(c.host.data_dir() + "/attachments/" + p.field_str("profile_id"));
        for (auto &f : files)
            if (f.find("\xEF\xBF\xBD") != std::string::npos) saw_file = true;
    }
    CHECK(saw_label);
    CHECK(saw_file);
    c.check_still_well();
}

TEST_CASE("client times outside the window are refused with 400", "[time]") {
    Collector c;
    c.accepted_upload();
    auto pprof = tt::read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    auto r = c.post("/ingest?name=time.app&spyName=nodespy&format=pprof&from=1795316000&until=99999999999", pprof,
                    "application/octet-stream");
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find("until") != std::string::npos);
    CHECK(c.post("/ingest?name=time.app&format=pprof&from=9999999999999999999&until=1795316000", pprof,
                 "application/octet-stream")
              .status == 400);
    CHECK(c.post("/ingest?name=time.app&format=pprof&from=1&until=2", pprof, "application/octet-stream").status == 400);

    std::string event = fixture_event();
    auto swap = [&](const std::string &from, const std::string &to) {
        event.replace(event.find(from), from.size(), to);
    };
    swap("\"start\":\"2026-11-22T03:03:01.860Z\"", "\"start\":\"2026-11-22T03:09:01.860Z\"");
    auto [body, type] = ddtrace_body(event, {{"wall.pprof", "wall.pprof", wall_pprof()}});
    auto d = c.post("/profiling/v1/input", body, type);
    INFO(d.body);
    CHECK(d.status == 400);
    CHECK(d.body.find("start is after its end") != std::string::npos);
    c.check_still_well();
}

TEST_CASE("attachment names never collide", "[names]") {
    Collector c;
    c.accepted_upload();
    auto [body, type] = ddtrace_body(fixture_event(), {{"wall.pprof", "wall.pprof", wall_pprof()},
                                                       {"wall.pprof", "wall.pprof", "second wall"},
                                                       {"event.json", "event.json", "client event.json"}});
    auto r = c.post("/profiling/v1/input", body, type);
    INFO(r.body);
    REQUIRE(r.status == 200);
    c.count_if_accepted(r);
    REQUIRE(tt::wait_until([&] { return c.profiles().size() == 2; }, 15s));
    auto p = c.profiles().back();
    std::string dir = c.host.data_dir() + "/attachments/" + p.field_str("profile_id");
    CHECK(tt::read_file(dir + "/wall.pprof") == wall_pprof());
    CHECK(tt::read_file(dir + "/wall-2.pprof") == "second wall");
    CHECK(tt::read_file(dir + "/event-2.json") == "client event.json");
    // The event is ours, and lists the files under their stored names.
    auto event = tt::read_file(dir + "/event.json");
    CHECK(event.find("\"wall-2.pprof\"") != std::string::npos);
    CHECK(event.find("\"event-2.json\"") != std::string::npos);
    c.check_still_well();
}

namespace {

// A TCP connection to 127.0.0.1:port (blocking), or -1.
int connect_to(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
}

// True when the peer closed `fd` within `timeout` (a read returns 0 or fails).
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (::poll(&p, 1, 100) > 0) {
            char buf[512];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return true;
        }
    }
    return false;
}

} // namespace

TEST_CASE("the profile input's own Pyroscope listener serves new clients past 1,000 idle ones", "[listener]") {
    // Enough descriptors for 1,000 connections on both ends (the host inherits the limit).
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 4096) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    int port = tt::free_port();
    Collector c("",
                {{"profile.conf", "[[inputs.profile]]\n[[inputs.profile.pyroscope]]\nurl = \"127.0.0.1:" +
                                      std::to_string(port) + "\"\nheader_timeout = \"2s\"\nidle_timeout = \"3s\"\n"}});
    c.accepted_upload();
    auto pprof = tt::read_file(kFix + "/pyroscope-nodejs/ingest-wall.body.pprof.gz");
    std::string ingest =
        "http://127.0.0.1:" + std::to_string(port) + "/ingest?name=listener.app&spyName=nodespy&format=pprof";
    auto first = tt::http("POST", ingest, pprof, "application/octet-stream");
    INFO(first.body);
    REQUIRE(first.status == 200);
    c.count_if_accepted(first);

    // 1,000 connections: half silent, half stuck in the middle of a request header.
    std::vector<int> held;
    for (int i = 0; i < 1000; ++i) {
        int fd = connect_to(port);
        REQUIRE(fd >= 0);
        if (i % 2) {
            const char partial[] = "POST /ing";
            REQUIRE(::send(fd, partial, sizeof partial - 1, MSG_NOSIGNAL) > 0);
        }
        held.push_back(fd);
    }
    auto started = std::chrono::steady_clock::now();
    auto r = tt::http("POST", ingest, pprof, "application/octet-stream", {}, 5000);
    auto took = std::chrono::steady_clock::now() - started;
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(took < 1s);
    c.count_if_accepted(r);
    // The header deadline (2 s here) closes both kinds of stalled connection.
    CHECK(closed_by_peer(held.front(), 5s));
    CHECK(closed_by_peer(held.back(), 5s));
    for (int fd : held) ::close(fd);

    // An idle keep-alive connection is closed after idle_timeout (3 s here).
    int keep = connect_to(port);
    REQUIRE(keep >= 0);
    std::string req = "POST /ingest?name=keep.app&spyName=nodespy&format=pprof HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/octet-stream\r\nContent-Length: " +
                      std::to_string(pprof.size()) + "\r\n\r\n" + pprof;
    REQUIRE(::send(keep, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size()));
    char answer[64] = {0};
    REQUIRE(::recv(keep, answer, sizeof answer - 1, 0) > 0);
    CHECK(std::string(answer).rfind("HTTP/1.1 200", 0) == 0);
    c.count_if_accepted(tt::HttpResult{200, "", {}});
    auto idle_from = std::chrono::steady_clock::now();
    CHECK(closed_by_peer(keep, 6s));
    CHECK(std::chrono::steady_clock::now() - idle_from > 2s);
    ::close(keep);

    // A chunked body after Expect: 100-continue (as HTTP clients send large uploads).
    int chunked = connect_to(port);
    REQUIRE(chunked >= 0);
    std::string head = "POST /ingest?name=chunked.app&spyName=nodespy&format=pprof HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
                       "Expect: 100-continue\r\nConnection: close\r\n\r\n";
    REQUIRE(::send(chunked, head.data(), head.size(), MSG_NOSIGNAL) == ssize_t(head.size()));
    char cont[64] = {0};
    REQUIRE(::recv(chunked, cont, sizeof cont - 1, 0) > 0);
    CHECK(std::string(cont).rfind("HTTP/1.1 100 Continue", 0) == 0);
    std::string chunks;
    for (size_t at = 0; at < pprof.size(); at += 1000) {
        std::string piece = pprof.substr(at, 1000);
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        chunks += size + piece + "\r\n";
    }
    chunks += "0\r\n\r\n";
    REQUIRE(::send(chunked, chunks.data(), chunks.size(), MSG_NOSIGNAL) == ssize_t(chunks.size()));
    std::string answer_text;
    char buf[512];
    for (ssize_t n; (n = ::recv(chunked, buf, sizeof buf, 0)) > 0;) answer_text.append(buf, size_t(n));
    INFO(answer_text);
    CHECK(answer_text.rfind("HTTP/1.1 200", 0) == 0);
    if (answer_text.rfind("HTTP/1.1 200", 0) == 0) c.count_if_accepted(tt::HttpResult{200, "", {}});
    ::close(chunked);
    c.check_still_well();
}
