// example_input: a complete Tributary input written against the SDK alone.
//
//  * every `interval_ms` it emits one `example_input` point (category metric) on the
//    host's timer thread;
//  * `POST <route>` turns each request into one `example_echo` point: the query
//    parameters become tags, the body becomes the `message` field. The client gets 200
//    only after emit() accepted the point, 429 + Retry-After when the host is full.
#include <tributary/config_map.hpp>
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
    uint64_t interval_ms = 0;
    std::string route;
    uint64_t max_body_bytes = 0;
};

// Every key once: type, default, bounds, doc and ENV_INPUT_EXAMPLE_INPUT_<KEY>. The same
// table parses create()'s JSON and goes into the descriptor (tributary --describe-config).
const trib::config::ConfigMap &config_map() {
    static const trib::config::ConfigMap map = [] {
        auto m = trib::config::ConfigMap::input("example_input");
        m.integer("interval_ms", 10000, "how often the timer point is emitted, in milliseconds").at_least(1);
        m.string("route", "/example/echo", "path of the echo route on the host's shared listener")
            .check("starts with '/'", [](const nlohmann::json &v) {
                const std::string s = v.get<std::string>();
                return s.empty() || s[0] != '/' ? "expected a path starting with '/', got " + v.dump() : std::string();
            });
        m.integer("max_body_bytes", 64 * 1024, "largest request body the route accepts (bigger bodies get 413)")
            .at_least(0);
        m.table("tags", true, "added to every point of this instance (by the host)");
        return m;
    }();
    return map;
}

Config parse_config(const std::string &json_text) {
    trib::config::Values v = config_map().parse(json_text);
    Config c;
    c.interval_ms = uint64_t(v.integer("interval_ms"));
    c.route = v.string("route");
    c.max_body_bytes = uint64_t(v.integer("max_body_bytes"));
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

TRIB_DEFINE_MODULE_WITH_CONFIG(ExampleInput, "example_input", "1.0.0", TRIB_KIND_INPUT,
                               "SDK example: a metric on a timer and an echo route", example_input_sample_config,
                               config_map().describe_c_str())
