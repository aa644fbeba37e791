// [[inputs.profile.go]] in the real host against a real Go net/http/pprof program: the
// five profiles reach the file sink within 30 s when this host leads, and nothing is
// pulled while it does not (election on, etcd unreachable → never leader).
#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <thread>

using namespace std::chrono_literals;
namespace tt = trib::test;

namespace {

struct GoApp {
    tt::TempDir dir{"profile-go-app"};
    int port = tt::free_port();
    std::unique_ptr<tt::ChildProcess> proc;
    GoApp() {
        std::string bin = dir.sub("go_pprof_app");
        tt::ChildProcess build(
            {"go", "build", "-o", bin, std::string(TRIB_TEST_DATA_DIR) + "/plugins/profile/go_pprof_app/main.go"},
            {{"GO111MODULE", "off"}});
        auto rc = build.wait(180s);
        INFO(build.log());
        REQUIRE(rc == 0);
        proc = std::make_unique<tt::ChildProcess>(std::vector<std::string>{bin, "127.0.0.1:" + std::to_string(port)});
        REQUIRE(tt::wait_until([&] { return tt::http("GET", url() + "/pulls").status == 200; }, 15s));
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
    long pulls() const { return std::stol(tt::http("GET", url() + "/pulls").body); }
};

std::string profile_conf(const GoApp &app) {
    return "[[inputs.profile]]\n"
           "  election = true\n"
           "  [[inputs.profile.go]]\n"
           "    url = \"" +
           app.url() +
           "\"\n"
           "    interval = \"10s\"\n"
           "    service = \"go-int\"\n"
           "    env = \"ci\"\n"
           "    version = \"1.2.3\"\n"
           "    enabled_types = [\"cpu\",\"goroutine\",\"heap\",\"mutex\",\"block\"]\n";
}

} // namespace

TEST_CASE("go pull in the real host: nothing while not leading, all five profiles while leading") {
    GoApp app;

    SECTION("not leading: no request reaches the Go program") {
        int dead_port = tt::free_port();
        tt::HostOptions opts;
        opts.config_text = "[election]\n  enable = true\n  backend = \"etcd\"\n  endpoints = [\"http://127.0.0.1:" +
                           std::to_string(dead_port) + "\"]\n";
        opts.conf_d["profile/profile.conf"] = profile_conf(app);
        tt::HostProcess host(opts);
        std::this_thread::sleep_for(12s);
        INFO(host.log());
        CHECK(app.pulls() == 0);
        CHECK(host.points("profiling", "profile").empty());
    }

    SECTION("leading (backend none): cpu, goroutine, heap, mutex and block within 30 s") {
        tt::HostOptions opts;
        opts.conf_d["profile/profile.conf"] = profile_conf(app);
        tt::HostProcess host(opts);
        const std::set<std::string> want{"cpu.pprof", "goroutines.pprof", "delta-heap.pprof", "delta-mutex.pprof",
                                         "delta-block.pprof"};
        std::set<std::string> seen;
        bool all = tt::wait_until(
            [&] {
                seen.clear();
                for (auto &p : host.points("profiling", "profile")) {
                    std::string dir = host.data_dir() + "/attachments/" + p.field_str("profile_id");
                    for (auto &f : tt::list_files(dir)) seen.insert(f);
                }
                for (auto &w : want)
                    if (!seen.count(w)) return false;
                return true;
            },
            30s, 500ms);
        INFO(host.log());
        REQUIRE(all);
        for (auto &p : host.points("profiling", "profile")) {
            CHECK(p.tag("service") == "go-int");
            CHECK(p.tag("env") == "ci");
            CHECK(p.tag("version") == "1.2.3");
            CHECK(p.tag("language") == "golang");
            CHECK(p.field_str("format") == "pprof");
        }
        CHECK(app.pulls() > 0);
        CHECK_FALSE(host.points("metric", "profiling_metrics").empty());
    }
}
