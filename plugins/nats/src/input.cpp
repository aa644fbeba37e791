// The nats input: a durable JetStream pull consumer that rebuilds what the nats sink
// published — points from line protocol, attachments joined from their chunks and put
// back on their point — and acknowledges a message only once the host accepted the
// point it belongs to.
#include "connection.hpp"
#include "wire.hpp"

#include <tributary/line_protocol.hpp>

#include <tributary/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <optional>
#include <thread>

#include "nats_input_sample_conf.inc"

namespace {

using trib::StatusError;
namespace tn = trib::nats;
using Clock = std::chrono::steady_clock;

// Owns the messages a rebuilt point came from; they are acked (or nak'ed) together.
struct Held {
    std::vector<natsMsg *> msgs;
    void take(Held &&o) {
        msgs.insert(msgs.end(), o.msgs.begin(), o.msgs.end());
        o.msgs.clear();
    }
};

std::string header(natsMsg *m, const char *key) {
    const char *v = nullptr;
    if (natsMsgHeader_Get(m, key, &v) == NATS_OK && v) return v;
    return {};
}

// A message as the sink meant it (chunks joined).
struct Logical {
    natsMsg *first = nullptr; // headers come from here (every chunk carries them)
    std::string subject;
    std::string body;
    Held held;
};

struct ChunkSet {
    size_t count = 0;
    std::map<size_t, std::string> parts;
    Held held;
    Clock::time_point since = Clock::now();
};

struct PendingPoint {
    std::optional<trib::Point> point;
    size_t expected = 0;
    std::map<size_t, trib::Attachment> attachments;
    Held held;
    Clock::time_point since = Clock::now();
    bool complete() const { return point && attachments.size() >= expected; }
};

class NatsInput : public trib::Instance {
  public:
    NatsInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)) {
        std::vector<std::string> keys = tn::connection_keys();
        keys.insert(keys.end(), {"stream", "durable", "subjects", "batch", "ack_wait", "assembly_timeout"});
        tn::ConfigReader r(config_json, keys);
        auto settings = tn::ConnectionSettings::read(r);
        settings.name = "tributary input " + instance_name();
        stream_ = r.str("stream", "TRIBUTARY");
        if (stream_.empty() || stream_.find_first_of(". *>") != std::string::npos)
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'stream': '" + stream_ + "' is not a stream name");
        durable_ = r.str("durable", "tributary");
        if (durable_.empty() || durable_.find_first_of(". *>") != std::string::npos)
            throw StatusError(TRIB_INVALID_ARGUMENT,
                              "key 'durable': '" + durable_ + "' is not a consumer name (no '.', spaces or wildcards)");
        auto subjects = r.str_list("subjects", {"tributary.>"});
        if (subjects.size() != 1)
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'subjects': give exactly one filter subject (nats-server 2.9 "
                                                     "consumers filter on one; points and attachments must share it)");
        subject_ = subjects.front();
        batch_ = int(r.integer("batch", 128, 1, 4096));
        ack_wait_ms_ = r.duration_ms("ack_wait", 30000);
        if (ack_wait_ms_ < 1000) throw StatusError(TRIB_INVALID_ARGUMENT, "key 'ack_wait': at least 1s");
        assembly_timeout_ms_ = r.duration_ms("assembly_timeout", 120000);
        conn_ = std::make_unique<tn::Connection>(std::move(settings));
    }

    ~NatsInput() override { stop(); }

    void start() override {
        running_ = true;
        worker_ = std::thread([this] { run(); });
    }

    void stop() override {
        if (!worker_.joinable()) return;
        {
            std::lock_guard<std::mutex> g(mu_);
            running_ = false;
        }
        cv_.notify_all();
        worker_.join();
    }

    void on_leadership(bool leader) override {
        {
            std::lock_guard<std::mutex> g(mu_);
            leader_ = leader;
        }
        cv_.notify_all();
    }

    std::string health() override {
        std::lock_guard<std::mutex> g(mu_);
        return status_;
    }

  private:
    bool wait_for(std::chrono::milliseconds d) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait_for(lk, d, [&] { return !running_; });
        return running_;
    }
    void set_status(std::string s) {
        std::lock_guard<std::mutex> g(mu_);
        status_ = std::move(s);
    }

    bool subscribe(std::string &err) {
        if (sub_) return true;
        if (!conn_->nc() && !conn_->connect(err)) return false;
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream_.c_str();
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.AckWait = ack_wait_ms_ * 1000000;
        so.Config.MaxDeliver = -1;
        so.Config.DeliverPolicy = js_DeliverAll;
        jsErrCode jerr = jsErrCode(0);
        natsStatus s = js_PullSubscribe(&sub_, conn_->js(), subject_.c_str(), durable_.c_str(), nullptr, &so, &jerr);
        if (s != NATS_OK) {
            sub_ = nullptr;
            err =
                tn::nats_error("pull consumer " + durable_ + " on stream " + stream_ + " (" + subject_ + ")", s, jerr);
            return false;
        }
        host().info("pulling " + subject_ + " from stream " + stream_ + " as durable consumer " + durable_);
        return true;
    }

    void drop_subscription() {
        if (sub_) natsSubscription_Destroy(sub_);
        sub_ = nullptr;
    }

    void run() {
        std::string logged;
        auto last_progress = Clock::now();
        while (true) {
            bool leader;
            {
                std::lock_guard<std::mutex> g(mu_);
                if (!running_) break;
                leader = leader_;
            }
            if (!leader) {
                // Only the leader pulls (chunks of one message must meet in one host):
                // hand back what we hold and wait.
                release_all(false);
                drop_subscription();
                set_status("");
                std::unique_lock<std::mutex> lk(mu_);
                cv_.wait(lk, [&] { return !running_ || leader_; });
                continue;
            }
            std::string err;
            if (!subscribe(err)) {
                set_status(err);
                if (err != logged) host().warn(err + " (retrying)");
                logged = err;
                if (!wait_for(std::chrono::milliseconds(1000))) break;
                continue;
            }
            logged.clear();
            set_status("");
            natsMsgList list{};
            jsErrCode jerr = jsErrCode(0);
            natsStatus s = natsSubscription_Fetch(&list, sub_, batch_, 1000, &jerr);
            if (s == NATS_OK) {
                for (int i = 0; i < list.Count; ++i) {
                    natsMsg *m = list.Msgs[i];
                    list.Msgs[i] = nullptr; // ours now
                    take_message(m);
                }
                natsMsgList_Destroy(&list);
                deliver_ready();
            } else if (s != NATS_TIMEOUT) {
                natsMsgList_Destroy(&list);
                set_status(tn::nats_error("fetch", s, jerr));
                if (!conn_->connected() || s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED) {
                    // Re-bind after an outage; the durable keeps our place on the server.
                    drop_subscription();
                }
                if (!wait_for(std::chrono::milliseconds(200))) break;
            }
            if (Clock::now() - last_progress > std::chrono::milliseconds(ack_wait_ms_ / 3)) {
                keep_alive_and_expire(true);
                deliver_ready();
                last_progress = Clock::now();
            }
        }
        // Whatever is half-assembled goes back to the server now, not after ack_wait.
        release_all(false);
        drop_subscription();
        conn_->close();
    }

    void take_message(natsMsg *m) {
        std::string id = header(m, tn::kHdrMessageId);
        if (id.empty()) {
            Logical l;
            l.first = m;
            l.subject = natsMsg_GetSubject(m);
            l.body.assign(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m)));
            l.held.msgs.push_back(m);
            take_logical(std::move(l));
            return;
        }
        size_t index = 0, count = 0;
        try {
            index = std::stoul(header(m, tn::kHdrChunkIndex));
            count = std::stoul(header(m, tn::kHdrChunkCount));
        } catch (...) {
            reject(m, "chunk without a valid " + std::string(tn::kHdrChunkIndex) + "/" + tn::kHdrChunkCount);
            return;
        }
        ChunkSet &cs = chunks_[id];
        cs.count = count;
        cs.held.msgs.push_back(m);
        // A redelivered chunk replaces the earlier copy's bytes (they are the same).
        cs.parts[index].assign(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m)));
        if (cs.parts.size() < cs.count) return;
        Logical l;
        l.first = m;
        l.subject = natsMsg_GetSubject(m);
        for (auto &kv : cs.parts) l.body += kv.second;
        l.held = std::move(cs.held);
        chunks_.erase(id);
        std::string want_sha = header(m, tn::kHdrSha256), total = header(m, tn::kHdrTotalSize);
        if (std::to_string(l.body.size()) != total || tn::sha256_hex(l.body) != want_sha) {
            host().error("chunked message " + id + " does not match its size/SHA-256 after joining: dropped");
            host().counter_add("messages_rejected", double(l.held.msgs.size()));
            finish(l.held, true);
            return;
        }
        host().counter_add("chunked_messages_joined", 1);
        take_logical(std::move(l));
    }

    void take_logical(Logical &&l) {
        std::string part = header(l.first, tn::kHdrPart);
        std::string point_id = header(l.first, tn::kHdrPointId);
        if (!part.empty() || (l.subject.size() > 12 && l.subject.rfind(".attachments") == l.subject.size() - 12)) {
            if (point_id.empty()) {
                reject_all(l.held, "attachment without " + std::string(tn::kHdrPointId));
                return;
            }
            size_t index = 0;
            try {
                index = std::stoul(header(l.first, tn::kHdrIndex));
            } catch (...) {}
            PendingPoint &pp = pending_[point_id];
            trib::Attachment a;
            a.name = tn::header_unescape(part);
            a.content_type = tn::header_unescape(header(l.first, tn::kHdrContentType));
            a.data = std::make_shared<const std::string>(std::move(l.body));
            pp.attachments[index] = std::move(a);
            pp.held.take(std::move(l.held));
            if (pp.complete()) complete_point(point_id);
            return;
        }
        std::string category = tn::header_unescape(header(l.first, tn::kHdrCategory));
        if (category.empty()) {
            // Published by something else than the nats sink: the subject's middle token.
            size_t a = l.subject.find('.'), b = l.subject.rfind('.');
            category = a != std::string::npos && b > a ? l.subject.substr(a + 1, b - a - 1) : "metric";
        }
        std::vector<trib::Point> points;
        try {
            points = trib::line_protocol::parse_lines(l.body, category);
        } catch (const std::exception &e) {
            reject_all(l.held, std::string("message on ") + l.subject + ": " + e.what());
            return;
        }
        std::string n = header(l.first, tn::kHdrAttachments);
        if (point_id.empty() || n.empty() || n == "0" || points.size() != 1) {
            Ready r;
            r.points = std::move(points);
            r.held = std::move(l.held);
            ready_.push_back(std::move(r));
            return;
        }
        PendingPoint &pp = pending_[point_id];
        pp.point = std::move(points.front());
        try {
            pp.expected = std::stoul(n);
        } catch (...) {
            pp.expected = 0;
        }
        pp.held.take(std::move(l.held));
        if (pp.complete()) complete_point(point_id);
    }

    void complete_point(const std::string &point_id) {
        auto it = pending_.find(point_id);
        PendingPoint &pp = it->second;
        Ready r;
        trib::Point p = std::move(*pp.point);
        for (auto &kv : pp.attachments) p.attachments.push_back(std::move(kv.second));
        r.points.push_back(std::move(p));
        r.held = std::move(pp.held);
        pending_.erase(it);
        ready_.push_back(std::move(r));
    }

    // Hands every ready point to the host in one batch; acks their messages once it took
    // them. BACKPRESSURE / RETRY: the messages stay ours (kept alive) and the batch is
    // offered again.
    void deliver_ready() {
        if (ready_.empty()) return;
        std::vector<trib::Point> points;
        for (auto &r : ready_)
            for (auto &p : r.points) points.push_back(p);
        auto last_keepalive = Clock::now();
        for (;;) {
            trib_status st = points.empty() ? TRIB_OK : host().emit(points);
            if (st == TRIB_OK) {
                host().counter_add("points_received", double(points.size()));
                for (auto &r : ready_) finish(r.held, true);
                break;
            }
            if (st == TRIB_INVALID_ARGUMENT || st == TRIB_PERMANENT) {
                host().error("the host refused " + std::to_string(points.size()) +
                             " point(s) as malformed: terminated");
                host().counter_add("points_refused", double(points.size()));
                for (auto &r : ready_) terminate(r.held);
                break;
            }
            host().counter_add("emit_retries", 1);
            if (Clock::now() - last_keepalive > std::chrono::milliseconds(ack_wait_ms_ / 3)) {
                keep_alive_and_expire(false);
                last_keepalive = Clock::now();
            }
            if (!wait_for(std::chrono::milliseconds(200))) return; // stopping: release_all naks them
        }
        ready_.clear();
    }

    // Tells the server we still work on held messages (so ack_wait does not redeliver
    // them), and gives up on assemblies that cannot complete: a point whose attachments
    // were acked in an earlier delivery goes on without them; orphaned attachments and
    // chunks are dropped (their point was delivered already).
    void keep_alive_and_expire(bool expire) {
        auto now = Clock::now();
        auto too_old = [&](Clock::time_point t) {
            return expire && now - t > std::chrono::milliseconds(assembly_timeout_ms_);
        };
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (!too_old(it->second.since)) {
                for (auto *m : it->second.held.msgs) natsMsg_InProgress(m, nullptr);
                ++it;
                continue;
            }
            if (it->second.point) {
                host().warn("point " + it->first + " delivered with " + std::to_string(it->second.attachments.size()) +
                            " of " + std::to_string(it->second.expected) + " attachment(s)");
                host().counter_add("points_incomplete", 1);
                complete_point((it++)->first);
            } else {
                host().counter_add("attachments_orphaned", double(it->second.attachments.size()));
                finish(it->second.held, true);
                it = pending_.erase(it);
            }
        }
        for (auto it = chunks_.begin(); it != chunks_.end();) {
            if (!too_old(it->second.since)) {
                for (auto *m : it->second.held.msgs) natsMsg_InProgress(m, nullptr);
                ++it;
                continue;
            }
            host().counter_add("chunks_orphaned", double(it->second.held.msgs.size()));
            finish(it->second.held, true);
            it = chunks_.erase(it);
        }
        for (auto &r : ready_)
            for (auto *m : r.held.msgs) natsMsg_InProgress(m, nullptr);
    }

    void finish(Held &h, bool ack) {
        for (auto *m : h.msgs) {
            if (ack) natsMsg_Ack(m, nullptr);
            else natsMsg_Nak(m, nullptr);
            natsMsg_Destroy(m);
        }
        h.msgs.clear();
    }
    void terminate(Held &h) {
        for (auto *m : h.msgs) {
            natsMsg_Term(m, nullptr);
            natsMsg_Destroy(m);
        }
        h.msgs.clear();
    }
    void reject(natsMsg *m, const std::string &why) {
        Held h;
        h.msgs.push_back(m);
        reject_all(h, why);
    }
    void reject_all(Held &h, const std::string &why) {
        host().error("malformed message dropped: " + why);
        host().counter_add("messages_rejected", double(h.msgs.size()));
        terminate(h);
    }

    void release_all(bool ack) {
        for (auto &r : ready_) finish(r.held, ack);
        ready_.clear();
        for (auto &kv : pending_) finish(kv.second.held, ack);
        pending_.clear();
        for (auto &kv : chunks_) finish(kv.second.held, ack);
        chunks_.clear();
    }

    struct Ready {
        std::vector<trib::Point> points;
        Held held;
    };

    std::unique_ptr<tn::Connection> conn_;
    natsSubscription *sub_ = nullptr;
    std::string stream_, durable_, subject_;
    int batch_ = 128;
    int64_t ack_wait_ms_ = 30000, assembly_timeout_ms_ = 120000;

    std::mutex mu_;
    std::condition_variable cv_;
    bool running_ = false, leader_ = false;
    std::string status_ = "starting";
    std::thread worker_;

    // Worker thread only.
    std::map<std::string, ChunkSet> chunks_;
    std::map<std::string, PendingPoint> pending_;
    std::vector<Ready> ready_;
};

} // namespace

TRIB_DEFINE_MODULE(NatsInput, "nats", "1.0.0", TRIB_KIND_INPUT,
                   "NATS JetStream input: a durable consumer of what the nats sink published", nats_input_sample_conf)
