// Per-trace filters, in DataKit's order (shared/spec/pinpoint.md §5.7) but applied to one
// trace at a time rather than to whatever one second's batch held:
//  1. close_resource: a point whose service (or "*") has a regex matching its resource
//     drops the whole trace;
//  2. a trace with an error is kept;
//  3. keep_rare_resource: a root (service, resource, source_type) unseen for an hour is kept;
//  4. sampler: kept iff a hash of the trace id falls under the rate (the same trace id
//     gives the same answer on every host); kept traces carry `dk_sampling_rate`.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config.hpp"
#include "trace_builder.hpp"

namespace trib::pinpoint {

enum class FilterVerdict { keep, closed_resource, sampled_out };

class TraceFilter {
  public:
    explicit TraceFilter(const Config &c) : cfg_(c) {}
    FilterVerdict apply(BuiltTrace &trace, const std::string &trace_id, int64_t now_ms);

    // Whether the sampler keeps this trace id at `rate`.
    static bool sampled(const std::string &trace_id, double rate);

  private:
    bool rare(const std::string &key, int64_t now_ms);
    const Config &cfg_;
    std::mutex mu_;
    std::unordered_map<std::string, int64_t> last_seen_;
};

} // namespace trib::pinpoint
