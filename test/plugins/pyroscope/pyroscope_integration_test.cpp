// End to end: the real host binary with the pyroscope input, fed by the real
// @pyroscope/nodejs agent and by a JFR recording Debian's openjdk-17 makes here.
#include "test_util.hpp"

#include <tributary/profiling/jfr.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/profiling/pprof.hpp>

#include <trib_test/support.hpp>

#include <algorithm>
#include <map>

using namespace trib::test;

namespace {

HostOptions pyroscope_host() {
    HostOptions o;
    o.conf_d["pyroscope/pyroscope.conf"] = "[[inputs.pyroscope]]\n  endpoints = [\"/ingest\"]\n";
    return o;
}

std::string attachment_path(const HostProcess &h, const LpPoint &p, const std::string &name) {
    return h.data_dir() + "/attachments/" + p.field_str("profile_id") + "/" + name;
}

} // namespace

TEST_CASE("real @pyroscope/nodejs agent: wall and heap uploads become tagged points", "[pyroscope][integration]") {
    HostProcess host(pyroscope_host());
    TempDir work("pyro-node");
    write_file(work.sub("app.js"), R"JS(
const Pyroscope = require('@pyroscope/nodejs');
Pyroscope.init({
  serverAddress: process.env.PYRO_URL,
  appName: 'itest.nodejs-app',
  flushIntervalMs: 1500,
  tags: { region: 'local', 'deploy.stage': 'ci', team_name: 'profiling' },
});
Pyroscope.start();
const keep = [];
function burn() {
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * Math.sin(i);
  keep.push(new Array(1000).fill(x));
  if (keep.length > 200) keep.splice(0, 100);
}
const timer = setInterval(() => Pyroscope.wrapWithLabels({ 'handler.name': 'burn' }, burn), 5);
setTimeout(async () => { clearInterval(timer); await Pyroscope.stop(); }, 5000);
)JS");
    std::string base = host.url("/");
    base.pop_back(); // the agent appends /ingest itself
    ChildProcess node({"node", work.sub("app.js")},
                      {{"PYRO_URL", base}, {"NODE_PATH", std::string(TRIB_SOURCE_DIR) + "/test/clients/node_modules"}});

    bool wall = false, heap = false;
    auto check = [&] {
        for (auto &p : host.points("profiling", "profile")) {
            if (p.tag("service") != "itest.nodejs-app") continue;
            auto file = attachment_path(host, p, "auto.pprof");
            if (!file_exists(file)) continue;
            auto prof = trib::profiling::parse_pprof(read_file(file));
            if (trib::profiling::find_sample_type(prof, "wall") >= 0) wall = true;
            if (trib::profiling::find_sample_type(prof, "inuse_space") >= 0) heap = true;
        }
        return wall && heap;
    };
    bool done = wait_until(check, 20000ms, 250ms);
    INFO("host log:\n" << host.log() << "\nnode log:\n" << node.log());
    REQUIRE(done);
    auto pts = host.points("profiling", "profile");
    REQUIRE(!pts.empty());
    auto &p = pts.front();
    CHECK(p.tag("language") == "nodejs");
    CHECK(p.tag("region") == "local");
    CHECK(p.tag("deploy.stage") == "ci"); // dotted label kept
    CHECK(p.tag("team_name") == "profiling");
    CHECK(p.tag("otel.scope.name") == "com.grafana.pyroscope/nodejs");
    CHECK(p.tag("spyName") == "nodespy");
    CHECK(p.field_str("profiler") == "pyroscope");
    CHECK(file_exists(attachment_path(host, p, "event.json")));
    node.wait(15000ms);
}

TEST_CASE("JFR recorded by openjdk-17 here, posted like the Pyroscope Java agent", "[pyroscope][integration][jfr]") {
    TempDir work("pyro-jfr");
    write_file(work.sub("BusyProgram.java"), R"JAVA(
public class BusyProgram {
    static long spinHot(long n) {
        long x = 7;
        for (long i = 0; i < n; i++) x = x * 6364136223846793005L + (i ^ (x >>> 29));
        return x;
    }
    public static void main(String[] args) {
        long end = System.currentTimeMillis() + 3500, sink = 0;
        while (System.currentTimeMillis() < end) sink += spinHot(2_000_000);
        System.out.println(sink);
    }
}
)JAVA");
    {
        ChildProcess java(
            {"java", "-XX:StartFlightRecording=dumponexit=true,filename=" + work.sub("rec.jfr") + ",settings=profile",
             work.sub("BusyProgram.java")});
        auto rc = java.wait(60000ms);
        INFO(java.log());
        REQUIRE(rc.has_value());
        REQUIRE(*rc == 0);
    }
    auto raw = read_file(work.sub("rec.jfr"));
    auto gz = pyro_test::gzip_of(raw, 1);

    HostProcess host(pyroscope_host());
    for (std::string which : {"recorded-here", "fixture"}) {
        std::string payload =
            which == "fixture"
                ? pyro_test::gzip_of(read_file(std::string(TRIB_FIXTURES_DIR) + "/jfr/acceptance.jfr"), 1)
                : gz;
        trib::profiling::MultipartWriter w("java-agent-" + which);
        w.add_file("jfr", "jfr", "application/octet-stream", payload);
        auto body = w.finish();
        auto r = http("POST",
                      host.url("/ingest?name=java-" + which +
                               "%7Bhost.name%3Dbox1%7D&from=1795316625&until=1795316635"
                               "&format=jfr&spyName=javaspy&units=samples&aggregationType=sum&sampleRate=100"),
                      body, w.content_type());
        INFO(r.body << "\n" << host.log());
        REQUIRE(r.status == 200);

        const LpPoint *point = nullptr;
        std::vector<LpPoint> pts;
        REQUIRE(wait_until(
            [&] {
                pts = host.points("profiling", "profile");
                for (auto &p : pts)
                    if (p.tag("service") == "java-" + which) {
                        point = &p;
                        return true;
                    }
                return false;
            },
            10000ms));
        CHECK(point->tag("language") == "java");
        CHECK(point->tag("host.name") == "box1");
        CHECK(point->field_str("format") == "jfr");
        auto attached = read_file(attachment_path(host, *point, "auto.jfr"));
        CHECK(attached == payload); // bytes identical to the upload

        auto prof = trib::profiling::decode_jfr(attached);
        std::map<std::string, int64_t> leaf;
        std::map<uint64_t, std::string> fn;
        for (auto &f : prof.cpu.function()) fn[f.id()] = prof.cpu.string_table(f.name());
        std::map<uint64_t, uint64_t> loc_fn;
        for (auto &l : prof.cpu.location()) loc_fn[l.id()] = l.line(0).function_id();
        for (auto &s : prof.cpu.sample()) leaf[fn[loc_fn[s.location_id(0)]]] += s.value(0);
        std::vector<std::pair<int64_t, std::string>> top;
        for (auto &[k, v] : leaf) top.emplace_back(v, k);
        std::sort(top.rbegin(), top.rend());
        top.resize(std::min<size_t>(3, top.size()));
        std::string busy = which == "fixture" ? "Busy." : "BusyProgram.spinHot";
        bool found = false;
        for (auto &t : top) found |= t.second.rfind(busy, 0) == 0;
        INFO("top frames: " << (top.empty() ? "" : top[0].second));
        CHECK(found);
        // The metric points follow the answers (the input's metrics pool).
        bool has_jvm = wait_until(
            [&] {
                for (auto &m : host.points("metric", "profiling_metrics"))
                    if (m.tag("service") == "java-" + which && m.has_field("prof_jvm_cpu_cores")) return true;
                return false;
            },
            15000ms, 50ms);
        CHECK(has_jvm);
    }
}
