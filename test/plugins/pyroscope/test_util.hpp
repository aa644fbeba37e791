// Helpers shared by the pyroscope tests: golden rendering of points (files and gzip come
// from test/support).
#pragma once

#include <tributary/plugin.hpp>

#include <catch2/catch.hpp>
#include <trib_test/support.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pyro_test {

using trib::test::gzip_of;
using trib::test::read_file;

inline unsigned long crc(const std::string &s) {
    return crc32(0, reinterpret_cast<const Bytef *>(s.data()), uInt(s.size()));
}

// A stable text form of points: everything but the random profile_id, points in the order
// of their text (metric points come from the module's pool, after the profile points).
inline std::string render(const std::vector<trib::Point> &points) {
    std::vector<std::string> each;
    for (auto &p : points) {
        std::ostringstream o;
        o << "point " << p.measurement << " category=" << p.category << " time=" << p.time_ns << "\n";
        for (auto &[k, v] : p.tags) o << "  tag " << k << "=" << v << "\n";
        for (auto &f : p.fields) {
            if (f.key == "profile_id") continue;
            o << "  field " << f.key << "=";
            char buf[64];
            switch (f.type) {
            case TRIB_FIELD_INT: o << f.i << "i"; break;
            case TRIB_FIELD_UINT: o << f.u << "u"; break;
            case TRIB_FIELD_FLOAT:
                std::snprintf(buf, sizeof buf, "%.6g", f.f);
                o << buf;
                break;
            case TRIB_FIELD_BOOL: o << (f.b ? "true" : "false"); break;
            case TRIB_FIELD_STRING: o << '"' << f.s << '"'; break;
            case TRIB_FIELD_BYTES: o << "bytes(" << f.s.size() << ")"; break;
            }
            o << "\n";
        }
        for (auto &a : p.attachments) {
            o << "  attachment " << a.name << " type=" << a.content_type << " size=" << (a.data ? a.data->size() : 0);
            if (a.name == "event.json") o << " text=" << (a.data ? *a.data : "");
            else if (a.data) o << " crc32=" << crc(*a.data);
            o << "\n";
        }
        each.push_back(o.str());
    }
    std::sort(each.begin(), each.end());
    std::string out;
    for (auto &e : each) out += e;
    return out;
}

// Compares with golden/<name>.reference; TRIB_UPDATE_GOLDEN=1 rewrites the file.
inline void check_golden(const std::string &name, const std::string &actual) {
    std::string path = std::string(TRIB_TEST_DATA_DIR) + "/plugins/pyroscope/golden/" + name + ".reference";
    if (const char *u = std::getenv("TRIB_UPDATE_GOLDEN"); u && std::string(u) == "1") {
        std::ofstream(path, std::ios::binary) << actual;
        return;
    }
    std::ifstream f(path, std::ios::binary);
    INFO("golden file " << path << " (set TRIB_UPDATE_GOLDEN=1 to create it)");
    REQUIRE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    CHECK(actual == ss.str());
}

} // namespace pyro_test
