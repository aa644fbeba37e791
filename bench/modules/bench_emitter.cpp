// bench_emitter: an input module that measures the host's bus through the ABI. POST
// /bench/emit?seconds=S&batch=B&threads=T makes T threads emit batches of B points
// (DataKit-shaped metric points: 5 tags, 6 fields) through host->emit as fast as the host
// takes them for S seconds. A batch answered BACKPRESSURE is kept and offered again after
// a short pause, as a well-behaved input does. Answers JSON: points emitted (accepted),
// batches, backpressure answers, seconds. Only for bench/run.sh; never in build/plugins.
#include <tributary/plugin.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

class BenchEmitter : public trib::Instance {
  public:
    BenchEmitter(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string)
        : Instance(api, ctx, std::move(name)) {}

    void start() override {
        host().add_route("POST", "/bench/emit", 1024, [this](const trib::HttpRequest &req) { return run(req); });
    }

  private:
    trib::HttpResponse run(const trib::HttpRequest &req) {
        double seconds = 2;
        int batch = 100, threads = 1;
        for (auto &[k, v] : req.query_params()) {
            if (k == "seconds") seconds = std::stod(v);
            else if (k == "batch") batch = std::stoi(v);
            else if (k == "threads") threads = std::stoi(v);
        }
        if (seconds <= 0 || seconds > 600 || batch < 1 || batch > 100000 || threads < 1 || threads > 64)
            return trib::HttpResponse::text(400, "seconds in (0,600], batch in [1,100000], threads in [1,64]\n");
        std::atomic<uint64_t> points{0}, batches{0}, backpressure{0};
        const auto t0 = std::chrono::steady_clock::now();
        const auto end = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(seconds));
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                std::vector<trib::Point> pts;
                for (int i = 0; i < batch; ++i) {
                    trib::Point p("bench_bus", "metric", 0);
                    p.tag("host", "bench-host").tag("service", "bench-service").tag("env", "bench");
                    p.tag("thread", std::to_string(t)).tag("series", std::to_string(i % 64));
                    p.field(trib::Field::Int("count", i)).field(trib::Field::Float("ratio", i * 0.5));
                    p.field(trib::Field::Uint("bytes", uint64_t(i) * 1024)).field(trib::Field::Bool("ok", true));
                    p.field(trib::Field::String("message", "benchmark point of the ABI bus"));
                    p.field(trib::Field::Int("duration_ns", 1234567));
                    pts.push_back(std::move(p));
                }
                uint64_t seq = 0;
                while (std::chrono::steady_clock::now() < end) {
                    int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
                    for (auto &p : pts) p.time_ns = now_ns + int64_t(seq++ % 1000);
                    trib::BatchView view(pts);
                    trib_status st = host().api()->emit(host().ctx(), view.get());
                    if (st == TRIB_OK) {
                        points.fetch_add(uint64_t(batch), std::memory_order_relaxed);
                        batches.fetch_add(1, std::memory_order_relaxed);
                    } else if (st == TRIB_BACKPRESSURE) {
                        backpressure.fetch_add(1, std::memory_order_relaxed);
                        std::this_thread::sleep_for(std::chrono::microseconds(200));
                    } else {
                        break; // a malformed batch would be a bug here: stop and report it
                    }
                }
            });
        }
        for (auto &w : workers) w.join();
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        char buf[256];
        std::snprintf(
            buf, sizeof buf,
            "{\"points\":%llu,\"batches\":%llu,\"backpressure\":%llu,\"seconds\":%.3f,\"batch\":%d,\"threads\":%d}\n",
            static_cast<unsigned long long>(points.load()), static_cast<unsigned long long>(batches.load()),
            static_cast<unsigned long long>(backpressure.load()), elapsed, batch, threads);
        trib::HttpResponse r = trib::HttpResponse::text(200, buf);
        r.content_type = "application/json";
        return r;
    }
};

const char kSample[] = "[[inputs.bench_emitter]]\n  ## POST /bench/emit?seconds=S&batch=B&threads=T\n";

} // namespace

TRIB_DEFINE_MODULE(BenchEmitter, "bench_emitter", "0.1.0", TRIB_KIND_INPUT,
                   "benchmark input: emits synthetic metric points as fast as the bus takes them", kSample)
