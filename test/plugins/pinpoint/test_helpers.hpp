// Shared by the pinpoint tests that drive the real pinpoint.so through FakeHost.
#pragma once

#include <tributary/testing/fake_host.hpp>
#include <trib_test/support.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "raw_grpc_client.hpp"

namespace pinpoint_test {

inline const trib_module_t *load_module() {
    std::string err;
    const trib_module_t *m = trib::testing::FakeHost::load_so(TRIB_BUILD_DIR "/plugins/pinpoint.so", &err);
    if (!m) throw std::runtime_error("cannot load pinpoint.so: " + err);
    return m;
}

// A pinpoint instance on a free port inside a FakeHost; stopped and destroyed on scope exit.
struct Running {
    trib::testing::FakeHost host;
    int port = 0;
    std::string start_error;
    trib_status status = TRIB_OK;

    explicit Running(nlohmann::json cfg = nlohmann::json::object(), const std::string &data_dir = "") {
        if (!data_dir.empty()) host.set_data_dir(data_dir);
        port = trib::test::free_port();
        cfg["address"] = "127.0.0.1:" + std::to_string(port);
        status = host.create(load_module(), "default", cfg.dump(), &start_error);
        if (status == TRIB_OK) status = host.start(&start_error);
    }
    ~Running() {
        host.stop();
        host.destroy();
    }
    std::string target() const { return "127.0.0.1:" + std::to_string(port); }
};

inline std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct Recorded {
    int n;
    std::string rpc; // "v1.Span/SendSpan"
    std::map<std::string, std::string> headers;
    std::string bytes;
};

inline std::vector<Recorded> recorded_messages() {
    const std::string dir = TRIB_FIXTURES_DIR "/pinpoint-nodejs";
    std::vector<Recorded> out;
    std::ifstream f(dir + "/messages.jsonl");
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line);
        Recorded r;
        r.n = j.at("n").get<int>();
        r.rpc = j.at("rpc").get<std::string>();
        for (auto &kv : j.at("metadata").items())
            if (kv.key() != "user-agent") r.headers[kv.key()] = kv.value().get<std::string>();
        std::string name = r.rpc;
        std::replace(name.begin(), name.end(), '.', '_');
        std::replace(name.begin(), name.end(), '/', '_');
        char file[256];
        std::snprintf(file, sizeof file, "%s/bin/%04d-%s.bin", dir.c_str(), r.n, name.c_str());
        r.bytes = slurp(file);
        out.push_back(std::move(r));
    }
    return out;
}

// Replays recorded messages in order; consecutive messages of one streaming RPC share a
// stream. Returns the status of every call.
inline std::vector<RawResult> replay(RawClient &c, const std::vector<Recorded> &msgs) {
    std::vector<RawResult> results;
    size_t i = 0;
    while (i < msgs.size()) {
        const Recorded &m = msgs[i];
        std::string method = "/" + m.rpc;
        if (m.rpc == "v1.Span/SendSpan" || m.rpc == "v1.Stat/SendAgentStat") {
            std::vector<std::string> batch;
            size_t j = i;
            while (j < msgs.size() && msgs[j].rpc == m.rpc && msgs[j].headers == m.headers)
                batch.push_back(msgs[j++].bytes);
            results.push_back(c.client_stream(method, m.headers, batch));
            i = j;
        } else if (m.rpc == "v1.Agent/PingSession") {
            results.push_back(c.bidi_echo(method, m.headers, {m.bytes}));
            ++i;
        } else {
            results.push_back(c.unary(method, m.headers, m.bytes));
            ++i;
        }
    }
    return results;
}

inline std::string field_text(const trib::Field &f) {
    char buf[64];
    switch (f.type) {
    case TRIB_FIELD_INT: return "i:" + std::to_string(f.i);
    case TRIB_FIELD_UINT: return "u:" + std::to_string(f.u);
    case TRIB_FIELD_FLOAT: std::snprintf(buf, sizeof buf, "f:%.17g", f.f); return buf;
    case TRIB_FIELD_BOOL: return f.b ? "b:true" : "b:false";
    case TRIB_FIELD_STRING: return "s:" + f.s;
    case TRIB_FIELD_BYTES: return "bytes:" + std::to_string(f.s.size());
    }
    return "?";
}

inline std::string str_field(const trib::Point &p, const char *k) {
    const trib::Field *f = p.find_field(k);
    return f ? f->s : std::string();
}
inline int64_t int_field(const trib::Point &p, const char *k) {
    const trib::Field *f = p.find_field(k);
    return f ? f->i : INT64_MIN;
}
inline std::string tag(const trib::Point &p, const char *k) {
    const std::string *t = p.find_tag(k);
    return t ? *t : std::string();
}

// Stable text of a set of points: sorted, tags and fields sorted by key.
inline std::string render(std::vector<trib::Point> pts) {
    std::stable_sort(pts.begin(), pts.end(), [](const trib::Point &a, const trib::Point &b) {
        auto key = [](const trib::Point &p) {
            return std::make_tuple(p.measurement, str_field(p, "trace_id"), p.time_ns, int_field(p, "start"),
                                   str_field(p, "span_id"));
        };
        return key(a) < key(b);
    });
    std::string out;
    for (auto &p : pts) {
        out += p.measurement + " [" + p.category + "] time_ns=" + std::to_string(p.time_ns) + "\n";
        auto tags = p.tags;
        std::sort(tags.begin(), tags.end());
        for (auto &t : tags) out += "  tag " + t.first + "=" + t.second + "\n";
        std::vector<std::pair<std::string, std::string>> fields;
        for (auto &f : p.fields) fields.emplace_back(f.key, field_text(f));
        std::sort(fields.begin(), fields.end());
        for (auto &f : fields) out += "  field " + f.first + "=" + f.second + "\n";
    }
    return out;
}

// Compares with test/plugins/pinpoint/golden/<name>; TRIB_UPDATE_GOLDEN=1 rewrites it.
inline bool matches_golden(const std::string &name, const std::string &actual, std::string *diff_hint) {
    const std::string path = std::string(TRIB_TEST_DATA_DIR) + "/plugins/pinpoint/golden/" + name;
    if (const char *u = std::getenv("TRIB_UPDATE_GOLDEN"); u && std::string(u) == "1") {
        std::ofstream(path, std::ios::binary) << actual;
        return true;
    }
    std::string expected;
    try {
        expected = slurp(path);
    } catch (const std::exception &e) {
        *diff_hint = e.what();
        return false;
    }
    if (expected == actual) return true;
    std::istringstream a(actual), e(expected);
    std::string la, le;
    int line = 1;
    while (true) {
        bool ga = bool(std::getline(a, la)), ge = bool(std::getline(e, le));
        if (!ga && !ge) break;
        if (!ga || !ge || la != le) {
            *diff_hint = "line " + std::to_string(line) + ":\n  expected: " + (ge ? le : "<eof>") +
                         "\n  actual:   " + (ga ? la : "<eof>");
            break;
        }
        ++line;
    }
    return false;
}

} // namespace pinpoint_test
