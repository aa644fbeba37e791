// Shared by the nats tests: a real nats-server (Debian) on a free port, a reader of a
// whole stream written with libnats (independent of the nats input module: it joins
// chunks and checks their SHA-256 itself), and helpers to compare points.
#pragma once

#include <trib_test/support.hpp>
#include <wire.hpp>

#include <nats/nats.h>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#ifndef NATS_SERVER_BIN
#define NATS_SERVER_BIN "nats-server"
#endif

namespace nats_test {

namespace tt = trib::test;
using namespace std::chrono_literals;

// nats-server -js on 127.0.0.1:<free port>, its store in a temp dir that survives stop()
// and start() (the JetStream data is kept across a kill).
class NatsServer {
  public:
    explicit NatsServer(std::string extra_config = "") : dir_("nats-server"), port_(tt::free_port()) {
        if (!extra_config.empty()) tt::write_file(dir_.sub("server.conf"), extra_config);
        start();
    }
    ~NatsServer() { kill(); }
    void start() {
        tt::ChildOptions o;
        o.argv = {NATS_SERVER_BIN, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd", dir_.sub("store")};
        if (tt::file_exists(dir_.sub("server.conf"))) {
            o.argv.push_back("-c");
            o.argv.push_back(dir_.sub("server.conf"));
        }
        o.log_path = dir_.sub("server-" + std::to_string(starts_++) + ".log");
        child_ = std::make_unique<tt::ChildProcess>(o);
        bool up = tt::wait_until([&] { return tt::read_file(o.log_path).find("Server is ready") != std::string::npos; },
                                 20s, 50ms);
        if (!up) throw std::runtime_error("nats-server did not start:\n" + child_->log());
    }
    // SIGKILL: no goodbye to the clients, as in a crash.
    void kill() {
        if (child_) child_->stop(SIGKILL, 1000ms);
        child_.reset();
    }
    int port() const { return port_; }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

  private:
    tt::TempDir dir_;
    int port_;
    int starts_ = 0;
    std::unique_ptr<tt::ChildProcess> child_;
};

// One point as the tests compare it: measurement, category, tags, typed fields, time.
inline std::string point_key(const std::string &category, const tt::LpPoint &p) {
    std::ostringstream o;
    o.precision(17);
    o << category << '|' << p.measurement << '|';
    for (auto &kv : p.tags) o << kv.first << '=' << kv.second << ',';
    o << '|';
    for (auto &[k, v] : p.fields) {
        o << k << '=' << v.index() << ':';
        std::visit([&](auto &x) { o << x; }, v);
        o << ',';
    }
    o << '|' << p.time_ns;
    return o.str();
}

struct StreamContent {
    // point_key → how many times it was in the stream
    std::map<std::string, int> points;
    std::vector<std::pair<std::string, tt::LpPoint>> point_list; // category, point (in stream order)
    // (profile id, part) → bytes; and how often each was in the stream
    std::map<std::pair<std::string, std::string>, std::string> attachments;
    std::map<std::pair<std::string, std::string>, int> attachment_copies;
    size_t messages = 0, chunks = 0, largest_message = 0, bad_chunk_sets = 0;
    size_t chunked_attachments = 0;
};

inline std::string msg_header(natsMsg *m, const char *key) {
    const char *v = nullptr;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK && v ? std::string(v) : std::string();
}

// Reads every message of `stream` (subject prefix.>) with a fresh durable pull consumer.
inline StreamContent read_stream(const std::string &url, const std::string &stream, const std::string &prefix) {
    static int reader_no = 0;
    StreamContent out;
    natsConnection *nc = nullptr;
    REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    jsCtx *js = nullptr;
    REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = nullptr;
    jsErrCode jerr = jsErrCode(0);
    std::string durable = "check" + std::to_string(::getpid()) + "x" + std::to_string(reader_no++);
    std::string filter = prefix + ".>";
    REQUIRE(js_PullSubscribe(&sub, js, filter.c_str(), durable.c_str(), nullptr, &so, &jerr) == NATS_OK);
    struct Chunks {
        std::map<size_t, std::string> parts;
        size_t count = 0;
        natsMsg *last = nullptr;
    };
    std::map<std::string, Chunks> chunk_sets;
    std::vector<natsMsg *> keep;
    auto handle = [&](natsMsg *m, std::string body) {
        std::string subject = natsMsg_GetSubject(m);
        std::string part = msg_header(m, trib::nats::kHdrPart);
        if (!part.empty()) {
            auto key = std::make_pair(trib::nats::header_unescape(msg_header(m, trib::nats::kHdrProfileId)),
                                      trib::nats::header_unescape(part));
            out.attachments[key] = std::move(body);
            out.attachment_copies[key]++;
            return;
        }
        std::string category = trib::nats::header_unescape(msg_header(m, trib::nats::kHdrCategory));
        for (auto &p : tt::parse_line_protocol(body)) {
            out.points[point_key(category, p)]++;
            out.point_list.emplace_back(category, p);
        }
    };
    for (;;) {
        natsMsgList list{};
        natsStatus s = natsSubscription_Fetch(&list, sub, 256, 1500, &jerr);
        if (s == NATS_TIMEOUT) break;
        REQUIRE(s == NATS_OK);
        for (int i = 0; i < list.Count; ++i) {
            natsMsg *m = list.Msgs[i];
            ++out.messages;
            size_t len = size_t(natsMsg_GetDataLength(m));
            out.largest_message = std::max(out.largest_message, len);
            std::string body(natsMsg_GetData(m), len);
            std::string id = msg_header(m, trib::nats::kHdrMessageId);
            if (id.empty()) {
                handle(m, std::move(body));
                continue;
            }
            ++out.chunks;
            auto &cs = chunk_sets[id];
            cs.count = std::stoul(msg_header(m, trib::nats::kHdrChunkCount));
            cs.parts[std::stoul(msg_header(m, trib::nats::kHdrChunkIndex))] = std::move(body);
            if (cs.parts.size() == cs.count) {
                std::string whole;
                for (auto &kv : cs.parts) whole += kv.second;
                if (trib::nats::sha256_hex(whole) != msg_header(m, trib::nats::kHdrSha256) ||
                    std::to_string(whole.size()) != msg_header(m, trib::nats::kHdrTotalSize))
                    ++out.bad_chunk_sets;
                if (!msg_header(m, trib::nats::kHdrPart).empty()) ++out.chunked_attachments;
                handle(m, std::move(whole));
                chunk_sets.erase(id);
            }
        }
        natsMsgList_Destroy(&list);
    }
    CHECK(chunk_sets.empty()); // no chunk set left incomplete
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return out;
}

// Every point the host's file sink wrote, by category.
inline std::vector<std::pair<std::string, tt::LpPoint>> file_sink_points(const std::string &data_dir) {
    std::vector<std::pair<std::string, tt::LpPoint>> out;
    std::string root = data_dir + "/points";
    for (auto &rel : tt::list_files(root)) {
        std::string category = rel.substr(0, rel.find('/'));
        // The file sink may be mid-write: a last line without its '\n' is not complete yet.
        std::string text = tt::read_file(root + "/" + rel);
        text.resize(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
        for (auto &p : tt::parse_line_protocol(text)) out.emplace_back(category, p);
    }
    return out;
}

inline size_t count_points(const std::string &data_dir, const std::string &measurement) {
    size_t n = 0;
    for (auto &cp : file_sink_points(data_dir)) n += cp.second.measurement == measurement;
    return n;
}

// (profile id, file name) → bytes of what the file sink stored under attachments/.
inline std::map<std::pair<std::string, std::string>, std::string> file_sink_attachments(const std::string &data_dir) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    std::string root = data_dir + "/attachments";
    for (auto &rel : tt::list_files(root)) {
        size_t slash = rel.find('/');
        if (slash == std::string::npos) continue;
        out[{rel.substr(0, slash), rel.substr(slash + 1)}] = tt::read_file(root + "/" + rel);
    }
    return out;
}

inline std::string nats_sink_table(const std::string &url, const std::string &extra = "") {
    return "[[sinks]]\n  name = \"jetstream\"\n  type = \"nats\"\n  urls = [\"" + url +
           "\"]\n  create_stream = true\n  max_age = \"1h\"\n  publish_timeout = \"3s\"\n" + extra +
           "  [sinks.spool]\n    retry_initial_ms = 100\n    retry_max_ms = 1000\n";
}

// An edge host: the profile input, the file sink (what the host accepted) and the nats sink.
inline tt::HostOptions edge_host_options(const NatsServer &server) {
    tt::HostOptions o;
    o.config_text = "[[sinks]]\n  name = \"file\"\n  type = \"file\"\n" + nats_sink_table(server.url());
    o.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    return o;
}

// A dd-trace upload (the recorded Node one) with an extra file part of `extra_bytes`
// incompressible bytes: an attachment above the server's 1 MB max_payload.
inline std::pair<std::string, std::string> upload_with_large_part(size_t extra_bytes, uint32_t seed) {
    std::string dir = std::string(TRIB_FIXTURES_DIR) + "/ddtrace-nodejs/";
    std::string body = tt::read_file(dir + "profiling-input.body.multipart");
    const std::string boundary = "1a8de2bbf9e4d199";
    std::string big(extra_bytes, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
    for (auto &c : big) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = char(x & 0xff);
    }
    std::string closing = "--" + boundary + "--";
    size_t at = body.rfind(closing);
    REQUIRE(at != std::string::npos);
    std::string part = "--" + boundary +
                       "\r\nContent-Disposition: form-data; name=\"big.bin\"; filename=\"big.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n" +
                       big + "\r\n";
    body.insert(at, part);
    return {body, "multipart/form-data; boundary=" + boundary};
}

} // namespace nats_test
