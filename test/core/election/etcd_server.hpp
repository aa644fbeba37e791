// Real etcd (Debian's etcd-server) on free loopback ports with its own data dirs, for
// election tests: one member (EtcdServer) or several (EtcdCluster). stop()/start() keep the
// data dir and ports, so a restart brings back the same cluster (leases included), as an
// operator restarting etcd would.
#pragma once

#include <trib_test/support.hpp>

#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace trib::test {

class EtcdMember {
  public:
    EtcdMember(std::string name, int client_port, int peer_port, std::string initial_cluster)
        : name_(std::move(name)), dir_("trib-etcd-" + name_), client_port_(client_port), peer_port_(peer_port),
          initial_cluster_(std::move(initial_cluster)) {}
    ~EtcdMember() { stop(); }
    EtcdMember(const EtcdMember &) = delete;
    EtcdMember &operator=(const EtcdMember &) = delete;

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
    std::string peer_url() const { return "http://127.0.0.1:" + std::to_string(peer_port_); }

    // Starts the process; wait_healthy() separately (members of a new cluster need each other).
    void launch() {
        if (process_ && process_->running()) return;
        ChildOptions options;
        // Short raft timings: a leader is elected within a few hundred ms, and the lease
        // minimum (1.5 x election timeout) drops to 1 s.
        options.argv = {"etcd",
                        "--name",
                        name_,
                        "--data-dir",
                        dir_.sub("data"),
                        "--listen-client-urls",
                        endpoint(),
                        "--advertise-client-urls",
                        endpoint(),
                        "--listen-peer-urls",
                        peer_url(),
                        "--initial-advertise-peer-urls",
                        peer_url(),
                        "--initial-cluster",
                        initial_cluster_,
                        "--initial-cluster-token",
                        "trib-test",
                        "--heartbeat-interval",
                        "50",
                        "--election-timeout",
                        "500",
                        "--log-level",
                        "warn"};
        options.log_path = dir_.sub("etcd.log");
        process_ = std::make_unique<ChildProcess>(options);
    }
    void wait_healthy() {
        const bool healthy = wait_until(
            [&] {
                if (!process_->running()) return true;
                auto answer = http("GET", endpoint() + "/health", "", "", {}, 1000);
                return answer.status == 200 && answer.body.find("\"true\"") != std::string::npos;
            },
            std::chrono::seconds(20), std::chrono::milliseconds(50));
        if (!healthy || !process_->running())
            throw std::runtime_error("etcd " + name_ + " did not become healthy:\n" + process_->log());
    }
    void start() {
        launch();
        wait_healthy();
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
    std::string post(const std::string &path, const std::string &body) const {
        auto answer = http("POST", endpoint() + path, body, "application/json", {}, 5000);
        if (answer.status != 200)
            throw std::runtime_error("etcd " + path + " -> " + std::to_string(answer.status) + ": " + answer.body);
        return answer.body;
    }

  private:
    std::string name_;
    TempDir dir_;
    int client_port_;
    int peer_port_;
    std::string initial_cluster_;
    std::unique_ptr<ChildProcess> process_;
};

// A single-member cluster.
class EtcdServer : public EtcdMember {
  public:
    EtcdServer() : EtcdServer(free_port()) {}

  private:
    explicit EtcdServer(int peer_port)
        : EtcdMember("solo", free_port(), peer_port, "solo=http://127.0.0.1:" + std::to_string(peer_port)) {
        start();
    }
};

// A cluster of `size` members, all started.
class EtcdCluster {
  public:
    explicit EtcdCluster(int size) {
        std::vector<std::pair<int, int>> ports;
        std::string initial;
        for (int i = 0; i < size; ++i) {
            ports.emplace_back(free_port(), free_port());
            initial += (i ? "," : "") + std::string("m") + std::to_string(i) +
                       "=http://127.0.0.1:" + std::to_string(ports.back().second);
        }
        for (int i = 0; i < size; ++i)
            members_.push_back(
                std::make_unique<EtcdMember>("m" + std::to_string(i), ports[i].first, ports[i].second, initial));
        for (auto &m : members_) m->launch();
        for (auto &m : members_) m->wait_healthy();
    }
    EtcdMember &member(int i) { return *members_.at(i); }
    std::vector<std::string> endpoints() const {
        std::vector<std::string> out;
        for (auto &m : members_) out.push_back(m->endpoint());
        return out;
    }

  private:
    std::vector<std::unique_ptr<EtcdMember>> members_;
};

} // namespace trib::test
