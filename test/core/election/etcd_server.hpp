// A real single-member etcd (Debian's etcd-server) on free loopback ports with its own data
// dir, for election tests. stop()/start() keep the data dir and ports, so a restart brings
// back the same cluster (leases included), as an operator restarting etcd would.
#pragma once

#include <trib_test/support.hpp>

#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>

namespace trib::test {

class EtcdServer {
  public:
    EtcdServer()
        : dir_("trib-etcd"), client_port_(free_port()), peer_port_(free_port()) {
        start();
    }
    ~EtcdServer() { stop(); }
    EtcdServer(const EtcdServer&) = delete;
    EtcdServer& operator=(const EtcdServer&) = delete;

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
    int client_port() const { return client_port_; }

    void start() {
        if (process_ && process_->running()) return;
        const std::string client = endpoint();
        const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
        ChildOptions options;
        // Short raft timings: a single member elects itself within a few hundred ms, and
        // the lease minimum (1.5 x election timeout) drops to 1 s.
        options.argv = {"etcd",
                        "--name", "trib-test",
                        "--data-dir", dir_.sub("data"),
                        "--listen-client-urls", client,
                        "--advertise-client-urls", client,
                        "--listen-peer-urls", peer,
                        "--initial-advertise-peer-urls", peer,
                        "--initial-cluster", "trib-test=" + peer,
                        "--heartbeat-interval", "50",
                        "--election-timeout", "500",
                        "--log-level", "warn"};
        options.log_path = dir_.sub("etcd.log");
        process_ = std::make_unique<ChildProcess>(options);
        const bool healthy = wait_until(
            [&] {
                if (!process_->running()) return true;
                auto answer = http("GET", client + "/health", "", "", {}, 1000);
                return answer.status == 200 &&
                       answer.body.find("\"true\"") != std::string::npos;
            },
            std::chrono::seconds(20), std::chrono::milliseconds(50));
        if (!healthy || !process_->running())
            throw std::runtime_error("etcd did not become healthy:\n" + process_->log());
    }

    // kill -9: no goodbye to clients, as a crash or a pulled cable.
    void kill() {
        if (process_) process_->stop(SIGKILL, std::chrono::milliseconds(5000));
    }
    void stop() {
        if (process_) process_->stop(SIGTERM, std::chrono::milliseconds(10000));
    }
    // SIGSTOP/SIGCONT: etcd keeps its sockets but answers nothing (a hung server).
    void freeze() { process_->signal(SIGSTOP); }
    void thaw() { process_->signal(SIGCONT); }

    std::string log() const { return process_ ? process_->log() : std::string(); }

    // POST to the JSON gateway; throws when etcd does not answer 200.
    std::string post(const std::string& path, const std::string& body) const {
        auto answer = http("POST", endpoint() + path, body, "application/json", {}, 5000);
        if (answer.status != 200)
            throw std::runtime_error("etcd " + path + " -> " + std::to_string(answer.status) +
                                     ": " + answer.body);
        return answer.body;
    }

  private:
    TempDir dir_;
    int client_port_;
    int peer_port_;
    std::unique_ptr<ChildProcess> process_;
};

} // namespace trib::test
