// The `viewer` sink: indexes profile and span points as they pass (SQLite under the
// instance data dir), serves the JSON API under /api/v1/ and the pages under /ui/ on the
// host's shared listener. Built against sdk/ and libtrib_profiling only.
#include "api.hpp"
#include "config.hpp"
#include "flame.hpp"
#include "index.hpp"
#include "time_parse.hpp"

#include <tributary/plugin.hpp>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <thread>
#include <memory>
#include <mutex>

#include "viewer_sample_conf.inc"
#include "ui_index_html.inc"
#include "ui_app_js.inc"
#include "ui_flame_js.inc"
#include "ui_waterfall_js.inc"
#include "ui_style_css.inc"

namespace {

struct Asset {
    const char *path;
    const char *content_type;
    const char *body;
};

const Asset kAssets[] = {
    {"/ui/", "text/html; charset=utf-8", ui_index_html},
    {"/ui/index.html", "text/html; charset=utf-8", ui_index_html},
    {"/ui/app.js", "text/javascript; charset=utf-8", ui_app_js},
    {"/ui/flame.js", "text/javascript; charset=utf-8", ui_flame_js},
    {"/ui/waterfall.js", "text/javascript; charset=utf-8", ui_waterfall_js},
    {"/ui/style.css", "text/css; charset=utf-8", ui_style_css},
};

class ViewerSink : public trib::Instance {
  public:
    // It indexes names and sizes and reads profiles from the store itself: no bytes per write.
    // It commits in groups (below): the host may gather points for it (one wake-up per 100 ms,
    // not one per upload).
    static constexpr uint32_t kModuleFlags = TRIB_MODULE_READS_STORED_ATTACHMENTS | TRIB_MODULE_BATCHED_WRITES;
    ViewerSink(const trib_host_api_t *api, trib_host_ctx *ctx, std::string name, std::string config_json)
        : Instance(api, ctx, std::move(name)), cfg_(trib::viewer::parse_config(config_json)) {
        std::string state = host().data_dir();
        if (state.empty()) throw trib::StatusError(TRIB_UNSUPPORTED, "the viewer needs a host with data_dir (ABI 1.1)");
        if (cfg_.attachments_dir.empty()) cfg_.attachments_dir = trib::viewer::default_attachments_dir(state);
        index_ = std::make_unique<trib::viewer::Index>(
            (std::filesystem::path(state) / "index.db").string(), cfg_.attachments_dir,
            [this](bool warning, const std::string &m) { warning ? host().warn(m) : host().info(m); },
            nullptr /* rebuilt rows get their types from the fill timer, like new ones */);
        index_->set_cache_mb(cfg_.cache_mb);
        api_ = std::make_unique<trib::viewer::Api>(*index_, cfg_, [] { return trib::viewer::now_ns(); });
    }

    void start() override {
        auto &h = host();
        auto route = [&](const char *path, trib::viewer::Api &api,
                         trib::HttpResponse (trib::viewer::Api::*fn)(const trib::HttpRequest &)) {
            h.add_route("GET", path, 0, [&api, fn](const trib::HttpRequest &r) { return (api.*fn)(r); });
        };
        route("/api/v1/services", *api_, &trib::viewer::Api::services);
        route("/api/v1/profiles", *api_, &trib::viewer::Api::profiles);
        route("/api/v1/profile", *api_, &trib::viewer::Api::profile);
        route("/api/v1/flamegraph", *api_, &trib::viewer::Api::flamegraph);
        route("/api/v1/traces", *api_, &trib::viewer::Api::traces);
        route("/api/v1/trace", *api_, &trib::viewer::Api::trace);
        // The path forms; a host older than ABI 1.3 has no prefix routes, so there only the
        // query forms above answer.
        try {
            h.add_prefix_route("GET", "/api/v1/profiles/", 0,
                               [api = api_.get()](const trib::HttpRequest &r) { return api->profile_by_path(r); });
            h.add_prefix_route("GET", "/api/v1/traces/", 0,
                               [api = api_.get()](const trib::HttpRequest &r) { return api->trace_by_path(r); });
        } catch (const trib::StatusError &e) {
            if (e.status != TRIB_UNSUPPORTED) throw;
            h.warn(std::string("path URLs off: ") + e.what() + "; use /api/v1/profile?id= and /api/v1/trace?id=");
        }
        for (const Asset &a : kAssets)
            h.add_route("GET", a.path, 0, [&a](const trib::HttpRequest &) {
                trib::HttpResponse r;
                r.content_type = a.content_type;
                r.body = a.body;
                r.headers.emplace_back("Cache-Control", "no-cache");
                return r;
            });
        h.add_route("GET", "/ui", 0, [](const trib::HttpRequest &) {
            trib::HttpResponse r = trib::HttpResponse::text(301, "see /ui/\n");
            r.headers.emplace_back("Location", "/ui/");
            return r;
        });
        h.start_timer(200, [this] { flush(false); });
        h.start_timer(uint64_t(cfg_.retention_interval_s) * 1000, [this] { retain(); });
        summarizer_ = std::thread([this] { summarize_loop(); });
        h.info("viewer at /ui/ and /api/v1/; profile bytes read from " + cfg_.attachments_dir);
    }

    // Rows are committed in groups by the timer, once a second or as soon as kGroupRows wait:
    // inputs emit one point per upload, and one SQLite transaction per point made the index
    // the slowest sink; a group of 5,000 rows costs a fifth less per row than one of 1,000
    // (each commit rewrites the pages of the id index that its rows touch). write()
    // itself never waits for the index (a query or the summarizer may hold it), so the sink
    // never holds up ingestion; BACKPRESSURE only when commits fall far behind. A crash
    // loses at most the rows of the last second from the index; their files stay in the store.
    void write(const trib_batch &batch) override {
        std::vector<trib::viewer::ProfileRow> profiles;
        std::vector<trib::viewer::SpanRow> spans;
        for (size_t i = 0; i < batch.point_count; ++i) {
            const trib_point &p = *TRIB_AT(trib_point, batch.points, i);
            if (auto row = trib::viewer::profile_row(p)) profiles.push_back(std::move(*row));
            else if (auto span = trib::viewer::span_row(p)) spans.push_back(std::move(*span));
        }
        if (profiles.empty() && spans.empty()) return;
        {
            std::lock_guard<std::mutex> g(pending_mu_);
            if (pending_profiles_.size() + pending_spans_.size() >= kMaxPending)
                throw trib::StatusError(TRIB_BACKPRESSURE, "viewer index: commits are behind");
            for (auto &r : profiles) pending_profiles_.push_back(std::move(r));
            for (auto &r : spans) pending_spans_.push_back(std::move(r));
        }
    }

    void stop() override {
        stop_summarizer();
        flush();
    }
    // A batch written after stop() (the host draining) is committed here.
    ~ViewerSink() override {
        stop_summarizer();
        try {
            flush();
        } catch (...) {}
    }

  private:
    // Decodes each indexed upload once, after it arrived, into its per-type summary (what
    // flame graphs merge). Off the ingest path and at the lowest CPU priority: under load it
    // yields to ingestion and catches up when the host is idle; a flame graph summarizes
    // whatever it has not reached yet itself.
    void stop_summarizer() {
        {
            std::lock_guard<std::mutex> g(summarizer_mu_);
            stopping_ = true;
        }
        summarizer_cv_.notify_all();
        if (summarizer_.joinable()) summarizer_.join();
    }

    // SCHED_IDLE: the thread runs only on CPU time nothing else in the machine wants. At
    // nice 19 it still took a share of both cores from a saturated ingest (-14 to -22 %
    // uploads/s); idle, a saturated host defers summaries until load drops, and a flame graph
    // summarizes what is left itself. Refused (a kernel without it): nice 19. The thread
    // still takes the index lock for its reads and group commits; preempted there on a
    // saturated host it delays queries (the timer's commit skips a tick instead of waiting).
    static void run_when_idle() {
        pthread_setname_np(pthread_self(), "viewer-summary");
        sched_param none{};
        if (sched_setscheduler(0, SCHED_IDLE, &none) != 0) setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), 19);
    }

    void summarize_loop() {
        run_when_idle();
        std::map<std::string, int64_t> first_miss; // id → when its files were first missing
        int64_t reported = 0;
        while (true) {
            if (int64_t n = api_->summarized(); n > reported) {
                host().counter_add("viewer_profiles_summarized", double(n - reported));
                reported = n;
            }
            {
                std::unique_lock<std::mutex> g(summarizer_mu_);
                if (stopping_) return;
            }
            size_t done = 0;
            try {
                int64_t now = trib::viewer::now_ns();
                // Summaries are committed in groups: one transaction per upload cost more
                // CPU than the upload's whole ingest.
                std::vector<std::pair<std::string, trib::viewer::UploadSummary>> made;
                for (auto &row : index_->untyped(int64_t(first_miss.size()) + 16, false)) {
                    auto miss = first_miss.find(row.id);
                    if (miss != first_miss.end() && now - miss->second < 60'000'000'000LL) continue;
                    if (auto summary = api_->summarize(row)) {
                        first_miss.erase(row.id);
                        made.emplace_back(row.id, std::move(*summary));
                    } else if (miss == first_miss.end()) {
                        first_miss[row.id] = now;
                    } else {
                        // Files still absent after a minute: nothing to decode (types none).
                        index_->set_types(row.id, {});
                        first_miss.erase(miss);
                    }
                    std::lock_guard<std::mutex> g(summarizer_mu_);
                    if (stopping_) break;
                }
                std::vector<std::pair<std::string, const trib::viewer::UploadSummary *>> group;
                for (auto &[id, summary] : made) group.emplace_back(id, &summary);
                api_->store_summaries(group);
                done = made.size();
            } catch (const std::exception &e) {
                host().warn(std::string("viewer summarizer: ") + e.what());
            }
            if (done) continue;
            std::unique_lock<std::mutex> g(summarizer_mu_);
            summarizer_cv_.wait_for(g, std::chrono::seconds(1), [this] { return stopping_; });
        }
    }

    static constexpr size_t kMaxPending = 100000;
    static constexpr size_t kGroupRows = 5000;
    static constexpr auto kGroupAge = std::chrono::seconds(1);

    // wait=false (the timer): a busy index (a query, the summarizer's commit) keeps the rows
    // for the next tick instead of holding up the host's shared timer thread.
    void flush(bool wait = true) {
        std::lock_guard<std::mutex> one_flush(flush_mu_);
        std::vector<trib::viewer::ProfileRow> profiles;
        std::vector<trib::viewer::SpanRow> spans;
        {
            std::lock_guard<std::mutex> g(pending_mu_);
            auto now = std::chrono::steady_clock::now();
            if (!wait && pending_profiles_.size() + pending_spans_.size() < kGroupRows && now - last_group_ < kGroupAge)
                return;
            last_group_ = now;
            profiles.swap(pending_profiles_);
            spans.swap(pending_spans_);
        }
        if (profiles.empty() && spans.empty()) return;
        try {
            if (wait) index_->add(profiles, spans);
            else if (!index_->try_add(profiles, spans)) {
                keep_pending(profiles, spans);
                return;
            }
        } catch (const std::exception &e) {
            // Kept for the next flush (write() answers BACKPRESSURE once too many wait).
            host().warn(std::string("viewer index: ") + e.what() + "; retrying");
            keep_pending(profiles, spans);
            return;
        }
        if (!profiles.empty()) host().counter_add("viewer_profiles_indexed", double(profiles.size()));
        if (!spans.empty()) host().counter_add("viewer_spans_indexed", double(spans.size()));
    }

    // Rows not committed go back ahead of those that arrived meanwhile.
    void keep_pending(std::vector<trib::viewer::ProfileRow> &profiles, std::vector<trib::viewer::SpanRow> &spans) {
        std::lock_guard<std::mutex> g(pending_mu_);
        for (auto &r : pending_profiles_) profiles.push_back(std::move(r));
        for (auto &r : pending_spans_) spans.push_back(std::move(r));
        pending_profiles_.swap(profiles);
        pending_spans_.swap(spans);
    }

    void retain() {
        try {
            auto r = index_->retain(trib::viewer::now_ns(), cfg_.max_age_hours * 3600LL * 1000000000LL,
                                    cfg_.max_size_mb * 1024LL * 1024LL, cfg_.max_spans);
            if (r.profiles_removed) host().counter_add("viewer_profiles_expired", double(r.profiles_removed));
            if (r.spans_removed) host().counter_add("viewer_spans_expired", double(r.spans_removed));
        } catch (const std::exception &e) {
            host().warn(std::string("retention: ") + e.what());
        }
    }

    trib::viewer::ViewerConfig cfg_;
    std::unique_ptr<trib::viewer::Index> index_;
    std::unique_ptr<trib::viewer::Api> api_;
    std::mutex pending_mu_, flush_mu_;
    std::thread summarizer_;
    std::mutex summarizer_mu_;
    std::condition_variable summarizer_cv_;
    bool stopping_ = false;
    std::vector<trib::viewer::ProfileRow> pending_profiles_;
    std::vector<trib::viewer::SpanRow> pending_spans_;
    std::chrono::steady_clock::time_point last_group_{}; // when the timer last took a group
};

} // namespace

TRIB_DEFINE_MODULE(ViewerSink, "viewer", "1.0.0", TRIB_KIND_SINK,
                   "Flame graphs and trace waterfalls at /ui/, JSON API at /api/v1/ (indexes profile and span points)",
                   viewer_sample_conf)
