// libFuzzer target: span decoding and trace assembly. The input is a sequence of
// [u16 little-endian length][PSpanMessage bytes] records handed to the collector as one
// agent's span stream; then the clock runs past the wait so incomplete traces convert too.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "collector.hpp"

using namespace trib::pinpoint;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Config cfg = [] {
        Config c;
        c.trace_wait_ms = 1000;
        c.trace_memory_mb = 8;
        c.max_span_events = 5000;
        return c;
    }();
    MetadataStore meta(1000);
    meta.put_api("fuzz-agent", 1, ApiInfo{"Node Server Process", -1, 100, ""});
    meta.put_sql("fuzz-agent", 4, "select 1");
    int64_t now = 1795316601000;
    size_t emitted = 0;
    Collector c(
        cfg, meta,
        [&](const std::vector<trib::Point> &pts) {
            emitted += pts.size();
            return TRIB_OK;
        },
        [](trib_log_level, const std::string &) {}, [](std::string_view, double) {}, [&] { return now; });
    auto h = std::make_shared<CallHeaders>();
    h->agent_id = "fuzz-agent";
    h->application_name = "fuzz-app";
    size_t pos = 0;
    while (pos + 2 <= size) {
        size_t len = size_t(data[pos]) | size_t(data[pos + 1]) << 8;
        pos += 2;
        if (len > size - pos) len = size - pos;
        c.handle(MessageKind::span_message, std::string_view(reinterpret_cast<const char *>(data + pos), len), h);
        pos += len;
        now += 7;
    }
    now += 5000;
    c.tick();
    c.flush_all();
    return 0;
}
