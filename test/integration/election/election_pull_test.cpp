// Two real hosts with the same `election = true` Go pprof pull job, one real etcd, one Go
// program serving net/http/pprof that records every hit: exactly one host pulls, and the
// job moves when the leader dies, pauses while etcd is gone and resumes on one host.
#include "../../core/election/etcd_server.hpp"

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using trib::test::ChildOptions;
using trib::test::ChildProcess;
using trib::test::EtcdServer;
using trib::test::HostOptions;
using trib::test::HostProcess;
using trib::test::TempDir;
using trib::test::wait_until;

namespace {

constexpr auto kTtl = 2s;
constexpr auto kInterval = 10s; // the profile input's smallest pull interval
const std::string kPulledPath = "/debug/pprof/goroutine";

std::int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
constexpr std::int64_t ns(std::chrono::nanoseconds d) { return d.count(); }

// test/integration/election/pprof_target.go, built with Debian's Go and run on a free port.
class PprofTarget {
  public:
    PprofTarget() : dir_("trib-pprof-target"), port_(trib::test::free_port()) {
        ChildOptions build;
        build.argv = {"go", "build", "-o", dir_.sub("pprof_target"),
                      TRIB_SOURCE_DIR "/test/integration/election/pprof_target.go"};
        build.env = {{"GO111MODULE", "off"},
                     {"GOCACHE", TRIB_BUILD_DIR "/go-build-cache"},
                     {"GOPATH", dir_.sub("gopath")},
                     {"HOME", dir_.path()}};
        ChildProcess compiler(build);
        auto status = compiler.wait(120s);
        if (status != 0) throw std::runtime_error("go build failed:\n" + compiler.log());

        process_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{dir_.sub("pprof_target"), "-listen", "127.0.0.1:" + std::to_string(port_)});
        if (!wait_until([&] { return trib::test::http("GET", url() + "/hits").status == 200; }, 10s, 50ms))
            throw std::runtime_error("pprof target did not start:\n" + process_->log());
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

    // Wall-clock times (ns) of every request for `path`.
    std::vector<std::int64_t> hits(const std::string &path = kPulledPath) const {
        auto answer = trib::test::http("GET", url() + "/hits");
        REQUIRE(answer.status == 200);
        auto all = nlohmann::json::parse(answer.body);
        std::vector<std::int64_t> out;
        if (all.contains(path)) out = all[path].get<std::vector<std::int64_t>>();
        return out;
    }
    std::vector<std::int64_t> hits_since(std::int64_t since_ns) const {
        auto all = hits();
        all.erase(std::remove_if(all.begin(), all.end(), [&](auto t) { return t < since_ns; }), all.end());
        return all;
    }

  private:
    TempDir dir_;
    int port_;
    std::unique_ptr<ChildProcess> process_;
};

// Every host has the same job; only its name differs. node-c is not on the whitelist.
HostOptions host_options(const EtcdServer &etcd, const PprofTarget &target, const std::string &host_name) {
    HostOptions options;
    options.config_text = "[global_tags]\n"
                          "host = \"" +
                          host_name +
                          "\"\n"
                          "[election]\n"
                          "enable = true\n"
                          "backend = \"etcd\"\n"
                          "endpoints = [\"" +
                          etcd.endpoint() +
                          "\"]\n"
                          "namespace = \"trib-it-pull\"\n"
                          "lease_ttl = \"2s\"\n"
                          "node_whitelist = [\"node-a\", \"node-b\"]\n";
    options.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n"
                                             "  endpoints = [\"/profiling/v1/input\"]\n"
                                             "  election = true\n"
                                             "[[inputs.profile.go]]\n"
                                             "  url = \"" +
                                             target.url() +
                                             "\"\n"
                                             "  interval = \"10s\"\n"
                                             "  service = \"election-target\"\n"
                                             "  enabled_types = [\"goroutine\"]\n";
    return options;
}

std::size_t pulled_points(const HostProcess &host) { return host.points("profiling", "profile").size(); }

// The election role the host reports on /health.
std::string role_of(const HostProcess &host) {
    auto answer = trib::test::http("GET", host.url("/health"), "", "", {}, 2000);
    if (answer.status == 0) return "unreachable";
    auto body = nlohmann::json::parse(answer.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return "unknown";
    return body.value("role", "unknown");
}

// One puller every interval: any two hits closer than most of an interval mean two hosts
// pulled (two independent schedules always come within half an interval of each other).
void expect_one_schedule(const std::vector<std::int64_t> &hits) {
    for (std::size_t i = 1; i < hits.size(); ++i) {
        INFO("hits " << i - 1 << " and " << i << " are " << (hits[i] - hits[i - 1]) / 1'000'000 << " ms apart");
        CHECK(hits[i] - hits[i - 1] > ns(kInterval) * 8 / 10);
    }
}

// Waits for the first hit at or after `since_ns`; returns its time or 0.
std::int64_t first_hit_after(const PprofTarget &target, std::int64_t since_ns, std::chrono::milliseconds timeout) {
    std::int64_t found = 0;
    wait_until(
        [&] {
            auto hits = target.hits_since(since_ns);
            if (hits.empty()) return false;
            found = hits.front();
            return true;
        },
        timeout, 20ms);
    return found;
}

} // namespace

TEST_CASE("election on etcd: one host pulls; the job follows the leader", "[integration][election]") {
    EtcdServer etcd;
    PprofTarget target;
    HostProcess a(host_options(etcd, target, "node-a"));
    HostProcess b(host_options(etcd, target, "node-b"));
    HostProcess c(host_options(etcd, target, "node-c"));
    CHECK(role_of(c) == "observer");

    // --- exactly one pulls
    const auto started = wall_ns();
    REQUIRE(first_hit_after(target, started, 15s) != 0);
    std::this_thread::sleep_for(kInterval + 1500ms);
    {
        auto hits = target.hits_since(started);
        INFO("goroutine pulls since start: " << hits.size());
        CHECK(hits.size() == 2);
        expect_one_schedule(hits);
        const bool a_pulls = pulled_points(a) > 0, b_pulls = pulled_points(b) > 0;
        REQUIRE(a_pulls != b_pulls);
        CHECK(role_of(a_pulls ? a : b) == "leader");
        CHECK(role_of(a_pulls ? b : a) == "follower");
        const auto metrics = trib::test::http("GET", (a_pulls ? a : b).url("/metrics")).body;
        CHECK(metrics.find("tributary_election_leader{backend=\"etcd\"} 1") != std::string::npos);
        CHECK(metrics.find("tributary_election_role{backend=\"etcd\",role=\"leader\"} 1") != std::string::npos);
    }
    HostProcess *leader = pulled_points(a) > 0 ? &a : &b;
    HostProcess *follower = leader == &a ? &b : &a;

    // --- kill -9 the leader: the other pulls within TTL + one interval
    const auto follower_points = pulled_points(*follower);
    leader->kill9();
    const auto killed = wall_ns();
    const auto takeover_hit = first_hit_after(target, killed, kTtl + kInterval + 1s);
    REQUIRE(takeover_hit != 0);
    WARN("measured: takeover after kill -9 of the leader: " << (takeover_hit - killed) / 1'000'000 << " ms");
    CHECK(takeover_hit - killed <= ns(kTtl + kInterval));
    REQUIRE(wait_until([&] { return pulled_points(*follower) > follower_points; }, 5s, 50ms));
    std::swap(leader, follower);

    // The killed host comes back and queues behind the new leader.
    follower->restart();
    const auto rejoined = wall_ns();
    const auto follower_points_after_restart = pulled_points(*follower);
    std::this_thread::sleep_for(kInterval + 1500ms);
    {
        auto hits = target.hits_since(takeover_hit);
        expect_one_schedule(hits);
        CHECK(target.hits_since(rejoined).size() >= 1);
        CHECK(pulled_points(*follower) == follower_points_after_restart);
        CHECK(role_of(*leader) == "leader");
        CHECK(role_of(*follower) == "follower");
    }

    // --- etcd stopped: both stop pulling within TTL
    etcd.kill();
    const auto etcd_down = wall_ns();
    REQUIRE(wait_until([&] { return role_of(a) != "leader" && role_of(b) != "leader"; }, kTtl, 20ms));
    const auto stepped_down = wall_ns() - etcd_down;
    WARN("measured: both hosts not leader " << stepped_down / 1'000'000 << " ms after etcd was killed");
    CHECK(stepped_down <= ns(kTtl));
    std::this_thread::sleep_for(kInterval + 1500ms);
    {
        auto late = target.hits_since(etcd_down + ns(kTtl));
        INFO("pulls later than TTL after etcd went down: " << late.size());
        CHECK(late.empty());
    }

    // --- etcd back: exactly one resumes
    const auto a_before = pulled_points(a), b_before = pulled_points(b);
    etcd.start();
    const auto etcd_up = wall_ns();
    const auto resumed_hit = first_hit_after(target, etcd_up, kInterval + 5s);
    REQUIRE(resumed_hit != 0);
    WARN("measured: pulling resumed " << (resumed_hit - etcd_up) / 1'000'000 << " ms after etcd was back");
    std::this_thread::sleep_for(kInterval + 1500ms);
    {
        auto hits = target.hits_since(etcd_up);
        CHECK(hits.size() == 2);
        expect_one_schedule(hits);
        const bool a_resumed = pulled_points(a) > a_before, b_resumed = pulled_points(b) > b_before;
        REQUIRE(a_resumed != b_resumed);
        leader = a_resumed ? &a : &b;
        follower = a_resumed ? &b : &a;
        CHECK(role_of(*leader) == "leader");
    }

    // --- SIGTERM the leader: it resigns, the other takes over within 2 s
    const auto before_term = pulled_points(*follower);
    const auto terminated = wall_ns();
    std::thread stopper([&] { leader->stop(SIGTERM); });
    const auto handover_hit = first_hit_after(target, terminated, 5s);
    stopper.join();
    REQUIRE(handover_hit != 0);
    WARN("measured: takeover after SIGTERM of the leader: " << (handover_hit - terminated) / 1'000'000 << " ms");
    CHECK(handover_hit - terminated <= ns(2s));
    REQUIRE(wait_until([&] { return pulled_points(*follower) > before_term; }, 5s, 50ms));
    CHECK(role_of(*follower) == "leader");

    // The host outside the whitelist never pulled, whoever led.
    CHECK(pulled_points(c) == 0);
    CHECK(role_of(c) == "observer");
}
