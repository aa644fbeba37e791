#include "api.hpp"

#include "time_parse.hpp"

#include <tributary/profiling/profile_point.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace trib::viewer {

namespace {

struct BadRequest : std::runtime_error {
    using std::runtime_error::runtime_error;
};

trib::HttpResponse json_response(uint32_t status, const nlohmann::json &j) {
    trib::HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}
trib::HttpResponse error_response(uint32_t status, const std::string &why) {
    return json_response(status, {{"error", why}});
}

// The query parameters of one request, checked against what the endpoint accepts.
class Params {
  public:
    Params(const trib::HttpRequest &r, std::set<std::string> allowed, bool tags_allowed) {
        for (auto &[k, v] : r.query_params()) {
            if (tags_allowed && k.rfind("tag.", 0) == 0) {
                std::string key = k.substr(4);
                if (key.empty() || key.find('"') != std::string::npos)
                    throw BadRequest(k + ": a tag filter is tag.<key>=<value> with a key without '\"'");
                tags.emplace_back(key, v);
                continue;
            }
            if (!allowed.count(k)) {
                std::string list;
                for (auto &a : allowed) list += (list.empty() ? "" : ", ") + a;
                throw BadRequest("unknown parameter '" + k + "' (accepted: " + list +
                                 (tags_allowed ? ", tag.<key>" : "") + ")");
            }
            if (values.count(k)) throw BadRequest("parameter '" + k + "' given twice");
            values[k] = v;
        }
    }
    std::string get(const std::string &k) const {
        auto it = values.find(k);
        return it == values.end() ? std::string() : it->second;
    }
    bool has(const std::string &k) const { return values.count(k) != 0; }
    std::string required(const std::string &k) const {
        auto v = get(k);
        if (v.empty()) throw BadRequest(k + " is required");
        return v;
    }
    std::optional<int64_t> time(const std::string &k, int64_t now) const {
        if (!has(k)) return std::nullopt;
        auto t = parse_time_ns(get(k), now);
        if (!t)
            throw BadRequest(k + ": '" + get(k) +
                             "' is not a time (RFC3339, Unix milliseconds, now or now-<duration>)");
        return t;
    }
    int64_t limit(int64_t def, int64_t max) const {
        if (!has("limit")) return def;
        const std::string v = get("limit");
        bool digits =
            !v.empty() && v.size() < 10 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || std::stoll(v) < 1 || std::stoll(v) > max)
            throw BadRequest("limit: '" + v + "' is not a whole number from 1 to " + std::to_string(max));
        return std::stoll(v);
    }
    std::map<std::string, std::string> values;
    std::vector<std::pair<std::string, std::string>> tags;
};

void check_window(const std::optional<int64_t> &from, const std::optional<int64_t> &to, const char *what) {
    if (from && to && *from > *to) throw BadRequest(std::string(what) + ": from is after to");
}

void check_name(const std::string &key, const std::string &v) {
    if (v.empty()) return;
    bool ok = v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '-' || c == '.';
              });
    if (!ok) throw BadRequest(key + ": '" + v + "' is not a profile type name (letters, digits, _ - .)");
}

std::string read_file(const std::string &path, bool &ok) {
    std::ifstream in(path, std::ios::binary);
    ok = bool(in);
    if (!ok) return {};
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

template <class F>
trib::HttpResponse guarded(F &&f) {
    try {
        return f();
    } catch (const BadRequest &e) {
        return error_response(400, e.what());
    }
}

} // namespace

nlohmann::json profile_json(const ProfileRow &r) {
    return {{"id", r.id},
            {"service", r.service},
            {"env", r.env},
            {"version", r.version},
            {"host", r.host},
            {"language", r.language},
            {"format", r.format},
            {"start_ns", r.start_ns},
            {"end_ns", r.end_ns},
            {"start", trib::profiling::format_rfc3339_nano(r.start_ns)},
            {"end", trib::profiling::format_rfc3339_nano(r.end_ns)},
            {"types", r.types},
            {"attachments", r.attachments},
            {"size", r.size},
            {"tags", r.tags}};
}

Api::Api(Index &index, const ViewerConfig &cfg, std::function<int64_t()> clock)
    : index_(index), cfg_(cfg), clock_(std::move(clock)) {}

std::vector<ProfileFile> Api::files_of(const ProfileRow &row, int64_t &missing) {
    std::vector<ProfileFile> files;
    for (auto &name : row.attachments) {
        if (!is_sample_file(name) && name != "labels") continue;
        bool ok = false;
        std::string data = read_file(store_path(index_.store_dir(), row.id, name), ok);
        if (!ok) {
            ++missing;
            continue;
        }
        files.push_back(ProfileFile{name, std::move(data)});
    }
    return files;
}

std::optional<UploadSummary> Api::summarize(const ProfileRow &row) {
    int64_t missing = 0;
    auto files = files_of(row, missing);
    if (missing) return std::nullopt;
    return summarize_upload(files, index_.stacks());
}

void Api::store_summaries(const std::vector<std::pair<std::string, const UploadSummary *>> &batch) {
    index_.store_summaries(batch);
    summarized_ += int64_t(batch.size());
}

void Api::fill_types(std::vector<ProfileRow> &rows) {
    for (auto &row : rows) {
        if (row.types_known) continue;
        int64_t missing = 0;
        auto files = files_of(row, missing);
        if (missing) continue;
        auto summary = summarize_upload(files, index_.stacks());
        index_.store_summary(row.id, summary);
        ++summarized_;
        row.types = summary.types;
        row.types_known = true;
    }
}

trib::HttpResponse Api::services(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {}, false);
        // A service seen for the first time shows its types at once: its newest upload is
        // decoded here rather than waiting for the fill timer.
        auto newest = index_.untyped(1000, true);
        fill_types(newest);
        return json_response(200, {{"services", index_.services()}});
    });
}

trib::HttpResponse Api::profiles(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {"service", "env", "version", "host", "type", "from", "to", "limit"}, true);
        int64_t now = clock_();
        ProfileQuery q;
        q.service = p.get("service");
        q.env = p.get("env");
        q.version = p.get("version");
        q.host = p.get("host");
        q.type = p.get("type");
        check_name("type", q.type);
        q.from_ns = p.time("from", now);
        q.to_ns = p.time("to", now);
        check_window(q.from_ns, q.to_ns, "from/to");
        q.tags = p.tags;
        q.limit = p.limit(100, 10000);
        auto rows = index_.profiles(q);
        fill_types(rows);
        auto j = nlohmann::json::array();
        for (auto &row : rows)
            if (q.type.empty() || std::find(row.types.begin(), row.types.end(), q.type) != row.types.end())
                j.push_back(profile_json(row));
        return json_response(200, {{"profiles", j}});
    });
}

// The path after `prefix`, split at '/' and percent-decoded ('+' stays '+' in a path).
std::vector<std::string> path_segments(const trib::HttpRequest &r, std::string_view prefix) {
    std::string_view rest = r.path().substr(std::min(prefix.size(), r.path().size()));
    std::vector<std::string> out;
    while (true) {
        size_t slash = rest.find('/');
        std::string raw(rest.substr(0, slash));
        std::string protected_plus;
        for (char c : raw) protected_plus += c == '+' ? std::string("%2B") : std::string(1, c);
        out.push_back(trib::HttpRequest::url_decode(protected_plus));
        if (slash == std::string_view::npos) break;
        rest = rest.substr(slash + 1);
    }
    return out;
}

trib::HttpResponse Api::profile(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {"id", "attachment"}, false);
        std::string id = p.required("id");
        std::string name = p.has("attachment") ? p.required("attachment") : std::string();
        return profile_answer(id, name);
    });
}

trib::HttpResponse Api::profile_by_path(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {}, false);
        auto seg = path_segments(r, "/api/v1/profiles/");
        if (seg.size() > 2 || seg[0].empty() || (seg.size() == 2 && seg[1].empty()))
            throw BadRequest("expected /api/v1/profiles/<id> or /api/v1/profiles/<id>/<attachment>");
        return profile_answer(seg[0], seg.size() == 2 ? seg[1] : std::string());
    });
}

trib::HttpResponse Api::profile_answer(const std::string &id, const std::string &name) {
    {
        auto row = index_.profile(id);
        if (!row) return error_response(404, "no profile " + id);
        if (name.empty()) return json_response(200, profile_json(*row));
        if (std::find(row->attachments.begin(), row->attachments.end(), name) == row->attachments.end())
            return error_response(404, "profile " + id + " has no attachment " + name);
        bool ok = false;
        std::string bytes = read_file(store_path(index_.store_dir(), id, name), ok);
        if (!ok) return error_response(404, "attachment " + name + " of " + id + " is not in the store");
        trib::HttpResponse resp;
        resp.status = 200;
        resp.content_type = name.size() > 5 && name.substr(name.size() - 5) == ".json" ? "application/json"
                                                                                       : "application/octet-stream";
        std::string safe;
        for (char c : name) safe.push_back(c == '"' || c == '\\' || c < 0x20 ? '_' : c);
        resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + safe + "\"");
        resp.body = std::move(bytes);
        return resp;
    }
}

int64_t Api::merge_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot) {
    const FlameFilter &filter = tree.filter();
    // Summaries hold no sample labels: span and endpoint filters read the files.
    if (!filter.span_id.empty() || !filter.endpoint.empty()) return decode_into(tree, rows, slot);
    const auto &types = type_candidates(filter.type);
    std::vector<std::string> ids;
    for (auto &row : rows) ids.push_back(row.id);
    auto stored = index_.summaries(ids, types);

    // Uploads without a summary yet (not reached by the summarizer, or indexed by an older
    // viewer) are summarized now, on a few threads, and stored for the next query.
    std::vector<const ProfileRow *> unsummarized;
    for (auto &row : rows) {
        if (stored.count(row.id)) continue;
        bool may_have = !row.types_known;
        for (auto &t : types)
            may_have = may_have || std::find(row.types.begin(), row.types.end(), t) != row.types.end();
        if (may_have) unsummarized.push_back(&row);
    }
    std::atomic<size_t> next{0};
    std::atomic<int64_t> missing{0};
    std::vector<std::optional<Index::StoredSummary>> fresh(unsummarized.size());
    auto work = [&] {
        for (size_t i = next++; i < unsummarized.size(); i = next++) {
            int64_t absent = 0;
            auto files = files_of(*unsummarized[i], absent);
            auto summary = summarize_upload(files, index_.stacks());
            // A file missing now may be written later (the file sink lags the index).
            if (absent) missing += absent;
            else {
                index_.store_summary(unsummarized[i]->id, summary);
                ++summarized_;
            }
            for (auto &t : types)
                if (auto it = summary.by_type.find(t); it != summary.by_type.end()) {
                    fresh[i] = Index::StoredSummary{t, it->second.first, it->second.second};
                    break;
                }
        }
    };
    size_t workers = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 4, unsummarized.size()});
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
    if (workers) work();
    for (auto &t : threads) t.join();

    std::vector<int64_t> self_by_id;
    {
        auto g = index_.stacks().read_lock();
        self_by_id.assign(index_.stacks().size(), 0);
    }
    int64_t uploads = 0;
    std::string unit;
    auto add = [&](const Index::StoredSummary &s) {
        add_stack_values(s.data, self_by_id);
        ++uploads;
        if (unit.empty()) unit = s.unit;
    };
    for (auto &[id, s] : stored) add(s);
    for (auto &s : fresh)
        if (s) add(*s);
    tree.add_stack_values(index_.stacks(), self_by_id, slot, uploads, unit);
    return missing.load();
}

int64_t Api::decode_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot) {
    // Each worker builds its own tree; they are merged at the end.
    std::atomic<size_t> next{0};
    std::atomic<int64_t> missing{0};
    size_t workers = std::max<size_t>(1, std::min<size_t>({std::thread::hardware_concurrency(), 4, rows.size()}));
    std::vector<std::unique_ptr<FlameTree>> parts;
    for (size_t w = 0; w < workers; ++w) parts.push_back(std::make_unique<FlameTree>(tree.filter()));
    auto work = [&](FlameTree &part) {
        for (size_t i = next++; i < rows.size(); i = next++) {
            int64_t absent = 0;
            auto files = files_of(rows[i], absent);
            missing += absent;
            part.add_upload(files, 0);
        }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, std::ref(*parts[w]));
    work(*parts[0]);
    for (auto &t : threads) t.join();
    for (auto &part : parts) tree.merge(*part, 0, slot);
    return missing.load();
}

trib::HttpResponse Api::flamegraph(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r,
                 {"service", "type", "env", "version", "host", "from", "to", "span_id", "endpoint", "diff",
                  "baseline_from", "baseline_to", "baseline_version"},
                 true);
        int64_t now = clock_();
        ProfileQuery q;
        q.service = p.required("service");
        FlameFilter filter;
        filter.type = p.required("type");
        check_name("type", filter.type);
        filter.span_id = p.get("span_id");
        filter.endpoint = p.get("endpoint");
        q.env = p.get("env");
        q.version = p.get("version");
        q.host = p.get("host");
        q.tags = p.tags;
        q.from_ns = p.time("from", now).value_or(now - 3600LL * 1000000000LL);
        q.to_ns = p.time("to", now).value_or(now);
        check_window(q.from_ns, q.to_ns, "from/to");
        q.limit = cfg_.max_query_profiles;
        std::string diff = p.get("diff");
        if (p.has("diff") && diff != "0" && diff != "1") throw BadRequest("diff: '" + diff + "' is not 0 or 1");
        bool is_diff = diff == "1";
        ProfileQuery base = q;
        if (is_diff) {
            bool window = p.has("baseline_from") || p.has("baseline_to");
            if (!window && !p.has("baseline_version"))
                throw BadRequest("diff=1 needs baseline_from and baseline_to, or baseline_version");
            if (window) {
                base.from_ns = p.time("baseline_from", now);
                base.to_ns = p.time("baseline_to", now);
                if (!base.from_ns || !base.to_ns) throw BadRequest("diff=1 needs both baseline_from and baseline_to");
                check_window(base.from_ns, base.to_ns, "baseline_from/baseline_to");
            }
            if (p.has("baseline_version")) base.version = p.required("baseline_version");
        } else {
            for (const char *k : {"baseline_from", "baseline_to", "baseline_version"})
                if (p.has(k)) throw BadRequest(std::string(k) + " is only used with diff=1");
        }
        auto rows = index_.profiles(q);
        FlameTree tree(filter);
        int64_t missing = merge_into(tree, rows, 0);
        nlohmann::json out = {{"service", q.service},
                              {"type", filter.type},
                              {"unit", tree.unit()},
                              {"from_ns", *q.from_ns},
                              {"to_ns", *q.to_ns},
                              {"profiles", tree.uploads(0)},
                              {"total", tree.total(0)},
                              {"missing_files", missing},
                              {"truncated", int64_t(rows.size()) >= cfg_.max_query_profiles}};
        if (is_diff) {
            auto base_rows = index_.profiles(base);
            out["missing_files"] = missing + merge_into(tree, base_rows, 1);
            out["baseline"] = {{"profiles", tree.uploads(1)}, {"total", tree.total(1)}};
        }
        out["tree"] = tree.to_json(is_diff);
        return json_response(200, out);
    });
}

trib::HttpResponse Api::traces(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {"service", "resource", "min_duration", "status", "from", "to", "limit"}, false);
        int64_t now = clock_();
        TraceQuery q;
        q.service = p.get("service");
        q.resource = p.get("resource");
        if (p.has("min_duration")) {
            auto d = parse_duration_ns(p.get("min_duration"));
            if (!d)
                throw BadRequest("min_duration: '" + p.get("min_duration") + "' is not a duration like 250ms or 1.5s");
            q.min_duration_us = *d / 1000;
        }
        q.status = p.get("status");
        if (p.has("status") && q.status != "ok" && q.status != "error")
            throw BadRequest("status: '" + q.status + "' is not ok or error");
        q.from_ns = p.time("from", now);
        q.to_ns = p.time("to", now);
        check_window(q.from_ns, q.to_ns, "from/to");
        q.limit = p.limit(100, 10000);
        auto j = nlohmann::json::array();
        for (auto &t : index_.traces(q))
            j.push_back({{"trace_id", t.trace_id},
                         {"service", t.service},
                         {"resource", t.resource},
                         {"start_us", t.start_us},
                         {"duration_us", t.duration_us},
                         {"spans", t.spans},
                         {"status", t.status}});
        return json_response(200, {{"traces", j}});
    });
}

trib::HttpResponse Api::trace(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {"id"}, false);
        return trace_answer(p.required("id"));
    });
}

trib::HttpResponse Api::trace_by_path(const trib::HttpRequest &r) {
    return guarded([&] {
        Params p(r, {}, false);
        auto seg = path_segments(r, "/api/v1/traces/");
        if (seg.size() != 1 || seg[0].empty()) throw BadRequest("expected /api/v1/traces/<trace_id>");
        return trace_answer(seg[0]);
    });
}

trib::HttpResponse Api::trace_answer(const std::string &id) {
    {
        auto spans = index_.trace(id);
        if (spans.empty()) return error_response(404, "no trace " + id);
        int64_t start = spans.front().start_us, end = start;
        for (auto &s : spans) {
            start = std::min(start, s.start_us);
            end = std::max(end, s.start_us + s.duration_us);
        }
        std::map<std::string, size_t> by_id;
        for (size_t i = 0; i < spans.size(); ++i) by_id.emplace(spans[i].span_id, i);
        std::vector<std::vector<size_t>> children(spans.size());
        std::vector<size_t> roots;
        for (size_t i = 0; i < spans.size(); ++i) {
            auto it = by_id.find(spans[i].parent_id);
            if (it == by_id.end() || it->second == i) roots.push_back(i);
            else children[it->second].push_back(i);
        }
        std::vector<char> done(spans.size(), 0);
        std::function<nlohmann::json(size_t, int)> node = [&](size_t i, int depth) {
            done[i] = 1;
            const SpanRow &s = spans[i];
            nlohmann::json j = {{"span_id", s.span_id},
                                {"parent_id", s.parent_id},
                                {"service", s.service},
                                {"resource", s.resource},
                                {"offset_us", s.start_us - start},
                                {"start_us", s.start_us},
                                {"duration_us", s.duration_us},
                                {"status", s.status},
                                {"error", s.error},
                                {"depth", depth},
                                {"tags", s.tags}};
            if (!s.message.empty()) {
                auto m = nlohmann::json::parse(s.message, nullptr, false);
                j["message"] = m.is_discarded() ? nlohmann::json(s.message) : m;
            }
            auto kids = nlohmann::json::array();
            for (size_t c : children[i])
                if (!done[c]) kids.push_back(node(c, depth + 1));
            j["children"] = kids;
            return j;
        };
        auto tree = nlohmann::json::array();
        for (size_t i : roots) tree.push_back(node(i, 0));
        // Spans caught in a parent cycle have no root: show them at the top level.
        for (size_t i = 0; i < spans.size(); ++i)
            if (!done[i]) tree.push_back(node(i, 0));
        return json_response(200, {{"trace_id", id},
                                   {"start_us", start},
                                   {"duration_us", end - start},
                                   {"span_count", spans.size()},
                                   {"spans", tree}});
    }
}

} // namespace trib::viewer
