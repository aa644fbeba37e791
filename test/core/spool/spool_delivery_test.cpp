#include "spool_delivery.hpp"
#include "spool_test_util.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

using namespace trib::core;
using spool_test::TempDir;

namespace {

SpoolOptions opts(const std::filesystem::path &dir) {
    SpoolOptions o;
    o.dir = dir;
    o.capacity_bytes = 4 << 20;
    o.fsync_interval_ms = 50;
    return o;
}

std::vector<trib::Point> batch(int n) {
    trib::Point p("m", "metric", 1000 + n);
    p.tag("n", std::to_string(n));
    p.field(trib::Field::Int("v", n));
    return {p};
}

template <class Pred>
bool wait_until(Pred pred, int ms = 5000) {
    for (int i = 0; i < ms / 5; ++i) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
}

} // namespace

TEST_CASE("delivery: retries transient failures with backoff, delivers in order", "[delivery]") {
    TempDir tmp;
    Spool spool(opts(tmp.path));
    for (int i = 0; i < 20; ++i) REQUIRE(spool.append(encode_points(batch(i))) == TRIB_OK);

    std::mutex mu;
    std::vector<int64_t> seen;
    int failures_left = 3;
    std::vector<std::chrono::steady_clock::time_point> attempts;
    SpoolDelivery d(
        "test", spool,
        [&](const std::vector<trib::Point> &b, std::string &err) {
            std::lock_guard<std::mutex> lk(mu);
            attempts.push_back(std::chrono::steady_clock::now());
            if (failures_left > 0) {
                --failures_left;
                err = "server said 503";
                return TRIB_RETRY;
            }
            seen.push_back(b.at(0).find_field("v")->i);
            return TRIB_OK;
        },
        RetryPolicy{std::chrono::milliseconds(20), std::chrono::milliseconds(1000), 0});
    d.start();
    REQUIRE(wait_until([&] { return d.stats().delivered_records == 20; }));
    d.stop();
    std::lock_guard<std::mutex> lk(mu);
    REQUIRE(seen.size() == 20);
    for (int i = 0; i < 20; ++i) CHECK(seen[i] == i);
    CHECK(d.stats().retries == 3);
    CHECK(d.stats().delivered_points == 20);
    // Backoff doubles: 20, 40, 80 ms between the first four attempts.
    REQUIRE(attempts.size() >= 4);
    auto gap = [&](int i) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(attempts[i + 1] - attempts[i]).count();
    };
    CHECK(gap(0) >= 20);
    CHECK(gap(1) >= 40);
    CHECK(gap(2) >= 80);
    CHECK(spool.stats().pending_bytes == 0);
}

TEST_CASE("delivery: permanent failures are set aside, counted, and do not block the queue", "[delivery]") {
    TempDir tmp;
    Spool spool(opts(tmp.path));
    for (int i = 0; i < 5; ++i) spool.append(encode_points(batch(i)));
    spool.append("garbage that passes the CRC but is no point batch");
    spool.append(encode_points(batch(5)));
    std::atomic<int> ok{0};
    SpoolDelivery d(
        "test", spool,
        [&](const std::vector<trib::Point> &b, std::string &err) {
            if (b.at(0).find_field("v")->i == 2) {
                err = "400 field type conflict";
                return TRIB_PERMANENT;
            }
            ++ok;
            return TRIB_OK;
        },
        RetryPolicy{});
    d.start();
    REQUIRE(wait_until([&] { return ok == 5 && d.stats().permanent_failures == 2; }));
    d.stop();
    CHECK(d.stats().undecodable_records == 1);
    CHECK(spool.stats().set_aside_records == 2);
    CHECK(spool.stats().pending_bytes == 0);
    int refused_files = 0;
    for (auto &e : std::filesystem::directory_iterator(tmp.path / "quarantine"))
        refused_files += e.path().filename().string().rfind("refused-", 0) == 0;
    CHECK(refused_files == 2);
}

TEST_CASE("delivery: max_attempts gives up (counted) instead of retrying forever", "[delivery]") {
    TempDir tmp;
    Spool spool(opts(tmp.path));
    spool.append(encode_points(batch(1)));
    std::atomic<int> calls{0};
    SpoolDelivery d(
        "test", spool,
        [&](const std::vector<trib::Point> &, std::string &err) {
            ++calls;
            err = "connection refused";
            return TRIB_RETRY;
        },
        RetryPolicy{std::chrono::milliseconds(1), std::chrono::milliseconds(5), 4});
    d.start();
    REQUIRE(wait_until([&] { return d.stats().permanent_failures == 1; }));
    d.stop();
    CHECK(calls == 4);
    CHECK(d.stats().retries == 3);
}

TEST_CASE("delivery: stop during an outage keeps the records for the next start", "[delivery]") {
    TempDir tmp;
    std::atomic<bool> up{false};
    std::atomic<int> delivered{0};
    auto deliver = [&](const std::vector<trib::Point> &b, std::string &err) {
        if (!up) {
            err = "down";
            return TRIB_RETRY;
        }
        delivered += static_cast<int>(b.size());
        return TRIB_OK;
    };
    {
        Spool spool(opts(tmp.path));
        for (int i = 0; i < 10; ++i) spool.append(encode_points(batch(i)));
        SpoolDelivery d("test", spool, deliver,
                        RetryPolicy{std::chrono::milliseconds(10), std::chrono::milliseconds(50), 0});
        d.start();
        REQUIRE(wait_until([&] { return d.stats().retries >= 2; }));
        d.stop();
    }
    up = true;
    Spool spool(opts(tmp.path));
    SpoolDelivery d("test", spool, deliver, RetryPolicy{});
    d.start();
    REQUIRE(wait_until([&] { return delivered == 10; }));
    d.stop();
    CHECK(delivered == 10);
}

TEST_CASE("delivery: drop_oldest under an outage: delivered + dropped = appended", "[delivery]") {
    TempDir tmp;
    auto o = opts(tmp.path);
    o.capacity_bytes = 64 << 10;
    o.segment_bytes = 8 << 10;
    o.policy = SpoolFullPolicy::drop_oldest;
    Spool spool(o);
    std::atomic<bool> up{false};
    std::mutex mu;
    std::set<int64_t> seen;
    SpoolDelivery d(
        "test", spool,
        [&](const std::vector<trib::Point> &b, std::string &err) {
            if (!up) {
                err = "down";
                return TRIB_RETRY;
            }
            std::lock_guard<std::mutex> lk(mu);
            seen.insert(b.at(0).find_field("v")->i);
            return TRIB_OK;
        },
        RetryPolicy{std::chrono::milliseconds(1), std::chrono::milliseconds(5), 0});
    d.start();
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
        auto b = batch(i);
        b[0].field(trib::Field::String("pad", std::string(200, 'x')));
        REQUIRE(spool.append(encode_points(b)) == TRIB_OK);
        if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    up = true;
    REQUIRE(wait_until([&] { return spool.stats().pending_bytes == 0; }));
    d.stop();
    std::lock_guard<std::mutex> lk(mu);
    INFO("delivered " << seen.size() << " dropped " << spool.stats().dropped_records);
    CHECK(seen.size() + spool.stats().dropped_records == size_t(n));
}
