// Backend "etcd" through the host's factory, configured as [election] in tributary.conf is.
#include "etcd_server.hpp"

#include <election/election_factory.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("the factory builds the etcd backend from [election]", "[election][etcd]") {
    trib::test::EtcdServer etcd;
    trib::core::ElectionConfig config;
    config.enable = true;
    config.backend = "etcd";
    config.endpoints = {etcd.endpoint()};
    config.ns = "trib-factory";
    config.host_id = "factory-host";
    config.lease_ttl_s = 2;
    REQUIRE(trib::core::election_backend_known("etcd"));

    auto election = trib::core::make_election(config);
    REQUIRE(election);
    CHECK(election->backend() == "etcd");
    CHECK(election->role() == "stopped");
    std::vector<bool> told;
    election->start([&](bool leading) { told.push_back(leading); });
    REQUIRE(trib::test::wait_until([&] { return election->is_leader(); }, 5s, 20ms));
    CHECK(election->role() == "leader");
    election->stop();
    CHECK(told == std::vector<bool>{true, false});
    CHECK_FALSE(election->is_leader());
}

TEST_CASE("the factory refuses unusable [election] etcd settings with the reason", "[election]") {
    trib::core::ElectionConfig config;
    config.enable = true;
    config.backend = "etcd";
    config.endpoints = {"http://127.0.0.1:2379"};

    auto tiny_ttl = config;
    tiny_ttl.lease_ttl_s = 0;
    CHECK_THROWS_WITH(trib::core::make_election(tiny_ttl), Catch::Contains("at least 1s"));
    auto other_scheme = config;
    other_scheme.endpoints = {"unix://etcd.example:2379"};
    CHECK_THROWS_WITH(trib::core::make_election(other_scheme), Catch::Contains("only http:// and https://"));
    auto tls = config;
    tls.endpoints = {"https://etcd.example:2379"};
    CHECK_NOTHROW(trib::core::make_election(tls));
    tls.table = {{"tls_ca", "/nonexistent/etcd-ca.pem"}};
    CHECK_THROWS_WITH(trib::core::make_election(tls), Catch::Contains("key 'tls_ca'"));
    auto password_only = config;
    password_only.table = {{"password", "hunter2"}};
    CHECK_THROWS_WITH(trib::core::make_election(password_only), Catch::Contains("without a username"));
    auto no_endpoints = config;
    no_endpoints.endpoints.clear();
    CHECK_THROWS_AS(trib::core::make_election(no_endpoints), std::runtime_error);
}
