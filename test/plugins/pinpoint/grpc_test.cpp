// The real pinpoint.so in a FakeHost, driven over gRPC with raw bytes: the recorded
// pinpoint-node-agent session (golden), restarts, bad input, backpressure, held streams.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "test_helpers.hpp"
#include "trace_checks.hpp"

using namespace pinpoint_test;
using nlohmann::json;

namespace {

std::map<std::string, std::string> node_headers() {
    return {{"agentid", "acc-node-1"}, {"applicationname", "acceptance-node"}, {"starttime", "1795316601123"}};
}

// A root span with `events` events (sequence i, depth 1, startElapsed 0, endElapsed 0).
std::string span_with_events(int64_t span_id, int events) {
    Wire tx;
    tx.bytes(1, "acc-node-1").i(2, 1795316601123).i(3, 777);
    Wire span;
    span.i(1, 1).msg(2, tx).sf64(3, span_id).sf64(4, -1).i(5, 1795316700000).i(6, 5).i(8, 1400);
    Wire accept;
    accept.bytes(1, "/big");
    span.msg(9, accept);
    for (int k = 0; k < events; ++k) {
        Wire e;
        e.i(1, k).i(2, 1).i(3, 0).i(4, 0).s32(5, 5000);
        span.msg(13, e);
    }
    Wire m;
    m.msg(1, span);
    return m.out;
}

void wait_points(trib::testing::FakeHost &h, size_t n, int ms = 5000) {
    trib::test::wait_until([&] { return h.points().size() >= n; }, std::chrono::milliseconds(ms),
                           std::chrono::milliseconds(10));
}

// What DataKit's pinpoint input writes for the recorded session (shared/spec/pinpoint.md
// §5.2-5.5, worked out by hand from messages.txt): each point kind with the tags of DataKit's
// tracing model and the `resource` field. "-" = the key is absent.
struct DataKitExpectation {
    const char *kind; // entry resource, or the event's service type
    std::vector<std::pair<const char *, const char *>> keys;
};

const std::vector<DataKitExpectation> &datakit_expectations() {
    // Both entry spans are accepted by the same app: same tags but for the resource.
    auto entry = [](const char *resource) {
        return DataKitExpectation{resource,
                                  {{"service", "acceptance-node"},
                                   {"source_type", "NODE"},
                                   {"span_type", "entry"},
                                   {"operation", "127.0.0.1:39519"},
                                   {"status", "ok"},
                                   {"http_status_code", "intValue:200"},
                                   {"http_url", "-"},
                                   {"endpoint", "-"},
                                   {"resource", resource}}};
    };
    static const std::vector<DataKitExpectation> table = {
        entry("/up"),
        entry("/down"),
        {"ASYNC",
         {{"service", "ASYNC"},
          {"source_type", "custom"},
          {"span_type", "local"},
          {"operation", "id:2 line:-1 :Asynchronous Invocation"},
          {"status", "ok"},
          {"sequence", "0"},
          {"depth", "1"},
          {"endpoint", "-"},
          {"destination_id", "-"},
          {"resource", "Asynchronous Invocation"}}},
        {"ASYNC_HTTP_CLIENT_INTERNAL",
         {{"service", "ASYNC_HTTP_CLIENT_INTERNAL"},
          {"source_type", "custom"},
          {"span_type", "local"},
          {"operation", "-"},
          {"status", "ok"},
          {"sequence", "0"},
          {"depth", "1"},
          {"endpoint", "127.0.0.1:39519"},
          {"destination_id", "127.0.0.1:39519"},
          {"resource", "0"}}},
        {"ASYNC_HTTP_CLIENT",
         {{"service", "ASYNC_HTTP_CLIENT"},
          {"source_type", "custom"},
          {"span_type", "local"},
          {"operation", "-"},
          {"status", "ok"},
          {"sequence", "1"},
          {"depth", "2"},
          {"http_url", "stringValue:\"127.0.0.1:39519/down\""},
          {"http_status_code", "intValue:200"},
          {"endpoint", "127.0.0.1:39519"},
          {"destination_id", "127.0.0.1:39519"},
          {"resource", "0"}}},
    };
    return table;
}

// Every point of a /up -> /down trace carries DataKit's values, and ours beside them.
void check_datakit_values(const TraceView &t) {
    std::set<std::string> kinds;
    for (auto *p : t.points) {
        const std::string position = tag(*p, "span_position");
        const std::string kind = position == "entry" ? str_field(*p, "resource") : tag(*p, "service_type");
        INFO("point " << kind);
        kinds.insert(kind);
        auto it = std::find_if(datakit_expectations().begin(), datakit_expectations().end(),
                               [&](auto &e) { return kind == e.kind; });
        REQUIRE(it != datakit_expectations().end());
        for (auto &[key, want] : it->keys) {
            INFO("key " << key);
            const std::string k = key;
            const bool is_field = k == "resource";
            const bool present = is_field ? p->find_field(key) != nullptr : p->find_tag(key) != nullptr;
            if (std::string(want) == "-") CHECK_FALSE(present);
            else CHECK((is_field ? str_field(*p, key) : tag(*p, key)) == want);
        }
        // Keys of DataKit's model that Pinpoint never fills stay unset, as in DataKit.
        for (const char *unset : {"env", "version", "project", "http_route", "container_host"})
            CHECK(p->find_tag(unset) == nullptr);
        CHECK(tag(*p, "application_name") == "acceptance-node");
        CHECK(!tag(*p, "service_type").empty());
    }
    CHECK(kinds == std::set<std::string>{"/up", "/down", "ASYNC", "ASYNC_HTTP_CLIENT_INTERNAL", "ASYNC_HTTP_CLIENT"});
}

} // namespace

TEST_CASE("golden: the recorded node agent session gives the reference points", "[pinpoint][golden]") {
    Running r;
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    auto msgs = recorded_messages();
    REQUIRE(msgs.size() == 17);
    for (auto &res : replay(c, msgs)) CHECK(res.code == grpc::StatusCode::OK);

    // 4 traces x (2 entries + 3 events) + 1 agent stat.
    wait_points(r.host, 21);
    auto pts = r.host.points();
    CHECK(pts.size() == 21);

    std::string hint;
    bool golden_ok = matches_golden("nodejs_session.reference", render(pts), &hint);
    INFO(hint);
    CHECK(golden_ok);

    auto traces = group_traces(pts);
    REQUIRE(traces.size() == 4);
    for (auto &[id, t] : traces) {
        CHECK(t.points.size() == 5);
        check_up_down_trace(id, t);
        check_datakit_values(t);
    }
    CHECK(traces.count("acc-node-1^1795316601123^0") == 1);

    // The agent stat: single agentStat form (DataKit ignores it), with agent-info tags.
    int stats = 0;
    for (auto &p : pts) {
        if (p.measurement != "pp-agentStats") continue;
        ++stats;
        CHECK(p.category == "metric");
        CHECK(tag(p, "agent_id") == "acc-node-1");
        CHECK(tag(p, "hostname") == "vm");
        CHECK(tag(p, "pid") == "21917");
        CHECK(tag(p, "agentVersion") == "0.8.7");
        CHECK(tag(p, "container") == "true");
        CHECK(p.find_field("JvmMemoryHeapUsed")->i == 24963056);
        CHECK(p.find_field("JvmMemoryHeapMax")->i == 54550528);
        CHECK(p.find_field("JvmCpuLoad")->i == 81); // the agent's 0.8087 as DataKit's int percent
        CHECK(p.find_field("SystemCpuLoad")->i == 0);
        CHECK(p.time_ns == 1795316607148LL * 1000000);
    }
    CHECK(stats == 1);
}

TEST_CASE("metadata survives a restart between metadata and spans", "[pinpoint]") {
    trib::test::TempDir data("pp-restart");
    auto msgs = recorded_messages();
    std::vector<Recorded> meta, spans;
    for (auto &m : msgs) (m.rpc.rfind("v1.Span/", 0) == 0 ? spans : meta).push_back(m);
    {
        Running r(json::object(), data.path());
        REQUIRE(r.status == TRIB_OK);
        RawClient c(r.target());
        for (auto &res : replay(c, meta)) CHECK(res.code == grpc::StatusCode::OK);
    }
    Running r(json::object(), data.path());
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    for (auto &res : replay(c, spans)) CHECK(res.code == grpc::StatusCode::OK);
    wait_points(r.host, 20);
    auto pts = r.host.points();
    auto traces = group_traces(pts);
    REQUIRE(traces.size() == 4);
    for (auto &[id, t] : traces) {
        check_up_down_trace(id, t);
        for (auto *p : t.points) {
            if (tag(*p, "span_type") == "entry") CHECK(tag(*p, "hostname") == "vm"); // agent info too
            if (tag(*p, "service_type") == "ASYNC") CHECK(str_field(*p, "resource") == "Asynchronous Invocation");
        }
    }
}

TEST_CASE("bad input gets a clear status and the server keeps serving", "[pinpoint][bad]") {
    Running r;
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    auto h = node_headers();

    SECTION("malformed protobuf on the span stream") {
        auto res = c.client_stream("/v1.Span/SendSpan", h, {std::string("\x0a\xff\xff\xff\xff\x0f garbage", 15)});
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK_THAT(res.message, Catch::Contains("malformed PSpanMessage"));
    }
    SECTION("malformed protobuf on a unary call") {
        auto res = c.unary("/v1.Metadata/RequestApiMetaData", h, std::string("\x12\x50short", 7));
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK_THAT(res.message, Catch::Contains("malformed PApiMetaData"));
    }
    SECTION("missing agentid") {
        auto hh = h;
        hh.erase("agentid");
        auto res = c.client_stream("/v1.Span/SendSpan", hh, {span_with_events(1, 1)});
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(res.message == "agentid header is missing");
        res = c.unary("/v1.Agent/RequestAgentInfo", hh, "");
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(c.bidi_echo("/v1.Agent/PingSession", hh, {""}).code == grpc::StatusCode::INVALID_ARGUMENT);
    }
    SECTION("missing applicationname") {
        auto hh = h;
        hh.erase("applicationname");
        auto res = c.client_stream("/v1.Stat/SendAgentStat", hh, {""});
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(res.message == "applicationname header is missing");
    }
    SECTION("a span with 100,000 events is refused under the default limit") {
        auto res = c.client_stream("/v1.Span/SendSpan", h, {span_with_events(42, 100000)});
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK_THAT(res.message, Catch::Contains("100000 events") && Catch::Contains("max_span_events"));
    }
    SECTION("unsupported span version") {
        Wire span;
        span.i(1, 2).sf64(3, 9).sf64(4, -1);
        Wire m;
        m.msg(1, span);
        auto res = c.client_stream("/v1.Span/SendSpan", h, {m.out});
        CHECK(res.code == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK_THAT(res.message, Catch::Contains("version 2"));
    }
    // Whatever came before, the same server still answers properly.
    CHECK(c.bidi_echo("/v1.Agent/PingSession", h, {"", "", ""}).responses == 3);
    auto ok = c.client_stream("/v1.Span/SendSpan", h, {span_with_events(7, 3)});
    CHECK(ok.code == grpc::StatusCode::OK);
    wait_points(r.host, 4);
    CHECK(r.host.points().size() == 4);
}

TEST_CASE("a span with 100,000 events is converted when the limit allows it", "[pinpoint][bad]") {
    Running r(json{{"max_span_events", 200000}, {"del_message", true}});
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    auto t0 = std::chrono::steady_clock::now();
    auto res = c.client_stream("/v1.Span/SendSpan", node_headers(), {span_with_events(42, 100000)}, 60000);
    REQUIRE(res.code == grpc::StatusCode::OK);
    auto pts = r.host.points();
    CHECK(pts.size() == 100001);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    WARN("100,000-event span converted in " << ms << " ms");
    for (size_t i = 0; i < pts.size(); i += 9973)
        CHECK(str_field(pts[i], "trace_id") == "acc-node-1^1795316601123^777");
}

TEST_CASE("host backpressure answers RESOURCE_EXHAUSTED and the points follow later", "[pinpoint]") {
    Running r;
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    r.host.set_backpressure(true);
    auto res = c.client_stream("/v1.Span/SendSpan", node_headers(), {span_with_events(5, 2)});
    CHECK(res.code == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(r.host.points().empty());
    // While the host stays full, new spans are refused before they are taken apart.
    res = c.client_stream("/v1.Span/SendSpan", node_headers(), {span_with_events(6, 2)});
    CHECK(res.code == grpc::StatusCode::RESOURCE_EXHAUSTED);
    r.host.set_backpressure(false);
    r.host.fire_timers(); // the retry
    CHECK(r.host.points().size() == 3);
}

TEST_CASE("held streams: ping answered every time, command channel held, echo answered", "[pinpoint]") {
    Running r;
    REQUIRE(r.status == TRIB_OK);
    RawClient c(r.target());
    auto h = node_headers();
    auto ping = c.bidi_echo("/v1.Agent/PingSession", h, std::vector<std::string>(5, ""));
    CHECK(ping.code == grpc::StatusCode::OK);
    CHECK(ping.responses == 5);

    // HandleCommandV2: the handshake is taken and the stream stays open (no answer, no end).
    {
        grpc::ClientContext ctx;
        for (auto &kv : h) ctx.AddMetadata(kv.first, kv.second);
        ctx.AddMetadata("supportcommandcode", "740;710;730;750");
        grpc::internal::RpcMethod m("/v1.ProfilerCommandService/HandleCommandV2",
                                    grpc::internal::RpcMethod::BIDI_STREAMING);
        auto ch = grpc::CreateChannel(r.target(), grpc::InsecureChannelCredentials());
        std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> rw(
            grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(ch.get(), m, &ctx));
        Wire hs, cmd;
        hs.u(1, 710);
        cmd.msg(1, hs);
        CHECK(rw->Write(to_buffer(cmd.out)));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // DataKit would have closed it by now
        CHECK(rw->Write(to_buffer(cmd.out)));
        rw->WritesDone();
        grpc::ByteBuffer in;
        CHECK_FALSE(rw->Read(&in));
        CHECK(rw->Finish().ok());
    }
    Wire echo;
    echo.bytes(2, "hello");
    CHECK(c.unary("/v1.ProfilerCommandService/CommandEcho", h, echo.out).code == grpc::StatusCode::OK);
    CHECK(c.unary("/v1.Metadata/RequestSqlUidMetaData", h, Wire().bytes(1, "\x01\x02").bytes(2, "select 1").out).code ==
          grpc::StatusCode::OK);
}

TEST_CASE("storage: messages queued on disk are replayed after a restart", "[pinpoint][storage]") {
    trib::test::TempDir data("pp-storage");
    auto msgs = recorded_messages();
    json cfg{{"storage", {{"path", "pp_storage"}, {"capacity", 16}}}};
    {
        Running r(cfg, data.path());
        REQUIRE(r.status == TRIB_OK);
        r.host.set_backpressure(true); // nothing leaves the queue
        RawClient c(r.target());
        for (auto &res : replay(c, msgs)) CHECK(res.code == grpc::StatusCode::OK); // queued = accepted
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        CHECK(r.host.points().empty());
    }
    CHECK(trib::test::file_exists(data.sub("pp_storage/queue.log")));
    Running r(cfg, data.path());
    REQUIRE(r.status == TRIB_OK);
    wait_points(r.host, 21, 10000);
    auto pts = r.host.points();
    auto traces = group_traces(pts);
    CHECK(traces.size() == 4);
    for (auto &[id, t] : traces) check_up_down_trace(id, t);
}

TEST_CASE("config errors are reported by key", "[pinpoint][config]") {
    trib::testing::FakeHost host;
    std::string err;
    CHECK(host.create(load_module(), "x", R"({"close_resource":"not a table"})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("close_resource"));
    CHECK(host.create(load_module(), "x", R"({"sampler":{"sampling_rate":2}})", &err) == TRIB_INVALID_ARGUMENT);
    CHECK_THAT(err, Catch::Contains("sampler.sampling_rate"));
}

TEST_CASE("a port already taken fails start with a clear message", "[pinpoint][config]") {
    Running first;
    REQUIRE(first.status == TRIB_OK);
    trib::testing::FakeHost host;
    std::string err;
    REQUIRE(host.create(load_module(), "second", json{{"address", first.target()}}.dump(), &err) == TRIB_OK);
    CHECK(host.start(&err) != TRIB_OK);
    CHECK_THAT(err, Catch::Contains(first.target()));
    host.destroy();
}

TEST_CASE("the real host restarted between metadata and spans still resolves names", "[pinpoint][host]") {
    const std::string host_bin = TRIB_BUILD_DIR "/bin/tributary";
    if (!trib::test::file_exists(host_bin)) {
        WARN("skipped: " << host_bin << " is not built");
        return;
    }
    int pp_port = trib::test::free_port();
    trib::test::HostOptions o;
    o.conf_d["pinpoint/pinpoint.conf"] =
        "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pp_port) + "\"\n";
    trib::test::HostProcess host(o);
    auto msgs = recorded_messages();
    std::vector<Recorded> meta, spans;
    for (auto &m : msgs) (m.rpc.rfind("v1.Span/", 0) == 0 ? spans : meta).push_back(m);
    {
        RawClient c("127.0.0.1:" + std::to_string(pp_port));
        for (auto &res : replay(c, meta)) CHECK(res.code == grpc::StatusCode::OK);
    }
    host.restart();
    RawClient c("127.0.0.1:" + std::to_string(pp_port));
    REQUIRE(c.wait_connected(10000));
    for (auto &res : replay(c, spans)) CHECK(res.code == grpc::StatusCode::OK);
    std::vector<trib::test::LpPoint> lps;
    trib::test::wait_until(
        [&] {
            lps = host.points("tracing", "pinpointV2");
            return lps.size() >= 20;
        },
        std::chrono::milliseconds(10000));
    INFO("host log:\n" << host.log());
    REQUIRE(lps.size() == 20);
    int resolved = 0;
    for (auto &p : lps) {
        if (p.tag("span_type") == "entry") {
            CHECK(p.tag("api_name") == "Node Server Process"); // apiId 1 from the reloaded metadata
            CHECK(p.tag("hostname") == "vm");
            ++resolved;
        }
        if (p.tag("service_type") == "ASYNC") {
            CHECK(p.field_str("resource") == "Asynchronous Invocation");
            CHECK(p.tag("operation") == "id:2 line:-1 :Asynchronous Invocation");
        }
    }
    CHECK(resolved == 8);
}

TEST_CASE("the real host: DataKit's ENV_INPUT_PINPOINT_* variables reach the module", "[pinpoint][host][env]") {
    const std::string host_bin = TRIB_BUILD_DIR "/bin/tributary";
    if (!trib::test::file_exists(host_bin)) {
        WARN("skipped: " << host_bin << " is not built");
        return;
    }
    auto msgs = recorded_messages();
    auto run = [&](std::map<std::string, std::string> env) {
        int pp_port = trib::test::free_port();
        trib::test::HostOptions o;
        o.env = std::move(env);
        o.env["ENV_DEFAULT_ENABLED_INPUTS"] = "pinpoint";
        o.env["ENV_INPUT_PINPOINT_ADDRESS"] = "127.0.0.1:" + std::to_string(pp_port);
        trib::test::HostProcess host(o);
        RawClient c("127.0.0.1:" + std::to_string(pp_port));
        REQUIRE(c.wait_connected(10000));
        for (auto &res : replay(c, msgs)) CHECK(res.code == grpc::StatusCode::OK);
        trib::test::wait_until([&] { return !host.points("metric", "pp-agentStats").empty(); },
                               std::chrono::milliseconds(10000));
        std::this_thread::sleep_for(std::chrono::milliseconds(500)); // spans are emitted before the stat
        INFO("host log:\n" << host.log());
        return host.points("tracing", "pinpointV2");
    };
    SECTION("SAMPLER=0 drops every (error-free) trace") {
        auto pts = run({{"ENV_INPUT_PINPOINT_SAMPLER", "0"}});
        CHECK(pts.empty());
    }
    SECTION("DEL_MESSAGE, TAGS (JSON) and CLOSE_RESOURCE (JSON)") {
        auto pts = run({{"ENV_INPUT_PINPOINT_DEL_MESSAGE", "true"},
                        {"ENV_INPUT_PINPOINT_TAGS", R"({"team":"core"})"},
                        {"ENV_INPUT_PINPOINT_CLOSE_RESOURCE", R"({"*":["/nothing-matches"]})"}});
        REQUIRE(pts.size() == 20);
        for (auto &p : pts) {
            CHECK_FALSE(p.has_field("message"));
            CHECK(p.tag("team") == "core");
        }
        auto closed = run({{"ENV_INPUT_PINPOINT_CLOSE_RESOURCE", R"({"acceptance-node":["/u."]})"}});
        CHECK(closed.empty());
    }
}

namespace {

// Peak resident set of a process in MiB (VmHWM in /proc/<pid>/status).
long peak_rss_mb(pid_t pid) { return long(trib::test::peak_rss_kb(pid) / 1024); }

// A child span (its root never comes) of `events` events, each with a 100-byte annotation.
std::string flood_span(const std::string &agent, int64_t sequence, int events) {
    Wire tx;
    tx.bytes(1, agent).i(2, 1795316601123).i(3, sequence);
    Wire span;
    span.i(1, 1).msg(2, tx).sf64(3, 100000 + sequence).sf64(4, 5).i(5, 1795316700000).i(6, 5).i(8, 1400);
    const std::string text(100, 'f');
    for (int k = 0; k < events; ++k) {
        Wire value, ann, e;
        value.bytes(1, text);
        ann.i(1, 12).msg(2, value);
        e.i(1, k).i(2, 1).i(3, 0).i(4, 0).s32(5, 5000).msg(6, ann);
        span.msg(13, e);
    }
    Wire m;
    m.msg(1, span);
    return m.out;
}

} // namespace

// Issue 12: more spans than the input may hold. With trace_memory_mb = 16 the input answers
// RESOURCE_EXHAUSTED instead of growing; the host's peak RSS stays under the bound
// plugins/pinpoint/README.md documents (64 MiB + the bus ceiling + 2 × trace_memory_mb),
// and it keeps serving afterwards.
TEST_CASE("the real host: a span flood with trace_memory_mb = 16 ends in RESOURCE_EXHAUSTED, RSS bounded",
          "[pinpoint][host][flood]") {
    const std::string host_bin = TRIB_BUILD_DIR "/bin/tributary";
    if (!trib::test::file_exists(host_bin)) {
        WARN("skipped: " << host_bin << " is not built");
        return;
    }
    constexpr long kBusMb = 32, kTraceMemoryMb = 16;
    constexpr long kRssBoundMb = 64 + kBusMb + 2 * kTraceMemoryMb;
    constexpr int kStreams = 12, kMessagesPerStream = 25, kEvents = 2000;
    int pp_port = trib::test::free_port();
    trib::test::HostOptions o;
    o.config_text = "[bus]\n  max_memory_mb = " + std::to_string(kBusMb) + "\n";
    o.conf_d["pinpoint/pinpoint.conf"] = "[[inputs.pinpoint]]\n  address = \"127.0.0.1:" + std::to_string(pp_port) +
                                         "\"\n  trace_memory_mb = " + std::to_string(kTraceMemoryMb) +
                                         "\n  trace_wait_ms = 600000\n";
    trib::test::HostProcess host(o);
    const long idle_mb = peak_rss_mb(host.pid());

    std::vector<RawResult> results(kStreams);
    std::vector<std::thread> streams;
    for (int k = 0; k < kStreams; ++k)
        streams.emplace_back([&, k] {
            RawClient c("127.0.0.1:" + std::to_string(pp_port));
            const std::string agent = "flood-" + std::to_string(k);
            results[size_t(k)] = c.client_stream_made(
                "/v1.Span/SendSpan", {{"agentid", agent}, {"applicationname", "flood"}, {"starttime", "1795316601123"}},
                kMessagesPerStream, [&](int i) { return flood_span(agent, i, kEvents); });
        });
    for (auto &t : streams) t.join();

    int exhausted = 0, ok = 0;
    for (auto &r : results) {
        INFO("stream status " << int(r.code) << " " << r.message << " after " << r.sent << " messages");
        CHECK((r.code == grpc::StatusCode::OK || r.code == grpc::StatusCode::RESOURCE_EXHAUSTED));
        exhausted += r.code == grpc::StatusCode::RESOURCE_EXHAUSTED;
        ok += r.code == grpc::StatusCode::OK;
    }
    const long peak_mb = peak_rss_mb(host.pid());
    INFO("host VmHWM " << peak_mb << " MiB (idle " << idle_mb << " MiB), streams OK " << ok << ", RESOURCE_EXHAUSTED "
                       << exhausted << "\nhost log:\n"
                       << host.log());
    CHECK(exhausted > 0);
    CHECK(peak_mb < kRssBoundMb);

    // Still serving: a small trace on a new stream is taken and stored.
    RawClient after("127.0.0.1:" + std::to_string(pp_port));
    RawResult r;
    trib::test::wait_until(
        [&] {
            r = after.client_stream("/v1.Span/SendSpan", node_headers(), {span_with_events(4242, 3)});
            return r.code == grpc::StatusCode::OK;
        },
        std::chrono::milliseconds(30000), std::chrono::milliseconds(250));
    CHECK(r.code == grpc::StatusCode::OK);
    trib::test::wait_until(
        [&] {
            for (auto &p : host.points("tracing", "pinpointV2"))
                if (p.field_str("resource") == "/big") return true;
            return false;
        },
        std::chrono::milliseconds(30000), std::chrono::milliseconds(250));
    bool stored = false;
    for (auto &p : host.points("tracing", "pinpointV2")) stored = stored || p.field_str("resource") == "/big";
    CHECK(stored);
}
