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

// The metric values alone (name → value), in a stable order. Throws DecodeError when a
// profile the metrics need cannot be decoded.
std::vector<std::pair<std::string, double>> compute_profile_metrics(const ProfileUpload &upload);

// The point: tags language, host, service, env, version (those present), time = end.
// nullopt for an unsupported language or when nothing could be derived. Throws
// DecodeError like compute_profile_metrics.
std::optional<trib::Point> generate_profile_metrics(const ProfileUpload &upload);

} // namespace trib::profiling
