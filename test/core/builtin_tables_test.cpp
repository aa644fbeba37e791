// The built-in sink types and election backends, as their tables list them: each name is
// known, makes a working sink or election, and an unknown name is refused by name.
#include <catch2/catch.hpp>
#include <election/election_factory.hpp>
#include <sinks/sink_factory.hpp>
#include <trib_test/support.hpp>

using namespace trib::core;
using trib::test::TempDir;

namespace {

SinkConfig sink_config(const std::string &type, nlohmann::json table) {
    SinkConfig cfg;
    cfg.name = "s1";
    cfg.type = type;
    table["name"] = cfg.name;
    table["type"] = type;
    cfg.table = std::move(table);
    cfg.source = "tributary.conf: sinks[0]";
    return cfg;
}

} // namespace

TEST_CASE("the sink table lists every built-in type, and each one makes its sink", "[core][sinks]") {
    CHECK(builtin_sink_types() == std::vector<std::string>{"file", "stdout", "dataway", "influxdb"});
    TempDir dir;
    SinkContext ctx{dir.path(), {{"host", "box1"}}};
    const std::map<std::string, nlohmann::json> minimal = {
        {"file", nlohmann::json::object()},
        {"stdout", nlohmann::json::object()},
        {"dataway", {{"url", "http://127.0.0.1:1?token=tkn_x"}}},
        {"influxdb", {{"url", "http://127.0.0.1:1"}, {"database", "db"}}},
    };
    for (auto &entry : builtin_sink_table()) {
        std::string type(entry.type);
        INFO(type);
        REQUIRE(builtin_sink_type_known(type));
        REQUIRE(minimal.count(type));
        auto sink = make_builtin_sink(sink_config(type, minimal.at(type)), ctx);
        REQUIRE(sink);
        CHECK(sink->name() == "s1");
    }
}

TEST_CASE("a file sink from the table keeps a point's attachments together under its profile_id", "[core][sinks]") {
    TempDir dir;
    auto sink = make_builtin_sink(sink_config("file", {{"path", dir.path()}}), SinkContext{dir.path(), {}});
    trib::Point p("profile", "profiling", 1700000000000000000);
    p.tag("service", "shop");
    p.field(trib::Field::String("profile_id", "6f1d2c3a-0000-4000-8000-000000000001"));
    p.attach("cpu.pprof", "application/octet-stream", std::string("\x1f\x8b pprof", 8));
    p.attach("event.json", "application/json", std::string(R"({"tags_profiler":"service:shop"})"));
    std::string err;
    REQUIRE(sink->write({p}, err) == TRIB_OK);
    sink->flush();
    const std::string group = dir.sub("attachments/6f1d2c3a-0000-4000-8000-000000000001/");
    CHECK(trib::test::read_file(group + "cpu.pprof") == std::string("\x1f\x8b pprof", 8));
    CHECK(trib::test::read_file(group + "event.json") == R"({"tags_profiler":"service:shop"})");
}

TEST_CASE("unknown sink types and bad sink tables are refused naming the table and key", "[core][sinks]") {
    TempDir dir;
    SinkContext ctx{dir.path(), {}};
    CHECK_FALSE(builtin_sink_type_known("kafka"));
    CHECK_THROWS_WITH(make_builtin_sink(sink_config("kafka", nlohmann::json::object()), ctx),
                      Catch::Contains("sinks[0]") && Catch::Contains("unknown sink type 'kafka'"));
    CHECK_THROWS_WITH(make_builtin_sink(sink_config("dataway", nlohmann::json::object()), ctx),
                      Catch::Contains("sinks[0]") && Catch::Contains("'urls'"));
    CHECK_THROWS_WITH(make_builtin_sink(sink_config("file", {{"spool", {{"segment_mb", "lots"}}}}), ctx),
                      Catch::Contains("sinks[0]") && Catch::Contains("segment_mb"));
}

TEST_CASE("the election table lists none and etcd; an unknown backend is refused by name", "[core][election]") {
    CHECK(election_backends() == std::vector<std::string>{"none", "etcd"});
    ElectionConfig off;
    off.backend = "etcd"; // not enabled: this host simply leads
    auto none = make_election(off);
    REQUIRE(none);
    CHECK(none->backend() == "none");
    CHECK(none->is_leader());
    ElectionConfig odd;
    odd.enable = true;
    odd.backend = "zookeeper";
    CHECK_FALSE(election_backend_known("zookeeper"));
    CHECK_THROWS_WITH(make_election(odd), Catch::Contains("'zookeeper'"));
}
