// The viewer's HTTP API (/api/v1/...). Every handler validates all its parameters and
// answers 400 with the reason (unknown parameters included), 404 for unknown ids.
#pragma once

#include "config.hpp"
#include "flame.hpp"
#include "index.hpp"

#include <tributary/plugin.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace trib::viewer {

// Each upload's decoded flame tree per type: a flame graph asked again (or over an
// overlapping window) decodes only what it has not seen. When full, only entries unused
// for a minute make room, so one query larger than the budget does not flush it all.
class TreeCache {
  public:
    explicit TreeCache(size_t budget_bytes) : budget_(budget_bytes) {}
    std::shared_ptr<const FlameTree> get(const std::string &key);
    void put(const std::string &key, std::shared_ptr<const FlameTree> tree);

  private:
    struct Entry {
        std::string key;
        std::shared_ptr<const FlameTree> tree;
        std::chrono::steady_clock::time_point used;
    };
    std::mutex mu_;
    std::list<Entry> lru_; // front = most recent
    std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
    size_t bytes_ = 0, budget_;
};

class Api {
  public:
    Api(Index &index, const ViewerConfig &cfg, std::function<int64_t()> clock);

    trib::HttpResponse services(const trib::HttpRequest &r);
    trib::HttpResponse profiles(const trib::HttpRequest &r);
    // ?id=<profile_id> → the row; &attachment=<name> → the raw file as stored.
    trib::HttpResponse profile(const trib::HttpRequest &r);
    trib::HttpResponse flamegraph(const trib::HttpRequest &r);
    trib::HttpResponse traces(const trib::HttpRequest &r);
    // ?id=<trace_id> → the span tree, times relative to the trace's first span.
    trib::HttpResponse trace(const trib::HttpRequest &r);

    // Decodes the files of up to `limit` profiles whose types are unknown (newest first) and
    // records their types; returns how many. The module's timer calls it.
    size_t fill_types(int64_t limit);

    // Adds the uploads of `rows` to `tree` in `slot`, decoding them on a few threads.
    // Returns how many attachment files were missing from the store.
    int64_t merge_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot);

  private:
    void fill_types(std::vector<ProfileRow> &rows);

    Index &index_;
    ViewerConfig cfg_;
    std::function<int64_t()> clock_;
    TreeCache cache_;
};

// The sample types of a profile, read from its files in the store; nullopt while a file is
// missing (the file sink may not have written it yet).
std::optional<std::vector<std::string>> types_in_store(const std::string &store_dir, const ProfileRow &row);

// The JSON form of an index row.
nlohmann::json profile_json(const ProfileRow &r);

} // namespace trib::viewer
