#include <catch2/catch.hpp>
#include <config/reload.hpp>
#include <spool/upstream_http.hpp>

using namespace trib::core;

namespace {

InputConfig input(const std::string &module, const std::string &instance, nlohmann::json table,
                  std::vector<std::pair<std::string, std::string>> tags = {}) {
    InputConfig ic;
    ic.module = module;
    ic.instance = instance;
    ic.table = std::move(table);
    ic.tags = std::move(tags);
    return ic;
}

} // namespace

TEST_CASE("reload plan: changed, added, removed and unchanged inputs", "[reload]") {
    std::vector<InputConfig> running = {input("profile", "0", {{"endpoints", {"/a"}}}),
                                        input("pyroscope", "0", {}, {{"stage", "one"}}), input("pinpoint", "0", {})};
    std::vector<InputConfig> next = {input("profile", "0", {{"endpoints", {"/a"}}}),
                                     input("pyroscope", "0", {}, {{"stage", "two"}}), input("viewer", "0", {})};
    auto plan = plan_input_reload(running, next, [](const std::string &) { return true; });
    CHECK(plan.unchanged == 1);
    CHECK(plan.restarted == std::vector<std::string>{"pyroscope/0"});
    CHECK(plan.removed == std::vector<std::string>{"pinpoint/0"});
    CHECK(plan.added == std::vector<std::string>{"viewer/0"});
    CHECK(plan.stop == std::vector<std::string>{"pinpoint/0", "pyroscope/0"});
    REQUIRE(plan.start.size() == 2);
    CHECK(plan.start[0]->tags[0].second == "two");
    CHECK(plan.start[1]->module == "viewer");
}

TEST_CASE("reload plan: an instance that failed to start is retried, not stopped", "[reload]") {
    std::vector<InputConfig> cfg = {input("profile", "0", {})};
    auto plan = plan_input_reload(cfg, cfg, [](const std::string &) { return false; });
    CHECK(plan.stop.empty());
    CHECK(plan.restarted == std::vector<std::string>{"profile/0"});
    CHECK(plan.start.size() == 1);
}

TEST_CASE("changes a reload cannot apply are named by key, never by value", "[reload]") {
    HostConfig a, b;
    SinkConfig s;
    s.name = "dw";
    s.type = "dataway";
    s.table = {{"url", "https://x?token=tkn_old"}};
    a.sinks = {s};
    s.table = {{"url", "https://x?token=tkn_new"}};
    b.sinks = {s};
    b.election.table = {{"password", "hunter2"}};
    b.http.max_connections = 7;
    auto keys = changes_needing_restart(a, b);
    CHECK(keys == std::vector<std::string>{"[http]", "[election]", "[[sinks]] 'dw' (changed)"});
    for (auto &k : keys) {
        CHECK(k.find("tkn_") == std::string::npos);
        CHECK(k.find("hunter2") == std::string::npos);
    }
    CHECK(changes_needing_restart(a, a).empty());
    HostConfig handlers = a;
    handlers.http.max_active_handlers = 8;
    CHECK(changes_needing_restart(a, handlers) == std::vector<std::string>{"[http]"});
}

TEST_CASE("upstream URLs: userinfo and query values never reach logs", "[upstream]") {
    CHECK(redact_url("https://user:pw@host:8086/db?u=a&p=secret") == "https://***@host:8086/db?u=***&p=***");
    CHECK(redact_url("https://openway.example.com?token=tkn_abc") == "https://openway.example.com?token=***");
    CHECK(redact_url("http://127.0.0.1:2379") == "http://127.0.0.1:2379");
    auto u = parse_upstream_url("https://admin:p%40ss@db.example:8443/x?token=t");
    CHECK(u.userinfo == "admin:p@ss");
    CHECK(u.host == "db.example");
    CHECK(u.port == 8443);
    CHECK(u.origin() == "https://db.example:8443");
    try {
        parse_upstream_url("https://admin:pw@:1?token=tkn_secret");
        FAIL("no host accepted");
    } catch (const std::invalid_argument &e) {
        std::string msg = e.what();
        CHECK(msg.find("tkn_secret") == std::string::npos);
        CHECK(msg.find("pw") == std::string::npos);
    }
}

TEST_CASE("upstream TLS keys: types and files checked, cert needs key", "[upstream]") {
    CHECK_THROWS_WITH(read_upstream_tls({{"tls_ca", "/nonexistent/ca.pem"}}, "dataway sink"),
                      Catch::Contains("key 'tls_ca'") && Catch::Contains("/nonexistent/ca.pem"));
    CHECK_THROWS_WITH(read_upstream_tls({{"insecure_skip_verify", "yes"}}, "x"),
                      Catch::Contains("insecure_skip_verify"));
    CHECK_THROWS_WITH(read_upstream_tls({{"tls_cert", "/etc/hostname"}}, "x"), Catch::Contains("tls_key"));
    auto tls = read_upstream_tls({{"insecure_skip_verify", true}}, "x");
    CHECK(tls.insecure_skip_verify);
    CHECK(tls.ca_file.empty());
}
