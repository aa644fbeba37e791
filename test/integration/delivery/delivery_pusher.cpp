// A tiny input module for the delivery tests: POST /delivery/push?from=N&count=K&run=R emits
// one batch of K points numbered N..N+K-1 (field `seq`, timestamp base+seq so every point is
// distinct in InfluxDB) and answers 200 only once emit() returned OK; backpressure becomes
// 429 with Retry-After (through the SDK's adapter).
#include <tributary/plugin.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace {

const char kSample[] = R"([[inputs.delivery_pusher]]
  ## route = "/delivery/push"
  ## pad_bytes = 0      # size of a string field added to every point
)";

class Pusher : public trib::Instance {
  public:
    Pusher(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string cfg)
        : trib::Instance(api, ctx, std::move(name)) {
        auto j = nlohmann::json::parse(cfg.empty() ? "{}" : cfg);
        route_ = j.value("route", std::string("/delivery/push"));
        pad_ = std::string(static_cast<size_t>(j.value("pad_bytes", 0)), 'p');
    }

    void start() override {
        host().add_route("POST", route_, 1 << 20, [this](const trib::HttpRequest &req) { return push(req); });
    }

  private:
    trib::HttpResponse push(const trib::HttpRequest &req) {
        int64_t from = -1, count = -1;
        std::string run = "default";
        for (auto &[k, v] : req.query_params()) {
            if (k == "from") from = std::stoll(v);
            else if (k == "count") count = std::stoll(v);
            else if (k == "run") run = v;
        }
        if (from < 0 || count <= 0 || count > 100000)
            return trib::HttpResponse::text(400, "need from>=0 and 0<count<=100000");
        std::vector<trib::Point> points;
        points.reserve(static_cast<size_t>(count));
        for (int64_t i = from; i < from + count; ++i) {
            trib::Point p("delivery_load", "metric", 1700000000000000000 + i * 1000);
            p.tag("run", run);
            p.field(trib::Field::Int("seq", i));
            if (!pad_.empty()) p.field(trib::Field::String("pad", pad_));
            points.push_back(std::move(p));
        }
        trib_status st = host().emit(points);
        if (st == TRIB_OK) return trib::HttpResponse::text(200, "ok");
        if (st == TRIB_BACKPRESSURE) throw trib::StatusError(TRIB_BACKPRESSURE, "busy, retry later");
        return trib::HttpResponse::text(503, "emit failed with status " + std::to_string(st));
    }

    std::string route_;
    std::string pad_;
};

} // namespace

TRIB_DEFINE_MODULE(Pusher, "delivery_pusher", "0.1.0", TRIB_KIND_INPUT, "test input: numbered points on request",
                   kSample)
