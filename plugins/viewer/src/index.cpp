#include "index.hpp"

#include <tributary/json_text.hpp>
#include <tributary/plugin.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace trib::viewer {

namespace {

// A prepared statement; steps and binds throw on SQLite errors.
class Stmt {
  public:
    Stmt(sqlite3 *db, const std::string &sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &st_, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in " + sql);
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt &) = delete;
    Stmt &operator=(const Stmt &) = delete;
    Stmt &bind(int i, const std::string &s) {
        sqlite3_bind_text(st_, i, s.data(), int(s.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // `s` must stay unchanged until the statement is reset (no copy into SQLite).
    Stmt &bind_static(int i, const std::string &s) {
        sqlite3_bind_text(st_, i, s.data(), int(s.size()), SQLITE_STATIC);
        return *this;
    }
    Stmt &bind(int i, int64_t v) {
        sqlite3_bind_int64(st_, i, v);
        return *this;
    }
    // true: a row is ready; false: done.
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    void run() {
        step();
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
    }
    std::string text(int col) const {
        auto *p = reinterpret_cast<const char *>(sqlite3_column_text(st_, col));
        return p ? std::string(p, size_t(sqlite3_column_bytes(st_, col))) : std::string();
    }
    int64_t i64(int col) const { return sqlite3_column_int64(st_, col); }
    sqlite3_stmt *raw() const { return st_; }
    Stmt &bind_null(int i) {
        sqlite3_bind_null(st_, i);
        return *this;
    }

  private:
    sqlite3 *db_;
    sqlite3_stmt *st_ = nullptr;
};

std::string sanitize_component(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) out.push_back(c == '/' || c == '\\' || c < 0x20 || c == 0x7f ? '_' : char(c));
    if (out.size() > 200) out.resize(200);
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

std::string join_list(const std::vector<std::string> &v) {
    std::string out = "[";
    for (auto &item : v) {
        if (out.size() > 1) out.push_back(',');
        trib::append_json_string(out, item);
    }
    out.push_back(']');
    return out;
}

// A point's tags as the stored JSON object, and the ones with their own column picked out
// on the way. Keys repeated in a point: the last wins, as JSON parsers read it.
std::string tags_json_of(const trib_point &p, std::initializer_list<std::pair<std::string_view, std::string *>> pick) {
    std::string out = "{";
    for (size_t i = 0; i < p.tag_count; ++i) {
        const trib_tag *t = TRIB_AT(trib_tag, p.tags, i);
        std::string_view k = trib::sv(t->key), v = trib::sv(t->value);
        if (out.size() > 1) out.push_back(',');
        trib::append_json_string(out, k);
        out.push_back(':');
        trib::append_json_string(out, v);
        for (auto &[name, into] : pick)
            if (k == name) into->assign(v);
    }
    out.push_back('}');
    return out;
}
std::string tags_json_of(const std::map<std::string, std::string> &tags) {
    std::string out = "{";
    for (auto &[k, v] : tags) {
        if (out.size() > 1) out.push_back(',');
        trib::append_json_string(out, k);
        out.push_back(':');
        trib::append_json_string(out, v);
    }
    out.push_back('}');
    return out;
}
std::vector<std::string> split_list(const std::string &s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    return j.is_array() ? j.get<std::vector<std::string>>() : std::vector<std::string>{};
}
std::map<std::string, std::string> tags_from_json(const std::string &s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    std::map<std::string, std::string> out;
    if (j.is_object())
        for (auto &[k, v] : j.items())
            if (v.is_string()) out[k] = v.get<std::string>();
    return out;
}
std::string tag_of(const std::map<std::string, std::string> &t, const char *k) {
    auto it = t.find(k);
    return it == t.end() ? std::string() : it->second;
}

// The tags the API filters on get their own columns.
void set_well_known_tags(ProfileRow &r) {
    r.service = tag_of(r.tags, "service");
    r.env = tag_of(r.tags, "env");
    r.version = tag_of(r.tags, "version");
    r.host = tag_of(r.tags, "host");
}

// `$."key"` for json_extract; keys with '"' are refused by the API before they get here.
std::string json_path(const std::string &key) { return "$.\"" + key + "\""; }

constexpr const char *kProfileCols =
    "id, service, env, version, host, language, format, start_ns, end_ns, types, attachments, tags, size";

ProfileRow read_profile(const Stmt &s) {
    ProfileRow r;
    r.id = s.text(0);
    r.service = s.text(1);
    r.env = s.text(2);
    r.version = s.text(3);
    r.host = s.text(4);
    r.language = s.text(5);
    r.format = s.text(6);
    r.start_ns = s.i64(7);
    r.end_ns = s.i64(8);
    r.types_known = sqlite3_column_type(s.raw(), 9) != SQLITE_NULL;
    r.types = split_list(s.text(9));
    r.attachments = split_list(s.text(10));
    r.tags = tags_from_json(s.text(11));
    r.size = s.i64(12);
    return r;
}

std::string read_whole(const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

std::string store_path(const std::string &store_dir, const std::string &id, const std::string &name) {
    return (fs::path(store_dir) / sanitize_component(id) / sanitize_component(name)).string();
}

std::optional<ProfileRow> profile_row(const trib_point &p) {
    if (trib::sv(p.measurement) != "profile") return std::nullopt;
    ProfileRow r;
    int64_t start_us = 0, end_us = 0;
    for (size_t i = 0; i < p.field_count; ++i) {
        const trib_field *f = TRIB_AT(trib_field, p.fields, i);
        std::string_view k = trib::sv(f->key);
        if (f->type == TRIB_FIELD_STRING) {
            if (k == "profile_id") r.id = std::string(trib::sv(f->value.s));
            else if (k == "format") r.format = std::string(trib::sv(f->value.s));
        } else if (f->type == TRIB_FIELD_INT) {
            if (k == "start") start_us = f->value.i;
            else if (k == "end") end_us = f->value.i;
            else if (k == "__file_size") r.size = f->value.i;
        }
    }
    if (r.id.empty()) return std::nullopt;
    r.types_known = false;
    r.tags_json = tags_json_of(p, {{"service", &r.service},
                                   {"env", &r.env},
                                   {"version", &r.version},
                                   {"host", &r.host},
                                   {"language", &r.language}});
    r.start_ns = start_us ? start_us * 1000 : p.time_ns;
    r.end_ns = end_us ? end_us * 1000 : r.start_ns;
    int64_t bytes = 0;
    r.attachments.reserve(p.attachment_count);
    for (size_t i = 0; i < p.attachment_count; ++i) {
        const trib_attachment *a = TRIB_AT(trib_attachment, p.attachments, i);
        r.attachments.emplace_back(trib::sv(a->name));
        // 1.5 hosts hand stored attachments by path (TRIB_MODULE_READS_STORED_ATTACHMENTS): size says how big.
        bytes += int64_t(TRIB_HAS_FIELD(trib_attachment, a, size) ? a->size : a->data.len);
    }
    if (bytes > r.size) r.size = bytes;
    return r;
}

std::optional<SpanRow> span_row(const trib_point &p) {
    if (trib::sv(p.category) != "tracing") return std::nullopt;
    SpanRow r;
    for (size_t i = 0; i < p.field_count; ++i) {
        const trib_field *f = TRIB_AT(trib_field, p.fields, i);
        std::string_view k = trib::sv(f->key);
        if (f->type == TRIB_FIELD_STRING) {
            std::string_view v = trib::sv(f->value.s);
            if (k == "trace_id") r.trace_id = v;
            else if (k == "span_id") r.span_id = v;
            else if (k == "parent_id") r.parent_id = v;
            else if (k == "resource") r.resource = v;
            else if (k == "error_message") r.error = v;
            else if (k == "message") r.message = v;
        } else if (f->type == TRIB_FIELD_INT) {
            if (k == "start") r.start_us = f->value.i;
            else if (k == "duration") r.duration_us = f->value.i;
        }
    }
    if (r.trace_id.empty() || r.span_id.empty()) return std::nullopt;
    r.tags_json = tags_json_of(p, {{"service", &r.service}, {"status", &r.status}});
    if (r.status.empty()) r.status = r.error.empty() ? "ok" : "error";
    if (!r.start_us) r.start_us = p.time_ns / 1000;
    if (r.parent_id.empty()) r.parent_id = "0";
    return r;
}

Index::Index(std::string db_path, std::string store_dir, Logger log, TypesFromStore types)
    : db_path_(std::move(db_path)), store_dir_(std::move(store_dir)), log_(std::move(log)), types_(std::move(types)) {
    bool existed = fs::exists(db_path_);
    std::string why;
    if (!try_open(why)) {
        std::string aside =
            db_path_ + ".corrupt-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
        log_(true, "index " + db_path_ + " is unreadable (" + why + "); moved aside to " + aside +
                       " and rebuilt from the attachment store " + store_dir_);
        std::error_code ec;
        fs::rename(db_path_, aside, ec);
        for (const char *suffix : {"-wal", "-shm", "-journal"}) fs::remove(db_path_ + suffix, ec);
        existed = false;
        if (!try_open(why)) throw std::runtime_error("cannot create the index " + db_path_ + ": " + why);
    }
    attach_spans();
    load_stacks();
    if (!existed) {
        rebuilt_ = rebuild_from_store();
        if (rebuilt_ > 0) log_(false, "indexed " + std::to_string(rebuilt_) + " profiles found in " + store_dir_);
        // The spans are in their own file; only their service rows lived in the lost one.
        exec("INSERT OR REPLACE INTO services(service, kind, last_seen_ns, count)"
             " SELECT service, 'trace', MAX((start_us + duration_us) * 1000), COUNT(*) FROM spans GROUP BY service");
    }
}

// Spans live in their own file (spans.db beside index.db, attached as spans_db): nothing
// else holds them (profiles are rebuilt from the attachment store), so a corrupted index
// must not take them along. An unreadable spans.db is moved aside and started afresh.
void Index::attach_spans() {
    std::string path = (fs::path(db_path_).parent_path() / "spans.db").string();
    auto attach = [&] {
        Stmt a(db_, "ATTACH DATABASE ? AS spans_db");
        a.bind(1, path).run();
        exec("PRAGMA spans_db.journal_mode=WAL");
        exec("PRAGMA spans_db.synchronous=NORMAL");
        Stmt check(db_, "PRAGMA spans_db.quick_check");
        std::string verdict = check.step() ? check.text(0) : "no answer";
        if (verdict != "ok") throw std::runtime_error("quick_check: " + verdict);
        exec("CREATE TABLE IF NOT EXISTS spans_db.spans(trace_id TEXT, span_id TEXT, parent_id TEXT, service TEXT,"
             " resource TEXT, start_us INTEGER, duration_us INTEGER, status TEXT, error TEXT, tags TEXT, message TEXT,"
             " PRIMARY KEY(trace_id, span_id));"
             "CREATE INDEX IF NOT EXISTS spans_db.spans_by_start ON spans(start_us);"
             "CREATE INDEX IF NOT EXISTS spans_db.spans_by_service ON spans(service, start_us);");
    };
    try {
        attach();
    } catch (const std::exception &e) {
        try {
            exec("DETACH DATABASE spans_db");
        } catch (...) {}
        std::string aside =
            path + ".corrupt-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
        log_(true, "spans " + path + " are unreadable (" + e.what() + "); moved aside to " + aside);
        std::error_code ec;
        fs::rename(path, aside, ec);
        for (const char *suffix : {"-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
        attach();
    }
    // An index written before spans had their own file: move them over once.
    Stmt old(db_, "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'spans'");
    if (old.step()) {
        sqlite3_reset(old.raw());
        exec("BEGIN; INSERT OR IGNORE INTO spans_db.spans SELECT * FROM main.spans; DROP TABLE main.spans; COMMIT");
    }
}

Index::~Index() {
    if (db_) sqlite3_close(db_);
}

bool Index::try_open(std::string &why) {
    if (db_) {
        sqlite3_close(db_);
        db_ = nullptr;
    }
    if (sqlite3_open_v2(db_path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        return false;
    }
    sqlite3_busy_timeout(db_, 5000);
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=NORMAL");
        Stmt check(db_, "PRAGMA quick_check");
        std::string verdict = check.step() ? check.text(0) : "no answer";
        if (verdict != "ok") throw std::runtime_error("quick_check: " + verdict);
        create_schema();
    } catch (const std::exception &e) {
        why = e.what();
        sqlite3_close(db_);
        db_ = nullptr;
        return false;
    }
    return true;
}

void Index::exec(const char *sql) {
    char *err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        throw std::runtime_error("sqlite: " + msg);
    }
}

void Index::create_schema() {
    exec("CREATE TABLE IF NOT EXISTS profiles(id TEXT PRIMARY KEY, service TEXT, env TEXT, version TEXT, host TEXT,"
         " language TEXT, format TEXT, start_ns INTEGER, end_ns INTEGER, types TEXT, attachments TEXT, tags TEXT,"
         " size INTEGER);"
         "CREATE INDEX IF NOT EXISTS profiles_by_service ON profiles(service, start_ns);"
         "CREATE INDEX IF NOT EXISTS profiles_by_start ON profiles(start_ns);"
         "CREATE TABLE IF NOT EXISTS services(service TEXT, kind TEXT, last_seen_ns INTEGER, count INTEGER,"
         " PRIMARY KEY(service, kind));"
         // The summarizer's queue: profiles not decoded yet.
         "CREATE INDEX IF NOT EXISTS profiles_untyped ON profiles(start_ns) WHERE types IS NULL;"
         "CREATE TABLE IF NOT EXISTS stack_nodes(id INTEGER PRIMARY KEY, parent INTEGER, name TEXT);"
         "CREATE TABLE IF NOT EXISTS summaries(id TEXT, type TEXT, unit TEXT, data BLOB, PRIMARY KEY(id, type));");
}

void Index::load_stacks() {
    std::lock_guard<std::mutex> g(mu_);
    stacks_.clear();
    Stmt s(db_, "SELECT id, parent, name FROM stack_nodes WHERE id > 0 ORDER BY id");
    while (s.step()) {
        if (stacks_.load(uint32_t(s.i64(0)), uint32_t(s.i64(1)), s.text(2))) continue;
        // Not a dictionary the summaries can trust: drop both, the summarizer redoes them.
        log_(true, "index " + db_path_ + ": stack dictionary inconsistent at id " + std::to_string(s.i64(0)) +
                       "; summaries dropped and rebuilt from the store");
        sqlite3_reset(s.raw());
        exec("BEGIN; DELETE FROM stack_nodes; DELETE FROM summaries; UPDATE profiles SET types = NULL; COMMIT");
        stacks_.clear();
        return;
    }
}

void Index::set_cache_mb(int64_t mb) {
    std::lock_guard<std::mutex> g(mu_);
    exec(("PRAGMA cache_size = -" + std::to_string(mb * 1024)).c_str());
}

void Index::store_summary(const std::string &id, const UploadSummary &summary) { store_summaries({{id, &summary}}); }

void Index::store_summaries(const std::vector<std::pair<std::string, const UploadSummary *>> &batch) {
    if (batch.empty()) return;
    std::lock_guard<std::mutex> g(mu_);
    // Taken inside the lock: a summary committed later can only use nodes committed with
    // it or before it.
    auto nodes = stacks_.take_unsaved();
    exec("BEGIN");
    try {
        Stmt node(db_, "INSERT OR REPLACE INTO stack_nodes(id, parent, name) VALUES(?,?,?)");
        for (auto &n : nodes) node.bind(1, int64_t(n.id)).bind(2, int64_t(n.parent)).bind(3, n.name).run();
        Stmt known(db_, "SELECT 1 FROM profiles WHERE id = ?");
        Stmt put(db_, "INSERT OR REPLACE INTO summaries(id, type, unit, data) VALUES(?,?,?,?)");
        Stmt types(db_, "UPDATE profiles SET types = ? WHERE id = ?");
        for (auto &[id, summary] : batch) {
            known.bind(1, id);
            bool still_indexed = known.step();
            sqlite3_reset(known.raw());
            if (!still_indexed) continue; // retention removed it while it was decoded
            for (auto &[type, tree] : summary->by_type) {
                put.bind(1, id).bind(2, type).bind(3, tree.first);
                sqlite3_bind_blob(put.raw(), 4, tree.second.data(), int(tree.second.size()), SQLITE_TRANSIENT);
                put.run();
            }
            types.bind(1, join_list(summary->types)).bind(2, id).run();
        }
        exec("COMMIT");
    } catch (...) {
        try {
            exec("ROLLBACK");
        } catch (...) {}
        if (!nodes.empty()) stacks_.give_back(nodes.front().id);
        throw;
    }
}

std::map<std::string, Index::StoredSummary> Index::summaries(const std::vector<std::string> &ids,
                                                             const std::vector<std::string> &types) {
    std::map<std::string, StoredSummary> out;
    std::lock_guard<std::mutex> g(mu_);
    std::string sql = "SELECT type, unit, data FROM summaries WHERE id = ? AND type IN (";
    for (size_t i = 0; i < types.size(); ++i) sql += i ? ",?" : "?";
    Stmt s(db_, sql + ")");
    for (size_t i = 0; i < types.size(); ++i) s.bind(int(i + 2), types[i]);
    for (auto &id : ids) {
        s.bind(1, id);
        std::map<std::string, StoredSummary> have;
        while (s.step()) {
            auto *blob = static_cast<const char *>(sqlite3_column_blob(s.raw(), 2));
            have[s.text(0)] = StoredSummary{s.text(0), s.text(1),
                                            std::string(blob ? blob : "", size_t(sqlite3_column_bytes(s.raw(), 2)))};
        }
        sqlite3_reset(s.raw());
        for (auto &t : types)
            if (auto it = have.find(t); it != have.end()) {
                out[id] = std::move(it->second);
                break;
            }
    }
    return out;
}

void Index::add(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans) {
    if (profiles.empty() && spans.empty()) return;
    std::lock_guard<std::mutex> g(mu_);
    add_locked(profiles, spans);
}

bool Index::try_add(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans) {
    if (profiles.empty() && spans.empty()) return true;
    std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
    if (!g.owns_lock()) return false;
    add_locked(profiles, spans);
    return true;
}

void Index::add_locked(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans) {
    exec("BEGIN");
    try {
        Stmt ins_p(db_, std::string("INSERT OR REPLACE INTO profiles(") + kProfileCols +
                            ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
        Stmt ins_s(db_, "INSERT OR REPLACE INTO spans(trace_id, span_id, parent_id, service, resource, start_us,"
                        " duration_us, status, error, tags, message) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
        Stmt seen(db_, "INSERT INTO services(service, kind, last_seen_ns, count) VALUES(?,?,?,?)"
                       " ON CONFLICT(service, kind) DO UPDATE SET count = count + excluded.count,"
                       " last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)");
        // One services row update per (service, kind) in the group, not one per point.
        std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> last_seen_and_count;
        auto saw = [&](const std::string &service, const char *kind, int64_t at_ns) {
            auto &[last, count] = last_seen_and_count[{service, kind}];
            if (count == 0 || at_ns > last) last = at_ns;
            ++count;
        };
        // Bound in place (SQLITE_STATIC): the rows outlive each run(), so SQLite copies nothing.
        std::string types, attachments, tags;
        for (auto &r : profiles) {
            ins_p.bind_static(1, r.id).bind_static(2, r.service).bind_static(3, r.env).bind_static(4, r.version);
            ins_p.bind_static(5, r.host).bind_static(6, r.language).bind_static(7, r.format);
            ins_p.bind(8, r.start_ns).bind(9, r.end_ns);
            if (r.types_known) ins_p.bind_static(10, types = join_list(r.types));
            else ins_p.bind_null(10);
            ins_p.bind_static(11, attachments = join_list(r.attachments));
            ins_p.bind_static(12, r.tags_json.empty() ? (tags = tags_json_of(r.tags)) : r.tags_json).bind(13, r.size);
            ins_p.run();
            saw(r.service, "profile", r.end_ns);
        }
        for (auto &r : spans) {
            ins_s.bind_static(1, r.trace_id).bind_static(2, r.span_id).bind_static(3, r.parent_id);
            ins_s.bind_static(4, r.service).bind_static(5, r.resource).bind(6, r.start_us).bind(7, r.duration_us);
            ins_s.bind_static(8, r.status).bind_static(9, r.error);
            ins_s.bind_static(10, r.tags_json.empty() ? (tags = tags_json_of(r.tags)) : r.tags_json);
            ins_s.bind_static(11, r.message);
            ins_s.run();
            saw(r.service, "trace", (r.start_us + r.duration_us) * 1000);
        }
        for (auto &[key, value] : last_seen_and_count)
            seen.bind(1, key.first).bind(2, key.second).bind(3, value.first).bind(4, value.second).run();
        exec("COMMIT");
    } catch (...) {
        try {
            exec("ROLLBACK");
        } catch (...) {}
        throw;
    }
}

std::vector<ProfileRow> Index::profiles(const ProfileQuery &q) {
    std::string sql = std::string("SELECT ") + kProfileCols + " FROM profiles WHERE 1";
    std::vector<std::string> texts;
    std::vector<int64_t> ints;
    std::vector<std::pair<bool, size_t>> order; // (is_text, index) per placeholder
    auto text = [&](const char *clause, const std::string &v) {
        sql += clause;
        texts.push_back(v);
        order.emplace_back(true, texts.size() - 1);
    };
    auto num = [&](const char *clause, int64_t v) {
        sql += clause;
        ints.push_back(v);
        order.emplace_back(false, ints.size() - 1);
    };
    if (!q.service.empty()) text(" AND service = ?", q.service);
    if (!q.env.empty()) text(" AND env = ?", q.env);
    if (!q.version.empty()) text(" AND version = ?", q.version);
    if (!q.host.empty()) text(" AND host = ?", q.host);
    // Rows whose types are not known yet come too; the API decodes and filters them.
    if (!q.type.empty())
        text(" AND (types IS NULL OR EXISTS (SELECT 1 FROM json_each(types) WHERE value = ?))", q.type);
    // A profile belongs to a window when its time range overlaps it.
    if (q.from_ns) num(" AND end_ns >= ?", *q.from_ns);
    if (q.to_ns) num(" AND start_ns <= ?", *q.to_ns);
    for (auto &[k, v] : q.tags) {
        text(" AND json_extract(tags, ?", json_path(k));
        text(") = ?", v);
    }
    sql += q.oldest_first ? " ORDER BY start_ns ASC" : " ORDER BY start_ns DESC";
    num(" LIMIT ?", q.limit);
    std::lock_guard<std::mutex> g(mu_);
    Stmt s(db_, sql);
    for (size_t i = 0; i < order.size(); ++i) {
        if (order[i].first) s.bind(int(i + 1), texts[order[i].second]);
        else s.bind(int(i + 1), ints[order[i].second]);
    }
    std::vector<ProfileRow> out;
    while (s.step()) out.push_back(read_profile(s));
    return out;
}

std::optional<ProfileRow> Index::profile(const std::string &id) {
    std::lock_guard<std::mutex> g(mu_);
    Stmt s(db_, std::string("SELECT ") + kProfileCols + " FROM profiles WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_profile(s);
}

std::vector<TraceSummary> Index::traces(const TraceQuery &q) {
    // One row per trace: its root span (no parent), with the trace's span count and
    // whether any span failed.
    std::string sql = "SELECT r.trace_id, r.service, r.resource, r.start_us, r.duration_us,"
                      " (SELECT COUNT(*) FROM spans c WHERE c.trace_id = r.trace_id),"
                      " (SELECT COUNT(*) FROM spans c WHERE c.trace_id = r.trace_id AND c.status = 'error')"
                      " FROM spans r WHERE r.parent_id IN ('0', '-1', '')";
    std::vector<std::pair<bool, std::string>> binds; // (is_int, value)
    if (!q.service.empty()) {
        sql += " AND r.service = ?";
        binds.emplace_back(false, q.service);
    }
    if (!q.resource.empty()) {
        sql += " AND r.resource = ?";
        binds.emplace_back(false, q.resource);
    }
    if (q.min_duration_us > 0) {
        sql += " AND r.duration_us >= ?";
        binds.emplace_back(true, std::to_string(q.min_duration_us));
    }
    if (q.from_ns) {
        sql += " AND r.start_us + r.duration_us >= ?";
        binds.emplace_back(true, std::to_string(*q.from_ns / 1000));
    }
    if (q.to_ns) {
        sql += " AND r.start_us <= ?";
        binds.emplace_back(true, std::to_string(*q.to_ns / 1000));
    }
    if (q.status == "error")
        sql += " AND EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = r.trace_id AND c.status = 'error')";
    else if (q.status == "ok")
        sql += " AND NOT EXISTS (SELECT 1 FROM spans c WHERE c.trace_id = r.trace_id AND c.status = 'error')";
    sql += " ORDER BY r.start_us DESC LIMIT ?";
    binds.emplace_back(true, std::to_string(q.limit));
    std::lock_guard<std::mutex> g(mu_);
    Stmt s(db_, sql);
    for (size_t i = 0; i < binds.size(); ++i) {
        if (binds[i].first) s.bind(int(i + 1), int64_t(std::stoll(binds[i].second)));
        else s.bind(int(i + 1), binds[i].second);
    }
    std::vector<TraceSummary> out;
    while (s.step()) {
        TraceSummary t;
        t.trace_id = s.text(0);
        t.service = s.text(1);
        t.resource = s.text(2);
        t.start_us = s.i64(3);
        t.duration_us = s.i64(4);
        t.spans = s.i64(5);
        t.status = s.i64(6) > 0 ? "error" : "ok";
        out.push_back(std::move(t));
    }
    return out;
}

std::vector<SpanRow> Index::trace(const std::string &trace_id) {
    std::lock_guard<std::mutex> g(mu_);
    Stmt s(db_, "SELECT trace_id, span_id, parent_id, service, resource, start_us, duration_us, status, error, tags,"
                " message FROM spans WHERE trace_id = ? ORDER BY start_us, rowid");
    s.bind(1, trace_id);
    std::vector<SpanRow> out;
    while (s.step()) {
        SpanRow r;
        r.trace_id = s.text(0);
        r.span_id = s.text(1);
        r.parent_id = s.text(2);
        r.service = s.text(3);
        r.resource = s.text(4);
        r.start_us = s.i64(5);
        r.duration_us = s.i64(6);
        r.status = s.text(7);
        r.error = s.text(8);
        r.tags = tags_from_json(s.text(9));
        r.message = s.text(10);
        out.push_back(std::move(r));
    }
    return out;
}

nlohmann::json Index::services() {
    std::lock_guard<std::mutex> g(mu_);
    std::map<std::string, nlohmann::json> by_name;
    Stmt s(db_, "SELECT service, kind, last_seen_ns, count FROM services ORDER BY service");
    while (s.step()) {
        auto &j = by_name[s.text(0)];
        j["service"] = s.text(0);
        std::string kind = s.text(1);
        j[kind + "s"] = s.i64(3);
        j[kind + "_last_seen_ns"] = s.i64(2);
        j[kind + "_last_seen"] = trib::profiling::format_rfc3339_nano(s.i64(2));
    }
    // The profile types each service has (over the profiles still indexed).
    Stmt t(db_, "SELECT DISTINCT p.service, j.value FROM profiles p, json_each(p.types) j WHERE p.types IS NOT NULL");
    while (t.step()) {
        auto it = by_name.find(t.text(0));
        if (it != by_name.end()) it->second["types"].push_back(t.text(1));
    }
    nlohmann::json out = nlohmann::json::array();
    for (auto &[name, j] : by_name) {
        if (!j.contains("types")) j["types"] = nlohmann::json::array();
        std::sort(j["types"].begin(), j["types"].end());
        out.push_back(j);
    }
    return out;
}

std::vector<ProfileRow> Index::untyped(int64_t limit, bool newest_per_service) {
    std::lock_guard<std::mutex> g(mu_);
    // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
    std::string sql = newest_per_service
                          ? std::string("SELECT ") + kProfileCols +
                                ", MAX(start_ns) FROM profiles WHERE types IS NULL GROUP BY service LIMIT ?"
                          : std::string("SELECT ") + kProfileCols +
                                " FROM profiles WHERE types IS NULL ORDER BY start_ns DESC LIMIT ?";
    Stmt s(db_, sql);
    s.bind(1, limit);
    std::vector<ProfileRow> out;
    while (s.step()) out.push_back(read_profile(s));
    return out;
}

void Index::set_types(const std::string &id, const std::vector<std::string> &types) {
    std::lock_guard<std::mutex> g(mu_);
    Stmt s(db_, "UPDATE profiles SET types = ? WHERE id = ?");
    s.bind(1, join_list(types)).bind(2, id).run();
}

void Index::remove_profiles(const std::vector<std::string> &ids) {
    Stmt del(db_, "DELETE FROM profiles WHERE id = ?");
    Stmt del_summaries(db_, "DELETE FROM summaries WHERE id = ?");
    for (auto &id : ids) {
        del.bind(1, id).run();
        del_summaries.bind(1, id).run();
        std::error_code ec;
        fs::remove_all(fs::path(store_dir_) / sanitize_component(id), ec);
        if (ec) log_(true, "retention: cannot remove " + id + " from the store: " + ec.message());
    }
}

RetentionResult Index::retain(int64_t now, int64_t max_age_ns, int64_t max_bytes, int64_t max_spans) {
    RetentionResult res;
    std::lock_guard<std::mutex> g(mu_);
    std::vector<std::string> expired;
    {
        Stmt s(db_, "SELECT id FROM profiles WHERE end_ns < ?");
        s.bind(1, now - max_age_ns);
        while (s.step()) expired.push_back(s.text(0));
    }
    {
        Stmt total(db_, "SELECT COALESCE(SUM(size), 0) FROM profiles WHERE end_ns >= ?");
        total.bind(1, now - max_age_ns);
        int64_t bytes = total.step() ? total.i64(0) : 0;
        if (bytes > max_bytes) {
            Stmt oldest(db_, "SELECT id, size FROM profiles WHERE end_ns >= ? ORDER BY start_ns ASC");
            oldest.bind(1, now - max_age_ns);
            while (bytes > max_bytes && oldest.step()) {
                expired.push_back(oldest.text(0));
                bytes -= oldest.i64(1);
            }
        }
    }
    exec("BEGIN");
    try {
        remove_profiles(expired);
        Stmt old_spans(db_, "DELETE FROM spans WHERE start_us < ?");
        old_spans.bind(1, (now - max_age_ns) / 1000).run();
        res.spans_removed = sqlite3_changes(db_);
        Stmt count(db_, "SELECT COUNT(*) FROM spans");
        int64_t n = count.step() ? count.i64(0) : 0;
        if (n > max_spans) {
            Stmt trim(db_, "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans ORDER BY start_us ASC LIMIT ?)");
            trim.bind(1, n - max_spans).run();
            res.spans_removed += sqlite3_changes(db_);
        }
        exec("COMMIT");
    } catch (...) {
        try {
            exec("ROLLBACK");
        } catch (...) {}
        throw;
    }
    res.profiles_removed = int64_t(expired.size());
    return res;
}

int64_t Index::rebuild_from_store() {
    std::error_code ec;
    if (!fs::is_directory(store_dir_, ec)) return 0;
    std::vector<ProfileRow> rows;
    for (auto &dir : fs::directory_iterator(store_dir_, ec)) {
        fs::path event = dir.path() / "event.json";
        if (!fs::is_regular_file(event, ec)) continue;
        auto ev = nlohmann::json::parse(read_whole(event), nullptr, false);
        if (!ev.is_object()) {
            log_(true, "rebuild: " + event.string() + " is not JSON; skipped");
            continue;
        }
        ProfileRow r;
        r.id = dir.path().filename().string();
        // tags_profiler is "k:v,k:v" (DataKit's event and dd-trace's own).
        std::string tp = ev.value("tags_profiler", std::string());
        std::stringstream ss(tp);
        for (std::string item; std::getline(ss, item, ',');) {
            auto colon = item.find(':');
            if (colon != std::string::npos && colon > 0) r.tags[item.substr(0, colon)] = item.substr(colon + 1);
        }
        set_well_known_tags(r);
        r.language = ev.value("language", tag_of(r.tags, "language"));
        r.format = ev.value("format", std::string());
        try {
            if (ev.contains("start") && ev["start"].is_string())
                r.start_ns = trib::profiling::parse_rfc3339_ns(ev["start"].get<std::string>());
            if (ev.contains("end") && ev["end"].is_string())
                r.end_ns = trib::profiling::parse_rfc3339_ns(ev["end"].get<std::string>());
        } catch (const trib::profiling::DecodeError &) {}
        if (!r.start_ns) {
            auto mtime = fs::last_write_time(event, ec);
            r.start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                             .count();
        }
        if (!r.end_ns) r.end_ns = r.start_ns;
        for (auto &f : fs::directory_iterator(dir.path(), ec)) {
            if (!f.is_regular_file(ec)) continue;
            r.attachments.push_back(f.path().filename().string());
            r.size += int64_t(f.file_size(ec));
        }
        std::sort(r.attachments.begin(), r.attachments.end());
        if (types_) r.types = types_(r);
        else r.types_known = false;
        rows.push_back(std::move(r));
        if (rows.size() >= 500) {
            add(rows, {});
            rebuilt_ = std::max<int64_t>(rebuilt_, 0) + int64_t(rows.size());
            rows.clear();
        }
    }
    int64_t n = std::max<int64_t>(rebuilt_, 0) + int64_t(rows.size());
    add(rows, {});
    return n;
}

} // namespace trib::viewer
