// generate_metrics: one `profiling_metrics` point (category metric) per upload, derived
// from the uploaded profiles (spec section 2). Units: durations in ns, sizes in bytes,
// rates per second, cpu_cores in cores, fractions in [0,1].
//
//   golang  prof_go_*     metrics.json (go_X → prof_go_X) plus cpu/heap/mutex/block/
//                         goroutine pprofs. Unlike DataKit: num_goroutine comes from the
//                         `goroutine` sample type, cpu_cores_gc_overhead is the fraction
//                         dd-trace-go reports as go_gc_pause_time (not divided again).
//   python  prof_python_* the `auto`/`main`/`prof`/*.pprof part.
//   nodejs  prof_nodejs_* wall.pprof: cpu_cores (Σcpu ÷ D), wall_time (Σwall);
//                         space.pprof: lifetime_heap_bytes (Σinuse_space),
//                         lifetime_heap_objects (Σinuse_objects).
//   java    prof_jvm_*    the JFR part through decode_jfr / jvm_metrics (when built).
#pragma once

#include <tributary/plugin.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace trib::profiling {

// How the pprofs are read: one pass over the bytes (pprof_reader.hpp; a file's `pprof`
// summary is used when the receiver made one), or libprotobuf's full parse (the
// reference for tests and benchmarks).
enum class PprofDecoder { one_pass, libprotobuf };

// The metric values alone (name → value), in a stable order. Throws DecodeError when a
// profile the metrics need cannot be decoded.
std::vector<std::pair<std::string, double>> compute_profile_metrics(const ProfileUpload &upload,
                                                                    PprofDecoder decoder = PprofDecoder::one_pass);

// The point: tags language, host, service, env, version (those present), time = end.
// nullopt for an unsupported language or when nothing could be derived. Throws
// DecodeError like compute_profile_metrics.
std::optional<trib::Point> generate_profile_metrics(const ProfileUpload &upload);

// generate_metrics in two steps, so that the decode runs off the HTTP worker
// (metrics_pool.hpp). prepare_metrics runs on the receiving thread: it inflates every file
// the metrics will read, within upload.inflate, and holds the bytes in the host budget, so
// a decompression bomb is still answered 413 (TooLargeError) and a spent budget 429
// (MemoryRefused) as with synchronous metrics. point() decodes and builds the point later,
// on any thread (DecodeError for a profile it cannot read).
struct MetricsWork {
    ProfileUpload upload; // the files the metrics read, uncompressed
    std::vector<trib::MemoryReservation> held;
    std::optional<trib::Point> point() const { return generate_profile_metrics(upload); }
};
MetricsWork prepare_metrics(ProfileUpload upload);

} // namespace trib::profiling
