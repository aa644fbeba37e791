#include "server.hpp"

#include <fstream>
#include <sstream>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/support/byte_buffer.h>

#include <map>
#include <mutex>

#include "v1/Service.grpc.pb.h"

namespace trib::pinpoint {
namespace {

grpc::Status to_status(const Outcome &o) {
    switch (o.code) {
    case Outcome::ok: return grpc::Status::OK;
    case Outcome::invalid_argument: return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, o.message);
    case Outcome::resource_exhausted: return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, o.message);
    case Outcome::unimplemented: return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, o.message);
    case Outcome::permission_denied: return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, o.message);
    }
    return grpc::Status(grpc::StatusCode::UNKNOWN, o.message);
}

// Into `out`, reusing its capacity (a stream's reader keeps one buffer for all its messages).
void flatten_into(const grpc::ByteBuffer &b, std::string &out) {
    out.clear();
    std::vector<grpc::Slice> slices;
    if (!b.Valid() || !b.Dump(&slices).ok()) return;
    out.reserve(b.Length());
    for (auto &s : slices) out.append(reinterpret_cast<const char *>(s.begin()), s.size());
}

std::string flatten(const grpc::ByteBuffer &b) {
    std::string out;
    flatten_into(b, out);
    return out;
}

void put_bytes(grpc::ByteBuffer *out, const std::string &bytes) {
    grpc::Slice s(bytes);
    *out = grpc::ByteBuffer(&s, 1);
}

std::string serialize(const google::protobuf::Message &m) { return m.SerializeAsString(); }

bool valid_id(std::string_view s, size_t max_len) {
    if (s.empty() || s.size() > max_len) return false;
    for (char c : s)
        if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) return false;
    return true;
}

std::multimap<std::string, std::string> metadata_of(grpc::CallbackServerContext *ctx) {
    std::multimap<std::string, std::string> md;
    for (auto &kv : ctx->client_metadata())
        md.emplace(std::string(kv.first.data(), kv.first.size()), std::string(kv.second.data(), kv.second.size()));
    return md;
}

} // namespace

Outcome read_headers(const std::multimap<std::string, std::string> &md, CallHeaders &h) {
    auto get = [&](const char *k) -> const std::string * {
        auto it = md.find(k);
        return it == md.end() ? nullptr : &it->second;
    };
    const std::string *agent = get("agentid"), *app = get("applicationname");
    if (!agent || agent->empty()) return Outcome::Invalid("agentid header is missing");
    if (!app || app->empty()) return Outcome::Invalid("applicationname header is missing");
    // Pinpoint agents keep ids within 24 of [a-zA-Z0-9._-]; be lenient on length only.
    if (!valid_id(*agent, 255)) return Outcome::Invalid("invalid agentid: " + agent->substr(0, 64));
    if (!valid_id(*app, 255)) return Outcome::Invalid("invalid applicationname: " + app->substr(0, 64));
    h.agent_id = *agent;
    h.application_name = *app;
    if (auto *n = get("agentname")) h.agent_name = n->substr(0, 255);
    if (auto *s = get("starttime")) {
        char *end = nullptr;
        long long v = std::strtoll(s->c_str(), &end, 10);
        if (end && *end == '\0') h.agent_start_time = v;
    }
    return Outcome::Ok();
}

Outcome admit_call(const Config &cfg, const std::string &peer, const std::multimap<std::string, std::string> &md,
                   CallHeaders &h, bool needs_headers) {
    if (!cfg.allow_cidrs.allows(access::host_of_peer(peer)))
        return Outcome::Denied("address " + access::host_of_peer(peer) + " is not allowed (allow_cidrs)");
    if (!needs_headers) return Outcome::Ok();
    Outcome o = read_headers(md, h);
    if (o.code != Outcome::ok) return o;
    if (!cfg.allow_applications.empty() && !cfg.allow_applications.count(h.application_name))
        return Outcome::Denied("applicationname " + h.application_name + " is not allowed (allow_applications)");
    if (!cfg.allow_agent_ids.empty() && !cfg.allow_agent_ids.count(h.agent_id))
        return Outcome::Denied("agentid " + h.agent_id + " is not allowed (allow_agent_ids)");
    return Outcome::Ok();
}

// ---------------------------------------------------------------- reactors

namespace {

// Every call passes here first: who may send (allow_cidrs, allow_applications,
// allow_agent_ids), then the headers Pinpoint requires.
Outcome admit(const Config &cfg, grpc::CallbackServerContext *ctx, CallHeaders &h, bool needs_headers = true) {
    return admit_call(cfg, ctx->peer(), metadata_of(ctx), h, needs_headers);
}

// Client stream of messages of one kind, answered with google.protobuf.Empty at EOF. When
// the host is busy the stream pauses (no read, so flow control slows the agent) and polls
// `host_ready`, instead of failing at the first full bus.
class ReadAll : public grpc::ServerReadReactor<grpc::ByteBuffer> {
  public:
    ReadAll(const Config &cfg, grpc::CallbackServerContext *ctx, grpc::ByteBuffer *response, const Dispatch *dispatch,
            MessageKind kind, bool needs_headers, const HostReady *host_ready = nullptr)
        : ctx_(ctx), response_(response), dispatch_(dispatch), host_ready_(host_ready), kind_(kind) {
        auto h = std::make_shared<CallHeaders>();
        Outcome o = admit(cfg, ctx, *h, needs_headers);
        if (o.code != Outcome::ok) {
            Finish(to_status(o));
            return;
        }
        headers_ = std::move(h);
        StartRead(&buf_);
    }
    void OnReadDone(bool ok) override {
        if (!ok) { // client half-closed (or the call was cancelled)
            put_bytes(response_, std::string());
            Finish(grpc::Status::OK);
            return;
        }
        if (dispatch_) {
            flatten_into(buf_, bytes_);
            buf_.Clear();
            if (!deliver()) return;
        }
        StartRead(&buf_);
    }
    void OnDone() override { delete this; }

  private:
    static constexpr auto kPoll = std::chrono::milliseconds(20);

    // Hands bytes_ in; false when the call finished or waits for the host.
    bool deliver() {
        Outcome o = (*dispatch_)(kind_, bytes_, headers_);
        if (o.code == Outcome::ok) {
            holding_ = false;
            return true;
        }
        if (o.host_busy && host_ready_ && *host_ready_) {
            const auto now = std::chrono::steady_clock::now();
            if (!holding_) hold_started_ = now;
            holding_ = true;
            if (now - hold_started_ < std::chrono::milliseconds(GrpcServer::kHostBusyHoldMs)) {
                redeliver_ = !o.consumed;
                wait_for_host();
                return false;
            }
        }
        Finish(to_status(o));
        return false;
    }
    void wait_for_host() {
        alarm_.Set(std::chrono::system_clock::now() + kPoll, [this](bool) { on_alarm(); });
    }
    void on_alarm() {
        if (ctx_->IsCancelled()) {
            Finish(grpc::Status::CANCELLED);
            return;
        }
        if (!(*host_ready_)()) {
            if (std::chrono::steady_clock::now() - hold_started_ >=
                std::chrono::milliseconds(GrpcServer::kHostBusyHoldMs)) {
                Finish(to_status(Outcome::HostBusy()));
                return;
            }
            wait_for_host();
            return;
        }
        if (redeliver_ && !deliver()) return;
        holding_ = false;
        StartRead(&buf_);
    }

    grpc::CallbackServerContext *ctx_;
    grpc::ByteBuffer *response_;
    const Dispatch *dispatch_;
    const HostReady *host_ready_;
    MessageKind kind_;
    std::shared_ptr<const CallHeaders> headers_;
    grpc::ByteBuffer buf_;
    std::string bytes_;
    grpc::Alarm alarm_;
    bool holding_ = false, redeliver_ = false;
    std::chrono::steady_clock::time_point hold_started_;
};

// v1.Agent/PingSession: an empty PPing back for every ping; open until the client closes.
class PingSession : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    PingSession(const Config &cfg, grpc::CallbackServerContext *ctx) {
        CallHeaders h;
        Outcome o = admit(cfg, ctx, h);
        if (o.code != Outcome::ok) {
            Finish(to_status(o));
            return;
        }
        put_bytes(&pong_, std::string()); // PPing has no fields
        StartRead(&in_);
    }
    void OnReadDone(bool ok) override {
        std::lock_guard<std::mutex> g(mu_);
        if (!ok) {
            read_closed_ = true;
            if (!writing_) finish_locked();
            return;
        }
        if (writing_) ++owed_;
        else start_write_locked();
        StartRead(&in_);
    }
    void OnWriteDone(bool ok) override {
        std::lock_guard<std::mutex> g(mu_);
        writing_ = false;
        if (ok && owed_ > 0) {
            --owed_;
            start_write_locked();
            return;
        }
        if (read_closed_ || !ok) finish_locked();
    }
    void OnDone() override { delete this; }

  private:
    void start_write_locked() {
        writing_ = true;
        StartWrite(&pong_);
    }
    void finish_locked() {
        if (finished_) return;
        finished_ = true;
        Finish(grpc::Status::OK);
    }
    std::mutex mu_;
    grpc::ByteBuffer in_, pong_;
    bool writing_ = false, read_closed_ = false, finished_ = false;
    uint64_t owed_ = 0;
};

// v1.ProfilerCommandService/HandleCommand(V2): take the handshake and hold the stream
// (this collector sends no commands) until the client closes it.
class CommandChannel : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
  public:
    CommandChannel(const Config &cfg, grpc::CallbackServerContext *ctx) {
        CallHeaders h;
        Outcome o = admit(cfg, ctx, h);
        if (o.code != Outcome::ok) {
            Finish(to_status(o));
            return;
        }
        StartRead(&in_);
    }
    void OnReadDone(bool ok) override {
        if (!ok) {
            Finish(grpc::Status::OK);
            return;
        }
        v1::PCmdMessage m;
        std::string bytes = flatten(in_);
        if (!m.ParseFromString(bytes)) {
            Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed PCmdMessage"));
            return;
        }
        StartRead(&in_);
    }
    void OnDone() override { delete this; }

  private:
    grpc::ByteBuffer in_;
};

grpc::ServerUnaryReactor *unary(const Config &cfg, grpc::CallbackServerContext *ctx, const grpc::ByteBuffer *req,
                                grpc::ByteBuffer *resp, const Dispatch &dispatch, MessageKind kind) {
    auto *r = ctx->DefaultReactor();
    auto h = std::make_shared<CallHeaders>();
    Outcome o = admit(cfg, ctx, *h);
    if (o.code == Outcome::ok) o = dispatch(kind, flatten(*req), h);
    if (o.code != Outcome::ok) {
        r->Finish(to_status(o));
        return r;
    }
    v1::PResult result;
    result.set_success(true);
    result.set_message("ok");
    put_bytes(resp, serialize(result));
    r->Finish(grpc::Status::OK);
    return r;
}

// Command replies: validated for shape, answered with Empty.
template <class M>
grpc::ServerUnaryReactor *command_reply(const Config &cfg, grpc::CallbackServerContext *ctx,
                                        const grpc::ByteBuffer *req, grpc::ByteBuffer *resp, const char *what) {
    auto *r = ctx->DefaultReactor();
    CallHeaders h;
    if (Outcome o = admit(cfg, ctx, h, false); o.code != Outcome::ok) {
        r->Finish(to_status(o));
        return r;
    }
    M m;
    if (!m.ParseFromString(flatten(*req))) {
        r->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string("malformed ") + what));
        return r;
    }
    put_bytes(resp, std::string());
    r->Finish(grpc::Status::OK);
    return r;
}

} // namespace

// ---------------------------------------------------------------- services

struct GrpcServer::Services {
    Dispatch dispatch;
    HostReady host_ready;

    struct SpanSvc
        : v1::Span::WithRawCallbackMethod_SendSpan<v1::Span::WithRawCallbackMethod_SendSpanBatch<v1::Span::Service>> {
        const Dispatch *d = nullptr;
        const HostReady *ready = nullptr;
        const Config *cfg = nullptr;
        grpc::ServerReadReactor<grpc::ByteBuffer> *SendSpan(grpc::CallbackServerContext *ctx,
                                                            grpc::ByteBuffer *resp) override {
            return new ReadAll(*cfg, ctx, resp, d, MessageKind::span_message, true, ready);
        }
        grpc::ServerUnaryReactor *SendSpanBatch(grpc::CallbackServerContext *ctx, const grpc::ByteBuffer *req,
                                                grpc::ByteBuffer *resp) override {
            auto *r = ctx->DefaultReactor();
            auto h = std::make_shared<CallHeaders>();
            Outcome o = admit(*cfg, ctx, *h);
            if (o.code == Outcome::ok) o = (*d)(MessageKind::span_batch, flatten(*req), h);
            if (o.code != Outcome::ok) {
                r->Finish(to_status(o));
                return r;
            }
            put_bytes(resp, serialize(v1::PSpanResultBatch()));
            r->Finish(grpc::Status::OK);
            return r;
        }
    } span;

    struct AgentSvc : v1::Agent::WithRawCallbackMethod_RequestAgentInfo<
                          v1::Agent::WithRawCallbackMethod_PingSession<v1::Agent::Service>> {
        const Dispatch *d = nullptr;
        const Config *cfg = nullptr;
        grpc::ServerUnaryReactor *RequestAgentInfo(grpc::CallbackServerContext *ctx, const grpc::ByteBuffer *req,
                                                   grpc::ByteBuffer *resp) override {
            return unary(*cfg, ctx, req, resp, *d, MessageKind::agent_info);
        }
        grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> *
        PingSession(grpc::CallbackServerContext *ctx) override {
            return new pinpoint::PingSession(*cfg, ctx);
        }
    } agent;

    struct MetadataSvc
        : v1::Metadata::WithRawCallbackMethod_RequestSqlMetaData<
              v1::Metadata::WithRawCallbackMethod_RequestSqlUidMetaData<
                  v1::Metadata::WithRawCallbackMethod_RequestApiMetaData<
                      v1::Metadata::WithRawCallbackMethod_RequestStringMetaData<
                          v1::Metadata::WithRawCallbackMethod_RequestExceptionMetaData<v1::Metadata::Service>>>>> {
        const Dispatch *d = nullptr;
        const Config *cfg = nullptr;
        grpc::ServerUnaryReactor *RequestSqlMetaData(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                     grpc::ByteBuffer *r) override {
            return unary(*cfg, c, q, r, *d, MessageKind::sql_meta);
        }
        grpc::ServerUnaryReactor *RequestSqlUidMetaData(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                        grpc::ByteBuffer *r) override {
            return unary(*cfg, c, q, r, *d, MessageKind::sql_uid_meta);
        }
        grpc::ServerUnaryReactor *RequestApiMetaData(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                     grpc::ByteBuffer *r) override {
            return unary(*cfg, c, q, r, *d, MessageKind::api_meta);
        }
        grpc::ServerUnaryReactor *RequestStringMetaData(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                        grpc::ByteBuffer *r) override {
            return unary(*cfg, c, q, r, *d, MessageKind::string_meta);
        }
        grpc::ServerUnaryReactor *RequestExceptionMetaData(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                           grpc::ByteBuffer *r) override {
            return unary(*cfg, c, q, r, *d, MessageKind::exception_meta);
        }
    } metadata;

    struct StatSvc : v1::Stat::WithRawCallbackMethod_SendAgentStat<v1::Stat::Service> {
        const Dispatch *d = nullptr;
        const HostReady *ready = nullptr;
        const Config *cfg = nullptr;
        grpc::ServerReadReactor<grpc::ByteBuffer> *SendAgentStat(grpc::CallbackServerContext *ctx,
                                                                 grpc::ByteBuffer *resp) override {
            return new ReadAll(*cfg, ctx, resp, d, MessageKind::stat_message, true, ready);
        }
    } stat;

    struct CommandSvc
        : v1::ProfilerCommandService::WithRawCallbackMethod_HandleCommand<
              v1::ProfilerCommandService::WithRawCallbackMethod_HandleCommandV2<
                  v1::ProfilerCommandService::WithRawCallbackMethod_CommandEcho<
                      v1::ProfilerCommandService::WithRawCallbackMethod_CommandStreamActiveThreadCount<
                          v1::ProfilerCommandService::WithRawCallbackMethod_CommandActiveThreadDump<
                              v1::ProfilerCommandService::WithRawCallbackMethod_CommandActiveThreadLightDump<
                                  v1::ProfilerCommandService::Service>>>>>> {
        const Config *cfg = nullptr;
        grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> *
        HandleCommand(grpc::CallbackServerContext *ctx) override {
            return new CommandChannel(*cfg, ctx);
        }
        grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> *
        HandleCommandV2(grpc::CallbackServerContext *ctx) override {
            return new CommandChannel(*cfg, ctx);
        }
        grpc::ServerUnaryReactor *CommandEcho(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                              grpc::ByteBuffer *r) override {
            return command_reply<v1::PCmdEchoResponse>(*cfg, c, q, r, "PCmdEchoResponse");
        }
        grpc::ServerReadReactor<grpc::ByteBuffer> *CommandStreamActiveThreadCount(grpc::CallbackServerContext *ctx,
                                                                                  grpc::ByteBuffer *resp) override {
            return new ReadAll(*cfg, ctx, resp, nullptr, MessageKind::stat_message, false);
        }
        grpc::ServerUnaryReactor *CommandActiveThreadDump(grpc::CallbackServerContext *c, const grpc::ByteBuffer *q,
                                                          grpc::ByteBuffer *r) override {
            return command_reply<v1::PCmdActiveThreadDumpRes>(*cfg, c, q, r, "PCmdActiveThreadDumpRes");
        }
        grpc::ServerUnaryReactor *CommandActiveThreadLightDump(grpc::CallbackServerContext *c,
                                                               const grpc::ByteBuffer *q,
                                                               grpc::ByteBuffer *r) override {
            return command_reply<v1::PCmdActiveThreadLightDumpRes>(*cfg, c, q, r, "PCmdActiveThreadLightDumpRes");
        }
    } command;
};

namespace {

std::string read_pem(const std::string &path, const char *key) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(std::string("pinpoint: config key '") + key + "': cannot read " + path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::shared_ptr<grpc::ServerCredentials> tls_credentials(const Config &cfg) {
    grpc::SslServerCredentialsOptions opts(cfg.tls_client_ca.empty()
                                               ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                               : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_key_cert_pairs.push_back({read_pem(cfg.tls_key, "tls_key"), read_pem(cfg.tls_cert, "tls_cert")});
    if (!cfg.tls_client_ca.empty()) opts.pem_root_certs = read_pem(cfg.tls_client_ca, "tls_client_ca");
    return grpc::SslServerCredentials(opts);
}

} // namespace

GrpcServer::GrpcServer(const Config &cfg, Dispatch dispatch, Collector::LogFn, HostReady host_ready)
    : cfg_(cfg), services_(new Services) {
    services_->dispatch = std::move(dispatch);
    services_->host_ready = std::move(host_ready);
    services_->span.ready = services_->stat.ready = &services_->host_ready;
    services_->span.d = &services_->dispatch;
    services_->agent.d = &services_->dispatch;
    services_->metadata.d = &services_->dispatch;
    services_->stat.d = &services_->dispatch;
    services_->span.cfg = services_->agent.cfg = services_->metadata.cfg = services_->stat.cfg =
        services_->command.cfg = &cfg_;
}

GrpcServer::~GrpcServer() { stop(0); }

void GrpcServer::start() {
    grpc::ServerBuilder b;
    if (!cfg_.address.empty()) b.AddListeningPort(cfg_.address, grpc::InsecureServerCredentials(), &port_);
    if (!cfg_.tls_address.empty()) b.AddListeningPort(cfg_.tls_address, tls_credentials(cfg_), &tls_port_);
    b.SetMaxReceiveMessageSize(int(cfg_.max_message_mb << 20));
    // Received bytes wait in gRPC's buffers until a stream reads them, and a stream stops
    // reading while the host is busy. Unbounded, those buffers held ~170 MB of 16 agents'
    // spans under the bench's overload (heaptrack: MemoryAllocator::MakeSlice): flow control
    // windows grown by BDP probing let every connection send megabytes ahead. Fixed 256 KiB
    // windows and a quota over all connections (windows shrink under its pressure) keep what
    // waits near receive_memory_mb; an agent past it waits for its window. The quota alone
    // is not enough: with BDP windows its pressure reset 9 of 16 streams (RST_STREAM 11), and
    // 64 KiB windows cost ~30 % more CPU per span than 256 KiB (bench/ pinpoint section).
    grpc::ResourceQuota quota("pinpoint-receive");
    quota.Resize(size_t(cfg_.receive_memory_mb) << 20);
    b.SetResourceQuota(quota);
    b.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    b.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 256 * 1024);
    // Pinpoint agents ping every 30 s (PinpointDefaultChannel); grpc's default would call
    // that abuse (5 min minimum) and close the connection with ENHANCE_YOUR_CALM.
    b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    // A second instance on a taken port must fail, not share it.
    b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    b.RegisterService(&services_->span);
    b.RegisterService(&services_->agent);
    b.RegisterService(&services_->metadata);
    b.RegisterService(&services_->stat);
    b.RegisterService(&services_->command);
    server_ = b.BuildAndStart();
    if (!server_ || (!cfg_.address.empty() && port_ == 0) || (!cfg_.tls_address.empty() && tls_port_ == 0)) {
        server_.reset();
        std::string where = cfg_.address.empty()       ? cfg_.tls_address
                            : cfg_.tls_address.empty() ? cfg_.address
                                                       : cfg_.address + " / " + cfg_.tls_address;
        throw std::runtime_error("pinpoint: cannot listen on " + where + " (address in use or invalid)");
    }
}

void GrpcServer::stop(int grace_ms) {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
    server_->Wait();
    server_.reset();
}

} // namespace trib::pinpoint
