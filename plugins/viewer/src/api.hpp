// The viewer's HTTP API (/api/v1/...). Every handler validates all its parameters and
// answers 400 with the reason (unknown parameters included), 404 for unknown ids.
#pragma once

#include "config.hpp"
#include "flame.hpp"
#include "index.hpp"

#include <tributary/plugin.hpp>

#include <functional>

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

    // Adds the uploads of `rows` to `tree` in `slot`, decoding them on a few threads.
    // Returns how many attachment files were missing from the store.
    int64_t merge_into(FlameTree &tree, const std::vector<ProfileRow> &rows, int slot);

  private:
    Index &index_;
    ViewerConfig cfg_;
    std::function<int64_t()> clock_;
};

// The JSON form of an index row.
nlohmann::json profile_json(const ProfileRow &r);

} // namespace trib::viewer
