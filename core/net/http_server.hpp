// The host's one HTTP listener, shared by every module through route registration.
// Connections wait in ConnectionFront (no thread) until their request header is complete,
// then Poco serves them on a worker. Keep-alive; the whole body is read into one buffer
// (chunked bodies joined), reserved in the host's MemoryBudget while it is held (429 +
// Retry-After when the budget is spent, 413 when the body alone exceeds it); a route's body
// limit answers 413 before the handler; unknown paths 404, wrong methods 405.
// Built-in routes (/health, /metrics) come from a callback.
//
// Security (README "Security"): optional TLS on the TCP listener ([http] tls_*, certificates
// re-read by reload_tls() without closing it), an optional Unix-socket listener beside or
// instead of TCP, per-route access policies (the owning instance's auth_tokens/allow_cidrs:
// 403 outside the allow-list, 401 without a token, before the body is read) and admin
// tokens on /metrics and every /-/ path. /health is always open.
#pragma once

#include "bus/memory_budget.hpp"
#include "config/config.hpp"
#include "net/access_control.hpp"
#include "net/connection_front.hpp"
#include "net/tls_server.hpp"

#include <tributary/plugin.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace trib::core {

struct Route {
    std::string method; // empty = any
    std::string path;
    bool prefix = false; // path is a prefix ending in '/' (ABI 1.3 TRIB_ROUTE_PATH_PREFIX)
    uint64_t max_body_bytes = 0;
    trib_http_handler_fn handler = nullptr;
    void *user = nullptr;
    std::string owner;                          // "<module>/<instance>"
    std::shared_ptr<const AccessPolicy> access; // the owner's; null = open
};

// A module's trib_http_route as the host keeps it; fields past its struct_size are absent
// (a module built for an older minor has no flags: exact path). false with err when the
// struct is too small or its flags are unknown.
bool route_from_abi(const trib_http_route &in, Route &out, std::string &err);

struct BuiltinResponse {
    int status = 200;
    std::string content_type;
    std::string body;
};
using BuiltinHandler =
    std::function<std::optional<BuiltinResponse>(const std::string &method, const std::string &path)>;

// Counts module handlers running at once ([http] max_active_handlers).
class HandlerSlots {
  public:
    explicit HandlerSlots(size_t limit) : limit_(limit) {}
    // false when none came free before `deadline`.
    bool acquire(std::chrono::steady_clock::time_point deadline);
    void release();
    size_t limit() const { return limit_; }
    size_t waiting() const { return waiting_.load(); }

  private:
    const size_t limit_;
    size_t active_ = 0;
    std::atomic<size_t> waiting_{0};
    std::mutex mu_;
    std::condition_variable cv_;
};

struct HttpStats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> status_404{0};
    std::atomic<uint64_t> status_413{0};
    std::atomic<uint64_t> status_429{0};
    std::atomic<uint64_t> status_401{0}; // no or wrong token
    std::atomic<uint64_t> status_403{0}; // source address not allowed
    std::atomic<uint64_t> status_5xx{0};
    std::atomic<uint64_t> handler_wait_timeouts{0}; // 503: no handler slot within read_timeout
    std::atomic<uint64_t> body_bytes{0};
};

class HttpServer {
  public:
    // budget may be null (no bound on bodies in flight). An empty host: no TCP listener
    // (config.listen_unix only).
    HttpServer(std::string host, uint16_t port, HttpListenerConfig config, MemoryBudget *budget,
               BuiltinHandler builtin);
    ~HttpServer();

    // Binds and starts; throws std::runtime_error naming the address (or TLS file) on failure.
    void start();
    // Re-reads the TLS certificate, key and client CA named in `tls` for new connections;
    // open connections and the listening socket are untouched. False with `err` (the old
    // certificate stays) when the files are unusable or TLS was not on at start.
    bool reload_tls(const HttpTlsConfig &tls, std::string &err);
    // Stops accepting and closes connections (waits a little for running handlers).
    void stop();

    // false with err when method+path is taken.
    bool add_route(const Route &route, std::string &err);
    // Removes every route of `owner`, then waits until none of its handlers still runs.
    void remove_routes(const std::string &owner);

    const HttpStats &stats() const { return stats_; }
    // Null before start().
    const ConnectionStats *connection_stats() const { return front_ ? &front_->stats() : nullptr; }
    uint16_t port() const { return port_; }
    bool tls_enabled() const { return tls_ != nullptr; }

    // Used by the request handler. An exact route's path wins; else the longest prefix route.
    std::shared_ptr<const Route> find(const std::string &method, const std::string &path, bool &path_known,
                                      std::string &allowed) const;
    const BuiltinHandler &builtin() const { return builtin_; }
    uint64_t default_max_body() const { return config_.max_body_bytes; }
    MemoryBudget *budget() const { return budget_; }
    HandlerSlots &handler_slots() { return slots_; }
    const HandlerSlots &handler_slots() const { return slots_; }
    std::chrono::milliseconds handler_wait() const { return config_.read_timeout; }
    HttpStats &mutable_stats() { return stats_; }
    const AccessPolicy *admin_policy() const { return config_.admin.get(); }

  private:
    std::string host_;
    uint16_t port_;
    HttpListenerConfig config_;
    MemoryBudget *budget_;
    BuiltinHandler builtin_;
    HandlerSlots slots_;
    mutable std::shared_mutex mu_;
    std::map<std::string, std::vector<std::shared_ptr<const Route>>> routes_;        // by path
    std::map<std::string, std::vector<std::shared_ptr<const Route>>> prefix_routes_; // by prefix
    std::unique_ptr<TlsServerContext> tls_;
    std::unique_ptr<ConnectionFront> front_;
    HttpStats stats_;
};

} // namespace trib::core
