#include "spool_test_util.hpp"

#include "core/spool/input_spool.hpp"
#include "core/spool/spooled_sink.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

using namespace trib::core;
using spool_test::TempDir;

namespace {

// A sink that keeps what it is given and can be told to fail: the thing a spool protects.
class RecordingSink : public Sink {
  public:
    explicit RecordingSink(std::string name) : name_(std::move(name)) {}
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override {
        if (fail.load()) {
            err = "upstream down";
            return TRIB_RETRY;
        }
        std::lock_guard<std::mutex> lk(mu);
        for (auto &p : batch) written.push_back(p);
        return TRIB_OK;
    }
    std::atomic<bool> fail{false};
    std::mutex mu;
    std::vector<trib::Point> written;

  private:
    std::string name_;
};

trib::Point pt(int i) {
    trib::Point p("profile", "profiling", i);
    p.field(trib::Field::Int("n", i));
    p.attach("cpu.pprof", "application/octet-stream", std::string(100, char('a' + i % 26)));
    return p;
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

TEST_CASE("spooled sink: outage is ridden out on disk, then everything is delivered in order", "[spooled_sink]") {
    TempDir tmp;
    auto setup =
        sink_spool_setup({{"path", "spool/influx"}, {"capacity_mb", 16}, {"retry_initial_ms", 5}, {"retry_max_ms", 20}},
                         tmp.path.string(), "unused");
    CHECK(setup.spool.dir == tmp.path / "spool/influx");
    RecordingSink *inner = nullptr;
    {
        auto owned = std::make_unique<RecordingSink>("influx");
        inner = owned.get();
        inner->fail = true;
        SpooledSink sink(std::move(owned), setup, {});
        std::string err;
        for (int i = 0; i < 50; ++i) REQUIRE(sink.write({pt(i)}, err) == TRIB_OK);
        REQUIRE(wait_until([&] { return sink.delivery().stats().retries >= 3; }));
        CHECK(inner->written.empty());
        std::string metrics = render_delivery_metrics();
        CHECK_THAT(metrics,
                   Catch::Contains("tributary_spool_appended_records_total{owner=\"sink\",name=\"influx\"} 50"));
        CHECK_THAT(metrics, Catch::Contains("tributary_delivery_retries_total{owner=\"sink\",name=\"influx\"}"));
        inner->fail = false;
        REQUIRE(wait_until([&] { return sink.delivery().stats().delivered_points == 50; }));
        std::lock_guard<std::mutex> lk(inner->mu);
        for (int i = 0; i < 50; ++i) {
            CHECK(inner->written[i].time_ns == i);
            CHECK(*inner->written[i].attachments.at(0).data == std::string(100, char('a' + i % 26)));
        }
    }
    CHECK(render_delivery_metrics().empty()); // unregistered with the sink
}

TEST_CASE("spooled sink: what is undelivered at shutdown is delivered after restart", "[spooled_sink]") {
    TempDir tmp;
    auto setup = sink_spool_setup({{"retry_initial_ms", 5}}, tmp.path.string(), "spool/s");
    {
        auto owned = std::make_unique<RecordingSink>("s");
        owned->fail = true;
        SpooledSink sink(std::move(owned), setup, {});
        std::string err;
        for (int i = 0; i < 10; ++i) REQUIRE(sink.write({pt(i)}, err) == TRIB_OK);
    }
    auto owned = std::make_unique<RecordingSink>("s");
    auto *inner = owned.get();
    SpooledSink sink(std::move(owned), setup, {});
    REQUIRE(wait_until([&] { return sink.delivery().stats().delivered_points == 10; }));
    CHECK(inner->written.size() == 10);
}

TEST_CASE("spooled sink: full spool under reject answers BACKPRESSURE", "[spooled_sink]") {
    TempDir tmp;
    auto setup = sink_spool_setup({{"capacity_mb", 0.0625 * 2}, {"segment_mb", 0.0625}, {"policy", "reject"}},
                                  tmp.path.string(), "s");
    auto owned = std::make_unique<RecordingSink>("s");
    owned->fail = true;
    SpooledSink sink(std::move(owned), setup, {});
    std::string err;
    trib_status st = TRIB_OK;
    int n = 0;
    while (n < 10000 && (st = sink.write({pt(n)}, err)) == TRIB_OK) ++n;
    CHECK(st == TRIB_BACKPRESSURE);
    CHECK(n > 100);
}

TEST_CASE("input spool: emit is acknowledged once spooled and reaches the bus despite pushback", "[input_spool]") {
    TempDir tmp;
    auto setup = input_spool_setup(
        {{"io_config", {{"cache_path", "cache/profile"}, {"cache_capacity_mb", 8}, {"upload_workers", 2}}}},
        tmp.path.string(), "unused");
    REQUIRE(setup);
    CHECK(setup->workers == 2);
    CHECK(setup->spool.capacity_bytes == 8u << 20);
    std::mutex mu;
    std::vector<int64_t> bus;
    std::atomic<int> refusals{3};
    std::vector<std::function<void()>> held; // "sinks still working on these points"
    InputSpool in("profile/0", *setup,
                  [&](std::vector<trib::Point> &&pts, std::string &err, std::function<void()> released) {
                      if (refusals.fetch_sub(1) > 0) {
                          err = "bus full";
                          return TRIB_BACKPRESSURE;
                      }
                      std::lock_guard<std::mutex> lk(mu);
                      for (auto &p : pts) bus.push_back(p.time_ns);
                      held.push_back(std::move(released));
                      return TRIB_OK;
                  },
                  {});
    in.start();
    std::string err;
    for (int i = 0; i < 20; ++i) REQUIRE(in.accept({pt(i)}, err) == TRIB_OK);
    REQUIRE(wait_until([&] {
        std::lock_guard<std::mutex> lk(mu);
        return bus.size() == 20;
    }));
    // Handed to the bus but not released: still pending in the spool.
    CHECK(in.spool().stats().pending_bytes > 0);
    {
        std::lock_guard<std::mutex> lk(mu);
        for (auto &r : held) r();
    }
    CHECK(in.spool().stats().pending_bytes == 0);
    CHECK(in.spool().stats().acked_records == 20);
    in.stop();
    CHECK(in.delivery().stats().retries >= 3);
    CHECK(render_delivery_metrics().find("owner=\"input\",name=\"profile/0\"") != std::string::npos);
}

TEST_CASE("spool config: DataKit keys and errors naming the key", "[spool_config]") {
    // pinpoint's `storage` is the module's own queue, not a host spool.
    CHECK_FALSE(input_spool_setup({{"storage", {{"path", "/var/pp"}, {"capacity", 100}}}}, "/data", "x"));
    CHECK_FALSE(input_spool_setup({{"address", "0.0.0.0:9991"}}, "/data", "x"));
    auto dk = input_spool_setup({{"io_config", {{"send_retry_count", 4}, {"clear_cache_on_start", true}}}}, "/data",
                                "cache/p0");
    CHECK(dk->spool.dir == "/data/cache/p0");
    CHECK(dk->retry.max_attempts == 4);
    CHECK(dk->spool.clear_on_open);
    CHECK(dk->spool.capacity_bytes == 10240ull << 20);
    CHECK_THROWS_WITH(input_spool_setup({{"io_config", {{"cache_capacity_mb", "lots"}}}}, "/d", "x"),
                      Catch::Contains("'io_config.cache_capacity_mb'"));
    CHECK_THROWS_WITH(input_spool_setup({{"io_config", {{"send_timeout", "75 seconds"}}}}, "/d", "x"),
                      Catch::Contains("'io_config.send_timeout'"));
    CHECK_THROWS_WITH(sink_spool_setup({{"policy", "sometimes"}}, "/d", "x"), Catch::Contains("'spool.policy'"));
    auto s = sink_spool_setup({{"policy", "drop_oldest"}, {"fsync_interval_ms", 500}, {"fsync_bytes", 1048576}}, "/d",
                              "spool/a");
    CHECK(s.spool.policy == SpoolFullPolicy::drop_oldest);
    CHECK(s.spool.fsync_interval_ms == 500);
    CHECK(s.spool.fsync_bytes == 1048576);
}

TEST_CASE("input spool: a release arriving after shutdown is harmless and the record comes again", "[input_spool]") {
    TempDir tmp;
    auto setup =
        input_spool_setup({{"io_config", {{"cache_capacity_mb", 1}, {"upload_workers", 1}}}}, tmp.path.string(), "c");
    std::vector<std::function<void()>> held;
    std::mutex mu;
    std::atomic<int> seen{0};
    auto to_bus = [&](std::vector<trib::Point> &&, std::string &, std::function<void()> released) {
        std::lock_guard<std::mutex> lk(mu);
        held.push_back(std::move(released));
        ++seen;
        return TRIB_OK;
    };
    {
        InputSpool in("pinpoint/0", *setup, to_bus, {});
        in.start();
        std::string err;
        REQUIRE(in.accept({pt(1)}, err) == TRIB_OK);
        REQUIRE(wait_until([&] { return seen == 1; }));
    }
    for (auto &r : held) r(); // the spool is gone: nothing happens
    InputSpool again("pinpoint/0", *setup, to_bus, {});
    again.start();
    REQUIRE(wait_until([&] { return seen == 2; })); // not acknowledged before: delivered again
    again.stop();
}

#include "core/bus/bus.hpp"

namespace {
// A sink that holds every write until released, to observe when the bus lets go of points.
class GateSink : public Sink {
  public:
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &) override {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return open; });
        written += batch.size();
        return TRIB_OK;
    }
    void release() {
        std::lock_guard<std::mutex> lk(mu);
        open = true;
        cv.notify_all();
    }
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    size_t written = 0;

  private:
    std::string name_ = "gate";
};
} // namespace

TEST_CASE("bus: on_released runs only after every sink finished with the points", "[bus][input_spool]") {
    BusConfig cfg;
    Bus bus(cfg);
    auto a = std::make_unique<GateSink>();
    auto b = std::make_unique<GateSink>();
    GateSink *ga = a.get(), *gb = b.get();
    bus.add_sink(std::move(a), "gate", SinkFilter{});
    bus.add_sink(std::move(b), "gate", SinkFilter{{"metric"}, {}}); // takes a subset (own copy)
    bus.start();
    std::atomic<int> released{0};
    std::vector<trib::Point> pts = {pt(1), pt(2)};
    pts[1].category = "metric";
    uint64_t bytes = 0;
    std::string err;
    REQUIRE(bus.emit(std::move(pts), bytes, err, [&] { ++released; }) == TRIB_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(released == 0);
    ga->release();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(released == 0); // the second sink still holds its copy
    gb->release();
    REQUIRE(wait_until([&] { return released == 1; }));
    bus.shutdown();
    CHECK(released == 1);
}
