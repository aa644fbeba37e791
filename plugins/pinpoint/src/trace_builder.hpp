// Converts an assembled trace into DataKit tracing points (measurement `pinpointV2`) by
// Pinpoint's encoding rules (shared/spec/pinpoint.md §4):
//  - an event starts at the previous event's start plus its startElapsed (the first one
//    relative to the span's startTime, or to the chunk's keyTime) and lasts endElapsed;
//  - depth 0 means "as the previous event"; an event's parent is the closest earlier event
//    one level up, depth 1 hangs under its span;
//  - chunks join their span by (transaction id, span id); an async chunk's events hang
//    under the event whose asyncEvent equals the chunk's localAsyncId.asyncId;
//  - a span is the child of the event whose nextSpanId names it (else of its parent span).
// Events get stable ids (a hash of trace id, span id, async id and sequence), so the same
// input gives the same points. Tags of DataKit's tracing model (`service`, `source_type`,
// `span_type`, `operation`, `http_url`, `http_status_code`, ...) and the `resource` field
// carry DataKit's values (shared/spec/pinpoint.md §5.2-5.5); where we read more, ours go in
// extra keys (`application_name`, `service_type`, `span_position`, `api_name`, `*_bare`,
// `resource_detail`; plugins/pinpoint/README.md "Points"). A client event cannot end before the call it made: an
// event's duration is widened to cover its children (Node agents close HTTP-client events
// when the request is written, endElapsed 0).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <tributary/plugin.hpp>

#include "assembler.hpp"
#include "metadata.hpp"

namespace trib::pinpoint {

struct BuildOptions {
    bool del_message = false;
};

struct BuiltTrace {
    std::vector<trib::Point> points;
    std::shared_ptr<LinkIndex> index;
    bool has_error = false;
    int root_index = -1; // the root span's entry point in `points`, if present
};

// `recycle`: points of an earlier trace (the host copied them) whose strings and vectors
// are written over instead of allocated again; taken into the result.
BuiltTrace build_trace(const ReadyTrace &trace, const MetadataStore &meta, const BuildOptions &opt,
                       std::vector<trib::Point> *recycle = nullptr);

// The stable id of an event.
int64_t event_id(const std::string &trace_id, int64_t span_id, int32_t async_id, int32_t async_seq, int32_t sequence);

} // namespace trib::pinpoint
