// The gRPC server: one port serving v1.Agent, v1.Metadata, v1.Span, v1.Stat and
// v1.ProfilerCommandService with the callback API. Methods are registered "raw" (payloads
// as bytes) so the collector parses them itself: a malformed message is the client's
// INVALID_ARGUMENT, never the library's INTERNAL.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "collector.hpp"

namespace grpc {
class Server;
}

namespace trib::pinpoint {

using Dispatch = std::function<Outcome(MessageKind, std::string_view, const std::shared_ptr<const CallHeaders> &)>;
// Whether the host takes points again (Collector::host_ready); null = never wait for it.
using HostReady = std::function<bool()>;

class GrpcServer {
  public:
    // A stream whose message met host backpressure (Outcome::host_busy) stops reading — HTTP/2
    // flow control then holds the agent back — and goes on once `host_ready` says so; after
    // kHostBusyHoldMs of waiting it ends in RESOURCE_EXHAUSTED.
    GrpcServer(const Config &cfg, Dispatch dispatch, Collector::LogFn log, HostReady host_ready = nullptr);
    static constexpr int kHostBusyHoldMs = 2000;
    ~GrpcServer();
    GrpcServer(const GrpcServer &) = delete;
    GrpcServer &operator=(const GrpcServer &) = delete;

    // Binds `cfg.address`; throws std::runtime_error when it cannot.
    void start();
    // Stops accepting, lets running calls finish for up to `grace_ms`, then cancels the
    // rest (held ping and command streams) and waits for them.
    void stop(int grace_ms = 2000);
    int port() const { return port_; }         // 0 when `address` is empty
    int tls_port() const { return tls_port_; } // 0 without TLS

    struct Services;

  private:
    const Config &cfg_;
    std::unique_ptr<Services> services_;
    std::unique_ptr<grpc::Server> server_;
    int port_ = 0;
    int tls_port_ = 0;
};

// Who may send: allow_cidrs on the peer ("ipv4:1.2.3.4:5"), then (with needs_headers) the
// required headers and allow_applications / allow_agent_ids. PERMISSION_DENIED outside.
Outcome admit_call(const Config &cfg, const std::string &peer, const std::multimap<std::string, std::string> &md,
                   CallHeaders &h, bool needs_headers);

// Validates the call headers Pinpoint requires (agentid, applicationname).
// Returns an INVALID_ARGUMENT outcome on failure.
Outcome read_headers(const std::multimap<std::string, std::string> &md, CallHeaders &out);

} // namespace trib::pinpoint
