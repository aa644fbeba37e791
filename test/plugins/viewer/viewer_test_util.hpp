// Shared by the viewer tests: a host with the profile input and the file + viewer sinks,
// ddtrace-style uploads built from recorded pprof files, JSON GETs.
#pragma once

#include <tributary/profiling/profile_point.hpp>
#include <trib_test/support.hpp>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>

namespace viewer_test {

namespace tt = trib::test;
using namespace std::chrono_literals;

inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// tributary.conf with the file sink and the viewer sink (extra keys appended to its table).
inline std::string sinks_config(const std::string &viewer_keys = "") {
    return "[[sinks]]\n  name = \"file\"\n  type = \"file\"\n"
           "[[sinks]]\n  name = \"viewer\"\n  type = \"viewer\"\n  categories = [\"profiling\", \"tracing\"]\n" +
           viewer_keys;
}

inline tt::HostOptions host_options(const std::string &viewer_keys = "") {
    tt::HostOptions o;
    o.config_text = sinks_config(viewer_keys);
    o.conf_d["profile/profile.conf"] = "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n";
    return o;
}

// POSTs one dd-trace style upload (event + files) to the profile input; returns the status.
inline int upload(const tt::HostProcess &host, const std::string &service,
                  const std::map<std::string, std::string> &files, int64_t start_ns, int64_t end_ns,
                  const std::string &extra_tags = "") {
    nlohmann::json names = nlohmann::json::array();
    for (auto &f : files) names.push_back(f.first);
    nlohmann::json event = {
        {"attachments", names},
        {"start", trib::profiling::format_rfc3339_nano(start_ns)},
        {"end", trib::profiling::format_rfc3339_nano(end_ns)},
        {"family", "go"},
        {"version", "4"},
        {"tags_profiler", "service:" + service + ",env:test,version:1.0,host:viewer-host" + extra_tags}};
    const std::string b = "viewerboundary7d1e";
    std::string body = "--" + b +
                       "\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n"
                       "Content-Type: application/json\r\n\r\n" +
                       event.dump() + "\r\n";
    for (auto &[name, data] : files)
        body += "--" + b + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + name +
                "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + "\r\n";
    body += "--" + b + "--\r\n";
    return tt::http("POST", host.url("/profiling/v1/input"), body, "multipart/form-data; boundary=" + b).status;
}

struct JsonAnswer {
    int status = 0;
    nlohmann::json body;
};

inline JsonAnswer get_json(const tt::HostProcess &host, const std::string &path_and_query) {
    auto r = tt::http("GET", host.url(path_and_query));
    JsonAnswer a;
    a.status = r.status;
    a.body = nlohmann::json::parse(r.body, nullptr, false);
    return a;
}

inline std::string fixture(const std::string &rel) { return tt::read_file(std::string(TRIB_FIXTURES_DIR) + "/" + rel); }

// Waits until /api/v1/profiles?service=… lists n profiles (any time) and the file sink,
// which runs beside the viewer, has written all their files.
inline bool wait_profiles(const tt::HostProcess &host, const std::string &service, size_t n,
                          std::chrono::milliseconds timeout = 15000ms) {
    return tt::wait_until(
        [&] {
            auto a = get_json(host, "/api/v1/profiles?from=0&limit=10000&service=" + service);
            if (a.status != 200 || a.body["profiles"].size() != n) return false;
            for (auto &p : a.body["profiles"])
                for (auto &name : p["attachments"])
                    if (!tt::file_exists(host.data_dir() + "/attachments/" + p["id"].get<std::string>() + "/" +
                                         name.get<std::string>()))
                        return false;
            return true;
        },
        timeout);
}

} // namespace viewer_test
