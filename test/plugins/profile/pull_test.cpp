// [[inputs.profile.go]] against a real Go program serving net/http/pprof (built here
// with Debian's golang-go), with the module in a FakeHost so leadership can be switched.
#include "module_fixture.hpp"

#include <tributary/profiling/pprof.hpp>
#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <thread>

using namespace profile_test;
using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

std::set<std::string> attachment_names(const std::vector<trib::Point> &pts) {
    std::set<std::string> out;
    for (auto &p : pts)
        if (p.measurement == "profile")
            for (auto &a : p.attachments) out.insert(a.name);
    return out;
}

long pulls_served(int port) {
    auto r = tt::http("GET", "http://127.0.0.1:" + std::to_string(port) + "/pulls");
    REQUIRE(r.status == 200);
    return std::stol(r.body);
}

const trib::Attachment *find_attachment(const std::vector<trib::Point> &pts, const std::string &name,
                                        const trib::Point **owner = nullptr) {
    for (auto &p : pts)
        for (auto &a : p.attachments)
            if (a.name == name) {
                if (owner) *owner = &p;
                return &a;
            }
    return nullptr;
}

} // namespace

TEST_CASE("go pull: all five profiles arrive from a real Go program, only while leading") {
    tt::TempDir tmp("profile-go-pull");
    std::string app = tmp.sub("go_pprof_app");
    {
        tt::ChildProcess build(
            {"go", "build", "-o", app, std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/go_pprof_app/main.go"},
            {{"GO111MODULE", "off"}});
        auto rc = build.wait(180s);
        INFO(build.log());
        REQUIRE(rc == 0);
    }
    int port = tt::free_port();
    tt::ChildProcess go({app, "127.0.0.1:" + std::to_string(port)});
    REQUIRE(tt::wait_until(
        [&] { return tt::http("GET", "http://127.0.0.1:" + std::to_string(port) + "/pulls").status == 200; }, 15s));

    trib::testing::FakeHost host;
    host.set_leader(false);
    std::string cfg =
        R"({"election": true, "tags": {"from_input": "yes"}, "go": [{"url": "http://127.0.0.1:)" +
        std::to_string(port) +
        R"(", "interval": "10s", "service": "go-pull", "env": "test", "version": "9", "tags": {"team": "t"}}]})";
    std::string err;
    REQUIRE(host.create(profile_module(), "pull", cfg, &err) == TRIB_OK);
    REQUIRE(host.start(&err) == TRIB_OK);
    struct Stop {
        trib::testing::FakeHost &h;
        ~Stop() { h.stop(); }
    } stop_guard{host};

    // Not leading: nothing is pulled.
    std::this_thread::sleep_for(3s);
    CHECK(pulls_served(port) == 0);
    CHECK(host.points().empty());

    // Leading: cpu and goroutine on the first round, the deltas on the second.
    auto t0 = std::chrono::steady_clock::now();
    host.leadership(true);
    const std::set<std::string> want{"cpu.pprof", "goroutines.pprof", "delta-heap.pprof", "delta-mutex.pprof",
                                     "delta-block.pprof"};
    bool all = tt::wait_until(
        [&] {
            auto names = attachment_names(host.points());
            for (auto &w : want)
                if (!names.count(w)) return false;
            return true;
        },
        30s, 200ms);
    auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
    INFO("attachments: " << [&] {
        std::string s;
        for (auto &n : attachment_names(host.points())) s += n + " ";
        return s;
    }());
    REQUIRE(all);
    CHECK(took <= 30s);

    auto pts = host.points();
    const trib::Point *owner = nullptr;
    auto *cpu = find_attachment(pts, "cpu.pprof", &owner);
    REQUIRE(cpu);
    CHECK(*owner->find_tag("service") == "go-pull");
    CHECK(*owner->find_tag("env") == "test");
    CHECK(*owner->find_tag("version") == "9");
    CHECK(*owner->find_tag("team") == "t");
    CHECK(*owner->find_tag("from_input") == "yes");
    CHECK(*owner->find_tag("language") == "golang");
    CHECK(owner->find_field("duration")->i >= 9'000'000); // a 10 s CPU profile, in µs
    auto cpu_prof = trib::profiling::parse_pprof(*cpu->data);
    CHECK(trib::profiling::sum_sample_values(cpu_prof, trib::profiling::find_sample_type(cpu_prof, "cpu")) > 0);

    const trib::Point *delta_owner = nullptr;
    auto *heap = find_attachment(pts, "delta-heap.pprof", &delta_owner);
    REQUIRE(heap);
    CHECK(find_attachment({*delta_owner}, "delta-mutex.pprof"));
    CHECK(find_attachment({*delta_owner}, "delta-block.pprof"));
    auto heap_prof = trib::profiling::parse_pprof(*heap->data);
    // A delta over ~10 s of a program allocating 64 KiB per millisecond of work.
    CHECK(trib::profiling::sum_sample_values(heap_prof, trib::profiling::find_sample_type(heap_prof, "alloc_space")) >
          0);
    auto mutex_prof = trib::profiling::parse_pprof(*find_attachment(pts, "delta-mutex.pprof")->data);
    CHECK(trib::profiling::sum_sample_values(mutex_prof, trib::profiling::find_sample_type(mutex_prof, "contentions")) >
          0);

    bool cpu_metric = false, goroutine_metric = false;
    for (auto &p : pts)
        if (p.measurement == "profiling_metrics") {
            if (auto *f = p.find_field("prof_go_cpu_cores")) cpu_metric |= f->f > 0;
            if (auto *f = p.find_field("prof_go_num_goroutine")) goroutine_metric |= f->f >= 5;
        }
    CHECK(cpu_metric);
    CHECK(goroutine_metric);

    // Leadership lost: pulling stops within one interval.
    host.leadership(false);
    std::this_thread::sleep_for(11s);
    long settled = pulls_served(port);
    size_t settled_points = host.points().size();
    std::this_thread::sleep_for(11s);
    CHECK(pulls_served(port) == settled);
    CHECK(host.points().size() == settled_points);
}

TEST_CASE("go pull over HTTPS: verified by default, tls_ca trusts the server, insecure_skip_verify skips") {
    tt::TempDir tmp("profile-go-tls");
    std::string app = tmp.sub("go_pprof_app");
    {
        tt::ChildProcess build(
            {"go", "build", "-o", app, std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/go_pprof_app/main.go"},
            {{"GO111MODULE", "off"}});
        REQUIRE(build.wait(180s) == 0);
        tt::ChildProcess cert({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                               tmp.sub("key.pem"), "-out", tmp.sub("cert.pem"), "-days", "1", "-subj", "/CN=localhost",
                               "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
        auto rc = cert.wait(60s);
        INFO(cert.log());
        REQUIRE(rc == 0);
    }
    int port = tt::free_port();
    tt::ChildProcess go({app, "127.0.0.1:" + std::to_string(port), tmp.sub("cert.pem"), tmp.sub("key.pem")});
    std::this_thread::sleep_for(1s);

    auto run = [&](const std::string &tls_keys) {
        trib::testing::FakeHost host;
        std::string cfg = R"({"election": false, "go": [{"url": "https://localhost:)" + std::to_string(port) +
                          R"(", "service": "tls", "enabled_types": ["goroutine"])" + tls_keys + "}]}";
        std::string err;
        REQUIRE(host.create(profile_module(), "tls", cfg, &err) == TRIB_OK);
        REQUIRE(host.start(&err) == TRIB_OK);
        bool got = tt::wait_until([&] { return !host.points().empty(); }, 8s);
        std::string logs;
        for (auto &l : host.logs()) logs += l.message + "\n";
        host.stop();
        return std::make_pair(got, logs);
    };

    auto [unverified, log1] = run("");
    CHECK_FALSE(unverified); // a self-signed certificate is refused
    CHECK_THAT(log1, Catch::Contains("goroutine"));

    auto [with_ca, log2] = run(R"(, "tls_ca": ")" + tmp.sub("cert.pem") + "\"");
    INFO(log2);
    CHECK(with_ca);

    auto [skipped, log3] = run(R"(, "insecure_skip_verify": true)");
    INFO(log3);
    CHECK(skipped);
}
