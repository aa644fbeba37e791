// trib_bench_pinpoint_bare: the ceiling for the pinpoint benchmark — a gRPC server (the
// callback API, as the pinpoint input uses) that serves v1.Span/SendSpan and only parses
// each PSpanMessage, plus v1.Agent/RequestAgentInfo and v1.Metadata/RequestApiMetaData
// answering success so the benchmark client's agent preamble works. No conversion, no
// points. Runs until SIGINT/SIGTERM, then prints how many span messages it parsed.
#include "v1/Service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

std::atomic<uint64_t> g_spans{0};
std::atomic<uint64_t> g_span_events{0};
volatile std::sig_atomic_t g_stop = 0;

class SpanService final : public v1::Span::CallbackService {
    grpc::ServerReadReactor<v1::PSpanMessage> *SendSpan(grpc::CallbackServerContext *,
                                                        google::protobuf::Empty *) override {
        class Reader : public grpc::ServerReadReactor<v1::PSpanMessage> {
          public:
            Reader() { StartRead(&msg_); }
            void OnReadDone(bool ok) override {
                if (!ok) {
                    Finish(grpc::Status::OK);
                    return;
                }
                // Touch the parsed message so the parse is not the only thing observed.
                g_span_events.fetch_add(
                    uint64_t(msg_.has_span() ? msg_.span().spanevent_size() : msg_.spanchunk().spanevent_size()),
                    std::memory_order_relaxed);
                g_spans.fetch_add(1, std::memory_order_relaxed);
                StartRead(&msg_);
            }
            void OnDone() override { delete this; }

          private:
            v1::PSpanMessage msg_;
        };
        return new Reader();
    }
};

class AgentService final : public v1::Agent::CallbackService {
    grpc::ServerUnaryReactor *RequestAgentInfo(grpc::CallbackServerContext *ctx, const v1::PAgentInfo *,
                                               v1::PResult *res) override {
        res->set_success(true);
        auto *r = ctx->DefaultReactor();
        r->Finish(grpc::Status::OK);
        return r;
    }
};

class MetadataService final : public v1::Metadata::CallbackService {
    grpc::ServerUnaryReactor *RequestApiMetaData(grpc::CallbackServerContext *ctx, const v1::PApiMetaData *,
                                                 v1::PResult *res) override {
        res->set_success(true);
        auto *r = ctx->DefaultReactor();
        r->Finish(grpc::Status::OK);
        return r;
    }
};

} // namespace

int main(int argc, char **argv) {
    std::string address = "127.0.0.1:0";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--address" && i + 1 < argc) address = argv[++i];
        else {
            std::fprintf(stderr, "usage: trib_bench_pinpoint_bare --address HOST:PORT\n");
            return 2;
        }
    }
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    SpanService spans;
    AgentService agent;
    MetadataService meta;
    int port = 0;
    grpc::ServerBuilder b;
    b.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(4 << 20); // Pinpoint's collector default
    b.RegisterService(&spans);
    b.RegisterService(&agent);
    b.RegisterService(&meta);
    auto server = b.BuildAndStart();
    if (!server || port == 0) {
        std::fprintf(stderr, "trib_bench_pinpoint_bare: cannot listen on %s\n", address.c_str());
        return 1;
    }
    std::printf("listening %d\n", port);
    std::fflush(stdout);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    std::printf("{\"spans_parsed\":%llu,\"span_events\":%llu}\n", static_cast<unsigned long long>(g_spans.load()),
                static_cast<unsigned long long>(g_span_events.load()));
    return 0;
}
