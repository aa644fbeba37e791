// Shared helpers of the profile module tests: load build*/plugins/profile.so into a
// FakeHost, read fixtures, render points as stable text for golden files.
#pragma once

#include <tributary/testing/fake_host.hpp>
#include <trib_test/support.hpp>

#include <Poco/DigestStream.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace profile_test {

using trib::test::fixture;
using trib::test::gzip_of;
using trib::test::read_file;

inline const trib_module_t *profile_module() {
    static const trib_module_t *mod = [] {
        std::string err;
        auto *m = trib::testing::FakeHost::load_so(std::string(TRIB_BUILD_DIR) + "/plugins/profile.so", &err);
        if (!m) throw std::runtime_error("cannot load profile.so: " + err);
        return m;
    }();
    return mod;
}

inline std::string sha256(const std::string &data) {
    Poco::SHA2Engine eng(Poco::SHA2Engine::SHA_256);
    eng.update(data.data(), static_cast<unsigned>(data.size()));
    return Poco::DigestEngine::digestToHex(eng.digest());
}

// measurement, category, time, sorted tags, sorted fields (profile_id masked),
// attachments with size and sha256 — one line each.
inline std::string render(const std::vector<trib::Point> &points) {
    std::string out;
    char buf[64];
    for (auto &p : points) {
        out += "point " + p.measurement + " category=" + p.category + " time=" + std::to_string(p.time_ns) + "\n";
        auto tags = p.tags;
        std::sort(tags.begin(), tags.end());
        for (auto &[k, v] : tags) out += "  tag " + k + "=" + v + "\n";
        auto fields = p.fields;
        std::sort(fields.begin(), fields.end(), [](auto &a, auto &b) { return a.key < b.key; });
        for (auto &f : fields) {
            out += "  field " + f.key + "=";
            switch (f.type) {
            case TRIB_FIELD_INT: out += std::to_string(f.i) + "i"; break;
            case TRIB_FIELD_UINT: out += std::to_string(f.u) + "u"; break;
            case TRIB_FIELD_FLOAT:
                std::snprintf(buf, sizeof buf, "%.9g", f.f);
                out += buf;
                break;
            case TRIB_FIELD_BOOL: out += f.b ? "true" : "false"; break;
            case TRIB_FIELD_STRING: out += "\"" + (f.key == "profile_id" ? std::string("<uuid>") : f.s) + "\""; break;
            case TRIB_FIELD_BYTES: out += "bytes(" + std::to_string(f.s.size()) + ")"; break;
            }
            out += "\n";
        }
        for (auto &a : p.attachments)
            out += "  attachment " + a.name + " type=" + a.content_type +
                   " size=" + std::to_string(a.data ? a.data->size() : 0) + " sha256=" + sha256(a.data ? *a.data : "") +
                   "\n";
    }
    return out;
}

// A FakeHost with one started profile instance.
struct Instance {
    trib::testing::FakeHost host;
    explicit Instance(const std::string &config_json = "{}") {
        std::string err;
        if (host.create(profile_module(), "test", config_json, &err) != TRIB_OK)
            throw std::runtime_error("create failed: " + err);
        if (host.start(&err) != TRIB_OK) throw std::runtime_error("start failed: " + err);
    }
    ~Instance() { host.stop(); }

    // The points once `n` have arrived: a profiling_metrics point is emitted by the
    // instance's metrics pool after the upload is answered.
    std::vector<trib::Point> points_when(size_t n) {
        trib::test::wait_until([&] { return host.points().size() >= n; }, std::chrono::seconds(10),
                               std::chrono::milliseconds(2));
        return host.points();
    }
};

} // namespace profile_test
