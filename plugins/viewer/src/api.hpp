// The viewer's HTTP API (/api/v1/...). Every handler validates all its parameters and
// answers 400 with the reason (unknown parameters included), 404 for unknown ids.
#pragma once

#include "config.hpp"
#include "flame.hpp"
#include "index.hpp"

#include <tributary/plugin.hpp>

#include <atomic>
#include <functional>
#include <optional>

namespace trib::viewer {

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
    // The path forms (prefix routes): /api/v1/profiles/<id>[/<attachment>] and
    // /api/v1/traces/<trace_id>, answered like profile?id=&attachment= and trace?id=.
    trib::HttpResponse profile_by_path(const trib::HttpRequest &r);
    trib::HttpResponse trace_by_path(const trib::HttpRequest &r);

    // Decodes one upload from the store into its summary (see summarize_upload); nullopt
    // while a file is missing: the file sink may not have written it yet. The module's
    // summarizer thread calls it, then stores a group of them with store_summaries.
    std::optional<UploadSummary> summarize(const ProfileRow &row);
    void store_summaries(const std::vector<std::pair<std::string, const UploadSummary *>> &batch);
    // Uploads summarized so far, by the summarizer or by queries.
    int64_t summarized() const { return summarized_.load(); }

    // Adds the uploads of `rows` to `tree` in `slot`: their stored summaries, summarizing
    // (and storing) the ones that have none yet; with a span or endpoint filter the files
    // are decoded instead. Returns how many attachment files were missing from the store.
    int64_t merge_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot);

  private:
    void fill_types(std::vector<ProfileRow> &rows);
    // The upload's files from the store (sample files and labels); `missing` counts absent ones.
    std::vector<ProfileFile> files_of(const ProfileRow &row, int64_t &missing);
    int64_t decode_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot);
    trib::HttpResponse profile_answer(const std::string &id, const std::string &attachment);
    trib::HttpResponse trace_answer(const std::string &id);

    Index &index_;
    ViewerConfig cfg_;
    std::function<int64_t()> clock_;
    std::atomic<int64_t> summarized_{0};
};

// The JSON form of an index row.
nlohmann::json profile_json(const ProfileRow &r);

} // namespace trib::viewer
