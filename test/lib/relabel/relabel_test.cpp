// lib/relabel: every tag action with Prometheus semantics, every pprof action on sample
// labels, and a real dd-trace pprof rewritten and read back by `go tool pprof -raw`.
#include <tributary/profiling/pprof.hpp>
#include <tributary/relabel/relabel.hpp>

#include <trib_test/support.hpp>

#include <catch2/catch.hpp>

#include <cstdio>

using namespace trib::relabel;
using json = nlohmann::json;

namespace {

Labels L(std::initializer_list<std::pair<const char *, const char *>> kv) {
    Labels out;
    for (auto &[k, v] : kv) out.emplace_back(k, v);
    return out;
}
std::string get(const Labels &l, const std::string &k) {
    for (auto &kv : l)
        if (kv.first == k) return kv.second;
    return "<absent>";
}
Rules rules(const json &j) { return parse_rules(j); }

std::string read_fixture(const std::string &rel) {
    return trib::test::read_file(std::string(TRIB_FIXTURES_DIR) + "/" + rel);
}

// Label text as the pprof decoder sees it: "key=str" or "key#num".
std::vector<std::string> sample_labels(const perftools::profiles::Profile &p, int sample) {
    std::vector<std::string> out;
    for (auto &l : p.sample(sample).label()) {
        std::string k = p.string_table(int(l.key()));
        out.push_back(l.str() ? k + "=" + p.string_table(int(l.str())) : k + "#" + std::to_string(l.num()));
    }
    return out;
}

// A small pprof with dd-trace-like labels and a field no pprof version defines (field 99).
std::string synthetic_pprof() {
    perftools::profiles::Profile p;
    for (const char *s : {"", "samples", "count", "span id", "local root span id", "thread name", "main",
                          "trace endpoint", "GET /users", "12345", "00000000000000ff", "zz"})
        p.add_string_table(s);
    auto *st = p.add_sample_type();
    st->set_type(1);
    st->set_unit(2);
    auto *s = p.add_sample();
    s->add_value(7);
    auto lab = [&](int64_t k, int64_t str, int64_t num) {
        auto *l = s->add_label();
        l->set_key(k);
        if (str) l->set_str(str);
        if (num) l->set_num(num);
    };
    lab(3, 9, 0);   // span id = "12345"
    lab(4, 0, 255); // local root span id = 255 (numeric, as dd-trace-js writes it)
    lab(5, 6, 0);   // thread name = "main"
    lab(7, 8, 0);   // trace endpoint = "GET /users"
    auto *s2 = p.add_sample();
    s2->add_value(5);
    auto *l2 = s2->add_label();
    l2->set_key(3);
    l2->set_str(11); // span id = "zz": not a number
    p.set_time_nanos(1000);
    std::string bytes = p.SerializeAsString();
    bytes += std::string("\x98\x06\x2a", 3); // field 99, varint 42
    return bytes;
}

perftools::profiles::Profile parse(const std::string &gz) { return trib::profiling::parse_pprof(gz); }

std::string run(const std::string &cmd) {
    std::string out;
    FILE *f = ::popen(cmd.c_str(), "r");
    REQUIRE(f);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int rc = ::pclose(f);
    INFO(out);
    REQUIRE(rc == 0);
    return out;
}

} // namespace

TEST_CASE("replace: groups, ${n}, named groups, anchoring") {
    auto r = rules(json::array({{{"source_labels", {"env", "region"}},
                                 {"regex", "(pr[a-z]*);(.*)"},
                                 {"target_label", "where"},
                                 {"replacement", "${1}-$2"}}}));
    Labels l = L({{"env", "prod"}, {"region", "eu"}});
    REQUIRE(apply_tag_rules(r.tags, l));
    CHECK(get(l, "where") == "prod-eu");

    // Anchored: "pr" alone does not match "prod".
    auto anchored = rules(json::array({{{"source_labels", {"env"}}, {"regex", "pr"}, {"target_label", "x"}}}));
    Labels l2 = L({{"env", "prod"}});
    apply_tag_rules(anchored.tags, l2);
    CHECK(get(l2, "x") == "<absent>");

    // $1x is the group named "1x" (empty), as in Go; an empty result deletes the target.
    auto go = rules(json::array(
        {{{"source_labels", {"env"}}, {"regex", "(.*)"}, {"target_label", "env"}, {"replacement", "$1x"}}}));
    Labels l3 = L({{"env", "prod"}});
    apply_tag_rules(go.tags, l3);
    CHECK(get(l3, "env") == "<absent>");

    auto named = rules(json::array({{{"source_labels", {"host"}},
                                     {"regex", "(?P<short>[^.]*)\\..*"},
                                     {"target_label", "host"},
                                     {"replacement", "$short"}}}));
    Labels l4 = L({{"host", "web1.example.com"}});
    apply_tag_rules(named.tags, l4);
    CHECK(get(l4, "host") == "web1");

    // Default regex and empty input: the replacement is written literally.
    auto literal = rules(json::array({{{"target_label", "team"}, {"replacement", "profiling"}}}));
    Labels l5;
    apply_tag_rules(literal.tags, l5);
    CHECK(get(l5, "team") == "profiling");
}

TEST_CASE("keep and drop decide the whole label set") {
    auto keep = rules(json::array({{{"action", "keep"}, {"source_labels", {"env"}}, {"regex", "prod|staging"}}}));
    Labels a = L({{"env", "prod"}}), b = L({{"env", "dev"}}), c;
    CHECK(apply_tag_rules(keep.tags, a));
    CHECK_FALSE(apply_tag_rules(keep.tags, b));
    CHECK_FALSE(apply_tag_rules(keep.tags, c)); // a missing label is ""

    auto drop = rules(json::array({{{"action", "DROP"}, {"source_labels", {"service"}}, {"regex", "canary-.*"}}}));
    Labels d = L({{"service", "canary-api"}}), e = L({{"service", "api"}});
    CHECK_FALSE(apply_tag_rules(drop.tags, d));
    CHECK(apply_tag_rules(drop.tags, e));
}

TEST_CASE("labeldrop, labelkeep, labelmap, lowercase") {
    Labels l = L({{"env", "prod"}, {"runtime-id", "abc"}, {"runtime_version", "20"}, {"host", "h"}});
    auto ld = rules(json::array({{{"action", "labeldrop"}, {"regex", "runtime.*"}}}));
    apply_tag_rules(ld.tags, l);
    CHECK(l == L({{"env", "prod"}, {"host", "h"}}));

    auto lk = rules(json::array({{{"action", "labelkeep"}, {"regex", "env"}}}));
    apply_tag_rules(lk.tags, l);
    CHECK(l == L({{"env", "prod"}}));

    Labels m = L({{"k8s_pod", "p1"}, {"k8s_ns", "n1"}, {"other", "x"}});
    auto lm = rules(json::array({{{"action", "labelmap"}, {"regex", "k8s_(.*)"}, {"replacement", "kube_$1"}}}));
    apply_tag_rules(lm.tags, m);
    CHECK(get(m, "kube_pod") == "p1");
    CHECK(get(m, "kube_ns") == "n1");
    CHECK(get(m, "k8s_pod") == "p1");

    Labels u = L({{"env", "PROD"}});
    auto lc = rules(json::array({{{"action", "lowercase"}, {"source_labels", {"env"}}, {"target_label", "env"}}}));
    apply_tag_rules(lc.tags, u);
    CHECK(get(u, "env") == "prod");
}

TEST_CASE("rule tables with mistakes name the rule and key") {
    auto msg = [](const json &j) {
        try {
            parse_rules(j);
        } catch (const RuleError &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(msg(json::array({{{"action", "replace"}}})) ==
          "relabel[0]: key 'target_label': required by action 'replace'");
    CHECK(msg(json::array({{{"action", "keep"}, {"source_labels", {"a"}}}, {{"action", "nope"}}}))
              .rfind("relabel[1]: key 'action': unknown action 'nope'", 0) == 0);
    CHECK(msg(json::array({{{"action", "labeldrop"}, {"regex", "("}}})).rfind("relabel[0]: key 'regex':", 0) == 0);
    CHECK(msg(json::array({{{"action", "labeldrop"}, {"regex", "a"}, {"target_label", "b"}}}))
              .rfind("relabel[0]: key 'target_label': not used by this action", 0) == 0);
    CHECK(msg(json::array({{{"scope", "pprof"}, {"action", "rename"}, {"source_labels", {"a", "b"}}}}))
              .rfind("relabel[0]: key 'source_labels': rename takes exactly one", 0) == 0);
    CHECK(msg(json::array({{{"scope", "pprof"}, {"source_labels", {"a"}}, {"value_format", "octal"}}}))
              .rfind("relabel[0]: key 'value_format': unknown format 'octal'", 0) == 0);
    CHECK(msg(json::array({{{"scope", "spans"}}})).rfind("relabel[0]: key 'scope': unknown scope", 0) == 0);
}

TEST_CASE("pprof: rename with decimal, hex and numeric re-encoding; labeldrop; unknown fields survive") {
    auto r = rules(json::array({
        {{"scope", "pprof"},
         {"action", "rename"},
         {"source_labels", {"local root span id"}},
         {"target_label", "span_id"},
         {"value_format", "hex16"}},
        {{"scope", "pprof"},
         {"action", "rename"},
         {"source_labels", {"span id"}},
         {"target_label", "dd_span"},
         {"value_format", "number"}},
        {{"scope", "pprof"}, {"action", "labeldrop"}, {"regex", "thread .*"}},
    }));
    std::string in = synthetic_pprof();
    PprofEdit edit;
    edit.rules = &r.pprof;
    PprofRewriteStats st;
    std::string out = rewrite_pprof(in, edit, &st);
    REQUIRE(is_gzip(out));
    CHECK(st.changed);
    CHECK(st.labels_dropped == 1);
    CHECK(st.labels_renamed == 2);
    CHECK(st.labels_unconvertible == 1); // "zz" is not decimal: left as it was

    auto p = parse(out);
    CHECK(sample_labels(p, 0) ==
          std::vector<std::string>{"dd_span#12345", "span_id=00000000000000ff", "trace endpoint=GET /users"});
    CHECK(sample_labels(p, 1) == std::vector<std::string>{"span id=zz"});
    CHECK(p.sample(0).value(0) == 7);
    CHECK(p.sample(1).value(0) == 5);
    CHECK(p.time_nanos() == 1000);
    // The original strings keep their indices; new ones are appended.
    CHECK(p.string_table(3) == "span id");
    CHECK(p.string_table(10) == "00000000000000ff");
    auto &unknown = p.GetReflection()->GetUnknownFields(p);
    REQUIRE(unknown.field_count() == 1);
    CHECK(unknown.field(0).number() == 99);
    CHECK(unknown.field(0).varint() == 42);

    // Back again: hex string → decimal string, then labelkeep.
    auto back = rules(json::array({
        {{"scope", "pprof"}, {"source_labels", {"span_id"}}, {"value_format", "decimal"}, {"source_format", "hex"}},
        {{"scope", "pprof"}, {"action", "labelkeep"}, {"regex", "span_id|dd_span"}},
    }));
    edit.rules = &back.pprof;
    auto p2 = parse(rewrite_pprof(out, edit));
    CHECK(sample_labels(p2, 0) == std::vector<std::string>{"dd_span#12345", "span_id=255"});
    CHECK(sample_labels(p2, 1).empty());
}

TEST_CASE("pprof: no rule matches → the input bytes come back; time_nanos can be set") {
    auto r = rules(json::array({{{"scope", "pprof"}, {"source_labels", {"absent"}}, {"target_label", "x"}}}));
    std::string gz = trib::test::gzip_of(synthetic_pprof(), 1);
    PprofEdit edit;
    edit.rules = &r.pprof;
    PprofRewriteStats st;
    CHECK(rewrite_pprof(gz, edit, &st) == gz);
    CHECK_FALSE(st.changed);

    PprofEdit stamp;
    stamp.time_nanos = int64_t(1795316582000000000);
    CHECK(parse(rewrite_pprof(gz, stamp)).time_nanos() == 1795316582000000000);

    CHECK_THROWS_AS(rewrite_pprof(std::string("\x1f\x8b\x08\x00garbage", 12), edit), PprofError);
}

TEST_CASE("a real dd-trace-js pprof (gzip and zstd) rewritten is read by go tool pprof -raw") {
    auto r = rules(json::array({
        {{"scope", "pprof"},
         {"source_labels", {"local root span id"}},
         {"target_label", "span_id"},
         {"value_format", "hex16"}},
        {{"scope", "pprof"},
         {"source_labels", {"span id"}},
         {"target_label", "dd_span_id"},
         {"value_format", "decimal"}},
        {{"scope", "pprof"}, {"action", "labeldrop"}, {"regex", "thread id|os thread id"}},
    }));
    for (std::string fixture : {"ddtrace-nodejs/part-wall.pprof.gz", "ddtrace-nodejs-zstd/part-wall.pprof.zst"}) {
        INFO(fixture);
        std::string original = read_fixture(fixture);
        PprofEdit edit;
        edit.rules = &r.pprof;
        std::string out = rewrite_pprof(original, edit);
        REQUIRE(is_gzip(out));

        // Same samples and totals as the original.
        auto before = parse(original), after = parse(out);
        REQUIRE(before.sample_size() == after.sample_size());
        for (int t = 0; t < before.sample_type_size(); ++t)
            CHECK(trib::profiling::sum_sample_values(before, t) == trib::profiling::sum_sample_values(after, t));

        std::string path = std::string(TRIB_BUILD_DIR) + "/relabel_test_rewritten.pb.gz";
        trib::test::write_file(path, out);
        std::string raw = run("HOME=${HOME:-/tmp} timeout 120 go tool pprof -raw " + path + " 2>&1");
        // The ids this recording carries (numeric labels, as dd-trace-js writes them).
        int64_t root = 0, span = 0;
        for (auto &smp : before.sample())
            for (auto &l : smp.label()) {
                if (before.string_table(int(l.key())) == "local root span id" && l.num()) root = l.num();
                if (before.string_table(int(l.key())) == "span id" && l.num()) span = l.num();
            }
        REQUIRE(root != 0);
        REQUIRE(span != 0);
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)root);
        CHECK(raw.find(std::string("span_id:[") + hex + "]") != std::string::npos);
        CHECK(raw.find("dd_span_id:[" + std::to_string(uint64_t(span)) + "]") != std::string::npos);
        CHECK(raw.find("thread name:[Main Event Loop]") != std::string::npos);
        CHECK(raw.find("local root span id") == std::string::npos);
        CHECK(raw.find("os thread id") == std::string::npos);
        CHECK(raw.find(" thread id") == std::string::npos);
        std::remove(path.c_str());
    }
}
