// The sink's mapping of a point to Pyroscope series labels and profile type names.
#include "series.hpp"

#include <catch2/catch.hpp>

using namespace trib::pyroscope_sink;

TEST_CASE("series labels: service_name, __name__, sanitised tags, at most 30", "[pyroscope_sink]") {
    std::vector<std::pair<std::string, std::string>> tags{
        {"service", "api"},       {"runtime-id", "r1"}, {"host", "h1"},          {"env", "prod"}, {"version", "1.2"},
        {"otel.scope.name", "x"}, {"9lives", "cat"},    {"__session_id__", "s"}, {"empty", ""}};
    for (int i = 0; i < 40; ++i) tags.emplace_back("zz_tag_" + std::to_string(100 + i), "v");
    size_t dropped = 0;
    auto l = series_labels(tags, "wall", &dropped);
    CHECK(l.size() == kMaxLabels);
    CHECK(dropped == tags.size() - 3 /* service, __session_id__, empty */ - (kMaxLabels - 3));
    auto get = [&](const std::string &k) {
        for (auto &kv : l)
            if (kv.first == k) return kv.second;
        return std::string("<absent>");
    };
    CHECK(get("service_name") == "api");
    CHECK(get("__name__") == "wall");
    CHECK(get("__delta__") == "false");
    CHECK(get("env") == "prod");
    CHECK(get("version") == "1.2");
    CHECK(get("host") == "h1");
    CHECK(get("runtime_id") == "r1");
    CHECK(get("otel_scope_name") == "x");
    CHECK(get("_9lives") == "cat");
    CHECK(get("service") == "<absent>");
    CHECK(get("__session_id__") == "<absent>");
    CHECK(get("empty") == "<absent>");
    CHECK(std::is_sorted(l.begin(), l.end()));

    // service_name wins over service; no service at all still gives a non-empty one.
    CHECK(series_labels({{"service", "a"}, {"service_name", "b"}}, "wall")[2] ==
          std::make_pair(std::string("service_name"), std::string("b")));
    auto none = series_labels({}, "memory");
    CHECK(none == Labels{{"__delta__", "false"}, {"__name__", "memory"}, {"service_name", "unknown_service"}});
}

TEST_CASE("profile type names as Pyroscope spells them", "[pyroscope_sink]") {
    CHECK(profile_type_name("cpu.pprof", {}) == "process_cpu");
    CHECK(profile_type_name("delta-heap.pprof", {}) == "memory");
    CHECK(profile_type_name("space.pprof", {}) == "memory");
    CHECK(profile_type_name("wall.pprof", {}) == "wall");
    CHECK(profile_type_name("delta-mutex.pprof", {}) == "mutex");
    CHECK(profile_type_name("delta-block.pprof", {}) == "block");
    CHECK(profile_type_name("goroutines.pprof", {}) == "goroutine");
    CHECK(profile_type_name("auto.pprof", {"samples", "wall", "cpu"}) == "wall");
    CHECK(profile_type_name("auto.pprof", {"samples", "cpu"}) == "process_cpu");
    CHECK(profile_type_name("auto.pprof", {"inuse_objects", "inuse_space"}) == "memory");
    CHECK(profile_type_name("events.pprof", {"timeline"}) == "events");
    CHECK_FALSE(is_profile_part("event.json"));
    CHECK_FALSE(is_profile_part("prev_cpu.pprof"));
    CHECK_FALSE(is_profile_part("metrics.json"));
    CHECK(is_profile_part("wall.pprof"));
    CHECK(ingest_name("java app", {{"__name__", "jfr"}, {"env", "c,i"}, {"host", "h"}}) == "java_app{env=ci,host=h}");
}
