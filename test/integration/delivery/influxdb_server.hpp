// A real InfluxDB 1.x (Debian's influxd) on free loopback ports with its data in a temp dir,
// started and stopped by the test (and killed by the destructor at the latest).
#pragma once

#include <trib_test/support.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <set>
#include <stdexcept>
#include <string>

namespace delivery_test {

class InfluxServer {
  public:
    InfluxServer() : dir_("trib-influx"), http_port_(trib::test::free_port()), rpc_port_(trib::test::free_port()) {
        trib::test::write_file(dir_.sub("influxdb.conf"),
                               "reporting-disabled = true\n"
                               "bind-address = \"127.0.0.1:" +
                                   std::to_string(rpc_port_) +
                                   "\"\n"
                                   "[meta]\n  dir = \"" +
                                   dir_.sub("meta") +
                                   "\"\n"
                                   "[data]\n  dir = \"" +
                                   dir_.sub("data") + "\"\n  wal-dir = \"" + dir_.sub("wal") +
                                   "\"\n"
                                   "  query-log-enabled = false\n"
                                   "[coordinator]\n  max-select-point = 0\n  max-select-series = 0\n"
                                   "[http]\n  enabled = true\n  bind-address = \"127.0.0.1:" +
                                   std::to_string(http_port_) +
                                   "\"\n"
                                   "  log-enabled = false\n  max-row-limit = 0\n"
                                   "[monitor]\n  store-enabled = false\n"
                                   "[continuous_queries]\n  enabled = false\n");
    }
    ~InfluxServer() { stop(); }

    void start() {
        if (proc_ && proc_->running()) return;
        proc_ = std::make_unique<trib::test::ChildProcess>(trib::test::ChildOptions{
            {"influxd", "-config", dir_.sub("influxdb.conf")}, {}, false, "", dir_.sub("influxd.log")});
        bool up = trib::test::wait_until(
            [&] { return trib::test::http("GET", url("/ping"), "", "", {}, 1000).status == 204; },
            std::chrono::milliseconds(30000));
        if (!up) throw std::runtime_error("influxd did not come up:\n" + proc_->log());
    }
    void stop() {
        if (proc_) proc_->stop(SIGTERM, std::chrono::milliseconds(10000));
        proc_.reset();
    }
    bool running() const { return proc_ != nullptr; }

    int port() const { return http_port_; }
    std::string url(const std::string &path = "") const {
        return "http://127.0.0.1:" + std::to_string(http_port_) + path;
    }

    nlohmann::json query(const std::string &db, const std::string &q) const {
        std::string body = "db=" + encode(db) + "&q=" + encode(q);
        auto r = trib::test::http("POST", url("/query"), body, "application/x-www-form-urlencoded", {}, 30000);
        if (r.status != 200)
            throw std::runtime_error("influx query failed: " + std::to_string(r.status) + " " + r.body);
        return nlohmann::json::parse(r.body);
    }

    // Every `seq` value of measurement delivery_load with tag run=<run> (empty set when the
    // database or measurement does not exist yet).
    std::set<int64_t> seqs(const std::string &db, const std::string &run) const {
        std::set<int64_t> out;
        auto j = query(db, "SELECT seq FROM delivery_load WHERE \"run\" = '" + run + "'");
        auto &res = j["results"][0];
        if (!res.contains("series")) return out;
        for (auto &row : res["series"][0]["values"]) out.insert(row[1].get<int64_t>());
        return out;
    }

  private:
    static std::string encode(const std::string &s) {
        static const char hex[] = "0123456789ABCDEF";
        std::string o;
        for (unsigned char c : s) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.') o.push_back(static_cast<char>(c));
            else {
                o.push_back('%');
                o.push_back(hex[c >> 4]);
                o.push_back(hex[c & 15]);
            }
        }
        return o;
    }
    trib::test::TempDir dir_;
    int http_port_, rpc_port_;
    std::unique_ptr<trib::test::ChildProcess> proc_;
};

} // namespace delivery_test
