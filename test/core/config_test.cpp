#include <catch2/catch.hpp>
#include <config/config.hpp>
#include <trib_test/support.hpp>

using namespace trib::core;
using trib::test::TempDir;
using trib::test::write_file;

namespace {

bool any_contains(const std::vector<std::string> &msgs, std::initializer_list<std::string> parts) {
    for (auto &m : msgs) {
        bool all = true;
        for (auto &p : parts) all = all && m.find(p) != std::string::npos;
        if (all) return true;
    }
    return false;
}

std::string joined(const std::vector<std::string> &msgs) {
    std::string s;
    for (auto &m : msgs) s += m + "\n";
    return s;
}

CliOptions with_config(const std::string &path) {
    CliOptions c;
    c.config_file = path;
    return c;
}

const std::vector<InputModuleInfo> kModules = {
    {"profile", "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n  go = []\n  [inputs.profile.tags]\n"},
    {"pinpoint",
     "[[inputs.pinpoint]]\n  address = \"127.0.0.1:9991\"\n  keep_rare_resource = false\n  storage_max = 100\n"},
};

} // namespace

TEST_CASE("an empty tributary.conf is valid and gives the defaults", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"), "");
    std::vector<std::string> errors;
    HostConfig cfg = load_host_config(with_config(d.sub("tributary.conf")), {}, "/p", errors);
    CHECK(errors.empty());
    CHECK(cfg.listen == "0.0.0.0:9529");
    CHECK(cfg.plugins_dir == "/p");
    CHECK(cfg.conf_d == d.sub("conf.d"));
    REQUIRE(cfg.sinks.size() == 1);
    CHECK(cfg.sinks[0].type == "file");
    CHECK(cfg.bus.max_memory_bytes == 64ull << 20);
    bool has_host = false;
    for (auto &kv : cfg.global_tags) has_host |= kv.first == "host" && !kv.second.empty();
    CHECK(has_host);
}

TEST_CASE("a TOML syntax error names the file", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"), "listen = \"127.0.0.1:1\"\n[bus\nmax_memory_mb = 3\n");
    std::vector<std::string> errors;
    load_host_config(with_config(d.sub("tributary.conf")), {}, "", errors);
    INFO(joined(errors));
    CHECK(any_contains(errors, {d.sub("tributary.conf"), "TOML syntax error"}));
}

TEST_CASE("wrong types and unknown keys in tributary.conf name the file and key", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"),
               "listen = 9529\nlisten_typo = 1\n[bus]\nmax_memory_mb = \"big\"\n[global_tags]\nzone = 3\n"
               "[[sinks]]\nname = \"a\"\n[[sinks]]\ntype = \"file\"\ncategories = \"metric\"\n");
    std::vector<std::string> errors;
    load_host_config(with_config(d.sub("tributary.conf")), {}, "", errors);
    INFO(joined(errors));
    std::string f = d.sub("tributary.conf");
    CHECK(any_contains(errors, {f, "'listen'", "expected a string"}));
    CHECK(any_contains(errors, {f, "'listen_typo'", "unknown key"}));
    CHECK(any_contains(errors, {f, "[bus]", "'max_memory_mb'"}));
    CHECK(any_contains(errors, {f, "global_tags.zone", "expected a string"}));
    CHECK(any_contains(errors, {f, "sinks[0]", "'type'", "missing"}));
    CHECK(any_contains(errors, {f, "sinks[1]", "'categories'"}));
}

TEST_CASE("[attachments] retention keys are read; bad values name the file and key", "[core][config]") {
    TempDir d;
    write_file(d.sub("good.conf"), "[attachments]\nmax_size_mb = 5\nmax_age = \"90m\"\n");
    std::vector<std::string> errors;
    auto cfg = load_host_config(with_config(d.sub("good.conf")), {}, "", errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(cfg.attachments.max_size_bytes == 5ull << 20);
    CHECK(cfg.attachments.max_age == std::chrono::minutes(90));

    write_file(d.sub("bad.conf"), "[attachments]\nmax_size_mb = 0\nmax_age = \"soon\"\nkeep = 1\n");
    errors.clear();
    load_host_config(with_config(d.sub("bad.conf")), {}, "", errors);
    std::string f = d.sub("bad.conf");
    CHECK(any_contains(errors, {f, "[attachments]", "'max_size_mb'"}));
    CHECK(any_contains(errors, {f, "[attachments]", "'max_age'", "not a duration"}));
    CHECK(any_contains(errors, {f, "[attachments]", "'keep'"}));
    errors.clear();
    write_file(d.sub("zero.conf"), "[attachments]\nmax_age = \"0s\"\n");
    load_host_config(with_config(d.sub("zero.conf")), {}, "", errors);
    CHECK(any_contains(errors, {d.sub("zero.conf"), "'max_age'", "at least 1s"}));
}

TEST_CASE("[http] max_active_handlers is read; 0 names the file and key", "[core][config]") {
    TempDir d;
    CHECK(HostConfig{}.http.max_active_handlers == 0); // 0 = 4 per CPU core, at least 16
    write_file(d.sub("good.conf"), "[http]\nmax_active_handlers = 8\n");
    std::vector<std::string> errors;
    auto cfg = load_host_config(with_config(d.sub("good.conf")), {}, "", errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(cfg.http.max_active_handlers == 8);
    write_file(d.sub("bad.conf"), "[http]\nmax_active_handlers = 0\n");
    errors.clear();
    load_host_config(with_config(d.sub("bad.conf")), {}, "", errors);
    CHECK(any_contains(errors, {d.sub("bad.conf"), "[http]", "'max_active_handlers'"}));
}

TEST_CASE("sinks, bus, election and global tags are read; env beats the file, flags beat env", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"), R"(
listen = "127.0.0.1:1111"
data_dir = "/file/data"
[global_tags]
zone = "file"
host = "from-file"
[bus]
max_memory_mb = 3
[election]
enable = false
backend = "etcd"
endpoints = ["http://127.0.0.1:2379"]
namespace = "ns1"
lease_ttl = 7
[[sinks]]
name = "metrics_only"
type = "stdout"
categories = ["metric"]
measurements = ["cpu"]
[[sinks]]
type = "file"
[sinks.spool]
cache_capacity_mb = 10
)");
    std::vector<std::string> errors;
    Env env = {{"ENV_HTTP_LISTEN", "127.0.0.1:2222"},
               {"ENV_GLOBAL_HOST_TAGS", "zone=env, team = core"},
               {"ENV_ENABLE_ELECTION", "true"},
               {"ENV_NAMESPACE", "ns-env"}};
    HostConfig cfg = load_host_config(with_config(d.sub("tributary.conf")), env, "", errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(cfg.listen == "127.0.0.1:2222"); // env beats file
    CHECK(cfg.data_dir == "/file/data");
    CHECK(cfg.bus.max_memory_bytes == 3ull << 20);
    CHECK(cfg.election.enable);
    CHECK(cfg.election.backend == "etcd");
    CHECK(cfg.election.ns == "ns-env");
    CHECK(cfg.election.lease_ttl_s == 7);
    CHECK(cfg.election.endpoints == std::vector<std::string>{"http://127.0.0.1:2379"});
    std::map<std::string, std::string> tags(cfg.global_tags.begin(), cfg.global_tags.end());
    CHECK(tags["zone"] == "env");
    CHECK(tags["team"] == "core");
    CHECK(tags["host"] == "from-file");
    REQUIRE(cfg.sinks.size() == 2);
    CHECK(cfg.sinks[0].name == "metrics_only");
    CHECK(cfg.sinks[0].categories == std::vector<std::string>{"metric"});
    CHECK(cfg.sinks[0].measurements == std::vector<std::string>{"cpu"});
    CHECK(cfg.sinks[1].name == "file");
    CHECK(cfg.sinks[1].table["spool"]["cache_capacity_mb"] == 10);

    CliOptions cli = with_config(d.sub("tributary.conf"));
    cli.listen = "127.0.0.1:3333";
    cli.data_dir = "/flag/data";
    errors.clear();
    cfg = load_host_config(cli, env, "", errors);
    CHECK(cfg.listen == "127.0.0.1:3333"); // flag beats env
    CHECK(cfg.data_dir == "/flag/data");
}

TEST_CASE("bad environment values name the variable", "[core][config]") {
    std::vector<std::string> errors;
    load_host_config({}, {{"ENV_GLOBAL_HOST_TAGS", "ok=1,broken"}, {"ENV_HTTP_LISTEN", "nohostport"}}, "", errors);
    INFO(joined(errors));
    CHECK(any_contains(errors, {"ENV_GLOBAL_HOST_TAGS", "broken"}));
    CHECK(any_contains(errors, {"nohostport", "HOST:PORT"}));
}

TEST_CASE("conf.d inputs: several instances, tags and election read, unknown input names file and key",
          "[core][config]") {
    TempDir d;
    write_file(d.sub("conf.d/profile/a.conf"), R"(
[[inputs.profile]]
  endpoints = ["/a"]
  election = false
  [inputs.profile.tags]
    team = "x"
[[inputs.profile]]
  endpoints = ["/b"]
)");
    write_file(d.sub("conf.d/other/nope.conf"), "[[inputs.nope]]\n  x = 1\n");
    write_file(d.sub("conf.d/ignored.conf.sample"), "[[inputs.nope2]]\n");
    HostConfig host;
    host.conf_d = d.sub("conf.d");
    std::vector<std::string> errors, warnings;
    auto inputs = load_input_configs(host, kModules, {}, errors, warnings);
    INFO(joined(errors));
    REQUIRE(errors.size() == 1);
    CHECK(any_contains(errors, {d.sub("conf.d/other/nope.conf"), "inputs.nope", "no input module named 'nope'"}));
    REQUIRE(inputs.size() == 2);
    CHECK(inputs[0].module == "profile");
    CHECK(inputs[0].instance == "0");
    CHECK(inputs[1].instance == "1");
    CHECK(inputs[0].table["endpoints"][0] == "/a");
    CHECK_FALSE(inputs[0].election);
    CHECK(inputs[1].election);
    REQUIRE(inputs[0].tags.size() == 1);
    CHECK(inputs[0].tags[0] == std::make_pair(std::string("team"), std::string("x")));
    CHECK(inputs[0].source == d.sub("conf.d/profile/a.conf"));
}

TEST_CASE("conf.d TOML syntax errors name the file", "[core][config]") {
    TempDir d;
    write_file(d.sub("conf.d/bad.conf"), "[[inputs.profile]\n");
    HostConfig host;
    host.conf_d = d.sub("conf.d");
    std::vector<std::string> errors, warnings;
    load_input_configs(host, kModules, {}, errors, warnings);
    CHECK(any_contains(errors, {d.sub("conf.d/bad.conf"), "TOML syntax error"}));
}

TEST_CASE("ENV_DEFAULT_ENABLED_INPUTS uses the sample config; ENV_INPUT_ overrides by type", "[core][config]") {
    HostConfig host; // no conf.d
    Env env = {{"ENV_DEFAULT_ENABLED_INPUTS", "profile,pinpoint,notloaded"},
               {"ENV_INPUT_PINPOINT_ADDRESS", "0.0.0.0:9992"},
               {"ENV_INPUT_PINPOINT_KEEP_RARE_RESOURCE", "true"},
               {"ENV_INPUT_PINPOINT_STORAGE_MAX", "250"},
               {"ENV_INPUT_PROFILE_TAGS", R"({"env":"prod"})"},
               {"ENV_INPUT_PROFILE_GO", R"([{"url":"http://x/debug/pprof"}])"},
               {"ENV_INPUT_PROFILE_NEWKEY", "plain"}};
    std::vector<std::string> errors, warnings;
    auto inputs = load_input_configs(host, kModules, env, errors, warnings);
    INFO(joined(errors));
    CHECK(errors.empty());
    CHECK(any_contains(warnings, {"ENV_DEFAULT_ENABLED_INPUTS", "notloaded"}));
    REQUIRE(inputs.size() == 2);
    auto &profile = inputs[0].module == "profile" ? inputs[0] : inputs[1];
    auto &pinpoint = inputs[0].module == "pinpoint" ? inputs[0] : inputs[1];
    CHECK(pinpoint.table["address"] == "0.0.0.0:9992");
    CHECK(pinpoint.table["keep_rare_resource"] == true);
    CHECK(pinpoint.table["storage_max"] == 250);
    CHECK(profile.table["endpoints"][0] == "/profiling/v1/input");
    CHECK(profile.table["tags"]["env"] == "prod");
    CHECK(profile.table["go"][0]["url"] == "http://x/debug/pprof");
    CHECK(profile.table["newkey"] == "plain");
    REQUIRE(profile.tags.size() == 1);
    CHECK(profile.tags[0].second == "prod");
}

TEST_CASE("a bad ENV_INPUT_ value turns that instance off with a message naming the variable and key",
          "[core][config]") {
    HostConfig host;
    std::vector<std::string> errors, warnings;
    auto inputs = load_input_configs(host, kModules,
                                     {{"ENV_DEFAULT_ENABLED_INPUTS", "profile,pinpoint"},
                                      {"ENV_INPUT_PROFILE_TAGS", "[1,2]"},
                                      {"ENV_INPUT_PROFILE_GO", "{not json"},
                                      {"ENV_INPUT_PINPOINT_STORAGE_MAX", "lots"}},
                                     errors, warnings);
    // As DataKit: not a configuration error of the host, the rest of it runs.
    INFO(joined(errors));
    CHECK(errors.empty());
    REQUIRE(inputs.size() == 2);
    auto &profile = inputs[0].module == "profile" ? inputs[0] : inputs[1];
    auto &pinpoint = inputs[0].module == "pinpoint" ? inputs[0] : inputs[1];
    std::vector<std::string> profile_reason{profile.disabled_reason}, pinpoint_reason{pinpoint.disabled_reason};
    CHECK(any_contains(profile_reason, {"ENV_INPUT_PROFILE_TAGS", "'tags'", "table"}));
    CHECK(any_contains(profile_reason, {"ENV_INPUT_PROFILE_GO", "'go'", "list"}));
    CHECK(any_contains(pinpoint_reason, {"ENV_INPUT_PINPOINT_STORAGE_MAX", "'storage_max'", "integer"}));

    // A good value leaves the instance on.
    inputs = load_input_configs(host, kModules,
                                {{"ENV_DEFAULT_ENABLED_INPUTS", "pinpoint"}, {"ENV_INPUT_PINPOINT_STORAGE_MAX", "7"}},
                                errors, warnings);
    REQUIRE(inputs.size() == 1);
    CHECK(inputs[0].disabled_reason.empty());
}

TEST_CASE("ENV_DATAKIT_INPUTS holds input tables as TOML text, as DataKit reads it", "[core][config]") {
    HostConfig host;
    std::vector<std::string> errors, warnings;
    auto inputs = load_input_configs(
        host, kModules,
        {{"ENV_DATAKIT_INPUTS", "[[inputs.pinpoint]]\n  address = \"127.0.0.1:9993\"\n[[inputs.pinpoint]]\n"
                                "  address = \"127.0.0.1:9994\"\n"},
         {"ENV_DEFAULT_ENABLED_INPUTS", "pinpoint,profile"}},
        errors, warnings);
    INFO(joined(errors));
    CHECK(errors.empty());
    // The tables given win over the sample for pinpoint; profile has none, so its sample runs.
    REQUIRE(inputs.size() == 3);
    std::vector<std::string> addresses;
    for (auto &i : inputs)
        if (i.module == "pinpoint") addresses.push_back(i.table["address"]);
    CHECK(addresses == std::vector<std::string>{"127.0.0.1:9993", "127.0.0.1:9994"});

    errors.clear();
    load_input_configs(host, kModules, {{"ENV_DATAKIT_INPUTS", "[[inputs.pinpoint]\n"}}, errors, warnings);
    CHECK(any_contains(errors, {"ENV_DATAKIT_INPUTS", "TOML syntax error"}));
}

TEST_CASE("ENV_DATAWAY and [dataway] urls declare the dataway sink, as in a DataKit deployment", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"), "");
    std::vector<std::string> errors;
    HostConfig cfg = load_host_config(with_config(d.sub("tributary.conf")),
                                      {{"ENV_DATAWAY", "https://a.example?token=tkn_1, https://b.example?token=tkn_1"},
                                       {"ENV_DATAWAY_MAX_RAW_BODY_SIZE", "2000000"}},
                                      "", errors);
    INFO(joined(errors));
    CHECK(errors.empty());
    REQUIRE(cfg.sinks.size() == 1); // no implicit file sink beside it
    CHECK(cfg.sinks[0].type == "dataway");
    CHECK(cfg.sinks[0].name == "dataway");
    CHECK(cfg.sinks[0].table["urls"] ==
          nlohmann::json::array({"https://a.example?token=tkn_1", "https://b.example?token=tkn_1"}));
    CHECK(cfg.sinks[0].table["max_raw_body_kb"] == 1954);

    write_file(d.sub("tributary.conf"), "[dataway]\nurls = [\"http://dw.local?token=tkn_f\"]\ntimeout = \"30s\"\n"
                                        "max_raw_body_size = 1048576\n[[sinks]]\ntype = \"file\"\n");
    cfg = load_host_config(with_config(d.sub("tributary.conf")), {}, "", errors);
    CHECK(errors.empty());
    REQUIRE(cfg.sinks.size() == 2);
    CHECK(cfg.sinks[0].type == "file");
    CHECK(cfg.sinks[1].type == "dataway");
    CHECK(cfg.sinks[1].table["timeout"] == "30s");
    CHECK(cfg.sinks[1].table["max_raw_body_kb"] == 1024);

    // The environment wins over the file, as DataKit's ENV_ variables do.
    cfg = load_host_config(with_config(d.sub("tributary.conf")), {{"ENV_DATAWAY", "http://env.local?token=tkn_e"}}, "",
                           errors);
    REQUIRE(cfg.sinks.size() == 2);
    CHECK(cfg.sinks[1].table["urls"] == nlohmann::json::array({"http://env.local?token=tkn_e"}));

    write_file(d.sub("tributary.conf"), "[dataway]\nurls = []\n");
    load_host_config(with_config(d.sub("tributary.conf")), {}, "", errors);
    CHECK(any_contains(errors, {"[dataway]", "'urls'"}));
}

TEST_CASE("--conf-d overrides the conf.d beside the config file", "[core][config]") {
    TempDir d;
    write_file(d.sub("tributary.conf"), "");
    CliOptions cli = with_config(d.sub("tributary.conf"));
    cli.conf_d = d.sub("elsewhere");
    std::vector<std::string> errors;
    HostConfig cfg = load_host_config(cli, {}, "", errors);
    CHECK(cfg.conf_d == d.sub("elsewhere"));
}

TEST_CASE("command-line flags parse in both forms and reject unknown flags", "[core][config][cli]") {
    CliOptions c = parse_cli({"--config", "a.conf", "--listen=127.0.0.1:1", "--check-config", "--data-dir", "d"});
    CHECK(*c.config_file == "a.conf");
    CHECK(*c.listen == "127.0.0.1:1");
    CHECK(*c.data_dir == "d");
    CHECK(c.check_config);
    CHECK_THROWS_WITH(parse_cli({"--bogus"}), Catch::Contains("--bogus"));
    CHECK_THROWS_WITH(parse_cli({"--config"}), Catch::Contains("--config") && Catch::Contains("value"));
}
