// Unit checks of who may write: CIDR lists (IPv4, IPv6, mapped), the token forms the
// listener accepts, and the config keys' error messages (file and key named, never a token).
#include "net/access_control.hpp"
#include "config/config.hpp"

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

using namespace trib::core;
namespace tt = trib::test;

namespace {

HeaderFn headers(std::map<std::string, std::string> h) {
    return [h](const char *name) {
        auto it = h.find(name);
        return it == h.end() ? std::string() : it->second;
    };
}

std::string joined(const std::vector<std::string> &v) {
    std::string s;
    for (auto &e : v) s += e + "\n";
    return s;
}

} // namespace

TEST_CASE("allow_cidrs: IPv4, IPv6, IPv4-mapped and single addresses", "[security][access]") {
    trib::access::CidrList list({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1/128"});
    CHECK(list.allows("10.200.3.4"));
    CHECK_FALSE(list.allows("11.0.0.1"));
    CHECK(list.allows("192.168.1.7"));
    CHECK_FALSE(list.allows("192.168.1.8"));
    CHECK(list.allows("::ffff:10.1.2.3")); // an IPv4 client on a dual-stack socket
    CHECK(list.allows("fd12:3456::1"));
    CHECK(list.allows("[::1]"));
    CHECK_FALSE(list.allows("::2"));
    CHECK_FALSE(list.allows("not-an-address"));
    CHECK(trib::access::CidrList().allows("1.2.3.4"));
    CHECK_THROWS_WITH(trib::access::CidrList({"10.0.0.0/33"}), Catch::Contains("10.0.0.0/33"));
    CHECK_THROWS_WITH(trib::access::CidrList({"example.com"}), Catch::Contains("not an IPv4 or IPv6"));
    CHECK(trib::access::host_of_peer("ipv4:127.0.0.1:5555") == "127.0.0.1");
    CHECK(trib::access::host_of_peer("ipv6:[::1]:5555") == "::1");
}

TEST_CASE("tokens: Bearer, Basic (password or user:password), DD-API-KEY; CIDR before token", "[security][access]") {
    AccessPolicy p;
    p.tokens = {"tok-1", "bob:pw-2"};
    // base64("alice:tok-1") and base64("bob:pw-2") and base64("bob:wrong")
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-1"}}), "127.0.0.1") == AccessVerdict::allowed);
    CHECK(check_access(p, headers({{"Authorization", "bearer tok-1"}}), "127.0.0.1") == AccessVerdict::allowed);
    CHECK(check_access(p, headers({{"Authorization", "Basic YWxpY2U6dG9rLTE="}}), "") == AccessVerdict::allowed);
    CHECK(check_access(p, headers({{"Authorization", "Basic Ym9iOnB3LTI="}}), "") == AccessVerdict::allowed);
    CHECK(check_access(p, headers({{"Authorization", "Basic Ym9iOndyb25n"}}), "") == AccessVerdict::unauthorized);
    CHECK(check_access(p, headers({{"DD-API-KEY", "tok-1"}}), "") == AccessVerdict::allowed);
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-12"}}), "") == AccessVerdict::unauthorized);
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-"}}), "") == AccessVerdict::unauthorized);
    CHECK(check_access(p, headers({{"Authorization", "Basic !!!"}}), "") == AccessVerdict::unauthorized);
    CHECK(check_access(p, headers({}), "") == AccessVerdict::unauthorized);
    p.allow = trib::access::CidrList({"10.0.0.0/8"});
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-1"}}), "127.0.0.1") == AccessVerdict::forbidden);
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-1"}}), "10.1.1.1") == AccessVerdict::allowed);
    // Unix-socket clients (no address) are admitted by the socket's mode, not the list.
    CHECK(check_access(p, headers({{"Authorization", "Bearer tok-1"}}), "") == AccessVerdict::allowed);
}

TEST_CASE("config: [http] security keys and input auth keys; errors name file and key, never a token",
          "[security][access][config]") {
    tt::TempDir d;
    tt::write_file(d.sub("tokens"), "# comment\n\n  tok-from-file  \n");
    tt::write_file(d.sub("tributary.conf"), "[http]\n  tls_cert = \"/x.pem\"\n  tls_min_version = \"1.1\"\n"
                                            "  listen_unix_mode = \"999\"\n  admin_tokens = [\"adm-secret\"]\n");
    CliOptions cli;
    cli.config_file = d.sub("tributary.conf");
    std::vector<std::string> errors, warnings;
    HostConfig host = load_host_config(cli, {}, "", errors);
    INFO(joined(errors));
    CHECK(joined(errors).find("tls_cert' and 'tls_key'") != std::string::npos);
    CHECK(joined(errors).find("tls_min_version") != std::string::npos);
    CHECK(joined(errors).find("listen_unix_mode") != std::string::npos);
    CHECK(joined(errors).find(d.sub("tributary.conf")) != std::string::npos);
    REQUIRE(host.http.admin);
    CHECK(host.http.admin->tokens == std::vector<std::string>{"adm-secret"});

    errors.clear();
    tt::write_file(d.sub("conf.d/p.conf"),
                   "[[inputs.pyroscope]]\n  auth_tokens = [\"inline-secret\"]\n  auth_tokens_file = \"" +
                       d.sub("tokens") +
                       "\"\n  allow_cidrs = [\"127.0.0.0/8\"]\n"
                       "[[inputs.pyroscope]]\n  allow_cidrs = [\"300.0.0.0/8\"]\n"
                       "  auth_tokens_file = \"" +
                       d.sub("missing") + "\"\n");
    host.conf_d = d.sub("conf.d");
    auto inputs = load_input_configs(host, {{"pyroscope", "[[inputs.pyroscope]]\n"}}, {}, errors, warnings);
    REQUIRE(inputs.size() == 2);
    REQUIRE(inputs[0].access);
    CHECK(inputs[0].access->tokens == std::vector<std::string>{"inline-secret", "tok-from-file"});
    CHECK(inputs[0].access->allow.allows("127.0.0.9"));
    CHECK_FALSE(inputs[0].access->allow.allows("10.0.0.1"));
    // The module never sees the tokens; allow_cidrs stays for modules with their own server.
    CHECK_FALSE(inputs[0].table.contains("auth_tokens"));
    CHECK_FALSE(inputs[0].table.contains("auth_tokens_file"));
    CHECK(inputs[0].table.contains("allow_cidrs"));
    std::string all = joined(errors);
    INFO(all);
    CHECK(all.find("key 'allow_cidrs'") != std::string::npos);
    CHECK(all.find("300.0.0.0/8") != std::string::npos);
    CHECK(all.find("key 'auth_tokens_file'") != std::string::npos);
    CHECK(all.find(d.sub("conf.d/p.conf")) != std::string::npos);
    CHECK(all.find("inline-secret") == std::string::npos);
    CHECK(all.find("tok-from-file") == std::string::npos);
}
