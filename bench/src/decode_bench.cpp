// trib_bench_decode: pprof decode (+ generate_metrics) throughput of libtrib_profiling
// against libprotobuf's ParseFromString of the same bytes, single thread.
//
// For each pprof given (gzip'd, as clients send it):
//   protobuf_parse    Profile::ParseFromString(uncompressed)          — the ceiling
//   trib_parse_raw    trib::profiling::parse_pprof(uncompressed)
//   one_pass_raw      trib::profiling::read_pprof(uncompressed)       — the one-pass reader
//                     (sample types, sums, labels, times; the rest only checked)
//   one_pass_unchecked_raw  the same reader, check_unread = false, no labels (the metrics' read)
//   zlib_inflate      trib::profiling::decompress(gzip)               — inflate alone
//   trib_parse_gzip   trib::profiling::parse_pprof(gzip)              — an upload, before
//   one_pass_gzip     trib::profiling::summarize_pprof(gzip)          — an upload, now
// and for the dd-trace upload (event + every part) the whole generate_metrics step:
//   trib_metrics      compute_profile_metrics(upload)                 — one pass per pprof
//   trib_metrics_libprotobuf  the same through libprotobuf's parse (the previous path)
// MB/s are always of uncompressed pprof bytes, so rows compare like for like, per second
// of the thread's CPU time (robust on a shared machine) and per second of wall time.
//
// With --modules DIR, the CPU per upload of the profile and pyroscope modules (loaded from
// DIR into an in-memory host: no HTTP, no bus) on the 100 KB-class uploads, with
// generate_metrics off, synchronous (metrics_sync = true) and on the metrics pool: CPU of
// the whole process per upload (pool threads included, queue drained) and of the request
// thread alone, in ms.
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pprof_reader.hpp>
#include <tributary/profiling/profile_point.hpp>
#include <tributary/testing/fake_host.hpp>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string &p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

double cpu_seconds(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}
double thread_cpu_seconds() { return cpu_seconds(CLOCK_THREAD_CPUTIME_ID); }

struct IngestRow {
    std::string module, metrics;
    uint64_t uploads;
    double process_cpu_ms, thread_cpu_ms; // per upload
};

// Posts `body` to `path` of a fresh instance `uploads` times (after 20 warm-up posts),
// then stops it (the pool drains): CPU per upload.
IngestRow ingest_cpu(const std::string &so, const std::string &module, const std::string &config,
                     const std::string &metrics, const std::string &path, const std::string &body,
                     const std::string &content_type, uint64_t uploads) {
    std::string err;
    const trib_module_t *mod = trib::testing::FakeHost::load_so(so, &err);
    if (!mod) throw std::runtime_error("cannot load " + so + ": " + err);
    trib::testing::FakeHost host;
    if (host.create(mod, module, config, &err) != TRIB_OK || host.start(&err) != TRIB_OK)
        throw std::runtime_error(module + ": " + err);
    auto post = [&] {
        auto r = host.http("POST", path, body, content_type);
        if (r.status != 200) throw std::runtime_error(module + " answered " + std::to_string(r.status) + ": " + r.body);
    };
    for (int i = 0; i < 20; ++i) post();
    host.stop();
    host.clear_points();
    trib::testing::FakeHost timed;
    if (timed.create(mod, module, config, &err) != TRIB_OK || timed.start(&err) != TRIB_OK)
        throw std::runtime_error(module + ": " + err);
    const double p0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), t0 = thread_cpu_seconds();
    for (uint64_t i = 0; i < uploads; ++i) {
        auto r = timed.http("POST", path, body, content_type);
        if (r.status != 200) throw std::runtime_error(module + " answered " + std::to_string(r.status));
        if (i % 16 == 15) timed.clear_points(); // the fake host keeps copies of every point
    }
    const double t1 = thread_cpu_seconds();
    timed.stop();
    const double p1 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    return {module, metrics, uploads, (p1 - p0) * 1e3 / double(uploads), (t1 - t0) * 1e3 / double(uploads)};
}

struct Rate {
    double cpu_mb_per_s;  // per second of this thread's CPU time: robust on a busy machine
    double wall_mb_per_s; // per second of wall time
    uint64_t calls;
};

// Runs fn repeatedly for at least min_seconds of CPU time (after one warm-up call).
Rate measure(double min_seconds, size_t bytes_per_call, const std::function<void()> &fn) {
    fn();
    uint64_t calls = 0;
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_seconds();
    double cpu = 0;
    do {
        for (int i = 0; i < 8; ++i) fn();
        calls += 8;
        cpu = thread_cpu_seconds() - c0;
    } while (cpu < min_seconds);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double mb = double(bytes_per_call) * double(calls) / 1e6;
    return {mb / cpu, mb / wall, calls};
}

volatile int64_t g_sink; // keeps results observable so the work is not optimised away

struct Row {
    std::string input, step;
    size_t bytes;
    Rate rate;
};

} // namespace

int main(int argc, char **argv) {
    double seconds = 1.0;
    std::vector<std::string> pprofs;
    std::string upload_body, upload_boundary, modules_dir, pyroscope_body;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--pprof" && i + 1 < argc) pprofs.push_back(argv[++i]);
        else if (a == "--modules" && i + 2 < argc) {
            modules_dir = argv[++i];
            pyroscope_body = argv[++i];
        } else if (a == "--upload" && i + 2 < argc) {
            upload_body = argv[++i];
            upload_boundary = argv[++i];
        } else {
            std::fprintf(stderr, "usage: trib_bench_decode [--seconds S] --pprof FILE.gz... [--upload BODY BOUNDARY] "
                                 "[--modules DIR PYROSCOPE_PPROF.gz]\n");
            return 2;
        }
    }
    try {
        std::vector<Row> rows;
        for (auto &path : pprofs) {
            std::string gz = read_file(path);
            std::string raw = trib::profiling::decompress(gz);
            std::string name = path.substr(path.find_last_of('/') + 1);
            rows.push_back({name, "protobuf_parse", raw.size(), measure(seconds, raw.size(), [&] {
                                perftools::profiles::Profile p;
                                if (!p.ParseFromString(raw)) throw std::runtime_error("libprotobuf rejected " + path);
                                g_sink = p.sample_size();
                            })});
            rows.push_back({name, "trib_parse_raw", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::parse_pprof(raw).sample_size();
                            })});
            const trib::profiling::PprofReadOptions labels{.max_label_keys = 1024};
            rows.push_back({name, "one_pass_raw", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::read_pprof(raw, labels).sample_types.size();
                            })});
            const trib::profiling::PprofReadOptions unchecked{.check_unread = false};
            rows.push_back({name, "one_pass_unchecked_raw", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::read_pprof(raw, unchecked).sample_types.size();
                            })});
            rows.push_back({name, "zlib_inflate", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = int64_t(trib::profiling::decompress(gz).size());
                            })});
            rows.push_back({name, "trib_parse_gzip", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::parse_pprof(gz).sample_size();
                            })});
            rows.push_back({name, "one_pass_gzip", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::summarize_pprof(gz, trib::profiling::InflateLimit{}, labels)
                                             .sample_types.size();
                            })});
        }
        if (!upload_body.empty()) {
            std::string body = read_file(upload_body);
            auto parts = trib::profiling::parse_multipart(body, upload_boundary);
            trib::profiling::ProfileUpload up;
            up.tags["language"] = "nodejs";
            up.start_ns = 1'795'316'581'860'000'000;
            up.end_ns = up.start_ns + 5'033'000'000;
            up.format = "pprof";
            size_t raw_total = 0;
            for (auto &part : parts) {
                if (part.name == "event") continue;
                trib::profiling::ProfileFile f;
                f.name = part.filename.empty() ? part.name : part.filename;
                f.content_type = part.content_type;
                f.data = std::make_shared<const std::string>(part.data);
                raw_total += trib::profiling::decompress(part.data).size();
                up.files.push_back(std::move(f));
            }
            auto metrics = trib::profiling::compute_profile_metrics(up);
            if (metrics.empty()) throw std::runtime_error("generate_metrics derived nothing from " + upload_body);
            std::string name = upload_body.substr(upload_body.find_last_of('/') + 1);
            rows.push_back({name, "trib_metrics", raw_total, measure(seconds, raw_total, [&] {
                                g_sink = int64_t(trib::profiling::compute_profile_metrics(up).size());
                            })});
            rows.push_back({name, "trib_metrics_libprotobuf", raw_total, measure(seconds, raw_total, [&] {
                                g_sink = int64_t(trib::profiling::compute_profile_metrics(
                                                     up, trib::profiling::PprofDecoder::libprotobuf)
                                                     .size());
                            })});
        }
        std::vector<IngestRow> ingest;
        if (!modules_dir.empty() && !upload_body.empty()) {
            const uint64_t n = seconds < 1 ? 150 : 500;
            std::string ddtrace = read_file(upload_body), pyro = read_file(pyroscope_body);
            std::string ddtrace_type = "multipart/form-data; boundary=" + upload_boundary;
            const std::string pyro_path = "/ingest?name=bench.app%7Bregion%3Dlocal%7D&spyName=nodespy&format=pprof"
                                          "&from=1795316000&until=1795316010";
            for (auto [label, config] :
                 std::vector<std::pair<std::string, std::string>>{{"off", R"({"generate_metrics": false})"},
                                                                  {"sync", R"({"metrics_sync": true})"},
                                                                  {"pool", "{}"}}) {
                ingest.push_back(ingest_cpu(modules_dir + "/profile.so", "profile", config, label,
                                            "/profiling/v1/input", ddtrace, ddtrace_type, n));
                ingest.push_back(ingest_cpu(modules_dir + "/pyroscope.so", "pyroscope", config, label, pyro_path, pyro,
                                            "application/octet-stream", n));
            }
        }
        std::printf("[");
        for (size_t i = 0; i < rows.size(); ++i) {
            auto &r = rows[i];
            std::printf("%s{\"input\":\"%s\",\"step\":\"%s\",\"uncompressed_bytes\":%zu,\"mb_per_cpu_s\":%.1f,"
                        "\"mb_per_wall_s\":%.1f,\"calls\":%llu}",
                        i ? ",\n" : "", r.input.c_str(), r.step.c_str(), r.bytes, r.rate.cpu_mb_per_s,
                        r.rate.wall_mb_per_s, static_cast<unsigned long long>(r.rate.calls));
        }
        for (size_t i = 0; i < ingest.size(); ++i) {
            auto &r = ingest[i];
            std::printf("%s{\"input\":\"%s\",\"step\":\"ingest_cpu\",\"metrics\":\"%s\",\"uploads\":%llu,"
                        "\"process_cpu_ms_per_upload\":%.3f,\"request_thread_cpu_ms_per_upload\":%.3f}",
                        rows.empty() && i == 0 ? "" : ",\n", r.module.c_str(), r.metrics.c_str(),
                        static_cast<unsigned long long>(r.uploads), r.process_cpu_ms, r.thread_cpu_ms);
        }
        std::printf("]\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trib_bench_decode: %s\n", e.what());
        return 1;
    }
}
