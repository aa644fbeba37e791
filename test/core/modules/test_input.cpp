// A small input module for the host's own tests. Registers POST <path> (default
// /test/emit) taking line protocol and emitting it (category from ?category=, default
// "metric"); with ?attach=<name>&profile_id=<id> the whole body is instead one `profile`
// point carrying the body as an attachment. Answers 429 + Retry-After on BACKPRESSURE,
// 400 on bad input. Config: path, max_body_bytes, fail_create (create fails on purpose).
#include <tributary/plugin.hpp>
#include <trib_test/support.hpp>

#include <nlohmann/json.hpp>

#include <atomic>

namespace {

trib::Point to_point(const trib::test::LpPoint &lp, const std::string &category) {
    trib::Point p(lp.measurement, category, lp.time_ns);
    for (auto &kv : lp.tags) p.tag(kv.first, kv.second);
    for (auto &[k, v] : lp.fields) {
        if (auto *i = std::get_if<int64_t>(&v)) p.field(trib::Field::Int(k, *i));
        else if (auto *u = std::get_if<uint64_t>(&v)) p.field(trib::Field::Uint(k, *u));
        else if (auto *d = std::get_if<double>(&v)) p.field(trib::Field::Float(k, *d));
        else if (auto *b = std::get_if<bool>(&v)) p.field(trib::Field::Bool(k, *b));
        else p.field(trib::Field::String(k, std::get<std::string>(v)));
    }
    return p;
}

class TestInput final : public trib::Instance {
  public:
    TestInput(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config)
        : Instance(api, ctx, std::move(name)) {
        auto cfg = nlohmann::json::parse(config);
        if (cfg.value("fail_create", false)) throw std::runtime_error("fail_create is set");
        path_ = cfg.value("path", std::string("/test/emit"));
        max_body_ = cfg.value("max_body_bytes", uint64_t(0));
    }

    void start() override {
        host().add_route("POST", path_, max_body_, [this](const trib::HttpRequest &req) { return handle(req); });
        host().add_route("GET", path_ + "/leader", 0, [this](const trib::HttpRequest &) {
            return trib::HttpResponse::text(200, std::string(host().is_leader() ? "leader" : "follower") + " " +
                                                     std::to_string(leadership_calls_.load()) + " " +
                                                     host().data_dir());
        });
    }
    void on_leadership(bool) override { leadership_calls_++; }

  private:
    trib::HttpResponse handle(const trib::HttpRequest &req) {
        std::string category = "metric", attach, profile_id;
        for (auto &[k, v] : req.query_params()) {
            if (k == "category") category = v;
            else if (k == "attach") attach = v;
            else if (k == "profile_id") profile_id = v;
        }
        std::vector<trib::Point> points;
        if (!attach.empty()) {
            trib::Point p("profile", "profiling", 1700000000000000000);
            p.field(trib::Field::String("profile_id", profile_id));
            p.attach(attach, "application/octet-stream", std::string(req.body()));
            points.push_back(std::move(p));
        } else {
            try {
                for (auto &lp : trib::test::parse_line_protocol(req.body())) points.push_back(to_point(lp, category));
            } catch (const std::exception &e) {
                return trib::HttpResponse::text(400, e.what());
            }
        }
        host().counter_add("requests", 1);
        trib_status st = host().emit(points);
        if (st == TRIB_BACKPRESSURE) {
            auto r = trib::HttpResponse::text(429, "backpressure\n");
            r.headers.emplace_back("Retry-After", "1");
            return r;
        }
        if (st != TRIB_OK) return trib::HttpResponse::text(400, "emit refused: " + std::to_string(st));
        return trib::HttpResponse::text(200, std::to_string(points.size()) + "\n");
    }

    std::string path_;
    uint64_t max_body_ = 0;
    std::atomic<int> leadership_calls_{0};
};

} // namespace

static const char kSample[] = "[[inputs.test_input]]\n  path = \"/test/emit\"\n  [inputs.test_input.tags]\n";

TRIB_DEFINE_MODULE(TestInput, "test_input", "1.0.0", TRIB_KIND_INPUT, "host test input", kSample)
