#include <tributary/compression.hpp>
#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/language.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/profile_point.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <catch2/catch.hpp>
#include <trib_test/support.hpp>
#include <lz4frame.h>
#include <nlohmann/json.hpp>
#include <zstd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

using namespace trib::profiling;
using trib::test::fixture;
using trib::test::gzip_of;

namespace {
std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    // Half-compressible: runs of a few symbols.
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>("abcdefgh"[rng() % 8] + ((i / 1000) % 3));
    return s;
}

std::string zstd_of(const std::string &in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    REQUIRE(!ZSTD_isError(n));
    out.resize(n);
    return out;
}
std::string lz4_of(const std::string &in) {
    std::string out(LZ4F_compressFrameBound(in.size(), nullptr), '\0');
    size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr);
    REQUIRE(!LZ4F_isError(n));
    out.resize(n);
    return out;
}
} // namespace

TEST_CASE("codecs are recognised by their magic bytes") {
    CHECK(detect_codec(fixture("ddtrace-nodejs/part-wall.pprof.gz")) == Codec::gzip);
    CHECK(detect_codec(fixture("ddtrace-nodejs-zstd/part-wall.pprof.zst")) == Codec::zstd);
    CHECK(detect_codec(lz4_of("hello")) == Codec::lz4);
    CHECK(detect_codec("\x0a\x04") == Codec::none);
    CHECK(detect_codec("") == Codec::none);
}

TEST_CASE("decompress round-trips gzip, zstd and LZ4 and copies plain data") {
    std::string data = random_bytes(300000, 7);
    CHECK(decompress(gzip_of(data)) == data);
    CHECK(decompress(zstd_of(data)) == data);
    CHECK(decompress(lz4_of(data)) == data);
    CHECK(decompress(data) == data);
    // Two gzip members are one stream.
    CHECK(decompress(gzip_of("abc") + gzip_of("def")) == "abcdef");
}

TEST_CASE("decompress refuses corrupt, truncated and oversized input") {
    std::string data = random_bytes(200000, 3);
    for (auto compressed : {gzip_of(data), zstd_of(data), lz4_of(data)}) {
        INFO(codec_name(detect_codec(compressed)));
        CHECK_THROWS_AS(decompress(compressed.substr(0, compressed.size() / 2)), DecodeError);
        std::string corrupt = compressed;
        for (size_t i = 20; i < corrupt.size(); i += 7) corrupt[i] = char(corrupt[i] ^ 0x5a);
        CHECK_THROWS_AS(decompress(corrupt), DecodeError);
        CHECK_THROWS_WITH(decompress(compressed, 1000), Catch::Contains("exceeds the limit"));
        CHECK(decompress(compressed, data.size()) == data); // exactly at the limit is fine
    }
    // A zip bomb: 64 MiB of zeros in a few KiB stops at the limit.
    std::string zeros(64u << 20, '\0');
    auto bomb = zstd_of(zeros);
    CHECK(bomb.size() < 10000);
    CHECK_THROWS_AS(decompress(bomb, 1u << 20), DecodeError);
}

TEST_CASE("gzip: one libdeflate call when the trailer's size is right; the streaming path otherwise") {
    namespace tc = trib::compression;
    std::string data = random_bytes(300000, 11) + std::string(200000, 'x');
    std::string gz = gzip_of(data);
    REQUIRE(tc::gzip_declared_size(gz) == data.size());
    std::string out(data.size(), '\0');
    CHECK(tc::gunzip_exact(gz, out.data(), out.size()));
    CHECK(out == data);
    CHECK_FALSE(tc::gunzip_exact(gz, out.data(), out.size() - 1)); // another size
    std::string two = gzip_of("abc") + gzip_of("def");
    std::string six(6, '\0');
    CHECK_FALSE(tc::gunzip_exact(two, six.data(), 6)); // several members: streamed
    CHECK(decompress(two) == "abcdef");
    // A trailer that lies about the size: both paths refuse it (zlib checks ISIZE too).
    std::string liar = gz;
    liar[liar.size() - 4] = char(liar[liar.size() - 4] ^ 1);
    CHECK_THROWS_AS(decompress(liar), DecodeError);
    // A bomb whose trailer is within the limit (ISIZE is mod 2^32) still stops at the limit.
    std::string zeros((4u << 20) + 1000, '\0');
    std::string bomb = gzip_of(zeros);
    for (int i = 1; i <= 4; ++i) bomb[bomb.size() - i] = 0; // declares 0 bytes
    CHECK(tc::gzip_declared_size(bomb) == 0);
    CHECK_THROWS_WITH(decompress(bomb, 1u << 20), Catch::Contains("exceeds the limit"));
    CHECK(tc::gzip_declared_size("\x1f\x8b") == 0);
}

TEST_CASE("multipart: the recorded dd-trace-js body splits into its parts") {
    auto body = fixture("ddtrace-nodejs/profiling-input.body.multipart");
    std::string boundary = multipart_boundary("multipart/form-data; boundary=1a8de2bbf9e4d199");
    REQUIRE(boundary == "1a8de2bbf9e4d199");
    auto parts = parse_multipart(body, boundary);
    REQUIRE(parts.size() == 4);
    CHECK(parts[0].name == "event");
    CHECK(parts[0].filename == "event.json");
    CHECK(parts[0].content_type == "application/json");
    CHECK(parts[0].data == fixture("ddtrace-nodejs/part-event.json"));
    CHECK(parts[1].name == "space.pprof");
    CHECK(parts[1].data == fixture("ddtrace-nodejs/part-space.pprof.gz"));
    CHECK(parts[2].data == fixture("ddtrace-nodejs/part-events.pprof.gz"));
    CHECK(parts[3].name == "wall.pprof");
    CHECK(parts[3].data == fixture("ddtrace-nodejs/part-wall.pprof.gz"));
    // Views, not copies.
    CHECK(parts[3].data.data() >= body.data());
    CHECK(parts[3].data.data() < body.data() + body.size());
}

TEST_CASE("multipart: boundary parameter forms") {
    CHECK(multipart_boundary("multipart/form-data; boundary=\"a b;c\"") == "a b;c");
    CHECK(multipart_boundary("Multipart/Form-Data;boundary=xyz; charset=utf-8") == "xyz");
    CHECK(multipart_boundary("application/octet-stream").empty());
    CHECK(multipart_boundary("multipart/form-data").empty());
    CHECK(multipart_boundary("").empty());
}

TEST_CASE("multipart: writer output parses back, with a preamble and binary data") {
    std::string bin;
    for (int i = 0; i < 256; ++i) bin.push_back(char(i));
    bin += "\r\n--not-the-boundary\r\n";
    MultipartWriter w("XyZ123");
    w.add_field("tags[]", "service:demo");
    w.add_file("data[cpu.pprof]", "pprof-data", "application/octet-stream", bin);
    w.add_file("empty", "empty.bin", "", "");
    std::string body = "preamble text\r\n" + w.finish();
    auto parts = parse_multipart(body, "XyZ123");
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].name == "tags[]");
    CHECK(parts[0].filename.empty());
    CHECK(parts[0].data == "service:demo");
    CHECK(parts[1].name == "data[cpu.pprof]");
    CHECK(parts[1].filename == "pprof-data");
    CHECK(parts[1].data == bin);
    CHECK(parts[2].data.empty());
}

TEST_CASE("multipart: malformed bodies give DecodeError") {
    CHECK_THROWS_WITH(parse_multipart("no boundary here", "b"), Catch::Contains("opening boundary"));
    CHECK_THROWS_WITH(parse_multipart("--b\r\nContent-Disposition: form-data; name=x\r\n\r\nabc", "b"),
                      Catch::Contains("closing boundary"));
    CHECK_THROWS_WITH(parse_multipart("--b\r\nContent-Disposition: form-data", "b"), Catch::Contains("not terminated"));
    CHECK_THROWS_WITH(parse_multipart("--bXX", "b"), Catch::Contains("malformed boundary"));
    CHECK_THROWS_AS(parse_multipart("--b\r\nbad header\r\n\r\nx\r\n--b--", "b"), DecodeError);
    CHECK(parse_multipart("--b--\r\n", "b").empty());
}

// Expected sums come from `go tool pprof -raw <fixture>` (Go 1.19), added up per column;
// the goroutine count from `protoc --decode_raw` (10 samples: 50+4+4+7×1), which matches
// "goroutine profile: total 65" in goroutine.debug1.txt (pprof -raw folds two samples).
TEST_CASE("pprof: sample sums match go tool pprof on the fixtures") {
    auto heap = parse_pprof(fixture("go-pprof/heap.pb.gz"));
    CHECK(sum_sample_values(heap, find_sample_type(heap, "alloc_objects")) == 153907);
    CHECK(sum_sample_values(heap, find_sample_type(heap, "alloc_space")) == 38716926);
    CHECK(sum_sample_values(heap, find_sample_type(heap, "inuse_objects")) == 8122);
    CHECK(sum_sample_values(heap, find_sample_type(heap, "inuse_space")) == 24539857);
    auto cpu = parse_pprof(fixture("go-pprof/cpu.pb.gz"));
    CHECK(sum_sample_values(cpu, find_sample_type(cpu, "cpu")) == 3280000000LL);
    CHECK(sample_type_unit(cpu, find_sample_type(cpu, "cpu")) == "nanoseconds");
    auto block = parse_pprof(fixture("go-pprof/block.pb.gz"));
    CHECK(sum_sample_values(block, find_sample_type(block, "delay")) == 42492976907LL);
    auto mutex = parse_pprof(fixture("go-pprof/mutex.pb.gz"));
    CHECK(sum_sample_values(mutex, find_sample_type(mutex, "delay")) == 105451669);
    auto gr = parse_pprof(fixture("go-pprof/goroutine.pb.gz"));
    CHECK(sum_sample_values(gr, find_sample_type(gr, "goroutine")) == 65);
    auto wall = parse_pprof(fixture("ddtrace-nodejs-zstd/part-wall.pprof.zst"));
    CHECK(find_sample_type(wall, "wall") == 1);
    CHECK(find_sample_type(wall, "nope") == -1);
    CHECK(sum_sample_values(wall, -1) == 0);
    CHECK_THROWS_AS(parse_pprof("\xff\xff\xff garbage"), DecodeError);
}

TEST_CASE("language detection is deterministic and never calls javascript java") {
    for (int i = 0; i < 50; ++i) CHECK(detect_language({"javascript"}) == "nodejs");
    CHECK(detect_language({"", "nodejs", "node"}) == "nodejs");
    CHECK(detect_language({"jvm"}) == "java");
    CHECK(detect_language({"Kotlin"}) == "java");
    CHECK(detect_language({"scala"}) == "java");
    CHECK(detect_language({"java"}) == "java");
    CHECK(detect_language({"CPython"}) == "python");
    CHECK(detect_language({"python"}) == "python");
    CHECK(detect_language({"go"}) == "golang");
    CHECK(detect_language({"golang"}) == "golang");
    CHECK(detect_language({"mongo"}) == "unknown");
    CHECK(detect_language({"dotnet"}) == "dotnet");
    CHECK(detect_language({".NET"}) == "dotnet");
    CHECK(detect_language({"c#"}) == "dotnet");
    CHECK(detect_language({"php"}) == "php");
    CHECK(detect_language({"ruby"}) == "ruby");
    CHECK(detect_language({"rust"}) == "rust");
    CHECK(detect_language({"pyroscope-rs"}) == "rust");
    CHECK(detect_language({"cpp"}) == "cpp");
    CHECK(detect_language({"C++"}) == "cpp");
    CHECK(detect_language({"cobol", "go"}) == "golang");
    CHECK(detect_language({}) == "unknown");
    CHECK(language_from_spy("gospy") == "golang");
    CHECK(language_from_spy("javaspy") == "java");
    CHECK(language_from_spy("nodespy") == "nodejs");
    CHECK(language_from_spy("pyspy") == "python");
    CHECK(language_from_spy("rbspy") == "ruby");
    CHECK(language_from_spy("dotnetspy") == "dotnet");
    CHECK(language_from_spy("phpspy") == "php");
    CHECK(language_from_spy("ebpfspy") == "ebpf");
    CHECK(language_from_spy("pyroscope-rs") == "rust");
    CHECK(language_from_spy("unknown") == "unknown");
}

TEST_CASE("RFC3339 times parse and format") {
    CHECK(parse_rfc3339_ns("2026-11-22T03:03:01.860Z") == 1795316581860000000LL);
    CHECK(parse_rfc3339_ns("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_rfc3339_ns("1970-01-01T08:00:01+08:00") == 1000000000LL);
    CHECK(parse_rfc3339_ns("2026-11-22T03:03:01.123456789Z") % 1000000000LL == 123456789);
    CHECK(format_rfc3339_nano(1795316581860000000LL) == "2026-11-22T03:03:01.86Z");
    CHECK(format_rfc3339_nano(0) == "1970-01-01T00:00:00Z");
    CHECK(format_rfc3339_nano(-1) == "1969-12-31T23:59:59.999999999Z");
    CHECK(format_rfc3339_nano(951782400000000001LL) == "2000-02-29T00:00:00.000000001Z");
    // The C library's calendar, for times across four centuries, round-tripped through the parser.
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        int64_t secs = int64_t(rng() % 12000000000ULL) - 3000000000LL; // 1874 .. 2255
        int64_t ns = secs * 1000000000LL + int64_t(rng() % 1000000000ULL);
        time_t t = time_t(ns >= 0 ? ns / 1000000000LL : (ns - 999999999LL) / 1000000000LL);
        struct tm tm {};
        gmtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        std::string text = format_rfc3339_nano(ns);
        INFO(ns);
        REQUIRE(text.substr(0, 19) == buf);
        if (ns >= 0) CHECK(parse_rfc3339_ns(text) == ns);
    }
    for (auto bad :
         {"", "2026-11-22", "2026-11-22T03:03:01", "2026-13-22T03:03:01Z", "yesterday", "2026-11-22T03:03:01.Z",
          "2026-11-22T03:03:01Zjunk", "9999-01-01T00:00:00Z", "1969-12-31T23:59:59Z"})
        CHECK_THROWS_AS(parse_rfc3339_ns(bad), DecodeError);
}

TEST_CASE("profile point: schema, attachments share the bytes, event.json") {
    ProfileUpload u;
    u.tags = {{"service", "svc"}, {"env", "prod"}, {"language", "golang"}};
    u.event_fields = {{"runtime_id", "r-1"}, {"pid", "42"}, {"library_ver", "1.2.3"}};
    u.start_ns = 1795316581860000000LL;
    u.end_ns = u.start_ns + 60'000'000'000LL;
    u.format = "pprof";
    u.profiler = "ddtrace";
    auto cpu = std::make_shared<const std::string>("cpu-bytes");
    u.files.push_back({"cpu.pprof", "application/octet-stream", cpu});
    u.files.push_back({"metrics.json", "application/json", std::make_shared<const std::string>("[]")});
    auto id = new_profile_id();
    auto p = build_profile_point(u, id);
    CHECK(p.measurement == "profile");
    CHECK(p.category == "profiling");
    CHECK(p.time_ns == u.start_ns);
    CHECK(*p.find_tag("service") == "svc");
    CHECK(p.find_field("profile_id")->s == id);
    CHECK(p.find_field("start")->i == u.start_ns / 1000);
    CHECK(p.find_field("end")->i == u.end_ns / 1000);
    CHECK(p.find_field("duration")->i == 60'000'000);
    CHECK(p.find_field("__file_size")->i == 11);
    CHECK(p.find_field("pid")->s == "42");
    CHECK(p.find_field("library_ver")->s == "1.2.3");
    CHECK(p.find_field("format")->s == "pprof");
    REQUIRE(p.attachments.size() == 3);
    CHECK(p.attachments[0].data.get() == cpu.get());
    CHECK(p.attachments[2].name == "event.json");
    auto ev = nlohmann::json::parse(*p.attachments[2].data);
    CHECK(ev["format"] == "pprof");
    CHECK(ev["language"] == "golang");
    CHECK(ev["attachments"] == nlohmann::json::array({"cpu.pprof", "metrics.json"}));
    CHECK(ev["start"] == "2026-11-22T03:03:01.86Z");
    CHECK(ev["tags_profiler"] == "env:prod,language:golang,service:svc");

    ProfileUpload bare;
    bare.files.push_back({"x", "", std::make_shared<const std::string>("")});
    auto q = build_profile_point(bare, new_profile_id());
    CHECK(*q.find_tag("service") == "unnamed-service");
}

TEST_CASE("profile ids are UUID v4 and unique") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto id = new_profile_id();
        REQUIRE(id.size() == 36);
        CHECK(id[14] == '4');
        CHECK(std::string("89ab").find(id[19]) != std::string::npos);
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}

namespace {
ProfileFile file(const std::string &name, const std::string &data) {
    return ProfileFile{name, "application/octet-stream", std::make_shared<const std::string>(data)};
}
double metric(const std::vector<std::pair<std::string, double>> &m, const std::string &k) {
    for (auto &kv : m)
        if (kv.first == k) return kv.second;
    FAIL("metric " << k << " missing");
    return 0;
}
bool has_metric(const std::vector<std::pair<std::string, double>> &m, const std::string &k) {
    for (auto &kv : m)
        if (kv.first == k) return true;
    return false;
}
} // namespace

// The expected values are the go tool pprof sums above, divided by hand.
TEST_CASE("metrics: Go pprof parts and metrics.json") {
    ProfileUpload u;
    u.tags = {{"language", "golang"}, {"service", "go-svc"}, {"host", "h1"}};
    u.start_ns = 1'000'000'000'000LL;
    u.end_ns = u.start_ns + 10'000'000'000LL; // D = 10 s
    u.files = {file("cpu.pprof", fixture("go-pprof/cpu.pb.gz")),
               file("delta-heap.pprof", fixture("go-pprof/heap.pb.gz")),
               file("delta-mutex.pprof", fixture("go-pprof/mutex.pb.gz")),
               file("delta-block.pprof", fixture("go-pprof/block.pb.gz")),
               file("goroutines.pprof", fixture("go-pprof/goroutine.pb.gz"))};
    auto m = compute_profile_metrics(u);
    CHECK(metric(m, "prof_go_cpu_cores") == Approx(3280000000.0 / 10e9));
    CHECK(metric(m, "prof_go_lifetime_heap_objects") == 8122);
    CHECK(metric(m, "prof_go_lifetime_heap_bytes") == 24539857);
    CHECK(metric(m, "prof_go_mutex_delay_time") == 105451669);
    CHECK(metric(m, "prof_go_blocked_time") == 42492976907.0);
    CHECK(metric(m, "prof_go_num_goroutine") == 65); // DataKit reads "goroutines" and gets 0

    // metrics.json values win over the pprof-derived ones; gc overhead stays a fraction.
    u.files.push_back(file("metrics.json",
                           R"([["go_num_goroutine",12],["go_gc_pause_time",0.0025],["go_alloc_bytes_per_sec",1000]])"));
    std::rotate(u.files.begin(), u.files.end() - 1, u.files.end());
    m = compute_profile_metrics(u);
    CHECK(metric(m, "prof_go_num_goroutine") == 12);
    CHECK(metric(m, "prof_go_gc_pause_time") == 0.0025);
    CHECK(metric(m, "prof_go_cpu_cores_gc_overhead") == 0.0025);
    CHECK(metric(m, "prof_go_alloc_bytes_total") == Approx(10000));

    auto point = generate_profile_metrics(u);
    REQUIRE(point);
    CHECK(point->measurement == "profiling_metrics");
    CHECK(point->category == "metric");
    CHECK(point->time_ns == u.end_ns);
    CHECK(*point->find_tag("service") == "go-svc");
    CHECK(*point->find_tag("host") == "h1");
    CHECK(*point->find_tag("language") == "golang");
    CHECK(point->find_field("prof_go_num_goroutine")->f == 12);
}

TEST_CASE("metrics: Node wall and space pprofs (gzip and zstd give the same values)") {
    for (auto dir : {"ddtrace-nodejs", "ddtrace-nodejs-zstd"}) {
        std::string ext = std::string(dir) == "ddtrace-nodejs" ? ".gz" : ".zst";
        ProfileUpload u;
        u.tags = {{"language", "nodejs"}};
        u.start_ns = parse_rfc3339_ns("2026-11-22T03:03:01.860Z");
        u.end_ns = parse_rfc3339_ns("2026-11-22T03:03:06.893Z"); // D = 5.033 s
        u.files = {file("wall.pprof", fixture(std::string(dir) + "/part-wall.pprof" + ext)),
                   file("space.pprof", fixture(std::string(dir) + "/part-space.pprof" + ext))};
        auto m = compute_profile_metrics(u);
        if (std::string(dir) == "ddtrace-nodejs") {
            CHECK(metric(m, "prof_nodejs_cpu_cores") == Approx(4276422540.0 / 5.033e9));
            CHECK(metric(m, "prof_nodejs_wall_time") == 4161600000.0);
            CHECK(metric(m, "prof_nodejs_lifetime_heap_bytes") == 28156498);
            CHECK(metric(m, "prof_nodejs_lifetime_heap_objects") == 74606);
        } else {
            CHECK(metric(m, "prof_nodejs_cpu_cores") > 0);
            CHECK(metric(m, "prof_nodejs_lifetime_heap_bytes") > 0);
        }
    }
}

TEST_CASE("metrics: Python auto.pprof sample types and units") {
    // A small pprof written here with the sample types dd-trace-py uses.
    perftools::profiles::Profile p;
    p.add_string_table("");
    auto s = [&](const char *x) {
        p.add_string_table(x);
        return p.string_table_size() - 1;
    };
    const char *types[][2] = {{"cpu-time", "nanoseconds"},    {"wall-time", "nanoseconds"},
                              {"alloc-space", "bytes"},       {"alloc-samples", "count"},
                              {"exception-samples", "count"}, {"lock-acquire-wait", "microseconds"},
                              {"heap-space", "bytes"}};
    for (auto &t : types) {
        auto *st = p.add_sample_type();
        st->set_type(s(t[0]));
        st->set_unit(s(t[1]));
    }
    for (int i = 1; i <= 2; ++i) {
        auto *sm = p.add_sample();
        for (int j = 0; j < 7; ++j) sm->add_value(int64_t(i) * 1000 * (j + 1));
    }
    std::string raw;
    p.SerializeToString(&raw);
    ProfileUpload u;
    u.tags = {{"language", "python"}};
    u.start_ns = 0;
    u.end_ns = 2'000'000'000; // D = 2 s
    u.files = {file("code-provenance.json", "{}"), file("auto.pprof", raw)};
    auto m = compute_profile_metrics(u);
    CHECK(metric(m, "prof_python_cpu_cores") == Approx(3000.0 / 2e9));
    CHECK(metric(m, "prof_python_wall_time") == 6000);
    CHECK(metric(m, "prof_python_alloc_bytes_total") == 9000);
    CHECK(metric(m, "prof_python_alloc_bytes_per_sec") == 4500);
    CHECK(metric(m, "prof_python_allocs_per_sec") == 6000);
    CHECK(metric(m, "prof_python_exceptions_total") == 15000);
    CHECK(metric(m, "prof_python_lock_acquisition_time") == 18000.0 * 1000); // µs → ns
    CHECK(metric(m, "prof_python_lifetime_heap_bytes") == 21000);
    CHECK_FALSE(has_metric(m, "prof_python_lock_hold_time"));
}

TEST_CASE("metrics: unsupported language gives no point, corrupt pprof throws") {
    ProfileUpload u;
    u.tags = {{"language", "ruby"}};
    u.files = {file("x.pprof", fixture("go-pprof/cpu.pb.gz"))};
    CHECK_FALSE(generate_profile_metrics(u));
    u.tags["language"] = "golang";
    u.files = {file("cpu.pprof", "\x1f\x8b garbage")};
    CHECK_THROWS_AS(generate_profile_metrics(u), DecodeError);
}

// ---------------------------------------------------------------- client input bounds (issue 11)

TEST_CASE("JSON depth: the limit counts brackets outside strings only") {
    CHECK_NOTHROW(check_json_depth("{\"x\":" + std::string(63, '[') + std::string(63, ']') + "}", "event"));
    CHECK_THROWS_WITH(check_json_depth("{\"x\":" + std::string(64, '[') + std::string(64, ']') + "}", "event"),
                      Catch::Contains("event nests deeper than 64 levels"));
    // Brackets inside strings (with escaped quotes) are text, not nesting.
    CHECK_NOTHROW(
        check_json_depth("{\"x\":\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"}", "event"));
    // Unbalanced closers do not make room for deeper nesting.
    CHECK_THROWS_AS(check_json_depth(std::string(100, ']') + std::string(65, '['), "event"), DecodeError);
}

TEST_CASE("UTF-8: valid text is kept, every invalid sequence becomes U+FFFD") {
    CHECK(to_valid_utf8("plain ascii") == "plain ascii");
    CHECK(to_valid_utf8("\xC3\xA9t\xC3\xA9 \xF0\x9F\x94\xA5") == "\xC3\xA9t\xC3\xA9 \xF0\x9F\x94\xA5");
    CHECK(to_valid_utf8("\xFF\xFE\xFD") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(to_valid_utf8("a\xC0\xAF"
                        "b") == "a\xEF\xBF\xBD\xEF\xBF\xBD"
                                "b");                                                               // overlong '/'
    CHECK(to_valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");                 // a surrogate
    CHECK(to_valid_utf8("\xF4\x90\x80\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // > U+10FFFF
    CHECK(to_valid_utf8("x\xE2\x82") == "x\xEF\xBF\xBD\xEF\xBF\xBD");                               // truncated
    CHECK(is_valid_utf8(to_valid_utf8(std::string("\x80\xBF\xC2\xF0\x9F", 5))));
}

TEST_CASE("client times: the window and int64 overflow") {
    CHECK_NOTHROW(check_client_time(parse_rfc3339_ns("2026-11-22T03:03:01Z"), "start"));
    CHECK_THROWS_WITH(check_client_time(parse_rfc3339_ns("1999-12-31T23:59:59Z"), "start"),
                      Catch::Contains("start is outside the accepted window"));
    CHECK_THROWS_AS(check_client_time(parse_rfc3339_ns("2200-01-01T00:00:00Z"), "end"), DecodeError);
    CHECK(pyroscope_time_to_ns("1795316000") == 1795316000000000000LL);
    CHECK(pyroscope_time_to_ns("1795316000000") == 1795316000000000000LL);
    CHECK_THROWS_WITH(pyroscope_time_to_ns("99999999999"), Catch::Contains("out of range"));
    CHECK_THROWS_WITH(pyroscope_time_to_ns("9999999999999999999"), Catch::Contains("out of range"));
}

TEST_CASE("attachment names: repeats and the event's own name get a suffix") {
    std::vector<ProfileFile> files{{"wall.pprof", "", nullptr},
                                   {"wall.pprof", "", nullptr},
                                   {"event.json", "", nullptr},
                                   {"wall-2.pprof", "", nullptr},
                                   {"\xFF"
                                    "x",
                                    "", nullptr},
                                   {"noext", "", nullptr},
                                   {"noext", "", nullptr}};
    CHECK(make_attachment_names_unique(files));
    std::vector<std::string> names;
    for (auto &f : files) names.push_back(f.name);
    CHECK(names == std::vector<std::string>{"wall.pprof", "wall-2.pprof", "event-2.json", "wall-2-2.pprof",
                                            "\xEF\xBF\xBDx", "noext", "noext-2"});
    std::vector<ProfileFile> fine{{"a.pprof", "", nullptr}, {"b.pprof", "", nullptr}};
    CHECK_FALSE(make_attachment_names_unique(fine));
}

TEST_CASE("Point::tag stays linear with many tags and keeps replace semantics") {
    trib::Point p("m", "metric", 1);
    auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 200000; ++i) p.tag("k" + std::to_string(i), "v");
    for (int i = 0; i < 200000; i += 1000) p.tag("k" + std::to_string(i), "replaced");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5)); // quadratic took minutes
    CHECK(p.tags.size() == 200000);
    REQUIRE(p.find_tag("k5000"));
    CHECK(*p.find_tag("k5000") == "replaced");
    CHECK(*p.find_tag("k5001") == "v");
    CHECK(p.find_tag("absent") == nullptr);
    // Edited directly, the index is rebuilt on the next tag().
    p.tags.emplace_back("direct", "1");
    p.tag("direct", "2");
    CHECK(p.tags.size() == 200001);
    CHECK(*p.find_tag("direct") == "2");
}

TEST_CASE("folded: the streamed pprof equals one built message by message") {
    std::string text = "main;work;spin 30\nmain;idle 10\nmain;work;spin 2\n;lead;;trail; 4\ncpu;samples 1\n";
    auto bytes = folded_to_pprof(text, false, "", 100, 1795316000000000000, 1795316010000000000, 1u << 20);
    perftools::profiles::Profile p;
    REQUIRE(p.ParseFromString(bytes));
    CHECK(p.sample_size() == 4); // equal stacks summed
    CHECK(sum_sample_values(p, 0) == 47);
    CHECK(sum_sample_values(p, 1) == 47 * 10'000'000LL);
    CHECK(p.SerializeAsString() == bytes); // canonical field order and encoding
    // A frame named like a sample type shares its string; empty frames are <unknown>.
    std::set<std::string> names;
    for (auto &f : p.function()) names.insert(p.string_table(int(f.name())));
    CHECK(names.count("<unknown>") == 1);
    CHECK(names.count("cpu") == 1);
    CHECK(p.string_table_size() == int(p.function_size()) + 5 - 2); // "", 4 type strings, minus cpu and samples
    // The size bound.
    CHECK_THROWS_AS(folded_to_pprof(text, false, "", 100, 0, 0, 64), TooLargeError);
    CHECK_THROWS_WITH(folded_to_pprof("a 1\nb x\n", false, "", 100, 0, 0, 1024), Catch::Contains("folded line 2"));
}

namespace {
// A host table with only the ABI 1.2 budget, as plugin.h describes it: INVALID_ARGUMENT
// for more than the whole budget, BACKPRESSURE when what is left does not suffice.
std::atomic<uint64_t> g_reserved{0};
constexpr uint64_t kBudget = 12u << 20;
trib_status budget_reserve(trib_host_ctx *, uint64_t bytes) {
    if (bytes > kBudget) return TRIB_INVALID_ARGUMENT;
    uint64_t cur = g_reserved.load();
    do {
        if (cur + bytes > kBudget) return TRIB_BACKPRESSURE;
    } while (!g_reserved.compare_exchange_weak(cur, cur + bytes));
    return TRIB_OK;
}
void budget_release(trib_host_ctx *, uint64_t bytes) { g_reserved -= bytes; }
} // namespace

TEST_CASE("inflate: over the limit is TooLargeError; the host budget is taken as the buffer grows") {
    std::string zeros(8u << 20, '\0');
    std::string z = zstd_of(zeros);
    CHECK_THROWS_AS(decompress(z, 1u << 20), TooLargeError);

    trib_host_api_t api{};
    api.struct_size = sizeof api;
    api.memory_reserve = budget_reserve;
    api.memory_release = budget_release;
    trib::Host host(&api, nullptr);
    // The status the budget refused an inflate with (OK when it was not refused).
    auto refusal = [&](const std::string &data, size_t limit) {
        try {
            (void)inflate(data, InflateLimit{limit, &host});
        } catch (const trib::StatusError &e) {
            return e.status;
        }
        return TRIB_OK;
    };
    {
        auto inflated = inflate(z, InflateLimit{16u << 20, &host});
        CHECK(inflated.data == zeros);
        CHECK(g_reserved.load() >= zeros.size());
        CHECK(g_reserved.load() == inflated.held.held());
        // What is left of the budget cannot hold a second one: retry later.
        CHECK(refusal(z, 16u << 20) == TRIB_BACKPRESSURE);
        CHECK(trib::refusal_response(TRIB_BACKPRESSURE, "busy").status == 429);
        CHECK(trib::refusal_response(TRIB_BACKPRESSURE, "busy").headers.size() == 1);
    }
    CHECK(g_reserved.load() == 0); // all given back
    // More than the whole budget: refused for good (413).
    std::string big = zstd_of(std::string(32u << 20, '\0'));
    CHECK(refusal(big, 64u << 20) == TRIB_INVALID_ARGUMENT);
    CHECK(trib::refusal_response(TRIB_INVALID_ARGUMENT, "too large").status == 413);
    CHECK(trib::refusal_response(TRIB_INVALID_ARGUMENT, "too large").headers.empty());
    CHECK(g_reserved.load() == 0);
    // A host table from before ABI 1.2 (shorter struct) allows everything.
    trib_host_api_t old_api{};
    old_api.struct_size = offsetof(trib_host_api_t, memory_reserve);
    old_api.memory_reserve = budget_reserve;
    old_api.memory_release = budget_release;
    trib::Host old_host(&old_api, nullptr);
    CHECK(inflate(big, InflateLimit{64u << 20, &old_host}).data.size() == 32u << 20);
    CHECK(g_reserved.load() == 0);
}

TEST_CASE("merge_profile_tags: overrides > sent > defaults > unnamed-service > global", "[profile_point][tags]") {
    const TagMap defaults{{"service", "conf-svc"}, {"env", "conf-env"}, {"version", ""}};
    const TagMap input_tags{{"team", "core"}, {"env", "prod"}};
    const TagMap job_tags{{"team", "pull-team"}};
    const TagMap global{{"host", "box1"}, {"service", "global-svc"}, {"team", "global-team"}, {"zone", "z1"}};

    SECTION("what the client sent beats defaults and global; overrides beat everything") {
        TagMap tags{{"service", "sent-svc"}, {"env", "staging"}, {"zone", ""}};
        CHECK(merge_profile_tags(tags, {.defaults = &defaults, .overrides = {&input_tags}, .global = &global}));
        CHECK(tags ==
              TagMap{{"service", "sent-svc"}, {"env", "prod"}, {"team", "core"}, {"host", "box1"}, {"zone", ""}});
    }
    SECTION("defaults fill missing or empty keys, never with an empty value; global never names the service") {
        TagMap tags{{"service", ""}};
        CHECK(merge_profile_tags(tags, {.defaults = &defaults, .global = &global}));
        CHECK(tags == TagMap{{"service", "conf-svc"},
                             {"env", "conf-env"},
                             {"host", "box1"},
                             {"team", "global-team"},
                             {"zone", "z1"}});
        TagMap bare;
        merge_profile_tags(bare, {.global = &global});
        CHECK(bare.at("service") == "unnamed-service");
    }
    SECTION("later overrides win (a Go pull job's tags over its input's); no change reported when equal") {
        TagMap tags{{"service", "s"}};
        CHECK(merge_profile_tags(tags, {.overrides = {&input_tags, &job_tags}}));
        CHECK(tags == TagMap{{"service", "s"}, {"team", "pull-team"}, {"env", "prod"}});
        CHECK_FALSE(merge_profile_tags(tags, {.overrides = {&job_tags}}));
    }
    SECTION("without the service fallback a missing service stays missing") {
        TagMap tags{{"env", "e"}};
        CHECK_FALSE(merge_profile_tags(tags, {.service_fallback = false}));
        CHECK(tags == TagMap{{"env", "e"}});
    }
}
