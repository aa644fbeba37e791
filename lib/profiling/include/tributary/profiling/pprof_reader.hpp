// One pass over a pprof's protobuf bytes for what generate_metrics and the Pyroscope ingest
// read: the sample types, the per-type sums of Profile.sample values, the string table
// entries they name, time/duration and the samples' string labels. Nothing else is built:
// mappings, locations, functions and location ids are walked only to check their wire
// format, so what libprotobuf would reject is rejected here too (DecodeError), without a
// message, a string or an allocation per element; or, with check_unread = false, skipped.
//
// Field numbers are those of proto/pprof.proto (perftools.profiles.Profile).
#pragma once

#include <tributary/profiling/compression.hpp>

#include <pprof.pb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::profiling {

struct PprofSampleType {
    std::string type, unit; // string-table text ("" for an index out of range)
    int64_t sum = 0;        // Σ value[i] over every sample that has one (wrapping like int64 addition)
    bool operator==(const PprofSampleType &) const = default;
};

struct PprofSummary {
    std::vector<PprofSampleType> sample_types; // in the profile's order
    int64_t time_nanos = 0, duration_nanos = 0;
    // Sample string labels (Label.str set): the first value of each key, keys in the order
    // of their first such label. Only read when PprofReadOptions::max_label_keys > 0.
    std::vector<std::pair<std::string, std::string>> labels;

    // Index of the first sample type named `type`, -1 if absent.
    int find(std::string_view type) const;
    bool operator==(const PprofSummary &) const = default;
};

struct PprofReadOptions {
    // Collect at most this many label keys (0: labels are not read).
    size_t max_label_keys = 0;
    // true: every field is checked as libprotobuf would (a bad profile is a DecodeError).
    // false: what the summary does not use (mappings, locations, functions, location ids,
    // comments, labels when none are read, the strings' UTF-8) is skipped by its length only,
    // about twice as fast. For reads whose failure cannot change an answer (the metrics of
    // an upload already accepted); a valid profile gives the same summary either way.
    bool check_unread = true;
};

// Reads an uncompressed pprof. Throws DecodeError on bytes libprotobuf would not parse as
// a Profile (bad varint, length past the end, wrong group nesting, invalid UTF-8 in the
// string table, ...); with check_unread = false, only on those in what it reads.
PprofSummary read_pprof(std::string_view raw, const PprofReadOptions &options = {});

// Inflates when compressed (gzip/zstd/LZ4, within limit; uncompressed bytes are read in
// place) and reads it. Throws DecodeError, TooLargeError, MemoryRefused.
PprofSummary summarize_pprof(std::string_view maybe_compressed, const InflateLimit &limit,
                             const PprofReadOptions &options = {});

// The same summary from a message libprotobuf parsed: the reference read_pprof is tested
// and benchmarked against.
PprofSummary summarize_profile(const perftools::profiles::Profile &p, const PprofReadOptions &options = {});

} // namespace trib::profiling
