// The nats sink: publishes points (line protocol) and their attachments to JetStream and
// returns OK from write() only once the server acknowledged every message of the batch.
#include "connection.hpp"
#include "wire.hpp"

#include <tributary/line_protocol.hpp>

#include <tributary/plugin.hpp>

#include <atomic>
#include <map>
#include <functional>
#include <mutex>
#include <random>

#include "nats_sink_sample_conf.inc"

namespace {

using trib::StatusError;
namespace tn = trib::nats;

// Room left in every message for the headers (names, ids, digests) next to the body.
constexpr int64_t kHeaderAllowance = 4096;

// One JetStream context with its own ack bookkeeping: a write() holds one for its batch,
// so writes from several spool workers publish and wait side by side on one connection.
struct Publisher {
    jsCtx *js = nullptr;
    std::mutex err_mu; // the ack handler runs on a nats.c thread
    size_t errors = 0;
    std::string first_error;
    ~Publisher() {
        if (js) jsCtx_Destroy(js);
    }
};

struct Message {
    std::string subject;
    std::vector<std::pair<const char *, std::string>> headers;
    std::string id; // Nats-Msg-Id of the whole message (chunks add ".<index>")
    std::string body;
};

class NatsSink : public trib::Instance {
  public:
    NatsSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)) {
        std::vector<std::string> keys = tn::connection_keys();
        keys.insert(keys.end(), {"subject_prefix", "stream", "create_stream", "max_age", "max_bytes", "max_msgs",
                                 "duplicate_window", "storage", "replicas", "publish_timeout", "chunk_size"});
        tn::ConfigReader r(config_json, keys);
        auto settings = tn::ConnectionSettings::read(r);
        settings.name = "tributary sink " + instance_name();
        prefix_ = r.str("subject_prefix", "tributary");
        if (prefix_.empty() || prefix_.find_first_of(" *>\t\r\n") != std::string::npos || prefix_.front() == '.' ||
            prefix_.back() == '.')
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'subject_prefix': '" + prefix_ +
                                                         "' is not a subject (tokens separated by '.', no wildcards)");
        stream_ = r.str("stream", "TRIBUTARY");
        if (stream_.empty() || stream_.find_first_of(". *>") != std::string::npos)
            throw StatusError(TRIB_INVALID_ARGUMENT,
                              "key 'stream': '" + stream_ + "' is not a stream name (no '.', spaces or wildcards)");
        create_stream_ = r.boolean("create_stream", false);
        max_age_ms_ = r.duration_ms("max_age", 0);
        max_bytes_ = r.integer("max_bytes", -1, -1, INT64_MAX);
        max_msgs_ = r.integer("max_msgs", -1, -1, INT64_MAX);
        duplicate_window_ms_ = r.duration_ms("duplicate_window", 0);
        std::string storage = r.str("storage", "file");
        if (storage != "file" && storage != "memory")
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'storage': '" + storage + "' (file or memory)");
        memory_storage_ = storage == "memory";
        replicas_ = int(r.integer("replicas", 1, 1, 5));
        publish_timeout_ms_ = r.duration_ms("publish_timeout", 10000);
        if (publish_timeout_ms_ <= 0)
            throw StatusError(TRIB_INVALID_ARGUMENT, "key 'publish_timeout': must be positive");
        chunk_size_ = r.integer("chunk_size", 0, 0, INT32_MAX);
        if (chunk_size_ != 0 && chunk_size_ <= kHeaderAllowance)
            throw StatusError(TRIB_INVALID_ARGUMENT,
                              "key 'chunk_size': must exceed " + std::to_string(kHeaderAllowance) + " bytes");
        conn_ = std::make_unique<tn::Connection>(std::move(settings));
        conn_->js_options().Wait = publish_timeout_ms_;
    }

    void start() override {
        std::lock_guard<std::mutex> g(mu_);
        std::string err;
        // The server may be down now: write() connects later and the spool holds the data.
        if (!ensure_ready(err)) host().warn("JetStream not reachable yet (will retry on write): " + err);
    }

    // The host stops a sink once nothing writes to it any more.
    void stop() override {
        std::lock_guard<std::mutex> g(mu_);
        {
            std::lock_guard<std::mutex> pg(pool_mu_);
            free_.clear();
            publishers_.clear();
        }
        conn_->close();
    }

    std::string health() override {
        std::lock_guard<std::mutex> g(mu_);
        return conn_->connected() ? std::string()
                                  : "not connected to NATS" + (last_error_.empty() ? "" : ": " + last_error_);
    }

    // The sink's host thread, or several spool workers at once ([sinks.spool] workers).
    void write(const trib_batch &batch) override {
        {
            std::lock_guard<std::mutex> g(mu_);
            std::string err;
            if (!ensure_ready(err)) {
                last_error_ = err;
                throw StatusError(TRIB_RETRY, err);
            }
        }
        // Message ids: a nonce per batch plus the message's place in it. Identical points in
        // two batches are two points (not a duplicate), while a retry of a failed batch —
        // the bus and the spool retry the same batch before any other — reuses its nonce,
        // so whatever of it did land is dropped by the stream as a duplicate.
        size_t points = 0;
        std::vector<Message> msgs = build_messages(batch, points);
        tn::Sha256 h;
        for (auto &m : msgs) {
            h.update(m.subject);
            h.update(m.id);
            h.update(m.body);
        }
        std::string digest = h.hex();
        std::string nonce = nonce_for(digest);
        for (auto &m : msgs) {
            m.id = nonce + m.id;
            for (auto &hv : m.headers)
                if (std::string_view(hv.first) == tn::kHdrPointId) hv.second = nonce + hv.second;
        }
        std::unique_ptr<Publisher, std::function<void(Publisher *)>> pub(acquire(),
                                                                         [this](Publisher *p) { release(p); });
        try {
            publish_all(msgs, *pub);
        } catch (...) {
            remember_failed(digest, nonce);
            throw;
        }
        forget_failed(digest);
        host().counter_add("points_published", double(points));
    }

  private:
    // Connected, stream in place: true. Otherwise err says why.
    bool ensure_ready(std::string &err) {
        if (!conn_->nc() && !conn_->connect(err)) return false;
        if (!conn_->connected()) {
            err = "NATS connection is down (reconnecting)";
            return false;
        }
        if (create_stream_ && !stream_ready_) {
            if (!create_stream(err)) return false;
            stream_ready_ = true;
        }
        return true;
    }

    bool create_stream(std::string &err) {
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        std::string subject = prefix_ + ".>";
        const char *subjects[] = {subject.c_str()};
        cfg.Name = stream_.c_str();
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = memory_storage_ ? js_MemoryStorage : js_FileStorage;
        cfg.MaxAge = max_age_ms_ * 1000000;
        cfg.MaxBytes = max_bytes_;
        cfg.MaxMsgs = max_msgs_;
        cfg.Duplicates = duplicate_window_ms_ * 1000000;
        cfg.Replicas = int64_t(replicas_);
        jsStreamInfo *si = nullptr;
        jsErrCode jerr = jsErrCode(0);
        natsStatus s = js_AddStream(&si, conn_->js(), &cfg, nullptr, &jerr);
        if (s != NATS_OK && jerr == JSStreamNameExistErr) {
            // Another edge host (or an earlier version of this config) created it: bring
            // the limits in line with this config.
            jerr = jsErrCode(0);
            s = js_UpdateStream(&si, conn_->js(), &cfg, nullptr, &jerr);
        }
        if (si) jsStreamInfo_Destroy(si);
        if (s != NATS_OK) {
            err = tn::nats_error("create stream " + stream_ + " on " + subject, s, jerr);
            return false;
        }
        host().info("stream " + stream_ + " ready on " + subject);
        return true;
    }

    std::string subject_of(const trib::Point &p) const {
        return prefix_ + "." + tn::subject_token(p.category) + "." + tn::subject_token(p.measurement);
    }

    size_t body_limit() const {
        int64_t limit = conn_->max_payload();
        if (chunk_size_ > 0 && (limit <= 0 || chunk_size_ < limit)) limit = chunk_size_;
        return size_t(std::max<int64_t>(limit - kHeaderAllowance, 1024));
    }

    // A failed batch's nonce, kept for its retry; a fresh one otherwise.
    std::string nonce_for(const std::string &digest) {
        std::lock_guard<std::mutex> g(nonce_mu_);
        auto it = failed_.find(digest);
        if (it != failed_.end()) return it->second;
        static const char hex[] = "0123456789abcdef";
        std::string out;
        for (int i = 0; i < 16; ++i) out.push_back(hex[rng_() & 15]);
        return out;
    }
    void remember_failed(const std::string &digest, const std::string &nonce) {
        std::lock_guard<std::mutex> g(nonce_mu_);
        if (failed_.size() >= 256) failed_.erase(failed_.begin()); // bounded; only retries read it
        failed_[digest] = nonce;
    }
    void forget_failed(const std::string &digest) {
        std::lock_guard<std::mutex> g(nonce_mu_);
        failed_.erase(digest);
    }

    Publisher *acquire() {
        std::lock_guard<std::mutex> g(pool_mu_);
        if (!free_.empty()) {
            Publisher *p = free_.back();
            free_.pop_back();
            return p;
        }
        auto p = std::make_unique<Publisher>();
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = publish_timeout_ms_;
        o.PublishAsync.ErrHandler = &NatsSink::on_publish_error;
        o.PublishAsync.ErrHandlerClosure = p.get();
        natsStatus s = natsConnection_JetStream(&p->js, conn_->nc(), &o);
        if (s != NATS_OK) throw StatusError(TRIB_RETRY, tn::nats_error("JetStream context", s));
        publishers_.push_back(std::move(p));
        return publishers_.back().get();
    }
    void release(Publisher *p) {
        std::lock_guard<std::mutex> g(pool_mu_);
        free_.push_back(p);
    }

    // Ids are relative here ("-p3", "-p3-a0", "-g0"); write() puts the batch nonce in front.
    std::vector<Message> build_messages(const trib_batch &batch, size_t &points) {
        std::vector<Message> out;
        // Points without attachments share one message per subject (split below the limit).
        std::map<std::string, Message> groups;
        std::vector<std::string> group_order;
        size_t limit = body_limit();
        size_t groups_flushed = 0;
        auto flush_group = [&](const std::string &subject) {
            Message &m = groups[subject];
            if (m.body.empty()) return;
            m.id = "-g" + std::to_string(groups_flushed++);
            out.push_back(std::move(m));
            m = Message{};
        };
        std::string line;
        points = batch.point_count;
        for (size_t i = 0; i < batch.point_count; ++i) {
            trib::Point p = trib::copy_point(*TRIB_AT(trib_point, batch.points, i));
            line.clear();
            if (!trib::line_protocol::append_line(line, p)) {
                --points;
                host().counter_add("points_without_fields", 1); // nothing line protocol can carry
                continue;
            }
            std::string subject = subject_of(p);
            if (p.attachments.empty()) {
                auto it = groups.find(subject);
                if (it == groups.end()) {
                    group_order.push_back(subject);
                    it = groups.emplace(subject, Message{}).first;
                }
                if (!it->second.body.empty() && it->second.body.size() + line.size() > limit) flush_group(subject);
                Message &m = groups[subject];
                if (m.body.empty()) {
                    m.subject = subject;
                    m.headers = {{tn::kHdrCategory, tn::header_escape(p.category)}};
                }
                m.body += line;
                continue;
            }
            // A point with attachments: its attachments first, then the point, so a
            // consumer reading the stream in order has them all when the point arrives.
            std::string point_id = "-p" + std::to_string(i);
            std::string profile_id;
            if (auto *f = p.find_field("profile_id"); f && f->type == TRIB_FIELD_STRING) profile_id = f->s;
            else if (auto *t = p.find_tag("profile_id")) profile_id = *t;
            for (size_t k = 0; k < p.attachments.size(); ++k) {
                auto &a = p.attachments[k];
                Message m;
                m.subject = prefix_ + ".attachments";
                m.headers = {{tn::kHdrPointId, point_id},
                             {tn::kHdrProfileId, tn::header_escape(profile_id)},
                             {tn::kHdrPart, tn::header_escape(a.name)},
                             {tn::kHdrContentType, tn::header_escape(a.content_type)},
                             {tn::kHdrIndex, std::to_string(k)}};
                m.id = point_id + "-a" + std::to_string(k);
                m.body = a.data ? *a.data : std::string();
                out.push_back(std::move(m));
            }
            Message m;
            m.subject = subject;
            m.headers = {{tn::kHdrCategory, tn::header_escape(p.category)},
                         {tn::kHdrPointId, point_id},
                         {tn::kHdrProfileId, tn::header_escape(profile_id)},
                         {tn::kHdrAttachments, std::to_string(p.attachments.size())}};
            m.id = point_id;
            m.body = std::move(line);
            line = std::string();
            out.push_back(std::move(m));
        }
        for (auto &s : group_order) flush_group(s);
        return out;
    }

    static void on_publish_error(jsCtx *, jsPubAckErr *pae, void *closure) {
        auto *pub = static_cast<Publisher *>(closure);
        std::lock_guard<std::mutex> g(pub->err_mu);
        ++pub->errors;
        if (pub->first_error.empty())
            pub->first_error = std::string(natsStatus_GetText(pae->Err)) +
                               (pae->ErrCode ? " (JetStream error " + std::to_string(int(pae->ErrCode)) + ")" : "") +
                               (pae->ErrText ? std::string(": ") + pae->ErrText : "");
    }

    void publish_one(Publisher &pub, const std::string &subject,
                     const std::vector<std::pair<const char *, std::string>> &headers, const std::string &msg_id,
                     const char *data, size_t len) {
        natsMsg *m = nullptr;
        natsStatus s = natsMsg_Create(&m, subject.c_str(), nullptr, data, int(len));
        for (auto &h : headers)
            if (s == NATS_OK && !h.second.empty()) s = natsMsgHeader_Set(m, h.first, h.second.c_str());
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = msg_id.c_str();
        if (s == NATS_OK) s = js_PublishMsgAsync(pub.js, &m, &po);
        natsMsg_Destroy(m); // no-op when the library took it
        if (s != NATS_OK) throw StatusError(TRIB_RETRY, tn::nats_error("publish on " + subject, s));
    }

    void publish_all(const std::vector<Message> &msgs, Publisher &pub) {
        {
            std::lock_guard<std::mutex> g(pub.err_mu);
            pub.errors = 0;
            pub.first_error.clear();
        }
        size_t limit = body_limit();
        size_t chunks = 0, published = 0, bytes = 0;
        try {
            for (auto &m : msgs) {
                size_t n = tn::chunk_count(m.body.size(), limit);
                bytes += m.body.size();
                if (n == 1) {
                    publish_one(pub, m.subject, m.headers, m.id, m.body.data(), m.body.size());
                    ++published;
                    continue;
                }
                // Above the server's max_payload: numbered chunks that carry the whole
                // message's headers plus what the input needs to join and check them.
                auto headers = m.headers;
                headers.emplace_back(tn::kHdrMessageId, m.id);
                headers.emplace_back(tn::kHdrChunkCount, std::to_string(n));
                headers.emplace_back(tn::kHdrTotalSize, std::to_string(m.body.size()));
                headers.emplace_back(tn::kHdrSha256, tn::sha256_hex(m.body));
                headers.emplace_back(tn::kHdrChunkIndex, "");
                for (size_t k = 0; k < n; ++k) {
                    headers.back().second = std::to_string(k);
                    size_t off = k * limit;
                    publish_one(pub, m.subject, headers, m.id + "." + std::to_string(k), m.body.data() + off,
                                std::min(limit, m.body.size() - off));
                }
                chunks += n;
                published += n;
            }
        } catch (const StatusError &) {
            abandon_pending(pub);
            host().counter_add("publish_retries", 1);
            throw;
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = publish_timeout_ms_;
        natsStatus s = js_PublishAsyncComplete(pub.js, &po);
        std::string failure;
        if (s != NATS_OK) failure = tn::nats_error("waiting for JetStream acks", s);
        {
            std::lock_guard<std::mutex> g(pub.err_mu);
            if (failure.empty() && pub.errors)
                failure = std::to_string(pub.errors) + " publish(es) refused: " + pub.first_error;
        }
        if (!failure.empty()) {
            abandon_pending(pub);
            host().counter_add("publish_retries", 1);
            {
                std::lock_guard<std::mutex> g(mu_);
                last_error_ = failure;
            }
            // Re-sent messages carry the same Nats-Msg-Id: whatever did land is dropped as
            // a duplicate by the stream.
            throw StatusError(TRIB_RETRY, failure);
        }
        host().counter_add("messages_published", double(published));
        host().counter_add("chunks_published", double(chunks));
        host().counter_add("bytes_published", double(bytes));
    }

    // Forget publishes still waiting for an ack: the whole batch is retried.
    static void abandon_pending(Publisher &pub) {
        natsMsgList pending{};
        if (js_PublishAsyncGetPendingList(&pending, pub.js) == NATS_OK) natsMsgList_Destroy(&pending);
    }

    std::unique_ptr<tn::Connection> conn_;
    std::mutex mu_;
    std::string prefix_, stream_;
    bool create_stream_ = false, stream_ready_ = false, memory_storage_ = false;
    int64_t max_age_ms_ = 0, max_bytes_ = -1, max_msgs_ = -1, duplicate_window_ms_ = 0;
    int replicas_ = 1;
    int64_t publish_timeout_ms_ = 10000, chunk_size_ = 0;
    std::string last_error_; // under mu_

    std::mutex nonce_mu_;
    std::map<std::string, std::string> failed_; // digest of a failed batch → its nonce
    std::mt19937_64 rng_{std::random_device{}()};

    std::mutex pool_mu_;
    std::vector<std::unique_ptr<Publisher>> publishers_;
    std::vector<Publisher *> free_;
};

} // namespace

TRIB_DEFINE_MODULE(NatsSink, "nats", "1.0.0", TRIB_KIND_SINK,
                   "NATS JetStream sink: points as line protocol, attachments chunked, acked writes",
                   nats_sink_sample_conf)
