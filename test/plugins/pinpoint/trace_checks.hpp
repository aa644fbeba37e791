// Structural checks of the `pinpointV2` points of /up -> /down traces (what a user looks
// at: every /up entry with its events, the /down entry under the calling exit event,
// children inside their parents' time).
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "test_helpers.hpp"

namespace pinpoint_test {

struct TraceView {
    std::vector<const trib::Point *> points;
    std::map<std::string, const trib::Point *> by_span;
};

inline std::map<std::string, TraceView> group_traces(const std::vector<trib::Point> &pts) {
    std::map<std::string, TraceView> out;
    for (auto &p : pts) {
        if (p.measurement != "pinpointV2") continue;
        auto &t = out[str_field(p, "trace_id")];
        t.points.push_back(&p);
        t.by_span[str_field(p, "span_id")] = &p;
    }
    return out;
}

// Checks one /up -> /down trace: its shape, our values, and DataKit's values beside them.
inline void check_up_down_trace(const std::string &trace_id, const TraceView &t) {
    INFO("trace " << trace_id);
    const trib::Point *up = nullptr, *down = nullptr;
    for (auto *p : t.points) {
        if (tag(*p, "span_type") != "entry") continue;
        if (str_field(*p, "resource") == "/up") up = p;
        if (str_field(*p, "resource") == "/down") down = p;
    }
    REQUIRE(up != nullptr);
    REQUIRE(down != nullptr);
    CHECK(str_field(*up, "parent_id") == "0");
    CHECK(tag(*up, "http_status_code_bare") == "200");
    CHECK(tag(*down, "http_status_code_bare") == "200");
    CHECK(tag(*up, "api_name") == "Node Server Process"); // apiId 1 resolved from metadata

    // /up has its own events.
    int up_events = 0;
    for (auto *p : t.points)
        if (tag(*p, "span_type") != "entry" && str_field(*p, "parent_id") == str_field(*up, "span_id")) ++up_events;
    CHECK(up_events >= 1);

    // /down hangs under the exit event that called it.
    auto caller = t.by_span.find(str_field(*down, "parent_id"));
    REQUIRE(caller != t.by_span.end());
    const trib::Point &exit = *caller->second;
    CHECK(tag(exit, "span_position") == "exit");
    CHECK(tag(exit, "http_url_bare").find("/down") != std::string::npos);
    CHECK(tag(exit, "http_status_code_bare") == "200");
    CHECK(tag(exit, "http_method") == "GET");
    // DataKit's values in DataKit's keys (shared/spec/pinpoint.md §5.2-5.5).
    CHECK(tag(*up, "http_status_code") == "intValue:200");
    CHECK(tag(*up, "operation").rfind("127.0.0.1:", 0) == 0); // the accept event's endpoint
    CHECK(tag(exit, "span_type") == "local");
    CHECK(tag(exit, "http_url") == "stringValue:\"" + tag(exit, "http_url_bare") + "\"");
    for (auto *p : t.points)
        if (tag(*p, "span_position") != "entry") {
            CHECK(tag(*p, "source_type") == "custom");
            CHECK(tag(*p, "service") == tag(*p, "service_type"));
        }

    // The chain from /down reaches /up through events only.
    const trib::Point *cur = &exit;
    for (int hops = 0; hops < 10 && cur != up; ++hops) {
        auto it = t.by_span.find(str_field(*cur, "parent_id"));
        REQUIRE(it != t.by_span.end());
        cur = it->second;
    }
    CHECK(cur == up);

    // Every child inside its parent (ms resolution: 1 ms slack at the end).
    for (auto *p : t.points) {
        auto it = t.by_span.find(str_field(*p, "parent_id"));
        if (it == t.by_span.end()) continue;
        const trib::Point &parent = *it->second;
        INFO("span " << str_field(*p, "span_id") << " (" << str_field(*p, "resource") << ") under "
                     << str_field(parent, "span_id") << " (" << str_field(parent, "resource") << ")");
        CHECK(int_field(*p, "start") >= int_field(parent, "start"));
        CHECK(int_field(*p, "start") + int_field(*p, "duration") <=
              int_field(parent, "start") + int_field(parent, "duration") + 1000);
    }
    for (auto *p : t.points) {
        CHECK(tag(*p, "application_name") == tag(*up, "service"));
        CHECK(!tag(*p, "source_type").empty());
        CHECK(tag(*p, "status") == "ok");
    }
}

} // namespace pinpoint_test
