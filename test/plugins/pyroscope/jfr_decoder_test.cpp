// The JFR decoder against the JDK's own reader (`jfr print --json`, Debian openjdk-17) on
// the recorded fixture, plus malformed-input behaviour.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <trib_test/support.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

using trib::profiling::decode_jfr;
using trib::profiling::DecodeError;
using trib::test::read_file;

namespace {

std::string run_capture(const std::string &cmd) {
    std::string out;
    FILE *p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    REQUIRE(pclose(p) == 0);
    return out;
}

// "Class.method:line;Class.method:line;..." leaf first, for one pprof sample.
std::string stack_key(const perftools::profiles::Profile &p, const perftools::profiles::Sample &s) {
    std::map<uint64_t, const perftools::profiles::Location *> locs;
    std::map<uint64_t, const perftools::profiles::Function *> fns;
    for (auto &l : p.location()) locs[l.id()] = &l;
    for (auto &f : p.function()) fns[f.id()] = &f;
    std::string key;
    for (auto id : s.location_id()) {
        const auto *l = locs.at(id);
        const auto *f = fns.at(l->line(0).function_id());
        key += p.string_table(f->name()) + ":" + std::to_string(l->line(0).line()) + ";";
    }
    return key;
}

std::string dotted(std::string s) {
    for (auto &c : s)
        if (c == '/') c = '.';
    return s;
}

// Stacks of the JDK's own reading of `event` in `file`, as multiset of stack_key strings.
std::map<std::string, int64_t> oracle_stacks(const std::string &file, const std::string &event) {
    auto text = run_capture("jfr print --json --stack-depth 4096 --events " + event + " '" + file + "'");
    auto doc = nlohmann::json::parse(text);
    std::map<std::string, int64_t> out;
    for (auto &ev : doc["recording"]["events"]) {
        std::string key;
        auto &st = ev["values"]["stackTrace"];
        if (st.is_null()) {
            ++out[key];
            continue;
        }
        for (auto &fr : st["frames"]) {
            auto &m = fr["method"];
            key += dotted(m["type"]["name"].get<std::string>()) + "." + m["name"].get<std::string>() + ":" +
                   std::to_string(fr["lineNumber"].get<int64_t>()) + ";";
        }
        ++out[key];
    }
    return out;
}

std::map<std::string, int64_t> decoded_stacks(const perftools::profiles::Profile &p, int value_index) {
    std::map<std::string, int64_t> out;
    for (auto &s : p.sample()) out[stack_key(p, s)] += s.value(value_index);
    return out;
}

const std::string kFixture = std::string(TRIB_FIXTURES_DIR) + "/jfr/acceptance.jfr";

} // namespace

TEST_CASE("JFR fixture: every execution sample and stack matches the JDK's reader", "[jfr]") {
    auto raw = read_file(kFixture);
    auto prof = decode_jfr(raw);
    auto summary = run_capture("jfr summary '" + kFixture + "'");

    REQUIRE(prof.has_cpu);
    CHECK(prof.stats.chunks == 1);
    CHECK(prof.stats.execution_samples == 132);
    CHECK(summary.find("jdk.ExecutionSample                            132") != std::string::npos);

    auto expected = oracle_stacks(kFixture, "jdk.ExecutionSample");
    auto got = decoded_stacks(prof.cpu, 0);
    CHECK(got == expected);

    // The busy program's hot method is among the top leaf frames.
    std::map<std::string, int64_t> leaves;
    for (auto &[k, n] : got) leaves[k.substr(0, k.find(':'))] += n;
    CHECK(leaves["Busy.mix"] > 0);
    CHECK(prof.cpu.string_table(prof.cpu.sample_type(1).type()) == "cpu");
    CHECK(prof.cpu.string_table(prof.cpu.sample_type(1).unit()) == "nanoseconds");
    CHECK(prof.cpu.period() == 10'000'000); // settings=profile: jdk.ExecutionSample period 10 ms
}

TEST_CASE("JFR fixture: allocation and lock profiles match the JDK's reader", "[jfr]") {
    auto prof = decode_jfr(read_file(kFixture));
    REQUIRE(prof.has_alloc);
    REQUIRE(prof.has_lock);
    CHECK(prof.stats.event_counts.at("jdk.ObjectAllocationSample") == 1014);
    CHECK(prof.stats.alloc_events == 1014); // TLAB events are not double-counted
    CHECK(decoded_stacks(prof.alloc, 0) == oracle_stacks(kFixture, "jdk.ObjectAllocationSample"));

    auto locks = oracle_stacks(kFixture, "jdk.JavaMonitorEnter");
    for (auto &[k, n] : oracle_stacks(kFixture, "jdk.ThreadPark")) locks[k] += n;
    CHECK(decoded_stacks(prof.lock, 0) == locks);
    CHECK(prof.stats.monitor_enter_count == 15);
}

TEST_CASE("JFR: gzip'd and multi-chunk recordings decode; metrics come out", "[jfr]") {
    auto raw = read_file(kFixture);
    auto plain = decode_jfr(raw);
    auto gz = decode_jfr(trib::test::gzip_of(raw, 1));
    CHECK(gz.stats.execution_samples == plain.stats.execution_samples);

    auto two = decode_jfr(raw + raw); // two chunks back to back
    CHECK(two.stats.chunks == 2);
    CHECK(two.stats.execution_samples == 2 * plain.stats.execution_samples);
    int64_t total = 0, total2 = 0;
    for (auto &s : plain.cpu.sample()) total += s.value(0);
    for (auto &s : two.cpu.sample()) total2 += s.value(0);
    CHECK(total2 == 2 * total);
    CHECK(two.cpu.sample_size() == plain.cpu.sample_size()); // same stacks merged

    double dur = double(plain.end_ns - plain.start_ns) / 1e9;
    REQUIRE(dur > 1);
    std::map<std::string, double> m;
    for (auto &[k, v] : trib::profiling::jvm_metrics(plain, dur)) m[k] = v;
    CHECK(m.at("prof_jvm_cpu_cores") == Approx(132 * 0.01 / dur));
    CHECK(m.at("prof_jvm_allocs_per_sec") == Approx(1014 / dur));
    CHECK(m.at("prof_jvm_alloc_bytes_total") > 0);
    CHECK(m.at("prof_jvm_locks_per_sec") == Approx(15 / dur));
    CHECK(m.at("prof_jvm_gc_pauses_per_sec") == Approx(7 / dur));
    CHECK(m.at("prof_jvm_threads_created_per_sec") == Approx(9 / dur));
    CHECK(m.count("prof_jvm_uptime_nanoseconds") == 1);
    CHECK(m.count("prof_jvm_lifetime_heap_bytes") == 1);
    CHECK(m.count("prof_jvm_socket_io_read_bytes") == 0); // no socket events were recorded
}

TEST_CASE("JFR: malformed input is a DecodeError, never a crash", "[jfr]") {
    auto raw = read_file(kFixture);
    // Found by fuzz_pyroscope_jfr: a metadata record whose size is smaller than its own size
    // field put the reader past its end, and the next count asked for 8 GB.
    CHECK_THROWS_AS(
        decode_jfr(read_file(std::string(PYROSCOPE_TEST_DIR) + "/regressions/jfr-metadata-size-below-header.jfr")),
        DecodeError);
    CHECK_THROWS_AS(decode_jfr(""), DecodeError);
    CHECK_THROWS_AS(decode_jfr("not a recording at all, but long enough to hold a chunk header ......."), DecodeError);
    CHECK_THROWS_AS(decode_jfr(raw.substr(0, raw.size() / 2)), DecodeError);
    CHECK_THROWS_AS(decode_jfr(raw + "FLR"), DecodeError);
    // Flip bytes all over the file: every outcome is either a result or a DecodeError.
    unsigned seed = 12345;
    for (int round = 0; round < 300; ++round) {
        std::string bad = raw;
        for (int k = 0; k < 8; ++k) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 4) % bad.size();
            bad[at] = char(bad[at] ^ (1 + (seed >> 24) % 255));
        }
        try {
            (void)decode_jfr(bad);
        } catch (const DecodeError &) {}
    }
}
