// EtcdElection against a real etcd 3.4 (Debian's etcd-server) started by each test.
#include "etcd_server.hpp"

#include <election/etcd_election.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using trib::core::EtcdElection;
using trib::core::EtcdElectionOptions;
using trib::test::EtcdServer;
using trib::test::wait_until;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTtl = 2s;

// Records every on_change call with its time.
struct Transitions {
    std::mutex mutex;
    std::vector<std::pair<bool, Clock::time_point>> calls;
    std::function<void(bool)> callback() {
        return [this](bool leading) {
            std::lock_guard lock(mutex);
            calls.emplace_back(leading, Clock::now());
        };
    }
    std::vector<bool> values() {
        std::lock_guard lock(mutex);
        std::vector<bool> out;
        for (auto &c : calls) out.push_back(c.first);
        return out;
    }
};

EtcdElectionOptions options_for(const std::vector<std::string> &endpoints, const std::string &node,
                                const std::string &name_space = "trib-test") {
    EtcdElectionOptions options;
    options.endpoints = endpoints;
    options.name_space = name_space;
    options.lease_ttl = kTtl;
    options.host_name = node;
    options.node_id = node;
    return options;
}

int leaders(const std::vector<EtcdElection *> &elections) {
    int count = 0;
    for (auto *e : elections) count += e->is_leader() ? 1 : 0;
    return count;
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64(const std::string &text) {
    std::string out;
    unsigned value = 0;
    int bits = 0;
    for (unsigned char c : text) {
        value = (value << 8) | c;
        bits += 8;
        while (bits >= 6) out.push_back(kAlphabet[(value >> (bits -= 6)) & 63]);
    }
    if (bits > 0) out.push_back(kAlphabet[(value << (6 - bits)) & 63]);
    while (out.size() % 4) out.push_back('=');
    return out;
}

std::string unb64(const std::string &text) {
    std::string out;
    unsigned value = 0;
    int bits = 0;
    for (char c : text) {
        const char *at = std::strchr(kAlphabet, c);
        if (c == '=' || c == '\0' || !at) break;
        value = (value << 6) | static_cast<unsigned>(at - kAlphabet);
        bits += 6;
        if (bits >= 8) out.push_back(static_cast<char>((value >> (bits -= 8)) & 0xFF));
    }
    return out;
}

// The candidates etcd holds under "<ns>/", oldest first, as (key, value).
std::vector<std::pair<std::string, std::string>> candidates(const EtcdServer &etcd, const std::string &ns) {
    const std::string prefix = ns + "/";
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    auto answer = nlohmann::json::parse(etcd.post("/v3/kv/range", nlohmann::json{{"key", b64(prefix)},
                                                                                 {"range_end", b64(end)},
                                                                                 {"sort_order", "ASCEND"},
                                                                                 {"sort_target", "CREATE"}}
                                                                      .dump()));
    std::vector<std::pair<std::string, std::string>> out;
    for (auto &kv : answer.value("kvs", nlohmann::json::array())) {
        out.emplace_back(unb64(kv.value("key", "")), unb64(kv.value("value", "")));
    }
    return out;
}

// Checks for `span` that exactly one of the elections leads at every sample.
void expect_single_leader_for(const std::vector<EtcdElection *> &elections, std::chrono::milliseconds span) {
    const auto end = Clock::now() + span;
    while (Clock::now() < end) {
        REQUIRE(leaders(elections) == 1);
        std::this_thread::sleep_for(20ms);
    }
}

} // namespace

TEST_CASE("two candidates: exactly one leads, the other takes over when it resigns", "[election][etcd]") {
    EtcdServer etcd;
    Transitions a_calls, b_calls;
    EtcdElection a(options_for({etcd.endpoint()}, "node-a"));
    EtcdElection b(options_for({etcd.endpoint()}, "node-b"));
    CHECK(a.backend() == "etcd");
    a.start(a_calls.callback());
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    b.start(b_calls.callback());
    REQUIRE(wait_until([&] { return b.role() == "follower"; }, 5s, 20ms));

    // Longer than a TTL: keep-alives keep the first leader in office, the second waits.
    expect_single_leader_for({&a, &b}, 3s);
    CHECK(a.is_leader());
    CHECK(a.role() == "leader");
    CHECK(b.leader_node() == "node-a");
    CHECK(a.leader_node() == "node-a");

    // etcd holds both keys: "<namespace>/<lease hex>", oldest (the leader's) first.
    auto keys = candidates(etcd, "trib-test");
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].second == "node-a");
    CHECK(keys[1].second == "node-b");
    CHECK(keys[0].first.rfind("trib-test/", 0) == 0);
    CHECK(keys[0].first.find_first_not_of("0123456789abcdef", 10) == std::string::npos);

    const auto stop_started = Clock::now();
    a.stop();
    CHECK_FALSE(a.is_leader());
    CHECK(a.role() == "stopped");
    REQUIRE(wait_until([&] { return b.is_leader(); }, kTtl, 10ms));
    const auto takeover = Clock::now() - stop_started;
    // Resigning deletes the key: the follower's watch fires at once, long before any TTL.
    CHECK(takeover < 1s);
    CHECK(candidates(etcd, "trib-test").size() == 1);
    CHECK(a_calls.values() == std::vector<bool>{true, false});
    CHECK(b_calls.values() == std::vector<bool>{true});
    b.stop();
    CHECK(b_calls.values() == std::vector<bool>{true, false});
    CHECK(candidates(etcd, "trib-test").empty());
}

TEST_CASE("etcd killed: both step down within the TTL; etcd back: exactly one leads", "[election][etcd]") {
    EtcdServer etcd;
    Transitions a_calls, b_calls;
    std::mutex log_mutex;
    std::vector<std::string> a_log; // warnings and info lines of node-a
    auto a_options = options_for({etcd.endpoint()}, "node-a");
    a_options.log = [&](const std::string &level, const std::string &message) {
        std::lock_guard lock(log_mutex);
        if (level != "debug") a_log.push_back(level + ": " + message);
    };
    auto a_log_count = [&](const std::string &part) {
        std::lock_guard lock(log_mutex);
        return std::count_if(a_log.begin(), a_log.end(),
                             [&](auto &line) { return line.find(part) != std::string::npos; });
    };
    EtcdElection a(a_options);
    EtcdElection b(options_for({etcd.endpoint()}, "node-b"));
    a.start(a_calls.callback());
    b.start(b_calls.callback());
    REQUIRE(wait_until([&] { return leaders({&a, &b}) == 1; }, 5s, 20ms));
    EtcdElection &leader = a.is_leader() ? a : b;
    Transitions &leader_calls = a.is_leader() ? a_calls : b_calls;

    etcd.kill();
    const auto killed = Clock::now();
    REQUIRE(wait_until([&] { return leaders({&a, &b}) == 0; }, kTtl, 10ms));
    const auto stepped_down = Clock::now() - killed;
    INFO("stepped down after " << std::chrono::duration_cast<std::chrono::milliseconds>(stepped_down).count() << " ms");
    CHECK(stepped_down < kTtl);
    // The module callback follows the fence, not only is_leader().
    REQUIRE(wait_until([&] { return leader_calls.values() == std::vector<bool>{true, false}; }, 1s, 10ms));
    {
        std::lock_guard lock(leader_calls.mutex);
        CHECK(leader_calls.calls.back().second - killed < kTtl);
    }
    CHECK(leader.role() == "candidate");
    // While etcd is gone nobody leads, for well over a TTL.
    const auto outage_end = Clock::now() + 2 * kTtl;
    while (Clock::now() < outage_end) {
        REQUIRE(leaders({&a, &b}) == 0);
        std::this_thread::sleep_for(50ms);
    }

    // The operator is told once that etcd is gone, not on every retry.
    CHECK(a_log_count("warn: election[etcd trib-test]: cannot reach etcd") == 1);

    etcd.start();
    REQUIRE(wait_until([&] { return leaders({&a, &b}) == 1; }, 10s, 20ms));
    expect_single_leader_for({&a, &b}, 3s);
    CHECK(a_log_count("etcd answers again") == 1);
}

TEST_CASE("a hung etcd (SIGSTOP): the leader steps down before its lease can expire", "[election][etcd]") {
    EtcdServer etcd;
    Transitions calls;
    EtcdElection a(options_for({etcd.endpoint()}, "node-a"));
    a.start(calls.callback());
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    std::this_thread::sleep_for(1s);

    etcd.freeze();
    const auto frozen = Clock::now();
    REQUIRE(wait_until([&] { return !a.is_leader(); }, kTtl, 5ms));
    CHECK(Clock::now() - frozen < kTtl);
    REQUIRE(wait_until([&] { return calls.values() == std::vector<bool>{true, false}; }, kTtl, 10ms));
    etcd.thaw();
    // Back in office once renewals work again; one key (the old lease, or a fresh one if
    // etcd expired it on waking).
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    CHECK(candidates(etcd, "trib-test").size() == 1);
    CHECK(a.terms_won() == 2);
}

TEST_CASE("a host not on the whitelist never campaigns but sees the leader", "[election][etcd]") {
    EtcdServer etcd;
    auto allowed = options_for({etcd.endpoint()}, "node-a");
    allowed.whitelist = {"NODE-A", "node-c"};
    auto barred = options_for({etcd.endpoint()}, "node-b");
    barred.whitelist = allowed.whitelist;

    Transitions barred_calls;
    EtcdElection b(barred);
    CHECK_FALSE(b.eligible());
    b.start(barred_calls.callback());
    CHECK(b.role() == "observer");
    // Alone, it still does not lead.
    std::this_thread::sleep_for(1500ms);
    CHECK_FALSE(b.is_leader());
    CHECK(candidates(etcd, "trib-test").empty());

    EtcdElection a(allowed);
    CHECK(a.eligible()); // host names compare case-insensitively
    a.start(nullptr);
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    REQUIRE(wait_until([&] { return b.leader_node() == "node-a"; }, 3s, 20ms));
    a.stop();
    std::this_thread::sleep_for(1s);
    CHECK_FALSE(b.is_leader());
    CHECK(barred_calls.values().empty());
}

TEST_CASE("interoperates with other v3 election clients under the same name", "[election][etcd]") {
    EtcdServer etcd;
    // Another client (etcdctl elect / clientv3 concurrency) already campaigns: its key,
    // with its own lease, has the lowest create_revision.
    auto grant = nlohmann::json::parse(etcd.post("/v3/lease/grant", R"({"TTL":30})"));
    const std::string other_lease = grant["ID"];
    etcd.post(
        "/v3/kv/put",
        nlohmann::json{{"key", b64("trib-test/other")}, {"value", b64("etcdctl")}, {"lease", other_lease}}.dump());

    EtcdElection a(options_for({etcd.endpoint()}, "node-a"));
    a.start(nullptr);
    // The role and the leader's name are learnt in two steps: wait for both.
    REQUIRE(wait_until([&] { return a.role() == "follower" && a.leader_node() == "etcdctl"; }, 5s, 20ms));
    std::this_thread::sleep_for(2500ms); // past our own TTL: keep-alives keep us queued
    CHECK_FALSE(a.is_leader());

    // The other client resigns (revokes its lease): we lead.
    etcd.post("/v3/lease/revoke", nlohmann::json{{"ID", other_lease}}.dump());
    REQUIRE(wait_until([&] { return a.is_leader(); }, 1s, 10ms));

    // Someone deletes our key behind our back: we notice, stop leading and queue again.
    auto keys = candidates(etcd, "trib-test");
    REQUIRE(keys.size() == 1);
    etcd.post("/v3/kv/deleterange", nlohmann::json{{"key", b64(keys[0].first)}}.dump());
    REQUIRE(wait_until([&] { return candidates(etcd, "trib-test").size() == 1; }, 3s, 50ms));
    REQUIRE(wait_until([&] { return a.is_leader(); }, 3s, 20ms));
    CHECK(a.terms_won() == 2);
}

TEST_CASE("endpoints: the next one is tried; none reachable means no leader until one is", "[election][etcd]") {
    const int dead_port = trib::test::free_port();
    auto etcd = std::make_unique<EtcdServer>();
    EtcdElection a(options_for({"http://127.0.0.1:" + std::to_string(dead_port), etcd->endpoint()}, "node-a"));
    a.start(nullptr);
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    a.stop();

    // Nothing listens yet: candidate, not leader, no crash; then etcd appears on that port.
    const std::string late_endpoint = etcd->endpoint();
    etcd->stop();
    EtcdElection b(options_for({late_endpoint}, "node-b"));
    b.start(nullptr);
    std::this_thread::sleep_for(1s);
    CHECK_FALSE(b.is_leader());
    CHECK(b.role() == "candidate");
    etcd->start();
    REQUIRE(wait_until([&] { return b.is_leader(); }, 5s, 20ms));
}

TEST_CASE("a three-member cluster: losing the member we talk to keeps the leader in office", "[election][etcd]") {
    trib::test::EtcdCluster cluster(3);
    Transitions a_calls, b_calls;
    auto a_options = options_for(cluster.endpoints(), "node-a");
    a_options.lease_ttl = 3s;
    auto b_options = options_for({cluster.member(1).endpoint(), cluster.member(2).endpoint()}, "node-b");
    b_options.lease_ttl = 3s;
    EtcdElection a(a_options);
    EtcdElection b(b_options);
    a.start(a_calls.callback());
    REQUIRE(wait_until([&] { return a.is_leader(); }, 5s, 20ms));
    b.start(b_calls.callback());
    REQUIRE(wait_until([&] { return b.role() == "follower"; }, 5s, 20ms));

    // node-a talks to m0 first; kill it. Two of three members keep quorum and the lease.
    cluster.member(0).kill();
    expect_single_leader_for({&a, &b}, 5s);
    CHECK(a.is_leader());
    CHECK(a_calls.values() == std::vector<bool>{true});
    CHECK(b_calls.values().empty());

    // Quorum lost (one of three left): nobody may lead.
    cluster.member(1).kill();
    REQUIRE(wait_until([&] { return leaders({&a, &b}) == 0; }, 3s, 10ms));
    // The callback follows within the fence margin, while the thread's request times out.
    CHECK(wait_until([&] { return a_calls.values() == std::vector<bool>{true, false}; }, 500ms, 10ms));

    // Quorum back: node-a's lease survived (etcd 3.4 renews leases on a raft leader change).
    cluster.member(1).start();
    REQUIRE(wait_until([&] { return leaders({&a, &b}) == 1; }, 10s, 20ms));
    expect_single_leader_for({&a, &b}, 2s);
}

TEST_CASE("unusable options are refused with a clear reason", "[election]") {
    auto base = options_for({"http://127.0.0.1:2379"}, "n");
    CHECK_NOTHROW(trib::core::validate(base));

    auto none = base;
    none.endpoints.clear();
    CHECK_THROWS_WITH(trib::core::validate(none), Catch::Contains("at least one endpoint"));
    auto other_scheme = base;
    other_scheme.endpoints = {"unix://etcd:2379"};
    CHECK_THROWS_WITH(trib::core::validate(other_scheme), Catch::Contains("only http:// and https://"));
    auto tls = base;
    tls.endpoints = {"https://etcd:2379"};
    CHECK_NOTHROW(trib::core::validate(tls));
    auto credentials_in_url = base;
    credentials_in_url.endpoints = {"http://user:hunter2@etcd:2379"};
    CHECK_THROWS_WITH(trib::core::validate(credentials_in_url), Catch::Contains("username/password"));
    CHECK_THROWS_WITH(trib::core::validate(credentials_in_url), !Catch::Contains("hunter2"));
    auto garbage = base;
    garbage.endpoints = {"http://"};
    CHECK_THROWS_WITH(trib::core::validate(garbage), Catch::Contains("http://"));
    auto short_ttl = base;
    short_ttl.lease_ttl = 500ms;
    CHECK_THROWS_WITH(trib::core::validate(short_ttl), Catch::Contains("lease_ttl"));
    auto no_ns = base;
    no_ns.name_space.clear();
    CHECK_THROWS_WITH(trib::core::validate(no_ns), Catch::Contains("namespace"));
    CHECK_THROWS_AS(EtcdElection(none), std::invalid_argument);
    // Host-only form is accepted as http.
    auto bare = base;
    bare.endpoints = {"127.0.0.1:2379"};
    CHECK_NOTHROW(trib::core::validate(bare));
}
