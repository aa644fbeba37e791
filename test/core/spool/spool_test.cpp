#include "spool.hpp"
#include "spool_test_util.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

using namespace trib::core;
using spool_test::payload;
using spool_test::payload_number;
using spool_test::TempDir;
namespace fs = std::filesystem;

namespace {

SpoolOptions small_options(const fs::path &dir) {
    SpoolOptions o;
    o.dir = dir;
    o.capacity_bytes = 4 << 20;
    o.segment_bytes = 16 << 10;
    o.fsync_interval_ms = 50; // the page cache is enough for these tests; one test checks fsync-per-append
    return o;
}

std::vector<std::string> drain(Spool &s, bool do_ack = true) {
    std::vector<std::string> out;
    while (auto r = s.next(std::chrono::milliseconds(0))) {
        out.push_back(r->payload);
        if (do_ack) s.ack(r->id);
    }
    return out;
}

std::vector<fs::path> segment_files(const fs::path &dir) {
    std::vector<fs::path> out;
    for (auto &e : fs::directory_iterator(dir))
        if (e.path().extension() == ".seg") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string read_file(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

TEST_CASE("spool: append, read in order, ack deletes finished segments", "[spool]") {
    TempDir tmp;
    Spool s(small_options(tmp.path));
    for (int i = 0; i < 500; ++i) REQUIRE(s.append(payload(i, 100)) == TRIB_OK);
    CHECK(segment_files(tmp.path).size() > 3);
    auto got = drain(s);
    REQUIRE(got.size() == 500);
    for (int i = 0; i < 500; ++i) CHECK(got[i] == payload(i, 100));
    auto st = s.stats();
    CHECK(st.appended_records == 500);
    CHECK(st.acked_records == 500);
    CHECK(st.pending_bytes == 0);
    CHECK(st.quarantined_records == 0);
    // Only the segment being written survives once everything is acknowledged.
    CHECK(segment_files(tmp.path).size() == 1);
    CHECK_FALSE(s.next(std::chrono::milliseconds(20)).has_value());
}

TEST_CASE("spool: next() waits for an append from another thread", "[spool]") {
    TempDir tmp;
    Spool s(small_options(tmp.path));
    std::thread writer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        s.append("late");
    });
    auto r = s.next(std::chrono::milliseconds(5000));
    writer.join();
    REQUIRE(r.has_value());
    CHECK(r->payload == "late");
}

TEST_CASE("spool: restart resumes after the last acknowledged record and redelivers the rest", "[spool]") {
    TempDir tmp;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < 300; ++i) REQUIRE(s.append(payload(i, 50)) == TRIB_OK);
        for (int i = 0; i < 120; ++i) {
            auto r = s.next();
            REQUIRE(r);
            s.ack(r->id);
        }
        // Handed out, never acknowledged: must come back after the restart.
        for (int i = 0; i < 10; ++i) REQUIRE(s.next());
    }
    Spool s(small_options(tmp.path));
    auto got = drain(s);
    REQUIRE(got.size() == 180);
    for (size_t i = 0; i < got.size(); ++i) CHECK(payload_number(got[i]) == int(120 + i));
    // New appends after recovery follow the recovered ones.
    REQUIRE(s.append(payload(1000)) == TRIB_OK);
    auto r = s.next();
    REQUIRE(r);
    CHECK(payload_number(r->payload) == 1000);
}

TEST_CASE("spool: out-of-order acks commit only the acknowledged prefix", "[spool]") {
    TempDir tmp;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < 5; ++i) s.append(payload(i));
        std::vector<SpoolRecord> recs;
        for (int i = 0; i < 5; ++i) recs.push_back(*s.next());
        s.ack(recs[0].id);
        s.ack(recs[2].id);
        s.ack(recs[4].id);
        CHECK(s.stats().in_flight == 4);
    }
    Spool s(small_options(tmp.path));
    auto got = drain(s);
    REQUIRE(got.size() == 4); // record 0 is gone; 1..4 come again (at least once)
    CHECK(payload_number(got.front()) == 1);
}

TEST_CASE("spool: rewind_unacked hands out unacknowledged records again", "[spool]") {
    TempDir tmp;
    Spool s(small_options(tmp.path));
    for (int i = 0; i < 3; ++i) s.append(payload(i));
    auto a = s.next();
    s.ack(a->id);
    s.next();
    s.rewind_unacked();
    auto got = drain(s);
    REQUIRE(got.size() == 2);
    CHECK(payload_number(got[0]) == 1);
}

TEST_CASE("spool: a corrupted record is quarantined and every other record delivered", "[spool]") {
    TempDir tmp;
    const int n = 200;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < n; ++i) REQUIRE(s.append(payload(i, 200)) == TRIB_OK);
    }
    auto segs = segment_files(tmp.path);
    REQUIRE(segs.size() >= 3);
    // Flip bytes in the payload of a record in the middle of the second segment, and
    // damage a length field in the third.
    std::string second = read_file(segs[1]);
    size_t mid = second.size() / 2;
    {
        std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(mid));
        f.put(static_cast<char>(second[mid] ^ 0x5A));
        f.put(static_cast<char>(second[mid + 1] ^ 0x5A));
    }
    {
        std::fstream f(segs[2], std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(0);
        f.put('\xff');
        f.put('\xff');
        f.put('\xff');
    }
    std::vector<std::string> logs;
    auto o = small_options(tmp.path);
    o.log = [&](trib_log_level, const std::string &m) { logs.push_back(m); };
    Spool s(o);
    auto got = drain(s);
    auto st = s.stats();
    CHECK(st.quarantined_records == 2);
    CHECK(st.quarantined_bytes > 0);
    CHECK(got.size() == n - 2);
    std::set<int> seen;
    for (auto &g : got) seen.insert(payload_number(g));
    CHECK(seen.size() == got.size());
    // Every record delivered is intact; the two missing are one per damaged segment.
    for (auto &g : got) CHECK(g == payload(payload_number(g), 200));
    int missing = 0;
    for (int i = 0; i < n; ++i) missing += seen.count(i) ? 0 : 1;
    CHECK(missing == 2);
    bool logged = false;
    for (auto &l : logs) logged = logged || l.find("quarantined") != std::string::npos;
    CHECK(logged);
    size_t kept = 0;
    for (auto &e : fs::directory_iterator(tmp.path / "quarantine")) kept += e.path().extension() == ".bad";
    CHECK(kept == 2);
}

TEST_CASE("spool: a torn record at the end (crash mid-write) is cut at open, not quarantined", "[spool]") {
    TempDir tmp;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < 10; ++i) s.append(payload(i));
    }
    auto segs = segment_files(tmp.path);
    {
        // A header promising 1000 bytes followed by only 5 of them.
        std::ofstream f(segs.back(), std::ios::binary | std::ios::app);
        const char torn[] = {'\xe8', '\x03', 0, 0, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
        f.write(torn, sizeof torn);
    }
    Spool s(small_options(tmp.path));
    CHECK(s.stats().torn_tail_bytes == 13);
    auto got = drain(s);
    CHECK(got.size() == 10);
    CHECK(s.stats().quarantined_records == 0);
}

TEST_CASE("spool: capacity with policy reject answers BACKPRESSURE until acks free space", "[spool]") {
    TempDir tmp;
    auto o = small_options(tmp.path);
    o.capacity_bytes = 64 << 10;
    o.segment_bytes = 8 << 10;
    o.policy = SpoolFullPolicy::reject;
    Spool s(o);
    int accepted = 0;
    trib_status st = TRIB_OK;
    std::string err;
    while ((st = s.append(payload(accepted, 500), &err)) == TRIB_OK) ++accepted;
    CHECK(st == TRIB_BACKPRESSURE);
    CHECK_THAT(err, Catch::Contains("full"));
    CHECK(accepted > 50);
    CHECK(s.stats().disk_bytes <= o.capacity_bytes);
    CHECK(s.stats().rejected_appends == 1);
    CHECK(s.append(payload(999, 500)) == TRIB_BACKPRESSURE);
    auto got = drain(s);
    CHECK(got.size() == size_t(accepted)); // nothing accepted was lost
    CHECK(s.append(payload(1000, 500)) == TRIB_OK);
    // A record that can never fit is refused as invalid, not as backpressure.
    CHECK(s.append(std::string(70 << 10, 'x')) == TRIB_INVALID_ARGUMENT);
}

TEST_CASE("spool: capacity with policy drop_oldest drops whole old segments and counts them", "[spool]") {
    TempDir tmp;
    auto o = small_options(tmp.path);
    o.capacity_bytes = 64 << 10;
    o.segment_bytes = 8 << 10;
    o.policy = SpoolFullPolicy::drop_oldest;
    std::vector<std::string> logs;
    o.log = [&](trib_log_level, const std::string &m) { logs.push_back(m); };
    Spool s(o);
    const int n = 1000;
    for (int i = 0; i < n; ++i) REQUIRE(s.append(payload(i, 500)) == TRIB_OK);
    auto st = s.stats();
    CHECK(st.disk_bytes <= o.capacity_bytes);
    CHECK(st.dropped_records > 0);
    auto got = drain(s);
    // What survives is the newest records, contiguous, and survivors + drops = appended.
    REQUIRE(!got.empty());
    CHECK(payload_number(got.back()) == n - 1);
    for (size_t i = 1; i < got.size(); ++i) CHECK(payload_number(got[i]) == payload_number(got[i - 1]) + 1);
    CHECK(got.size() + s.stats().dropped_records == size_t(n));
    CHECK(!logs.empty());
}

TEST_CASE("spool: drop_oldest while a record is in flight does not resurrect it", "[spool]") {
    TempDir tmp;
    auto o = small_options(tmp.path);
    o.capacity_bytes = 32 << 10;
    o.segment_bytes = 4 << 10;
    o.policy = SpoolFullPolicy::drop_oldest;
    Spool s(o);
    for (int i = 0; i < 5; ++i) s.append(payload(i, 300));
    auto first = s.next();
    REQUIRE(first);
    for (int i = 5; i < 200; ++i) REQUIRE(s.append(payload(i, 300)) == TRIB_OK);
    s.ack(first->id); // its segment is gone: harmless
    auto got = drain(s);
    REQUIRE(!got.empty());
    CHECK(payload_number(got.front()) > 5);
    CHECK(payload_number(got.back()) == 199);
}

TEST_CASE("spool: fsync policy", "[spool]") {
    TempDir tmp;
    SECTION("every append is fsynced when no interval or byte threshold is set") {
        auto o = small_options(tmp.path);
        o.fsync_interval_ms = 0;
        o.fsync_bytes = 0;
        Spool s(o);
        auto before = s.stats().fsyncs;
        for (int i = 0; i < 20; ++i) s.append(payload(i));
        CHECK(s.stats().fsyncs - before >= 20);
    }
    SECTION("fsync_bytes batches fsyncs") {
        auto o = small_options(tmp.path);
        o.fsync_interval_ms = 0;
        o.fsync_bytes = 10000;
        o.segment_bytes = 1 << 20; // no rotation (which also fsyncs) in this section
        Spool s(o);
        auto before = s.stats().fsyncs;
        for (int i = 0; i < 100; ++i) s.append(std::string(992, 'x')); // 1000 bytes with header
        auto n = s.stats().fsyncs - before;
        CHECK(n >= 9);
        CHECK(n <= 11);
    }
    SECTION("fsync_interval_ms syncs in the background") {
        auto o = small_options(tmp.path);
        o.fsync_interval_ms = 20;
        Spool s(o);
        auto before = s.stats().fsyncs;
        s.append("x");
        CHECK(s.stats().fsyncs == before);
        for (int i = 0; i < 100 && s.stats().fsyncs == before; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CHECK(s.stats().fsyncs > before);
    }
}

TEST_CASE("spool: concurrent appenders with fsync per append lose and duplicate nothing", "[spool]") {
    TempDir tmp;
    auto o = small_options(tmp.path);
    o.fsync_interval_ms = 0;
    o.fsync_bytes = 0;
    Spool s(o);
    const int threads = 4, per = 150;
    std::vector<std::thread> ws;
    for (int t = 0; t < threads; ++t)
        ws.emplace_back([&, t] {
            for (int i = 0; i < per; ++i) REQUIRE(s.append(payload(t * 100000 + i, 40)) == TRIB_OK);
        });
    std::vector<int> got;
    std::thread reader([&] {
        while (got.size() < size_t(threads * per)) {
            auto r = s.next(std::chrono::milliseconds(2000));
            if (!r) break;
            got.push_back(payload_number(r->payload));
            s.ack(r->id);
        }
    });
    for (auto &w : ws) w.join();
    reader.join();
    REQUIRE(got.size() == size_t(threads * per));
    std::vector<int> last(threads, -1);
    for (int v : got) {
        int t = v / 100000, i = v % 100000;
        CHECK(i == last[t] + 1); // each appender's records arrive in its order
        last[t] = i;
    }
    // Group commit: far fewer fsyncs than appends is allowed, never zero.
    CHECK(s.stats().fsyncs > 0);
}

TEST_CASE("spool: a second process (or instance) cannot open the same spool", "[spool]") {
    TempDir tmp;
    Spool s(small_options(tmp.path));
    CHECK_THROWS_WITH(Spool(small_options(tmp.path)), Catch::Contains("in use"));
}

TEST_CASE("spool: clear_on_open starts empty", "[spool]") {
    TempDir tmp;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < 10; ++i) s.append(payload(i));
    }
    auto o = small_options(tmp.path);
    o.clear_on_open = true;
    Spool s(o);
    CHECK(drain(s).empty());
}

TEST_CASE("spool: SIGKILL mid-append loses no acknowledged record", "[spool][kill]") {
    // The child appends as fast as it can and reports each number once append() returned
    // OK; the parent kills it with SIGKILL mid-stream, then reopens the spool.
    for (uint32_t interval : {0u, 200u}) {
        TempDir tmp;
        auto o = small_options(tmp.path);
        o.fsync_interval_ms = interval;
        o.segment_bytes = 64 << 10;
        o.capacity_bytes = 64 << 20;
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            try {
                Spool s(o);
                for (int i = 0;; ++i) {
                    if (s.append(payload(i, 3000)) != TRIB_OK) ::_exit(3);
                    int32_t v = i;
                    if (::write(fds[1], &v, sizeof v) != sizeof v) ::_exit(4);
                }
            } catch (...) {
                ::_exit(5);
            }
        }
        ::close(fds[1]);
        int last_acked = -1;
        int32_t v;
        while (last_acked < 400 && ::read(fds[0], &v, sizeof v) == sizeof v) last_acked = v;
        ::kill(pid, SIGKILL);
        while (::read(fds[0], &v, sizeof v) == sizeof v) last_acked = v; // acks sent before death
        ::close(fds[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        REQUIRE(WIFSIGNALED(status));
        REQUIRE(last_acked >= 400);

        Spool s(o);
        auto got = drain(s);
        INFO("interval " << interval << " acked up to " << last_acked << ", recovered " << got.size());
        REQUIRE(got.size() >= size_t(last_acked + 1));
        for (int i = 0; i <= last_acked; ++i) REQUIRE(got[i] == payload(i, 3000));
        CHECK(s.stats().quarantined_records == 0);
    }
}

TEST_CASE("spool: a damaged ack.pos costs repeats, never records", "[spool]") {
    TempDir tmp;
    {
        Spool s(small_options(tmp.path));
        for (int i = 0; i < 50; ++i) s.append(payload(i));
        for (int i = 0; i < 20; ++i) s.ack(s.next()->id);
    }
    {
        std::fstream f(tmp.path / "ack.pos", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(10);
        f.put('\x7f');
    }
    std::vector<std::string> logs;
    auto o = small_options(tmp.path);
    o.log = [&](trib_log_level, const std::string &m) { logs.push_back(m); };
    Spool s(o);
    auto got = drain(s);
    REQUIRE(got.size() >= 30);
    CHECK(payload_number(got.back()) == 49);
    bool warned = false;
    for (auto &l : logs) warned = warned || l.find("ack.pos is damaged") != std::string::npos;
    CHECK(warned);
}
