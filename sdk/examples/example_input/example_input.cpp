// example_input: a complete Tributary input written against the SDK alone.
//
//  * every `interval_ms` it emits one `example_input` point (category metric) on the
//    host's timer thread;
//  * `POST <route>` turns each request into one `example_echo` point: the query
//    parameters become tags, the body becomes the `message` field. The client gets 200
//    only after emit() accepted the point, 429 + Retry-After when the host is full.
#include <tributary/plugin.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "example_input_sample_config.inc"

namespace {

using trib::Field;
using trib::HttpRequest;
using trib::HttpResponse;
using trib::Point;
using trib::StatusError;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Config {
    uint64_t interval_ms = 10000;
    std::string route = "/example/echo";
    uint64_t max_body_bytes = 64 * 1024;
};

// Reads a non-negative integer key; a float with no fraction (TOML 10.0) is accepted too.
uint64_t read_uint(const nlohmann::json &cfg, const char *key, uint64_t fallback, uint64_t min) {
    auto it = cfg.find(key);
    if (it == cfg.end()) return fallback;
    uint64_t v = 0;
    if (it->is_number_unsigned()) v = it->get<uint64_t>();
    else if (it->is_number_integer() && it->get<int64_t>() >= 0) v = uint64_t(it->get<int64_t>());
    else if (it->is_number_float() && it->get<double>() >= 0 &&
             it->get<double>() == double(uint64_t(it->get<double>())))
        v = uint64_t(it->get<double>());
    else
        throw StatusError(TRIB_INVALID_ARGUMENT,
                          std::string("key '") + key + "': expected a non-negative integer, got " + it->dump());
    if (v < min)
        throw StatusError(TRIB_INVALID_ARGUMENT, std::string("key '") + key + "': must be at least " +
                                                     std::to_string(min) + ", got " + it->dump());
    return v;
}

Config parse_config(const std::string &json_text) {
    nlohmann::json cfg = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (cfg.is_discarded() || !cfg.is_object()) throw StatusError(TRIB_INVALID_ARGUMENT, "config is not a JSON object");
    Config c;
    c.interval_ms = read_uint(cfg, "interval_ms", c.interval_ms, 1);
    c.max_body_bytes = read_uint(cfg, "max_body_bytes", c.max_body_bytes, 0);
    if (auto it = cfg.find("route"); it != cfg.end()) {
        if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>()[0] != '/')
            throw StatusError(TRIB_INVALID_ARGUMENT,
                              "key 'route': expected a path starting with '/', got " + it->dump());
        c.route = it->get<std::string>();
    }
    return c;
}

class ExampleInput : public trib::Instance {
  public:
    ExampleInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), cfg_(parse_config(config_json)) {}

    void start() override {
        host().add_route("POST", cfg_.route, cfg_.max_body_bytes, [this](const HttpRequest &r) { return echo(r); });
        host().start_timer(cfg_.interval_ms, [this] { tick(); });
        host().info("example_input '" + instance_name() + "' started: every " + std::to_string(cfg_.interval_ms) +
                    " ms, route POST " + cfg_.route);
    }

  private:
    // Host timer thread.
    void tick() {
        uint64_t n = ++ticks_;
        Point p("example_input", "metric", now_ns());
        p.tag("instance", instance_name());
        p.field(Field::Uint("tick", n));
        p.field(Field::Int("interval_ms", int64_t(cfg_.interval_ms)));
        p.field(Field::Bool("leader", host().is_leader()));
        p.field(Field::Uint("ticks_skipped", skipped_.load()));
        trib_status st = host().emit(p);
        if (st == TRIB_OK) {
            host().counter_add("ticks_emitted", 1);
        } else {
            // A timer sample has no client to push back on: it is skipped and counted.
            ++skipped_;
            host().counter_add("ticks_skipped", 1);
            host().warn("example_input: tick " + std::to_string(n) + " skipped, emit status " + std::to_string(st));
        }
    }

    // Host worker threads (several at once).
    HttpResponse echo(const HttpRequest &req) {
        Point p("example_echo", "metric", now_ns());
        p.tag("instance", instance_name());
        for (auto &[k, v] : req.query_params()) {
            if (k.empty()) throw StatusError(TRIB_INVALID_ARGUMENT, "query parameter with an empty name");
            p.tag(k, v);
        }
        p.field(Field::String("message", std::string(req.body())));
        p.field(Field::Int("body_bytes", int64_t(req.body().size())));
        trib_status st = host().emit(p);
        if (st == TRIB_BACKPRESSURE) throw StatusError(TRIB_BACKPRESSURE, "host is busy, retry later");
        if (st != TRIB_OK) return HttpResponse::text(500, "emit failed with status " + std::to_string(st));
        host().counter_add("echo_requests", 1);
        HttpResponse ok;
        ok.content_type = "application/json";
        ok.body = R"({"status":"ok"})";
        return ok;
    }

    Config cfg_;
    std::atomic<uint64_t> ticks_{0};
    std::atomic<uint64_t> skipped_{0};
};

} // namespace

TRIB_DEFINE_MODULE(ExampleInput, "example_input", "1.0.0", TRIB_KIND_INPUT,
                   "SDK example: a metric on a timer and an echo route", example_input_sample_config)
