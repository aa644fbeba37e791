#include <catch2/catch.hpp>
#include <bus/bus.hpp>
#include <trib_test/support.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace trib::core;
using namespace std::chrono_literals;

namespace {

// A sink that records what it got and can be held (blocked in write) or made to fail.
class RecordingSink final : public Sink {
  public:
    explicit RecordingSink(std::string name) : name_(std::move(name)) {}
    const std::string &name() const override { return name_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return !blocked_; });
        if (retries_left_ > 0) {
            --retries_left_;
            err = "try later";
            return TRIB_RETRY;
        }
        for (auto &p : batch) measurements_.push_back(p.measurement);
        return TRIB_OK;
    }
    void block(bool b) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            blocked_ = b;
        }
        cv_.notify_all();
    }
    void fail_times(int n) {
        std::lock_guard<std::mutex> lk(mu_);
        retries_left_ = n;
    }
    size_t count() {
        std::lock_guard<std::mutex> lk(mu_);
        return measurements_.size();
    }
    std::vector<std::string> got() {
        std::lock_guard<std::mutex> lk(mu_);
        return measurements_;
    }

  private:
    std::string name_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool blocked_ = false;
    int retries_left_ = 0;
    std::vector<std::string> measurements_;
};

std::vector<trib::Point> make_points(size_t n, const std::string &measurement = "cpu",
                                     const std::string &category = "metric", size_t payload = 100) {
    std::vector<trib::Point> v;
    for (size_t i = 0; i < n; ++i) {
        trib::Point p(measurement, category, int64_t(i));
        p.field(trib::Field::String("payload", std::string(payload, 'x')));
        v.push_back(std::move(p));
    }
    return v;
}

BusConfig small_bus(uint64_t bytes) {
    BusConfig c;
    c.max_memory_bytes = bytes;
    c.retry_initial = 10ms;
    c.retry_max = 50ms;
    c.shutdown_timeout = 2000ms;
    return c;
}

} // namespace

TEST_CASE("a blocked sink does not stop another sink", "[core][bus]") {
    Bus bus(small_bus(64 << 20));
    auto slow = std::make_unique<RecordingSink>("slow");
    auto fast = std::make_unique<RecordingSink>("fast");
    auto *slow_p = slow.get();
    auto *fast_p = fast.get();
    slow_p->block(true);
    bus.add_sink(std::move(slow), "test", {});
    bus.add_sink(std::move(fast), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    for (int i = 0; i < 10; ++i) REQUIRE(bus.emit(make_points(100), bytes, err) == TRIB_OK);
    CHECK(trib::test::wait_until([&] { return fast_p->count() == 1000; }, 5000ms, 5ms));
    CHECK(slow_p->count() == 0);
    slow_p->block(false);
    CHECK(trib::test::wait_until([&] { return slow_p->count() == 1000; }, 5000ms, 5ms));
    CHECK(bus.shutdown());
}

TEST_CASE("a full bus answers BACKPRESSURE and memory stays under the ceiling", "[core][bus]") {
    const uint64_t ceiling = 256 * 1024;
    Bus bus(small_bus(ceiling));
    auto sink = std::make_unique<RecordingSink>("stuck");
    auto *sink_p = sink.get();
    sink_p->block(true);
    bus.add_sink(std::move(sink), "test", {});
    bus.start();

    // Several producers push until refused.
    std::atomic<uint64_t> accepted{0}, refused{0};
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t)
        producers.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                uint64_t bytes = 0;
                std::string err;
                trib_status st = bus.emit(make_points(10, "cpu", "metric", 200), bytes, err);
                if (st == TRIB_OK) accepted += 10;
                else if (st == TRIB_BACKPRESSURE) refused++;
                else FAIL("unexpected status " << st << " " << err);
            }
        });
    for (auto &t : producers) t.join();
    CHECK(refused > 0);
    CHECK(accepted > 0);
    CHECK(bus.memory().peak() <= ceiling);
    CHECK(bus.memory().used() <= ceiling);

    // Once the sink moves again everything accepted arrives and memory is released.
    sink_p->block(false);
    CHECK(trib::test::wait_until([&] { return sink_p->count() == accepted.load(); }, 10000ms, 5ms));
    CHECK(trib::test::wait_until([&] { return bus.memory().used() == 0; }, 5000ms, 5ms));
    uint64_t bytes = 0;
    std::string err;
    CHECK(bus.emit(make_points(10), bytes, err) == TRIB_OK);
    CHECK(bus.shutdown());
}

TEST_CASE("a batch larger than the whole ceiling is refused as invalid, not retried forever", "[core][bus]") {
    Bus bus(small_bus(10 * 1024));
    bus.add_sink(std::make_unique<RecordingSink>("s"), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    CHECK(bus.emit(make_points(1, "cpu", "metric", 20 * 1024), bytes, err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("ceiling"));
}

TEST_CASE("routing by category and measurement; RETRY is retried", "[core][bus]") {
    Bus bus(small_bus(64 << 20));
    auto metrics = std::make_unique<RecordingSink>("metrics");
    auto cpu_only = std::make_unique<RecordingSink>("cpu");
    auto all = std::make_unique<RecordingSink>("all");
    auto *m = metrics.get();
    auto *c = cpu_only.get();
    auto *a = all.get();
    a->fail_times(3);
    bus.add_sink(std::move(metrics), "test", SinkFilter{{"metric"}, {}});
    bus.add_sink(std::move(cpu_only), "test", SinkFilter{{}, {"cpu"}});
    bus.add_sink(std::move(all), "test", SinkFilter{});
    bus.start();
    auto pts = make_points(2, "cpu", "metric");
    auto mem = make_points(1, "mem", "metric");
    auto prof = make_points(1, "profile", "profiling");
    pts.insert(pts.end(), mem.begin(), mem.end());
    pts.insert(pts.end(), prof.begin(), prof.end());
    uint64_t bytes = 0;
    std::string err;
    REQUIRE(bus.emit(std::move(pts), bytes, err) == TRIB_OK);
    CHECK(bus.shutdown());
    CHECK(m->got() == std::vector<std::string>{"cpu", "cpu", "mem"});
    CHECK(c->got() == std::vector<std::string>{"cpu", "cpu"});
    CHECK(a->got() == std::vector<std::string>{"cpu", "cpu", "mem", "profile"});
    CHECK(bus.sinks()[2]->stats().retries.load() == 3);
    CHECK(bus.memory().used() == 0);
}

TEST_CASE("shutdown drains every queued point into the sinks", "[core][bus]") {
    Bus bus(small_bus(64 << 20));
    auto s = std::make_unique<RecordingSink>("s");
    auto *sp = s.get();
    sp->block(true);
    bus.add_sink(std::move(s), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    for (int i = 0; i < 50; ++i) REQUIRE(bus.emit(make_points(20), bytes, err) == TRIB_OK);
    std::thread unblock([&] {
        std::this_thread::sleep_for(100ms);
        sp->block(false);
    });
    CHECK(bus.shutdown());
    unblock.join();
    CHECK(sp->count() == 1000);
    CHECK(bus.emit(make_points(1), bytes, err) == TRIB_BACKPRESSURE); // closed
}

namespace {
// A sink that asks the router to linger (as TRIB_MODULE_BATCHED_WRITES modules do) and
// records each write: how many parts and points, in what order.
class LingeringSink final : public Sink {
  public:
    LingeringSink(std::string name, std::chrono::milliseconds linger) : name_(std::move(name)), linger_(linger) {}
    const std::string &name() const override { return name_; }
    std::chrono::milliseconds write_linger() const override { return linger_; }
    trib_status write(const std::vector<trib::Point> &batch, std::string &err) override {
        return write_parts({&batch}, err);
    }
    trib_status write_parts(const std::vector<const std::vector<trib::Point> *> &parts, std::string &) override {
        std::lock_guard<std::mutex> lk(mu_);
        size_t n = 0;
        for (auto *part : parts)
            for (auto &p : *part) {
                times_.push_back(p.time_ns);
                ++n;
            }
        writes_.emplace_back(parts.size(), n);
        return TRIB_OK;
    }
    size_t count() {
        std::lock_guard<std::mutex> lk(mu_);
        return times_.size();
    }
    std::vector<std::pair<size_t, size_t>> writes() {
        std::lock_guard<std::mutex> lk(mu_);
        return writes_;
    }
    std::vector<int64_t> times() {
        std::lock_guard<std::mutex> lk(mu_);
        return times_;
    }

  private:
    std::string name_;
    std::chrono::milliseconds linger_;
    std::mutex mu_;
    std::vector<std::pair<size_t, size_t>> writes_; // (parts, points) per write
    std::vector<int64_t> times_;
};

std::vector<trib::Point> points_at(int64_t from, size_t n) {
    std::vector<trib::Point> v;
    for (size_t i = 0; i < n; ++i) v.emplace_back("cpu", "metric", from + int64_t(i));
    return v;
}
} // namespace

TEST_CASE("a lingering sink gets the batches that gathered in one write, in order, not copied", "[core][bus]") {
    Bus bus(small_bus(64 << 20));
    auto s = std::make_unique<LingeringSink>("viewer-like", 300ms);
    auto *sp = s.get();
    auto plain = std::make_unique<RecordingSink>("file-like");
    auto *pp = plain.get();
    bus.add_sink(std::move(s), "test", {});
    bus.add_sink(std::move(plain), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    for (int i = 0; i < 40; ++i) REQUIRE(bus.emit(points_at(i * 2, 2), bytes, err) == TRIB_OK);
    REQUIRE(trib::test::wait_until([&] { return sp->count() == 80 && pp->count() == 80; }, 10000ms, 5ms));
    auto writes = sp->writes();
    // 40 emits in far less than the linger: one write (two if the machine paused the loop).
    CHECK(writes.size() <= 2);
    CHECK(writes.front().first > 1); // several batches as parts of one write
    auto times = sp->times();
    for (size_t i = 0; i < times.size(); ++i) CHECK(times[i] == int64_t(i));
    CHECK(bus.shutdown());
}

TEST_CASE("a lingering sink is written at once when the caps fill, and at shutdown", "[core][bus]") {
    BusConfig cfg = small_bus(64 << 20);
    cfg.max_write_points = 10;
    Bus bus(cfg);
    auto s = std::make_unique<LingeringSink>("slow-linger", 60000ms);
    auto *sp = s.get();
    bus.add_sink(std::move(s), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    REQUIRE(bus.emit(points_at(0, 10), bytes, err) == TRIB_OK);
    // A full write does not wait the minute.
    CHECK(trib::test::wait_until([&] { return sp->count() == 10; }, 10000ms, 5ms));
    REQUIRE(bus.emit(points_at(10, 3), bytes, err) == TRIB_OK);
    std::this_thread::sleep_for(50ms);
    CHECK(sp->count() == 10); // three points wait for more
    auto t0 = std::chrono::steady_clock::now();
    CHECK(bus.shutdown()); // and are written when the host stops, without the linger
    CHECK(sp->count() == 13);
    CHECK(std::chrono::steady_clock::now() - t0 < 30000ms);
}

TEST_CASE("points the sinks are done with are kept for the next emit, within bounds", "[core][bus]") {
    Bus bus(small_bus(64 * 1024 * 1024));
    auto sink = std::make_unique<RecordingSink>("rec");
    RecordingSink *rec = sink.get();
    bus.add_sink(std::move(sink), "test", {});
    bus.start();
    uint64_t bytes = 0;
    std::string err;
    auto small = make_points(3);
    REQUIRE(bus.emit(std::move(small), bytes, err) == TRIB_OK);
    // One point whose strings hold more than the recycler keeps (16 KiB): freed, not kept.
    auto large = make_points(1, "cpu", "metric", 20 * 1024);
    REQUIRE(bus.emit(std::move(large), bytes, err) == TRIB_OK);
    REQUIRE(trib::test::wait_until([&] { return rec->count() == 4 && bus.memory().used() == 0; }, 5s));
    CHECK(bus.recycler().kept() == 3);

    // Never more than 1,024 however many pass through.
    for (int i = 0; i < 3; ++i) {
        auto many = make_points(500);
        REQUIRE(bus.emit(std::move(many), bytes, err) == TRIB_OK);
    }
    REQUIRE(trib::test::wait_until([&] { return rec->count() == 1504 && bus.memory().used() == 0; }, 5s));
    CHECK(bus.recycler().kept() == 1024);
    std::vector<trib::Point> taken;
    bus.recycler().take(taken, 10);
    CHECK(taken.size() == 10);
    CHECK(bus.recycler().kept() == 1014);
    bus.shutdown();
}

TEST_CASE("a point written over a spent one holds only the new point", "[core][bus]") {
    // The spent point: 20 tags (past the size where a tag index is kept), three fields, an
    // attachment.
    trib::Point spent("old", "logging", 7);
    for (int i = 0; i < 20; ++i) spent.tag("k" + std::to_string(i), "v" + std::to_string(i));
    REQUIRE(spent.find_tag("k19") != nullptr);
    spent.field(trib::Field::String("message", std::string(300, 'm')));
    spent.field(trib::Field::Int("n", 5));
    spent.field(trib::Field::Bool("ok", true));
    spent.attach("a.pprof", "application/octet-stream", std::string("bytes"));

    trib_tag tags[2] = {{sizeof(trib_tag), {"k1", 2}, {"new", 3}}, {sizeof(trib_tag), {"host", 4}, {"h", 1}}};
    trib_field fields[3] = {};
    fields[0].struct_size = sizeof(trib_field);
    fields[0].type = TRIB_FIELD_FLOAT;
    fields[0].key = {"value", 5};
    fields[0].value.f = 1.5;
    fields[1].struct_size = sizeof(trib_field);
    fields[1].type = 99; // a type this SDK does not know: left out, as copy_point does
    fields[1].key = {"future", 6};
    fields[2].struct_size = sizeof(trib_field);
    fields[2].type = TRIB_FIELD_STRING;
    fields[2].key = {"message", 7};
    fields[2].value.s = {"short", 5};
    trib_point cp{};
    cp.struct_size = sizeof(trib_point);
    cp.measurement = {"cpu", 3};
    cp.category = {"metric", 6};
    cp.time_ns = 42;
    cp.tags = tags;
    cp.tag_count = 2;
    cp.fields = fields;
    cp.field_count = 3;

    spent.assign(cp, 4);
    const trib::Point fresh = trib::copy_point(cp);
    for (const trib::Point *p : std::initializer_list<const trib::Point *>{&spent, &fresh}) {
        CHECK(p->measurement == "cpu");
        CHECK(p->category == "metric");
        CHECK(p->time_ns == 42);
        REQUIRE(p->tags.size() == 2);
        CHECK(p->tags[0] == std::make_pair(std::string("k1"), std::string("new")));
        CHECK(p->tags[1] == std::make_pair(std::string("host"), std::string("h")));
        CHECK(p->find_tag("k19") == nullptr);
        CHECK(p->find_tag("k1") != nullptr);
        REQUIRE(p->fields.size() == 2);
        CHECK(p->fields[0].key == "value");
        CHECK(p->fields[0].type == TRIB_FIELD_FLOAT);
        CHECK(p->fields[0].f == 1.5);
        CHECK(p->fields[0].s.empty());
        CHECK(p->fields[1].key == "message");
        CHECK(p->fields[1].type == TRIB_FIELD_STRING);
        CHECK(p->fields[1].s == "short");
        CHECK(p->fields[1].i == 0);
        CHECK(p->attachments.empty());
    }
    CHECK(spent.tags.capacity() >= 6);
}
