// trib_bench_pinpoint_client: streams recorded Pinpoint PSpanMessages over K long-lived
// v1.Span/SendSpan streams (one per simulated agent) and reports span messages/s.
//
// The recorded SendSpan payloads (fixtures/pinpoint-nodejs/bin/*SendSpan*.bin: child span,
// chunk, root span per transaction) are replayed in order; each replay round gets its own
// transactionId.sequence and span ids so every trace is new to the collector. Before its
// stream, each agent announces itself as pinpoint-node-agent did (RequestAgentInfo,
// RequestApiMetaData with the recorded bodies). Throughput counts a message once the
// stream's Finish() returned OK, i.e. the server has read everything sent.
//
// --tls-ca FILE speaks TLS to the target (the collector's tls_address), trusting FILE;
// --tls-cert/--tls-key add a client certificate (mTLS). --app sets applicationname.
#include "v1/Service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_file(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Recording {
    std::vector<v1::PSpanMessage> spans;
    std::vector<v1::PAgentInfo> agent_infos;
    std::vector<v1::PApiMetaData> api_meta;
};

Recording load(const fs::path &bin_dir) {
    std::vector<fs::path> files;
    for (auto &e : fs::directory_iterator(bin_dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    Recording r;
    for (auto &f : files) {
        std::string name = f.filename().string();
        std::string bytes = read_file(f);
        if (name.find("SendSpan") != std::string::npos) {
            v1::PSpanMessage m;
            if (!m.ParseFromString(bytes)) throw std::runtime_error("not a PSpanMessage: " + f.string());
            r.spans.push_back(std::move(m));
        } else if (name.find("RequestAgentInfo") != std::string::npos) {
            v1::PAgentInfo m;
            if (!m.ParseFromString(bytes)) throw std::runtime_error("not a PAgentInfo: " + f.string());
            r.agent_infos.push_back(std::move(m));
        } else if (name.find("RequestApiMetaData") != std::string::npos) {
            v1::PApiMetaData m;
            if (!m.ParseFromString(bytes)) throw std::runtime_error("not a PApiMetaData: " + f.string());
            r.api_meta.push_back(std::move(m));
        }
    }
    if (r.spans.empty()) throw std::runtime_error("no *SendSpan*.bin in " + bin_dir.string());
    return r;
}

// The recording's messages, replayed round after round. Each round gets a new
// transactionId.sequence and span ids shifted consistently (parent links stay intact), so
// every trace is new to the collector; the transaction's agentId is this stream's agent.
// Updated in place: a round costs a few field stores, not message copies.
class Replay {
  public:
    Replay(const Recording &rec, const std::string &agent_id) : msgs_(rec.spans) {
        for (auto &m : msgs_) {
            Base b;
            if (m.has_span()) {
                m.mutable_span()->mutable_transactionid()->set_agentid(agent_id);
                b = {m.span().transactionid().sequence(), m.span().spanid(), m.span().parentspanid(), {}};
                record_next_span_ids(m.span().spanevent(), b);
            } else if (m.has_spanchunk()) {
                m.mutable_spanchunk()->mutable_transactionid()->set_agentid(agent_id);
                b = {m.spanchunk().transactionid().sequence(), m.spanchunk().spanid(), -1, {}};
                record_next_span_ids(m.spanchunk().spanevent(), b);
            }
            base_.push_back(b);
        }
    }
    const v1::PSpanMessage &next() {
        if (pos_ == msgs_.size()) {
            pos_ = 0;
            ++round_;
            renumber();
        }
        return msgs_[pos_++];
    }

  private:
    struct Base {
        int64_t sequence = 0, span_id = 0, parent_span_id = -1;
        std::vector<int64_t> next_span_ids; // per event; 0/-1 = "none" (left alone)
    };
    template <class Events>
    static void record_next_span_ids(const Events &events, Base &b) {
        for (auto &e : events)
            b.next_span_ids.push_back(
                e.has_nextevent() && e.nextevent().has_messageevent() ? e.nextevent().messageevent().nextspanid() : 0);
    }
    // The caller's exit event names the callee span by nextSpanId: shift it with the span
    // ids, or every replayed trace waits for a child that never comes.
    template <class Events>
    static void shift_next_span_ids(Events *events, const Base &b, int64_t shift) {
        for (int j = 0; j < events->size() && size_t(j) < b.next_span_ids.size(); ++j) {
            int64_t id = b.next_span_ids[size_t(j)];
            if (id == 0 || id == -1) continue;
            events->Mutable(j)->mutable_nextevent()->mutable_messageevent()->set_nextspanid(id + shift);
        }
    }
    void renumber() {
        const int64_t shift = round_ * 1'000'003;
        for (size_t i = 0; i < msgs_.size(); ++i) {
            auto &m = msgs_[i];
            const Base &b = base_[i];
            if (m.has_span()) {
                auto *s = m.mutable_span();
                s->mutable_transactionid()->set_sequence(b.sequence + round_ * 1000);
                s->set_spanid(b.span_id + shift);
                if (b.parent_span_id != -1) s->set_parentspanid(b.parent_span_id + shift);
                shift_next_span_ids(s->mutable_spanevent(), b, shift);
            } else if (m.has_spanchunk()) {
                auto *c = m.mutable_spanchunk();
                c->mutable_transactionid()->set_sequence(b.sequence + round_ * 1000);
                c->set_spanid(b.span_id + shift);
                shift_next_span_ids(c->mutable_spanevent(), b, shift);
            }
        }
    }
    std::vector<v1::PSpanMessage> msgs_;
    std::vector<Base> base_;
    size_t pos_ = 0;
    int64_t round_ = 0;
};

struct StreamResult {
    uint64_t sent = 0;
    bool ok = false;
    std::string status;
    double finished_at_s = 0;
};

} // namespace

int main(int argc, char **argv) {
    std::string target, bin_dir, label, tls_ca, tls_cert, tls_key, app_name = "bench-app";
    int streams = 4;
    double duration = 5;
    int flush_every = 32;
    int64_t agent_start = 1795316601123;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] {
            if (i + 1 >= argc) throw std::invalid_argument("missing value for " + a);
            return std::string(argv[++i]);
        };
        if (a == "--target") target = next();
        else if (a == "--fixtures-bin") bin_dir = next();
        else if (a == "--streams") streams = std::atoi(next().c_str());
        else if (a == "--duration") duration = std::atof(next().c_str());
        else if (a == "--flush-every") flush_every = std::max(1, std::atoi(next().c_str()));
        else if (a == "--label") label = next();
        else if (a == "--tls-ca") tls_ca = next();
        else if (a == "--tls-cert") tls_cert = next();
        else if (a == "--tls-key") tls_key = next();
        else if (a == "--app") app_name = next();
        else {
            std::fprintf(stderr, "usage: trib_bench_pinpoint_client --target HOST:PORT --fixtures-bin DIR "
                                 "[--streams K] [--duration S] [--flush-every N] [--label TEXT] [--app NAME] "
                                 "[--tls-ca FILE [--tls-cert FILE --tls-key FILE]]\n");
            return 2;
        }
    }
    if (target.empty() || bin_dir.empty() || streams < 1) {
        std::fprintf(stderr, "trib_bench_pinpoint_client: --target and --fixtures-bin are required\n");
        return 2;
    }
    try {
        Recording rec = load(bin_dir);
        std::vector<std::string> agent_ids;
        for (int k = 0; k < streams; ++k) agent_ids.push_back("bench-agent-" + std::to_string(k));
        auto add_headers = [&](grpc::ClientContext &ctx, int k) {
            ctx.AddMetadata("agentid", agent_ids[size_t(k)]);
            ctx.AddMetadata("agentname", "bench-agent");
            ctx.AddMetadata("applicationname", app_name);
            ctx.AddMetadata("starttime", std::to_string(agent_start));
        };
        std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
        if (!tls_ca.empty()) {
            auto slurp = [](const std::string &path) {
                std::ifstream in(path, std::ios::binary);
                if (!in) throw std::runtime_error("cannot read " + path);
                std::ostringstream out;
                out << in.rdbuf();
                return out.str();
            };
            grpc::SslCredentialsOptions o;
            o.pem_root_certs = slurp(tls_ca);
            if (!tls_cert.empty()) o.pem_cert_chain = slurp(tls_cert);
            if (!tls_key.empty()) o.pem_private_key = slurp(tls_key);
            creds = grpc::SslCredentials(o);
        }
        // One channel per stream: separate HTTP/2 connections, as separate agents have.
        std::vector<std::shared_ptr<grpc::Channel>> channels;
        for (int k = 0; k < streams; ++k) {
            grpc::ChannelArguments args;
            args.SetInt("grpc.use_local_subchannel_pool", 1); // a connection per channel
            channels.push_back(grpc::CreateCustomChannel(target, creds, args));
            if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
                throw std::runtime_error("cannot connect to " + target);
            // Announce the agent and its API metadata, as the recorded agent did.
            auto agent = v1::Agent::NewStub(channels.back());
            auto meta = v1::Metadata::NewStub(channels.back());
            for (auto &info : rec.agent_infos) {
                grpc::ClientContext ctx;
                add_headers(ctx, k);
                v1::PResult res;
                auto st = agent->RequestAgentInfo(&ctx, info, &res);
                if (!st.ok())
                    throw std::runtime_error("RequestAgentInfo failed (code " + std::to_string(int(st.error_code())) +
                                             "): " + st.error_message());
            }
            for (auto &api : rec.api_meta) {
                grpc::ClientContext ctx;
                add_headers(ctx, k);
                v1::PResult res;
                auto st = meta->RequestApiMetaData(&ctx, api, &res);
                if (!st.ok()) throw std::runtime_error("RequestApiMetaData failed: " + st.error_message());
            }
        }

        std::vector<StreamResult> results(static_cast<size_t>(streams));
        std::atomic<bool> stop{false};
        const auto t0 = Clock::now();
        std::vector<std::thread> threads;
        for (int k = 0; k < streams; ++k) {
            threads.emplace_back([&, k] {
                auto stub = v1::Span::NewStub(channels[size_t(k)]);
                grpc::ClientContext ctx;
                add_headers(ctx, k);
                google::protobuf::Empty reply;
                auto writer = stub->SendSpan(&ctx, &reply);
                Replay replay(rec, agent_ids[size_t(k)]);
                auto &res = results[size_t(k)];
                while (!stop.load(std::memory_order_relaxed)) {
                    grpc::WriteOptions wo;
                    // Let gRPC coalesce messages into fewer frames, flushing every N.
                    if ((res.sent + 1) % uint64_t(flush_every) != 0) wo.set_buffer_hint();
                    if (!writer->Write(replay.next(), wo)) break;
                    ++res.sent;
                }
                writer->WritesDone();
                grpc::Status st = writer->Finish();
                res.ok = st.ok();
                res.status = st.ok() ? "OK" : std::to_string(int(st.error_code())) + " " + st.error_message();
                res.finished_at_s = std::chrono::duration<double>(Clock::now() - t0).count();
            });
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(duration));
        stop = true;
        for (auto &t : threads) t.join();

        uint64_t total = 0, ok_msgs = 0;
        double last_finish = 0;
        std::map<std::string, int> statuses;
        for (auto &r : results) {
            total += r.sent;
            if (r.ok) ok_msgs += r.sent;
            last_finish = std::max(last_finish, r.finished_at_s);
            statuses[r.status]++;
        }
        std::printf("{\"label\":\"%s\",\"streams\":%d,\"sent\":%llu,\"acknowledged\":%llu,\"elapsed_s\":%.3f,"
                    "\"spans_per_s\":%.1f,\"status\":{",
                    label.c_str(), streams, static_cast<unsigned long long>(total),
                    static_cast<unsigned long long>(ok_msgs), last_finish,
                    last_finish > 0 ? double(ok_msgs) / last_finish : 0.0);
        bool first = true;
        for (auto &[s, n] : statuses) {
            std::string esc;
            for (char c : s) esc += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
            std::printf("%s\"%s\":%d", first ? "" : ",", esc.c_str(), n);
            first = false;
        }
        std::printf("}}\n");
        return ok_msgs > 0 ? 0 : 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trib_bench_pinpoint_client: %s\n", e.what());
        return 1;
    }
}
