// PyroscopeIngest: /ingest (pprof, JFR, folded) and the Connect push API → profile points.
#include <tributary/profiling/client_input.hpp>
#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/jfr.hpp>
#include <tributary/profiling/language.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/metrics_pool.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof_reader.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>

#include <push.pb.h>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <set>

namespace trib::profiling {

namespace {

constexpr int64_t kDefaultWindowNs = 10'000'000'000; // Pyroscope agents upload 10 s windows

// A client error with the HTTP status to answer.
struct IngestError : std::runtime_error {
    uint32_t status;
    IngestError(uint32_t s, const std::string &m) : std::runtime_error(m), status(s) {}
};

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto &c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

// The media type without parameters, lowercase.
std::string media_type(std::string_view content_type) {
    auto semi = content_type.find(';');
    std::string t = lower(content_type.substr(0, semi));
    while (!t.empty() && t.back() == ' ') t.pop_back();
    while (!t.empty() && t.front() == ' ') t.erase(t.begin());
    return t;
}

std::shared_ptr<const std::string> share(std::string_view bytes) { return std::make_shared<const std::string>(bytes); }

const std::string *find(const std::map<std::string, std::string> &m, const char *k) {
    auto it = m.find(k);
    return it == m.end() || it->second.empty() ? nullptr : &it->second;
}

constexpr size_t kMaxPprofLabelTags = 64;

// What the one pass over an uploaded pprof reads: the labels' first values for enough keys
// to fill kMaxPprofLabelTags after the skipped keys and those the upload set already (at
// most kMaxClientTags plus the few the ingest adds), and the sums the metrics use.
const PprofReadOptions kReadWithLabels{.max_label_keys = 1024};

// Reads an uploaded pprof once: its labels become tags, its sums the metrics.
std::shared_ptr<const PprofSummary> read_upload_pprof(std::string_view bytes, const InflateLimit &limit,
                                                      const PprofReadOptions &options = {}) {
    return std::make_shared<const PprofSummary>(summarize_pprof(bytes, limit, options));
}

// Sample-level string labels of a pprof (wrapWithLabels in the Node agent, tags in Go's
// pprof.Do) become tags when the upload has no such tag; per-thread and per-span labels
// would explode the series count, so they stay in the profile.
void add_pprof_labels(const PprofSummary &p, std::map<std::string, std::string> &tags) {
    static const std::set<std::string> kSkip = {"span_id",        "thread_id",          "thread_name",
                                                "trace_id",       "local root span id", "span id",
                                                "trace endpoint", "profile_id"};
    size_t added = 0;
    for (auto &[k, v] : p.labels) {
        if (kSkip.count(k) || tags.count(k) || added >= kMaxPprofLabelTags) continue;
        tags[k] = v;
        ++added;
    }
}

// The name generate_profile_metrics expects for a Node profile (wall.pprof / space.pprof).
std::string nodejs_metrics_name(const PprofSummary &p) {
    if (p.find("wall") >= 0) return "wall.pprof";
    if (p.find("inuse_space") >= 0 || p.find("space") >= 0) return "space.pprof";
    return "auto.pprof";
}

// Push API profile type (`__name__`) → DataKit's attachment name for Go; others auto.pprof.
std::string push_file_name(const std::string &profile_type, const std::string &language) {
    if (language != "golang") return "auto.pprof";
    if (profile_type == "process_cpu" || profile_type == "cpu") return "cpu.pprof";
    if (profile_type == "memory") return "delta-heap.pprof";
    if (profile_type == "goroutine" || profile_type == "goroutines") return "goroutines.pprof";
    if (profile_type == "mutex") return "delta-mutex.pprof";
    if (profile_type == "block") return "delta-block.pprof";
    return "auto.pprof";
}

std::string connect_error(const char *code, const std::string &message) {
    return nlohmann::json{{"code", code}, {"message", message}}.dump(-1, ' ', false,
                                                                     nlohmann::json::error_handler_t::replace);
}

// A Connect error answer.
trib::HttpResponse fail(uint32_t status, const char *code, const std::string &msg) {
    trib::HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = connect_error(code, msg);
    return r;
}

// The Connect error code for a host refusal (connect-go uses resource_exhausted for a
// message over its size limit too).
const char *connect_code(trib::Refusal r) {
    switch (r) {
    case trib::Refusal::busy:
    case trib::Refusal::too_large: return "resource_exhausted";
    case trib::Refusal::unavailable: return "unavailable";
    default: return "invalid_argument";
    }
}

// A refused request (emit or the memory budget) as a Connect answer: the HTTP status and
// Retry-After of trib::refusal_response, the body Connect clients read.
trib::HttpResponse connect_refusal(trib_status st, const std::string &message) {
    trib::HttpResponse r = trib::refusal_response(st, message);
    r.content_type = "application/json";
    r.body = connect_error(connect_code(trib::refusal_of(st)), message);
    return r;
}

std::string emit_refusal_text(trib_status st) {
    switch (trib::refusal_of(st)) {
    case trib::Refusal::busy: return "collector is busy, retry later";
    case trib::Refusal::unavailable: return "collector cannot accept the upload now, retry later";
    case trib::Refusal::too_large:
        return "the upload is larger than the collector accepts at once (bus memory ceiling)";
    default: return "points not accepted (status " + std::to_string(int(st)) + ")";
    }
}

} // namespace

PyroscopeIngest::PyroscopeIngest(trib::Host &host, PyroscopeOptions opts) : host_(host), opts_(std::move(opts)) {}

void PyroscopeIngest::finish_tags(ProfileUpload &u) const {
    // No service fallback here (the point gets it from build_profile_point). Global host
    // tags fill missing keys, as DataKit's worker does, so event.json's tags_profiler is
    // final when the point leaves the module (sinks forward it unchanged).
    TagMap defaults{{"service", opts_.service}, {"env", opts_.env}, {"version", opts_.version}};
    TagMap global = host_.global_tags();
    merge_profile_tags(
        u.tags, {.defaults = &defaults, .overrides = {&opts_.tags}, .global = &global, .service_fallback = false});
    if (auto *rid = find(u.tags, "runtime_id")) u.event_fields["runtime_id"] = *rid;
    if (auto *pid = find(u.tags, "process_id")) u.event_fields["pid"] = *pid;
    else if (auto *pid2 = find(u.tags, "pid")) u.event_fields["pid"] = *pid2;
    u.event_fields["profiler"] = "pyroscope";
    u.profiler = "pyroscope";
}

std::optional<MetricsWork> PyroscopeIngest::add_metrics(const ProfileUpload &u, std::vector<trib::Point> &points,
                                                        bool push) const {
    if (!opts_.generate_metrics) return std::nullopt;
    const char *what = push ? "pyroscope push" : "pyroscope";
    try {
        // generate_profile_metrics finds Node profiles by their Datadog names; the names
        // come from the pass that read the labels (f.pprof), which the metrics reuse.
        ProfileUpload for_metrics = u;
        for_metrics.inflate = limit();
        if (auto it = u.tags.find("language"); it != u.tags.end() && it->second == "nodejs")
            for (auto &f : for_metrics.files) {
                if (!f.data || (!push && f.name != "auto.pprof")) continue;
                if (!f.pprof) f.pprof = read_upload_pprof(*f.data, limit()); // built from folded text
                f.name = nodejs_metrics_name(*f.pprof);
            }
        if (opts_.metrics_pool) return prepare_metrics(std::move(for_metrics));
        if (auto m = generate_profile_metrics(for_metrics)) points.push_back(std::move(*m));
    } catch (const std::exception &e) {
        host_.warn(std::string(what) + ": metrics not generated: " + e.what());
    }
    return std::nullopt;
}

trib::HttpResponse PyroscopeIngest::emit_upload(ProfileUpload &u, bool connect) {
    std::vector<trib::Point> points;
    points.push_back(build_profile_point(u, new_profile_id()));
    std::optional<MetricsWork> later = add_metrics(u, points, false);
    trib_status st = host_.emit(points);
    if (st == TRIB_OK) {
        if (later) opts_.metrics_pool->submit(std::move(*later));
        trib::HttpResponse r;
        r.status = 200;
        r.content_type = connect ? "application/proto" : "text/plain; charset=utf-8";
        host_.counter_add("pyroscope_uploads", 1);
        return r;
    }
    std::string message = emit_refusal_text(st);
    return connect ? connect_refusal(st, message) : trib::refusal_response(st, message);
}

trib::HttpResponse PyroscopeIngest::handle_ingest(const trib::HttpRequest &req) {
    try {
        std::map<std::string, std::string> q;
        for (auto &[k, v] : req.query_params()) {
            auto &slot = q[k];
            slot = slot.empty() ? v : slot + "," + v;
        }
        auto name_it = q.find("name");
        if (name_it == q.end() || name_it->second.empty()) throw IngestError(400, "the name parameter is required");
        AppName app;
        try {
            app = parse_app_name(name_it->second);
        } catch (const DecodeError &e) {
            throw IngestError(400, e.what());
        }

        ProfileUpload u;
        for (auto &[k, v] : app.labels) u.tags[k] = v;
        for (auto &[k, v] : q)
            if (k != "name" && k != "from" && k != "until" && !v.empty()) u.tags[k] = v; // query parameters win
        // Grafana's multi-tenant header (the agents' tenantID), kept as a tag as DataKit has no tenants.
        if (std::string_view org = req.header("X-Scope-OrgID"); !org.empty() && !find(u.tags, "tenant"))
            u.tags["tenant"] = std::string(org.substr(0, 256));
        check_tag_count(u.tags.size(), "the name labels and query parameters");
        if (find(u.tags, "service")) u.tags["name"] = app.app;
        else u.tags["service"] = app.app;
        std::string spy = q.count("spyName") ? q["spyName"] : "";
        std::string format = lower(q.count("format") ? q["format"] : "");
        std::string ctype = std::string(req.content_type());
        if (ctype.empty()) ctype = std::string(req.header("Content-Type"));
        std::string mtype = media_type(ctype);
        std::string boundary = multipart_boundary(ctype);

        int64_t until = now_ns(), from = 0;
        try {
            if (auto *t = find(q, "until")) until = pyroscope_time_to_ns(*t);
            from = find(q, "from") ? pyroscope_time_to_ns(q["from"]) : until - kDefaultWindowNs;
            check_client_time(from, "from");
            check_client_time(until, "until");
        } catch (const DecodeError &e) {
            throw IngestError(400, std::string("from/until: ") + e.what());
        }
        if (from > until) throw IngestError(400, "from is after until");
        u.start_ns = from;
        u.end_ns = until;

        if (format == "trie" || format == "tree" || mtype.find("+trie") != std::string::npos ||
            mtype.find("+tree") != std::string::npos)
            throw IngestError(
                415, "the " + (format.empty() ? std::string("trie/tree") : format) +
                         " format (Pyroscope agents before 0.2) is not supported: upload pprof, jfr or folded lines");
        if (format == "speedscope")
            throw IngestError(415, "the speedscope format is not supported: upload pprof, jfr or folded lines");

        std::string language = spy.empty() ? (format == "jfr" ? "java" : "unknown") : language_from_spy(spy);
        u.tags["language"] = language;

        std::string_view body = req.body();
        // The profile files are copied out of the body: the copies count against the
        // host's in-flight budget until the bus has them.
        trib::MemoryReservation copies(&host_);
        copies.add(body.size(), "upload files");
        std::vector<MultipartPart> parts;
        if (!boundary.empty()) parts = parse_multipart(body, boundary);
        auto part = [&](std::string_view n) -> const MultipartPart * {
            for (auto &p : parts)
                if (p.name == n) return &p;
            return nullptr;
        };
        auto part_type = [](const MultipartPart *p) {
            return p && !p->content_type.empty() ? p->content_type : std::string("application/octet-stream");
        };

        if (format == "jfr") {
            std::string_view jfr_bytes = body;
            const MultipartPart *jp = nullptr, *lp = nullptr;
            if (!boundary.empty()) {
                jp = part("jfr");
                if (!jp) throw IngestError(400, "multipart JFR upload without a 'jfr' part");
                jfr_bytes = jp->data;
                lp = part("labels");
            }
            std::optional<LabelsSnapshotView> labels;
            if (lp && !lp->data.empty()) labels = LabelsSnapshotView::parse(lp->data, limit());
            auto decoded = decode_jfr(jfr_bytes, labels ? &*labels : nullptr, limit());
            // The metrics read the recording's stats and span only: keep those, not the profiles.
            auto stats = std::make_shared<JfrProfiles>();
            stats->stats = std::move(decoded.stats);
            stats->start_ns = decoded.start_ns;
            stats->end_ns = decoded.end_ns;
            u.format = "jfr";
            u.files.push_back(ProfileFile{"auto.jfr", part_type(jp), share(jfr_bytes), nullptr, std::move(stats)});
            if (lp) u.files.push_back(ProfileFile{"labels", part_type(lp), share(lp->data)});
        } else if (format == "lines" ||
                   (format.empty() && boundary.empty() && mtype.find("octet-stream") == std::string::npos) ||
                   format == "folded" || format == "groups" || format == "collapsed") {
            Inflated text = inflate(body, limit());
            int64_t rate = 100;
            if (auto *sr = find(q, "sampleRate")) {
                try {
                    rate = std::stoll(*sr);
                } catch (...) {
                    throw IngestError(400, "sampleRate '" + *sr + "' is not an integer");
                }
            }
            trib::MemoryReservation working(&host_);
            auto pprof = folded_to_pprof(text.data, format == "lines", q.count("units") ? q["units"] : "", rate, from,
                                         until, opts_.body_limit_bytes, &working);
            u.format = "pprof";
            u.files.push_back(ProfileFile{"auto.pprof", "application/octet-stream",
                                          std::make_shared<const std::string>(std::move(pprof))});
        } else if (format == "pprof" || format.empty()) {
            if (!boundary.empty()) {
                const MultipartPart *pp = part("profile");
                if (!pp) {
                    for (auto &p : parts)
                        if (!p.filename.empty() && p.name != "sample_type_config" && p.name != "prev_profile") pp = &p;
                }
                if (!pp) throw IngestError(400, "multipart pprof upload without a 'profile' part");
                auto summary = read_upload_pprof(pp->data, limit(), kReadWithLabels);
                add_pprof_labels(*summary, u.tags);
                std::string file = "auto.pprof";
                if (language == "golang") {
                    const MultipartPart *cfg = part("sample_type_config");
                    file = cfg ? go_profile_file_name(cfg->data) : "cpu.pprof";
                }
                u.format = "pprof";
                u.files.push_back(ProfileFile{file, part_type(pp), share(pp->data), summary});
                if (const MultipartPart *prev = part("prev_profile"); prev && !prev->data.empty())
                    u.files.push_back(ProfileFile{"prev_" + file, part_type(prev), share(prev->data),
                                                  read_upload_pprof(prev->data, limit())});
            } else {
                auto summary = read_upload_pprof(body, limit(), kReadWithLabels);
                add_pprof_labels(*summary, u.tags);
                u.format = "pprof";
                u.files.push_back(ProfileFile{"auto.pprof", mtype.empty() ? "application/octet-stream" : mtype,
                                              share(body), summary});
            }
        } else {
            throw IngestError(415, "unsupported format '" + format + "': upload pprof, jfr, lines or folded");
        }
        finish_tags(u);
        u.inflate = limit();
        return emit_upload(u, false);
    } catch (const IngestError &e) {
        return trib::HttpResponse::text(e.status, e.what());
    } catch (const TooLargeError &e) {
        return trib::HttpResponse::text(413, std::string(e.what()) + " (body_size_limit_mb)");
    } catch (const DecodeError &e) {
        return trib::HttpResponse::text(400, e.what());
    } catch (const trib::MemoryRefused &e) {
        return trib::refusal_response(e.status, e.what());
    }
}

trib::HttpResponse PyroscopeIngest::handle_push(const trib::HttpRequest &req) {
    std::string ctype = std::string(req.content_type());
    if (ctype.empty()) ctype = std::string(req.header("Content-Type"));
    std::string mtype = media_type(ctype);
    bool json = mtype == "application/json";
    if (!json && mtype != "application/proto" && mtype != "application/protobuf" && mtype != "application/x-protobuf")
        return fail(415, "unknown",
                    "unsupported content type '" + mtype + "': use application/proto or application/json");

    try {
        return push(req, json);
    } catch (const TooLargeError &e) {
        return fail(413, "resource_exhausted", std::string(e.what()) + " (body_size_limit_mb)");
    } catch (const DecodeError &e) {
        return fail(400, "invalid_argument", e.what());
    } catch (const trib::MemoryRefused &e) {
        return connect_refusal(e.status, e.what());
    }
}

trib::HttpResponse PyroscopeIngest::push(const trib::HttpRequest &req, bool json) {
    Inflated decoded;
    std::string_view body = req.body();
    std::string encoding = lower(req.header("Content-Encoding"));
    if (!encoding.empty() && encoding != "identity") {
        if (encoding != "gzip" && encoding != "zstd" && encoding != "lz4")
            return fail(400, "unimplemented", "unsupported Content-Encoding '" + encoding + "'");
        if (detect_codec(body) == Codec::none)
            return fail(400, "invalid_argument", "body is not " + encoding + " data");
        decoded = inflate(body, limit());
        body = decoded.data;
    }

    // The decoded request and the profiles copied out of it, until the bus has them.
    trib::MemoryReservation copies(&host_);
    copies.add(2 * uint64_t(body.size()), "decoded push request");
    push::v1::PushRequest request;
    if (json) {
        check_json_depth(body, "PushRequest JSON");
        google::protobuf::util::JsonParseOptions o;
        o.ignore_unknown_fields = true;
        auto st = google::protobuf::util::JsonStringToMessage(std::string(body), &request, o);
        if (!st.ok()) return fail(400, "invalid_argument", "bad PushRequest JSON: " + std::string(st.message()));
    } else if (!request.ParseFromArray(body.data(), int(body.size()))) {
        return fail(400, "invalid_argument", "body is not a PushRequest protobuf");
    }
    if (request.series_size() == 0) return fail(400, "invalid_argument", "PushRequest holds no series");

    std::vector<ProfileUpload> uploads;
    for (int si = 0; si < request.series_size(); ++si) {
        const auto &series = request.series(si);
        ProfileUpload u;
        check_tag_count(size_t(series.labels_size()), "series " + std::to_string(si) + " labels");
        for (auto &l : series.labels())
            if (!l.name().empty()) u.tags[l.name()] = l.value();
        if (!find(u.tags, "service")) {
            if (auto *sn = find(u.tags, "service_name")) u.tags["service"] = *sn;
        }
        std::string spy;
        for (const char *k : {"__spy_name__", "pyroscope_spy", "spy_name", "spyName"})
            if (auto *v = find(u.tags, k)) {
                spy = *v;
                break;
            }
        std::string language = !spy.empty() ? language_from_spy(spy) : "unknown";
        if (language == "unknown") {
            std::vector<std::string_view> cands;
            for (const char *k : {"language", "process.runtime.name", "runtime", "telemetry.sdk.language"})
                if (auto *v = find(u.tags, k)) cands.push_back(*v);
            if (!cands.empty()) language = detect_language(cands);
        }
        u.tags["language"] = language;
        std::string type = find(u.tags, "__name__") ? u.tags["__name__"] : "";
        std::string file = push_file_name(type, language);
        if (series.samples_size() == 0)
            return fail(400, "invalid_argument", "series " + std::to_string(si) + " has no samples");
        int64_t start = 0, end = 0;
        for (int k = 0; k < series.samples_size(); ++k) {
            const std::string &raw = series.samples(k).raw_profile();
            std::shared_ptr<const PprofSummary> summary;
            std::string where = "series " + std::to_string(si) + " sample " + std::to_string(k);
            try {
                summary = read_upload_pprof(raw, limit());
                if (summary->time_nanos > 0) check_client_time(summary->time_nanos, "the profile time");
                if (summary->duration_nanos < 0 || summary->duration_nanos > kMaxClientClockSkewNs)
                    throw DecodeError("the profile duration is negative or longer than a day");
            } catch (const TooLargeError &e) {
                return fail(413, "resource_exhausted", where + ": " + e.what() + " (body_size_limit_mb)");
            } catch (const DecodeError &e) {
                return fail(400, "invalid_argument", where + ": " + e.what());
            }
            const PprofSummary &prof = *summary;
            if (prof.time_nanos > 0 && (start == 0 || prof.time_nanos < start)) start = prof.time_nanos;
            end = std::max(end, prof.time_nanos + std::max<int64_t>(0, prof.duration_nanos));
            std::string name = k == 0 ? file : file.substr(0, file.size() - 6) + "-" + std::to_string(k + 1) + ".pprof";
            u.files.push_back(ProfileFile{name, "application/octet-stream", share(raw), summary});
        }
        if (start == 0) {
            end = now_ns();
            start = end - kDefaultWindowNs;
        }
        if (end < start) end = start;
        u.start_ns = start;
        u.end_ns = end;
        u.format = "pprof";
        finish_tags(u);
        uploads.push_back(std::move(u));
    }
    // Every series in one emit: the request is accepted or refused as a whole.
    std::vector<trib::Point> points;
    std::vector<MetricsWork> later;
    for (auto &u : uploads) {
        points.push_back(build_profile_point(u, new_profile_id()));
        if (auto work = add_metrics(u, points, true)) later.push_back(std::move(*work));
    }
    trib_status st = host_.emit(points);
    if (st != TRIB_OK) return connect_refusal(st, emit_refusal_text(st));
    for (auto &work : later) opts_.metrics_pool->submit(std::move(work));
    host_.counter_add("pyroscope_push_series", double(uploads.size()));
    trib::HttpResponse r;
    r.status = 200;
    r.content_type = json ? "application/json" : "application/proto";
    r.body = json ? "{}" : "";
    return r;
}

} // namespace trib::profiling
