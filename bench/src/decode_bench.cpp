// trib_bench_decode: pprof decode (+ generate_metrics) throughput of libtrib_profiling
// against libprotobuf's ParseFromString of the same bytes, single thread.
//
// For each pprof given (gzip'd, as clients send it):
//   protobuf_parse    Profile::ParseFromString(uncompressed)          — the ceiling
//   trib_parse_raw    trib::profiling::parse_pprof(uncompressed)
//   zlib_inflate      trib::profiling::decompress(gzip)               — inflate alone
//   trib_parse_gzip   trib::profiling::parse_pprof(gzip)              — what an upload costs
// and for the dd-trace upload (event + every part) the whole generate_metrics step:
//   trib_metrics      trib::profiling::compute_profile_metrics(upload)
// MB/s are always of uncompressed pprof bytes, so rows compare like for like, per second
// of the thread's CPU time (robust on a shared machine) and per second of wall time.
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/profile_point.hpp>

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

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
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
    std::string upload_body, upload_boundary;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--pprof" && i + 1 < argc) pprofs.push_back(argv[++i]);
        else if (a == "--upload" && i + 2 < argc) {
            upload_body = argv[++i];
            upload_boundary = argv[++i];
        } else {
            std::fprintf(stderr,
                         "usage: trib_bench_decode [--seconds S] --pprof FILE.gz... [--upload BODY BOUNDARY]...\n");
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
            rows.push_back({name, "zlib_inflate", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = int64_t(trib::profiling::decompress(gz).size());
                            })});
            rows.push_back({name, "trib_parse_gzip", raw.size(), measure(seconds, raw.size(), [&] {
                                g_sink = trib::profiling::parse_pprof(gz).sample_size();
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
        }
        std::printf("[");
        for (size_t i = 0; i < rows.size(); ++i) {
            auto &r = rows[i];
            std::printf("%s{\"input\":\"%s\",\"step\":\"%s\",\"uncompressed_bytes\":%zu,\"mb_per_cpu_s\":%.1f,"
                        "\"mb_per_wall_s\":%.1f,\"calls\":%llu}",
                        i ? ",\n" : "", r.input.c_str(), r.step.c_str(), r.bytes, r.rate.cpu_mb_per_s,
                        r.rate.wall_mb_per_s, static_cast<unsigned long long>(r.rate.calls));
        }
        std::printf("]\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trib_bench_decode: %s\n", e.what());
        return 1;
    }
}
