// [election] in tributary.conf and DataKit's election environment variables.
#include <config/config.hpp>

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using trib::core::CliOptions;
using trib::core::Env;
using trib::core::HostConfig;
using trib::core::load_host_config;

namespace {

HostConfig load(const std::string &conf_text, const Env &env, std::vector<std::string> &errors) {
    static trib::test::TempDir dir("trib-election-config");
    trib::test::write_file(dir.sub("tributary.conf"), conf_text);
    CliOptions cli;
    cli.config_file = dir.sub("tributary.conf");
    return load_host_config(cli, env, "", errors);
}

std::string joined(const std::vector<std::string> &lines) {
    std::string out;
    for (auto &l : lines) out += l + "\n";
    return out;
}

} // namespace

TEST_CASE("[election] takes lease_ttl as a duration and node_whitelist as DataKit names it", "[election][config]") {
    std::vector<std::string> errors;
    auto cfg = load(R"([election]
enable = true
backend = "etcd"
endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
namespace = "pull-jobs"
lease_ttl = "5s"
node_whitelist = ["collector-1", "collector-2"]
[global_tags]
host = "collector-1"
)",
                    {}, errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(cfg.election.enable);
    CHECK(cfg.election.backend == "etcd");
    CHECK(cfg.election.endpoints == std::vector<std::string>{"http://10.0.0.1:2379", "http://10.0.0.2:2379"});
    CHECK(cfg.election.ns == "pull-jobs");
    CHECK(cfg.election.lease_ttl_s == 5);
    CHECK(cfg.election.whitelist == std::vector<std::string>{"collector-1", "collector-2"});
    CHECK(cfg.election.host_id == "collector-1");

    errors.clear();
    cfg = load("[election]\nlease_ttl = \"1500ms\"\nwhitelist = [\"a\"]\n", {}, errors);
    CHECK(errors.empty());
    CHECK(cfg.election.lease_ttl_s == 2); // etcd counts whole seconds: rounded up
    CHECK(cfg.election.whitelist == std::vector<std::string>{"a"});

    errors.clear();
    cfg = load("[election]\nlease_ttl = 7\n", {}, errors);
    CHECK(errors.empty());
    CHECK(cfg.election.lease_ttl_s == 7);
}

TEST_CASE("a bad lease_ttl names the key and the reason", "[election][config]") {
    for (const char *value : {"\"soon\"", "\"5 parsecs\"", "\"200ms\"", "true"}) {
        std::vector<std::string> errors;
        load(std::string("[election]\nlease_ttl = ") + value + "\n", {}, errors);
        INFO(value);
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].find("[election] key 'lease_ttl'") != std::string::npos);
    }
}

TEST_CASE("ENV_ENABLE_ELECTION, ENV_NAMESPACE and ENV_ELECTION_NODE_WHITELIST as DataKit reads them",
          "[election][config]") {
    std::vector<std::string> errors;
    auto cfg = load("[election]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n"
                    "namespace = \"file\"\nnode_whitelist = [\"from-file\"]\n",
                    {{"ENV_ENABLE_ELECTION", "on"},
                     {"ENV_NAMESPACE", "from-env"},
                     {"ENV_ELECTION_NODE_WHITELIST", R"(["node-a", "node-b"])"}},
                    errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(cfg.election.enable);
    CHECK(cfg.election.ns == "from-env");
    CHECK(cfg.election.whitelist == std::vector<std::string>{"node-a", "node-b"});

    errors.clear();
    cfg = load("", {{"ENV_ELECTION_NODE_WHITELIST", "node-a,node-b"}}, errors);
    CHECK(errors.empty());
    CHECK(cfg.election.whitelist == std::vector<std::string>{"node-a", "node-b"});

    errors.clear();
    load("", {{"ENV_ELECTION_NODE_WHITELIST", "[\"node-a\", 3]"}}, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("ENV_ELECTION_NODE_WHITELIST") != std::string::npos);
}

TEST_CASE("election enabled without a backend is a start-up error that says what to set", "[election][config]") {
    std::vector<std::string> errors;
    load("", {{"ENV_ENABLE_ELECTION", "true"}}, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("ENV_ENABLE_ELECTION") != std::string::npos);
    CHECK(errors[0].find("backend = \"etcd\"") != std::string::npos);

    errors.clear();
    load("[election]\nenable = true\n", {}, errors);
    CHECK(errors.size() == 1);

    errors.clear();
    load("", {{"ENV_ENABLE_ELECTION", "false"}}, errors);
    CHECK(errors.empty());
}
