// What a `profile` point becomes for Pyroscope: series labels, profile type names and the
// push request. Facts: shared/spec/forwarding_and_security.md §1 (labels §1.3, names §1.4).
#pragma once

#include <tributary/plugin.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::pyroscope_sink {

using Labels = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxLabels = 30;            // max_label_names_per_series
constexpr size_t kMaxLabelValueBytes = 2048; // max_label_value_length

// Pyroscope's legacy label-name form: letters, digits, `_`; a leading digit gets `_`.
std::string sanitize_label_name(std::string_view name);

// The series labels for one profile of a point: __name__, service_name (from the point's
// service_name or service tag), __delta__="false" (agents send deltas already), then the
// point's tags (env, version, host first, the rest by name) sanitised; `__`-prefixed tags
// are left out; at most kMaxLabels in all, sorted by name. `dropped` counts tags left out
// by the limit.
Labels series_labels(const std::vector<std::pair<std::string, std::string>> &tags, const std::string &profile_name,
                     size_t *dropped = nullptr);

// Pyroscope's name for a profile from the part's name as dd-trace and DataKit write them
// (cpu → process_cpu, wall, heap/space/allocs → memory, mutex, block, goroutine(s) →
// goroutine); nullopt when the name does not tell.
std::optional<std::string> profile_type_from_part(std::string_view part_name);
// profile_type_from_part, else from the sample types as Pyroscope's /ingest does, else the
// part's stem. (A point's __name__ tag, from Pyroscope agents, wins over both.)
std::string profile_type_name(std::string_view part_name, const std::vector<std::string> &sample_types);

// Parts of a pprof point that are profiles (not event.json, the JFR labels part, or a
// Go baseline prev_*).
bool is_profile_part(std::string_view name);

// One pprof for the push request.
struct SeriesProfile {
    Labels labels;
    std::string gzip_pprof;
};
// The serialized push.v1.PushRequest, one RawProfileSeries per profile.
std::string encode_push_request(const std::vector<SeriesProfile> &series);

// `app{k=v,...}` for /ingest's name parameter: the app name keeps [A-Za-z0-9_.-/], label
// names [A-Za-z0-9_.], values lose `,` `}` `{` `=`.
std::string ingest_name(const std::string &service, const Labels &labels);

} // namespace trib::pyroscope_sink
