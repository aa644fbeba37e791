// The merged flame tree of N uploads, as /api/v1/flamegraph answers it, equals the sum of
// the same files read independently by `go tool pprof -raw` (every root-to-leaf stack and
// its value), for two sample types and for one span's samples.
#include "viewer_test_util.hpp"

#include <tributary/profiling/compression.hpp>

#include <sstream>

using namespace viewer_test;

namespace {

using Folded = std::map<std::string, int64_t>;

std::vector<std::string> words(const std::string &s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// Stacks ("root;…;leaf") → summed value of `type` in one pprof file, read by go tool pprof
// -raw. With span_id, only samples labelled with that span id (or local root span id).
Folded go_pprof_folded(const std::string &file, const std::string &type, const std::string &span_id = "") {
    tt::ChildProcess go({"go", "tool", "pprof", "-raw", file});
    auto rc = go.wait(60s);
    std::string out = go.log();
    INFO(out.substr(0, 2000));
    REQUIRE(rc == 0);
    std::istringstream in(out);
    std::string line;
    int column = -1;
    struct Sample {
        int64_t value;
        std::vector<std::string> locations;
        std::string labels;
    };
    std::vector<Sample> samples;
    std::map<std::string, std::vector<std::string>> frames; // location id → frames, innermost first
    std::string section, current;
    while (std::getline(in, line)) {
        if (line == "Samples:") {
            section = "header";
            continue;
        }
        if (line == "Locations") {
            section = "locations";
            continue;
        }
        if (line == "Mappings") {
            section = "mappings";
            continue;
        }
        if (section == "header") {
            auto names = words(line);
            for (size_t i = 0; i < names.size(); ++i)
                if (names[i].rfind(type + "/", 0) == 0) column = int(i);
            REQUIRE(column >= 0);
            section = "samples";
        } else if (section == "samples") {
            auto colon = line.find(':');
            std::string head = line.substr(0, colon);
            bool is_sample = colon != std::string::npos && head.find_first_not_of(" -0123456789") == std::string::npos;
            if (is_sample) {
                auto values = words(head);
                REQUIRE(values.size() > size_t(column));
                samples.push_back(Sample{std::stoll(values[size_t(column)]), words(line.substr(colon + 1)), ""});
            } else if (!samples.empty()) {
                samples.back().labels += line;
            }
        } else if (section == "locations") {
            // "     7: 0x4afefb M=1 func file:line s=0", inlined callers on the lines after.
            auto colon = line.find(':');
            std::string head = line.substr(0, colon);
            std::string frame_text;
            if (colon != std::string::npos && !words(head).empty() &&
                head.find_first_not_of(" 0123456789") == std::string::npos) {
                current = words(head)[0];
                auto rest = words(line.substr(colon + 1)); // addr, M=, frame words...
                frames[current] = {};
                if (rest.size() <= 2) {
                    frames[current].push_back(rest.empty() ? "?" : rest[0]);
                    continue;
                }
                rest.erase(rest.begin(), rest.begin() + 2);
                std::vector<std::string> fr = rest;
                if (!fr.empty() && fr.back().rfind("s=", 0) == 0) fr.pop_back();
                if (!fr.empty()) fr.pop_back(); // file:line
                std::string name;
                for (auto &w : fr) name += (name.empty() ? "" : " ") + w;
                frames[current].push_back(name);
            } else if (!current.empty()) {
                auto fr = words(line);
                if (!fr.empty() && fr.back().rfind("s=", 0) == 0) fr.pop_back();
                if (!fr.empty()) fr.pop_back();
                std::string name;
                for (auto &w : fr) name += (name.empty() ? "" : " ") + w;
                if (!name.empty()) frames[current].push_back(name);
            }
        }
    }
    Folded folded;
    for (auto &s : samples) {
        if (s.value == 0) continue;
        if (!span_id.empty() && s.labels.find("span id:[" + span_id + "]") == std::string::npos) continue;
        std::vector<std::string> leaf_first;
        for (auto &loc : s.locations)
            for (auto &f : frames[loc]) leaf_first.push_back(f);
        std::string key = "total";
        for (auto it = leaf_first.rbegin(); it != leaf_first.rend(); ++it) key += ";" + *it;
        folded[key] += s.value;
    }
    return folded;
}

// The API's tree as stacks → self value.
void fold(const nlohmann::json &node, const std::string &prefix, Folded &out) {
    std::string key = prefix.empty() ? node["n"].get<std::string>() : prefix + ";" + node["n"].get<std::string>();
    int64_t self = node["s"].get<int64_t>();
    if (self != 0) out[key] += self;
    if (node.contains("c"))
        for (auto &c : node["c"]) fold(c, key, out);
}

void add(Folded &into, const Folded &more, int times = 1) {
    for (auto &[k, v] : more) into[k] += v * times;
}

int64_t sum(const Folded &f) {
    int64_t s = 0;
    for (auto &kv : f) s += kv.second;
    return s;
}

} // namespace

TEST_CASE("merged flame tree of N uploads equals go tool pprof -raw summed over the same files", "[viewer][oracle]") {
    tt::TempDir work("viewer-oracle");
    const std::string go_cpu = fixture("go-pprof/cpu.pb.gz");
    const std::string node_wall = fixture("ddtrace-nodejs/part-wall.pprof.gz");
    const std::string node_wall_zstd = fixture("ddtrace-nodejs-zstd/part-wall.pprof.zst");
    // go tool pprof reads gzip and plain pprof; the zstd upload is handed to it decompressed.
    tt::write_file(work.sub("go_cpu.pb.gz"), go_cpu);
    tt::write_file(work.sub("node_wall.pb.gz"), node_wall);
    tt::write_file(work.sub("node_wall_zstd.pb"), trib::profiling::decompress(node_wall_zstd));

    tt::HostProcess host(host_options());
    int64_t now = now_ns();
    const int64_t s = 1'000'000'000;
    REQUIRE(upload(host, "oracle", {{"cpu.pprof", go_cpu}}, now - 50 * s, now - 40 * s) == 200);
    REQUIRE(upload(host, "oracle", {{"cpu.pprof", go_cpu}}, now - 40 * s, now - 30 * s) == 200);
    REQUIRE(upload(host, "oracle", {{"wall.pprof", node_wall}}, now - 30 * s, now - 20 * s) == 200);
    REQUIRE(upload(host, "oracle", {{"wall.pprof", node_wall_zstd}}, now - 20 * s, now - 10 * s) == 200);
    REQUIRE(upload(host, "oracle", {{"cpu.pprof", go_cpu}, {"wall.pprof", node_wall}}, now - 10 * s, now) == 200);
    REQUIRE(wait_profiles(host, "oracle", 5));

    SECTION("cpu: every upload has cpu/nanoseconds") {
        Folded expected;
        add(expected, go_pprof_folded(work.sub("go_cpu.pb.gz"), "cpu"), 3);
        add(expected, go_pprof_folded(work.sub("node_wall.pb.gz"), "cpu"), 2);
        add(expected, go_pprof_folded(work.sub("node_wall_zstd.pb"), "cpu"));
        REQUIRE(expected.size() > 20);
        auto a = get_json(host, "/api/v1/flamegraph?service=oracle&type=cpu&from=now-10m");
        REQUIRE(a.status == 200);
        CHECK(a.body["profiles"] == 5);
        CHECK(a.body["unit"] == "nanoseconds");
        Folded got;
        fold(a.body["tree"], "", got);
        CHECK(a.body["total"].get<int64_t>() == sum(expected));
        CHECK(got.size() == expected.size());
        CHECK(got == expected);
    }
    SECTION("wall: only the Node uploads have it") {
        Folded expected;
        add(expected, go_pprof_folded(work.sub("node_wall.pb.gz"), "wall"), 2);
        add(expected, go_pprof_folded(work.sub("node_wall_zstd.pb"), "wall"));
        auto a = get_json(host, "/api/v1/flamegraph?service=oracle&type=wall&from=now-10m");
        REQUIRE(a.status == 200);
        CHECK(a.body["profiles"] == 3);
        Folded got;
        fold(a.body["tree"], "", got);
        CHECK(got == expected);
    }
    SECTION("one span's samples (dd-trace's span id labels)") {
        const std::string span = "5248879459889510285";
        Folded expected;
        // Until now-15s: uploads 1..4, so the gzip Node file once and the zstd one.
        add(expected, go_pprof_folded(work.sub("node_wall.pb.gz"), "wall", span));
        add(expected, go_pprof_folded(work.sub("node_wall_zstd.pb"), "wall", span));
        REQUIRE(sum(expected) > 0);
        auto a =
            get_json(host, "/api/v1/flamegraph?service=oracle&type=wall&from=now-10m&span_id=" + span + "&to=now-15s");
        REQUIRE(a.status == 200);
        Folded got;
        fold(a.body["tree"], "", got);
        CHECK(got == expected);
        auto all = get_json(host, "/api/v1/flamegraph?service=oracle&type=wall&from=now-10m&to=now-15s");
        CHECK(all.body["total"].get<int64_t>() > a.body["total"].get<int64_t>());
    }
    SECTION("diff: the baseline window's tree rides along") {
        auto a = get_json(host, "/api/v1/flamegraph?service=oracle&type=cpu&from=now-25s&to=now&diff=1"
                                "&baseline_from=now-10m&baseline_to=now-35s");
        REQUIRE(a.status == 200);
        Folded cur, base;
        std::function<void(const nlohmann::json &, const std::string &)> walk = [&](const nlohmann::json &n,
                                                                                    const std::string &pre) {
            std::string key = pre.empty() ? n["n"].get<std::string>() : pre + ";" + n["n"].get<std::string>();
            if (n["s"].get<int64_t>()) cur[key] += n["s"].get<int64_t>();
            if (n["bs"].get<int64_t>()) base[key] += n["bs"].get<int64_t>();
            if (n.contains("c"))
                for (auto &c : n["c"]) walk(c, key);
        };
        walk(a.body["tree"], "");
        Folded expect_cur, expect_base;
        // now-25s..now overlaps uploads 3..5 (by time range); the baseline overlaps uploads 1..2.
        add(expect_cur, go_pprof_folded(work.sub("go_cpu.pb.gz"), "cpu"));
        add(expect_cur, go_pprof_folded(work.sub("node_wall.pb.gz"), "cpu"), 2);
        add(expect_cur, go_pprof_folded(work.sub("node_wall_zstd.pb"), "cpu"));
        add(expect_base, go_pprof_folded(work.sub("go_cpu.pb.gz"), "cpu"), 2);
        CHECK(a.body["baseline"]["profiles"] == 2);
        CHECK(cur == expect_cur);
        CHECK(base == expect_base);
    }
}
