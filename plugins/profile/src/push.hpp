// The push endpoint: one ddtrace upload → one `profile` point (+ `profiling_metrics`).
#pragma once

#include "config.hpp"

#include <tributary/plugin.hpp>
#include <tributary/profiling/metrics_pool.hpp>

namespace trib::profile {

class PushHandler {
  public:
    // metrics_pool: where generate_metrics runs after the answer; null runs it before
    // (metrics_sync = true).
    PushHandler(trib::Host &host, const ProfileConfig &cfg, profiling::MetricsPool *metrics_pool)
        : host_(host), cfg_(cfg), metrics_pool_(metrics_pool) {}
    trib::HttpResponse handle(const trib::HttpRequest &req);

  private:
    trib::Host &host_;
    const ProfileConfig &cfg_;
    profiling::MetricsPool *metrics_pool_;
};

// Emits points and maps the host's answer onto HTTP with trib::refusal_response: OK 200,
// BACKPRESSURE 429 and RETRY 503 (both with Retry-After), INVALID_ARGUMENT (larger than
// the bus ceiling) 413, other permanent refusals 400.
trib::HttpResponse emit_as_http(trib::Host &host, const std::vector<trib::Point> &points);

} // namespace trib::profile
