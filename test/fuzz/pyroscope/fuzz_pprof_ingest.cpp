// libFuzzer: pprof decoding as /ingest and the push API see it, through PyroscopeIngest
// with an in-memory host (the fake host of the SDK); and the one-pass reader against
// libprotobuf on the same bytes: both accept or both reject, and agree on what they read;
// unchecked, the reader accepts and agrees wherever libprotobuf accepts.
#include <tributary/profiling/errors.hpp>
#include <tributary/profiling/pprof.hpp>
#include <tributary/profiling/pprof_reader.hpp>
#include <tributary/profiling/pyroscope_ingest.hpp>
#include <tributary/testing/fake_host.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string body(reinterpret_cast<const char *>(data), size);
    std::optional<trib::profiling::PprofSummary> reference, one_pass;
    const trib::profiling::PprofReadOptions labels{.max_label_keys = 1024};
    try {
        reference = trib::profiling::summarize_profile(trib::profiling::parse_pprof(body, 16u << 20), labels);
    } catch (const trib::profiling::DecodeError &) {}
    try {
        one_pass = trib::profiling::summarize_pprof(body, trib::profiling::InflateLimit{16u << 20, nullptr}, labels);
    } catch (const trib::profiling::DecodeError &) {}
    if (reference.has_value() != one_pass.has_value() || (reference && !(*reference == *one_pass))) __builtin_trap();
    // Unchecked (the metrics' read): whatever libprotobuf accepts reads the same.
    if (reference) {
        const trib::profiling::PprofReadOptions unchecked{.max_label_keys = 1024, .check_unread = false};
        std::optional<trib::profiling::PprofSummary> lenient;
        try {
            lenient =
                trib::profiling::summarize_pprof(body, trib::profiling::InflateLimit{16u << 20, nullptr}, unchecked);
        } catch (const trib::profiling::DecodeError &) {}
        if (!lenient || !(*lenient == *reference)) __builtin_trap();
    }
    static trib::testing::FakeHost fake;
    static trib::Host host(fake.api(), fake.ctx());
    // A small body limit, so inflate bombs hit it quickly.
    static trib::profiling::PyroscopeIngest ingest(host, [] {
        trib::profiling::PyroscopeOptions o;
        o.body_limit_bytes = 4u << 20;
        return o;
    }());
    fake.clear_points();
    trib_http_request req{};
    req.struct_size = sizeof req;
    req.method = trib::view("POST");
    req.path = trib::view("/ingest");
    req.query = trib::view("name=fuzz.app%7Bk%3Dv%7D&format=pprof&spyName=gospy&from=1795316000&until=1795316010");
    req.content_type = trib::view("binary/octet-stream");
    req.body = trib::bytes_view(body);
    auto r = ingest.handle_ingest(trib::HttpRequest(req));
    // Client bytes never earn a 500: accepted, malformed, or over the inflate limit.
    if (r.status != 200 && r.status != 400 && r.status != 413) __builtin_trap();
    req.path = trib::view(trib::profiling::PyroscopeIngest::kPushPath);
    req.query = trib::view("");
    req.content_type = trib::view("application/proto");
    auto pr = ingest.handle_push(trib::HttpRequest(req));
    if (pr.status != 200 && pr.status != 400 && pr.status != 413) __builtin_trap();
    return 0;
}
