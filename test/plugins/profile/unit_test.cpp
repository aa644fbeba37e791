// profile_core internals: config parsing, upload metadata, Go delta profiles.
#include "config.hpp"
#include "go_pull.hpp"
#include "upload.hpp"

#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <trib_test/support.hpp>

#include <fstream>
#include <sstream>

using namespace trib::profile;
using namespace std::chrono_literals;

using trib::test::fixture;

TEST_CASE("config: DataKit defaults") {
    auto c = parse_config("{}");
    CHECK(c.endpoints == std::vector<std::string>{"/profiling/v1/input"});
    CHECK(c.body_size_limit_mb == 32);
    CHECK(c.body_limit_bytes() == 32u * 1024 * 1024);
    CHECK(c.generate_metrics);
    CHECK(c.election);
    CHECK(c.go.empty());
    CHECK(c.pyroscope.empty());
}

TEST_CASE("config: every DataKit key") {
    auto c = parse_config(R"({
      "endpoints": ["/profiling/v1/input", "/x"], "body_size_limit_mb": 8, "generate_metrics": false,
      "election": false, "tags": {"a": "1", "n": 2},
      "io_config": {"cache_path": "/tmp/c", "cache_capacity_mb": 100, "send_timeout": "75s"},
      "go": [{"url": "localhost:6060", "interval": "1s", "service": "s", "env": "e", "version": "v",
              "enabled_types": ["heap", "cpu", "heap"], "tags": {"t": "x"}, "tag1": "val1",
              "tls_open": false, "insecure_skip_verify": true},
             {"url": "https://h:1", "interval": "1m30s"}],
      "pyroscope": [{"url": "0.0.0.0:4040", "service": "p", "env": "dev", "version": "0", "tags": {"k": "v"}}]
    })");
    CHECK(c.endpoints.size() == 2);
    CHECK(c.body_size_limit_mb == 8);
    CHECK_FALSE(c.generate_metrics);
    CHECK_FALSE(c.election);
    CHECK(c.tags == std::map<std::string, std::string>{{"a", "1"}, {"n", "2"}});
    CHECK(c.io_config["cache_capacity_mb"] == 100);
    REQUIRE(c.go.size() == 2);
    CHECK(c.go[0].url == "http://localhost:6060");
    CHECK(c.go[0].interval == 10s); // raised to the 10 s minimum
    CHECK(c.go[0].enabled_types == std::vector<std::string>{"heap", "cpu"});
    CHECK(c.go[0].tags == std::map<std::string, std::string>{{"t", "x"}, {"tag1", "val1"}});
    CHECK(c.go[0].insecure_skip_verify);
    CHECK(c.go[1].interval == 90s);
    CHECK(c.go[1].enabled_types == kGoProfileTypes); // default: all five
    REQUIRE(c.pyroscope.size() == 1);
    CHECK(c.pyroscope[0].url == "0.0.0.0:4040");
    CHECK(c.pyroscope[0].tags.at("k") == "v");
}

TEST_CASE("config: ENV_INPUT_* style string values") {
    auto c =
        parse_config(R"({"endpoints": "[\"/a\",\"/b\"]", "generate_metrics": "false", "body_size_limit_mb": "4"})");
    CHECK(c.endpoints == std::vector<std::string>{"/a", "/b"});
    CHECK_FALSE(c.generate_metrics);
    CHECK(c.body_size_limit_mb == 4);
    CHECK(parse_config(R"({"endpoints": "/a,/b"})").endpoints == std::vector<std::string>{"/a", "/b"});
}

TEST_CASE("config: errors name the key") {
    CHECK_THROWS_WITH(parse_config(R"({"endpoints": ["nope"]})"), Catch::Contains("endpoints"));
    CHECK_THROWS_WITH(parse_config(R"({"body_size_limit_mb": 0})"), Catch::Contains("body_size_limit_mb"));
    CHECK_THROWS_WITH(parse_config(R"({"generate_metrics": 3})"), Catch::Contains("generate_metrics"));
    CHECK_THROWS_WITH(parse_config(R"({"tags": [1]})"), Catch::Contains("tags"));
    CHECK_THROWS_WITH(parse_config(R"({"go": [{"url": "ftp://x"}]})"), Catch::Contains("scheme"));
    CHECK_THROWS_WITH(parse_config(R"({"go": [{"url": "http://x", "interval": "soon"}]})"), Catch::Contains("soon"));
    CHECK_THROWS_WITH(parse_config(R"({"pyroscope": [{"service": "x"}]})"), Catch::Contains("pyroscope[0].url"));
    CHECK_THROWS(parse_config("[1]"));
}

TEST_CASE("durations") {
    CHECK(parse_duration("10s") == 10s);
    CHECK(parse_duration("1m30s") == 90s);
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("2h") == 7200s);
    CHECK(parse_duration("15") == 15s);
    CHECK_THROWS(parse_duration("10 s"));
    CHECK_THROWS(parse_duration("s"));
}

TEST_CASE("tags_profiler splitting") {
    auto t = split_tag_list("a:1,b:x:y, c ,d:");
    REQUIRE(t.size() == 4);
    CHECK(t[0] == std::pair<std::string, std::string>{"a", "1"});
    CHECK(t[1] == std::pair<std::string, std::string>{"b", "x:y"});
    CHECK(t[2] == std::pair<std::string, std::string>{"c", ""});
    CHECK(t[3] == std::pair<std::string, std::string>{"d", ""});
    CHECK(split_tag_list("").empty());
}

TEST_CASE("upload metadata: the recorded dd-trace-js event") {
    auto body = fixture("ddtrace-nodejs/profiling-input.body.multipart");
    auto parsed = parse_ddtrace_upload(body, "1a8de2bbf9e4d199");
    CHECK(parsed.has_event);
    CHECK_FALSE(parsed.form_style);
    REQUIRE(parsed.files.size() == 3);
    CHECK(parsed.files[0].name == "space.pprof");
    CHECK(parsed.metadata.at("language") == "javascript");
    CHECK(parsed.metadata.at("family") == "node");
    CHECK(parsed.metadata.at("version") == "1.0.0"); // the app's tag wins over the event's "4"
    CHECK(parsed.metadata.at("attachments") == "space.pprof,events.pprof,wall.pprof");
    CHECK(parsed.start_ns == 1795316581860000000LL);
    CHECK(parsed.end_ns == 1795316586893000000LL);

    auto u = to_profile_upload(parsed, {}, 0);
    CHECK(u.tags.at("language") == "nodejs");
    CHECK(u.tags.at("snapshot") == "periodic");
    CHECK(u.tags.count("format") == 0);
    CHECK(u.format == "pprof");
    CHECK(u.event_fields.at("runtime_id") == "afbe3baf-443c-41c8-91e7-5b6cd9f28c1d");
    CHECK(u.event_fields.at("pid") == "21807");
    CHECK(u.event_fields.at("library_ver") == "5.132.0");
    CHECK(u.event_json == fixture("ddtrace-nodejs/part-event.json"));
}

namespace {
// read_event's members beside the whole document's: the same text for every member it
// keeps; what it leaves out is nested JSON under a key the upload does not read.
void check_event_reading(const std::string &raw) {
    INFO(raw);
    std::string doc_error, sax_error;
    EventMembers doc, sax;
    try {
        doc = read_event_document(raw);
    } catch (const trib::profiling::DecodeError &e) {
        doc_error = e.what();
    }
    try {
        sax = read_event(raw);
    } catch (const trib::profiling::DecodeError &e) {
        sax_error = e.what();
    }
    CHECK(sax_error == doc_error);
    if (!doc_error.empty()) return;
    CHECK(sax.tags_profiler == doc.tags_profiler);
    for (auto &[k, v] : sax.members) CHECK(doc.members.at(k) == v);
    for (auto &[k, v] : doc.members) {
        if (sax.members.count(k)) continue;
        CHECK_FALSE(is_read_metadata_key(k));
        CHECK((v.find('{') != std::string::npos || v.find('[') != std::string::npos));
    }
}
} // namespace

TEST_CASE("upload metadata: the event read in one pass matches the document") {
    check_event_reading(fixture("ddtrace-nodejs/part-event.json"));
    for (const char *raw :
         {R"({"a":1,"b":-2,"c":18446744073709551615,"d":1.50,"e":1e300,"f":true,"g":false,"h":null,"i":"x"})",
          R"({"list":["a",1,2.5,null,true],"empty":[],"nested":[1,[2,3]],"obj":{"k":[1,{"z":2}]}})",
          R"({"host":{"name":"h1"},"service":"s"})",        // a read key holding an object
          R"({"env":["prod",{"x":1}]})",                    // a read key holding nested JSON in an array
          R"({"service":"first","service":"second"})",      // the last of a key wins
          R"({"info":"scalar","info":{"later":"object"}})", // a nested member replaces a scalar one
          R"({"tags_profiler":"service:a,env:b","x":"y"})",
          R"({"tags_profiler":5})",
          R"({"tags_profiler":["service:a"]})",
          R"({"tags_profiler":{"a":1}})",
          R"({"tags_profiler":1,"tags_profiler":"service:late"})",
          R"({"tags_profiler":"service:early","tags_profiler":null})",
          R"({"u":"\u00e9\ud83d\ude00 \"q\" \\"})",
          R"([1,2,3])",
          R"("just a string")",
          R"(42)",
          R"({"a":1)",
          R"({"a":1} trailing)",
          R"({"a":"\xff"})",
          "{\"bad utf8\":\"\xff\"}",
          R"({})",
          R"({"":"empty key"})",
          "\xEF\xBB\xBF{\"bom\":1}",
          "\xEF\xBB{\"half bom\":1}",
          R"({"n":1e400})",
          R"({"n":-1e-400})",
          R"({"n":123456789012345678901234567890})",
          R"({"n":-9223372036854775809})",
          R"({"n":-0,"m":0.0})",
          R"({"n":01})",
          R"({"n":1.})",
          R"({"n":.5})",
          R"({"n":1e})",
          R"({"n":-})",
          R"({"n":+1})",
          R"({"s":"\ud800"})",
          R"({"s":"\udc00"})",
          R"({"s":"\ud83d\u0041"})",
          R"({"s":"\x"})",
          "{\"s\":\"tab\there\"}",
          "{\"s\":\"\xC0\x80\"}",
          "{\"s\":\"\xED\xA0\x80\"}",
          "{\"s\":\"\xF4\x90\x80\x80\"}",
          "{\"s\":\"\xE2\x82\xAC\xF0\x9F\x98\x80\"}",
          R"({"k\u0065y":"escaped key","service":"\/\b\f\n\r\t"})",
          R"({"a":[1,]})",
          R"({"a":{,}})",
          R"({"a":[[],{}],"b":{"c":[{"d":[]}]}})",
          R"({"a":1,})",
          R"({"a" 1})",
          R"({"a":tru})",
          R"({"a":nul})",
          " \t\r\n{ \"a\" : [ 1 , \"x\" ] } \n",
          R"({"tags_profiler":"a:b","tags_profiler":["x"]})",
          R"({"a":[1,2.5e3,-7,true,null,"s"],"b":[1,[2]],"c":{"x":1e400}})"})
        check_event_reading(raw);
    // Nested numbers are only checked: a 400-digit one overflows a double, a 300-digit one does not.
    for (size_t digits : {300, 309, 400}) {
        std::string big(digits, '7');
        check_event_reading(R"({"info":{"n":)" + big + R"(},"top":)" + big + "}");
        check_event_reading(R"({"info":{"n":-)" + big + ".5}}");
    }
    for (const char *raw : {R"({"a":["","x"],"b":[null,"",1],"c":["x","",null,"y"],"d":[""]})"})
        check_event_reading(raw);
    // nlohmann ends the input at a NUL where a token may start.
    check_event_reading(std::string("{\"a\":1} \0 junk", 14));
    check_event_reading(std::string("{\"a\":1\0}", 9));
    check_event_reading(std::string("12345678901234567890123\0\0", 25));
}

TEST_CASE("upload metadata: a read key holding JSON keeps its text") {
    trib::profiling::MultipartWriter w("b");
    w.add_file("event", "event.json", "application/json",
               R"({"host":{"name":"h1"},"info":{"big":[1,2,3]},"tags_profiler":"service:x,language:go"})");
    w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", "x");
    auto parsed = parse_ddtrace_upload(w.finish(), "b");
    CHECK(parsed.metadata.at("host") == R"({"name":"h1"})");
    CHECK(parsed.metadata.at("service") == "x");
}

TEST_CASE("upload metadata: the event written for changed tags") {
    trib::profiling::MultipartWriter w("b");
    w.add_file("event", "event.json", "application/json",
               R"({"start":"2026-01-01T00:00:00.5Z","end":"2026-01-01T00:01:00Z","family":"go",)"
               R"("tags_profiler":"service:caf\u00e9,quote:a\"b"})");
    w.add_file("cpu.pprof", "cpu.pprof", "application/octet-stream", "x");
    w.add_file("delta-heap.pprof", "delta-heap.pprof", "application/octet-stream", "y");
    TagPolicy policy{{{"env", "prod"}}, {}};
    auto u = to_profile_upload(parse_ddtrace_upload(w.finish(), "b"), policy, 0);
    auto ev = nlohmann::ordered_json::parse(u.event_json);
    nlohmann::ordered_json want = {{"format", "pprof"},
                                   {"profiler", "ddtrace"},
                                   {"attachments", {"cpu.pprof", "delta-heap.pprof"}},
                                   {"language", "golang"},
                                   {"tags_profiler", "env:prod,language:golang,quote:a\"b,service:caf\u00e9"},
                                   {"start", "2026-01-01T00:00:00.5Z"},
                                   {"end", "2026-01-01T00:01:00Z"}};
    CHECK(ev == want);
    CHECK(u.event_json == want.dump()); // the very text nlohmann writes
}

TEST_CASE("upload metadata: event without version tag keeps no version=4") {
    trib::profiling::MultipartWriter w("b");
    w.add_file("event", "event.json", "application/json",
               R"({"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","family":"python","version":"4",)"
               R"("tags_profiler":"service:py,runtime:CPython"})");
    w.add_file("auto.pprof", "auto.pprof", "application/octet-stream", "x");
    auto body = w.finish();
    auto u = to_profile_upload(parse_ddtrace_upload(body, "b"), {}, 0);
    CHECK(u.tags.at("language") == "python");
    CHECK(u.tags.count("version") == 0);
}

TEST_CASE("upload metadata: no times → receive time") {
    trib::profiling::MultipartWriter w("b");
    w.add_file("event", "event.json", "application/json", R"({"tags_profiler":"service:x,language:java"})");
    w.add_file("main.jfr", "main.jfr", "application/octet-stream", "x");
    auto body = w.finish();
    auto u = to_profile_upload(parse_ddtrace_upload(body, "b"), {}, 123456789);
    CHECK(u.start_ns == 123456789);
    CHECK(u.end_ns == 123456789);
    CHECK(u.format == "jfr");
    CHECK(u.tags.at("language") == "java");
}

TEST_CASE("delta profiles: a profile minus itself keeps only in-use values") {
    auto heap = trib::profiling::parse_pprof(fixture("go-pprof/heap.pb.gz"));
    auto d = delta_profile(heap, heap, go_profile_type("heap").delta_types);
    using trib::profiling::find_sample_type;
    using trib::profiling::sum_sample_values;
    CHECK(sum_sample_values(d, find_sample_type(d, "alloc_objects")) == 0);
    CHECK(sum_sample_values(d, find_sample_type(d, "alloc_space")) == 0);
    CHECK(sum_sample_values(d, find_sample_type(d, "inuse_objects")) == 8122);
    CHECK(sum_sample_values(d, find_sample_type(d, "inuse_space")) == 24539857);
    CHECK(d.sample_size() < heap.sample_size()); // all-zero samples dropped
}

TEST_CASE("delta profiles: growth between two pulls") {
    auto cur = trib::profiling::parse_pprof(fixture("go-pprof/mutex.pb.gz"));
    auto prev = cur;
    // The earlier pull saw a third of each count (integer division per sample).
    int64_t expected_contentions = 0, expected_delay = 0;
    for (auto &s : *prev.mutable_sample()) {
        s.set_value(0, s.value(0) / 3);
        s.set_value(1, s.value(1) / 3);
    }
    for (int i = 0; i < cur.sample_size(); ++i) {
        expected_contentions += cur.sample(i).value(0) - prev.sample(i).value(0);
        expected_delay += cur.sample(i).value(1) - prev.sample(i).value(1);
    }
    prev.set_time_nanos(cur.time_nanos() - 10'000'000'000LL);
    auto d = delta_profile(prev, cur, go_profile_type("mutex").delta_types);
    using trib::profiling::sum_sample_values;
    CHECK(sum_sample_values(d, 0) == expected_contentions);
    CHECK(sum_sample_values(d, 1) == expected_delay);
    CHECK(expected_delay > 0);
    CHECK(d.time_nanos() == prev.time_nanos());
    CHECK(d.duration_nanos() == 10'000'000'000LL);
}

TEST_CASE("Go profile types: paths and attachment names") {
    CHECK(go_profile_type("cpu").path == "/debug/pprof/profile?seconds=10");
    CHECK(go_profile_type("goroutine").file == "goroutines.pprof");
    CHECK(go_profile_type("heap").file == "delta-heap.pprof");
    CHECK(go_profile_type("block").delta_types == std::vector<std::string>{"contentions", "delay"});
    CHECK_THROWS(go_profile_type("disk"));
}
