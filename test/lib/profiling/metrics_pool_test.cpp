// MetricsPool: every queued upload's metric point is emitted by stop(); a full queue runs
// the work on the caller; a point the host keeps refusing is dropped and counted.
#include <tributary/profiling/metrics_pool.hpp>
#include <tributary/profiling/multipart.hpp>
#include <tributary/testing/fake_host.hpp>

#include <catch2/catch.hpp>
#include <trib_test/support.hpp>

using namespace trib::profiling;

namespace {

// The recorded dd-trace-js upload's files, as the profile input hands them over.
ProfileUpload node_upload() {
    std::string body = trib::test::fixture("ddtrace-nodejs/profiling-input.body.multipart");
    std::string boundary = body.substr(2, body.find("\r\n") - 2);
    ProfileUpload u;
    u.tags = {{"language", "nodejs"}, {"service", "pool-test"}};
    u.start_ns = 1'795'316'581'860'000'000;
    u.end_ns = u.start_ns + 5'033'000'000;
    for (auto &part : parse_multipart(body, boundary))
        if (part.name != "event")
            u.files.push_back(
                ProfileFile{part.filename, "application/octet-stream", std::make_shared<const std::string>(part.data)});
    return u;
}

size_t metric_points(const trib::testing::FakeHost &fake) {
    size_t n = 0;
    for (auto &p : fake.points()) n += p.measurement == "profiling_metrics";
    return n;
}

} // namespace

TEST_CASE("metrics pool: queued work is emitted by stop(), a full queue runs on the caller", "[metrics_pool]") {
    trib::testing::FakeHost fake;
    trib::Host host(fake.api(), fake.ctx());
    ProfileUpload u = node_upload();
    auto expected = generate_profile_metrics(u);
    REQUIRE(expected);
    {
        MetricsPool pool(host, "test", 1, 2);
        for (int i = 0; i < 40; ++i) pool.submit(prepare_metrics(u));
        pool.stop();
        CHECK(metric_points(fake) == 40);
        // After stop() the caller computes: nothing is lost either.
        pool.submit(prepare_metrics(u));
        CHECK(metric_points(fake) == 41);
    }
    CHECK(fake.counter("test_metrics_inline") >= 1);
    for (auto &p : fake.points()) {
        REQUIRE(p.fields.size() == expected->fields.size());
        for (size_t i = 0; i < p.fields.size(); ++i) CHECK(p.fields[i].f == expected->fields[i].f);
        CHECK(*p.find_tag("service") == "pool-test");
    }
}

TEST_CASE("metrics pool: a point the host keeps refusing is dropped and counted; a bad profile is logged",
          "[metrics_pool]") {
    trib::testing::FakeHost fake;
    trib::Host host(fake.api(), fake.ctx());
    MetricsPool pool(host, "test", 1, 8);
    fake.set_backpressure(true);
    pool.submit(prepare_metrics(node_upload()));
    REQUIRE(trib::test::wait_until([&] { return fake.counter("test_metrics_dropped") == 1; }, std::chrono::seconds(10),
                                   std::chrono::milliseconds(5)));
    CHECK(fake.points().empty());
    fake.set_backpressure(false);

    ProfileUpload bad = node_upload();
    bad.files[0].name = "wall.pprof";
    bad.files[0].data = std::make_shared<const std::string>("not a pprof at all");
    pool.submit(prepare_metrics(bad));
    pool.stop();
    CHECK(fake.counter("test_metrics_errors") == 1);
    CHECK(fake.points().empty());
}

TEST_CASE("metrics pool: queued uploads are bounded in bytes, the rest run on the caller", "[metrics_pool]") {
    trib::testing::FakeHost fake;
    trib::Host host(fake.api(), fake.ctx());
    size_t upload_bytes = 0;
    for (auto &f : prepare_metrics(node_upload()).upload.files)
        if (f.data) upload_bytes += f.data->size();
    REQUIRE(upload_bytes > 0);
    // Room for two uploads' files however many uploads the count bound allows.
    MetricsPool pool(host, "test", 1, 64, 2 * upload_bytes);
    // The pool's thread retries a refused point for ~2.5 s: it holds the first upload (or
    // it still waits in the queue) while the others arrive.
    fake.set_backpressure(true);
    for (int i = 0; i < 6; ++i) pool.submit(prepare_metrics(node_upload()));
    const double inline_runs = fake.counter("test_metrics_inline");
    CHECK(inline_runs >= 3);
    CHECK(inline_runs <= 4);
    fake.set_backpressure(false);
    pool.stop();
    // Nothing vanishes: each upload's point was emitted or counted as dropped.
    CHECK(metric_points(fake) + size_t(fake.counter("test_metrics_dropped")) == 6);
}
