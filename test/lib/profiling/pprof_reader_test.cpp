// The one-pass pprof reader against libprotobuf's parse of the same bytes: the same
// summary (sample types, sums, times, labels) and the same metric values on every recorded
// pprof, the same accept/reject answer on damaged ones, and DecodeError (never a crash)
// for what it rejects.
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pprof_reader.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <google/protobuf/message.h> // SetLogHandler, through libprotobuf's common header

#include <catch2/catch.hpp>
#include <trib_test/support.hpp>

#include <filesystem>
#include <optional>
#include <random>

using namespace trib::profiling;
using trib::test::fixture;
using trib::test::gzip_of;

namespace {

const PprofReadOptions kLabels{.max_label_keys = 1024};
const PprofReadOptions kUnchecked{.check_unread = false};
const PprofReadOptions kUncheckedLabels{.max_label_keys = 1024, .check_unread = false};

// Every pprof among the recorded fixtures (compressed as recorded), by name.
std::vector<std::pair<std::string, std::string>> recorded_pprofs() {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto &entry : std::filesystem::recursive_directory_iterator(TRIB_FIXTURES_DIR)) {
        std::string name = entry.path().filename().string();
        if (name.find(".pprof") != std::string::npos || name.find(".pb.gz") != std::string::npos)
            out.emplace_back(entry.path().lexically_relative(TRIB_FIXTURES_DIR).string(),
                             trib::test::read_file(entry.path().string()));
        // The parts of recorded multipart uploads that are pprofs.
        if (name.size() > 10 && name.substr(name.size() - 10) == ".multipart") {
            std::string body = trib::test::read_file(entry.path().string());
            std::string boundary = body.substr(2, body.find("\r\n") - 2);
            for (auto &part : parse_multipart(body, boundary))
                if (part.filename.find("pprof") != std::string::npos || part.name == "profile")
                    out.emplace_back(entry.path().filename().string() + ":" + part.name, std::string(part.data));
        }
    }
    REQUIRE(out.size() >= 14);
    return out;
}

// pprofs this code writes itself: from folded text and from the recorded JFR (its labels).
std::vector<std::pair<std::string, std::string>> built_pprofs() {
    std::vector<std::pair<std::string, std::string>> out;
    out.emplace_back("folded", folded_to_pprof("main;a;b 3\nmain;a;c 4\nmain;d 1\n", false, "samples", 100,
                                               1'000'000'000, 11'000'000'000, 1u << 20));
    auto jfr = decode_jfr(fixture("jfr/acceptance.jfr"));
    out.emplace_back("jfr:cpu", jfr.cpu.SerializeAsString());
    out.emplace_back("jfr:alloc", jfr.alloc.SerializeAsString());
    out.emplace_back("jfr:lock", jfr.lock.SerializeAsString());
    return out;
}

std::optional<PprofSummary> via_libprotobuf(const std::string &raw, const PprofReadOptions &o) {
    perftools::profiles::Profile p;
    if (raw.size() > size_t(INT32_MAX) || !p.ParseFromArray(raw.data(), int(raw.size()))) return std::nullopt;
    return summarize_profile(p, o);
}

std::optional<PprofSummary> via_reader(const std::string &raw, const PprofReadOptions &o) {
    try {
        return read_pprof(raw, o);
    } catch (const DecodeError &) {
        return std::nullopt;
    }
}

ProfileFile file(std::string name, std::string data) {
    return ProfileFile{std::move(name), "application/octet-stream",
                       std::make_shared<const std::string>(std::move(data))};
}

} // namespace

TEST_CASE("reader: the same summary as libprotobuf on every recorded and built pprof", "[pprof_reader]") {
    auto all = recorded_pprofs();
    for (auto &b : built_pprofs()) all.push_back(b);
    size_t with_labels = 0;
    for (auto &[name, bytes] : all) {
        INFO(name);
        std::string raw = decompress(bytes);
        for (const PprofReadOptions &o : {PprofReadOptions{}, kLabels, kUnchecked, kUncheckedLabels}) {
            auto expected = via_libprotobuf(raw, o);
            REQUIRE(expected);
            PprofSummary got = read_pprof(raw, o);
            CHECK(got == *expected);
            CHECK(summarize_pprof(bytes, InflateLimit{}, o) == *expected);
            REQUIRE(!got.sample_types.empty());
            if (!got.labels.empty()) ++with_labels;
        }
    }
    CHECK(with_labels >= 2); // the Pyroscope Node uploads and the JFR profiles carry labels
    // A spot check against go tool pprof's figures.
    auto cpu = read_pprof(decompress(fixture("go-pprof/cpu.pb.gz")));
    REQUIRE(cpu.find("cpu") == 1);
    CHECK(cpu.sample_types[1].sum == 3280000000LL);
    CHECK(cpu.sample_types[1].unit == "nanoseconds");
    CHECK(cpu.time_nanos > 0);
    CHECK(cpu.duration_nanos > 0);
}

TEST_CASE("reader: metric values equal the libprotobuf path's on the recorded uploads", "[pprof_reader]") {
    auto same = [](const ProfileUpload &u) {
        auto one_pass = compute_profile_metrics(u, PprofDecoder::one_pass);
        auto reference = compute_profile_metrics(u, PprofDecoder::libprotobuf);
        CHECK(!one_pass.empty());
        CHECK(one_pass == reference); // names, order and the very doubles
    };
    for (const char *dir : {"ddtrace-nodejs", "ddtrace-nodejs-zstd"}) {
        INFO(dir);
        std::string body = fixture(std::string(dir) + "/profiling-input.body.multipart");
        std::string boundary = body.substr(2, body.find("\r\n") - 2);
        ProfileUpload u;
        u.tags["language"] = "nodejs";
        u.start_ns = 1'795'316'581'860'000'000;
        u.end_ns = u.start_ns + 5'033'000'000;
        for (auto &part : parse_multipart(body, boundary))
            if (part.name != "event")
                u.files.push_back(file(part.filename.empty() ? part.name : part.filename, std::string(part.data)));
        same(u);
        // The same files, decoded by the pool's two steps.
        MetricsWork work = prepare_metrics(u);
        auto later = work.point();
        auto now = generate_profile_metrics(u);
        REQUIRE(later);
        REQUIRE(now);
        CHECK(later->fields.size() == now->fields.size());
        for (size_t i = 0; i < now->fields.size(); ++i) {
            CHECK(later->fields[i].key == now->fields[i].key);
            CHECK(later->fields[i].f == now->fields[i].f);
        }
    }
    ProfileUpload go;
    go.tags["language"] = "golang";
    go.start_ns = 1'000'000'000'000LL;
    go.end_ns = go.start_ns + 10'000'000'000LL;
    go.files = {file("cpu.pprof", fixture("go-pprof/cpu.pb.gz")),
                file("delta-heap.pprof", fixture("go-pprof/heap.pb.gz")),
                file("delta-mutex.pprof", fixture("go-pprof/mutex.pb.gz")),
                file("delta-block.pprof", fixture("go-pprof/block.pb.gz")),
                file("goroutines.pprof", fixture("go-pprof/goroutine.pb.gz"))};
    same(go);
    ProfileUpload py = go;
    py.tags["language"] = "python";
    py.files = {file("auto.pprof", fixture("go-pprof/allocs.pb.gz"))};
    // Go's heap types are not Python's: nothing derived either way.
    CHECK(compute_profile_metrics(py, PprofDecoder::one_pass) ==
          compute_profile_metrics(py, PprofDecoder::libprotobuf));
    for (const char *name :
         {"pyroscope-nodejs/ingest-wall.body.pprof.gz", "pyroscope-nodejs/ingest-heap.body.pprof.gz"}) {
        ProfileUpload node = go;
        node.tags["language"] = "nodejs";
        node.files = {
            file(std::string(name).find("wall") != std::string::npos ? "wall.pprof" : "space.pprof", fixture(name))};
        same(node);
    }
}

TEST_CASE("reader: damaged pprofs are accepted or rejected as libprotobuf does, never a crash", "[pprof_reader]") {
    // libprotobuf logs every invalid UTF-8 string it meets; the count is what matters here.
    auto *previous_log = google::protobuf::SetLogHandler(nullptr);
    std::mt19937 rng(20261203);
    size_t mutants = 0, accepted = 0, disagreements = 0;
    for (auto &[name, bytes] : recorded_pprofs()) {
        std::string raw = decompress(bytes);
        if (raw.size() > 200'000) continue; // the smaller ones, many times
        INFO(name);
        for (int round = 0; round < 300; ++round) {
            std::string m = raw;
            switch (round % 4) {
            case 0: m.resize(rng() % m.size()); break;                     // truncated
            case 1: m[rng() % m.size()] ^= char(1u << (rng() % 8)); break; // one bit flipped
            case 2: m[rng() % m.size()] = char(rng()); break;              // one byte replaced
            case 3:                                                        // a run of bytes replaced
                for (size_t i = rng() % m.size(), n = 0; i < m.size() && n < 8; ++i, ++n) m[i] = char(rng());
                break;
            }
            auto expected = via_libprotobuf(m, kLabels);
            auto got = via_reader(m, kLabels);
            ++mutants;
            if (expected.has_value() != got.has_value()) {
                ++disagreements;
                UNSCOPED_INFO("round " << round << ": libprotobuf " << (expected ? "accepts" : "rejects")
                                       << ", the reader " << (got ? "accepts" : "rejects"));
            } else if (expected) {
                ++accepted;
                CHECK(*got == *expected);
            }
            // Unchecked: what libprotobuf accepts reads the same; the rest is a DecodeError
            // or a summary, never a crash.
            auto lenient = via_reader(m, kUnchecked);
            if (expected) {
                REQUIRE(lenient);
                CHECK(*lenient == *via_libprotobuf(m, kUnchecked));
            }
        }
    }
    google::protobuf::SetLogHandler(previous_log);
    WARN(mutants << " damaged pprofs, " << accepted << " accepted by both, " << disagreements
                 << " answered differently");
    CHECK(disagreements == 0);
    CHECK(accepted > 0);
    CHECK(accepted < mutants);
}

TEST_CASE("reader: wire-format corners", "[pprof_reader]") {
    // Hand-written Profile bytes: sample_type {type=1 unit=2}, sample values, strings.
    auto varint = [](uint64_t v) {
        std::string s;
        while (v >= 0x80) {
            s.push_back(char(v | 0x80));
            v >>= 7;
        }
        s.push_back(char(v));
        return s;
    };
    auto field = [&](uint32_t number, uint32_t wire, const std::string &payload) {
        std::string s = varint(uint64_t(number) << 3 | wire);
        if (wire == 2) s += varint(payload.size());
        return s + payload;
    };
    auto strings =
        field(6, 2, "") + field(6, 2, "cpu") + field(6, 2, "nanoseconds") + field(6, 2, "k") + field(6, 2, "v");
    auto type = field(1, 2, field(1, 0, varint(1)) + field(2, 0, varint(2)));
    // Packed and unpacked values, labels (key 3 → "k"), the string table last as Go writes it.
    auto packed =
        field(2, 2, field(2, 2, varint(5) + varint(7)) + field(3, 2, field(1, 0, varint(3)) + field(2, 0, varint(4))));
    auto unpacked = field(2, 2, field(2, 0, varint(10)) + field(2, 0, varint(20)));
    std::string good = type + packed + unpacked + strings;
    PprofSummary s = read_pprof(good, kLabels);
    REQUIRE(s.sample_types.size() == 1);
    CHECK(s.sample_types[0].type == "cpu");
    CHECK(s.sample_types[0].sum == 15);
    CHECK(s.labels == std::vector<std::pair<std::string, std::string>>{{"k", "v"}});
    CHECK(s == *via_libprotobuf(good, kLabels));

    // A label whose str index is out of range first, a valid one of the same key later.
    auto bad_then_good = field(2, 2, field(3, 2, field(1, 0, varint(3)) + field(2, 0, varint(99)))) +
                         field(2, 2, field(3, 2, field(1, 0, varint(3)) + field(2, 0, varint(4))));
    CHECK(read_pprof(type + bad_then_good + strings, kLabels) ==
          *via_libprotobuf(type + bad_then_good + strings, kLabels));
    // Unknown fields of every wire type, a group among them, and a known field with another
    // wire type (kept as unknown by libprotobuf) change nothing.
    std::string unknown = field(100, 0, varint(1)) + varint(101 << 3 | 1) + std::string(8, 'x') + varint(102 << 3 | 5) +
                          std::string(4, 'y') + varint(103 << 3 | 3) + field(1, 0, varint(1)) + varint(103 << 3 | 4) +
                          field(9, 2, "not a varint");
    CHECK(read_pprof(unknown + good, kLabels) == s);
    CHECK(via_libprotobuf(unknown + good, kLabels) == s);

    auto rejected_by_both = [&](const std::string &bytes, const char *what) {
        INFO(what);
        CHECK_THROWS_AS(read_pprof(bytes, kLabels), DecodeError);
        auto *previous_log = google::protobuf::SetLogHandler(nullptr);
        CHECK_FALSE(via_libprotobuf(bytes, kLabels));
        google::protobuf::SetLogHandler(previous_log);
    };
    rejected_by_both(good + std::string("\x0a\x05", 2), "a length past the end");
    rejected_by_both(good + std::string(11, '\xff'), "a varint of 11 bytes");
    rejected_by_both(good + varint(103 << 3 | 3) + field(1, 0, varint(1)), "a group never closed");
    rejected_by_both(good + varint(103 << 3 | 3) + varint(104 << 3 | 4), "a group closed by another field");
    rejected_by_both(good + varint(7 << 3 | 4), "the end of a group at the top");
    rejected_by_both(good + varint(7 << 3 | 6), "wire type 6");
    rejected_by_both(good + std::string("\x00", 1), "field number 0");
    rejected_by_both(good + field(6, 2, "\xc3\x28"), "a string that is not UTF-8");
    rejected_by_both(good + field(2, 2, field(1, 2, std::string("\x80", 1))), "a truncated packed location id");
    rejected_by_both(good + field(4, 2, field(4, 2, std::string("\xff", 1))), "a broken Line inside a Location");
    CHECK_THROWS_AS(summarize_pprof(gzip_of(good).substr(0, 20), InflateLimit{}), DecodeError);
    CHECK_THROWS_AS(summarize_pprof(good, InflateLimit{good.size() - 1, nullptr}), TooLargeError);

    // Location ids are checked eight bytes at a time: runs of continuation bytes that end
    // or cross a word at every offset, 9 long (a valid 10-byte varint) and 10 long (not).
    for (size_t lead = 0; lead < 17; ++lead) {
        for (size_t run : {8, 9, 10, 16}) {
            std::string ids(lead, '\x01');
            ids += std::string(run, '\xff') + std::string("\x01") + std::string(lead % 5, '\x02');
            std::string bytes = good + field(2, 2, field(1, 2, ids));
            INFO("lead " << lead << ", run " << run);
            auto *previous_log = google::protobuf::SetLogHandler(nullptr);
            auto expected = via_libprotobuf(bytes, kLabels);
            google::protobuf::SetLogHandler(previous_log);
            CHECK(expected.has_value() == (run < 10));
            CHECK(via_reader(bytes, kLabels).has_value() == expected.has_value());
            // Not checked, the ids are skipped: the summary is the one of the valid profile.
            CHECK(read_pprof(bytes, kUnchecked) == read_pprof(good));
        }
    }
    // What check_unread = false skips: a broken Location, a string that is not UTF-8.
    std::string broken = good + field(4, 2, field(4, 2, std::string("\xff", 1))) + field(6, 2, "\xc3\x28");
    CHECK_THROWS_AS(read_pprof(broken), DecodeError);
    PprofSummary lenient = read_pprof(broken, kUnchecked);
    CHECK(lenient.sample_types == s.sample_types);
    // A framing error is still one.
    CHECK_THROWS_AS(read_pprof(good + std::string("\x0a\x05", 2), kUnchecked), DecodeError);
}
