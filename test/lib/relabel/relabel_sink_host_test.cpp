// [[sinks.relabel]] through the real host: two file sinks get the same uploads; only the
// one with rules sees rewritten tags, left-out points and rewritten pprofs, the other
// keeps the bytes as uploaded.
#include <tributary/profiling/pprof.hpp>

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace trib::test;

namespace {

std::string attachment(const std::string &root, const LpPoint &p, const std::string &name) {
    return read_file(root + "/attachments/" + p.field_str("profile_id") + "/" + name);
}

const LpPoint *by_service(const std::vector<LpPoint> &pts, const std::string &service) {
    for (auto &p : pts)
        if (p.tag("service") == service) return &p;
    return nullptr;
}

} // namespace

TEST_CASE("[[sinks.relabel]] rewrites one sink's copy: tags, keep/drop, pprof labels", "[relabel][integration]") {
    TempDir roots("relabel-host");
    HostOptions o;
    o.config_text =
        "[[sinks]]\n  name = \"raw\"\n  type = \"file\"\n  path = \"" + roots.sub("raw") +
        "\"\n"
        "[[sinks]]\n  name = \"edge\"\n  type = \"file\"\n  path = \"" +
        roots.sub("edge") +
        "\"\n"
        "  [[sinks.relabel]]\n    source_labels = [\"env\", \"version\"]\n    regex = \"(.*);(.*)\"\n"
        "    target_label = \"stage\"\n    replacement = \"${1}-$2\"\n"
        "  [[sinks.relabel]]\n    action = \"labeldrop\"\n    regex = \"runtime.*\"\n"
        "  [[sinks.relabel]]\n    action = \"drop\"\n    source_labels = [\"service\"]\n    regex = \"skip-.*\"\n"
        "  [[sinks.relabel]]\n    scope = \"pprof\"\n    source_labels = [\"local root span id\"]\n"
        "    target_label = \"span_id\"\n    value_format = \"hex16\"\n";
    o.conf_d["profile/profile.conf"] =
        "[[inputs.profile]]\n  endpoints = [\"/profiling/v1/input\"]\n  generate_metrics = false\n";
    o.conf_d["pyroscope/pyroscope.conf"] =
        "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n  generate_metrics = false\n";
    HostProcess host(o);

    std::string fx = TRIB_FIXTURES_DIR;
    auto r =
        http("POST", host.url("/profiling/v1/input"), read_file(fx + "/ddtrace-nodejs/profiling-input.body.multipart"),
             "multipart/form-data; boundary=1a8de2bbf9e4d199");
    REQUIRE(r.status / 100 == 2);
    auto r2 = http("POST", host.url("/ingest?name=skip-me&spyName=nodespy"),
                   read_file(fx + "/pyroscope-nodejs/ingest-wall.body.pprof.gz"), "application/octet-stream");
    REQUIRE(r2.status == 200);

    std::vector<LpPoint> raw, edge;
    REQUIRE(wait_until(
        [&] {
            raw = read_points(roots.sub("raw"), "profiling", "profile");
            edge = read_points(roots.sub("edge"), "profiling", "profile");
            return raw.size() == 2 && edge.size() == 1;
        },
        15000ms));
    std::this_thread::sleep_for(300ms);
    CHECK(read_points(roots.sub("edge"), "profiling", "profile").size() == 1); // skip-me left out of this sink only
    INFO(host.log());

    const LpPoint *a = by_service(raw, "acceptance-node");
    const LpPoint *b = by_service(edge, "acceptance-node");
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(by_service(raw, "skip-me"));
    CHECK(a->tag("stage").empty());
    CHECK(a->tag("runtime") == "nodejs");
    CHECK(b->tag("stage") == "acceptance-1.0.0");
    CHECK(b->tag("runtime").empty());
    CHECK(b->tag("runtime_os").empty());
    CHECK(b->tag("env") == "acceptance");

    // The raw store holds the upload's bytes; the edge copy is rewritten.
    std::string original = read_file(fx + "/ddtrace-nodejs/part-wall.pprof.gz");
    CHECK(attachment(roots.sub("raw"), *a, "wall.pprof") == original);
    std::string rewritten = attachment(roots.sub("edge"), *b, "wall.pprof");
    CHECK(rewritten != original);
    auto before = trib::profiling::parse_pprof(original), after = trib::profiling::parse_pprof(rewritten);
    REQUIRE(before.sample_size() == after.sample_size());
    for (int t = 0; t < before.sample_type_size(); ++t)
        CHECK(trib::profiling::sum_sample_values(before, t) == trib::profiling::sum_sample_values(after, t));
    int span_labels = 0, root_labels = 0;
    for (auto &s : after.sample())
        for (auto &l : s.label()) {
            const std::string &k = after.string_table(int(l.key()));
            if (k == "span_id" && after.string_table(int(l.str())).size() == 16) ++span_labels;
            if (k == "local root span id") ++root_labels;
        }
    CHECK(span_labels > 0);
    CHECK(root_labels == 0);
    // Parts that are not pprofs are not touched.
    CHECK(attachment(roots.sub("edge"), *b, "event.json") == attachment(roots.sub("raw"), *a, "event.json"));
}
