#include "push.hpp"
#include "upload.hpp"

#include <tributary/profiling/compression.hpp>
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/metrics.hpp>
#include <tributary/profiling/multipart.hpp>

#include <chrono>

namespace trib::profile {

trib::HttpResponse emit_as_http(trib::Host &host, const std::vector<trib::Point> &points) {
    trib_status st = host.emit(points);
    switch (trib::refusal_of(st)) {
    case trib::Refusal::none: {
        trib::HttpResponse r;
        r.status = 200;
        return r;
    }
    case trib::Refusal::busy:
        host.counter_add("profile_backpressure", 1);
        return trib::refusal_response(st, "collector is busy: retry later");
    case trib::Refusal::unavailable:
        return trib::refusal_response(st, "collector cannot accept the upload now: retry later");
    case trib::Refusal::too_large:
        return trib::refusal_response(st,
                                      "the upload is larger than the collector accepts at once (bus memory ceiling)");
    case trib::Refusal::invalid: break;
    }
    return trib::refusal_response(st, "collector refused the upload (status " + std::to_string(int(st)) + ")");
}

trib::HttpResponse PushHandler::handle(const trib::HttpRequest &req) {
    std::string_view body = req.body();
    // The limit for the inflated body and for every part generate_metrics inflates; the
    // bytes are taken from the host's in-flight budget while held.
    const profiling::InflateLimit limit{cfg_.body_limit_bytes(), &host_};
    profiling::Inflated inflated;
    std::string_view encoding = req.header("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
        if (encoding != "gzip" && encoding != "zstd" && encoding != "x-gzip")
            return trib::HttpResponse::text(415, "unsupported Content-Encoding '" + std::string(encoding) + "'\n");
        try {
            inflated = profiling::inflate(body, limit);
        } catch (const profiling::TooLargeError &e) {
            return trib::HttpResponse::text(413, std::string("request body: ") + e.what() + " (body_size_limit_mb)\n");
        } catch (const profiling::DecodeError &e) {
            return trib::HttpResponse::text(400, std::string("cannot decode request body: ") + e.what() + "\n");
        }
        body = inflated.data;
    }

    std::string boundary = profiling::multipart_boundary(req.content_type());
    if (boundary.empty())
        return trib::HttpResponse::text(400, "expected Content-Type multipart/form-data with a boundary, got '" +
                                                 std::string(req.content_type()) + "'\n");

    int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::vector<trib::Point> points;
    std::optional<profiling::MetricsWork> later; // metrics for the pool, once the upload is answered
    // The upload's files are copied out of the body for the point: the copies count
    // against the host's in-flight budget until the bus has them.
    trib::MemoryReservation copies(&host_);
    try {
        ParsedUpload parsed = parse_ddtrace_upload(body, boundary);
        uint64_t file_bytes = 0;
        for (auto &f : parsed.files) file_bytes += f.data.size();
        copies.add(file_bytes, "upload files");
        TagPolicy policy{cfg_.tags, host_.global_tags()};
        profiling::ProfileUpload upload = to_profile_upload(parsed, policy, now_ns);
        upload.inflate = limit;
        points.push_back(profiling::build_profile_point(upload, profiling::new_profile_id()));
        if (cfg_.generate_metrics) {
            // A profile the metrics cannot read must not cost the upload itself; one that
            // inflates past the limit (a bomb) or past the memory budget does. With the pool,
            // the inflate happens here (so those answers stay), the decode after the answer.
            try {
                if (metrics_pool_) later = profiling::prepare_metrics(upload);
                else if (auto m = profiling::generate_profile_metrics(upload)) points.push_back(std::move(*m));
            } catch (const profiling::TooLargeError &) {
                throw;
            } catch (const trib::MemoryRefused &) {
                throw;
            } catch (const std::exception &e) {
                host_.warn(std::string("generate_metrics: ") + e.what());
                host_.counter_add("profile_metrics_errors", 1);
            }
        }
    } catch (const profiling::TooLargeError &e) {
        host_.counter_add("profile_bad_requests", 1);
        return trib::HttpResponse::text(413, std::string("profile upload too large: ") + e.what() + "\n");
    } catch (const profiling::DecodeError &e) {
        host_.counter_add("profile_bad_requests", 1);
        return trib::HttpResponse::text(400, std::string("bad profile upload: ") + e.what() + "\n");
    }
    auto resp = emit_as_http(host_, points);
    if (resp.status == 200) {
        host_.counter_add("profile_uploads", 1);
        if (later) metrics_pool_->submit(std::move(*later));
    }
    return resp;
}

} // namespace trib::profile
