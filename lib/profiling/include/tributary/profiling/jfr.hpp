// JDK Flight Recorder (JFR 2.x, JDK 11-21 and async-profiler) decoding into pprof.
//
// decode_jfr reads every chunk (header, metadata, constant pools, events) and turns
//   jdk.ExecutionSample                                    → cpu   (samples/count, cpu/nanoseconds)
//   jdk.ObjectAllocationSample, or when a chunk has none,
//   jdk.ObjectAllocationInNewTLAB / OutsideTLAB            → alloc (alloc_samples/count, alloc_space/bytes)
//   jdk.JavaMonitorEnter, jdk.ThreadPark                   → lock  (contentions/count, delay/nanoseconds)
// with function names "package.Class.method" taken from the constant pools. Malformed
// input throws DecodeError; every count and size read from the file is bounded by the
// bytes left in it, so memory stays proportional to the input.
#pragma once

#include <tributary/profiling/compression.hpp>

#include <pprof.pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trib::profiling {

// Pyroscope's LabelsSnapshot (multipart part `labels` of a JFR upload, usually gzip'd):
// context id → labels. An execution/allocation/lock event's `contextId` selects one.
class LabelsSnapshotView {
  public:
    // Throws DecodeError when the bytes are not a (possibly compressed) LabelsSnapshot.
    static LabelsSnapshotView parse(std::string_view maybe_compressed, const InflateLimit &limit = InflateLimit{});

    // nullptr when the id is unknown (or 0, "no context").
    const std::vector<std::pair<std::string, std::string>> *context(int64_t id) const;
    size_t size() const { return contexts_.size(); }

  private:
    std::unordered_map<int64_t, std::vector<std::pair<std::string, std::string>>> contexts_;
};

// Aggregates over the events the JDK records; the *_seen flags say which events existed,
// so jvm_metrics reports only what the recording can support.
struct JfrStats {
    std::map<std::string, int64_t>
        event_counts; // every event type name → count (incl. jdk.CheckPoint/Metadata excluded)
    int64_t chunks = 0;

    int64_t execution_samples = 0;
    int64_t cpu_interval_ns = 0; // from jdk.ActiveSetting (period of jdk.ExecutionSample); 0 = unknown

    int64_t alloc_events = 0;
    int64_t alloc_bytes = 0;

    int64_t monitor_enter_count = 0, monitor_enter_max_ns = 0, monitor_enter_total_ns = 0;
    int64_t park_count = 0, park_total_ns = 0;

    bool class_loading_seen = false;
    int64_t classes_loaded_first = 0, classes_loaded_last = 0;

    bool compilation_seen = false;
    int64_t compilation_total_ns = 0;

    int64_t context_switch_events = 0;
    double context_switch_rate_sum = 0;

    bool exception_stats_seen = false;
    int64_t throwables_first = 0, throwables_last = 0;

    int64_t file_read_count = 0, file_read_max_ns = 0, file_read_total_ns = 0, file_read_max_bytes = 0,
            file_read_bytes = 0;
    int64_t file_write_count = 0, file_write_max_ns = 0, file_write_total_ns = 0, file_write_max_bytes = 0,
            file_write_bytes = 0;
    int64_t socket_read_count = 0, socket_read_max_ns = 0, socket_read_total_ns = 0, socket_read_max_bytes = 0,
            socket_read_bytes = 0;
    int64_t socket_write_count = 0, socket_write_max_ns = 0, socket_write_total_ns = 0, socket_write_max_bytes = 0,
            socket_write_bytes = 0;

    int64_t gc_count = 0, gc_total_ns = 0;
    int64_t gc_pause_count = 0, gc_pause_total_ns = 0, gc_pause_max_ns = 0;

    bool heap_summary_seen = false;
    int64_t heap_used_last = 0;

    int64_t thread_starts = 0;
    int64_t jvm_start_ns = 0; // jdk.JVMInformation.jvmStartTime; 0 = unknown
};

struct JfrProfiles {
    perftools::profiles::Profile cpu, alloc, lock;
    int64_t start_ns = 0, end_ns = 0; // over all chunks
    JfrStats stats;
    bool has_cpu = false, has_alloc = false, has_lock = false;
};

// Decodes a recording: raw, or gzip/zstd/LZ4-compressed (decompressed output is capped by
// `limit`, accounted in its budget). Throws DecodeError on anything malformed,
// TooLargeError past the limit.
JfrProfiles decode_jfr(std::string_view raw_or_compressed, const LabelsSnapshotView *labels = nullptr,
                       const InflateLimit &limit = InflateLimit{});

// The prof_jvm_* metrics of spec §2 that the recorded JDK events support, for an upload of
// duration_s seconds (durations ns, sizes bytes, rates per second).
std::vector<std::pair<std::string, double>> jvm_metrics(const JfrProfiles &profiles, double duration_s);

} // namespace trib::profiling
