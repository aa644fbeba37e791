// tributary/config_map.hpp: one declaration per key parses tables, coerces ENV_INPUT_* text
// by DataKit's rule, names the key in every error, and describes itself.
#include <tributary/config_map.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using trib::config::ConfigError;
using trib::config::ConfigMap;
using trib::config::parse_duration;

namespace {

ConfigMap demo_map() {
    auto m = ConfigMap::input("demo-in");
    m.boolean("enabled", true, "on or off");
    m.integer("workers", 4, "worker threads").within(1, 64);
    m.number("ratio", 0.5, "share kept").within(0, 1);
    m.number("limit_mb", 32.0, "body limit").greater_than(0).at_most(4096);
    m.string("mode", "fast", "how").one_of({"fast", "safe"});
    m.duration("timeout", "5s", "how long to wait").at_least("1s");
    m.string_list("paths", {"/a"}, "routes").check("start with '/'", [](const json &v) {
        for (auto &p : v)
            if (p.get<std::string>().empty() || p.get<std::string>()[0] != '/') return std::string("not a path");
        return std::string();
    });
    m.table("tags", true, "extra tags");
    ConfigMap pull;
    pull.string("url", std::nullopt, "where to pull").required("e.g. \"http://localhost:6060\"");
    pull.duration("interval", "10s", "how often");
    m.section("pull", std::move(pull), true, "pull targets");
    ConfigMap store;
    store.string("path", "", "where").alias("storage");
    store.integer("capacity", 5120, "MB").at_least(1);
    m.section("store", std::move(store), false, "disk queue");
    return m;
}

std::string error_of(const ConfigMap &m, const std::string &text) {
    try {
        m.parse(text);
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("config_map: durations by Go's rule", "[sdk][config_map]") {
    CHECK(parse_duration("10s") == 10s);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("1.5h") == 5400s);
    CHECK(parse_duration("2h") == 7200s);
    CHECK(parse_duration("250us") == 0ms);
    CHECK(parse_duration("1500us") == 2ms); // rounded to the nearest millisecond
    CHECK(parse_duration("15") == 15s);     // a bare number is seconds
    for (const char *bad : {"", "10 s", "s", "-5s", "5x", "1m30", "..5s", "5s5"})
        CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
    CHECK(trib::config::format_duration(90s) == "1m30s");
    CHECK(trib::config::format_duration(500ms) == "500ms");
    CHECK(trib::config::format_duration(1500ms) == "1.5s");
    CHECK(trib::config::format_duration(0ms) == "0s");
}

TEST_CASE("config_map: defaults when the table is empty", "[sdk][config_map]") {
    auto v = demo_map().parse("");
    CHECK(v.boolean("enabled"));
    CHECK(v.integer("workers") == 4);
    CHECK(v.number("ratio") == 0.5);
    CHECK(v.string("mode") == "fast");
    CHECK(v.duration("timeout") == 5s);
    CHECK(v.strings("paths") == std::vector<std::string>{"/a"});
    CHECK(v.string_table("tags").empty());
    CHECK(v.sections("pull").empty());
    CHECK(v.section("store").integer("capacity") == 5120);
    CHECK_FALSE(v.has("workers"));
    CHECK_FALSE(v.has("store"));
}

TEST_CASE("config_map: typed TOML values and environment text read alike", "[sdk][config_map]") {
    auto typed = demo_map().parse(R"({"enabled": false, "workers": 8, "ratio": 0.25, "timeout": "1m30s",
        "paths": ["/x", "/y"], "tags": {"a": "1", "n": 2, "b": true}, "store": {"storage": "/q", "capacity": 7.0},
        "pull": [{"url": "http://h:1", "interval": 30}], "other": 1})");
    auto text = demo_map().parse(R"({"enabled": "f", "workers": " 8 ", "ratio": "0.25", "timeout": "90s",
        "paths": "/x, /y", "tags": "{\"a\":\"1\",\"n\":2,\"b\":true}", "store": "{\"path\":\"/q\",\"capacity\":\"7\"}",
        "pull": "[{\"url\":\"http://h:1\",\"interval\":\"30s\"}]"})");
    for (auto *v : {&typed, &text}) {
        CHECK_FALSE(v->boolean("enabled"));
        CHECK(v->integer("workers") == 8);
        CHECK(v->number("ratio") == 0.25);
        CHECK(v->duration("timeout") == 90s);
        CHECK(v->strings("paths") == std::vector<std::string>{"/x", "/y"});
        CHECK(v->string_table("tags") == std::map<std::string, std::string>{{"a", "1"}, {"n", "2"}, {"b", "true"}});
        CHECK(v->section("store").string("path") == "/q");
        CHECK(v->section("store").integer("capacity") == 7);
        REQUIRE(v->sections("pull").size() == 1);
        CHECK(v->sections("pull")[0].string("url") == "http://h:1");
        CHECK(v->sections("pull")[0].duration("interval") == 30s);
    }
    CHECK(typed.undeclared() == json{{"other", 1}});
    CHECK(demo_map().parse(R"({"paths": "[\"/j\"]"})").strings("paths") == std::vector<std::string>{"/j"});
    for (const char *t : {"1", "t", "T", "true", "TRUE", "True"})
        CHECK(demo_map().parse(json{{"enabled", t}}.dump()).boolean("enabled"));
    for (const char *f : {"0", "f", "F", "false", "FALSE", "False"})
        CHECK_FALSE(demo_map().parse(json{{"enabled", f}}.dump()).boolean("enabled"));
}

TEST_CASE("config_map: every error names the input and the key", "[sdk][config_map]") {
    auto m = demo_map();
    CHECK(error_of(m, R"({"enabled": "maybe"})").rfind("inputs.demo-in: key 'enabled': expected true or false", 0) ==
          0);
    CHECK(error_of(m, R"({"enabled": "yes"})").find("key 'enabled'") != std::string::npos);
    CHECK(error_of(m, R"({"workers": 0})") == "inputs.demo-in: key 'workers': must be from 1 to 64, got 0");
    CHECK(error_of(m, R"({"workers": "eight"})").find("key 'workers': expected an integer") != std::string::npos);
    CHECK(error_of(m, R"({"workers": 1.5})").find("key 'workers'") != std::string::npos);
    CHECK(error_of(m, R"({"limit_mb": 0})").find("key 'limit_mb': must be greater than 0") != std::string::npos);
    CHECK(error_of(m, R"({"mode": "slow"})").find("key 'mode': unknown value 'slow' (one of: fast, safe)") !=
          std::string::npos);
    CHECK(error_of(m, R"({"timeout": "soon"})").find("key 'timeout': 'soon' is not a duration") != std::string::npos);
    CHECK(error_of(m, R"({"timeout": "500ms"})") == "inputs.demo-in: key 'timeout': must be at least 1s, got 500ms");
    CHECK(error_of(m, R"({"paths": ["nope"]})") == "inputs.demo-in: key 'paths': not a path");
    CHECK(error_of(m, R"({"paths": [1]})").find("key 'paths'") != std::string::npos);
    CHECK(error_of(m, R"({"tags": [1]})").find("key 'tags': expected a table") != std::string::npos);
    CHECK(error_of(m, R"({"tags": {"x": [1]}})").find("key 'tags.x'") != std::string::npos);
    CHECK(error_of(m, R"({"pull": [{"interval": "1s"}]})") ==
          "inputs.demo-in: key 'pull[0].url': required (e.g. \"http://localhost:6060\")");
    CHECK(error_of(m, R"({"pull": [{"url": "u"}, {"url": "v", "interval": "x"}]})").find("key 'pull[1].interval'") !=
          std::string::npos);
    CHECK(error_of(m, R"({"store": {"capacity": 0}})").find("key 'store.capacity'") != std::string::npos);
    CHECK(error_of(m, R"({"store": [{"capacity": 1}]})").find("key 'store': expected a table") != std::string::npos);
    CHECK(error_of(m, "[1]") == "inputs.demo-in: config is not a JSON object");
    CHECK(error_of(m, "{") == "inputs.demo-in: config is not a JSON object");
}

TEST_CASE("config_map: describes every key with its env variable", "[sdk][config_map]") {
    json d = demo_map().describe();
    CHECK(d["section"] == "inputs.demo-in");
    auto key = [&](const json &keys, const std::string &name) {
        for (auto &k : keys)
            if (k["name"] == name) return k;
        FAIL("no key " << name);
        return json();
    };
    json timeout = key(d["keys"], "timeout");
    CHECK(timeout["type"] == "duration");
    CHECK(timeout["default"] == "5s");
    CHECK(timeout["range"] == ">= 1s");
    CHECK(timeout["env"] == "ENV_INPUT_DEMO_IN_TIMEOUT");
    CHECK(timeout["doc"] == "how long to wait");
    CHECK(key(d["keys"], "workers")["range"] == "[1, 64]");
    CHECK(key(d["keys"], "limit_mb")["range"] == "(0, 4096]");
    CHECK(key(d["keys"], "mode")["choices"] == json{"fast", "safe"});
    json pull = key(d["keys"], "pull");
    CHECK(pull["repeated"] == true);
    CHECK(key(pull["keys"], "url")["required"] == true);
    CHECK_FALSE(key(pull["keys"], "url").contains("env")); // no variable inside a sub-table
    CHECK(key(key(d["keys"], "store")["keys"], "path")["aliases"] == json{"storage"});
    CHECK(json::parse(demo_map().describe_c_str()) == d);
    CHECK_THROWS_AS(demo_map().boolean("enabled", false, "twice"), std::logic_error);
}
