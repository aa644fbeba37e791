// The viewer's index: profile and span points in SQLite under the instance data dir
// (index.db; spans in spans.db beside it). Profile bytes stay in the attachment store (<store>/<profile_id>/<name>); the index
// keeps their names. Thread-safe (one connection behind a mutex).
#pragma once

#include "flame.hpp"

#include <tributary/plugin.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace trib::viewer {

struct ProfileRow {
    std::string id, service, env, version, host, language, format;
    int64_t start_ns = 0, end_ns = 0;
    std::vector<std::string> types;       // sample type names present, e.g. wall, cpu, alloc_space
    bool types_known = true;              // false until the files were decoded (not at ingest)
    std::vector<std::string> attachments; // names in the store
    std::map<std::string, std::string> tags;
    // The tags as the JSON object stored: rows built from points carry this instead of
    // `tags` (a map of a point's twenty tags cost more than the rest of its indexing).
    std::string tags_json;
    int64_t size = 0; // bytes of the files in the store
};

struct SpanRow {
    std::string trace_id, span_id, parent_id, service, resource, status, error;
    int64_t start_us = 0, duration_us = 0;
    std::map<std::string, std::string> tags;
    std::string tags_json; // as in ProfileRow
    std::string message;   // annotations etc. as the input recorded them (may be empty)
};

struct ProfileQuery {
    std::string service, env, type, version, host;
    std::optional<int64_t> from_ns, to_ns;
    std::vector<std::pair<std::string, std::string>> tags;
    int64_t limit = 100;
    bool oldest_first = false;
};

struct TraceQuery {
    std::string service, resource, status;
    int64_t min_duration_us = 0;
    std::optional<int64_t> from_ns, to_ns;
    int64_t limit = 100;
};

struct TraceSummary {
    std::string trace_id, service, resource, status;
    int64_t start_us = 0, duration_us = 0, spans = 0;
};

struct RetentionResult {
    int64_t profiles_removed = 0, spans_removed = 0;
};

// Where a profile's attachment lives in the store: the file sink's layout, each path
// component with '/', '\\' and control characters replaced (as the file sink writes them).
std::string store_path(const std::string &store_dir, const std::string &profile_id, const std::string &name);

// Row from a `profile` point (measurement profile, field profile_id); nullopt otherwise.
// Its types are unknown: decoding at ingest would cost the ingest path as much as
// generate_metrics does, so they are filled later (fill timer, or the query needing them).
std::optional<ProfileRow> profile_row(const trib_point &p);
// Row from a span point (category tracing with trace_id and span_id fields); nullopt otherwise.
std::optional<SpanRow> span_row(const trib_point &p);

class Index {
  public:
    using Logger = std::function<void(bool warning, const std::string &)>;
    // Computes the types of a profile from the files in the store (used when rebuilding).
    using TypesFromStore = std::function<std::vector<std::string>(const ProfileRow &)>;

    // Opens (or creates) db_path. A file SQLite cannot read or whose quick_check fails is
    // moved aside (<db>.corrupt-<ns>) and the profiles are re-indexed from the store, as
    // they are when the index is new.
    Index(std::string db_path, std::string store_dir, Logger log, TypesFromStore types);
    ~Index();
    Index(const Index &) = delete;
    Index &operator=(const Index &) = delete;

    const std::string &store_dir() const { return store_dir_; }
    // How many profiles the last rebuild indexed (-1: the index was opened as it was).
    int64_t rebuilt_profiles() const { return rebuilt_; }

    // One transaction. Throws std::runtime_error when SQLite fails.
    void add(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans);
    // add() unless the index is busy (a query, the summarizer's commit): false, nothing
    // written. The host's timer thread, which every module shares, never waits on the index.
    bool try_add(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans);

    std::vector<ProfileRow> profiles(const ProfileQuery &q);
    std::optional<ProfileRow> profile(const std::string &id);
    std::vector<TraceSummary> traces(const TraceQuery &q);
    std::vector<SpanRow> trace(const std::string &trace_id);
    nlohmann::json services();
    // Profiles whose types are not known yet: newest first, or the newest of each service.
    std::vector<ProfileRow> untyped(int64_t limit, bool newest_per_service);
    void set_types(const std::string &id, const std::vector<std::string> &types);

    // Every stack the stored summaries name (loaded at open, grown by summarize_upload).
    StackDictionary &stacks() { return stacks_; }
    // Stores an upload's summary and its types (one transaction, with the stacks it added).
    void store_summary(const std::string &id, const UploadSummary &summary);
    // Several in one transaction (the summarizer's group: one commit per upload cost more than
    // the ingest path's own work per upload).
    void store_summaries(const std::vector<std::pair<std::string, const UploadSummary *>> &batch);
    struct StoredSummary {
        std::string type, unit, data;
    };
    // For each id that has one: the summary of the first of `types` it has.
    std::map<std::string, StoredSummary> summaries(const std::vector<std::string> &ids,
                                                   const std::vector<std::string> &types);
    // SQLite's page cache (summaries read by flame graphs come from it when warm).
    void set_cache_mb(int64_t mb);

    // Removes index rows and the profiles' files in the store: older than max_age_ns,
    // then the oldest profiles while their bytes exceed max_bytes, then the oldest spans
    // beyond max_spans.
    RetentionResult retain(int64_t now_ns, int64_t max_age_ns, int64_t max_bytes, int64_t max_spans);

  private:
    bool try_open(std::string &why);
    void create_schema();
    int64_t rebuild_from_store();
    void exec(const char *sql);
    void add_locked(const std::vector<ProfileRow> &profiles, const std::vector<SpanRow> &spans);
    void remove_profiles(const std::vector<std::string> &ids);
    void load_stacks();
    void attach_spans();

    std::string db_path_, store_dir_;
    Logger log_;
    TypesFromStore types_;
    sqlite3 *db_ = nullptr;
    std::mutex mu_;
    int64_t rebuilt_ = -1;
    StackDictionary stacks_;
};

} // namespace trib::viewer
