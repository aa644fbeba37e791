// Delivery you can trust, end to end: the real host, a test input module and a real InfluxDB.
//   - InfluxDB down for 30 s under steady load: every point answered 2xx arrives.
//   - kill -9 of the host mid-load: every point acknowledged before the kill arrives.
//   - a corrupted spool segment: the other records arrive, the bad one is counted.
//   - a full spool: `reject` answers 429, `drop_oldest` counts drops; memory stays bounded.
#include "influxdb_server.hpp"

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

using namespace trib::test;
using delivery_test::InfluxServer;
namespace fs = std::filesystem;

namespace {

const std::string kDb = "delivery";

// Posts numbered batches in a loop; remembers which numbers were acknowledged (2xx).
class Load {
  public:
    Load(std::string base_url, std::string run, int per_request, std::chrono::milliseconds pause)
        : base_(std::move(base_url)), run_(std::move(run)), per_(per_request), pause_(pause) {}
    ~Load() { stop(); }

    void start() {
        thread_ = std::thread([this] {
            while (!stop_) {
                int64_t from = next_;
                next_ += per_;
                auto r = http("POST",
                              base_ + "/delivery/push?from=" + std::to_string(from) + "&count=" + std::to_string(per_) +
                                  "&run=" + run_,
                              "", "", {}, 10000);
                {
                    std::lock_guard<std::mutex> lk(mu_);
                    if (r.status == 200) {
                        for (int64_t i = from; i < from + per_; ++i) acked_.insert(i);
                    } else if (r.status == 429) {
                        ++rejected_;
                        if (!r.header("retry-after").empty()) ++with_retry_after_;
                    } else {
                        ++failed_;
                    }
                }
                if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
            }
        });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::set<int64_t> acked() const {
        std::lock_guard<std::mutex> lk(mu_);
        return acked_;
    }
    int rejected() const {
        std::lock_guard<std::mutex> lk(mu_);
        return rejected_;
    }
    int with_retry_after() const {
        std::lock_guard<std::mutex> lk(mu_);
        return with_retry_after_;
    }
    int failed() const {
        std::lock_guard<std::mutex> lk(mu_);
        return failed_;
    }

  private:
    std::string base_, run_;
    int per_;
    std::chrono::milliseconds pause_;
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> next_{0};
    std::thread thread_;
    mutable std::mutex mu_;
    std::set<int64_t> acked_;
    int rejected_ = 0, with_retry_after_ = 0, failed_ = 0;
};

std::string base_url(const HostProcess &h) {
    std::string u = h.url("/");
    return u.substr(0, u.size() - 1);
}

std::string sink_config(const InfluxServer &influx, const std::string &spool_extra) {
    return "[[sinks]]\n"
           "name = \"influx\"\n"
           "type = \"influxdb\"\n"
           "url = \"" +
           influx.url() +
           "\"\n"
           "database = \"" +
           kDb +
           "\"\n"
           "timeout = \"2s\"\n"
           "[sinks.spool]\n"
           "retry_initial_ms = 100\n"
           "retry_max_ms = 1000\n" +
           spool_extra;
}

HostOptions host_options(const std::string &config, const std::string &input_table, const std::string &data_dir) {
    HostOptions o;
    o.config_text = config;
    o.conf_d["delivery.conf"] = input_table;
    o.plugins_dir = TRIB_DELIVERY_PLUGINS_DIR;
    o.data_dir = data_dir;
    return o;
}

// Value of the first /metrics sample whose line starts with `series` (name{labels}); -1 if none.
double metric(const HostProcess &h, const std::string &series) {
    auto r = http("GET", h.url("/metrics"));
    size_t pos = 0;
    while ((pos = r.body.find(series, pos)) != std::string::npos) {
        if (pos == 0 || r.body[pos - 1] == '\n') {
            size_t sp = r.body.find(' ', pos + series.size());
            return std::stod(r.body.substr(sp + 1, r.body.find('\n', sp) - sp - 1));
        }
        pos += series.size();
    }
    return -1;
}

uint64_t vm_hwm_kb(pid_t pid) { return trib::test::peak_rss_kb(pid); }

// Waits until InfluxDB holds every acknowledged number; reports what is missing if not.
void require_all_delivered(const InfluxServer &influx, const std::string &run, const std::set<int64_t> &acked,
                           std::chrono::milliseconds timeout) {
    std::set<int64_t> have;
    wait_until(
        [&] {
            have = influx.seqs(kDb, run);
            return std::includes(have.begin(), have.end(), acked.begin(), acked.end());
        },
        timeout, std::chrono::milliseconds(500));
    std::vector<int64_t> missing;
    std::set_difference(acked.begin(), acked.end(), have.begin(), have.end(), std::back_inserter(missing));
    INFO("last acknowledged " << (acked.empty() ? -1 : *acked.rbegin()) << ", last in InfluxDB "
                              << (have.empty() ? -1 : *have.rbegin()));
    INFO("acknowledged " << acked.size() << ", in InfluxDB " << have.size() << ", missing " << missing.size()
                         << (missing.empty() ? "" : " (first " + std::to_string(missing.front()) + ")"));
    REQUIRE(missing.empty());
}

const std::string kSinkSpoolMetric = "{owner=\"sink\",name=\"influx\"}";

} // namespace

TEST_CASE("delivery: InfluxDB stopped for 30 s under steady load, every 2xx point arrives", "[delivery][influxdb]") {
    InfluxServer influx;
    influx.start();
    TempDir data("trib-delivery");
    HostProcess host(
        host_options(sink_config(influx, "capacity_mb = 64\n"), "[[inputs.delivery_pusher]]\n", data.path()));
    Load load(base_url(host), "outage", 10, std::chrono::milliseconds(10));
    load.start();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    influx.stop();
    std::this_thread::sleep_for(std::chrono::seconds(30));
    CHECK(metric(host, "tributary_delivery_retries_total" + kSinkSpoolMetric) > 0);
    CHECK(metric(host, "tributary_spool_pending_bytes" + kSinkSpoolMetric) > 0);
    influx.start();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    load.stop();
    auto acked = load.acked();
    INFO("429s " << load.rejected() << ", failures " << load.failed());
    REQUIRE(acked.size() > 10000); // the load went on through the outage
    CHECK(load.failed() == 0);
    require_all_delivered(influx, "outage", acked, std::chrono::seconds(90));
    CHECK(wait_until([&] { return metric(host, "tributary_spool_pending_bytes" + kSinkSpoolMetric) == 0; },
                     std::chrono::seconds(20)));
}

TEST_CASE("delivery: kill -9 of the host mid-load, every acknowledged point arrives after restart",
          "[delivery][influxdb][kill]") {
    InfluxServer influx;
    influx.start();
    TempDir data("trib-delivery");
    // The input's io_config spool acknowledges a push only once it is on disk; the sink's
    // spool holds what InfluxDB has not taken yet.
    std::string input = "[[inputs.delivery_pusher]]\n"
                        "  [inputs.delivery_pusher.io_config]\n"
                        "    cache_capacity_mb = 64\n"
                        "    upload_workers = 2\n";
    HostProcess host(host_options(sink_config(influx, "capacity_mb = 64\n"), input, data.path()));
    std::set<int64_t> acked;
    {
        Load load(base_url(host), "kill", 20, std::chrono::milliseconds(0));
        load.start();
        std::this_thread::sleep_for(std::chrono::seconds(4));
        host.kill9();
        load.stop();
        acked = load.acked();
    }
    REQUIRE(acked.size() > 1000);
    host.restart();
    INFO("host log after restart:\n" << host.log());
    require_all_delivered(influx, "kill", acked, std::chrono::seconds(60));
}

TEST_CASE("delivery: a corrupted spool segment loses only its damaged record, which is counted",
          "[delivery][influxdb][corrupt]") {
    InfluxServer influx; // not started: everything stays in the spool
    TempDir data("trib-delivery");
    auto opts = host_options(sink_config(influx, "capacity_mb = 64\nsegment_mb = 0.0625\npath = \"spool/influx\"\n"),
                             "[[inputs.delivery_pusher]]\npad_bytes = 100\n", data.path());
    HostProcess host(opts);
    std::set<int64_t> acked;
    {
        Load load(base_url(host), "corrupt", 10, std::chrono::milliseconds(0));
        load.start();
        REQUIRE(wait_until([&] { return load.acked().size() >= 3000; }, std::chrono::seconds(60)));
        load.stop();
        acked = load.acked();
    }
    REQUIRE(wait_until(
        [&] { return metric(host, "tributary_spool_appended_records_total" + kSinkSpoolMetric) * 10 >= acked.size(); },
        std::chrono::seconds(20)));
    host.stop();

    std::vector<fs::path> segs;
    for (auto &e : fs::directory_iterator(data.sub("spool/influx")))
        if (e.path().extension() == ".seg") segs.push_back(e.path());
    std::sort(segs.begin(), segs.end());
    REQUIRE(segs.size() >= 3);
    {
        std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
        auto mid = static_cast<std::streamoff>(fs::file_size(segs[1]) / 2);
        f.seekg(mid);
        char c = 0;
        f.get(c);
        f.seekp(mid);
        f.put(static_cast<char>(c ^ 0x20));
    }
    influx.start();
    host.restart();
    auto have = influx.seqs(kDb, "corrupt");
    wait_until(
        [&] {
            have = influx.seqs(kDb, "corrupt");
            return have.size() + 10 >= acked.size();
        },
        std::chrono::seconds(60), std::chrono::milliseconds(500));
    CHECK(metric(host, "tributary_spool_quarantined_records_total" + kSinkSpoolMetric) == 1);
    std::vector<int64_t> missing;
    std::set_difference(acked.begin(), acked.end(), have.begin(), have.end(), std::back_inserter(missing));
    // Exactly one pushed batch (one spool record) is gone: ten consecutive numbers.
    REQUIRE(missing.size() == 10);
    CHECK(missing.back() - missing.front() == 9);
    CHECK(missing.front() % 10 == 0);
}

TEST_CASE("delivery: a full spool under reject answers 429 and loses nothing acknowledged",
          "[delivery][influxdb][full]") {
    InfluxServer influx; // down while the spool fills
    TempDir data("trib-delivery");
    std::string config = "[bus]\nmax_memory_mb = 4\n" + sink_config(influx, "capacity_mb = 1\npolicy = \"reject\"\n");
    HostProcess host(host_options(config, "[[inputs.delivery_pusher]]\npad_bytes = 1000\n", data.path()));
    Load load(base_url(host), "reject", 10, std::chrono::milliseconds(0));
    load.start();
    // The spool fills (appends refused), the router holds the batch, the bus fills: 429.
    bool saw_429 = wait_until(
        [&] {
            return load.rejected() > 20 &&
                   metric(host, "tributary_spool_rejected_appends_total" + kSinkSpoolMetric) > 0;
        },
        std::chrono::seconds(60));
    load.stop();
    REQUIRE(saw_429);
    CHECK(load.with_retry_after() == load.rejected());
    CHECK(http("GET", host.url("/health")).status == 200);
    uint64_t hwm = vm_hwm_kb(host.pid());
    INFO("host VmHWM " << hwm << " kB");
    CHECK(hwm < 200 * 1024);
    auto acked = load.acked();
    REQUIRE(!acked.empty());
    influx.start();
    require_all_delivered(influx, "reject", acked, std::chrono::seconds(60));
}

TEST_CASE("delivery: a full spool under drop_oldest counts its drops and the host stays up",
          "[delivery][influxdb][full]") {
    InfluxServer influx;
    TempDir data("trib-delivery");
    std::string config =
        "[bus]\nmax_memory_mb = 4\n" + sink_config(influx, "capacity_mb = 1\npolicy = \"drop_oldest\"\n");
    HostProcess host(host_options(config, "[[inputs.delivery_pusher]]\npad_bytes = 1000\n", data.path()));
    Load load(base_url(host), "drop", 10, std::chrono::milliseconds(0));
    load.start();
    // ~5 MB of acknowledged points into a 1 MB spool.
    REQUIRE(wait_until([&] { return load.acked().size() >= 5000; }, std::chrono::seconds(90)));
    load.stop();
    CHECK(http("GET", host.url("/health")).status == 200);
    double dropped = -1;
    REQUIRE(wait_until(
        [&] {
            dropped = metric(host, "tributary_spool_dropped_records_total" + kSinkSpoolMetric);
            return dropped > 0;
        },
        std::chrono::seconds(20)));
    uint64_t hwm = vm_hwm_kb(host.pid());
    INFO("host VmHWM " << hwm << " kB, dropped records " << dropped);
    CHECK(hwm < 200 * 1024);
    auto acked = load.acked();
    influx.start();
    // What was not dropped arrives: delivered + dropped (10 points per record) = acknowledged.
    // The bus may still hold batches the spool has not taken yet: wait for the books to close.
    std::set<int64_t> have;
    wait_until(
        [&] {
            have = influx.seqs(kDb, "drop");
            dropped = metric(host, "tributary_spool_dropped_records_total" + kSinkSpoolMetric);
            return have.size() + static_cast<size_t>(dropped) * 10 >= acked.size();
        },
        std::chrono::seconds(60), std::chrono::milliseconds(500));
    std::vector<int64_t> extra;
    std::set_difference(have.begin(), have.end(), acked.begin(), acked.end(), std::back_inserter(extra));
    INFO("delivered " << have.size() << " (not acknowledged: " << extra.size() << "), dropped records " << dropped
                      << ", acknowledged " << acked.size() << ", 429s " << load.rejected() << ", failures "
                      << load.failed());
    CHECK(extra.empty());
    CHECK(have.size() + static_cast<size_t>(dropped) * 10 == acked.size());
    // The newest points survive.
    CHECK(have.count(*acked.rbegin()) == 1);
}
