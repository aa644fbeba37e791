// A gRPC client that sends raw protobuf bytes (no generated code), so tests can replay
// recorded messages byte for byte and send malformed ones. Tests that use it load the
// real pinpoint.so and must not link the generated v1 code themselves (one process may
// register a .proto only once).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/support/sync_stream.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace pinpoint_test {

struct RawResult {
    grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
    std::string message;
    std::string response; // serialized response message
    int responses = 0;    // streamed responses received (bidi)
    int sent = 0;         // messages a client stream wrote before it ended
};

inline grpc::ByteBuffer to_buffer(const std::string &bytes) {
    grpc::Slice s(bytes);
    return grpc::ByteBuffer(&s, 1);
}

inline std::string from_buffer(const grpc::ByteBuffer &b) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (b.Valid() && b.Dump(&slices).ok())
        for (auto &s : slices) out.append(reinterpret_cast<const char *>(s.begin()), s.size());
    return out;
}

class RawClient {
  public:
    explicit RawClient(const std::string &target) {
        grpc::ChannelArguments args;
        args.SetMaxSendMessageSize(64 << 20);
        channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    }

    bool wait_connected(int timeout_ms) {
        return channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    }

    RawResult unary(const std::string &method, const std::map<std::string, std::string> &headers,
                    const std::string &bytes, int timeout_ms = 10000) {
        grpc::ClientContext ctx;
        setup(ctx, headers, timeout_ms);
        grpc::ByteBuffer resp;
        grpc::internal::RpcMethod m(method.c_str(), grpc::internal::RpcMethod::NORMAL_RPC);
        grpc::Status st = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
            channel_.get(), m, &ctx, to_buffer(bytes), &resp);
        return {st.error_code(), st.error_message(), from_buffer(resp), 0};
    }

    RawResult client_stream(const std::string &method, const std::map<std::string, std::string> &headers,
                            const std::vector<std::string> &messages, int timeout_ms = 20000) {
        return client_stream_made(
            method, headers, int(messages.size()), [&](int i) { return messages[size_t(i)]; }, timeout_ms);
    }

    // Streams `count` messages made by `make(i)`, stopping early when the server finishes
    // the call (a flood: the messages are never all in memory at once).
    template <class Make>
    RawResult client_stream_made(const std::string &method, const std::map<std::string, std::string> &headers,
                                 int count, Make make, int timeout_ms = 60000) {
        grpc::ClientContext ctx;
        setup(ctx, headers, timeout_ms);
        grpc::ByteBuffer resp;
        grpc::internal::RpcMethod m(method.c_str(), grpc::internal::RpcMethod::CLIENT_STREAMING);
        std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> w(
            grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(channel_.get(), m, &ctx, &resp));
        RawResult r;
        for (int i = 0; i < count; ++i) {
            if (!w->Write(to_buffer(make(i)))) break; // the server finished the call early
            ++r.sent;
        }
        w->WritesDone();
        grpc::Status st = w->Finish();
        r.code = st.error_code();
        r.message = st.error_message();
        r.response = from_buffer(resp);
        return r;
    }

    // Sends `messages` on a bidi stream, reading one response after each, then closes.
    RawResult bidi_echo(const std::string &method, const std::map<std::string, std::string> &headers,
                        const std::vector<std::string> &messages, int timeout_ms = 10000) {
        grpc::ClientContext ctx;
        setup(ctx, headers, timeout_ms);
        grpc::internal::RpcMethod m(method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
        std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> rw(
            grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel_.get(), m,
                                                                                                  &ctx));
        RawResult r;
        for (auto &msg : messages) {
            if (!rw->Write(to_buffer(msg))) break;
            grpc::ByteBuffer in;
            if (!rw->Read(&in)) break;
            ++r.responses;
        }
        rw->WritesDone();
        grpc::ByteBuffer extra;
        while (rw->Read(&extra)) ++r.responses;
        grpc::Status st = rw->Finish();
        r.code = st.error_code();
        r.message = st.error_message();
        return r;
    }

  private:
    static void setup(grpc::ClientContext &ctx, const std::map<std::string, std::string> &headers, int timeout_ms) {
        for (auto &kv : headers) ctx.AddMetadata(kv.first, kv.second);
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    }
    std::shared_ptr<grpc::Channel> channel_;
};

// ------------------------------------------------------------------ protobuf writing

// Just enough of the protobuf wire format to build messages without generated code.
struct Wire {
    std::string out;
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out.push_back(char(v | 0x80));
            v >>= 7;
        }
        out.push_back(char(v));
    }
    Wire &u(int field, uint64_t v) {
        varint(uint64_t(field) << 3);
        varint(v);
        return *this;
    }
    Wire &i(int field, int64_t v) { return u(field, uint64_t(v)); }
    Wire &s32(int field, int32_t v) { return u(field, uint64_t(uint32_t((v << 1) ^ (v >> 31)))); }
    Wire &sf64(int field, int64_t v) {
        varint(uint64_t(field) << 3 | 1);
        for (int k = 0; k < 8; ++k) out.push_back(char((uint64_t(v) >> (8 * k)) & 0xff));
        return *this;
    }
    Wire &bytes(int field, const std::string &b) {
        varint(uint64_t(field) << 3 | 2);
        varint(b.size());
        out += b;
        return *this;
    }
    Wire &msg(int field, const Wire &w) { return bytes(field, w.out); }
};

} // namespace pinpoint_test
