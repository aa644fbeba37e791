// Leader election on etcd 3.4 through its JSON gateway (spec/etcd_election.md §1, §3).
//
// One thread per election runs the whole protocol: lease grant, keep-alive every TTL/3,
// a candidate key `<namespace>/<lease id hex>` created with the lease, and a watch on the
// key just before ours (lower create_revision). The lowest create_revision leads.
// Fencing by time: leadership ends at t_send(last good keep-alive) + TTL - margin, checked
// both by the thread and by is_leader() itself, so a leader cut off from etcd stops before
// its lease can expire and another host takes over.
#pragma once

#include "election/election.hpp"
#include "spool/upstream_http.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib::core {

struct EtcdElectionOptions {
    // Client URLs of the etcd cluster, e.g. "http://127.0.0.1:2379" or "https://...". Tried in turn.
    std::vector<std::string> endpoints;
    // For https endpoints: CA file, client certificate, insecure_skip_verify.
    UpstreamTls tls;
    // etcd auth (user/password): POST /v3/auth/authenticate gives a token sent as the
    // Authorization header; taken again when etcd calls it invalid. Never logged.
    std::string username;
    std::string password;
    // Election name; candidate keys live under "<name_space>/".
    std::string name_space = "tributary";
    // Lease TTL; etcd counts whole seconds, so it is rounded up (and etcd may raise it).
    std::chrono::milliseconds lease_ttl{std::chrono::seconds(5)};
    // Host names allowed to lead. Empty: every host may. A host not listed never campaigns.
    std::vector<std::string> whitelist;
    // This host's name, matched against the whitelist. Empty: gethostname().
    std::string host_name;
    // Stored as the candidate key's value so everyone can tell who leads. Empty:
    // "<host_name>:<pid>".
    std::string node_id;
    // Optional diagnostics sink: level is "debug", "info", "warn" or "error".
    std::function<void(const std::string &level, const std::string &message)> log;
};

// Throws std::invalid_argument for unusable options (no endpoints, a URL that is not
// http(s)://host:port, an empty namespace, a TTL under one second, a password without a user).
void validate(const EtcdElectionOptions &options);

class EtcdElection final : public Election {
  public:
    explicit EtcdElection(EtcdElectionOptions options);
    ~EtcdElection() override;
    EtcdElection(const EtcdElection &) = delete;
    EtcdElection &operator=(const EtcdElection &) = delete;

    void start(std::function<void(bool is_leader)> on_change) override;
    void stop() override;
    bool is_leader() const override;
    std::string role() const override;
    std::string backend() const override { return "etcd"; }

    // node_id of the current leader as last observed ("" when unknown / none).
    std::string leader_node() const;
    // This host's node_id (the value it writes when campaigning).
    const std::string &node_id() const { return options_.node_id; }
    // Whether this host is on the whitelist (and therefore campaigns at all).
    bool eligible() const { return eligible_; }
    // Number of times this host became leader since start().
    std::uint64_t terms_won() const { return terms_won_.load(); }

  private:
    class Gateway;
    struct Lease;

    void run();
    void run_observer();
    // One pass of the candidate loop; returns when the caller should loop again.
    void campaign_step();
    bool ensure_lease();
    bool ensure_key();
    void keep_alive_if_due();
    void drop_lease(bool revoke);
    void observe_leader();
    void wait_for_delete(const std::string &key, std::int64_t from_revision);
    void set_leader(bool leading);
    void set_role(const char *role);
    void sleep_until(std::chrono::steady_clock::time_point until);
    std::chrono::milliseconds request_timeout() const;
    void log(const char *level, const std::string &message) const;
    // Reachability changes are logged once (warn / info); repeats go to debug.
    void note_etcd_failure(const std::string &what);
    void note_etcd_answered();

    EtcdElectionOptions options_;
    bool eligible_ = true;
    std::chrono::milliseconds retry_interval_{};
    bool etcd_failing_ = false; // election thread only
    std::unique_ptr<Gateway> gateway_;
    std::unique_ptr<Lease> lease_;

    std::function<void(bool)> on_change_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    mutable std::mutex wake_mutex_;
    std::condition_variable wake_;

    // Leadership as published: leading_ plus a fence (steady_clock ns) past which the claim
    // lapses even if the thread is blocked.
    std::atomic<bool> leading_{false};
    std::atomic<std::int64_t> fence_ns_{0};
    bool notified_leading_ = false;
    std::atomic<std::uint64_t> terms_won_{0};
    mutable std::mutex state_mutex_;
    std::string role_ = "stopped";
    std::string leader_node_;
};

} // namespace trib::core
