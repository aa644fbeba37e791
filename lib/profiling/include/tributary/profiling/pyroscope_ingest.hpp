// Pyroscope ingestion, shared by [[inputs.pyroscope]] and [[inputs.profile.pyroscope]]:
//   POST /ingest                       every Pyroscope agent's HTTP upload (pprof, JFR, folded)
//   POST /push.v1.PusherService/Push   the Connect unary push API (pyroscope-io ≥ 1.0, rs ≥ 1.0, Alloy)
// Each upload (each push series) becomes one `profile` point (build_profile_point) with
// profiler=pyroscope, plus a `profiling_metrics` point when generate_metrics is on.
// Answers: 200 (empty body) once emit accepted the points; 400 bad name/body; 413 by the
// host's route limit; 415 unsupported format; 429 + Retry-After on backpressure.
#pragma once

#include <tributary/plugin.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/profile_point.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trib::profiling {

class MetricsPool;

struct PyroscopeOptions {
    // [inputs.pyroscope.tags]: override what the agent sent.
    std::map<std::string, std::string> tags;
    // [[inputs.profile.pyroscope]] service/env/version: used when the agent sent none.
    std::string service, env, version;
    bool generate_metrics = true;
    // Where the metrics run (the instance's, metrics_sync = false); null: on the request
    // thread, in the same emit as the profile point (metrics_sync = true).
    MetricsPool *metrics_pool = nullptr;
    // body_size_limit_mb: also the bound for an inflated body, each inflated profile and
    // the pprof built from folded text (413 beyond).
    uint64_t body_limit_bytes = 32u << 20;
};

// `app{k=v,...}` → app + labels in order. The app name and label keys take letters,
// digits, `_`, `.`, `-` (so `__session_id__` and OpenTelemetry's dotted keys pass); the app
// name also `/` and `:`. Values are anything but `,` and `}`. Throws DecodeError.
struct AppName {
    std::string app;
    std::vector<std::pair<std::string, std::string>> labels;
};
AppName parse_app_name(std::string_view name);

// Pyroscope's `from`/`until`: seconds, ms, µs or ns since the epoch, told apart by
// magnitude. Throws DecodeError when the text is not a non-negative integer or does not
// fit int64 nanoseconds.
int64_t pyroscope_time_to_ns(std::string_view text);

// Folded stacks ("a;b;c 12" per line, root first; `lines` format: one sample per line with
// no count) → a serialized pprof profile (equal stacks summed). `units` picks the sample
// type (samples → cpu, objects, bytes, lock_samples, lock_nanoseconds, ...), `sample_rate`
// the period of cpu samples. Streaming: the pprof is written directly, working memory is
// a few words per unique stack and frame (views into `text`), accounted in `memory`.
// Throws DecodeError naming the bad line, TooLargeError when the pprof would exceed
// max_output bytes, MemoryRefused when the budget refuses.
std::string folded_to_pprof(std::string_view text, bool lines_format, std::string_view units, int64_t sample_rate,
                            int64_t start_ns, int64_t end_ns, size_t max_output,
                            trib::MemoryReservation *memory = nullptr);

// pyroscope-go's sample_type_config JSON → the attachment name DataKit uses (cpu.pprof,
// delta-heap.pprof, delta-mutex.pprof, delta-block.pprof, goroutines.pprof). Throws
// DecodeError when the JSON is malformed.
std::string go_profile_file_name(std::string_view sample_type_config_json);

class PyroscopeIngest {
  public:
    PyroscopeIngest(trib::Host &host, PyroscopeOptions opts);

    trib::HttpResponse handle_ingest(const trib::HttpRequest &req);
    trib::HttpResponse handle_push(const trib::HttpRequest &req);

    static constexpr const char *kPushPath = "/push.v1.PusherService/Push";

  private:
    // Emits the upload (and its metrics); turns the status into the HTTP answer.
    trib::HttpResponse emit_upload(ProfileUpload &upload, bool connect);
    // generate_metrics for an upload: the point appended to `points` (synchronous), or the
    // work for the pool to do once the profile point is emitted. Errors are logged.
    std::optional<MetricsWork> add_metrics(const ProfileUpload &upload, std::vector<trib::Point> &points,
                                           bool push) const;
    // handle_push after the content type is known; throws what handle_push maps.
    trib::HttpResponse push(const trib::HttpRequest &req, bool json);
    void finish_tags(ProfileUpload &upload) const;
    // body_size_limit_mb for every inflate, accounted in the host's in-flight budget.
    InflateLimit limit() const { return InflateLimit{opts_.body_limit_bytes, &host_}; }

    trib::Host &host_;
    PyroscopeOptions opts_;
};

} // namespace trib::profiling
